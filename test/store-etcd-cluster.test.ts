// The etcd store on a three-member etcd cluster (issue 12): kill -9 of the etcd leader during a
// stream of writes. Writes continue (through the other members, after etcd elects a new leader),
// and no write the store acknowledged is lost: every acknowledged key is in a list afterwards with
// its value, and the subscription delivered each of them once.
import test from 'ava';
import { KeyExistsError } from '../src/storage/store/interface.ts';
import { EtcdStore } from '../src/storage/store/etcd.ts';
import { startEtcdCluster } from './helpers/etcdcluster.ts';
import { poll } from './helpers/poll.ts';

test('kill -9 of the etcd leader during writes: the writes continue and none acknowledged is lost', async (t) => {
  t.timeout(300_000);
  const cluster = await startEtcdCluster(3);
  t.teardown(() => cluster.stop());
  const store = await EtcdStore.open({ endpoints: cluster.endpoints, prefix: '/cluster-test/', requestTimeoutMs: 10_000 });
  t.teardown(() => store.close());
  const delivered = new Map<string, number>();
  store.subscribe((ev) => {
    if (ev.type === 'PUT' && ev.key.startsWith('k')) delivered.set(ev.key, (delivered.get(ev.key) ?? 0) + 1);
  });

  const TOTAL = 300;
  const KILL_AT = 100;
  const acknowledged = new Map<string, string>();
  let failures = 0;
  let killed: string | undefined;
  for (let i = 0; i < TOTAL; i++) {
    const key = `k${String(i).padStart(4, '0')}`;
    const value = `v${i}`;
    if (i === KILL_AT) {
      const leader = await cluster.leader();
      await leader.kill();
      killed = leader.name;
    }
    // a write that failed (the leader died under it) is tried again; one that was applied before
    // its answer was lost comes back as "exists" with this very value
    for (let attempt = 0; ; attempt++) {
      try {
        await store.create(key, Buffer.from(value));
        acknowledged.set(key, value);
        break;
      } catch (e) {
        if (e instanceof KeyExistsError) {
          const kv = await store.get(key);
          if (kv?.value.toString() === value) acknowledged.set(key, value);
          break;
        }
        failures++;
        if (attempt > 50) throw e;
        await new Promise((r) => setTimeout(r, 200)); // back off before the next attempt
      }
    }
  }
  t.truthy(killed);
  t.is(acknowledged.size, TOTAL, 'every write was made, after the failover too');
  const { items } = await store.list('k');
  t.deepEqual(new Map(items.map((kv) => [kv.key, kv.value.toString()])), acknowledged);
  const revisions = items.map((kv) => kv.modRevision);
  t.is(new Set(revisions).size, revisions.length, 'each write its own revision');
  await poll('every write delivered to the subscription', async () => (delivered.size === TOTAL ? true : undefined), 60_000);
  t.true([...delivered.values()].every((n) => n === 1), 'each delivered once');
  t.log(`killed ${killed} at write ${KILL_AT}; ${failures} attempts failed during the failover and were retried`);
});
