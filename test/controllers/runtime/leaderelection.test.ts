// LeaseLeaderElector (src/controllers/runtime/leaderelection.ts) on a Lease kept in memory with
// compare-and-swap, as a store keeps it: one leader among candidates, a leader cut off from the
// Lease stops leading before another starts, a stopping leader hands over at once. Timings are
// real but generous (the lease lasts seconds); the checks are on the order of events, never on
// how long something took.
import test from 'ava';
import pino from 'pino';
import { LeaseLeaderElector, type LeaseLock, type LeaseRecord } from '../../../src/controllers/runtime/leaderelection.ts';
import { poll } from '../../helpers/poll.ts';

const logger = pino({ level: 'silent' });
const timing = { leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200 };

/** One Lease in memory, CAS on a version; `cut` makes every call of one candidate fail (a partition). */
class MemoryLease {
  record?: LeaseRecord;
  version = 0;
  writes = 0;
  lock(name: string, cut: () => boolean = () => false): LeaseLock {
    const check = () => {
      if (cut()) throw new Error(`${name}: the store is unreachable`);
    };
    return {
      description: 'kube-system/test',
      get: async () => {
        check();
        return this.record ? { record: structuredClone(this.record), version: String(this.version) } : null;
      },
      create: async (r) => {
        check();
        if (this.record) throw Object.assign(new Error('exists'), { code: 409 });
        this.record = structuredClone(r);
        this.version++;
        this.writes++;
      },
      update: async (r, v) => {
        check();
        if (String(this.version) !== v) throw Object.assign(new Error('conflict'), { code: 409 });
        this.record = structuredClone(r);
        this.version++;
        this.writes++;
      },
    };
  }
}

/** A candidate and the history of its leadership: [start, stop] times, in order. */
function candidate(lease: MemoryLease, id: string, cut?: () => boolean) {
  const spans: { start: number; stop?: number }[] = [];
  const elector = new LeaseLeaderElector(lease.lock(id, cut), { identity: id, ...timing, logger });
  elector.run({
    onStartedLeading: () => spans.push({ start: performance.now() }),
    onStoppedLeading: () => {
      spans.at(-1)!.stop = performance.now();
    },
  });
  const leading = () => spans.length > 0 && spans.at(-1)!.stop === undefined;
  return { id, elector, spans, leading };
}

/** No two candidates' spans of leadership overlap. */
function assertNoOverlap(t: { true: (v: boolean, m?: string) => void }, all: ReturnType<typeof candidate>[]) {
  const spans = all.flatMap((c) => c.spans.map((s) => ({ ...s, id: c.id }))).sort((a, b) => a.start - b.start);
  for (let i = 1; i < spans.length; i++) t.true(spans[i - 1].stop !== undefined && spans[i - 1].stop! <= spans[i].start, `${spans[i - 1].id} still led when ${spans[i].id} started`);
}

test('of three candidates exactly one leads, and keeps leading while it renews', async (t) => {
  const lease = new MemoryLease();
  const all = ['a', 'b', 'c'].map((id) => candidate(lease, id));
  t.teardown(() => Promise.all(all.map((c) => c.elector.stop())));
  const leader = await poll('a leader', async () => all.find((c) => c.leading()));
  const writes = lease.writes;
  // a whole lease duration and more: the leader renews, nobody else starts
  await poll('renewals', async () => (lease.writes >= writes + 20 ? true : undefined), 60_000);
  t.is(all.filter((c) => c.spans.length > 0).length, 1);
  t.true(leader.leading());
  t.is(lease.record?.holderIdentity, leader.id);
  t.is(lease.record?.leaseTransitions, 0);
  t.true(leader.elector.isLeader());
  t.notThrows(() => leader.elector.check());
});

test('a leader cut off from the Lease stops leading before another takes over', async (t) => {
  const lease = new MemoryLease();
  let cutA = false;
  const a = candidate(lease, 'a', () => cutA);
  await poll('a leads', async () => (a.leading() ? true : undefined));
  const b = candidate(lease, 'b');
  t.teardown(() => Promise.all([a.elector.stop(), b.elector.stop()]));
  cutA = true;
  await poll('b leads', async () => (b.leading() ? true : undefined), 60_000);
  t.false(a.leading(), 'a stopped leading');
  assertNoOverlap(t, [a, b]);
  t.is(lease.record?.holderIdentity, 'b');
  t.is(lease.record?.leaseTransitions, 1);
  // a, reconnected, does not take the Lease back while b renews it
  cutA = false;
  const writes = lease.writes;
  await poll('b renews', async () => (lease.writes >= writes + 20 ? true : undefined), 60_000);
  t.false(a.leading());
  t.true(b.leading());
  assertNoOverlap(t, [a, b]);
});

test('a stopping leader releases the Lease and another takes it over without waiting for it to expire', async (t) => {
  const lease = new MemoryLease();
  const a = candidate(lease, 'a');
  await poll('a leads', async () => (a.leading() ? true : undefined));
  const b = candidate(lease, 'b');
  t.teardown(() => b.elector.stop());
  // b has seen a's record: without the release it would wait the lease duration
  await poll('b saw the lease', async () => (b.elector.holder() === 'a' ? true : undefined));
  await a.elector.stop();
  t.false(a.leading());
  t.is(lease.record?.holderIdentity === 'a', false, 'released');
  const released = performance.now();
  await poll('b leads', async () => (b.leading() ? true : undefined), 60_000);
  t.true(performance.now() - released < timing.leaseDurationMs, 'b did not wait for the lease to expire');
  assertNoOverlap(t, [a, b]);
  t.is(lease.record?.holderIdentity, 'b');
});

test('settings are checked as kube checks them', (t) => {
  const lock = new MemoryLease().lock('x');
  t.throws(() => new LeaseLeaderElector(lock, { identity: 'x', logger, leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 }), { instanceOf: RangeError });
  t.throws(() => new LeaseLeaderElector(lock, { identity: 'x', logger, leaseDurationMs: 15_000, renewDeadlineMs: 2000, retryPeriodMs: 2000 }), { instanceOf: RangeError });
  t.throws(() => new LeaseLeaderElector(lock, { identity: '', logger, ...timing }), { instanceOf: RangeError });
});
