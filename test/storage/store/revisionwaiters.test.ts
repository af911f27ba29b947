// RevisionWaiters (src/storage/store/revisionwaiters.ts): "resolve when revision ≥ N", in order,
// with cancel, a timeout and releaseAll.
import test from 'ava';
import { RevisionWaiters } from '../../../src/storage/store/revisionwaiters.ts';

/** Whether a promise has settled, and with what (after the pending microtasks ran). */
async function state<T>(p: Promise<T>): Promise<{ settled: boolean; value?: T }> {
  const pending = Symbol('pending');
  const v = await Promise.race([p, new Promise<typeof pending>((r) => setImmediate(() => r(pending)))]);
  return v === pending ? { settled: false } : { settled: true, value: v as T };
}

test('a release wakes every waiter at or below the revision, in the order they came, and only those', async (t) => {
  const w = new RevisionWaiters();
  const order: number[] = [];
  const a = w.wait(5);
  const b = w.wait(3);
  const c = w.wait(8);
  const d = w.wait(5);
  for (const [n, x] of [[5, a], [3, b], [8, c], [51, d]] as const) void x.reached.then(() => order.push(n));
  t.is(w.size, 4);
  w.release(2);
  t.false((await state(b.reached)).settled);
  w.release(5);
  t.deepEqual(await state(a.reached), { settled: true, value: true });
  t.deepEqual(await state(b.reached), { settled: true, value: true });
  t.deepEqual(await state(d.reached), { settled: true, value: true });
  t.deepEqual(order, [5, 3, 51]);
  t.false((await state(c.reached)).settled);
  t.is(w.size, 1);
  w.release(9);
  t.true((await state(c.reached)).value);
  t.is(w.size, 0);
});

test('cancel removes a waiter; it never settles, and the others are not touched', async (t) => {
  const w = new RevisionWaiters();
  const a = w.wait(4);
  const b = w.wait(4);
  a.cancel();
  t.is(w.size, 1);
  w.release(10);
  t.false((await state(a.reached)).settled);
  t.true((await state(b.reached)).value);
  b.cancel(); // after it settled: nothing happens
  t.is(w.size, 0);
});

test('a timeout resolves false and removes the waiter; a release before it resolves true and clears it', async (t) => {
  const w = new RevisionWaiters();
  const slow = w.wait(100, 20);
  t.false(await slow.reached);
  t.is(w.size, 0);
  const fast = w.wait(1, 60_000); // its timer must not keep the process alive once released
  w.release(1);
  t.true(await fast.reached);
  const cancelled = w.wait(1, 30);
  cancelled.cancel();
  t.false((await state(cancelled.reached)).settled);
  t.is(w.size, 0);
});

test('releaseAll wakes everyone, whatever the revision', async (t) => {
  const w = new RevisionWaiters();
  const xs = [w.wait(1), w.wait(1_000, 60_000), w.wait(Number.MAX_SAFE_INTEGER)];
  w.releaseAll();
  t.deepEqual(await Promise.all(xs.map((x) => x.reached)), [true, true, true]);
  t.is(w.size, 0);
  w.releaseAll(); // nothing left: nothing happens
  w.release(5);
});
