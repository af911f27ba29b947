// The watch cache on a remote store (issue 12, item 2), against a real etcd: two EtcdStores on one
// prefix stand for two replicas; the cache of replica B follows its subscription and can lag
// behind writes made through replica A. Reads that need a revision wait for it (bounded), a
// consistent read waits for etcd's current revision, a gap in the subscription (a compaction while
// its watch was down) reloads the cache and ends its watches. On SQLite nothing waits.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KObject } from '../src/api/meta.ts';
import { CacheTooOldError, Cacher, CacherSet } from '../src/storage/store/cacher.ts';
import { EtcdStore } from '../src/storage/store/etcd.ts';
import { SqliteStore } from '../src/storage/store/sqlite.ts';
import { useEtcd } from './helpers/etcd.ts';
import { HttpClient } from './helpers/http.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer } from './helpers/server.ts';

const etcdMember = useEtcd(test);

let prefixes = 0;
const decode = (value: Buffer, revision: number): KObject => {
  const o = JSON.parse(value.toString()) as KObject;
  o.metadata = { ...(o.metadata ?? {}), resourceVersion: String(revision) };
  return o;
};
const obj = (name: string, n: number) => Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'T', metadata: { name }, n }));

async function replicas() {
  const prefix = `/pkgserver-cacher-test/${process.pid}-${++prefixes}/`;
  const a = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix });
  const b = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix });
  const set = new CacherSet(b);
  const cacher = set.add(new Cacher('objs/', decode));
  await set.start();
  return {
    a,
    b,
    set,
    cacher,
    async close() {
      set.stop();
      await a.close();
      await b.close();
    },
  };
}

/** A watch cache on a SQLite store (always current), in a temporary directory. */
async function onSqlite() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cacher-sqlite-'));
  const store = SqliteStore.open(path.join(dir, 'db'));
  const set = new CacherSet(store);
  const cacher = set.add(new Cacher('objs/', decode));
  await set.start();
  return {
    store,
    set,
    cacher,
    async close() {
      set.stop();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test.serial("a read waits until the cache has another replica's write", async (t) => {
  const r = await replicas();
  try {
    t.true(r.set.remote);
    const kv = await r.a.create('objs/x', obj('x', 1));
    await r.set.waitFor(kv.modRevision);
    t.is((r.cacher.get('objs/x') as unknown as { n: number }).n, 1);
    t.true(r.cacher.revision >= kv.modRevision);

    // a consistent read after a write on A sees it, whatever B's subscription delivered so far
    const kv2 = await r.a.update('objs/x', obj('x', 2), kv.modRevision);
    await r.set.consistent();
    t.is(r.cacher.get('objs/x')?.metadata.resourceVersion, String(kv2.modRevision));
  } finally {
    await r.close();
  }
});

test.serial('a lagging cache: the wait is bounded (504 as kube), and ends when the subscription catches up', async (t) => {
  const r = await replicas();
  try {
    const resume = r.b.interruptSubscription();
    const kv = await r.a.create('objs/y', obj('y', 1));
    const started = Date.now();
    const err = await t.throwsAsync(r.set.waitFor(kv.modRevision, 400));
    t.true(err instanceof CacheTooOldError);
    t.false((err as CacheTooOldError).consistent);
    t.true(Date.now() - started >= 350, 'waited for the bound');
    t.true(Date.now() - started < 5000, 'bounded');
    const err2 = await t.throwsAsync(r.set.consistent(300));
    t.true(err2 instanceof CacheTooOldError && err2.consistent);
    t.is(r.cacher.get('objs/y'), undefined);

    // a waiting read is released by the subscription's event
    const waiting = r.set.waitFor(kv.modRevision, 60_000);
    resume();
    await waiting;
    t.is((r.cacher.get('objs/y') as unknown as { n: number }).n, 1);

    // a revision no one has written: a bounded wait, then the error
    const future = r.set.waitFor(kv.modRevision + 1_000_000, 300);
    await t.throwsAsync(future, { instanceOf: CacheTooOldError });
  } finally {
    await r.close();
  }
});

test.serial('lag(): the revisions the cache has not received after a bounded wait; 0 once it caught up, also over writes outside its prefixes', async (t) => {
  const r = await replicas();
  try {
    const first = await r.a.create('objs/l0', obj('l0', 0));
    // caught up (a progress notification brings the revisions of other prefixes too)
    const other = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix: `/pkgserver-cacher-lag/${process.pid}/` });
    await other.create('z', obj('z', 1));
    await other.close();
    t.deepEqual(await r.set.lag(30_000), [{ prefix: 'objs/', revisions: 0 }]);
    t.true(r.cacher.revision > first.modRevision);

    // the subscription stalls: three writes it has not delivered are three revisions behind
    const resume = r.b.interruptSubscription();
    const before = r.cacher.revision;
    let last = 0;
    for (let i = 1; i <= 3; i++) last = (await r.a.create(`objs/l${i}`, obj(`l${i}`, i))).modRevision;
    const started = Date.now();
    const [lag] = await r.set.lag(300);
    t.true(Date.now() - started < 20_000, 'bounded');
    t.is(r.cacher.revision, before);
    t.true(lag.revisions >= last - before && lag.revisions >= 3, `lag ${lag.revisions}, cache at ${before}, last write ${last}`);

    // it resumes: the lag goes back to 0
    resume();
    await r.set.waitFor(last, 30_000);
    t.deepEqual(await r.set.lag(30_000), [{ prefix: 'objs/', revisions: 0 }]);
  } finally {
    await r.close();
  }
});

test('lag() is empty on a store that is always current (SQLite)', async (t) => {
  const r = await onSqlite();
  try {
    t.deepEqual(await r.set.lag(), []);
  } finally {
    await r.close();
  }
});

test.serial('progress notifications advance the cache over writes outside its prefixes', async (t) => {
  const r = await replicas();
  try {
    // a write elsewhere in etcd: no event of ours, but the cache must still reach that revision
    const other = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix: `/pkgserver-cacher-other/${process.pid}/` });
    const kv = await other.create('z', obj('z', 1));
    await other.close();
    t.true(r.cacher.revision < kv.modRevision);
    await r.set.waitFor(kv.modRevision);
    t.true(r.cacher.revision >= kv.modRevision);
    await r.set.consistent();
  } finally {
    await r.close();
  }
});

test.serial('a gap in the subscription (compacted while its watch was down) reloads the cache and ends its watches', async (t) => {
  const r = await replicas();
  try {
    const kv0 = await r.a.create('objs/w', obj('w', 0));
    await r.set.waitFor(kv0.modRevision);
    let closed = 0;
    const seen: string[] = [];
    r.cacher.watch({ matches: () => true, send: (type, o) => void seen.push(`${type} ${o.metadata.name}`), close: () => void closed++ }, 'current', false);

    const resume = r.b.interruptSubscription();
    let rev = kv0.modRevision;
    for (let i = 1; i <= 5; i++) rev = (await r.a.update('objs/w', obj('w', i), rev)).modRevision;
    const created = await r.a.create('objs/v', obj('v', 1));
    await r.a.compact(0);
    resume();

    const deadline = Date.now() + 30_000;
    while ((r.set.relists < 1 || r.cacher.revision < created.modRevision) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    t.is(r.set.relists, 1);
    t.is(closed, 1, 'the watcher was ended');
    t.deepEqual(seen, [], 'no event of the gap was sent as if it were complete');
    t.is((r.cacher.get('objs/w') as unknown as { n: number }).n, 5);
    t.truthy(r.cacher.get('objs/v'));
    // a client re-watching from the last revision it saw gets 410 (the window starts after the gap)
    t.throws(() => r.cacher.watch({ matches: () => true, send: () => {} }, kv0.modRevision, false), { name: 'ExpiredError' });
    // and the cache follows the subscription again
    const kv = await r.a.create('objs/u', obj('u', 1));
    await r.set.waitFor(kv.modRevision);
    t.truthy(r.cacher.get('objs/u'));
  } finally {
    await r.close();
  }
});

test('on SQLite nothing waits: the cache is current when the write returns', async (t) => {
  const { store, set, cacher, close } = await onSqlite();
  try {
    t.false(set.remote);
    const kv = await store.create('objs/x', obj('x', 1));
    t.is(cacher.revision, kv.modRevision);
    await set.waitFor(kv.modRevision);
    await set.consistent();
    const started = Date.now();
    await t.throwsAsync(set.waitFor(kv.modRevision + 1, 10_000), { instanceOf: CacheTooOldError });
    t.true(Date.now() - started < 5000, 'at once, not after the 10 s bound');
  } finally {
    await close();
  }
});

test.serial('a server on etcd: a write made directly in etcd is read at once (consistent read); a resourceVersion from the future is a 504 after a bounded wait', async (t) => {
  const prefix = `/pkgserver-cacher-server/${process.pid}/`;
  const server = await startServer({ args: ['--storage-backend=etcd3', '--etcd-servers', etcdMember().endpoint, '--etcd-prefix', prefix] });
  t.teardown(() => server.stop());
  const http = new HttpClient(server.url, adminTLS(server));
  const NSS = '/api/v1/namespaces';
  t.is((await http.request('POST', NSS, { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'direct' } } })).status, 201);
  // another replica's write: a second store on the same prefix writes a copy under another name
  const other = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix });
  t.teardown(() => other.close());
  const keys = (await other.list('/registry/')).items.map((kv) => kv.key);
  const nsKey = keys.find((k) => k.endsWith('/direct'))!;
  t.truthy(nsKey, keys.join(' '));
  const copy = JSON.parse((await other.get(nsKey))!.value.toString());
  copy.metadata.name = 'direct2';
  copy.metadata.uid = '00000000-0000-0000-0000-000000000002';
  const written = await other.create(nsKey.replace(/direct$/, 'direct2'), Buffer.from(JSON.stringify(copy)));
  // no polling: the read waits until the cache has etcd's current revision
  const got = await http.request('GET', `${NSS}/direct2`);
  t.is(got.status, 200);
  t.is((got.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion, String(written.modRevision));
  const list = await http.request('GET', NSS);
  t.true(Number((list.body as { metadata: { resourceVersion: string } }).metadata.resourceVersion) >= written.modRevision);
  // resourceVersion=0 is served at once from the cache, whatever it has
  t.is((await http.request('GET', `${NSS}?resourceVersion=0`)).status, 200);

  // a revision no one has written: 504 Timeout after kube's 3 s wait, with client-go's cause
  const started = Date.now();
  const future = await http.request('GET', `${NSS}?resourceVersion=${written.modRevision + 1_000_000}&resourceVersionMatch=NotOlderThan`);
  const waited = Date.now() - started;
  t.is(future.status, 504);
  const status = future.body as { reason: string; message: string; details: { causes: { reason: string }[]; retryAfterSeconds: number } };
  t.is(status.reason, 'Timeout');
  t.regex(status.message, /^Timeout: Too large resource version: \d+, current: \d+$/);
  t.deepEqual(status.details.causes.map((c) => c.reason), ['ResourceVersionTooLarge']);
  t.true(waited >= 2500 && waited < 20_000, `waited ${waited} ms`);

  // /metrics: the reads' waits for the cache (reached, and the one that timed out) and the cache lag, by resource
  const metrics = async () => (await http.request('GET', '/metrics')).body as string;
  const value = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  const m = await metrics();
  const reached = value(m, 'pkgserver_watch_cache_wait_seconds_count{resource="namespaces",result="reached"}');
  t.true(reached !== undefined && reached >= 2, `reached: ${reached}`); // the get and the list above (resourceVersion=0 does not wait)
  t.is(value(m, 'pkgserver_watch_cache_wait_seconds_count{resource="namespaces",result="timeout"}'), 1);
  const timedOut = value(m, 'pkgserver_watch_cache_wait_seconds_sum{resource="namespaces",result="timeout"}');
  t.true(timedOut !== undefined && timedOut >= 2.5 && timedOut < 20, `timeout sum: ${timedOut}`);
  t.regex(m, /^# TYPE pkgserver_watch_cache_lag_revisions gauge$/m);
  t.not(value(m, 'pkgserver_watch_cache_lag_revisions{resource="repositories.config.pkg.pkgserver.dev"}'), undefined);
  // nothing is being written: the cache has everything (a scrape waits at most 1 s for a progress notification)
  await poll('no cache lag', async () => (value(await metrics(), 'pkgserver_watch_cache_lag_revisions{resource="namespaces"}') === 0 ? true : undefined), 60_000);
});

test.serial('a (re)load on etcd reads the history of the last `capacity` revisions once for every cacher: watches resume within it, older ones are 410', async (t) => {
  const prefix = `/pkgserver-cacher-test/${process.pid}-${++prefixes}/`;
  const a = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix });
  const b = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix });
  const kvs = [];
  for (let i = 0; i < 30; i++) kvs.push(await a.create(`${i % 2 ? 'objs' : 'others'}/k${i}`, obj(`k${i}`, i)));
  // count the history reads the load makes
  const reads: string[] = [];
  const history = b.history.bind(b);
  b.history = (p, from, limit, opts) => {
    reads.push(`${p}@${from}`);
    return history(p, from, limit, opts);
  };
  const set = new CacherSet(b);
  const objs = set.add(new Cacher('objs/', decode, 10));
  const others = set.add(new Cacher('others/', decode, 5));
  await set.start();
  try {
    const current = kvs[kvs.length - 1].modRevision;
    t.deepEqual(reads, [`@${current - 10}`], 'one replay of the last 10 revisions (the largest capacity), from the installation prefix');
    t.is([...objs.list().entries].length, 15);
    t.is([...others.list().entries].length, 15);
    // the windows start there: a watch from within gets the events after it, one from before is 410
    const seen: string[] = [];
    objs.watch({ matches: () => true, send: (type, o) => void seen.push(`${type} ${o.metadata.name}`) }, current - 4, false);
    t.deepEqual(seen, [`ADDED k27`, `ADDED k29`]);
    t.throws(() => objs.watch({ matches: () => true, send: () => {} }, current - 12, false), { name: 'ExpiredError' });
  } finally {
    set.stop();
    await a.close();
    await b.close();
  }
});
