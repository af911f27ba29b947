// Package discovery at catalog size (SPEC 5.3): P packages × V published revisions (default
// 200 × 5 = 1,000), each revision a Kptfile and 5 YAML documents, in two catalog repositories of
// one namespace, written with `git fast-import` and served by the bench's smart-HTTP git server.
//
// The packages (by index j, alternating between the two repositories) form a catalog whose
// resolution does real work:
//   j % 4 = 0  operator: a CustomResourceDefinition of its own group (`pkg-j.bench.example.com`,
//              v1alpha1 in every revision, v1 too from v3), a Deployment, a Service, a ConfigMap
//              and a ClusterRole on its own resource and on core resources
//   j % 4 = 1  app: Deployment, Service, ConfigMap, a Role on operator X's resource (and
//              configmaps), an instance of operator Y's kind (v1alpha1)
//   j % 4 = 2  app: Deployment, Service, the Role on X, an instance of Y's kind at v1 (served from
//              Y's v3 on: a constraint "v3 || v4 || v5"), a PackageDependency on package j-1
//              (the other repository) at "*"
//   j % 4 = 3  app: Deployment, Service, ConfigMap, the instance of Y (v1alpha1), a
//              PackageDependency on package j-1 at ">=v2"
// X and Y are operators chosen by j; operators are in both repositories, and a package and the
// one it names in its PackageDependency are always in different ones.
//
// Measured, with a fresh server (own data directory, controllers on):
//   cold start   from registering the two Repositories: every revision listed (sync), every
//                revision with the condition pkg.pkgserver.dev/dependencies True (watched on one
//                watch stream), and the discovery work queue idle (/metrics: nothing queued, every
//                add reconciled); RSS and heap before and after; documents read from git.
//   restart      SIGTERM, the same data directory: serving, then discovery re-run for every
//                revision (controller_runtime_reconcile_total{controller="discovery"} ≥ the
//                revisions, and the queue idle); RSS; documents read from git (expected 0).
//   reference    the same revisions' files read with the git CLI from the same bare repositories
//                and parsed in the bench process with the `yaml` library: one `git archive` per
//                revision (4 at a time, as the controller's 4 workers), and one `git cat-file
//                --batch` for every file of every revision.
import { spawn } from 'node:child_process';
import https from 'node:https';
import type { ClientRequest } from 'node:http';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { GIT_ENV, type GitServer } from '../test/helpers/gitserver.ts';
import { BenchClient, onWatchEvents } from './client.ts';
import { gitIn } from './gitbuild.ts';
import { procCpuMs, startPkgServer, type BenchServer } from './server.ts';
import { now, round } from './stats.ts';

const PKG = '/apis/pkg.pkgserver.dev/v1alpha1';
const CFG = '/apis/config.pkg.pkgserver.dev/v1alpha1';
const CONDITION = 'pkg.pkgserver.dev/dependencies';
const NAMESPACE = 'bench-discovery';
const REPOS = ['discovery-a', 'discovery-b'];
/** a wait that sees no progress for this long fails (a broken server need not take the whole timeout) */
const STALL_MS = 120_000;
const WORKERS = 4; // the reference's concurrency: the discovery controller's workers
const KINDS = ['Database', 'Cache', 'Queue', 'Bucket', 'Gateway', 'Certificate', 'Backup', 'Tenant'];

export interface MemoryFigures {
  rssMiB: number;
  /** VmHWM: the peak RSS of the process so far */
  hwmMiB: number;
  /** nodejs_heap_size_used_bytes and nodejs_heap_size_total_bytes, MiB */
  heapUsedMiB: number;
  heapTotalMiB: number;
}

export interface ServerCounters {
  /** controller_runtime_reconcile_total{controller="discovery"} by result */
  reconciles: Record<string, number>;
  /** workqueue_adds_total / workqueue_retries_total {name="discovery"} */
  queueAdds: number;
  queueRetries: number;
  /** pkgserver_package_documents_total by source */
  documents: { memory: number; disk: number; git: number };
  /** pkgserver_git_file_reads_total */
  gitFileReads: number;
}

export interface DiscoveryResult {
  packages: number;
  revisionsPerPackage: number;
  revisions: number;
  repositories: number;
  documentsPerRevision: number;
  /** packages per role */
  mix: { operators: number; apps: number; withPackageDependency: number };
  gitBuildMs: number;
  cold: {
    serverStartMs: number;
    /** register → every revision listed (ADDED on the watch) */
    listedMs: number;
    /** register → every revision's dependencies condition True */
    discoveredMs: number;
    /** register → the discovery queue idle (dependents written too) */
    settledMs: number;
    serverCpuMs: number;
    memoryBefore: MemoryFigures;
    memoryAfter: MemoryFigures;
    counters: ServerCounters;
    /** PackageRevision events seen on the watch (ADDED + MODIFIED) */
    events: number;
    packageAPIs: number;
  };
  restart: {
    stopMs: number;
    servingMs: number;
    /** start → every revision reconciled by discovery in the new process, queue idle */
    discoveredMs: number;
    serverCpuMs: number;
    memoryAfter: MemoryFigures;
    counters: ServerCounters;
  };
  /** the final state, checked after the cold start and after the restart */
  check: {
    conditionsTrue: number;
    conditionsTrueAfterRestart: number;
    /** revisions whose status.dependencies.packages lacks a package their documents use (see expected()) */
    incomplete: number;
    incompleteExamples: string[];
    /** revisions with warnings in status.dependencies */
    withWarnings: number;
    warningExamples: string[];
  };
  reference: {
    archive: { wallMs: number; cpuMs: number; parseMs: number; files: number; documents: number; bytes: number };
    catFile: { wallMs: number; cpuMs: number; parseMs: number; files: number; documents: number; bytes: number };
  };
  /** server log lines by level, both processes (50 = error) */
  serverLogLevels: Record<string, number>;
  serverErrors: string[];
  logFile: string;
}

// ---------------------------------------------------------------- the catalog

interface Pkg {
  j: number;
  name: string;
  repo: string;
  role: 0 | 1 | 2 | 3;
}

const pkgName = (j: number) => `pkg-${String(j).padStart(5, '0')}`;
const groupOf = (j: number) => `${pkgName(j)}.bench.example.com`;
const kindOf = (j: number) => KINDS[Math.floor(j / 4) % KINDS.length];
const pluralOf = (j: number) => `${kindOf(j).toLowerCase()}s`;

function catalog(packages: number): Pkg[] {
  // neighbours j-1, j in different repositories, and operators in both
  return Array.from({ length: packages }, (_, j) => ({ j, name: pkgName(j), repo: REPOS[(j + Math.floor(j / 4)) % REPOS.length], role: (j % 4) as Pkg['role'] }));
}

/** The operators an app j uses: X (its Role's resource) and Y (the kind of its instance). */
function operatorsOf(j: number, packages: number): { x: number; y: number } {
  const ops = Math.ceil(packages / 4);
  const q = Math.floor(j / 4);
  return { x: ((q + 1) % ops) * 4, y: ((q + 7) % ops) * 4 };
}

const doc = (...parts: string[]) => parts.join('---\n');

function kptfile(p: Pkg, rev: number): string {
  return `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: ${p.name}
  annotations:
    config.kubernetes.io/local-config: "true"
info:
  description: ${['operator', 'app', 'app with a dependency', 'app with a dependency'][p.role]} ${p.name}, revision v${rev}
`;
}

function deployment(p: Pkg, rev: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${p.name}
  labels: {app.kubernetes.io/name: ${p.name}, app.kubernetes.io/version: "1.${rev}.0"}
spec:
  replicas: 2
  selector:
    matchLabels: {app.kubernetes.io/name: ${p.name}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: ${p.name}}
    spec:
      serviceAccountName: ${p.name}
      containers:
      - name: main
        image: registry.example.com/${p.name}:1.${rev}.0
        args: [--port=8080, --metrics-port=9090]
        ports:
        - {name: http, containerPort: 8080}
        - {name: metrics, containerPort: 9090}
        envFrom:
        - configMapRef: {name: ${p.name}-config}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
          limits: {memory: 256Mi}
        readinessProbe:
          httpGet: {path: /readyz, port: http}
`;
}

function service(p: Pkg): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${p.name}
spec:
  selector: {app.kubernetes.io/name: ${p.name}}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: metrics, port: 9090, targetPort: metrics}
`;
}

function configMap(p: Pkg, rev: number): string {
  return `apiVersion: v1
kind: ConfigMap
metadata:
  name: ${p.name}-config
data:
  LOG_LEVEL: info
  RELEASE: v${rev}
  FEATURES: "a,b,c"
`;
}

function crd(p: Pkg, rev: number): string {
  const version = (name: string, served: boolean, storage: boolean) => `  - name: ${name}
    served: ${served}
    storage: ${storage}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: string, enum: [small, medium, large]}
              replicas: {type: integer, minimum: 1, maximum: 9}
              version: {type: string}
              backup:
                type: object
                properties:
                  schedule: {type: string}
                  retentionDays: {type: integer}
              labels:
                type: object
                additionalProperties: {type: string}
          status:
            type: object
            properties:
              phase: {type: string}
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
                    reason: {type: string}
                    message: {type: string}
`;
  const versions = rev >= 3 ? version('v1', true, true) + version('v1alpha1', true, false) : version('v1alpha1', true, true);
  return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${pluralOf(p.j)}.${groupOf(p.j)}
spec:
  group: ${groupOf(p.j)}
  scope: Namespaced
  names:
    kind: ${kindOf(p.j)}
    plural: ${pluralOf(p.j)}
    singular: ${kindOf(p.j).toLowerCase()}
  versions:
${versions}`;
}

function clusterRole(p: Pkg): string {
  return `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: ${p.name}-operator
rules:
- apiGroups: [${groupOf(p.j)}]
  resources: [${pluralOf(p.j)}, ${pluralOf(p.j)}/status]
  verbs: [get, list, watch, update, patch]
- apiGroups: [""]
  resources: [configmaps, secrets, services]
  verbs: [get, list, watch, create, update, delete]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, update, delete]
`;
}

function role(p: Pkg, x: number): string {
  return `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: ${p.name}
rules:
- apiGroups: [${groupOf(x)}]
  resources: [${pluralOf(x)}]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
`;
}

function instance(p: Pkg, y: number, version: string): string {
  return `apiVersion: ${groupOf(y)}/${version}
kind: ${kindOf(y)}
metadata:
  name: ${p.name}-${kindOf(y).toLowerCase()}
spec:
  size: small
  replicas: 1
  backup: {schedule: "0 3 * * *", retentionDays: 7}
`;
}

function dependency(p: Pkg, on: Pkg, revision: string): string {
  return `apiVersion: claim.pkg.pkgserver.dev/v1alpha1
kind: PackageDependency
metadata:
  name: ${p.name}-needs-${on.name}
spec:
  upstream:
    repository: ${on.repo}
    package: ${on.name}
    revision: "${revision}"
`;
}

/** The files of revision `rev` of a package: a Kptfile and 5 YAML documents. */
function revisionFiles(p: Pkg, rev: number, all: Pkg[], revisions: number): Record<string, string> {
  const files: Record<string, string> = { Kptfile: kptfile(p, rev) };
  if (p.role === 0) {
    files['crd.yaml'] = crd(p, rev);
    files['operator.yaml'] = doc(deployment(p, rev), service(p), clusterRole(p));
    files['config.yaml'] = configMap(p, rev);
    return files;
  }
  const { x, y } = operatorsOf(p.j, all.length);
  files['app.yaml'] = doc(deployment(p, rev), service(p));
  if (p.role === 1) {
    files['config.yaml'] = configMap(p, rev);
    files['rbac.yaml'] = role(p, x);
    files[`${kindOf(y).toLowerCase()}.yaml`] = instance(p, y, 'v1alpha1');
  } else if (p.role === 2) {
    files['rbac.yaml'] = role(p, x);
    files[`${kindOf(y).toLowerCase()}.yaml`] = instance(p, y, revisions >= 3 ? 'v1' : 'v1alpha1');
    files['dependencies.yaml'] = dependency(p, all[p.j - 1], '*');
  } else {
    files['config.yaml'] = configMap(p, rev);
    files[`${kindOf(y).toLowerCase()}.yaml`] = instance(p, y, 'v1alpha1');
    files['dependencies.yaml'] = dependency(p, all[p.j - 1], revisions >= 2 ? '>=v2' : '*');
  }
  return files;
}

/** The packages a revision's dependencies must name once resolved. */
function expected(p: Pkg, all: Pkg[]): string[] {
  if (p.role === 0) return [];
  const { x, y } = operatorsOf(p.j, all.length);
  const out = new Set<number>([y]);
  if (p.role === 1 || p.role === 2) out.add(x);
  if (p.role >= 2) out.add(p.j - 1);
  return [...out].map((k) => `${all[k].repo}/${all[k].name}`);
}

const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;

/** The fast-import stream of one repository: revision-major, a commit and a tag `<pkg>/vN` per revision. */
function fastImportStream(pkgs: Pkg[], all: Pkg[], revisions: number, startTime: number): string {
  const out: string[] = [];
  let mark = 0;
  let t = startTime;
  for (let rev = 1; rev <= revisions; rev++)
    for (const p of pkgs) {
      mark++;
      t++;
      out.push(`commit refs/heads/main\nmark :${mark}\nauthor Bench Author <author@example.com> ${t} +0000\ncommitter Bench Committer <committer@example.com> ${t} +0000\n`);
      out.push(data(`Release ${p.name} v${rev}\n`));
      // every file of the revision (a file the package no longer has would stay: none goes)
      for (const [file, content] of Object.entries(revisionFiles(p, rev, all, revisions))) out.push(`M 100644 inline ${p.name}/${file}\n${data(content)}`);
      out.push(`\nreset refs/tags/${p.name}/v${rev}\nfrom :${mark}\n\n`);
    }
  out.push('done\n');
  return out.join('');
}

// ---------------------------------------------------------------- server observation

/** Sum of the samples of `name` whose labels include `labels`, in a Prometheus text exposition. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const brace = line[name.length] === '{' ? line.indexOf('}') : -1;
    const labelText = brace >= 0 ? line.slice(name.length + 1, brace) : '';
    if (!Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice((brace >= 0 ? brace : name.length) + 1).trim().split(' ')[0]);
  }
  return sum;
}

const metricsText = async (client: BenchClient) => (await client.ok('GET', '/metrics', { accept: 'text/plain' })).body.toString('utf8');

function counters(text: string): ServerCounters {
  const reconciles: Record<string, number> = {};
  for (const result of ['success', 'error', 'requeue', 'requeue_after']) reconciles[result] = metric(text, 'controller_runtime_reconcile_total', { controller: 'discovery', result });
  return {
    reconciles,
    queueAdds: metric(text, 'workqueue_adds_total', { name: 'discovery' }),
    queueRetries: metric(text, 'workqueue_retries_total', { name: 'discovery' }),
    documents: { memory: metric(text, 'pkgserver_package_documents_total', { source: 'memory' }), disk: metric(text, 'pkgserver_package_documents_total', { source: 'disk' }), git: metric(text, 'pkgserver_package_documents_total', { source: 'git' }) },
    gitFileReads: metric(text, 'pkgserver_git_file_reads_total'),
  };
}

const reconciled = (c: ServerCounters) => Object.values(c.reconciles).reduce((a, b) => a + b, 0);
/** nothing queued and every add reconciled (a key being reconciled counts as not reconciled yet) */
const idle = (text: string, c: ServerCounters) => metric(text, 'workqueue_depth', { name: 'discovery' }) === 0 && c.queueAdds === reconciled(c);

async function memoryOf(srv: BenchServer, client: BenchClient): Promise<MemoryFigures> {
  const text = await metricsText(client);
  const m = srv.memory();
  const mib = (x: number) => round(x / 2 ** 20, 1);
  return { rssMiB: round(m.rssMiB, 1), hwmMiB: round(m.hwmMiB, 1), heapUsedMiB: mib(metric(text, 'nodejs_heap_size_used_bytes')), heapTotalMiB: mib(metric(text, 'nodejs_heap_size_total_bytes')) };
}

interface RevState {
  condition?: string;
  reason?: string;
  packages: string[];
  warnings: string[];
}

/**
 * One watch of the namespace's PackageRevisions from `rv`: the latest condition and dependencies of
 * each, with the time every revision was first seen and the time all conditions were last seen
 * turning True. Reopened from the last resourceVersion when the server ends the stream.
 */
function watchRevisions(baseURL: string, tls: ReturnType<BenchServer['tls']>, rv: string, total: number) {
  const state = new Map<string, RevState>();
  let trueCount = 0;
  let events = 0;
  let allListedAt: number | undefined;
  let allTrueAt: number | undefined;
  let lastRV = rv;
  let stopped = false;
  let failure: Error | undefined;
  let req: ClientRequest | undefined;
  const base = new URL(baseURL);
  const agent = new https.Agent({ keepAlive: false, ca: tls.ca, cert: tls.cert, key: tls.key });
  const onEvent = (ev: { type: string; object: any }) => {
    if (ev.type === 'ERROR') {
      failure = new Error(`watch of PackageRevisions: ${JSON.stringify(ev.object).slice(0, 500)}`);
      return;
    }
    const o = ev.object;
    lastRV = o.metadata.resourceVersion;
    if (ev.type === 'BOOKMARK') return;
    events++;
    const name: string = o.metadata.name;
    const before = state.get(name);
    if (before?.condition === 'True') trueCount--;
    if (ev.type === 'DELETED') {
      state.delete(name);
      return;
    }
    const c = (o.status?.conditions ?? []).find((x: any) => x.type === CONDITION);
    const deps = o.status?.dependencies;
    const s: RevState = { condition: c?.status, reason: c?.reason, packages: (deps?.packages ?? []).map((p: any) => `${p.repository}/${p.package}`), warnings: deps?.warnings ?? [] };
    state.set(name, s);
    if (s.condition === 'True') trueCount++;
    if (allListedAt === undefined && state.size >= total) allListedAt = now();
    if (trueCount < total) allTrueAt = undefined;
    else allTrueAt ??= now();
  };
  const open = () => {
    req = https.request({ hostname: base.hostname, port: base.port, path: `${PKG}/namespaces/${NAMESPACE}/packagerevisions?watch=true&allowWatchBookmarks=true&resourceVersion=${lastRV}`, headers: { Accept: 'application/json' }, agent }, (res) => {
      if (res.statusCode !== 200) {
        failure = new Error(`watch of PackageRevisions: HTTP ${res.statusCode}`);
        res.resume();
        return;
      }
      onWatchEvents(res, onEvent);
      res.on('error', () => undefined);
      res.on('end', () => {
        if (!stopped) open();
      });
    });
    req.on('error', (e) => {
      if (!stopped) failure = e;
    });
    req.end();
  };
  open();
  return {
    state,
    get events() {
      return events;
    },
    get allListedAt() {
      return allListedAt;
    },
    get allTrueAt() {
      return allTrueAt;
    },
    check() {
      if (failure) throw failure;
    },
    stop() {
      stopped = true;
      req?.destroy();
      agent.destroy();
    },
  };
}

/** The first error lines of a server's log (for a failure message). */
const serverErrors = (srv: BenchServer) =>
  srv.problems
    .filter((l) => /"level":(50|60)/.test(l))
    .slice(0, 3)
    .map((l) => l.slice(0, 500))
    .join('\n') || 'none';

/** Polls `cond` every `everyMs` until it returns a value, or throws after `timeoutMs`. */
async function until<T>(what: string, timeoutMs: number, everyMs: number, cond: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v !== undefined) return v;
    if (now() > deadline) throw new Error(`discovery bench: ${what} not reached after ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// ---------------------------------------------------------------- the git CLI reference

/** Runs git; resolves with stdout as bytes. */
function gitBytes(cwd: string, args: string[], input?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn('git', args, { cwd, env: GIT_ENV, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout!.on('data', (c: Buffer) => out.push(c));
    p.stderr!.on('data', (c: Buffer) => err.push(c));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`git ${args.join(' ')} exited with ${code}: ${Buffer.concat(err).toString('utf8')}`))));
    if (input !== undefined) p.stdin!.end(input);
  });
}

/** The regular files of a tar archive (ustar, pax headers as git archive writes them). */
function tarFiles(buf: Buffer): { name: string; data: Buffer }[] {
  const out: { name: string; data: Buffer }[] = [];
  const str = (off: number, len: number) => {
    const s = buf.subarray(off, off + len);
    const nul = s.indexOf(0);
    return s.subarray(0, nul < 0 ? len : nul).toString('utf8');
  };
  let paxPath: string | undefined;
  for (let off = 0; off + 512 <= buf.length; ) {
    if (buf[off] === 0) break; // the end-of-archive blocks
    const name = str(off, 100);
    const size = parseInt(str(off + 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(buf[off + 156]);
    const prefix = str(off + 345, 155);
    const body = buf.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1];
      continue;
    }
    if (type !== '0' && type !== '\0') continue; // directories, the global pax header (commit id)
    out.push({ name: paxPath ?? (prefix ? `${prefix}/${name}` : name), data: body });
    paxPath = undefined;
  }
  return out;
}

/** Parses the YAML files of a package as the server's document extraction does (every document to plain data); returns the documents with a kind. */
function parseYAML(files: { name: string; data: Buffer | string }[]): number {
  let docs = 0;
  for (const f of files) {
    if (!/\.ya?ml$/.test(f.name) || /(^|\/)kustomization\.ya?ml$/.test(f.name)) continue;
    for (const d of YAML.parseAllDocuments(f.data.toString(), { logLevel: 'silent' }) as YAML.Document[]) {
      const v = d.toJS({ maxAliasCount: 100 }) as { kind?: unknown } | null;
      if (v && typeof v.kind === 'string') docs++;
    }
  }
  return docs;
}

// ---------------------------------------------------------------- the scenario

export async function discoveryBench(opts: {
  gitServer: GitServer;
  /** a directory of the run (the server's data directory and log go here) */
  workDir: string;
  packages: number;
  revisions: number;
  serverArgs: string[];
  nodeArgs: string[];
  timeoutMs: number;
  log: (msg: string) => void;
  /** monotonic-clock bounds of the measured phases (µs), for BENCH_PROFILE */
  mark?: (op: string, startMs: number, endMs: number) => void;
  /** servers to stop on an interrupted run */
  onServer?: (srv: BenchServer) => void;
}): Promise<DiscoveryResult> {
  const { gitServer, log } = opts;
  const P = opts.packages;
  const V = opts.revisions;
  const TOTAL = P * V;
  const all = catalog(P);
  const roles = [0, 1, 2, 3].map((r) => all.filter((p) => p.role === r).length);

  // ------------------------------------------------------------ git data
  let t0 = now();
  const bares = new Map<string, string>();
  const base = Math.floor(Date.now() / 1000) - TOTAL - 3600;
  await Promise.all(
    REPOS.map(async (name, i) => {
      const bare = await gitServer.createBareRepo(name);
      bares.set(name, bare);
      await gitIn(bare, ['fast-import', '--quiet', '--done'], fastImportStream(all.filter((p) => p.repo === name), all, V, base + i * TOTAL));
      await gitIn(bare, ['pack-refs', '--all', '--prune']);
    }),
  );
  const gitBuildMs = now() - t0;
  log(`discovery: ${P} packages × ${V} revisions = ${TOTAL} revisions (5 documents each) in ${REPOS.length} catalog repositories, built in ${Math.round(gitBuildMs)} ms`);

  // ------------------------------------------------------------ the git CLI reference
  const revs = all.flatMap((p) => Array.from({ length: V }, (_, i) => ({ p, rev: i + 1 })));
  const cpu = () => {
    const c = procCpuMs('self');
    return c.self + c.children;
  };
  const archive = { wallMs: 0, cpuMs: 0, parseMs: 0, files: 0, documents: 0, bytes: 0 };
  {
    const c0 = cpu();
    t0 = now();
    let next = 0;
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        for (let i = next++; i < revs.length; i = next++) {
          const { p, rev } = revs[i];
          const tar = await gitBytes(bares.get(p.repo)!, ['archive', '--format=tar', `refs/tags/${p.name}/v${rev}:${p.name}`]);
          const files = tarFiles(tar);
          const tp = now();
          archive.documents += parseYAML(files);
          archive.parseMs += now() - tp;
          archive.files += files.length;
          archive.bytes += files.reduce((a, f) => a + f.data.length, 0);
        }
      }),
    );
    archive.wallMs = now() - t0;
    archive.cpuMs = cpu() - c0;
  }
  const catFile = { wallMs: 0, cpuMs: 0, parseMs: 0, files: 0, documents: 0, bytes: 0 };
  {
    const specsOf = new Map(REPOS.map((repo) => [repo, revs.filter((r) => r.p.repo === repo).flatMap(({ p, rev }) => Object.keys(revisionFiles(p, rev, all, V)).map((f) => ({ spec: `refs/tags/${p.name}/v${rev}:${p.name}/${f}`, name: f })))]));
    const c0 = cpu();
    t0 = now();
    for (const repo of REPOS) {
      const specs = specsOf.get(repo)!;
      const out = await gitBytes(bares.get(repo)!, ['cat-file', '--batch'], specs.map((s) => `${s.spec}\n`).join(''));
      const files: { name: string; data: Buffer }[] = [];
      let off = 0;
      for (const s of specs) {
        const nl = out.indexOf(10, off);
        const header = out.subarray(off, nl).toString('utf8').split(' ');
        if (header[1] !== 'blob') throw new Error(`git cat-file --batch: ${s.spec}: ${header.join(' ')}`);
        const size = Number(header[2]);
        files.push({ name: s.name, data: out.subarray(nl + 1, nl + 1 + size) });
        off = nl + 1 + size + 1;
      }
      const tp = now();
      catFile.documents += parseYAML(files);
      catFile.parseMs += now() - tp;
      catFile.files += files.length;
      catFile.bytes += files.reduce((a, f) => a + f.data.length, 0);
    }
    catFile.wallMs = now() - t0;
    catFile.cpuMs = cpu() - c0;
  }
  if (archive.documents !== TOTAL * 5 || catFile.documents !== TOTAL * 5) throw new Error(`discovery reference: ${archive.documents} / ${catFile.documents} documents, expected ${TOTAL * 5}`);
  log(`discovery reference: git archive × ${TOTAL} (${WORKERS} at a time) + YAML parse ${Math.round(archive.wallMs)} ms; one git cat-file --batch + parse ${Math.round(catFile.wallMs)} ms (parse ${Math.round(catFile.parseMs)} ms)`);

  // ------------------------------------------------------------ cold start
  const dataDir = path.join(opts.workDir, 'discovery-server');
  await mkdir(dataDir, { recursive: true });
  const logFile = path.join(opts.workDir, 'discovery-server.log');
  const levels: Record<string, number> = {};
  const errors: string[] = [];
  const collect = (srv: BenchServer) => {
    for (const [l, n] of Object.entries(srv.levels)) levels[l] = (levels[l] ?? 0) + n;
    for (const line of srv.problems) if (/"level":50/.test(line) && errors.length < 10) errors.push(line.slice(0, 600));
  };
  const start = async () => {
    const srv = await startPkgServer({ dataDir, args: opts.serverArgs, nodeArgs: opts.nodeArgs, logFile });
    opts.onServer?.(srv);
    return srv;
  };
  t0 = now();
  const srv = await start();
  const serverStartMs = now() - t0;
  let client = new BenchClient(srv.url, srv.tls());
  const memoryBefore = await memoryOf(srv, client);
  const emptyRV = (await client.ok('GET', `${PKG}/namespaces/${NAMESPACE}/packagerevisions`)).json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion;
  const watch = watchRevisions(srv.url, srv.tls(), emptyRV, TOTAL);
  let cpu0 = srv.cpuMs();
  const registered = now();
  for (const name of REPOS)
    await client.ok('POST', `${CFG}/namespaces/${NAMESPACE}/repositories`, {
      body: {
        apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
        kind: 'Repository',
        metadata: { name, namespace: NAMESPACE },
        spec: { type: 'git', deployment: false, git: { url: gitServer.url(name), ref: 'main', directory: '' }, sync: { period: '1h' } },
      },
    });
  const listedAt = await until('every revision listed', opts.timeoutMs, 50, () => {
    watch.check();
    return watch.allListedAt;
  });
  log(`discovery cold start: all ${TOTAL} revisions listed ${Math.round(listedAt - registered)} ms after registering`);
  // progress every 10 s; a stall (no PackageRevision event and no reconcile for STALL_MS) fails the run with what the server said
  let lastReport = now();
  let lastProgress = { at: now(), events: 0, reconciles: 0 };
  await until('every revision discovered (condition True)', opts.timeoutMs, 50, async () => {
    watch.check();
    if (now() - lastReport > 10_000) {
      lastReport = now();
      const st = [...watch.state.values()];
      const reasons = new Map<string, number>();
      for (const x of st) if (x.condition === 'False') reasons.set(x.reason ?? '', (reasons.get(x.reason ?? '') ?? 0) + 1);
      const k = counters(await metricsText(client));
      log(
        `discovery cold start: ${st.filter((x) => x.condition === 'True').length} True, ${st.filter((x) => x.condition === 'False').length} False (${[...reasons].map(([r, n]) => `${n} ${r}`).join(', ')}), ${st.filter((x) => !x.condition).length} without the condition; reconciles ${JSON.stringify(k.reconciles)}`,
      );
      if (watch.events !== lastProgress.events || reconciled(k) !== lastProgress.reconciles) lastProgress = { at: now(), events: watch.events, reconciles: reconciled(k) };
      else if (now() - lastProgress.at > STALL_MS) throw new Error(`discovery bench: no progress for ${STALL_MS / 1000} s (${watch.events} events, reconciles ${JSON.stringify(k.reconciles)}); the server's first errors: ${serverErrors(srv)}`);
    }
    return watch.allTrueAt;
  });
  let text = '';
  let c: ServerCounters | undefined;
  const settledAt = await until('the discovery queue idle', opts.timeoutMs, 100, async () => {
    watch.check();
    text = await metricsText(client);
    c = counters(text);
    return watch.allTrueAt !== undefined && idle(text, c) ? now() : undefined;
  });
  const discoveredAt = watch.allTrueAt!;
  const coldCpu = srv.cpuMs() - cpu0;
  opts.mark?.('discovery: cold start', registered, settledAt);
  const memoryAfter = await memoryOf(srv, client);
  const coldCounters = c!;
  const packageAPIs = (await client.ok('GET', `${PKG}/namespaces/${NAMESPACE}/packageapis`)).json<{ items: unknown[] }>().items.length;
  const events = watch.events;
  watch.stop();
  log(
    `discovery cold start: all conditions True after ${Math.round(discoveredAt - registered)} ms, queue idle after ${Math.round(settledAt - registered)} ms; ${reconciled(coldCounters)} reconciles, documents from git ${coldCounters.documents.git}; RSS ${memoryBefore.rssMiB} → ${memoryAfter.rssMiB} MiB`,
  );

  // the final state, as a client lists it
  const byName = new Map<string, Pkg>(all.flatMap((p) => Array.from({ length: V }, (_, i) => [`${p.name}/v${i + 1}`, p] as const)));
  const listCheck = async (cl: BenchClient) => {
    const items = (await cl.ok('GET', `${PKG}/namespaces/${NAMESPACE}/packagerevisions`)).json<{ items: any[] }>().items;
    let conditionsTrue = 0;
    let incomplete = 0;
    let withWarnings = 0;
    const incompleteExamples: string[] = [];
    const warningExamples: string[] = [];
    for (const o of items) {
      const id = o.spec.packageRevID;
      const p = byName.get(`${id.package}/${id.revision}`);
      if (!p) continue;
      const cond = (o.status?.conditions ?? []).find((x: any) => x.type === CONDITION);
      if (cond?.status === 'True') conditionsTrue++;
      const have = new Set<string>((o.status?.dependencies?.packages ?? []).map((d: any) => `${d.repository}/${d.package}`));
      const lacking = expected(p, all).filter((e) => !have.has(e));
      if (lacking.length) {
        incomplete++;
        if (incompleteExamples.length < 3) incompleteExamples.push(`${o.metadata.name}: lacks ${lacking.join(', ')}; condition ${cond?.status} ${cond?.reason}: ${cond?.message}`);
      }
      const warnings: string[] = o.status?.dependencies?.warnings ?? [];
      if (warnings.length) {
        withWarnings++;
        if (warningExamples.length < 3) warningExamples.push(`${o.metadata.name}: ${warnings[0]}`);
      }
    }
    return { conditionsTrue, incomplete, incompleteExamples, withWarnings, warningExamples };
  };
  const coldCheck = await listCheck(client);
  if (coldCheck.incomplete) log(`discovery cold start: ${coldCheck.incomplete} revisions lack a package dependency, e.g. ${coldCheck.incompleteExamples[0]}`);

  // ------------------------------------------------------------ restart on the same data directory
  client.close();
  t0 = now();
  await srv.stop();
  const stopMs = now() - t0;
  collect(srv);
  t0 = now();
  const again = await start();
  const servingMs = now() - t0;
  client = new BenchClient(again.url, again.tls());
  cpu0 = again.cpuMs();
  let progress = { at: now(), reconciles: 0 };
  const rediscoveredAt = await until('discovery re-run for every revision after the restart', opts.timeoutMs, 100, async () => {
    text = await metricsText(client);
    c = counters(text);
    if (reconciled(c) !== progress.reconciles) progress = { at: now(), reconciles: reconciled(c) };
    else if (now() - progress.at > STALL_MS) throw new Error(`discovery bench: after the restart, no reconcile for ${STALL_MS / 1000} s (reconciles ${JSON.stringify(c.reconciles)}); the server's first errors: ${serverErrors(again)}`);
    return reconciled(c) >= TOTAL && idle(text, c) ? now() : undefined;
  });
  const restartCpu = again.cpuMs() - cpu0;
  opts.mark?.('discovery: restart', t0, rediscoveredAt);
  const restartCounters = c!;
  const memoryRestart = await memoryOf(again, client);
  const restartCheck = await listCheck(client);
  log(
    `discovery restart: serving after ${Math.round(servingMs)} ms, every revision re-discovered ${Math.round(rediscoveredAt - t0)} ms after the start; documents from git ${restartCounters.documents.git}, disk ${restartCounters.documents.disk}, memory ${restartCounters.documents.memory}; RSS ${memoryRestart.rssMiB} MiB`,
  );
  client.close();
  await again.stop();
  collect(again);

  return {
    packages: P,
    revisionsPerPackage: V,
    revisions: TOTAL,
    repositories: REPOS.length,
    documentsPerRevision: 5,
    mix: { operators: roles[0], apps: roles[1] + roles[2] + roles[3], withPackageDependency: roles[2] + roles[3] },
    gitBuildMs: round(gitBuildMs, 0),
    cold: {
      serverStartMs: round(serverStartMs, 0),
      listedMs: round(listedAt - registered, 0),
      discoveredMs: round(discoveredAt - registered, 0),
      settledMs: round(settledAt - registered, 0),
      serverCpuMs: round(coldCpu, 0),
      memoryBefore,
      memoryAfter,
      counters: coldCounters,
      events,
      packageAPIs,
    },
    restart: {
      stopMs: round(stopMs, 0),
      servingMs: round(servingMs, 0),
      discoveredMs: round(rediscoveredAt - t0, 0),
      serverCpuMs: round(restartCpu, 0),
      memoryAfter: memoryRestart,
      counters: restartCounters,
    },
    check: {
      conditionsTrue: coldCheck.conditionsTrue,
      conditionsTrueAfterRestart: restartCheck.conditionsTrue,
      incomplete: Math.max(coldCheck.incomplete, restartCheck.incomplete),
      incompleteExamples: coldCheck.incompleteExamples.length ? coldCheck.incompleteExamples : restartCheck.incompleteExamples,
      withWarnings: coldCheck.withWarnings,
      warningExamples: coldCheck.warningExamples,
    },
    reference: {
      archive: { ...archive, wallMs: round(archive.wallMs, 0), cpuMs: round(archive.cpuMs, 0), parseMs: round(archive.parseMs, 0) },
      catFile: { ...catFile, wallMs: round(catFile.wallMs, 0), cpuMs: round(catFile.cpuMs, 0), parseMs: round(catFile.parseMs, 0) },
    },
    serverLogLevels: levels,
    serverErrors: errors,
    logFile,
  };
}
