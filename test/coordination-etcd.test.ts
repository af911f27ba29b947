// Cross-replica coordination in the store (issue 12, item 3) against a real etcd: lock records
// with an expiry (mutual exclusion across stores, a dead holder's lock expires, the stale flag),
// revision numbers from a CAS'd counter, and index keys created in the object's transaction.
import test from 'ava';
import { RevisionAllocator, StoreLocks } from '../src/storage/store/coordination.ts';
import { EtcdStore } from '../src/storage/store/etcd.ts';
import { KeyExistsError, type StoreEvent } from '../src/storage/store/interface.ts';
import { useEtcd } from './helpers/etcd.ts';

const etcdMember = useEtcd(test);

let prefixes = 0;
async function stores(n: number): Promise<EtcdStore[]> {
  const prefix = `/pkgserver-coord-test/${process.pid}-${++prefixes}/`;
  return Promise.all(Array.from({ length: n }, () => EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix })));
}
const closeAll = (ss: EtcdStore[]) => Promise.all(ss.map((s) => s.close()));

test('store locks: the stale flag says when another replica held the lock since', async (t) => {
  const ss = await stores(3);
  const locks = ss.map((s, i) => new StoreLocks(s, { identity: `replica-${i}`, ttlMs: 5000 }));
  try {
    // the stale flag: sequential holds
    const a = locks[0];
    const b = locks[1];
    const flags: boolean[] = [];
    await a.hold('git/ns/other', async (h) => void flags.push(h.stale));
    await a.hold('git/ns/other', async (h) => void flags.push(h.stale));
    await b.hold('git/ns/other', async (h) => void flags.push(h.stale));
    await a.hold('git/ns/other', async (h) => void flags.push(h.stale));
    t.deepEqual(flags, [true, false, true, true]);
  } finally {
    for (const l of locks) l.close();
    await closeAll(ss);
  }
});

test('store locks: never two holders at once (serialised per replica as the engine does)', async (t) => {
  const ss = await stores(3);
  const locks = ss.map((s, i) => new StoreLocks(s, { identity: `replica-${i}`, ttlMs: 5000 }));
  try {
    let inside = 0;
    let overlap = 0;
    let holds = 0;
    // each replica runs 10 holds one after another; the three replicas race
    await Promise.all(
      locks.map(async (l) => {
        for (let i = 0; i < 10; i++)
          await l.hold('git/ns/repo', async () => {
            if (++inside > 1) overlap++;
            holds++;
            await new Promise((r) => setTimeout(r, 3));
            inside--;
          });
      }),
    );
    t.is(holds, 30);
    t.is(overlap, 0);
  } finally {
    for (const l of locks) l.close();
    await closeAll(ss);
  }
});

test("store locks: a dead holder's lock expires after its ttl, not before", async (t) => {
  const ss = await stores(2);
  const dead = new StoreLocks(ss[0], { identity: 'dead', ttlMs: 1500 });
  const alive = new StoreLocks(ss[1], { identity: 'alive', ttlMs: 1500 });
  try {
    let taken!: () => void;
    const holding = new Promise<void>((r) => (taken = r));
    // the holder takes the lock and never returns; then its store goes away (no more renewals)
    void dead.hold('git/ns/repo', async () => {
      taken();
      await new Promise(() => {});
    });
    await holding;
    dead.close();
    await ss[0].close();
    const started = Date.now();
    let stale = false;
    await alive.hold('git/ns/repo', async (h) => void (stale = h.stale));
    const waited = Date.now() - started;
    t.true(stale, 'another replica held it: fetch first');
    t.true(waited >= 1000, `waited ${waited} ms (the ttl is 1500 ms, renewals stopped at most 500 ms before)`);
    t.true(waited < 10_000, `waited ${waited} ms`);
  } finally {
    alive.close();
    await ss[1].close();
  }
});

test('revision numbers: 40 concurrent allocations over three replicas give 40 distinct numbers, above git', async (t) => {
  const ss = await stores(3);
  try {
    const allocs = ss.map((s) => new RevisionAllocator(s));
    const got = await Promise.all(Array.from({ length: 40 }, (_, i) => allocs[i % 3].next('ns/repo/pkg', 2)));
    t.deepEqual(
      [...got].sort((a, b) => a - b),
      Array.from({ length: 40 }, (_, i) => i + 3),
    );
    // git ahead of the counter (tags pushed by someone else): the next one is above git
    t.is(await allocs[0].next('ns/repo/pkg', 100), 101);
    t.is(await allocs[1].next('ns/repo/other', 0), 1);
  } finally {
    await closeAll(ss);
  }
});

test('index keys: 20 concurrent creates with the same index key over three stores, one success; one event per create; delete frees it', async (t) => {
  const ss = await stores(3);
  const events: StoreEvent[] = [];
  const unsub = ss[0].subscribe((ev) => void events.push(ev));
  try {
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => ss[i % 3].createIndexed(`/registry/things/ns/t${i}`, Buffer.from(`{"i":${i}}`), ['/pkgserver-index/things/ns/same'])));
    const ok = results.filter((r) => r.status === 'fulfilled');
    t.is(ok.length, 1);
    for (const r of results) if (r.status === 'rejected') t.true(r.reason instanceof KeyExistsError && r.reason.key === '/pkgserver-index/things/ns/same');
    const winner = (ok[0] as PromiseFulfilledResult<{ key: string; modRevision: number }>).value;
    await ss[0].requestProgress(10_000);
    const mine = events.filter((e) => e.revision === winner.modRevision);
    t.deepEqual(
      mine.map((e) => e.key),
      [winner.key],
      'the index key shares the revision: only the object event',
    );
    // the same name again: the object's key is named
    const again = await t.throwsAsync(ss[1].createIndexed(winner.key, Buffer.from('{}'), ['/pkgserver-index/things/ns/other']));
    t.true(again instanceof KeyExistsError && again.key === winner.key);
    t.is(await ss[1].get('/pkgserver-index/things/ns/other'), null, 'nothing of a refused create is written');
    await ss[2].deleteIndexed(winner.key, winner.modRevision, ['/pkgserver-index/things/ns/same']);
    t.is(await ss[0].get('/pkgserver-index/things/ns/same'), null);
    await ss[0].createIndexed('/registry/things/ns/new', Buffer.from('{}'), ['/pkgserver-index/things/ns/same']);
    t.truthy(await ss[1].get('/pkgserver-index/things/ns/same'));
  } finally {
    unsub();
    await closeAll(ss);
  }
});
