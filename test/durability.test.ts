// kill -9 durability: every write the server acknowledged (a 2xx) is there after a SIGKILL and a
// restart on the same data dir, with exactly the acknowledged resourceVersion; deletions stay
// deleted; and the revision never goes back.
import test from 'ava';
import https from 'node:https';
import { adminTLS, startServer, type ServerHandle } from './helpers/server.ts';
import { API_VERSION, kubeConfig, Repos, reposPath, waitFor, type Repo } from './helpers/clientnode.ts';
import { ApiException } from '@kubernetes/client-node';

const running = new Set<ServerHandle>();

async function start(dataDir?: string): Promise<ServerHandle> {
  const h = await startServer({ dataDir });
  running.add(h);
  return h;
}

test.after.always(async () => {
  await Promise.all([...running].map((h) => h.stop()));
});

const rvOf = (o: Repo) => o.metadata.resourceVersion;

async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof ApiException) return e.code;
    throw e;
  }
}

test('kill -9 after a sequence of acknowledged writes: all of them survive, exactly', async (t) => {
  const first = await start();
  const repos = new Repos(kubeConfig(first));
  const ns = 'durable';
  const acked = new Map<string, { rv: string; uid: string }>(); // live objects: last acknowledged state
  const deleted = new Map<string, string>(); // name -> resourceVersion of the acknowledged delete
  const seen: number[] = [];
  const note = (o: Repo) => {
    seen.push(Number(rvOf(o)));
    return o;
  };

  for (let i = 0; i < 50; i++) {
    const o = note(await repos.create(ns, `r${String(i).padStart(2, '0')}`, `/tmp/durable/r${i}`));
    acked.set(o.metadata.name, { rv: rvOf(o), uid: o.metadata.uid });
  }
  for (let i = 0; i < 50; i += 3) {
    const name = `r${String(i).padStart(2, '0')}`;
    const o = note(await repos.mergePatch(ns, name, { metadata: { labels: { patched: String(i) } }, spec: { deployment: i % 2 === 0 } }));
    acked.set(name, { rv: rvOf(o), uid: o.metadata.uid });
  }
  for (let i = 1; i < 50; i += 7) {
    const name = `r${String(i).padStart(2, '0')}`;
    const cur = await repos.get(ns, name);
    const o = note(await repos.replace(ns, name, { ...cur, metadata: { ...cur.metadata, annotations: { replaced: 'yes' } } }));
    acked.set(name, { rv: rvOf(o), uid: o.metadata.uid });
  }
  for (let i = 0; i < 50; i += 5) {
    const name = `r${String(i).padStart(2, '0')}`;
    const o = note(await repos.delete(ns, name));
    deleted.set(name, rvOf(o));
    acked.delete(name);
  }
  // the last acknowledged write is a create
  const last = note(await repos.create(ns, 'zz-last', '/tmp/durable/last'));
  acked.set('zz-last', { rv: rvOf(last), uid: last.metadata.uid });
  await first.kill();

  t.is(seen.length, 50 + 17 + 7 + 10 + 1);
  t.deepEqual(seen, [...seen].sort((a, b) => a - b), 'resourceVersions increase');
  t.is(new Set(seen).size, seen.length);
  const max = Math.max(...seen);

  const second = await start(first.dataDir);
  const after = new Repos(kubeConfig(second));
  const list = await after.list(ns);
  t.deepEqual(
    new Map(list.items.map((o) => [o.metadata.name, { rv: rvOf(o), uid: o.metadata.uid }])),
    acked,
    'every acknowledged object, with its acknowledged resourceVersion and uid',
  );
  t.is(list.metadata.resourceVersion, String(max), 'the list resourceVersion is the last acknowledged write');
  const r03 = list.items.find((o) => o.metadata.name === 'r03')!;
  t.deepEqual(r03.metadata.labels, { patched: '3' });
  t.is(r03.spec.deployment, false);
  const r08 = list.items.find((o) => o.metadata.name === 'r08')!;
  t.deepEqual(r08.metadata.annotations, { replaced: 'yes' });
  for (const name of deleted.keys()) t.is(await statusOf(after.get(ns, name)), 404, `${name} stays deleted`);

  const next = await after.create(ns, 'after-restart', '/tmp/durable/after');
  t.is(Number(rvOf(next)), max + 1, 'the revision continues after the last acknowledged write');
  await second.stop();
});

// ---------------------------------------------------------------- in-flight burst

interface Result {
  name: string;
  kind: 'create' | 'patch';
  code?: number;
  rv?: string;
  error?: string;
}

function request(h: ServerHandle, agent: https.Agent, method: string, path: string, body: object, contentType = 'application/json'): Promise<{ code: number; body: any }> {
  const u = new URL(h.url);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: u.hostname, port: u.port, method, path, agent, headers: { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(data), Accept: 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          try {
            resolve({ code: res.statusCode!, body: JSON.parse(text) });
          } catch (e) {
            reject(e);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

test('kill -9 during a burst of concurrent writes: every acknowledged one survives', async (t) => {
  const first = await start();
  const ns = 'burst';
  const repos = new Repos(kubeConfig(first));
  const pre = new Map<string, string>();
  for (let i = 0; i < 20; i++) {
    const o = await repos.create(ns, `p${i}`, `/tmp/burst/p${i}`);
    pre.set(o.metadata.name, rvOf(o));
  }

  const tls = adminTLS(first);
  const agent = new https.Agent({ ...tls, keepAlive: true, maxSockets: 32 });
  const results: Result[] = [];
  let acks = 0;
  const track = (r: Result, p: Promise<{ code: number; body: any }>) =>
    p.then(
      (res) => {
        r.code = res.code;
        if (res.code >= 200 && res.code < 300) {
          r.rv = res.body.metadata.resourceVersion;
          acks++;
        }
      },
      (e: Error) => void (r.error = e.message),
    );
  // every object gets exactly one write in the burst, so an acknowledged write is its last one
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) {
    const r: Result = { name: `b${String(i).padStart(3, '0')}`, kind: 'create' };
    results.push(r);
    const body = { apiVersion: API_VERSION, kind: 'Repository', metadata: { name: r.name }, spec: { git: { url: `/tmp/burst/b${i}` } } };
    inflight.push(track(r, request(first, agent, 'POST', reposPath(ns), body)));
    if (i % 10 === 0) {
      const p: Result = { name: `p${i / 10}`, kind: 'patch' };
      results.push(p);
      inflight.push(track(p, request(first, agent, 'PATCH', `${reposPath(ns)}/${p.name}`, { metadata: { labels: { burst: 'yes' } } }, 'application/merge-patch+json')));
    }
  }
  await waitFor(() => acks >= 40, '40 acknowledged writes', 20_000);
  await first.kill();
  await Promise.all(inflight);
  agent.destroy();

  const ok = results.filter((r) => r.rv !== undefined);
  const failed = results.filter((r) => r.rv === undefined);
  t.log(`${ok.length} acknowledged, ${failed.length} cut off by the kill`);
  t.true(ok.length >= 40);
  t.true(failed.length > 0, 'some writes were in flight when the server died');
  t.deepEqual(
    results.filter((r) => r.code !== undefined && (r.code < 200 || r.code >= 300)),
    [],
    'no write was refused',
  );

  const second = await start(first.dataDir);
  const after = new Repos(kubeConfig(second));
  const list = await after.list(ns);
  const now = new Map(list.items.map((o) => [o.metadata.name, o]));
  const missing = ok.filter((r) => now.get(r.name)?.metadata.resourceVersion !== r.rv).map((r) => ({ ...r, now: now.get(r.name)?.metadata.resourceVersion ?? null }));
  t.deepEqual(missing, [], 'acknowledged writes that are gone or changed');
  for (const r of ok.filter((r) => r.kind === 'patch')) t.deepEqual(now.get(r.name)!.metadata.labels, { burst: 'yes' });
  // untouched pre-existing objects are as they were; unacknowledged patches either happened or not
  for (const [name, rv] of pre) {
    const r = results.find((x) => x.name === name);
    if (!r) t.is(now.get(name)?.metadata.resourceVersion, rv, name);
    else if (r.rv === undefined) t.true(now.has(name), name);
  }
  // nothing that was never written
  t.deepEqual(
    [...now.keys()].filter((n) => !pre.has(n) && !results.some((r) => r.name === n)),
    [],
  );
  const rvs = list.items.map((o) => Number(rvOf(o)));
  t.is(new Set(rvs).size, rvs.length, 'resourceVersions are unique');
  const max = Math.max(...rvs, ...ok.map((r) => Number(r.rv)));
  t.is(list.metadata.resourceVersion, String(max), 'the revision is that of the newest surviving write');
  const next = await after.create(ns, 'after-burst', '/tmp/burst/after');
  t.is(Number(rvOf(next)), max + 1, 'the revision continues after the newest surviving write');
  await second.stop();
});
