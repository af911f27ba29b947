// Repository shape (issue 10): create draft and publish in a repository with a short history and
// few tags against one with a long history and many tags, the package the same size in both, with
// the git CLI doing the same git work beside them. `npm run bench` runs it (BENCH_SHAPE=0 skips it).
//
// Two deployment repositories, one package each (the same files as every bench package):
//   shape-short: 1 package × 10 revisions  → 10 commits on main, 10 tags
//   shape-long:  1 package × 500 revisions → 500 commits on main, 500 tags
// A fresh server (own data directory) syncs both; then in each, sequentially, after a warm-up:
// create draft (`init` of a new package), and, after proposing all of them, publish. The git CLI
// reference does in a work-tree clone of the same repository what run.ts's reference does:
// `switch -c` + files + `add` + `commit` + `push` (create), and `checkout draft -- P` + `commit` +
// `push main` + `tag` + `push tag` + `push --delete` draft (publish, three pushes).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BenchClient } from './client.ts';
import { buildRepo, gitIn, revisionFiles, type RepoSpec } from './gitbuild.ts';
import { procCpuMs, startPkgServer, type BenchServer } from './server.ts';
import { now, summarize, timeLoop, type Summary } from './stats.ts';

export interface ShapeRow {
  repository: string;
  revisions: number;
  tags: number;
  create: { client: Summary; server: Summary; serverCpuMs: number };
  publish: { client: Summary; server: Summary; serverCpuMs: number };
  reference: { create: Summary; publish: Summary; createGitCpuMs: number; publishGitCpuMs: number };
}

export interface ShapeResult {
  git: 'http' | 'local';
  iterations: number;
  syncMs: number;
  rows: ShapeRow[];
  serverErrors: string[];
}

export interface ShapeOptions {
  workDir: string;
  git: 'http' | 'local';
  /** creates the empty bare repository `name` and resolves with its path */
  createBareRepo(name: string): Promise<string>;
  /** the Repository's spec.git.url for `name` (URL or local path) */
  repoURL(name: string): string;
  /** what the git CLI clones and pushes to (with credentials for HTTP) */
  cliURL(name: string): string;
  /** spec.git.credentials, when the remote needs it */
  credentials?: string;
  serverArgs: string[];
  nodeArgs: string[];
  iterations: number;
  warmup: number;
  timeoutMs: number;
  gitEnv: NodeJS.ProcessEnv;
  log(msg: string): void;
  onServer(s: BenchServer): void;
}

const PKG = '/apis/pkg.pkgserver.dev/v1alpha1';
const CONFIG = '/apis/config.pkg.pkgserver.dev/v1alpha1';
const MERGE_PATCH = 'application/merge-patch+json';
const NS = 'shape';

export async function shapeBench(o: ShapeOptions): Promise<ShapeResult> {
  const shapes: RepoSpec[] = [
    { name: 'shape-short', namespace: NS, deployment: true, packages: [{ name: 'pkg-00000', path: 'site-0/apps/pkg-00000' }], revisions: 10 },
    { name: 'shape-long', namespace: NS, deployment: true, packages: [{ name: 'pkg-00000', path: 'site-0/apps/pkg-00000' }], revisions: 500 },
  ];
  const base = Math.floor(Date.now() / 1000) - 10_000;
  for (const s of shapes) await buildRepo(await o.createBareRepo(s.name), s, base);

  const dataDir = path.join(o.workDir, 'shape-server');
  await mkdir(dataDir, { recursive: true });
  const srv = await startPkgServer({ dataDir, args: o.serverArgs, nodeArgs: o.nodeArgs });
  o.onServer(srv);
  const client = new BenchClient(srv.url, srv.tls());
  try {
    const t0 = now();
    for (const s of shapes)
      await client.ok('POST', `${CONFIG}/namespaces/${NS}/repositories`, {
        body: {
          apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
          kind: 'Repository',
          metadata: { name: s.name, namespace: NS },
          spec: { type: 'git', deployment: true, git: { url: o.repoURL(s.name), ref: 'main', directory: '', ...(o.credentials ? { credentials: o.credentials } : {}) }, sync: { period: '1h' } },
        },
      });
    const deadline = Date.now() + o.timeoutMs;
    for (;;) {
      const items = (await client.ok('GET', `${CONFIG}/namespaces/${NS}/repositories`)).json<{ items: any[] }>().items;
      const ready = items.filter((it) => {
        const c = (it.status?.conditions ?? []).find((x: any) => x.type === 'Ready');
        if (c?.status === 'False') throw new Error(`shape: Repository ${it.metadata.name} is not Ready: ${c.reason}: ${c.message}`);
        return c?.status === 'True' && it.status?.revisionCount === shapes.find((s) => s.name === it.metadata.name)!.revisions;
      });
      if (ready.length === shapes.length) break;
      if (Date.now() > deadline) throw new Error(`shape: sync not done after ${o.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const syncMs = now() - t0;
    o.log(`shape: both repositories synced in ${(syncMs / 1000).toFixed(1)} s`);

    const rows: ShapeRow[] = [];
    const n = o.iterations;
    const total = n + o.warmup;
    for (const s of shapes) {
      const name = (i: number) => `shape-${String(i).padStart(4, '0')}`;
      const prName = (i: number) => `bench.${s.name}..${name(i)}.ws1`;
      let sent = srv.requests.length;
      /** n measured requests after the warm-up: client time, server time (request log), server CPU per request */
      const loop = async (method: string, fn: (i: number) => Promise<unknown>) => {
        for (let i = 0; i < o.warmup; i++) await fn(i);
        await srv.waitForRequests(sent);
        const from = sent;
        const cpu0 = srv.cpuMs();
        const samples = await timeLoop(n, 0, (i) => fn(o.warmup + i));
        const serverCpuMs = (srv.cpuMs() - cpu0) / n;
        await srv.waitForRequests(sent);
        const st = srv.requests.slice(from, sent).filter((r) => r.method === method).map((r) => r.ms);
        return { client: summarize(samples), server: summarize(st), serverCpuMs };
      };
      const req = (method: string, p: string, opts: { body?: unknown; contentType?: string } = {}) => {
        sent++;
        return client.ok(method, p, opts);
      };
      const create = await loop('POST', (i) =>
        req('POST', `${PKG}/namespaces/${NS}/packagerevisions`, {
          body: {
            apiVersion: 'pkg.pkgserver.dev/v1alpha1',
            kind: 'PackageRevision',
            metadata: { name: prName(i), namespace: NS },
            spec: { packageRevID: { target: 'bench', repository: s.name, realm: '', package: name(i), workspace: 'ws1' }, lifecycle: 'draft', tasks: [{ type: 'init' }] },
          },
        }),
      );
      for (let i = 0; i < total; i++) await req('PATCH', `${PKG}/namespaces/${NS}/packagerevisions/${prName(i)}`, { body: { spec: { lifecycle: 'proposed' } }, contentType: MERGE_PATCH });
      const publish = await loop('PATCH', async (i) => {
        const r = (await req('PATCH', `${PKG}/namespaces/${NS}/packagerevisions/${prName(i)}`, { body: { spec: { lifecycle: 'published' } }, contentType: MERGE_PATCH })).json<any>();
        if (r.spec.lifecycle !== 'published' || !r.status?.git?.tag) throw new Error(`shape: publish of ${prName(i)}: ${JSON.stringify(r.spec)}`);
      });

      // the git CLI, same repository, same work
      const work = path.join(o.workDir, `shape-ref-${s.name}`);
      const git = (...args: string[]) => gitIn(work, args, undefined, o.gitEnv);
      await gitIn(o.workDir, ['clone', '-q', o.cliURL(s.name), work], undefined, o.gitEnv);
      const pkg = (i: number) => ({ name: `r-${String(i).padStart(4, '0')}`, path: `ref/r-${String(i).padStart(4, '0')}` });
      const branch = (i: number) => `drafts/${pkg(i).path}/ws1`;
      const refLoop = async (op: (i: number) => Promise<unknown>) => {
        for (let i = 0; i < o.warmup; i++) await op(i);
        const c0 = procCpuMs('self').children;
        const samples = await timeLoop(n, 0, (i) => op(o.warmup + i));
        return { summary: summarize(samples), gitCpuMs: (procCpuMs('self').children - c0) / n };
      };
      const refCreate = await refLoop(async (i) => {
        const p = pkg(i);
        await git('switch', '-q', '-c', branch(i), 'main');
        await mkdir(path.join(work, p.path), { recursive: true });
        for (const [file, content] of Object.entries(revisionFiles(p, 1, true))) await writeFile(path.join(work, p.path, file), content);
        await git('add', '-A', p.path);
        await git('commit', '-q', '-m', `Create draft ${p.name}`);
        await git('push', '-q', 'origin', branch(i));
      });
      await git('switch', '-q', 'main');
      const refPublish = await refLoop(async (i) => {
        const p = pkg(i);
        await git('switch', '-q', 'main');
        await git('checkout', branch(i), '--', p.path);
        await git('commit', '-q', '-m', `Publish ${p.name} v1`);
        await git('tag', `${p.path}/v1`);
        await git('push', '-q', 'origin', 'main');
        await git('push', '-q', 'origin', `refs/tags/${p.path}/v1`);
        await git('push', '-q', 'origin', '--delete', branch(i));
      });
      rows.push({
        repository: s.name,
        revisions: s.revisions,
        tags: s.revisions,
        create,
        publish,
        reference: { create: refCreate.summary, publish: refPublish.summary, createGitCpuMs: refCreate.gitCpuMs, publishGitCpuMs: refPublish.gitCpuMs },
      });
      o.log(`shape ${s.name} (${s.revisions} revisions and tags): create p50 ${create.client.p50.toFixed(0)} ms (git ${refCreate.summary.p50.toFixed(0)} ms), publish p50 ${publish.client.p50.toFixed(0)} ms (git ${refPublish.summary.p50.toFixed(0)} ms)`);
    }
    return { git: o.git, iterations: n, syncMs, rows, serverErrors: srv.problems.filter((l) => l.includes('"level":50')).slice(0, 10) };
  } finally {
    client.close();
    await srv.stop();
  }
}

