// @kubernetes/client-node 1.4 against the real server: an informer sees what another client
// does; survives a server restart (SIGTERM, new process on the same data dir and port) without
// losing or repeating an event; and recovers from an expired resourceVersion (410) with one
// relist, not a storm of them. Also: the request log, how SIGTERM ends open watches, and a
// resourceVersion from the future. Each test runs its own server(s); the informer's behaviour
// this relies on is section 5 of shared/reference/k8s-protocol.md (no backoff, stops on any
// watch failure but 410, relists after a 410 ERROR event once the stream ends).
import test, { type ExecutionContext } from 'ava';
import * as k8s from '@kubernetes/client-node';
import { cpSync } from 'node:fs';
import path from 'node:path';
import { startServer, tempDir, type ServerHandle, type StartOptions } from './helpers/server.ts';
import {
  finishedRequests,
  freePort,
  kubeConfig,
  Recorder,
  Repos,
  reposPath,
  sleep,
  startedRequests,
  waitFor,
  type Recorded,
  type Repo,
} from './helpers/clientnode.ts';

const running = new Set<ServerHandle>();
const recorders = new Set<Recorder>();

async function start(opts: StartOptions = {}): Promise<ServerHandle> {
  const h = await startServer(opts);
  running.add(h);
  return h;
}

async function stop(h: ServerHandle): Promise<void> {
  await h.stop();
  running.delete(h);
}

function recorder(...args: ConstructorParameters<typeof Recorder>): Recorder {
  const r = new Recorder(...args);
  recorders.add(r);
  return r;
}

test.after.always(async () => {
  for (const r of recorders) await r.stop().catch(() => undefined);
  await Promise.all([...running].map((h) => h.stop()));
});

const rv = (o: Repo) => o.metadata.resourceVersion;

/** Every (uid, resourceVersion) of the events is there once. */
function assertNoDuplicates(t: ExecutionContext, events: Recorded[]): void {
  const keys = events.map((e) => `${e.uid}@${e.rv}`);
  t.deepEqual(
    keys.filter((k, i) => keys.indexOf(k) !== i),
    [],
    'an event (uid@resourceVersion) was delivered more than once',
  );
}

/** The informer's cache is exactly the server's list (same objects, same resourceVersions). */
async function assertCacheMatchesServer(t: ExecutionContext, r: Recorder, repos: Repos): Promise<void> {
  const server = await repos.list(r.ns);
  t.deepEqual(r.cache(), server.items);
}

// ---------------------------------------------------------------- 1. events

test('informer: add, update and delete made by another client arrive once each, in order, with the exact objects', async (t) => {
  const h = await start();
  const repos = new Repos(kubeConfig(h));
  const ns = 'informer';
  const pre = await repos.create(ns, 'pre', '/tmp/pre');
  await repos.create(`${ns}-other`, 'elsewhere', '/tmp/elsewhere');

  const r = recorder(kubeConfig(h), new Repos(kubeConfig(h)), ns);
  await r.start();
  t.deepEqual(r.brief(), [['add', 'pre', rv(pre)]], 'the initial list');
  t.deepEqual(r.events[0].obj, pre);

  // another client: create, merge patch, no-op patch, replace, a write in another namespace, delete
  const a1 = await repos.create(ns, 'a', 'https://git.example.com/team/a.git');
  await waitFor(() => r.events.length === 2, 'ADDED a');
  const a2 = await repos.mergePatch(ns, 'a', { metadata: { labels: { tier: 'prod' } }, spec: { deployment: true } });
  t.is(a2.metadata.generation, 2);
  const same = await repos.mergePatch(ns, 'a', { metadata: { labels: { tier: 'prod' } } });
  t.is(rv(same), rv(a2), 'a patch that changes nothing writes nothing');
  const a3 = await repos.replace(ns, 'a', { ...a2, metadata: { ...a2.metadata, annotations: { note: 'replaced' } } });
  await repos.create(`${ns}-other`, 'noise', '/tmp/noise');
  const gone = await repos.delete(ns, 'a');
  const b = await repos.create(ns, 'b', '/tmp/b');
  await waitFor(() => r.events.some((e) => e.name === 'b'), 'ADDED b');
  await sleep(300); // anything stray would arrive now

  t.deepEqual(r.brief(), [
    ['add', 'pre', rv(pre)],
    ['add', 'a', rv(a1)],
    ['update', 'a', rv(a2)],
    ['update', 'a', rv(a3)],
    ['delete', 'a', rv(gone)],
    ['add', 'b', rv(b)],
  ]);
  const rvs = [a1, a2, a3, gone, b].map((o) => Number(rv(o)));
  t.deepEqual(rvs, [...rvs].sort((x, y) => x - y), 'resourceVersions increase');
  t.is(new Set(rvs).size, rvs.length);

  // each event carries exactly the object the writer got back
  t.deepEqual(r.events[1].obj, a1);
  t.deepEqual(r.events[2].obj, a2);
  t.deepEqual(r.events[2].obj.metadata.labels, { tier: 'prod' });
  t.is(r.events[2].obj.spec.deployment, true);
  t.deepEqual(r.events[3].obj, a3);
  t.deepEqual(r.events[3].obj.metadata.annotations, { note: 'replaced' });
  t.deepEqual(r.events[4].obj, gone, 'DELETED carries the last state with the resourceVersion of the delete');
  t.is(r.events[4].obj.metadata.annotations?.note, 'replaced');
  t.deepEqual(r.events[5].obj, b);

  t.is(r.lists.length, 1, 'one list, no relist');
  t.deepEqual(r.errors, []);
  t.deepEqual(r.cache(), [b, pre]);
  await assertCacheMatchesServer(t, r, repos);

  const started = startedRequests(h, reposPath(ns));
  t.deepEqual(started.watches, [`${reposPath(ns)}?watch=true&resourceVersion=${r.lists[0]}`], 'one watch, from the list resourceVersion');
  await r.stop();
  await stop(h);
});

test('the request log names the full path of a request', async (t) => {
  const h = await start();
  const repos = new Repos(kubeConfig(h));
  await repos.list('logged');
  await repos.create('logged', 'x', '/tmp/x');
  await sleep(100);
  const mine = finishedRequests(h).filter((l) => l.path.includes('/namespaces/logged/'));
  t.deepEqual(mine, [
    { method: 'GET', path: reposPath('logged'), code: 200 },
    { method: 'POST', path: reposPath('logged'), code: 201 },
  ]);
  await stop(h);
});

/** Raw watch through client-node's Watch for `ms`: [type, name, resourceVersion] of each event. */
async function collectWatch(kc: k8s.KubeConfig, resourcePath: string, resourceVersion: string, ms: number): Promise<[string, string, string][]> {
  const events: [string, string, string][] = [];
  let failed: unknown;
  const controller = await new k8s.Watch(kc).watch(
    resourcePath,
    { resourceVersion },
    (type, o) => events.push([type, o.metadata?.name, o.metadata?.resourceVersion]),
    (err) => void (failed ??= err),
  );
  await sleep(ms);
  if (failed) throw failed;
  controller.abort();
  return events;
}

// ---------------------------------------------------------------- 2. restart

/**
 * A server on a fixed port and data dir with an informer that restarts itself after errors, as a
 * controller would (client-node 1.4 stops the informer when the watch hits "connection refused").
 */
async function restartFixture(ns: string, args: string[] = []) {
  const port = await freePort();
  const dataDir = tempDir();
  const first = await start({ dataDir, port, args });
  const kc = kubeConfig(first);
  const repos = new Repos(kc);
  const r = recorder(kc, new Repos(kc), ns, { restartOnError: true, retryMs: 100 });
  return { port, dataDir, first, kc, repos, r };
}

test('restart: an informer resumes after SIGTERM and a new process, and gets each later change exactly once', async (t) => {
  const ns = 'restart-after';
  const { port, dataDir, first, repos, r } = await restartFixture(ns);
  const x1 = await repos.create(ns, 'x1', '/tmp/x1');
  const x2 = await repos.create(ns, 'x2', '/tmp/x2');
  await r.start();
  t.deepEqual(r.brief(), [
    ['add', 'x1', rv(x1)],
    ['add', 'x2', rv(x2)],
  ]);
  const resumeFrom = r.resourceVersion;
  t.is(resumeFrom, rv(x2));

  await stop(first);
  await sleep(700); // nothing changes; the informer's watch fails and it keeps retrying
  t.true(r.errors.length >= 2, `the informer saw the server go (${r.errors.length} errors)`);
  t.true(
    r.errors.some((e) => (e as { code?: string }).code === 'ECONNREFUSED'),
    'connection refused while the server is down',
  );

  const second = await start({ dataDir, port });
  await waitFor(() => startedRequests(second, reposPath(ns)).watches.length >= 1, 'the informer to watch the new server');
  await sleep(100);
  const eventsBefore = r.events.length;

  const x3 = await repos.create(ns, 'x3', '/tmp/x3');
  const x1b = await repos.mergePatch(ns, 'x1', { metadata: { labels: { after: 'restart' } } });
  const x2gone = await repos.delete(ns, 'x2');
  await waitFor(() => r.events.length >= eventsBefore + 3, 'three events');
  await sleep(300);

  t.deepEqual(r.brief(eventsBefore), [
    ['add', 'x3', rv(x3)],
    ['update', 'x1', rv(x1b)],
    ['delete', 'x2', rv(x2gone)],
  ]);
  t.deepEqual(r.events[eventsBefore + 1].obj, x1b);
  assertNoDuplicates(t, r.events);
  t.is(r.lists.length, 1, 'the informer resumed its watch, it did not relist');
  t.deepEqual(startedRequests(second, reposPath(ns)), { lists: [], watches: [`${reposPath(ns)}?watch=true&resourceVersion=${resumeFrom}`] });
  await assertCacheMatchesServer(t, r, repos);
  t.deepEqual(
    r.cache().map((o) => o.metadata.name),
    ['x1', 'x3'],
  );
  await r.stop();
  await stop(second);
});

test('restart: changes made on the new server before the informer reconnects are replayed exactly once', async (t) => {
  const ns = 'restart-before';
  const { port, dataDir, first, repos, r } = await restartFixture(ns);
  const y1 = await repos.create(ns, 'y1', '/tmp/y1');
  const y2 = await repos.create(ns, 'y2', '/tmp/y2');
  await repos.create(ns, 'y3', '/tmp/y3');
  await r.start();
  await repos.mergePatch(ns, 'y3', { spec: { deployment: true } });
  await waitFor(() => r.events.length === 4, 'the update of y3');
  const resumeFrom = r.resourceVersion;

  r.reconnect = false; // the informer stays off until the changes are made
  await stop(first);
  await sleep(500);
  const second = await start({ dataDir, port });

  const y4 = await repos.create(ns, 'y4', '/tmp/y4');
  const y1b = await repos.mergePatch(ns, 'y1', { metadata: { labels: { v: '2' } } });
  const y2gone = await repos.delete(ns, 'y2');
  const y1c = await repos.mergePatch(ns, 'y1', { metadata: { labels: { v: '3' } } });
  const eventsBefore = r.events.length;
  t.is(eventsBefore, 4);
  t.deepEqual(startedRequests(second, reposPath(ns)).watches, [], 'the informer has not reconnected yet');
  // on the wire (client-node's informer hides a repeated resourceVersion): the new server replays
  // exactly the events after resumeFrom, the one at resumeFrom not again
  t.deepEqual(await collectWatch(kubeConfig(second), reposPath(ns), resumeFrom, 500), [
    ['ADDED', 'y4', rv(y4)],
    ['MODIFIED', 'y1', rv(y1b)],
    ['DELETED', 'y2', rv(y2gone)],
    ['MODIFIED', 'y1', rv(y1c)],
  ]);

  r.reconnect = true;
  await waitFor(() => r.events.length >= eventsBefore + 4, 'the replayed events');
  // and a live one after the replay
  const y5 = await repos.create(ns, 'y5', '/tmp/y5');
  await waitFor(() => r.events.length >= eventsBefore + 5, 'ADDED y5');
  await sleep(300);

  t.deepEqual(r.brief(eventsBefore), [
    ['add', 'y4', rv(y4)],
    ['update', 'y1', rv(y1b)],
    ['delete', 'y2', rv(y2gone)],
    ['update', 'y1', rv(y1c)],
    ['add', 'y5', rv(y5)],
  ]);
  t.deepEqual(r.events[eventsBefore + 3].obj, y1c);
  assertNoDuplicates(t, r.events);
  t.is(r.lists.length, 1, 'resumed from its resourceVersion, no relist');
  t.deepEqual(startedRequests(second, reposPath(ns)), {
    lists: [],
    watches: [
      `${reposPath(ns)}?watch=true&resourceVersion=${resumeFrom}`, // collectWatch
      `${reposPath(ns)}?watch=true&resourceVersion=${resumeFrom}`, // the informer
    ],
  });
  await assertCacheMatchesServer(t, r, repos);
  t.deepEqual(
    r.cache().map((o) => [o.metadata.name, rv(o)]),
    [
      ['y1', rv(y1c)],
      ['y3', resumeFrom],
      ['y4', rv(y4)],
      ['y5', rv(y5)],
    ],
  );
  await r.stop();
  await stop(second);
});

test('SIGTERM ends open watch streams cleanly (a graceful shutdown), not by cutting the connection', async (t) => {
  // The watch handler has a clean way to end a stream (its close(): res.end(), as at
  // timeoutSeconds); a graceful shutdown should use it, as kube-apiserver terminates active watches
  // during shutdown (kubernetes/kubernetes#114925), so clients see an ordinary end of stream and
  // re-watch from their last resourceVersion (on another replica, if there is one). client-node
  // reports an ordinary end as done(null) and a cut connection as done(Error "Premature close"),
  // which an informer treats as fatal (it stops).
  const h = await start();
  const kc = kubeConfig(h);
  const repos = new Repos(kc);
  const ns = 'graceful';
  const o = await repos.create(ns, 'g', '/tmp/g');
  const ended = new Promise<unknown>((resolve) => {
    void new k8s.Watch(kc).watch(reposPath(ns), { resourceVersion: rv(o) }, () => undefined, (err) => resolve(err ?? null));
  });
  await waitFor(() => startedRequests(h, reposPath(ns)).watches.length === 1, 'the watch to start');
  await sleep(100);
  await stop(h);
  const err = await ended;
  t.is(err, null, `the watch ended with ${String(err)}`);
});

// ---------------------------------------------------------------- 3. expired resourceVersion

/** Raw watch through client-node's Watch: every event until the server ends the stream. */
async function watchOnce(kc: k8s.KubeConfig, resourcePath: string, resourceVersion: string): Promise<{ type: string; object: any }[]> {
  const events: { type: string; object: any }[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`watch from ${resourceVersion} did not end; got ${JSON.stringify(events)}`)), 30_000);
    void new k8s.Watch(kc).watch(
      resourcePath,
      { resourceVersion },
      (type, object) => events.push({ type, object }),
      (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      },
    );
  });
  return events;
}

const EXPIRED = (requested: string) => ({
  type: 'ERROR',
  object: {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: (m: string) => m.startsWith(`too old resource version: ${requested} (`),
    reason: 'Expired',
    code: 410,
  },
});

function assertExpired(t: ExecutionContext, events: { type: string; object: any }[], requested: string): void {
  t.is(events.length, 1, JSON.stringify(events));
  const want = EXPIRED(requested);
  const { message, ...rest } = events[0].object;
  const { message: check, ...wantRest } = want.object;
  t.is(events[0].type, want.type);
  t.deepEqual(rest, wantRest);
  t.true(check(String(message)), String(message));
}

test('410: an informer held off past the watch window relists once and ends with the server state', async (t) => {
  const h = await start({ args: ['--watch-cache-size', '3'] });
  const kc = kubeConfig(h);
  const repos = new Repos(kc);
  const ns = 'expired';
  const coll = reposPath(ns);
  const o1 = await repos.create(ns, 'o1', '/tmp/o1');
  const o2 = await repos.create(ns, 'o2', '/tmp/o2');
  const o3 = await repos.create(ns, 'o3', '/tmp/o3');
  const r = recorder(kc, new Repos(kc), ns);
  await r.start();
  t.deepEqual(r.brief(), [
    ['add', 'o1', rv(o1)],
    ['add', 'o2', rv(o2)],
    ['add', 'o3', rv(o3)],
  ]);
  const old = r.resourceVersion;
  t.is(old, rv(o3));

  await r.pause(); // the informer keeps its resourceVersion
  const o4 = await repos.create(ns, 'o4', '/tmp/o4');
  const o1b = await repos.mergePatch(ns, 'o1', { metadata: { labels: { v: '2' } } });
  await repos.delete(ns, 'o2');
  const o5 = await repos.create(ns, 'o5', '/tmp/o5');
  const o6 = await repos.create(ns, 'o6', '/tmp/o6');

  // the server says so: one ERROR 410 Expired event, then it ends the stream
  const watchesBefore = startedRequests(h, coll).watches.length;
  assertExpired(t, await watchOnce(kc, coll, old), old);

  const eventsBefore = r.events.length;
  await r.start();
  await waitFor(() => r.lists.length >= 2, 'the relist');
  await waitFor(() => startedRequests(h, coll).watches.length >= watchesBefore + 3, 'the watch after the relist');
  await sleep(3000); // a storm would show here

  t.is(r.lists.length, 2, `lists: ${JSON.stringify(r.lists)}`);
  const watches = startedRequests(h, coll).watches.slice(watchesBefore);
  t.deepEqual(watches, [
    `${coll}?watch=true&resourceVersion=${old}`, // the probe above
    `${coll}?watch=true&resourceVersion=${old}`, // the informer: 410
    `${coll}?watch=true&resourceVersion=${r.lists[1]}`, // after its relist
  ]);
  t.deepEqual(startedRequests(h, coll).lists.length, 2);
  // relist: deletions first (last known state), then adds/updates in list order
  t.deepEqual(r.brief(eventsBefore), [
    ['delete', 'o2', rv(o2)],
    ['update', 'o1', rv(o1b)],
    ['add', 'o4', rv(o4)],
    ['add', 'o5', rv(o5)],
    ['add', 'o6', rv(o6)],
  ]);
  t.is(r.lists[1], rv(o6));
  await assertCacheMatchesServer(t, r, repos);

  // and the informer is live again
  const o7 = await repos.create(ns, 'o7', '/tmp/o7');
  await waitFor(() => r.events.some((e) => e.name === 'o7'), 'ADDED o7');
  t.deepEqual(r.brief(r.events.length - 1), [['add', 'o7', rv(o7)]]);
  await assertCacheMatchesServer(t, r, repos);
  await r.stop();
  await stop(h);
});

test('410 after a restart: the new server\'s window is past the informer\'s resourceVersion; one relist, correct state', async (t) => {
  const ns = 'expired-restart';
  const coll = reposPath(ns);
  const args = ['--watch-cache-size', '3'];
  const { port, dataDir, first, repos, r } = await restartFixture(ns, args);
  await repos.create(ns, 'z1', '/tmp/z1');
  const z2 = await repos.create(ns, 'z2', '/tmp/z2');
  await r.start();
  const old = r.resourceVersion;
  t.is(old, rv(z2));

  r.reconnect = false;
  await stop(first);
  await sleep(300);
  const second = await start({ dataDir, port, args });
  const z3 = await repos.create(ns, 'z3', '/tmp/z3');
  const z1b = await repos.mergePatch(ns, 'z1', { spec: { deployment: true } });
  await repos.delete(ns, 'z2');
  await repos.create(ns, 'z4', '/tmp/z4');
  const z4b = await repos.mergePatch(ns, 'z4', { metadata: { labels: { x: 'y' } } });
  assertExpired(t, await watchOnce(kubeConfig(second), coll, old), old);
  const eventsBefore = r.events.length;

  r.reconnect = true;
  await waitFor(() => r.lists.length >= 2, 'the relist');
  await sleep(3000);

  t.is(r.lists.length, 2, `lists: ${JSON.stringify(r.lists)}`);
  const started = startedRequests(second, coll);
  t.deepEqual(started.watches, [
    `${coll}?watch=true&resourceVersion=${old}`, // the probe above
    `${coll}?watch=true&resourceVersion=${old}`, // the informer: 410
    `${coll}?watch=true&resourceVersion=${r.lists[1]}`, // after its relist
  ]);
  t.is(started.lists.length, 1);
  t.deepEqual(r.brief(eventsBefore), [
    ['delete', 'z2', rv(z2)],
    ['update', 'z1', rv(z1b)],
    ['add', 'z3', rv(z3)],
    ['add', 'z4', rv(z4b)],
  ]);
  await assertCacheMatchesServer(t, r, repos);
  await r.stop();
  await stop(second);
});

test('an informer whose resourceVersion is ahead of a (wiped) server does not spin on it', async (t) => {
  // The informer knows the resourceVersion of its fifth write; the server comes back on the same
  // port with an empty data dir, so that is "too large". client-node 1.4 re-watches at once, with the same
  // resourceVersion, after every stream that ends, ERROR events included unless 410; so the server
  // must not answer such a watch with an immediate 200 + ERROR event (kube-apiserver blocks up to
  // 3 s before it does). An error status (the informer reports it and stops) or a delayed ERROR
  // event are fine. The informer here does not restart itself, so every watch request the server
  // sees is one the informer made on its own.
  const port = await freePort();
  const first = await start({ port });
  const kc = kubeConfig(first);
  const repos = new Repos(kc);
  const ns = 'ahead';
  let lastRV = '';
  for (let i = 0; i < 5; i++) lastRV = (await repos.create(ns, `w${i}`, `/tmp/w${i}`)).metadata!.resourceVersion!;
  const r = recorder(kc, new Repos(kc), ns);
  await r.start();
  // the last write's (the store also holds the namespaces: default, and "ahead" made by the first create)
  t.is(r.resourceVersion, lastRV);
  await stop(first);
  await waitFor(() => r.errors.length >= 1, 'the informer to report the lost server');
  const wiped = tempDir();
  cpSync(path.join(first.dataDir, 'pki'), path.join(wiped, 'pki'), { recursive: true }); // same PKI: the client still trusts it
  const fresh = await start({ port, dataDir: wiped });
  await r.start(); // what a controller does after an error, once
  await sleep(2000);
  const n = startedRequests(fresh, reposPath(ns)).watches.length;
  await r.stop();
  await stop(fresh);
  t.true(n >= 1 && n < 10, `${n} watch requests in 2 s; errors: ${r.errors.map((e) => String(e)).join(' / ')}`);
});
