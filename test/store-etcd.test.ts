// The etcd backend against a real etcd (Debian's etcd-server) on loopback: the shared conformance
// suite, each test with a fresh key prefix on one etcd (serially, since the suite asserts exact
// revisions and etcd's revision is global), then what only etcd has: compaction learned from etcd,
// reads at a revision, several stores on one etcd, prefixes, TLS client certificates, and a server
// on etcd.
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { generateCA, issueClientCert, issueServingCert } from '../src/cli/pki.ts';
import { EtcdStore, type EtcdStoreOptions } from '../src/storage/store/etcd.ts';
import { KeyExistsError, KeyNotFoundError, RevisionCompactedError, type StoreEvent } from '../src/storage/store/interface.ts';
import { startEtcd, useEtcd } from './helpers/etcd.ts';
import { Kubectl } from './helpers/kubectl.ts';
import { ROOT, startServer } from './helpers/server.ts';
import { storeConformance } from './helpers/store-conformance.ts';

const etcdMember = useEtcd(test);

let prefixes = 0;
const freshPrefix = () => `/pkgserver-test/${process.pid}-${++prefixes}/`;
const open = (opts: Partial<EtcdStoreOptions> = {}) => EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix: freshPrefix(), ...opts });

storeConformance(test.serial, 'etcd', () => open(), { atomicCreateMany: false, issueOrder: false });

const buf = (s: string) => Buffer.from(s);

/** Resolves with the first `n` events a store delivers (bounded by the test's timeout). */
function collect(store: EtcdStore, n: number, filter: (ev: StoreEvent) => boolean = () => true): { events: StoreEvent[]; done: Promise<StoreEvent[]> } {
  const events: StoreEvent[] = [];
  let resolve!: (evs: StoreEvent[]) => void;
  const done = new Promise<StoreEvent[]>((r) => (resolve = r));
  store.subscribe((ev) => {
    if (!filter(ev)) return;
    events.push(ev);
    if (events.length === n) resolve(events);
  });
  return { events, done };
}

test.serial('etcd: keys are stored under the prefix and stripped on the way out', async (t) => {
  const prefix = freshPrefix();
  const store = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix: prefix.replace(/\/$/, '') });
  t.teardown(() => store.close());
  await store.create('/registry/core/things/a', buf('1'));
  const raw = new Etcd3({ hosts: [etcdMember().endpoint] });
  t.teardown(() => raw.close());
  t.is(await raw.get(`${prefix}/registry/core/things/a`).string(), '1');
  t.deepEqual((await store.list('/registry/')).items.map((kv) => kv.key), ['/registry/core/things/a']);
  // the prefix itself holds the marker, which is never listed; the empty key is reserved
  t.deepEqual((await store.list('')).items.map((kv) => kv.key), ['/registry/core/things/a']);
  await t.throwsAsync(store.create('', buf('x')), { message: /reserved/ });
  t.is(await store.get(''), null);
  await t.throwsAsync(store.update('', buf('x'), 1), { instanceOf: KeyNotFoundError });
  await t.throwsAsync(store.delete(''), { instanceOf: KeyNotFoundError });
  await t.throwsAsync(store.createMany([{ key: 'fine', value: buf('x') }, { key: '', value: buf('x') }]), { message: /reserved/ });
  t.is(await store.get('fine'), null);
});

test.serial('etcd: two installations on one etcd are isolated by their prefixes', async (t) => {
  // "/iso/a/" and "/iso/a-b/": one name is a prefix of the other's
  const base = freshPrefix();
  const a = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix: `${base}a` });
  const b = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix: `${base}a-b` });
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const seenA: string[] = [];
  a.subscribe((ev) => seenA.push(ev.key));
  const fromA = await a.currentRevision();

  await a.create('k', buf('a'));
  await b.create('k', buf('b')); // no KeyExistsError: another installation's key
  await b.create('only-b', buf('b'));
  await a.create('last', buf('a'));

  t.deepEqual((await a.list('')).items.map((kv) => [kv.key, kv.value.toString()]), [['k', 'a'], ['last', 'a']]);
  t.deepEqual((await b.list('')).items.map((kv) => [kv.key, kv.value.toString()]), [['k', 'b'], ['only-b', 'b']]);
  t.is(await a.get('only-b'), null);
  t.deepEqual((await a.history('', fromA)).map((ev) => ev.key), ['k', 'last']);
  t.deepEqual(seenA, ['k', 'last']);
  // a's revisions are etcd's: b's writes took revisions in between
  const [k, last] = (await a.list('')).items;
  t.is(last.modRevision - k.modRevision, 3);
});

test.serial('etcd: two stores on one etcd see each other\'s writes through subscribe', async (t) => {
  const prefix = freshPrefix();
  const a = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix });
  const b = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix });
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const atA = collect(a, 3);
  const atB = collect(b, 3);

  const created = await b.create('x', buf('1'));
  const updated = await a.update('x', buf('2'), created.modRevision);
  const deleted = await b.delete('x', updated.modRevision);

  const expected = [
    ['PUT', 'x', created.modRevision, '1'],
    ['PUT', 'x', updated.modRevision, '2'],
    ['DELETE', 'x', deleted.revision, '2'],
  ];
  const summary = (evs: StoreEvent[]) => evs.map((ev) => [ev.type, ev.key, ev.revision, (ev.value ?? ev.prev)!.toString()]);
  t.deepEqual(summary(await atA.done), expected);
  t.deepEqual(summary(await atB.done), expected);
  t.deepEqual(atA.events, atB.events);
  // both replay the same history once they have delivered it
  t.deepEqual(await a.history('', created.modRevision - 1), atA.events);
  t.deepEqual(await b.history('', created.modRevision - 1), atA.events);
  // a conflict made by the other store is a conflict here
  const again = await a.create('x', buf('3'));
  await b.update('x', buf('4'), again.modRevision);
  await t.throwsAsync(a.update('x', buf('5'), again.modRevision), { message: /revision conflict/ });
  await t.throwsAsync(b.create('x', buf('6')), { instanceOf: KeyExistsError });
});

test.serial('etcd: history and lists from a revision compacted by another store throw RevisionCompactedError', async (t) => {
  const prefix = freshPrefix();
  const a = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix });
  const b = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix });
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const base = await a.currentRevision();
  for (let i = 1; i <= 3; i++) await a.create(`c/${i}`, buf(String(i)));
  const page = await b.list('c/', { limit: 2 });
  t.true(page.more);
  t.is(page.revision, base + 3);
  for (let i = 4; i <= 6; i++) await a.create(`c/${i}`, buf(String(i)));

  await a.compact(2);
  t.is(await a.compactedRevision(), base + 4);
  // b did not compact; etcd tells it
  const err = await t.throwsAsync(b.history('c/', base + 1), { instanceOf: RevisionCompactedError });
  t.like(err, { requested: base + 1, compacted: base + 4 });
  t.is(await b.compactedRevision(), base + 4);
  t.deepEqual((await b.history('c/', base + 4)).map((ev) => ev.key), ['c/5', 'c/6']);
  // continuing a list at a compacted revision is refused the same way (410 Expired upstream)
  await t.throwsAsync(b.list('c/', { startKey: 'c/2\0', limit: 2, revision: page.revision }), { instanceOf: RevisionCompactedError });

  // a store opened after the compaction knows it from the start
  const c = await EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix });
  t.teardown(() => c.close());
  t.true((await c.compactedRevision()) >= base + 4);
  await t.throwsAsync(c.history('c/', base), { instanceOf: RevisionCompactedError });
});

test.serial('etcd: pages read at the first page\'s revision while writes happen', async (t) => {
  const store = await open();
  t.teardown(() => store.close());
  for (let i = 0; i < 9; i++) await store.create(`p/${i}`, buf(`v${i}`));
  const first = await store.list('p/', { limit: 3 });
  t.deepEqual(first.items.map((kv) => kv.key), ['p/0', 'p/1', 'p/2']);
  t.true(first.more);

  // writes after the first page: an update and a delete on later pages, a new key in between
  const p4 = (await store.get('p/4'))!;
  await store.update('p/4', buf('changed'), p4.modRevision);
  await store.delete('p/6');
  await store.create('p/35', buf('new'));

  const pages: string[][] = [first.items.map((kv) => `${kv.key}=${kv.value}`)];
  let last = first;
  while (last.more) {
    last = await store.list('p/', { startKey: `${last.items[last.items.length - 1].key}\0`, limit: 3, revision: first.revision });
    t.is(last.revision, first.revision);
    pages.push(last.items.map((kv) => `${kv.key}=${kv.value}`));
  }
  t.deepEqual(pages, [
    ['p/0=v0', 'p/1=v1', 'p/2=v2'],
    ['p/3=v3', 'p/4=v4', 'p/5=v5'],
    ['p/6=v6', 'p/7=v7', 'p/8=v8'],
  ]);
  // without a revision: the current state
  const now = await store.list('p/');
  t.deepEqual(now.items.map((kv) => kv.key), ['p/0', 'p/1', 'p/2', 'p/3', 'p/35', 'p/4', 'p/5', 'p/7', 'p/8']);
  t.is((await store.get('p/4'))?.value.toString(), 'changed');
  t.true(now.revision > first.revision);
});

test.serial('etcd: an unlimited list is read in pages at one revision', async (t) => {
  const store = await open();
  t.teardown(() => store.close());
  // more than one page of 500, values big enough that one response would exceed gRPC's 4 MiB
  const value = Buffer.alloc(9 * 1024, 'x');
  const keys = Array.from({ length: 520 }, (_, i) => `big/${String(i).padStart(4, '0')}`);
  await store.createMany(keys.map((key) => ({ key, value })));
  const all = await store.list('big/');
  t.is(all.items.length, 520);
  t.deepEqual(all.items.map((kv) => kv.key), keys);
  t.false(all.more);
  t.is(all.revision, await store.currentRevision());
});

test.serial('etcd: open refuses bad options', async (t) => {
  await t.throwsAsync(EtcdStore.open({ endpoints: [] }), { message: /no etcd endpoints/ });
  await t.throwsAsync(EtcdStore.open({ endpoints: ['http://127.0.0.1:1', 'https://127.0.0.1:2'] }), { message: /all http/ });
  await t.throwsAsync(EtcdStore.open({ endpoints: ['unix:///x'] }), { message: /only http/ });
  const secret = await t.throwsAsync(EtcdStore.open({ endpoints: ['http://user:hunter2@127.0.0.1:2'] }), { message: /user information/ });
  t.notRegex(secret!.message, /hunter2/);
  await t.throwsAsync(EtcdStore.open({ endpoints: ['https://127.0.0.1:2'], tls: { certFile: '/x' } }), { message: /both/ });
  await t.throwsAsync(EtcdStore.open({ endpoints: ['http://127.0.0.1:2'], tls: { caFile: '/x' } }), { message: /http:\/\// });
  await t.throwsAsync(EtcdStore.open({ endpoints: [etcdMember().endpoint], prefix: 'relative' }), { message: /must start with/ });
});

test.serial('etcd: several endpoints, one of them down', async (t) => {
  // a closed port beside the real member: calls that pick it move on to the other
  const store = await EtcdStore.open({ endpoints: ['http://127.0.0.1:1', etcdMember().endpoint], prefix: freshPrefix() });
  t.teardown(() => store.close());
  for (let i = 0; i < 10; i++) await store.create(`e/${i}`, buf(String(i)));
  t.is((await store.list('e/')).items.length, 10);
});

test.serial('etcd: TLS with client certificates', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pkgserver-etcd-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = generateCA();
  const server = issueServingCert(ca, ['localhost'], ['127.0.0.1']);
  const client = issueClientCert(ca, 'pkgserver', []);
  const other = generateCA();
  const stranger = issueClientCert(other, 'stranger', []);
  const file = (name: string, content: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, content, { mode: 0o600 });
    return p;
  };
  const files = {
    caFile: file('ca.crt', ca.cert),
    certFile: file('server.crt', server.cert),
    keyFile: file('server.key', server.key),
  };
  const clientTLS = { caFile: files.caFile, certFile: file('client.crt', client.cert), keyFile: file('client.key', client.key) };
  const tlsEtcd = await startEtcd({ tls: { ...files, clientCertFile: clientTLS.certFile, clientKeyFile: clientTLS.keyFile } });
  t.teardown(() => tlsEtcd.stop());

  const store = await EtcdStore.open({ endpoints: [tlsEtcd.endpoint], prefix: freshPrefix(), tls: clientTLS });
  t.teardown(() => store.close());
  const seen = collect(store, 1);
  const kv = await store.create('secure', buf('1'));
  t.is((await seen.done)[0].revision, kv.modRevision);
  t.deepEqual((await store.get('secure'))?.value, buf('1'));

  // a certificate of another CA is refused
  await t.throwsAsync(
    EtcdStore.open({
      endpoints: [tlsEtcd.endpoint],
      prefix: freshPrefix(),
      tls: { caFile: files.caFile, certFile: file('stranger.crt', stranger.cert), keyFile: file('stranger.key', stranger.key) },
      requestTimeoutMs: 10_000,
    }),
  );
});

test.serial('serve --storage-backend=etcd3: objects live in etcd, not in the data directory', async (t) => {
  const prefix = freshPrefix();
  const args = ['--storage-backend=etcd3', '--etcd-servers', etcdMember().endpoint, '--etcd-prefix', prefix];
  const first = await startServer({ args });
  t.teardown(() => first.stop());
  t.true(first.logs.some((l) => l.includes('store: etcd')), first.logs.join('\n'));
  const repo = `apiVersion: config.pkg.pkgserver.dev/v1alpha1
kind: Repository
metadata:
  name: on-etcd
  namespace: default
spec:
  git:
    url: https://git.example.com/org/on-etcd.git
    directory: packages
`;
  const k1 = new Kubectl('1.33', first.kubeconfig);
  t.regex(await k1.ok(['create', '-f', '-'], { input: repo }), /repository.* created/);
  const got = JSON.parse(await k1.ok(['get', 'repository', 'on-etcd', '-n', 'default', '-o', 'json']));
  t.is(got.spec.git.url, 'https://git.example.com/org/on-etcd.git');

  // its resourceVersion is the etcd key's mod_revision
  const raw = new Etcd3({ hosts: [etcdMember().endpoint] });
  t.teardown(() => raw.close());
  const stored = await raw.getAll().prefix(prefix).exec();
  const kv = stored.kvs.find((x) => x.key.toString().endsWith('/default/on-etcd'));
  t.truthy(kv, stored.kvs.map((x) => x.key.toString()).join(', '));
  t.is(got.metadata.resourceVersion, kv!.mod_revision);
  await first.stop();

  // a second server with a new data directory finds it in etcd
  const second = await startServer({ args });
  t.teardown(() => second.stop());
  const k2 = new Kubectl('1.33', second.kubeconfig);
  const again = JSON.parse(await k2.ok(['get', 'repository', 'on-etcd', '-n', 'default', '-o', 'json']));
  t.is(again.metadata.uid, got.metadata.uid);
  t.is(again.metadata.resourceVersion, got.metadata.resourceVersion);
  await k2.ok(['delete', 'repository', 'on-etcd', '-n', 'default']);
  t.is((await k2.run(['get', 'repository', 'on-etcd', '-n', 'default'])).code, 1);
});

test.serial('serve: bad storage flags give a clear error', async (t) => {
  const run = promisify(execFile);
  const serve = async (...args: string[]) => {
    const r = await run(process.execPath, ['bin/pkgserver.js', 'serve', '--data-dir', mkdtempSync(path.join(os.tmpdir(), 'pkgserver-flags-')), '--secure-port', '0', ...args], { cwd: ROOT, timeout: 60_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    t.is(r.code, 2, `serve ${args.join(' ')}: ${r.stderr}`);
    return r.stderr;
  };
  t.regex(await serve('--storage-backend=mysql'), /--storage-backend must be sqlite or etcd3/);
  t.regex(await serve('--storage-backend=etcd3'), /needs --etcd-servers/);
  t.regex(await serve('--etcd-servers', etcdMember().endpoint), /--etcd-servers needs --storage-backend=etcd3/);
  t.regex(await serve('--storage-backend=etcd3', '--etcd-servers', 'localhost:2379'), /not an http:\/\/ or https:\/\/ URL/);
  t.regex(await serve('--storage-backend=etcd3', '--etcd-servers', `${etcdMember().endpoint},https://127.0.0.1:2`), /all http:\/\/ or all https:\/\//);
  const secret = await serve('--storage-backend=etcd3', '--etcd-servers', 'http://user:hunter2@127.0.0.1:2');
  t.regex(secret, /user information in the URL is not supported/);
  t.notRegex(secret, /hunter2/);
  t.regex(await serve('--storage-backend=etcd3', '--etcd-servers', etcdMember().endpoint, '--etcd-cafile', '/nonexistent'), /need https:\/\//);
  t.regex(await serve('--storage-backend=etcd3', '--etcd-servers', 'https://127.0.0.1:2', '--etcd-certfile', '/x'), /--etcd-certfile and --etcd-keyfile go together/);
  t.regex(await serve('--storage-backend=etcd3', '--etcd-servers', etcdMember().endpoint, '--etcd-prefix', 'no-slash'), /--etcd-prefix must start with/);
});

test.serial('etcd: the subscription resumes after etcd is killed and restarted, without missing or repeating events', async (t) => {
  const own = await startEtcd();
  t.teardown(() => own.stop());
  const prefix = freshPrefix();
  const troubles: string[] = [];
  const a = await EtcdStore.open({ endpoints: [own.endpoint], prefix, onWatchError: (err) => troubles.push(String(err)) });
  const b = await EtcdStore.open({ endpoints: [own.endpoint], prefix });
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const atA = collect(a, 4);

  const k1 = await b.create('k1', buf('1'));
  await own.restart();
  // written by b as soon as etcd is back, while a's watch may still be reconnecting
  const k2 = await b.create('k2', buf('2'));
  const k3 = await b.update('k1', buf('1b'), k1.modRevision);
  // a write through a resolves once a's (resumed) watch delivered it
  const k4 = await a.create('k4', buf('4'));
  t.deepEqual(
    (await atA.done).map((ev) => [ev.key, ev.revision]),
    [
      ['k1', k1.modRevision],
      ['k2', k2.modRevision],
      ['k1', k3.modRevision],
      ['k4', k4.modRevision],
    ],
  );
  t.true(troubles.length > 0, 'the broken watch was reported');
  t.deepEqual((await a.list('')).items.map((kv) => kv.key), ['k1', 'k2', 'k4']);
});
