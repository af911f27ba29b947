// A dead remote beside healthy repositories (issue 8: its writes answer 503 within the git
// timeout, and every other repository's create and publish latency stays within 20 % of a run
// without it). A TCP server here accepts every connection and never answers; a Repository points
// at it. Create-draft and publish latency of a healthy repository are measured without it, with it
// (registered, Ready=False Unreachable, its sync retrying, and one client writing into it all
// along, a second after each answer, each write refused with 503), and without it again (after it
// is deleted); the two runs without it are pooled, so that the repository's growth over the runs
// does not favour either side.
import net from 'node:net';
import type { BenchClient } from './client.ts';
import { now, summarize, type Summary } from './stats.ts';

const PKG = '/apis/pkg.pkgserver.dev/v1alpha1';
const CFG = '/apis/config.pkg.pkgserver.dev/v1alpha1';
const MERGE_PATCH = 'application/merge-patch+json';

export interface DeadRemoteResult {
  /** measured create + publish rounds per side */
  iterations: number;
  without: { create: Summary; publish: Summary };
  with: { create: Summary; publish: Summary };
  /** writes into the dead repository during the run with it: all answered 503 */
  refused: number;
  /** their time to the 503, and the status codes seen */
  refusedLatency: Summary;
  refusedCodes: Record<string, number>;
  /** from registering the dead Repository to its Ready=False Unreachable */
  unreachableAfterMs: number;
}

export async function deadRemote(opts: {
  client: BenchClient;
  /** the healthy deployment repository measured, and its namespace (the dead one goes there too) */
  namespace: string;
  repository: string;
  iterations: number;
  log: (msg: string) => void;
  timeoutMs: number;
}): Promise<DeadRemoteResult> {
  const { client, namespace: ns, repository } = opts;
  const prPath = (name?: string) => `${PKG}/namespaces/${ns}/packagerevisions${name ? `/${name}` : ''}`;
  const draft = (repo: string, pkg: string) => ({
    apiVersion: 'pkg.pkgserver.dev/v1alpha1',
    kind: 'PackageRevision',
    metadata: { name: `bench.${repo}..${pkg}.ws1`, namespace: ns },
    spec: { packageRevID: { target: 'bench', repository: repo, realm: '', package: pkg, workspace: 'ws1' }, lifecycle: 'draft', tasks: [{ type: 'init' }] },
  });

  /** create (timed), propose, publish (timed) of `n` new packages after `warmup` unmeasured ones */
  const rounds = async (label: string, n: number, warmup: number) => {
    const create: number[] = [];
    const publish: number[] = [];
    for (let i = 0; i < warmup + n; i++) {
      const pkg = `dead-remote-${label}-${String(i).padStart(4, '0')}`;
      const name = `bench.${repository}..${pkg}.ws1`;
      let t = now();
      await client.ok('POST', prPath(), { body: draft(repository, pkg) });
      if (i >= warmup) create.push(now() - t);
      await client.ok('PATCH', prPath(name), { body: { spec: { lifecycle: 'proposed' } }, contentType: MERGE_PATCH });
      t = now();
      await client.ok('PATCH', prPath(name), { body: { spec: { lifecycle: 'published' } }, contentType: MERGE_PATCH });
      if (i >= warmup) publish.push(now() - t);
    }
    return { create, publish };
  };

  const half = Math.max(1, Math.floor(opts.iterations / 2));
  const before = await rounds('a', half, 2);

  // the dead remote
  const sockets = new Set<net.Socket>();
  const blackHole = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(blackHole.address() as net.AddressInfo).port}/x.git`;
  const dead = 'dead-remote';
  const t0 = now();
  await client.ok('POST', `${CFG}/namespaces/${ns}/repositories`, {
    body: { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name: dead, namespace: ns }, spec: { type: 'git', deployment: true, git: { url, ref: 'main', directory: '' }, sync: { period: '10s' } } },
  });
  for (;;) {
    const ready = (await client.ok('GET', `${CFG}/namespaces/${ns}/repositories/${dead}`)).json<any>().status?.conditions?.find((c: any) => c.type === 'Ready');
    if (ready?.status === 'False') {
      if (ready.reason !== 'Unreachable') throw new Error(`the dead remote's Repository is Ready=False with reason ${ready.reason}, expected Unreachable: ${ready.message}`);
      break;
    }
    if (now() - t0 > 3 * opts.timeoutMs) throw new Error(`the dead remote's Repository is not Ready=False after ${Math.round(now() - t0)} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const unreachableAfterMs = now() - t0;
  opts.log(`dead remote: Ready=False Unreachable ${Math.round(unreachableAfterMs)} ms after it was registered`);

  // one client writing into the dead repository all along, a second after each answer
  let writing = true;
  const refusedLatency: number[] = [];
  const refusedCodes: Record<string, number> = {};
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      const t = now();
      const r = await client.request('POST', prPath(), { body: draft(dead, `w${i}`) });
      refusedLatency.push(now() - t);
      refusedCodes[r.status] = (refusedCodes[r.status] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  const during = await rounds('b', opts.iterations, 2);
  writing = false;
  await writer;
  await client.ok('DELETE', `${CFG}/namespaces/${ns}/repositories/${dead}`);
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => blackHole.close(resolve));

  const after = await rounds('c', opts.iterations - half, 2);
  return {
    iterations: opts.iterations,
    without: { create: summarize([...before.create, ...after.create]), publish: summarize([...before.publish, ...after.publish]) },
    with: { create: summarize(during.create), publish: summarize(during.publish) },
    refused: refusedLatency.length,
    refusedLatency: summarize(refusedLatency),
    refusedCodes,
    unreachableAfterMs,
  };
}
