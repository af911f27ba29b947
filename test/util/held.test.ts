// Held locks and the async flows they leak into (src/util/held.ts): work started from a callback
// made inside a locked section (a store event delivered during a write) must not count as holding
// the lock, or it enters the lock beside the next holder.
import test from 'ava';
import { KeyedMutex } from '../../src/apiserver/registry/generic.ts';
import { holds, outsideHeld, runHolding } from '../../src/util/held.ts';
import { SqliteStore } from '../../src/storage/store/sqlite.ts';
import { CacherSet, Cacher } from '../../src/storage/store/cacher.ts';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

test('work scheduled inside a held section holds the lock unless scheduled outsideHeld', async (t) => {
  const token = {};
  let inherited: boolean | undefined;
  let outside: boolean | undefined;
  await runHolding(token, async () => {
    setImmediate(() => (inherited = holds(token)));
    outsideHeld(() => setImmediate(() => (outside = holds(token))));
  });
  await nextTurn();
  await nextTurn();
  t.true(inherited, 'the control: a plain callback inherits the lock');
  t.false(outside);
});

test('a section woken by a store event written under a lock waits for that lock like anyone else', async (t) => {
  const store = SqliteStore.open(':memory:');
  t.teardown(() => store.close());
  const set = new CacherSet(store);
  const cacher = set.add(new Cacher('/things/', (value, rv) => ({ ...JSON.parse(value.toString()), metadata: { name: 'a', resourceVersion: String(rv) } }), 100));
  await set.start();
  t.teardown(() => set.stop());
  const mutex = new KeyedMutex();
  const order: string[] = [];
  let woken: Promise<void> | undefined;
  // a watcher that, on an event, starts work needing the same lock (as a controller reconciling it)
  const unwatch = cacher.watch(
    {
      matches: () => true,
      send: () => {
        woken ??= nextTurn().then(() => mutex.run('k', async () => void order.push('woken')));
      },
    },
    'current',
    false,
  );
  t.teardown(unwatch);
  // the writer holds the lock, writes (the event wakes the watcher), and a second holder queues up
  const first = mutex.run('k', async () => {
    await store.create('/things/a', Buffer.from('{}'));
    await nextTurn();
    await nextTurn();
    order.push('first done');
  });
  const second = mutex.run('k', async () => {
    order.push('second start');
    await nextTurn();
    await nextTurn();
    order.push('second done');
  });
  await Promise.all([first, second]);
  await woken;
  t.deepEqual(order, ['first done', 'second start', 'second done', 'woken']);
});
