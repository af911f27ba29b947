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
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cacher-sqlite-'));
  const store = SqliteStore.open(path.join(dir, 'db'));
  const set = new CacherSet(store);
  const cacher = set.add(new Cacher('objs/', decode));
  await set.start();
  try {
    t.false(set.remote);
    const kv = await store.create('objs/x', obj('x', 1));
    t.is(cacher.revision, kv.modRevision);
    await set.waitFor(kv.modRevision);
    await set.consistent();
    const started = Date.now();
    await t.throwsAsync(set.waitFor(kv.modRevision + 1, 10_000), { instanceOf: CacheTooOldError });
    t.true(Date.now() - started < 1000, 'at once');
  } finally {
    set.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
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
});
