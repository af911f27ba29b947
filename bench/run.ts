// `npm run bench`: the first pkgserver benchmark (SPEC 9), in one run on this machine.
//
// 1. A real smart-HTTP git server (`git http-backend`, test/helpers/gitserver.ts) on loopback,
//    with N packages × M published revisions (commit + lightweight tag `P/vN` each) written by
//    `git fast-import`, spread over R repositories (deployment and catalog alternately).
// 2. The real server (`bin/pkgserver.js serve`, child process, own data directory, controllers
//    on); the Repositories are registered and the initial sync is timed until every revision is
//    listed.
// 3. Over keep-alive HTTPS with the admin client certificate: list (Table and JSON, all
//    namespaces), every page of 500 as kubectl walks them, one page, get, create-draft (init),
//    propose, publish, and a burst of concurrent publishes across repositories.
//    A dead remote (a Repository whose remote accepts connections and never answers) beside the
//    others: create and publish latency of a healthy repository without it and with it
//    (bench/deadremote.ts).
// 4. The same git work with the native git CLI against the same git server, as the reference.
// 5. A restart of the server on its persisted store (time to serving and to the first full list).
// 6. Discovery (bench/discovery.ts): a catalog of 1,000 revisions with 5 YAML documents each,
//    discovered by a fresh server after a cold start and again after a restart on its data
//    directory, beside the git CLI reading and the yaml library parsing the same files.
// 7. BENCH_GIT=both (the default): the main scenario (1–5) again in a child run of this script
//    with the Repositories on the bare repositories' paths (`--local-repository-root`, the
//    standalone default) instead of the smart-HTTP server, its git CLI reference on the same paths;
//    a table beside the HTTP figures. BENCH_GIT=http or local runs one of them alone.
// 8. Repository shape (bench/shape.ts): create draft and publish p50 in a repository of 10
//    revisions and in one of 500 revisions and 500 tags (one package, same files), the git CLI
//    beside them (BENCH_SHAPE=0 skips it, BENCH_SHAPE_ITER, default 15).
// 9. A table on stdout and bench/results/latest.json.
//
// BENCH_SCALE=1 (or `npm run bench -- --scale`) runs instead the scaling mode: the main scenario at
// BENCH_SCALE_SIZES revisions (default 1000,10000,50000; 10 revisions per package, 500 revisions
// per repository, at least 4 repositories), each a child run of this script bounded by
// BENCH_SCALE_TIMEOUT seconds (default 240 + 0.02 s per revision) that reports what it reached
// when it runs out; without the watch fan-out, the dead remote, discovery and shape, with fewer
// iterations (BENCH_LIST_ITER 10, BENCH_GET_ITER 100, BENCH_WRITE_ITER 15, BENCH_REF_ITER 3 unless
// set). A table on stdout and bench/results/scale.json (latest.json is left alone).
//
// Environment: BENCH_N (packages, default 100), BENCH_M (revisions per package, default 10),
// BENCH_REPOS (default: 500 revisions per repository, 4 … 20), BENCH_NAMESPACES (2),
// BENCH_LIST_ITER (30), BENCH_GET_ITER (300), BENCH_WRITE_ITER (30), BENCH_BURST (20),
// BENCH_WATCHERS (200) and BENCH_FANOUT_WRITES (30) for the watch fan-out,
// BENCH_DEAD_ITER (20) for the dead remote, BENCH_GIT_TIMEOUT (the server's --git-timeout, 5 s),
// BENCH_REF_ITER (10), BENCH_SYNC_PERIOD (1h), BENCH_TIMEOUT (seconds, 1200),
// BENCH_KEEP=1 (keep the temporary directory), BENCH_PROFILE=1 (a V8 CPU profile of the server,
// written to bench/results/server-cpuprofile.json when it stops), BENCH_SERVER_NODE_ARGS (extra
// node flags for the server process), BENCH_DISCOVERY_PACKAGES (200) and BENCH_DISCOVERY_REVISIONS
// (5) for discovery, BENCH_DISCOVERY=0 (skip it), BENCH_ONLY=discovery (run that scenario alone),
// BENCH_HEAPSNAPSHOT=1 (a V8 heap snapshot of the server once the controllers settled after the
// sync, in the repository's root; needs BENCH_SERVER_NODE_ARGS=--heapsnapshot-signal=SIGUSR2).
import { execFile } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startGitServer, type GitServer } from '../test/helpers/gitserver.ts';
import { ETCD_BINARY, startEtcd } from '../test/helpers/etcd.ts';
import { BenchClient } from './client.ts';
import { buildRepo, gitIn, revisionFiles, type RepoSpec } from './gitbuild.ts';
import { procCpuMs, ROOT, startPkgServer, type BenchServer } from './server.ts';
import { fmtMs, now, round, summarize, timeLoop, type Summary } from './stats.ts';
import { watchFanout } from './watchfanout.ts';
import { deadRemote, type DeadRemoteResult } from './deadremote.ts';
import { discoveryBench, type DiscoveryResult } from './discovery.ts';
import { shapeBench, type ShapeResult } from './shape.ts';

// ---------------------------------------------------------------- configuration

function envInt(name: string, dflt: number, min = 1): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`${name} must be an integer ≥ ${min}, got "${v}"`);
  return Number(v);
}

/** BENCH_SCALE=1 (or `-- --scale`): the scaling mode, the main figures at several sizes (each a child run of this script) */
const SCALE = process.env.BENCH_SCALE === '1' || process.argv.includes('--scale');
/** set by the parent for its child runs (the scaling sizes, the local-repository mode): write results to BENCH_OUT, skip the side scenarios */
const CHILD = process.env.BENCH_CHILD === '1';
const CHILD_OUT = process.env.BENCH_OUT ?? '';
/** BENCH_GIT: where the Repositories point: `http` (the smart-HTTP git server), `local` (the bare repositories' paths, --local-repository-root), `both` (http, then local in a second server run) */
const GIT_MODE = process.env.BENCH_GIT || 'both';
if (!['http', 'local', 'both'].includes(GIT_MODE)) throw new Error(`BENCH_GIT must be http, local or both, got "${GIT_MODE}"`);
const LOCAL = GIT_MODE === 'local';
const RUN_SHAPE = !CHILD && !SCALE && process.env.BENCH_SHAPE !== '0';
/** BENCH_STORE=etcd: the server on a real etcd (started here) instead of SQLite; the default run adds such a child run (BENCH_ETCD=0 skips it) */
const STORE = process.env.BENCH_STORE || 'sqlite';
if (!['sqlite', 'etcd'].includes(STORE)) throw new Error(`BENCH_STORE must be sqlite or etcd, got "${STORE}"`);
const RUN_ETCD = !CHILD && !SCALE && process.env.BENCH_ETCD !== '0' && existsSync(ETCD_BINARY);
const SHAPE_ITER = envInt('BENCH_SHAPE_ITER', 15);
/** BENCH_SCALE_SIZES (revisions, comma-separated; default 1000,10000,50000) and the per-size time bound BENCH_SCALE_TIMEOUT (seconds; default 240 + 0.02 s per revision) */
const SCALE_SIZES = (process.env.BENCH_SCALE_SIZES || '1000,10000,50000').split(',').map((x) => {
  if (!/^\d+$/.test(x.trim()) || Number(x) < 10 || Number(x) % 10 !== 0) throw new Error(`BENCH_SCALE_SIZES: "${x}" is not a multiple of 10`);
  return Number(x);
});

const N = envInt('BENCH_N', 100);
const M = envInt('BENCH_M', 10);
const TOTAL = N * M;
/** the scaling mode's child runs may go beyond the usual bound */
const MAX_TOTAL = CHILD && process.env.BENCH_SCALE_CHILD === '1' ? 100_000 : 10_000;
if (TOTAL > MAX_TOTAL) throw new Error(`BENCH_N × BENCH_M = ${TOTAL}; the benchmark goes up to ${MAX_TOTAL} revisions (BENCH_SCALE=1 goes further)`);
const R = envInt('BENCH_REPOS', Math.min(20, N, Math.max(4, Math.ceil(TOTAL / 500))));
if (R > N) throw new Error(`BENCH_REPOS (${R}) may not exceed BENCH_N (${N}): every repository needs a package`);
const NAMESPACES = Math.min(R, envInt('BENCH_NAMESPACES', 2));
const LIST_ITER = envInt('BENCH_LIST_ITER', 30);
const GET_ITER = envInt('BENCH_GET_ITER', 300);
const WRITE_ITER = envInt('BENCH_WRITE_ITER', 30);
const BURST = envInt('BENCH_BURST', 20);
const WATCHERS = envInt('BENCH_WATCHERS', 200);
const FANOUT_WRITES = envInt('BENCH_FANOUT_WRITES', 30);
const DEAD_ITER = envInt('BENCH_DEAD_ITER', 20, 2);
const GIT_TIMEOUT_S = envInt('BENCH_GIT_TIMEOUT', 5);
const REF_ITER = envInt('BENCH_REF_ITER', 10);
const SYNC_PERIOD = process.env.BENCH_SYNC_PERIOD || '1h';
const scaleBudgetS = (revisions: number) => envInt('BENCH_SCALE_TIMEOUT', Math.round(240 + 0.02 * revisions));
const TIMEOUT_S = envInt('BENCH_TIMEOUT', SCALE ? SCALE_SIZES.reduce((a, n) => a + scaleBudgetS(n) + 60, 60) : 1200);
const KEEP = process.env.BENCH_KEEP === '1';
/** BENCH_ONLY=discovery: that scenario alone (its own git data and server), not the rest */
const ONLY = process.env.BENCH_ONLY ?? '';
if (ONLY !== '' && ONLY !== 'discovery') throw new Error(`BENCH_ONLY must be "discovery" (or unset), got "${ONLY}"`);
const RUN_DISCOVERY = ONLY === 'discovery' || process.env.BENCH_DISCOVERY !== '0';
if (ONLY === 'discovery' && process.env.BENCH_DISCOVERY === '0') throw new Error('BENCH_ONLY=discovery and BENCH_DISCOVERY=0 leave nothing to run');
const DISCOVERY_PACKAGES = envInt('BENCH_DISCOVERY_PACKAGES', 200);
const DISCOVERY_REVISIONS = envInt('BENCH_DISCOVERY_REVISIONS', 5);
if (DISCOVERY_PACKAGES * DISCOVERY_REVISIONS > MAX_TOTAL) throw new Error(`BENCH_DISCOVERY_PACKAGES × BENCH_DISCOVERY_REVISIONS = ${DISCOVERY_PACKAGES * DISCOVERY_REVISIONS}; the benchmark goes up to ${MAX_TOTAL} revisions`);
const WRITE_WARMUP = 3;

const PKG_GROUP_PATH = '/apis/pkg.pkgserver.dev/v1alpha1';
const CONFIG_GROUP_PATH = '/apis/config.pkg.pkgserver.dev/v1alpha1';
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';
const MERGE_PATCH = 'application/merge-patch+json';
const GIT_USER = 'bench';
const GIT_PASSWORD = 'bench-secret';

/** SPEC 9 budgets (server time, p50, at 10,000 revisions in 20 repositories). */
const BUDGETS: Record<string, number> = {
  'list all, Table': 100,
  'list all, JSON': 150,
  'list one page (limit=500)': 15,
  get: 2,
  'create draft (init)': 150,
  publish: 250,
};

// ---------------------------------------------------------------- results

interface OpResult {
  op: string;
  /** client-observed time: request sent → last byte of the response */
  client: Summary;
  /** the server's own time per request, from its request log */
  server?: Summary;
  budgetMs?: number;
  /** response size (bytes) of a list */
  bytes?: number;
  /** CPU time (user + system) of the server process per operation, ms */
  serverCpuMs?: number;
  /** CPU time of the git processes (git http-backend and what it runs) per operation, ms */
  gitCpuMs?: number;
  /** server VmRSS / VmHWM (MiB) right after the measured loop */
  memoryAfter?: { rssMiB: number; hwmMiB: number };
  /** the git CLI doing the same git work: wall time, and CPU of every git process (CLI and server side) per operation */
  reference?: { what: string; summary: Summary; gitCpuMs?: number };
  note?: string;
}

const results: OpResult[] = [];
/** monotonic-clock bounds (µs, the clock of V8 CPU profiles) of each measured phase */
const phaseMarks: { op: string; startUs: number; endUs: number }[] = [];
const extra: Record<string, unknown> = {};
/** a revision the publish burst made, patched by the watch fan-out phase */
let burst0 = { namespace: '', name: '' };

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------- cleanup

const cleanups: (() => Promise<unknown>)[] = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const f of cleanups.reverse()) {
      try {
        await f();
      } catch (e) {
        log(`cleanup step failed: ${(e as Error).message}`);
      }
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    void cleanup().then(() => process.exit(130));
  });

// ---------------------------------------------------------------- git CLI helpers

const GIT_REF_ENV: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: os.tmpdir(),
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Reference User',
  GIT_AUTHOR_EMAIL: 'ref@example.com',
  GIT_COMMITTER_NAME: 'Reference User',
  GIT_COMMITTER_EMAIL: 'ref@example.com',
  GIT_TERMINAL_PROMPT: '0',
};

const gitRef = (cwd: string, ...args: string[]) => gitIn(cwd, args, undefined, GIT_REF_ENV);

function execOut(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => execFile(cmd, args, (err, stdout) => resolve(err ? '' : stdout.trim())));
}

// ---------------------------------------------------------------- the benchmark

interface RepoPlan extends RepoSpec {
  /** PackageRevision names of every published revision */
  revisionNames: string[];
}

function plan(): RepoPlan[] {
  const repos: RepoPlan[] = [];
  for (let r = 0; r < R; r++) {
    const deployment = r % 2 === 0;
    const name = `${deployment ? 'deploy' : 'catalog'}-${String(r).padStart(2, '0')}`;
    repos.push({ name, namespace: `bench-${r % NAMESPACES}`, deployment, packages: [], revisions: M, revisionNames: [] });
  }
  for (let j = 0; j < N; j++) {
    const repo = repos[j % R];
    const pkg = `pkg-${String(j).padStart(5, '0')}`;
    const target = `site-${Math.floor(j / R) % 5}`;
    repo.packages.push({ name: pkg, path: repo.deployment ? `${target}/apps/${pkg}` : `apps/${pkg}` });
    for (let v = 1; v <= M; v++) repo.revisionNames.push(`${repo.deployment ? target : 'catalog'}.${repo.name}.apps.${pkg}.v${v}`);
  }
  return repos;
}

/** Server time per measured request: the request log lines of [from, to). */
function serverTimes(srv: BenchServer, from: number, to: number, method: string): number[] {
  return srv.requests
    .slice(from, to)
    .filter((r) => r.method === method)
    .map((r) => r.ms);
}

async function main(): Promise<void> {
  const started = now();
  // the sources the server runs: the commit, and whether src/ differed from it when the run started
  extra.commit = `${await execOut('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'])}${(await execOut('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'bin'])) ? ' (src modified)' : ''}`;
  const loadAtStart = os.loadavg();
  extra.loadAverageAtStart = loadAtStart.map((x) => round(x));
  if (loadAtStart[0] > 0.5) log(`warning: the machine is busy (load average ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}); the figures will show it`);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'pkgserver-bench-'));
  cleanups.push(async () => {
    if (KEEP) log(`kept ${tmp}`);
    else await rm(tmp, { recursive: true, force: true });
  });
  if (SCALE) return scaleMain(started, tmp);
  log(ONLY ? `only the ${ONLY} scenario; work in ${tmp}` : `N=${N} packages × M=${M} revisions = ${TOTAL} revisions in ${R} repositories, ${NAMESPACES} namespaces; work in ${tmp}`);

  const gitServer: GitServer = await startGitServer({ root: path.join(tmp, 'git'), user: GIT_USER, password: GIT_PASSWORD });
  cleanups.push(() => gitServer.stop());
  const credentialsFile = path.join(tmp, 'credentials.yaml');
  await writeFile(credentialsFile, `bench: {username: ${GIT_USER}, password: ${GIT_PASSWORD}}\n`, { mode: 0o600 });
  // BENCH_PROFILE=1: V8 writes one profile per thread (tsx's loader has its own); keep the main thread's (the largest)
  const profileDir = path.join(tmp, 'profiles');
  const nodeArgs = [...(process.env.BENCH_PROFILE === '1' ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), ...(process.env.BENCH_SERVER_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [])];
  if (process.env.BENCH_PROFILE === '1')
    cleanups.push(async () => {
      const files = await Promise.all((await readdir(profileDir)).map(async (f) => ({ f, size: (await stat(path.join(profileDir, f))).size })));
      const main = files.sort((a, b) => b.size - a.size)[0];
      if (main) {
        await copyFile(path.join(profileDir, main.f), path.join(ROOT, 'bench/results/server-cpuprofile.json'));
        log('server CPU profile: bench/results/server-cpuprofile.json');
      }
    });
  const serverGitArgs = ['--credentials-file', credentialsFile, '--git-timeout', String(GIT_TIMEOUT_S), ...(LOCAL ? ['--local-repository-root', gitServer.root] : [])];
  if (STORE === 'etcd') {
    const etcd = await startEtcd();
    cleanups.push(() => etcd.stop());
    serverGitArgs.push('--storage-backend=etcd3', `--etcd-servers=${etcd.endpoint}`);
    log(`store: etcd ${etcd.endpoint} (${ETCD_BINARY})`);
  }
  const bareOf = (name: string) => path.join(gitServer.root, `${name}.git`);
  const authURL = (name: string) => gitServer.url(name).replace('http://', `http://${GIT_USER}:${GIT_PASSWORD}@`);
  if (!ONLY) {
    extra.gitMode = LOCAL ? 'local' : 'http';
    await serverBench({ tmp, gitServer, serverArgs: serverGitArgs, nodeArgs });
    // BENCH_GIT=both: the same scenario again with the Repositories on the bare repositories' paths, in a child run
    if (GIT_MODE === 'both' && !CHILD) {
      const r = await childRun('local', { BENCH_GIT: 'local', BENCH_DISCOVERY: '0', BENCH_SHAPE: '0', BENCH_N: String(N), BENCH_M: String(M), BENCH_REPOS: String(R) }, TIMEOUT_S, path.join(tmp, 'local.json'));
      extra.localMode = r;
    }
    // the store on etcd beside SQLite: the local run's scenario again, with the watch fan-out, on a real etcd
    if (RUN_ETCD && GIT_MODE === 'both') {
      const r = await childRun('etcd', { BENCH_GIT: 'local', BENCH_STORE: 'etcd', BENCH_DISCOVERY: '0', BENCH_SHAPE: '0', BENCH_N: String(N), BENCH_M: String(M), BENCH_REPOS: String(R) }, TIMEOUT_S, path.join(tmp, 'etcd.json'));
      extra.etcdStore = r;
    }
  }

  // ------------------------------------------------------------ 7a. repository shape: short against long history (bench/shape.ts)
  if (RUN_SHAPE && !ONLY) {
    extra.shape = await shapeBench({
      workDir: tmp,
      git: LOCAL ? 'local' : 'http',
      createBareRepo: (name) => gitServer.createBareRepo(name),
      repoURL: (name) => (LOCAL ? bareOf(name) : gitServer.url(name)),
      cliURL: (name) => (LOCAL ? bareOf(name) : authURL(name)),
      credentials: LOCAL ? undefined : 'bench',
      serverArgs: serverGitArgs,
      nodeArgs,
      iterations: SHAPE_ITER,
      warmup: WRITE_WARMUP,
      timeoutMs: 300_000,
      gitEnv: GIT_REF_ENV,
      log,
      onServer: (s) => cleanups.push(() => s.stop()),
    });
  }

  // ------------------------------------------------------------ 7b. discovery of a 1,000-revision catalog (bench/discovery.ts)
  if (RUN_DISCOVERY) {
    const d = await discoveryBench({
      gitServer,
      workDir: tmp,
      packages: DISCOVERY_PACKAGES,
      revisions: DISCOVERY_REVISIONS,
      serverArgs: ['--git-timeout', String(GIT_TIMEOUT_S)],
      nodeArgs,
      timeoutMs: Math.min(600_000, TIMEOUT_S * 1000),
      log,
      mark: (op, startMs, endMs) => phaseMarks.push({ op, startUs: Math.round(startMs * 1000), endUs: Math.round(endMs * 1000) }),
      onServer: (s) => cleanups.push(() => s.stop()),
    });
    extra.discovery = d;
    if (KEEP) log(`discovery server log: ${d.logFile}`);
  }

  const totalMs = now() - started;
  extra.loadAverageAtEnd = os.loadavg().map((x) => round(x));
  extra.totalMs = round(totalMs, 0);

  // ------------------------------------------------------------ 8. report
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    git: await execOut('git', ['--version']),
    commit: extra.commit,
    loadAverageAtStart: extra.loadAverageAtStart,
    loadAverageBeforeReport: extra.loadAverageAtEnd,
  };
  const config = {
    ...(ONLY ? { only: ONLY } : { git: GIT_MODE, packages: N, revisionsPerPackage: M, revisions: TOTAL, repositories: R, namespaces: NAMESPACES, syncPeriod: SYNC_PERIOD, listIterations: LIST_ITER, getIterations: GET_ITER, writeIterations: WRITE_ITER, burst: BURST }),
    ...(RUN_DISCOVERY ? { discovery: { packages: DISCOVERY_PACKAGES, revisionsPerPackage: DISCOVERY_REVISIONS } } : {}),
    ...(process.env.BENCH_SERVER_NODE_ARGS ? { serverNodeArgs: process.env.BENCH_SERVER_NODE_ARGS } : {}),
  };
  printReport(machine, config);
  const out = {
    date: new Date().toISOString(),
    machine,
    config,
    ...(ONLY ? {} : serverBenchResults()),
    localMode: extra.localMode,
    etcdStore: extra.etcdStore,
    shape: extra.shape,
    discovery: extra.discovery,
    totalMs: extra.totalMs,
    ...(process.env.BENCH_PROFILE === '1' ? { phaseMarks } : {}),
  };
  if (CHILD) {
    await writeFile(CHILD_OUT, `${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const resultsDir = path.join(ROOT, 'bench/results');
  await mkdir(resultsDir, { recursive: true });
  await writeFile(path.join(resultsDir, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  log(`results written to bench/results/latest.json; total ${fmtMs(totalMs)}`);
}

/** The results of steps 1–7 for latest.json. */
function serverBenchResults() {
  return {
    gitMode: extra.gitMode,
    reached: extra.reached,
    setup: { gitBuildMs: extra.gitBuildMs, serverStartMs: extra.serverStartMs, initialSyncMs: extra.initialSyncMs, perRepositorySyncMs: extra.perRepositorySyncMs, referenceCloneMs: extra.referenceCloneMs },
    operations: results.map((r) => ({
      op: r.op,
      client: roundSummary(r.client),
      server: r.server && roundSummary(r.server),
      budgetMs: r.budgetMs,
      bytes: r.bytes,
      serverCpuMs: r.serverCpuMs === undefined ? undefined : round(r.serverCpuMs, 1),
      gitBackendCpuMs: r.gitCpuMs === undefined ? undefined : round(r.gitCpuMs, 1),
      serverMemoryAfterMiB: r.memoryAfter && { rss: round(r.memoryAfter.rssMiB, 0), peak: round(r.memoryAfter.hwmMiB, 0) },
      reference: r.reference && { what: r.reference.what, ...roundSummary(r.reference.summary), gitCpuMs: r.reference.gitCpuMs === undefined ? undefined : round(r.reference.gitCpuMs, 1) },
      note: r.note,
    })),
    publishBurst: extra.publishBurst,
    watchFanout: extra.watchFanout,
    deadRemote: extra.deadRemote,
    restart: extra.restart,
    memory: extra.memory,
    serverWarnings: extra.serverProblems,
    serverErrorLines: extra.serverErrorLines,
    firstServerError: extra.firstServerError,
  };
}

/** Steps 1–7: the git data, the server, reads, writes, the git CLI reference, the restart. */
async function serverBench({ tmp, gitServer, serverArgs, nodeArgs }: { tmp: string; gitServer: GitServer; serverArgs: string[]; nodeArgs: string[] }): Promise<void> {
  const bareOf = (name: string) => path.join(gitServer.root, `${name}.git`);
  /** what the Repositories and the git CLI reference name: the bare repository's path, or its smart-HTTP URL */
  const remote = (name: string) => (LOCAL ? bareOf(name) : gitServer.url(name));
  const via = LOCAL ? 'local path' : 'HTTP';
  // ------------------------------------------------------------ 1. git data
  const repos = plan();
  let t0 = now();
  const base = Math.floor(Date.now() / 1000) - TOTAL - 3600;
  let next = 0;
  const builders = Array.from({ length: Math.min(2, repos.length) }, async () => {
    for (let i = next++; i < repos.length; i = next++) {
      const bare = await gitServer.createBareRepo(repos[i].name);
      await buildRepo(bare, repos[i], base);
    }
  });
  await Promise.all(builders);
  extra.gitBuildMs = round(now() - t0, 0);
  extra.reached = 'git data built';
  log(`built ${TOTAL} commits and tags with git fast-import in ${fmtMs(now() - t0)}`);

  // ------------------------------------------------------------ 2. the server, initial sync
  const dataDir = path.join(tmp, 'server');
  await mkdir(dataDir, { recursive: true });
  t0 = now();
  const srv = await startPkgServer({ dataDir, args: serverArgs, nodeArgs });
  /** error lines of the server log, but those about the dead remote's Repository (bench/deadremote.ts), which are expected */
  const isError = (l: string) => l.includes('"level":50') && !l.includes('"name":"dead-remote"');
  const errorLines = () => srv.problems.filter(isError).length;
  cleanups.push(() => srv.stop());
  extra.serverStartMs = round(now() - t0, 0);
  extra.reached = 'server serving';
  log(`pkgserver serving at ${srv.url} (pid ${srv.proc.pid}) after ${fmtMs(now() - t0)}`);
  const client = new BenchClient(srv.url, srv.tls());
  cleanups.push(async () => client.close());
  let sent = 0;
  const req = async (method: string, p: string, opts: { body?: unknown; contentType?: string; accept?: string } = {}) => {
    sent++;
    return client.ok(method, p, opts);
  };
  const memAfterStart = srv.memory();
  /** the server's V8 heap (used / total) and external memory (Buffers), from its /metrics */
  const heap = async () => {
    const text = (await req('GET', '/metrics', { accept: 'text/plain' })).body.toString('utf8');
    const g = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 1048576;
    return `heap ${g('nodejs_heap_size_used_bytes').toFixed(0)}/${g('nodejs_heap_size_total_bytes').toFixed(0)} MiB, external ${g('nodejs_external_memory_bytes').toFixed(0)} MiB`;
  };

  t0 = now();
  for (const r of repos) {
    await req('POST', `${CONFIG_GROUP_PATH}/namespaces/${r.namespace}/repositories`, {
      body: {
        apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
        kind: 'Repository',
        metadata: { name: r.name, namespace: r.namespace },
        spec: { type: 'git', deployment: r.deployment, git: { url: remote(r.name), ref: 'main', directory: '', ...(LOCAL ? {} : { credentials: 'bench' }) }, sync: { period: SYNC_PERIOD } },
      },
    });
  }
  const expected = new Map(repos.map((r) => [`${r.namespace}/${r.name}`, r.revisionNames.length]));
  const syncDeadline = Date.now() + TIMEOUT_S * 1000;
  let perRepoSyncMs: number[] = [];
  let nextProgress = Date.now() + 10_000;
  for (;;) {
    const list = (await req('GET', `${CONFIG_GROUP_PATH}/repositories`)).json<{ items: any[] }>().items;
    let done = 0;
    perRepoSyncMs = [];
    for (const item of list) {
      const ready = (item.status?.conditions ?? []).find((c: any) => c.type === 'Ready');
      if (ready?.status === 'False') throw new Error(`Repository ${item.metadata.name} is not Ready: ${ready.reason}: ${ready.message}`);
      const want = expected.get(`${item.metadata.namespace}/${item.metadata.name}`);
      if (ready?.status === 'True' && item.status?.revisionCount === want) {
        done++;
        const m = /synced in (\d+) ms/.exec(ready.message ?? '');
        if (m) perRepoSyncMs.push(Number(m[1]));
      }
    }
    if (done === repos.length) {
      const all = (await req('GET', `${PKG_GROUP_PATH}/packagerevisions`)).json<{ items: unknown[] }>().items.length;
      if (all === TOTAL) break;
    }
    extra.reached = `initial sync: ${done}/${repos.length} repositories ready after ${fmtMs(now() - t0)}`;
    if (Date.now() > nextProgress) {
      nextProgress = Date.now() + 10_000;
      log(`${extra.reached}; server RSS ${srv.memory().rssMiB.toFixed(0)} MiB`);
    }
    if (Date.now() > syncDeadline) throw new Error(`initial sync not done after ${TIMEOUT_S} s (${done}/${repos.length} repositories)`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const syncMs = now() - t0;
  phaseMarks.push({ op: 'initial sync', startUs: Math.round(t0 * 1000), endUs: Math.round(now() * 1000) });
  extra.initialSyncMs = round(syncMs, 0);
  extra.perRepositorySyncMs = summarize(perRepoSyncMs);
  const memAfterSync = srv.memory();
  extra.reached = 'initial sync done';
  extra.memory = { afterStart: memAfterStart, afterSync: memAfterSync };
  log(`initial sync: all ${TOTAL} revisions listed ${fmtMs(syncMs)} after registering ${R} repositories; RSS ${memAfterSync.rssMiB.toFixed(0)} MiB (${await heap()})`);

  // The controllers' work that follows a sync (discovery of every catalog revision, half of them
  // here) settles before anything is timed: every work queue empty at three polls in a row.
  const settle0 = now();
  for (let quiet = 0; quiet < 3; ) {
    const text = (await req('GET', '/metrics', { accept: 'text/plain' })).body.toString('utf8');
    const depth = [...text.matchAll(/^workqueue_depth\{[^}]*\} (\d+(?:\.\d+)?)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    quiet = depth === 0 ? quiet + 1 : 0;
    if (now() - settle0 > 300_000) {
      log('the controllers are still busy 300 s after the sync; measuring anyway');
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  extra.controllersSettledMs = round(now() - settle0, 0);
  // BENCH_HEAPSNAPSHOT=1 (with BENCH_SERVER_NODE_ARGS=--heapsnapshot-signal=SIGUSR2): a V8 heap
  // snapshot of the server once the controllers have settled, and one after the load, written
  // into the repository's root
  const heapSnapshot = async (when: string) => {
    if (process.env.BENCH_HEAPSNAPSHOT !== '1') return;
    const before = new Set((await readdir(ROOT)).filter((f) => f.endsWith('.heapsnapshot')));
    srv.proc.kill('SIGUSR2');
    await new Promise((r) => setTimeout(r, 1000));
    await client.ok('GET', '/healthz', { accept: 'text/plain' }); // answered once the (synchronous) snapshot is written (not counted: /healthz is not in the request log)
    log(`heap snapshot ${when}: ${(await readdir(ROOT)).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f)).join(', ')}`);
  };
  await heapSnapshot('after the sync and discovery');
  log(`controllers settled ${fmtMs(now() - settle0)} after the sync (discovery of the catalog revisions); RSS ${srv.memory().rssMiB.toFixed(0)} MiB (${await heap()})`);

  // ------------------------------------------------------------ 3. reads
  /** Measures `n` sequential requests of one kind (after `warmup`), client and server time. */
  const measure = async (op: string, method: string, n: number, warmup: number, fn: (i: number) => Promise<unknown>, extraFields: Partial<OpResult> = {}) => {
    for (let i = 0; i < warmup; i++) await fn(i);
    await srv.waitForRequests(sent);
    const from = sent;
    const markStart = Number(process.hrtime.bigint() / 1000n);
    const cpu0 = srv.cpuMs();
    const git0 = procCpuMs('self').children;
    const samples = await timeLoop(n, 0, (i) => fn(warmup + i));
    const serverCpuMs = (srv.cpuMs() - cpu0) / n;
    const gitCpuMs = (procCpuMs('self').children - git0) / n;
    phaseMarks.push({ op, startUs: markStart, endUs: Number(process.hrtime.bigint() / 1000n) });
    await srv.waitForRequests(sent);
    const st = serverTimes(srv, from, sent, method);
    const r: OpResult = { op, client: summarize(samples), server: st.length === n ? summarize(st) : undefined, budgetMs: BUDGETS[op], serverCpuMs, gitCpuMs, memoryAfter: srv.memory(), ...extraFields };
    results.push(r);
    extra.reached = `measured ${op}`;
    log(`${op}: p50 ${fmtMs(r.client.p50)} p95 ${fmtMs(r.client.p95)} (server p50 ${fmtMs(r.server?.p50)})`);
    return r;
  };

  const allPath = `${PKG_GROUP_PATH}/packagerevisions`;
  const tableFirst = (await req('GET', allPath, { accept: TABLE_ACCEPT })).json<{ kind: string; rows: unknown[] }>();
  if (tableFirst.kind !== 'Table' || tableFirst.rows.length !== TOTAL) throw new Error(`Table list: kind ${tableFirst.kind}, ${tableFirst.rows.length} rows, expected ${TOTAL}`);
  let bytes = 0;
  await measure('list all, Table', 'GET', LIST_ITER, 5, async () => {
    bytes = (await req('GET', allPath, { accept: TABLE_ACCEPT })).body.length;
  });
  results.at(-1)!.bytes = bytes;
  await measure('list all, JSON', 'GET', LIST_ITER, 5, async () => {
    bytes = (await req('GET', allPath)).body.length;
  });
  results.at(-1)!.bytes = bytes;

  // every page of 500, as `kubectl get -A` does by default (--chunk-size=500): one sample is the whole walk
  {
    const walk = async () => {
      let cont = '';
      let pages = 0;
      let rows = 0;
      do {
        const t = (await req('GET', `${allPath}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, { accept: TABLE_ACCEPT })).json<{ rows: unknown[]; metadata: { continue?: string } }>();
        pages++;
        rows += t.rows.length;
        cont = t.metadata.continue ?? '';
      } while (cont);
      if (rows !== TOTAL) throw new Error(`paged Table list: ${rows} rows, expected ${TOTAL}`);
      return pages;
    };
    for (let i = 0; i < 3; i++) await walk();
    await srv.waitForRequests(sent);
    const n = Math.max(5, Math.ceil(LIST_ITER / 2));
    const samples: number[] = [];
    const server: number[] = [];
    let pages = 0;
    const cpu0 = srv.cpuMs();
    for (let i = 0; i < n; i++) {
      const from = sent;
      const t = now();
      pages = await walk();
      samples.push(now() - t);
      await srv.waitForRequests(sent);
      server.push(serverTimes(srv, from, sent, 'GET').reduce((a, b) => a + b, 0));
    }
    results.push({ op: `list all, Table, every page of 500 (${pages} requests)`, client: summarize(samples), server: summarize(server), serverCpuMs: (srv.cpuMs() - cpu0) / n, note: 'what kubectl get -A does by default (--chunk-size=500); one sample = the whole walk' });
    log(`paged Table walk: p50 ${fmtMs(summarize(samples).p50)}`);
  }

  await measure('list one page (limit=500)', 'GET', LIST_ITER * 3, 10, async () => {
    bytes = (await req('GET', `${allPath}?limit=500`)).body.length;
  });
  results.at(-1)!.bytes = bytes;

  const allNames = repos.flatMap((r) => r.revisionNames.map((name) => ({ ns: r.namespace, name })));
  let seed = 42;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  await measure('get', 'GET', GET_ITER, 30, async () => {
    const o = allNames[Math.floor(rand() * allNames.length)];
    await req('GET', `${PKG_GROUP_PATH}/namespaces/${o.ns}/packagerevisions/${o.name}`);
  });

  // ------------------------------------------------------------ 4. writes: create draft, propose, publish in one deployment repository
  const deploy = repos.find((r) => r.deployment)!;
  const prPath = (ns: string, name?: string) => `${PKG_GROUP_PATH}/namespaces/${ns}/packagerevisions${name ? `/${name}` : ''}`;
  const draftBody = (repo: RepoPlan, target: string, pkg: string) => ({
    apiVersion: 'pkg.pkgserver.dev/v1alpha1',
    kind: 'PackageRevision',
    metadata: { name: `${target}.${repo.name}..${pkg}.ws1`, namespace: repo.namespace },
    spec: { packageRevID: { target, repository: repo.name, realm: '', package: pkg, workspace: 'ws1' }, lifecycle: 'draft', tasks: [{ type: 'init' }] },
  });
  const writes = WRITE_ITER + WRITE_WARMUP;
  const wNames = Array.from({ length: writes }, (_, i) => `w-${String(i).padStart(5, '0')}`);
  await measure('create draft (init)', 'POST', WRITE_ITER, WRITE_WARMUP, async (i) => {
    await req('POST', prPath(deploy.namespace), { body: draftBody(deploy, 'bench', wNames[i]) });
  });
  await measure('propose', 'PATCH', WRITE_ITER, WRITE_WARMUP, async (i) => {
    await req('PATCH', prPath(deploy.namespace, `bench.${deploy.name}..${wNames[i]}.ws1`), { body: { spec: { lifecycle: 'proposed' } }, contentType: MERGE_PATCH });
  });
  await measure('publish', 'PATCH', WRITE_ITER, WRITE_WARMUP, async (i) => {
    const r = (await req('PATCH', prPath(deploy.namespace, `bench.${deploy.name}..${wNames[i]}.ws1`), { body: { spec: { lifecycle: 'published' } }, contentType: MERGE_PATCH })).json<any>();
    if (r.spec.lifecycle !== 'published' || r.spec.packageRevID.revision !== 'v1' || !r.status?.git?.tag) throw new Error(`publish of ${wNames[i]}: ${JSON.stringify({ spec: r.spec, git: r.status?.git })}`);
  });

  // ------------------------------------------------------------ 4b. a burst of concurrent publishes across the deployment repositories
  {
    const deployRepos = repos.filter((r) => r.deployment);
    const burst = Array.from({ length: BURST }, (_, i) => ({ repo: deployRepos[i % deployRepos.length], pkg: `burst-${String(i).padStart(4, '0')}` }));
    burst0 = { namespace: burst[0].repo.namespace, name: `bench.${burst[0].repo.name}..${burst[0].pkg}.ws1` };
    for (const b of burst) {
      await req('POST', prPath(b.repo.namespace), { body: draftBody(b.repo, 'bench', b.pkg) });
      await req('PATCH', prPath(b.repo.namespace, `bench.${b.repo.name}..${b.pkg}.ws1`), { body: { spec: { lifecycle: 'proposed' } }, contentType: MERGE_PATCH });
    }
    await srv.waitForRequests(sent);
    const from = sent;
    const cpu0 = srv.cpuMs();
    const git0 = procCpuMs('self').children;
    const t = now();
    const each = await Promise.all(
      burst.map(async (b) => {
        const s = now();
        await req('PATCH', prPath(b.repo.namespace, `bench.${b.repo.name}..${b.pkg}.ws1`), { body: { spec: { lifecycle: 'published' } }, contentType: MERGE_PATCH });
        return now() - s;
      }),
    );
    const wall = now() - t;
    const serverCpuMs = (srv.cpuMs() - cpu0) / BURST;
    const gitCpuMs = (procCpuMs('self').children - git0) / BURST;
    await srv.waitForRequests(sent);
    extra.publishBurst = {
      publishes: BURST,
      repositories: deployRepos.length,
      wallMs: round(wall, 1),
      perSecond: round((BURST / wall) * 1000, 1),
      latency: summarize(each),
      server: summarize(serverTimes(srv, from, sent, 'PATCH')),
      serverCpuMsPerPublish: round(serverCpuMs, 1),
      gitCpuMsPerPublish: round(gitCpuMs, 1),
      budgetPerSecond: 20,
    };
    log(`publish burst: ${BURST} concurrent publishes over ${deployRepos.length} repositories in ${fmtMs(wall)} = ${((BURST / wall) * 1000).toFixed(1)}/s`);
  }

  // ------------------------------------------------------------ 4b. watch fan-out (not in the child runs, but the etcd one)
  if (!CHILD || STORE === 'etcd') {
    const target = burst0;
    const fan = await watchFanout({ baseURL: srv.url, tls: srv.tls(), client, namespace: target.namespace, name: target.name, watchers: WATCHERS, writes: FANOUT_WRITES });
    extra.watchFanout = { ...fan, latency: roundSummary(fan.latency), p99: round(fan.latency.p99, 2) };
    log(`watch fan-out: ${fan.watchers} watchers × ${fan.writes} writes: after the write returned, p50 ${fmtMs(fan.latency.p50)}, p99 ${fmtMs(fan.latency.p99)}, max ${fmtMs(fan.latency.max)}; ${fan.missing} events missing`);
  }

  // ------------------------------------------------------------ 4c. a dead remote beside the others (not in the child runs)
  if (!CHILD) {
    const d = await deadRemote({ client, namespace: deploy.namespace, repository: deploy.name, iterations: DEAD_ITER, log, timeoutMs: GIT_TIMEOUT_S * 1000 });
    extra.deadRemote = d;
    log(`dead remote: create p50 ${fmtMs(d.without.create.p50)} → ${fmtMs(d.with.create.p50)}, publish p50 ${fmtMs(d.without.publish.p50)} → ${fmtMs(d.with.publish.p50)}; ${d.refused} writes into it refused (${JSON.stringify(d.refusedCodes)})`);
  }

  // ------------------------------------------------------------ 5. memory after the load
  const memAfterLoad = srv.memory();
  extra.memory = { afterStart: memAfterStart, afterSync: memAfterSync, afterLoad: memAfterLoad, budgetMiB: 400 };
  log(`server RSS after the load: ${memAfterLoad.rssMiB.toFixed(0)} MiB (peak ${memAfterLoad.hwmMiB.toFixed(0)} MiB; ${await heap()})`);
  await heapSnapshot('after the load');
  extra.serverProblems = srv.problems.slice(0, 20);
  extra.serverErrorLines = errorLines();

  // ------------------------------------------------------------ 6. the git CLI reference, same git server
  log('git CLI reference');
  /** A timed loop of git CLI work; also the CPU of every git process it ran (CLI and http-backend), per operation. */
  const refLoop = async (n: number, warmup: number, op: (i: number) => Promise<unknown>) => {
    for (let i = 0; i < warmup; i++) await op(i);
    const git0 = procCpuMs('self').children;
    const samples = await timeLoop(n, 0, (i) => op(warmup + i));
    return { samples, gitCpuMs: (procCpuMs('self').children - git0) / n };
  };
  const ref = (op: string, what: string, m: { samples: number[]; gitCpuMs: number }) => {
    const r = results.find((x) => x.op === op);
    if (r) r.reference = { what, summary: summarize(m.samples), gitCpuMs: m.gitCpuMs };
  };
  const lsRemoteAll = await refLoop(REF_ITER, 1, async () => {
    for (const r of repos) await gitRef(tmp, 'ls-remote', '--tags', remote(r.name));
  });
  ref('list all, Table', `git ls-remote --tags, each of the ${R} repositories in turn (${via})`, lsRemoteAll);
  ref('list all, JSON', `git ls-remote --tags, each of the ${R} repositories in turn (${via})`, lsRemoteAll);
  const forEachRef = await refLoop(REF_ITER, 1, async () => {
    for (const r of repos) await gitRef(bareOf(r.name), 'for-each-ref', '--format=%(objectname) %(refname)', 'refs/tags');
  });
  results.push({ op: `(git) for-each-ref refs/tags, all ${R} bare repositories`, client: summarize(forEachRef.samples), gitCpuMs: forEachRef.gitCpuMs, note: 'reference only: every tag read from local disk (no HTTP), one git process per repository' });
  ref('list one page (limit=500)', `git ls-remote --tags of one repository (${deploy.revisionNames.length} tags, ${via})`, await refLoop(REF_ITER * 3, 2, async () => {
    await gitRef(tmp, 'ls-remote', '--tags', remote(deploy.name));
  }));
  const oneTag = `refs/tags/${deploy.packages[0].path}/v1`;
  ref('get', `git ls-remote URL ${oneTag} (protocol v2 ref-prefix, ${via})`, await refLoop(REF_ITER * 3, 2, async () => {
    await gitRef(tmp, 'ls-remote', remote(deploy.name), oneTag);
  }));

  // create draft / publish with a work tree clone of the same deployment repository
  const work = path.join(tmp, 'ref-clone');
  const authURL = LOCAL ? bareOf(deploy.name) : gitServer.url(deploy.name).replace('http://', `http://${GIT_USER}:${GIT_PASSWORD}@`);
  t0 = now();
  await gitRef(tmp, 'clone', '-q', authURL, work);
  extra.referenceCloneMs = round(now() - t0, 0);
  const refPkg = (i: number) => ({ name: `r-${String(i).padStart(5, '0')}`, path: `ref/r-${String(i).padStart(5, '0')}` });
  const refBranch = (i: number) => `drafts/${refPkg(i).path}/ws1`;
  const createDraftRef = async (i: number) => {
    const pkg = refPkg(i);
    await gitRef(work, 'switch', '-q', '-c', refBranch(i), 'main');
    await mkdir(path.join(work, pkg.path), { recursive: true });
    for (const [file, content] of Object.entries(revisionFiles(pkg, 1, true))) await writeFile(path.join(work, pkg.path, file), content);
    await gitRef(work, 'add', '-A', pkg.path);
    await gitRef(work, 'commit', '-q', '-m', `Create draft ${pkg.name}`);
    await gitRef(work, 'push', '-q', 'origin', refBranch(i));
  };
  const publishRef = (atomic: boolean) => async (i: number) => {
    const pkg = refPkg(i);
    await gitRef(work, 'switch', '-q', 'main');
    await gitRef(work, 'checkout', refBranch(i), '--', pkg.path);
    await gitRef(work, 'commit', '-q', '-m', `Publish ${pkg.name} v1`);
    await gitRef(work, 'tag', `${pkg.path}/v1`);
    if (atomic) await gitRef(work, 'push', '-q', '--atomic', 'origin', 'main', `refs/tags/${pkg.path}/v1`, `:refs/heads/${refBranch(i)}`);
    else {
      await gitRef(work, 'push', '-q', 'origin', 'main');
      await gitRef(work, 'push', '-q', 'origin', `refs/tags/${pkg.path}/v1`);
      await gitRef(work, 'push', '-q', 'origin', '--delete', refBranch(i));
    }
  };
  const switchMain = async () => gitRef(work, 'switch', '-q', 'main');
  const created = await refLoop(WRITE_ITER, WRITE_WARMUP, async (i) => createDraftRef(i));
  await switchMain();
  ref('create draft (init)', `git switch -c + write files + add + commit + push the branch (work-tree clone, ${via})`, created);
  ref('publish', `git checkout draft -- P + commit + push main + tag + push tag + push --delete branch (3 pushes, ${via})`, await refLoop(WRITE_ITER, WRITE_WARMUP, publishRef(false)));
  // the same publish in one atomic push, as a lower bound
  const base2 = WRITE_ITER + WRITE_WARMUP;
  await timeLoop(WRITE_ITER + WRITE_WARMUP, 0, async (i) => createDraftRef(base2 + i));
  await switchMain();
  const atomic = await refLoop(WRITE_ITER, WRITE_WARMUP, async (i) => publishRef(true)(base2 + i));
  results.push({ op: '(git) publish in one atomic push', client: summarize(atomic.samples), gitCpuMs: atomic.gitCpuMs, note: 'reference only: the same git work as publish with a single `git push --atomic main tag :branch`' });

  // ------------------------------------------------------------ 7. restart with the persisted store
  {
    await srv.stop();
    client.close();
    const t = now();
    const again = await startPkgServer({ dataDir, args: serverArgs, nodeArgs });
    cleanups.push(() => again.stop());
    const servingMs = now() - t;
    const client2 = new BenchClient(again.url, again.tls());
    cleanups.push(async () => client2.close());
    const listed = (await client2.ok('GET', allPath)).json<{ items: unknown[] }>().items.length;
    const listedMs = now() - t;
    if (listed < TOTAL) throw new Error(`after the restart the list has ${listed} revisions, expected at least ${TOTAL}`);
    extra.restart = { servingMs: round(servingMs, 0), firstFullListMs: round(listedMs, 0), revisionsListed: listed, budgetServingMs: 3000 };
    log(`restart with the persisted store: serving after ${fmtMs(servingMs)}, all ${listed} revisions listed after ${fmtMs(listedMs)}`);
    await again.stop();
    extra.reached = 'restart done';
    extra.serverErrorLines = errorLines() + again.problems.filter(isError).length;
    const firstError = [...srv.problems, ...again.problems].find(isError);
    if (firstError) extra.firstServerError = firstError.slice(0, 500);
  }
}

// ---------------------------------------------------------------- child runs (BENCH_GIT=both's local run, BENCH_SCALE=1's sizes)

/** What a child run of this script wrote to BENCH_OUT (its latest.json), with how it ended. */
type ChildResult = Record<string, any> & { label: string; exitCode: number | null; wallMs: number; error?: string };

/**
 * Runs this script again with `env` (and BENCH_CHILD=1, BENCH_OUT=outFile, BENCH_TIMEOUT=timeoutS);
 * its progress lines go to stderr prefixed with `label`. Resolves with what it wrote — complete, or
 * partial with `reached` when it timed out or failed — and never rejects.
 */
async function childRun(label: string, env: Record<string, string>, timeoutS: number, outFile: string): Promise<ChildResult> {
  log(`${label}: child run (${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}), bounded to ${timeoutS} s`);
  const t0 = now();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/run.ts')], {
    cwd: ROOT,
    env: { ...process.env, BENCH_SCALE: '0', ...env, BENCH_CHILD: '1', BENCH_OUT: outFile, BENCH_TIMEOUT: String(timeoutS) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  cleanups.push(stop);
  let buf = '';
  child.stderr!.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      process.stderr.write(`  [${label}] ${buf.slice(0, i)}\n`);
      buf = buf.slice(i + 1);
    }
  });
  // the child bounds itself; this is the bound of last resort
  const hard = setTimeout(() => child.kill('SIGKILL'), (timeoutS + 90) * 1000);
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  clearTimeout(hard);
  const wallMs = round(now() - t0, 0);
  try {
    return { ...JSON.parse(await readFile(outFile, 'utf8')), label, exitCode, wallMs };
  } catch (e) {
    return { label, exitCode, wallMs, error: `no results from the child run: ${(e as Error).message}` };
  }
}

/** Writes what a child run reached so far (it timed out or failed) to BENCH_OUT. */
let partialWritten = false;
function writePartial(why: string): void {
  if (!CHILD || !CHILD_OUT || partialWritten) return;
  partialWritten = true;
  try {
    writeFileSync(CHILD_OUT, `${JSON.stringify({ partial: true, error: why, machine: { loadAverageAtStart: extra.loadAverageAtStart, commit: extra.commit }, config: { git: GIT_MODE, revisions: TOTAL, repositories: R }, ...serverBenchResults() }, null, 2)}\n`);
  } catch {
    // nothing more to report
  }
}

interface ScaleRow {
  revisions: number;
  repositories: number;
  complete: boolean;
  reached?: string;
  error?: string;
  wallMs: number;
  loadAverageAtStart?: number[];
  firstStartMs?: number;
  initialSyncMs?: number;
  restartServingMs?: number;
  restartFirstListMs?: number;
  createP50?: number;
  publishP50?: number;
  listTableP50?: number;
  gitCreateP50?: number;
  gitPublishP50?: number;
  burstPerSecond?: number;
  rssAfterSyncMiB?: number;
  peakRssMiB?: number;
  rssPerRevisionKiB?: number;
  serverErrorLines?: number;
  firstServerError?: string;
}

/** BENCH_SCALE=1: the main figures at each of BENCH_SCALE_SIZES, each a bounded child run. */
async function scaleMain(started: number, tmp: string): Promise<void> {
  const git = LOCAL ? 'local' : 'http';
  const rows: ScaleRow[] = [];
  const dflt = (k: string, v: string) => process.env[k] || v;
  for (const [i, n] of SCALE_SIZES.entries()) {
    const packages = n / 10;
    const repositories = Math.min(packages, Math.max(4, Math.ceil(n / 500)));
    const budget = scaleBudgetS(n);
    log(`scale ${i + 1}/${SCALE_SIZES.length}: ${n} revisions (${packages} packages × 10) in ${repositories} repositories, git ${git}; at most ${budget} s`);
    const r = await childRun(`scale ${n}`, {
      BENCH_SCALE_CHILD: '1',
      BENCH_GIT: git,
      BENCH_N: String(packages),
      BENCH_M: '10',
      BENCH_REPOS: String(repositories),
      BENCH_DISCOVERY: '0',
      BENCH_SHAPE: '0',
      BENCH_LIST_ITER: dflt('BENCH_LIST_ITER', '10'),
      BENCH_GET_ITER: dflt('BENCH_GET_ITER', '100'),
      BENCH_WRITE_ITER: dflt('BENCH_WRITE_ITER', '15'),
      BENCH_REF_ITER: dflt('BENCH_REF_ITER', '3'),
    }, budget, path.join(tmp, `scale-${n}.json`));
    const op = (name: string) => (r.operations as any[] | undefined)?.find((o) => o.op === name);
    const mem = r.memory as { afterStart?: { rssMiB: number }; afterSync?: { rssMiB: number; hwmMiB: number }; afterLoad?: { rssMiB: number; hwmMiB: number } } | undefined;
    const row: ScaleRow = {
      revisions: n,
      repositories,
      complete: r.exitCode === 0 && !r.partial,
      reached: r.reached,
      error: r.error,
      wallMs: r.wallMs,
      loadAverageAtStart: r.machine?.loadAverageAtStart,
      firstStartMs: r.setup?.serverStartMs,
      initialSyncMs: r.setup?.initialSyncMs,
      restartServingMs: r.restart?.servingMs,
      restartFirstListMs: r.restart?.firstFullListMs,
      createP50: op('create draft (init)')?.client.p50,
      publishP50: op('publish')?.client.p50,
      listTableP50: op('list all, Table')?.client.p50,
      gitCreateP50: op('create draft (init)')?.reference?.p50,
      gitPublishP50: op('publish')?.reference?.p50,
      burstPerSecond: r.publishBurst?.perSecond,
      rssAfterSyncMiB: mem?.afterSync && round(mem.afterSync.rssMiB, 0),
      peakRssMiB: round((mem?.afterLoad ?? mem?.afterSync)?.hwmMiB ?? NaN, 0),
      rssPerRevisionKiB: mem?.afterSync && mem.afterStart ? round(((mem.afterSync.rssMiB - mem.afterStart.rssMiB) * 1024) / n, 1) : undefined,
      serverErrorLines: r.serverErrorLines,
      firstServerError: r.firstServerError,
    };
    rows.push(row);
    log(`scale ${n}: ${row.complete ? 'done' : `INCOMPLETE (${row.error ?? 'exit ' + r.exitCode}; reached: ${row.reached})`} in ${fmtMs(row.wallMs)}; sync ${fmtMs(row.initialSyncMs)}, create p50 ${fmtMs(row.createP50)}, publish p50 ${fmtMs(row.publishP50)}, list Table p50 ${fmtMs(row.listTableP50)}, peak RSS ${row.peakRssMiB} MiB`);
  }
  const totalMs = now() - started;
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    git: await execOut('git', ['--version']),
    commit: extra.commit,
    loadAverageAtStart: extra.loadAverageAtStart,
    loadAverageAtEnd: os.loadavg().map((x) => round(x)),
  };
  process.stdout.write(`${scaleReport(rows, machine, git).join('\n')}\n`);
  const resultsDir = path.join(ROOT, 'bench/results');
  await mkdir(resultsDir, { recursive: true });
  await writeFile(path.join(resultsDir, 'scale.json'), `${JSON.stringify({ date: new Date().toISOString(), machine, git, sizes: rows, totalMs: round(totalMs, 0) }, null, 2)}\n`);
  log(`results written to bench/results/scale.json (bench/results/latest.json untouched); total ${fmtMs(totalMs)}`);
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
}

function scaleReport(rows: ScaleRow[], machine: Record<string, any>, git: string): string[] {
  const t = [['revisions (repositories)', 'first start', 'initial sync', 'restart → serving', 'create p50 (git CLI)', 'publish p50 (git CLI)', 'publishes/s (20 conc.)', 'list Table p50', 'RSS after sync', 'peak RSS', 'RSS/revision', 'load avg at start', 'server errors', 'run']];
  for (const r of rows)
    t.push([
      `${r.revisions.toLocaleString('en')} (${r.repositories})`,
      fmtMs(r.firstStartMs),
      fmtMs(r.initialSyncMs),
      fmtMs(r.restartServingMs),
      r.createP50 === undefined ? '—' : `${fmtMs(r.createP50)} (${fmtMs(r.gitCreateP50)})`,
      r.publishP50 === undefined ? '—' : `${fmtMs(r.publishP50)} (${fmtMs(r.gitPublishP50)})`,
      r.burstPerSecond === undefined ? '—' : String(r.burstPerSecond),
      fmtMs(r.listTableP50),
      r.rssAfterSyncMiB === undefined ? '—' : `${r.rssAfterSyncMiB} MiB`,
      Number.isFinite(r.peakRssMiB) ? `${r.peakRssMiB} MiB` : '—',
      r.rssPerRevisionKiB === undefined ? '—' : `${r.rssPerRevisionKiB} KiB`,
      r.loadAverageAtStart?.join(' ') ?? '—',
      String(r.serverErrorLines ?? '—'),
      r.complete ? fmtMs(r.wallMs) : `INCOMPLETE after ${fmtMs(r.wallMs)}: reached "${r.reached ?? 'nothing'}"`,
    ]);
  return [
    '',
    `pkgserver scaling (BENCH_SCALE=1), git ${git === 'local' ? 'local bare repositories' : 'smart HTTP (git http-backend)'}; every size a fresh git server and server, 10 revisions per package`,
    `machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, node ${machine.node}, ${machine.git}; pkgserver ${machine.commit}; load average at start ${machine.loadAverageAtStart.join(' ')}, at end ${machine.loadAverageAtEnd.join(' ')}`,
    '',
    ...table(t),
    '',
    'first start: spawn on an empty data directory (certificates generated) → serving; initial sync: first Repository registered → every revision listed;',
    'restart → serving: on the persisted store; RSS/revision: (VmRSS after the sync − VmRSS when serving) ÷ revisions; peak RSS: VmHWM after the load.',
    ...rows.filter((r) => r.firstServerError).map((r) => `server errors at ${r.revisions}: ${r.serverErrorLines}; first: ${r.firstServerError!.slice(0, 400)}`),
  ];
}

function roundSummary(s: Summary): Summary {
  return { n: s.n, p50: round(s.p50), p95: round(s.p95), min: round(s.min), max: round(s.max), mean: round(s.mean) };
}

function printReport(machine: Record<string, unknown>, config: Record<string, unknown>): void {
  const out: string[] = [''];
  if (ONLY) out.push(`pkgserver benchmark — only the ${ONLY} scenario (BENCH_ONLY=${ONLY})`);
  else out.push(`pkgserver benchmark — ${config.revisions} revisions (${config.packages} packages × ${config.revisionsPerPackage}) in ${config.repositories} repositories, ${config.namespaces} namespaces; git: ${LOCAL ? 'local bare repositories (BENCH_GIT=local)' : `smart HTTP, git http-backend (BENCH_GIT=${GIT_MODE})`}`);
  out.push(`machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, ${machine.kernel}, node ${machine.node}, ${machine.git}; load average at start ${(machine.loadAverageAtStart as number[]).join(' ')}, before the report ${(machine.loadAverageBeforeReport as number[]).join(' ')}; pkgserver ${machine.commit}`);
  if (config.serverNodeArgs) out.push(`server node flags: ${config.serverNodeArgs}`);
  if (!ONLY) out.push(...serverBenchReport());
  if (extra.localMode) out.push('', ...localModeReport(extra.localMode as ChildResult));
  if (extra.etcdStore) out.push('', ...etcdReport(extra.etcdStore as ChildResult, extra.localMode as ChildResult | undefined));
  if (extra.shape) out.push('', ...shapeReport(extra.shape as ShapeResult));
  if (extra.discovery) out.push('', ...discoveryReport(extra.discovery as DiscoveryResult));
  process.stdout.write(`${out.join('\n')}\n`);
}

function serverBenchReport(): string[] {
  const mem = (extra.memory as { afterLoad: { rssMiB: number; hwmMiB: number } }).afterLoad;
  const rows: string[][] = [['operation', 'p50', 'p95', 'n', 'server p50', 'server p95', 'server CPU/op', 'budget p50', 'git CLI p50', 'git CLI p95', 'git CPU/op']];
  for (const r of results)
    rows.push([
      r.op,
      fmtMs(r.client.p50),
      fmtMs(r.client.p95),
      String(r.client.n),
      fmtMs(r.server?.p50),
      fmtMs(r.server?.p95),
      fmtMs(r.serverCpuMs),
      r.budgetMs !== undefined ? `≤ ${r.budgetMs} ms` : '',
      fmtMs(r.reference?.summary.p50),
      fmtMs(r.reference?.summary.p95),
      fmtMs(r.reference?.gitCpuMs ?? (r.op.startsWith('(git)') ? r.gitCpuMs : undefined)),
    ]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  const out: string[] = [];
  out.push(`setup: git data built in ${fmtMs(extra.gitBuildMs as number)}; first start (spawn on an empty data directory, certificates generated → serving) ${fmtMs(extra.serverStartMs as number)}; initial sync (register → all listed) ${fmtMs(extra.initialSyncMs as number)}`);
  out.push('');
  out.push(line(rows[0]));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows.slice(1)) out.push(line(row));
  out.push('');
  const b = extra.publishBurst as { publishes: number; repositories: number; wallMs: number; perSecond: number; latency: Summary; serverCpuMsPerPublish: number; gitCpuMsPerPublish: number };
  out.push(`publish burst: ${b.publishes} concurrent publishes over ${b.repositories} deployment repositories in ${fmtMs(b.wallMs)} → ${b.perSecond}/s (budget ≥ 20/s); latency p50 ${fmtMs(b.latency.p50)}, p95 ${fmtMs(b.latency.p95)}; CPU per publish: server ${fmtMs(b.serverCpuMsPerPublish)}, ${LOCAL ? 'git processes 0 (local repositories: the server runs no git process)' : `git server (http-backend and the git it runs) ${fmtMs(b.gitCpuMsPerPublish)}`}`);
  const wf = extra.watchFanout as { watchers: number; writes: number; latency: Summary; p99: number; missing: number } | undefined;
  if (wf) out.push(`watch fan-out: ${wf.watchers} watchers × ${wf.writes} writes, event after the write returned: p50 ${fmtMs(wf.latency.p50)}, p99 ${fmtMs(wf.p99)} (budget ≤ 50 ms), max ${fmtMs(wf.latency.max)}; missing events: ${wf.missing}`);
  if (extra.deadRemote) out.push(...deadRemoteReport(extra.deadRemote as DeadRemoteResult));
  const rs = extra.restart as { servingMs: number; firstFullListMs: number; revisionsListed: number };
  out.push(`restart with the persisted store: serving after ${fmtMs(rs.servingMs)} (budget ≤ 3 s), first full list (${rs.revisionsListed} revisions) after ${fmtMs(rs.firstFullListMs)}`);
  out.push(`server memory after the load: VmRSS ${mem.rssMiB.toFixed(0)} MiB, peak VmHWM ${mem.hwmMiB.toFixed(0)} MiB (budget ≤ 400 MiB at 10,000 revisions)`);
  out.push(`server log: ${extra.serverErrorLines ?? 0} error lines (level 50; the dead remote's own not counted)${extra.firstServerError ? `; first: ${String(extra.firstServerError).slice(0, 300)}` : ''}`);
  out.push('');
  out.push('p50/p95/n: client-observed (request → last byte, keep-alive HTTPS); server p50/p95: the server\'s own request log;');
  out.push('server CPU/op: user+system CPU of the server process over the measured loop ÷ n; git CPU/op: CPU of every git process of the reference (CLI and http-backend) ÷ n.');
  out.push(`git CLI reference, same ${LOCAL ? 'bare repositories (local paths)' : 'git server'}:`);
  for (const r of results) if (r.reference) out.push(`  ${r.op}: ${r.reference.what}`);
  out.push(`budgets: SPEC 9, at 10,000 revisions in 20 repositories on 2 cores.`);
  return out;
}

/** BENCH_GIT=both: the local-repository run beside this run's HTTP figures. */
function localModeReport(l: ChildResult): string[] {
  if (l.error && !l.operations) return [`local bare repositories (BENCH_GIT=local): no results (${l.error})`];
  const ops = ['list all, Table', 'list all, JSON', 'list one page (limit=500)', 'get', 'create draft (init)', 'propose', 'publish'];
  const local = (op: string) => (l.operations as any[]).find((o) => o.op === op);
  const t = [['operation (p50)', 'HTTP: server', 'HTTP: git CLI', 'local: server', 'local: git CLI', 'local server CPU/op']];
  for (const op of ops) {
    const h = results.find((r) => r.op === op);
    const lo = local(op);
    t.push([op, fmtMs(h?.client.p50), fmtMs(h?.reference?.summary.p50), fmtMs(lo?.client.p50), fmtMs(lo?.reference?.p50), fmtMs(lo?.serverCpuMs)]);
  }
  const hb = extra.publishBurst as { perSecond: number; serverCpuMsPerPublish: number; gitCpuMsPerPublish: number };
  const lb = l.publishBurst as typeof hb | undefined;
  const hr = extra.restart as { servingMs: number };
  const hm = (extra.memory as { afterLoad: { hwmMiB: number } }).afterLoad;
  return [
    `local bare repositories (BENCH_GIT=local, a second run: Repositories on the bare repositories' paths, --local-repository-root; load average at its start ${l.machine?.loadAverageAtStart?.join(' ') ?? '?'}${l.partial ? `; INCOMPLETE: ${l.error}, reached ${l.reached}` : ''}), beside this run's smart-HTTP figures:`,
    '',
    ...table(t),
    '',
    `first start → serving: HTTP ${fmtMs(extra.serverStartMs as number)}, local ${fmtMs(l.setup?.serverStartMs)}; initial sync: HTTP ${fmtMs(extra.initialSyncMs as number)}, local ${fmtMs(l.setup?.initialSyncMs)}; restart → serving: HTTP ${fmtMs(hr.servingMs)}, local ${fmtMs(l.restart?.servingMs)}`,
    `publish burst (${BURST} concurrent): HTTP ${hb.perSecond}/s (server ${fmtMs(hb.serverCpuMsPerPublish)}, git server ${fmtMs(hb.gitCpuMsPerPublish)} CPU per publish), local ${lb?.perSecond ?? '—'}/s (server ${fmtMs(lb?.serverCpuMsPerPublish)} CPU per publish); peak RSS: HTTP ${hm.hwmMiB.toFixed(0)} MiB, local ${l.memory?.afterLoad?.hwmMiB?.toFixed(0) ?? '—'} MiB; server log errors (local run): ${l.serverErrorLines ?? '?'}`,
  ];
}

/** The default run's etcd child run (BENCH_STORE=etcd, local git paths) beside the SQLite local run. */
function etcdReport(e: ChildResult, l: ChildResult | undefined): string[] {
  if (e.error && !e.operations) return [`store on etcd (BENCH_STORE=etcd): no results (${e.error})`];
  const ops = ['list all, Table', 'list all, JSON', 'list one page (limit=500)', 'get', 'create draft (init)', 'propose', 'publish'];
  const find = (r: ChildResult | undefined, op: string) => (r?.operations as any[] | undefined)?.find((o) => o.op === op);
  const t = [['operation (p50), local git paths', 'SQLite', 'etcd', 'SQLite server CPU/op', 'etcd server CPU/op']];
  for (const op of ops) {
    const a = find(l, op);
    const b = find(e, op);
    t.push([op, fmtMs(a?.client.p50), fmtMs(b?.client.p50), fmtMs(a?.serverCpuMs), fmtMs(b?.serverCpuMs)]);
  }
  const wf = (x: any) => (x ? `p50 ${fmtMs(x.latency?.p50)}, p99 ${fmtMs(x.p99)}, ${x.missing} missing` : '—');
  return [
    `store on etcd (BENCH_STORE=etcd: a second child run, the server with --storage-backend=etcd3 on one local etcd member ${ETCD_BINARY}, Repositories on local paths; load average at its start ${e.machine?.loadAverageAtStart?.join(' ') ?? '?'}${e.partial ? `; INCOMPLETE: ${e.error}, reached ${e.reached}` : ''}), beside the SQLite local run:`,
    '',
    ...table(t),
    '',
    `initial sync: SQLite ${fmtMs(l?.setup?.initialSyncMs)}, etcd ${fmtMs(e.setup?.initialSyncMs)}; restart → serving: SQLite ${fmtMs(l?.restart?.servingMs)}, etcd ${fmtMs(e.restart?.servingMs)}; publish burst: SQLite ${l?.publishBurst?.perSecond ?? '—'}/s, etcd ${e.publishBurst?.perSecond ?? '—'}/s; peak RSS: SQLite ${l?.memory?.afterLoad?.hwmMiB?.toFixed(0) ?? '—'} MiB, etcd ${e.memory?.afterLoad?.hwmMiB?.toFixed(0) ?? '—'} MiB`,
    `watch fan-out (${WATCHERS} watchers): SQLite (this run) ${wf(extra.watchFanout)}; etcd ${wf(e.watchFanout)}; server log errors (etcd run): ${e.serverErrorLines ?? '?'}`,
  ];
}

function shapeReport(sh: ShapeResult): string[] {
  const t = [['repository shape (1 package, same files)', 'commits / tags', 'create p50', 'git CLI create p50', 'create server CPU/op', 'publish p50', 'git CLI publish p50', 'publish server CPU/op']];
  for (const r of sh.rows)
    t.push([r.repository, `${r.revisions} / ${r.tags}`, fmtMs(r.create.client.p50), fmtMs(r.reference.create.p50), fmtMs(r.create.serverCpuMs), fmtMs(r.publish.client.p50), fmtMs(r.reference.publish.p50), fmtMs(r.publish.serverCpuMs)]);
  const [a, b] = sh.rows;
  return [
    `repository shape (BENCH_SHAPE=0 skips it): short against long history, ${sh.iterations} writes each after ${WRITE_WARMUP} warm-up, git ${sh.git === 'local' ? 'local paths' : 'smart HTTP'}, a fresh server; the git CLI does the same work in a work-tree clone:`,
    '',
    ...table(t),
    '',
    `long ÷ short: server create ×${(b.create.client.p50 / a.create.client.p50).toFixed(2)}, publish ×${(b.publish.client.p50 / a.publish.client.p50).toFixed(2)}; git CLI create ×${(b.reference.create.p50 / a.reference.create.p50).toFixed(2)}, publish ×${(b.reference.publish.p50 / a.reference.publish.p50).toFixed(2)}${sh.serverErrors.length ? `; server errors: ${sh.serverErrors.length}` : ''}`,
  ];
}

function discoveryReport(d: DiscoveryResult): string[] {
  const per = (ms: number) => fmtMs(ms / d.revisions);
  const mib = (x: number) => `${x.toFixed(0)} MiB`;
  const docs = (c: DiscoveryResult['cold']['counters']) => `${c.documents.git} / ${c.documents.disk} / ${c.documents.memory}`;
  const reconciles = (c: DiscoveryResult['cold']['counters']) =>
    Object.entries(c.reconciles)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ') || '0';
  const { cold, restart: rs, reference: ref } = d;
  const rows = [
    ['discovery', 'time', 'per revision', 'server CPU', 'RSS after', 'heap used', 'docs git / disk / memory', 'git file reads', 'reconciles'],
    ['cold start: start → serving (empty data directory)', fmtMs(cold.serverStartMs), '', '', mib(cold.memoryBefore.rssMiB), mib(cold.memoryBefore.heapUsedMiB), '', '', ''],
    ['cold start: register → every revision listed (sync)', fmtMs(cold.listedMs), '', '', '', '', '', '', ''],
    ['cold start: register → every dependencies condition True', fmtMs(cold.discoveredMs), per(cold.discoveredMs), '', '', '', '', '', ''],
    ['cold start: register → discovery queue idle', fmtMs(cold.settledMs), per(cold.settledMs), fmtMs(cold.serverCpuMs), mib(cold.memoryAfter.rssMiB), mib(cold.memoryAfter.heapUsedMiB), docs(cold.counters), String(cold.counters.gitFileReads), reconciles(cold.counters)],
    ['restart: SIGTERM → exited', fmtMs(rs.stopMs), '', '', '', '', '', '', ''],
    ['restart: start → serving', fmtMs(rs.servingMs), '', '', '', '', '', '', ''],
    ['restart: start → every revision re-discovered, queue idle', fmtMs(rs.discoveredMs), per(rs.discoveredMs), fmtMs(rs.serverCpuMs), mib(rs.memoryAfter.rssMiB), mib(rs.memoryAfter.heapUsedMiB), docs(rs.counters), String(rs.counters.gitFileReads), reconciles(rs.counters)],
    [`(git) git archive per revision + YAML parse, 4 at a time`, fmtMs(ref.archive.wallMs), per(ref.archive.wallMs), fmtMs(ref.archive.cpuMs), '', '', '', String(ref.archive.files), ''],
    [`(git) one git cat-file --batch of every file + YAML parse`, fmtMs(ref.catFile.wallMs), per(ref.catFile.wallMs), fmtMs(ref.catFile.cpuMs), '', '', '', String(ref.catFile.files), ''],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  const errors = d.serverLogLevels['50'] ?? 0;
  return [
    `Discovery — ${d.revisions} catalog revisions (${d.packages} packages × ${d.revisionsPerPackage}; a Kptfile and ${d.documentsPerRevision} YAML documents each; ${d.mix.operators} operator packages with a CRD, ${d.mix.apps} apps using them, ${d.mix.withPackageDependency} with a PackageDependency) in ${d.repositories} repositories, a fresh server:`,
    '',
    line(rows[0]),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
    '',
    `memory: before registering VmRSS ${mib(cold.memoryBefore.rssMiB)}, heap used ${mib(cold.memoryBefore.heapUsedMiB)}; after the cold discovery VmRSS ${mib(cold.memoryAfter.rssMiB)} (peak ${mib(cold.memoryAfter.hwmMiB)}), heap used ${mib(cold.memoryAfter.heapUsedMiB)} of ${mib(cold.memoryAfter.heapTotalMiB)}; after the restart's discovery VmRSS ${mib(rs.memoryAfter.rssMiB)} (peak ${mib(rs.memoryAfter.hwmMiB)})`,
    `result: ${d.check.conditionsTrue}/${d.revisions} conditions True (${d.check.conditionsTrueAfterRestart} after the restart), ${cold.packageAPIs} PackageAPIs, ${cold.events} PackageRevision events on the watch; ${d.check.incomplete} revisions lacking a package dependency their documents use${d.check.incomplete ? ` (e.g. ${d.check.incompleteExamples[0]})` : ''}; ${d.check.withWarnings} with warnings${d.check.withWarnings ? ` (e.g. ${d.check.warningExamples[0]})` : ''}`,
    `server log: ${errors} errors, ${d.serverLogLevels['40'] ?? 0} warnings${errors ? `; first: ${d.serverErrors[0]?.slice(0, 300)}` : ''}`,
    `reference: the same ${d.revisions} revisions' files (${ref.catFile.files}, ${(ref.catFile.bytes / 2 ** 20).toFixed(1)} MiB) read with the git CLI from the bare repositories and parsed in the bench process with the yaml library (parse alone ${fmtMs(ref.catFile.parseMs)}); CPU: the bench process and its git processes.`,
    'docs git / disk / memory: pkgserver_package_documents_total by source; reconciles: controller_runtime_reconcile_total{controller="discovery"} of that process; queue idle: workqueue_depth 0 and every add reconciled.',
  ];
}

function deadRemoteReport(d: DeadRemoteResult): string[] {
  const rows = [['', 'p50 without', 'p50 with', 'ratio', 'p95 without', 'p95 with', 'ratio']];
  for (const [op, k] of [
    ['create draft (init)', 'create'],
    ['publish', 'publish'],
  ] as const) {
    const a = d.without[k];
    const b = d.with[k];
    rows.push([op, fmtMs(a.p50), fmtMs(b.p50), (b.p50 / a.p50).toFixed(2), fmtMs(a.p95), fmtMs(b.p95), (b.p95 / a.p95).toFixed(2)]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const codes = Object.entries(d.refusedCodes).map(([code, n]) => `${n} × ${code}`).join(', ');
  return [
    `dead remote (accepts connections, never answers; Ready=False Unreachable ${fmtMs(d.unreachableAfterMs)} after it was registered), a healthy repository's latency, ${d.iterations} rounds each side (goal: within 20 %):`,
    ...rows.map((row) => `  ${row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')}`),
    `  meanwhile ${d.refused} writes into the dead repository: ${codes}, answered after p50 ${fmtMs(d.refusedLatency.p50)}, max ${fmtMs(d.refusedLatency.max)} (--git-timeout ${GIT_TIMEOUT_S} s)`,
  ];
}

// ---------------------------------------------------------------- entry

const timer = setTimeout(() => {
  log(`timed out after ${TIMEOUT_S} s (reached: ${String(extra.reached ?? 'nothing')})`);
  writePartial(`timed out after ${TIMEOUT_S} s`);
  void cleanup().then(() => process.exit(1));
}, TIMEOUT_S * 1000);
try {
  await main();
  await cleanup();
  clearTimeout(timer);
  process.exit(0);
} catch (e) {
  if (!cleaning) log(`failed: ${(e as Error).stack ?? e}`); // else: interrupted, and the cleanup made it fail
  writePartial((e as Error).message ?? String(e));
  await cleanup();
  clearTimeout(timer);
  process.exit(1);
}
