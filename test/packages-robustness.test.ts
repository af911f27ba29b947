// Robustness of the git-backed packages (issue 3, "What it must show": concurrency, recovery,
// unreachable remotes), against the real server process and a real `git http-backend` server,
// checked through the API (raw HTTPS) and with the git CLI on fresh clones.
//
// * 20 parallel publishes into one repository all land: 20 tags, 20 publish commits.
// * Two server processes publishing into one remote never lose a commit (compare-and-swap + retry).
// * kill -9 in the middle of a publish (PKGSERVER_TEST_PAUSE), restart: published or proposed, never half
//   (before and after the one atomic push; with a remote without atomic pushes, between its pushes).
// * A wiped object store is rebuilt from git (trailers): names, lifecycles, revisions, labels.
// * A dead remote or wrong credentials: Ready=False with the reason; the rest keeps working; recovery.
//
// The tests are serial: each one drives one or two servers and a git server hard, and this runs
// on a 2-core machine.
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { adminTLS, startServer, type ServerHandle, type StartOptions } from './helpers/server.ts';
import { git, startGitServer, type GitServer, type GitServerOptions } from './helpers/gitserver.ts';
import { HttpClient, type HttpResponse } from './helpers/http.ts';
import { poll } from './helpers/poll.ts';

const PKG = 'pkg.pkgserver.dev/v1alpha1';
const CFG = 'config.pkg.pkgserver.dev/v1alpha1';
const LATEST = 'pkg.pkgserver.dev/latest-revision';
const ADMIN = 'admin';
const MERGE = 'application/merge-patch+json';

const prPath = (ns: string, name?: string) => `/apis/${PKG}/namespaces/${ns}/packagerevisions${name ? `/${name}` : ''}`;
const prrPath = (ns: string, name: string) => `/apis/${PKG}/namespaces/${ns}/packagerevisionresources/${name}`;
const repoPath = (ns: string, name?: string) => `/apis/${CFG}/namespaces/${ns}/repositories${name ? `/${name}` : ''}`;

// ------------------------------------------------------------------------------------------------
// processes and directories, all released in after.always

const servers = new Set<ServerHandle>();
const gitServers = new Set<GitServer>();
const dirs = new Set<string>();

/** servers of the running test (the tests are serial), whose warnings are shown when it fails */
let current: ServerHandle[] = [];

/** The git servers' push credentials (`startGitServer`'s defaults), for every server's credentials file. */
const GIT_CREDS = 'gitserver';
let credsFile: string | undefined;

async function start(opts: StartOptions = {}): Promise<ServerHandle> {
  if (!credsFile) {
    credsFile = path.join(await tmp('robust-creds-'), 'credentials.yaml');
    await writeFile(credsFile, `${GIT_CREDS}:\n  username: git\n  password: secret\n`);
  }
  const h = await startServer({ controllers: true, ...opts, args: opts.args ?? ['--credentials-file', credsFile] });
  servers.add(h);
  current.push(h);
  return h;
}

test.beforeEach(() => {
  current = [];
});

test.afterEach.always((t) => {
  if (t.passed) return;
  for (const h of current) {
    const notable = h.logs.filter((l) => /"level":(40|50|60)/.test(l) || !l.startsWith('{'));
    t.log(`server ${h.url} (${h.dataDir}), warnings and errors:\n${notable.slice(-40).join('\n')}`);
  }
});

async function gitServer(opts: GitServerOptions = {}): Promise<GitServer> {
  const g = await startGitServer(opts);
  gitServers.add(g);
  return g;
}

async function tmp(prefix: string): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), prefix));
  dirs.add(d);
  return d;
}

test.after.always(async () => {
  await Promise.all([...servers].map((h) => h.kill().catch(() => undefined)));
  await Promise.all([...gitServers].map((g) => g.stop().catch(() => undefined)));
  await Promise.all([...servers].map((h) => rm(h.dataDir, { recursive: true, force: true })));
  await Promise.all([...dirs].map((d) => rm(d, { recursive: true, force: true })));
});

// ------------------------------------------------------------------------------------------------
// API helpers

const client = (h: ServerHandle) => new HttpClient(h.url, adminTLS(h));

/** The response, or an error naming what was expected and what came back. */
function expectStatus(r: HttpResponse, status: number, what: string): HttpResponse {
  if (r.status !== status) throw new Error(`${what}: expected HTTP ${status}, got ${r.status}: ${typeof r.body === 'string' ? r.body : JSON.stringify(r.body)}`);
  return r;
}


interface RepoOpts {
  deployment: boolean;
  /** default: the git servers' push credentials */
  credentials?: string;
  period?: string;
}

async function createRepository(c: HttpClient, ns: string, name: string, url: string, o: RepoOpts): Promise<void> {
  expectStatus(
    await c.post(repoPath(ns), {
      apiVersion: CFG,
      kind: 'Repository',
      metadata: { name, namespace: ns },
      spec: { type: 'git', deployment: o.deployment, git: { url, ref: 'main', directory: '', credentials: o.credentials ?? GIT_CREDS }, sync: { period: o.period ?? '2s' } },
    }),
    201,
    `create Repository ${name}`,
  );
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

async function readyOf(c: HttpClient, ns: string, name: string): Promise<Condition | undefined> {
  const r = expectStatus(await c.get(repoPath(ns, name)), 200, `get Repository ${name}`);
  return (r.body.status?.conditions as Condition[] | undefined)?.find((x) => x.type === 'Ready');
}

/** Waits for the Repository's Ready condition to have `status` (and `reason`), and returns it. */
function waitReady(c: HttpClient, ns: string, name: string, status: 'True' | 'False', reason?: string, ms = 30_000): Promise<Condition> {
  return poll(`Repository ${name} Ready=${status}${reason ? ` (${reason})` : ''}`, async () => {
    const cond = await readyOf(c, ns, name);
    return cond && cond.status === status && (!reason || cond.reason === reason) ? cond : undefined;
  }, ms);
}

/** Asks for a sync now (any annotation change triggers one). */
async function triggerSync(c: HttpClient, ns: string, name: string): Promise<void> {
  expectStatus(await c.patch(repoPath(ns, name), { metadata: { annotations: { 'pkg.pkgserver.dev/sync': String(Date.now()) } } }, MERGE), 200, `annotate Repository ${name}`);
}

interface ID {
  target: string;
  repository: string;
  realm: string;
  package: string;
  workspace: string;
}

const prName = (id: ID) => [id.target, id.repository, id.realm.replace(/\//g, ':'), id.package, id.workspace].join('.');

async function createDraft(c: HttpClient, ns: string, id: ID, labels?: Record<string, string>): Promise<any> {
  const name = prName(id);
  const r = await c.post(prPath(ns), {
    apiVersion: PKG,
    kind: 'PackageRevision',
    metadata: { name, namespace: ns, ...(labels ? { labels } : {}) },
    spec: { packageRevID: id, tasks: [{ type: 'init' }] },
  });
  return expectStatus(r, 201, `create ${name}`).body;
}

async function setLifecycle(c: HttpClient, ns: string, name: string, lifecycle: string): Promise<any> {
  return expectStatus(await c.patch(prPath(ns, name), { spec: { lifecycle } }, MERGE), 200, `${name} → ${lifecycle}`).body;
}

/** create (init) → proposed → published; returns the published object. */
async function publishFlow(c: HttpClient, ns: string, id: ID, labels?: Record<string, string>): Promise<any> {
  await createDraft(c, ns, id, labels);
  await setLifecycle(c, ns, prName(id), 'proposed');
  return setLifecycle(c, ns, prName(id), 'published');
}

async function listPRs(c: HttpClient, ns: string, repository: string): Promise<any[]> {
  const r = expectStatus(await c.get(`${prPath(ns)}?fieldSelector=${encodeURIComponent(`spec.packageRevID.repository=${repository}`)}`), 200, 'list PackageRevisions');
  return (r.body.items as any[]).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
}

// ------------------------------------------------------------------------------------------------
// git CLI helpers (asynchronous: the git server runs in this process)

async function freshClone(url: string): Promise<string> {
  const dir = path.join(await tmp('robust-clone-'), 'repo');
  await git(os.tmpdir(), 'clone', '--quiet', url, dir);
  return dir;
}

const lines = (s: string) => s.split('\n').filter(Boolean);

/** tag name → the commit it points at */
async function remoteTags(dir: string): Promise<Map<string, string>> {
  const out = lines(await git(dir, 'for-each-ref', '--format=%(refname:strip=2) %(objectname)', 'refs/tags/'));
  return new Map(out.map((l) => l.split(' ') as [string, string]));
}

/** branch names on the remote */
async function remoteBranches(url: string): Promise<string[]> {
  return lines(await git(os.tmpdir(), 'ls-remote', '--heads', url)).map((l) => l.split('\t')[1].replace(/^refs\/heads\//, '')).sort();
}

/** subjects of the first-parent history of main, newest first */
async function mainSubjects(dir: string): Promise<string[]> {
  return lines(await git(dir, 'log', '--first-parent', '--format=%s', 'origin/main'));
}

/** The `pkgserver:` trailer of a commit, parsed. */
async function trailerOf(dir: string, commit: string): Promise<any> {
  const msg = await git(dir, 'log', '-1', '--format=%B', commit);
  const line = lines(msg).reverse().find((l) => l.startsWith('pkgserver: '));
  return line ? JSON.parse(line.slice('pkgserver: '.length)) : undefined;
}

/** Files a commit changed (relative to its first parent). */
async function changedFiles(dir: string, commit: string): Promise<string[]> {
  return lines(await git(dir, 'diff-tree', '--no-commit-id', '--name-only', '-r', `${commit}^`, commit)).sort();
}

const range = (n: number) => [...Array(n).keys()];
const pad = (i: number) => String(i).padStart(2, '0');
const sorted = (xs: string[]) => [...xs].sort();

// ================================================================================================

test.serial('20 parallel publishes to different packages of one repository all land: 20 tags, 20 commits', async (t) => {
  t.timeout(180_000);
  const gs = await gitServer();
  await gs.createBareRepo('deploy-par', { initialFiles: { 'README.md': '# deployments\n' } });
  const h = await start();
  const c = client(h);
  const ns = 'par';
  await createRepository(c, ns, 'deploy-par', gs.url('deploy-par'), { deployment: true, period: '3s' });
  await waitReady(c, ns, 'deploy-par', 'True');

  const ids = range(20).map((i): ID => ({ target: 'cluster01', repository: 'deploy-par', realm: 'apps', package: `app-${pad(i)}`, workspace: 'ws1' }));
  const published = await Promise.all(ids.map((id) => publishFlow(c, ns, id)));

  // the API: every one published as v1, with its tag and commit
  for (const [i, pr] of published.entries()) {
    const id = ids[i];
    t.is(pr.metadata.name, prName(id));
    t.is(pr.spec.lifecycle, 'published');
    t.is(pr.spec.packageRevID.revision, 'v1');
    t.is(pr.status.publishedBy, ADMIN);
    t.is(pr.status.git.tag, `cluster01/apps/app-${pad(i)}/v1`);
    t.is(pr.metadata.labels?.[LATEST], 'true');
  }

  // git, on a fresh clone
  const dir = await freshClone(gs.url('deploy-par'));
  const tags = await remoteTags(dir);
  t.deepEqual(sorted([...tags.keys()]), ids.map((id) => `cluster01/apps/${id.package}/v1`));
  t.is((await git(dir, 'rev-list', '--count', 'origin/main')).trim(), '21'); // the initial commit + 20 publishes
  const subjects = await mainSubjects(dir);
  t.is(subjects.length, 21);
  t.is(subjects.at(-1), 'Initial commit');
  t.deepEqual(sorted(subjects.slice(0, 20)), ids.map((id) => `Publish ${id.package} v1 (cluster01/deploy-par/apps/${id.package})`));
  t.deepEqual(await remoteBranches(gs.url('deploy-par')), ['main']); // no draft or proposed branch left
  t.deepEqual(sorted(await readdir(path.join(dir, 'cluster01/apps'))), ids.map((id) => id.package));
  for (const [i, id] of ids.entries()) {
    const tagCommit = tags.get(`cluster01/apps/${id.package}/v1`)!;
    t.is(published[i].status.git.commit, tagCommit, `${id.package}: the API's commit is the tag's`);
    t.is((await git(dir, 'log', '-1', '--format=%s', tagCommit)).trim(), `Publish ${id.package} v1 (cluster01/deploy-par/apps/${id.package})`);
    // a publish commit changes only its package directory
    t.true((await changedFiles(dir, tagCommit)).every((f) => f.startsWith(`cluster01/apps/${id.package}/`)), `${id.package}: the publish commit touches only its package`);
    t.is((await trailerOf(dir, tagCommit)).spec.packageRevID.revision, 'v1');
    t.deepEqual(sorted(await readdir(path.join(dir, `cluster01/apps/${id.package}`))), ['Kptfile', 'kustomization.yaml']);
  }
});

// ================================================================================================

test.serial('two server processes publishing into one remote repository never lose a commit', async (t) => {
  t.timeout(240_000);
  const gs = await gitServer();
  await gs.createBareRepo('shared', { initialFiles: { 'README.md': '# shared catalog\n' } });
  const [a, b] = await Promise.all([start(), start()]);
  const ca = client(a);
  const cb = client(b);
  const ns = 'two';
  // No periodic sync while publishing: a server then learns of the other's commits only from a
  // rejected compare-and-swap push (fetch, rebuild on the new head, retry), so that path must run.
  await Promise.all([
    createRepository(ca, ns, 'shared', gs.url('shared'), { deployment: false, period: '1h' }),
    createRepository(cb, ns, 'shared', gs.url('shared'), { deployment: false, period: '1h' }),
  ]);
  await Promise.all([waitReady(ca, ns, 'shared', 'True'), waitReady(cb, ns, 'shared', 'True')]);

  const idsOf = (prefix: string) => range(10).map((i): ID => ({ target: 'catalog', repository: 'shared', realm: 'base', package: `${prefix}-${pad(i)}`, workspace: 'ws1' }));
  const idsA = idsOf('a');
  const idsB = idsOf('b');
  const [pubA, pubB] = await Promise.all([Promise.all(idsA.map((id) => publishFlow(ca, ns, id))), Promise.all(idsB.map((id) => publishFlow(cb, ns, id)))]);
  for (const pr of [...pubA, ...pubB]) {
    t.is(pr.spec.lifecycle, 'published');
    t.is(pr.spec.packageRevID.revision, 'v1');
  }

  // git: every publish commit of both servers is on main, each tagged
  const all = [...idsA, ...idsB];
  const dir = await freshClone(gs.url('shared'));
  const tags = await remoteTags(dir);
  t.deepEqual(sorted([...tags.keys()]), all.map((id) => `base/${id.package}/v1`));
  t.is((await git(dir, 'rev-list', '--count', 'origin/main')).trim(), '21');
  const subjects = await mainSubjects(dir);
  t.deepEqual(sorted(subjects.slice(0, 20)), all.map((id) => `Publish ${id.package} v1 (catalog/shared/base/${id.package})`));
  t.is(subjects[20], 'Initial commit');
  t.deepEqual(sorted(await readdir(path.join(dir, 'base'))), all.map((id) => id.package));
  for (const [i, pr] of [...pubA, ...pubB].entries()) {
    const tagCommit = tags.get(`base/${all[i].package}/v1`)!;
    t.is(pr.status.git.commit, tagCommit, `${all[i].package}: the API's commit is the tag's`);
    t.is((await git(dir, 'merge-base', '--is-ancestor', tagCommit, 'origin/main').then(() => 'on main')), 'on main');
  }
  t.deepEqual(await remoteBranches(gs.url('shared')), ['main']);
  const retries = [...a.logs, ...b.logs].filter((l) => l.includes('shared: main moved, rebuilding on the new head'));
  t.true(retries.length >= 1, 'at least one push was rejected and retried on the new head');

  // after a sync, each server lists all 20 as published v1, with the tag's commit
  const want = all.map((id) => ({ name: prName(id), lifecycle: 'published', revision: 'v1', commit: tags.get(`base/${id.package}/v1`)!, tag: `base/${id.package}/v1`, publishedBy: ADMIN, latest: 'true' }));
  for (const [h, c] of [[a, ca], [b, cb]] as const) {
    await triggerSync(c, ns, 'shared');
    const got = await poll(`server ${h.url} lists all 20 published`, async () => {
      const items = (await listPRs(c, ns, 'shared')).map((p) => ({
        name: p.metadata.name,
        lifecycle: p.spec.lifecycle,
        revision: p.spec.packageRevID.revision,
        commit: p.status?.git?.commit,
        tag: p.status?.git?.tag,
        publishedBy: p.status?.publishedBy,
        latest: p.metadata.labels?.[LATEST],
      }));
      return JSON.stringify(items) === JSON.stringify(want) ? items : undefined;
    }, 60_000);
    t.deepEqual(got, want);
  }

  // a draft made on A, seen by B's sync, deleted through A: deleting it through B (which has not
  // synced since) finds the branch gone and succeeds
  const extra: ID = { target: 'catalog', repository: 'shared', realm: 'base', package: 'a-extra', workspace: 'ws1' };
  await createDraft(ca, ns, extra);
  await triggerSync(cb, ns, 'shared');
  await poll('B lists the draft made on A', async () => ((await cb.get(prPath(ns, prName(extra)))).body.spec?.lifecycle === 'draft' ? true : undefined));
  expectStatus(await ca.delete(prPath(ns, prName(extra))), 200, 'delete the draft through A');
  t.false((await remoteBranches(gs.url('shared'))).includes('drafts/base/a-extra/ws1'));
  expectStatus(await cb.delete(prPath(ns, prName(extra))), 200, 'delete the same draft through B');
  t.is((await cb.get(prPath(ns, prName(extra)))).status, 404);
  t.deepEqual(await remoteBranches(gs.url('shared')), ['main']);
});

// ================================================================================================

/**
 * A deployment repository with one proposed package, on a server started with the test pause.
 * `after-commit` and `after-tag` are steps of a remote without atomic pushes (one push per ref),
 * so the remote is configured not to advertise them.
 */
async function pausedPublish(t: ExecutionContext, step: 'before-push' | 'after-push' | 'after-commit' | 'after-tag') {
  const gs = await gitServer();
  const repo = `deploy-${step}`;
  const bare = await gs.createBareRepo(repo, { initialFiles: { 'README.md': '# deployments\n' } });
  if (step === 'after-commit' || step === 'after-tag') await git(bare, 'config', 'receive.advertiseAtomic', 'false');
  const h = await start({ env: { PKGSERVER_TEST_PAUSE: step } });
  const c = client(h);
  const ns = 'recover';
  await createRepository(c, ns, repo, gs.url(repo), { deployment: true, period: '2s' });
  await waitReady(c, ns, repo, 'True');
  const id: ID = { target: 'edge1', repository: repo, realm: 'net', package: 'nginx', workspace: 'ws1' };
  const name = prName(id);
  await createDraft(c, ns, id, { team: 'net' });
  const proposed = await setLifecycle(c, ns, name, 'proposed');
  t.is(proposed.status.git.branch, 'proposed/edge1/net/nginx/ws1');

  // the publish stops at `step` and never answers
  const hanging = c.patch(prPath(ns, name), { spec: { lifecycle: 'published' } }, MERGE).then(
    (r) => `answered ${r.status}`,
    () => 'no answer',
  );
  await poll(`the log line "test pause at ${step}"`, async () => (h.logs.some((l) => l.includes(`test pause at ${step}`)) ? true : undefined));
  await h.kill();
  t.is(await hanging, 'no answer');
  return { gs, repo, h, ns, id, name };
}

test.serial('kill -9 before the atomic publish push: after the restart the revision is still proposed, and publishing it then works', async (t) => {
  t.timeout(120_000);
  const { gs, repo, h, ns, name } = await pausedPublish(t, 'before-push');

  // git as the killed server left it: nothing of the publish on the remote
  const before = await freshClone(gs.url(repo));
  t.deepEqual(await mainSubjects(before), ['Initial commit']);
  t.deepEqual([...(await remoteTags(before)).keys()], []);
  t.deepEqual(await remoteBranches(gs.url(repo)), ['main', 'proposed/edge1/net/nginx/ws1']);

  const h2 = await start({ dataDir: h.dataDir });
  const c2 = client(h2);
  await waitReady(c2, ns, repo, 'True');
  await triggerSync(c2, ns, repo);
  await waitReady(c2, ns, repo, 'True');
  const pr = expectStatus(await c2.get(prPath(ns, name)), 200, `get ${name}`).body;
  t.is(pr.spec.lifecycle, 'proposed');
  t.is(pr.status.git.branch, 'proposed/edge1/net/nginx/ws1');
  t.deepEqual(await remoteBranches(gs.url(repo)), ['main', 'proposed/edge1/net/nginx/ws1']);

  const published = await setLifecycle(c2, ns, name, 'published');
  t.is(published.spec.packageRevID.revision, 'v1');
  const after = await freshClone(gs.url(repo));
  const publishCommit = (await git(after, 'rev-parse', 'origin/main')).trim();
  t.deepEqual(published.status.git, { tag: 'edge1/net/nginx/v1', commit: publishCommit });
  t.deepEqual(await mainSubjects(after), ['Publish nginx v1 (edge1/deploy-before-push/net/nginx)', 'Initial commit']);
  t.deepEqual([...(await remoteTags(after)).entries()], [['edge1/net/nginx/v1', publishCommit]]);
  t.deepEqual(await remoteBranches(gs.url(repo)), ['main']);
  t.deepEqual((await listPRs(c2, ns, repo)).map((o) => o.metadata.name), [name]);
});

test.serial('kill -9 after the atomic publish push, before the clone\'s refs moved: after the restart the revision is published', async (t) => {
  t.timeout(120_000);
  const { gs, repo, h, ns, name } = await pausedPublish(t, 'after-push');

  // the remote took commit, tag and branch deletion at once
  const before = await freshClone(gs.url(repo));
  const publishCommit = (await git(before, 'rev-parse', 'origin/main')).trim();
  t.deepEqual(await mainSubjects(before), ['Publish nginx v1 (edge1/deploy-after-push/net/nginx)', 'Initial commit']);
  t.deepEqual([...(await remoteTags(before)).entries()], [['edge1/net/nginx/v1', publishCommit]]);
  t.deepEqual(await remoteBranches(gs.url(repo)), ['main']);

  await restartAndExpectPublished(t, { gs, repo, h, ns, name }, publishCommit);
});

test.serial('no atomic pushes: kill -9 after the publish commit, before the tag: after the restart the revision is published, git and the API agree', async (t) => {
  t.timeout(120_000);
  const { gs, repo, h, ns, name } = await pausedPublish(t, 'after-commit');

  // git as the killed server left it: the publish commit on main, no tag, the proposed branch
  const before = await freshClone(gs.url(repo));
  t.deepEqual(await mainSubjects(before), ['Publish nginx v1 (edge1/deploy-after-commit/net/nginx)', 'Initial commit']);
  const publishCommit = (await git(before, 'rev-parse', 'origin/main')).trim();
  t.deepEqual([...(await remoteTags(before)).keys()], []);
  t.deepEqual(await remoteBranches(gs.url(repo)), ['main', 'proposed/edge1/net/nginx/ws1']);

  const { pr, c2, after } = await restartAndExpectPublished(t, { gs, repo, h, ns, name }, publishCommit);
  t.is(pr.metadata.labels.team, 'net');
  t.is((await git(after, 'rev-parse', 'origin/main')).trim(), publishCommit);
  t.deepEqual(await changedFiles(after, publishCommit), ['edge1/net/nginx/Kptfile', 'edge1/net/nginx/kustomization.yaml']);
  const trailer = await trailerOf(after, publishCommit);
  t.is(trailer.name, name);
  t.is(trailer.spec.lifecycle, 'published');
  t.is(trailer.spec.packageRevID.revision, 'v1');
  t.is(trailer.publishedBy, ADMIN);
  // the resources read from the tag
  const prr = expectStatus(await c2.get(prrPath(ns, name)), 200, 'get PackageRevisionResources');
  t.deepEqual(Object.keys(prr.body.spec.resources).sort(), ['Kptfile', 'kustomization.yaml']);
  t.is(prr.body.spec.resources.Kptfile, await git(after, 'show', `${publishCommit}:edge1/net/nginx/Kptfile`));
});

test.serial('no atomic pushes: kill -9 after the tag, before the branch delete: after the restart the revision is published and the branch gone', async (t) => {
  t.timeout(120_000);
  const { gs, repo, h, ns, name } = await pausedPublish(t, 'after-tag');

  const before = await freshClone(gs.url(repo));
  const publishCommit = (await git(before, 'rev-parse', 'origin/main')).trim();
  t.deepEqual(await mainSubjects(before), ['Publish nginx v1 (edge1/deploy-after-tag/net/nginx)', 'Initial commit']);
  t.deepEqual([...(await remoteTags(before)).entries()], [['edge1/net/nginx/v1', publishCommit]]);
  t.deepEqual(await remoteBranches(gs.url(repo)), ['main', 'proposed/edge1/net/nginx/ws1']);

  await restartAndExpectPublished(t, { gs, repo, h, ns, name }, publishCommit);
});

/**
 * Restarts the killed server on its data directory and checks what every interrupted publish must
 * end as: the revision published as v1 on the publish commit (no second commit), the tag on that
 * commit, the proposed branch gone, exactly one revision in the API.
 */
async function restartAndExpectPublished(
  t: ExecutionContext,
  p: { gs: GitServer; repo: string; h: ServerHandle; ns: string; name: string },
  publishCommit: string,
) {
  const { gs, repo, h, ns, name } = p;
  const h2 = await start({ dataDir: h.dataDir });
  const c2 = client(h2);
  const pr = await poll('the revision published after the restart', async () => {
    const r = expectStatus(await c2.get(prPath(ns, name)), 200, `get ${name}`);
    return r.body.spec.lifecycle === 'published' && r.body.status?.git?.tag ? r.body : undefined;
  });
  t.is(pr.spec.packageRevID.revision, 'v1');
  t.deepEqual(pr.status.git, { tag: 'edge1/net/nginx/v1', commit: publishCommit });
  t.is(pr.status.publishedBy, ADMIN);
  t.is(pr.metadata.labels[LATEST], 'true');
  await poll('the proposed branch deleted', async () => ((await remoteBranches(gs.url(repo))).length === 1 ? true : undefined));
  t.deepEqual(await remoteBranches(gs.url(repo)), ['main']);
  const after = await freshClone(gs.url(repo));
  t.deepEqual([...(await remoteTags(after)).entries()], [['edge1/net/nginx/v1', publishCommit]]);
  t.is((await git(after, 'rev-list', '--count', 'origin/main')).trim(), '2');
  t.deepEqual((await listPRs(c2, ns, repo)).map((o) => o.metadata.name), [name]);
  return { pr, c2, after };
}

// ================================================================================================

test.serial('a wiped object store is rebuilt from git: names, lifecycles, revisions, labels, publishedBy, latest', async (t) => {
  t.timeout(120_000);
  const gs = await gitServer();
  await gs.createBareRepo('cat-wipe', { initialFiles: { 'README.md': '# catalog\n' } });
  const h = await start();
  const c = client(h);
  const ns = 'wipe';
  await createRepository(c, ns, 'cat-wipe', gs.url('cat-wipe'), { deployment: false, period: '2s' });
  await waitReady(c, ns, 'cat-wipe', 'True');

  const id = (pkg: string, ws: string): ID => ({ target: 'catalog', repository: 'cat-wipe', realm: 'infra/net', package: pkg, workspace: ws });
  await publishFlow(c, ns, id('nginx', 'ws1'), { team: 'net', tier: 'one' });
  // a label added while draft is in the publish commit's trailer
  await createDraft(c, ns, id('nginx', 'ws2'), { team: 'net' });
  expectStatus(await c.patch(prPath(ns, prName(id('nginx', 'ws2'))), { metadata: { labels: { tier: 'two' } } }, MERGE), 200, 'label the draft');
  await setLifecycle(c, ns, prName(id('nginx', 'ws2')), 'proposed');
  await setLifecycle(c, ns, prName(id('nginx', 'ws2')), 'published');
  await publishFlow(c, ns, id('redis', 'main'), { team: 'data' });
  await createDraft(c, ns, id('redis', 'next'), { team: 'data', stage: 'draft' }); // stays a draft
  await createDraft(c, ns, id('envoy', 'ws1'), { team: 'edge' });
  await setLifecycle(c, ns, prName(id('envoy', 'ws1')), 'proposed'); // stays proposed

  const facts = (items: any[]) =>
    items.map((p) => ({
      name: p.metadata.name,
      lifecycle: p.spec.lifecycle,
      revision: p.spec.packageRevID.revision ?? null,
      workspace: p.spec.packageRevID.workspace,
      labels: p.metadata.labels ?? {},
      publishedBy: p.status?.publishedBy ?? null,
      publishTimestamp: p.status?.publishTimestamp ?? null,
      git: p.status?.git ?? null,
    }));
  const before = facts(await listPRs(c, ns, 'cat-wipe'));
  // what was written, exactly
  const n = (pkg: string, ws: string) => prName(id(pkg, ws));
  t.deepEqual(
    before.map(({ name, lifecycle, revision, labels, publishedBy }) => ({ name, lifecycle, revision, labels, publishedBy })),
    [
      { name: n('envoy', 'ws1'), lifecycle: 'proposed', revision: null, labels: { team: 'edge' }, publishedBy: null },
      { name: n('nginx', 'ws1'), lifecycle: 'published', revision: 'v1', labels: { team: 'net', tier: 'one' }, publishedBy: ADMIN },
      { name: n('nginx', 'ws2'), lifecycle: 'published', revision: 'v2', labels: { team: 'net', tier: 'two', [LATEST]: 'true' }, publishedBy: ADMIN },
      { name: n('redis', 'main'), lifecycle: 'published', revision: 'v1', labels: { team: 'data', [LATEST]: 'true' }, publishedBy: ADMIN },
      { name: n('redis', 'next'), lifecycle: 'draft', revision: null, labels: { team: 'data', stage: 'draft' }, publishedBy: null },
    ],
  );

  await h.stop();
  const wiped = (await readdir(h.dataDir)).filter((f) => f.startsWith('store.db'));
  t.true(wiped.includes('store.db'));
  await Promise.all(wiped.map((f) => rm(path.join(h.dataDir, f))));

  const h2 = await start({ dataDir: h.dataDir });
  const c2 = client(h2);
  // the Repository object went with the store: register it again, as an operator would
  await createRepository(c2, ns, 'cat-wipe', gs.url('cat-wipe'), { deployment: false, period: '2s' });
  await waitReady(c2, ns, 'cat-wipe', 'True');
  const after = await poll('all five revisions back', async () => {
    const items = facts(await listPRs(c2, ns, 'cat-wipe'));
    return items.length === 5 ? items : undefined;
  });
  t.deepEqual(after, before);
  t.is((await readyOf(c2, ns, 'cat-wipe'))!.reason, 'Synced');
});

// ================================================================================================

test.serial('an unreachable or wrong-password remote: Ready=False with the reason, the rest keeps working, recovery', async (t) => {
  t.timeout(240_000);
  const PASSWORD = 'S3cret-right-pw';
  const WRONG = 'Wr0ng-pw-xyz';
  const healthy = await gitServer();
  const flaky = await gitServer();
  const locked = await gitServer({ user: 'robot', password: PASSWORD, requireAuthForRead: true });
  await healthy.createBareRepo('healthy', { initialFiles: { 'README.md': '# healthy\n' } });
  await flaky.createBareRepo('flaky', { initialFiles: { 'README.md': '# flaky\n' } });
  await locked.createBareRepo('locked', { initialFiles: { 'README.md': '# locked\n' } });

  const credsDir = await tmp('robust-creds-');
  const file = path.join(credsDir, 'credentials.yaml');
  const writeCreds = (password: string) => writeFile(file, `${GIT_CREDS}:\n  username: git\n  password: secret\nlocked-auth:\n  username: robot\n  password: ${password}\n`);
  await writeCreds(WRONG);

  const h = await start({ args: ['--credentials-file', file] });
  const c = client(h);
  const ns = 'remotes';
  await createRepository(c, ns, 'healthy', healthy.url('healthy'), { deployment: true, period: '2s' });
  await createRepository(c, ns, 'flaky', flaky.url('flaky'), { deployment: true, period: '2s' });
  await createRepository(c, ns, 'locked', locked.url('locked'), { deployment: false, period: '2s', credentials: 'locked-auth' });
  await waitReady(c, ns, 'healthy', 'True');
  await waitReady(c, ns, 'flaky', 'True');

  // wrong password: AuthenticationFailed, and neither password in the message
  const authFailed = await waitReady(c, ns, 'locked', 'False', 'AuthenticationFailed');
  t.is(authFailed.message, `fetch ${locked.url('locked')}: authentication failed (HTTP 401) (check spec.git.credentials and the credentials it names)`);
  t.false(authFailed.message.includes(WRONG));
  t.false(authFailed.message.includes(PASSWORD));

  // the remote goes down: Unreachable
  flaky.setDown(true);
  const down = await waitReady(c, ns, 'flaky', 'False', 'Unreachable');
  t.regex(down.message, new RegExp(`^fetch ${flaky.url('flaky').replace(/[.]/g, '\\.')}: unreachable \\((ECONNRESET|socket hang up)\\) \\(check spec\\.git\\.url and that the git server is up; the sync retries with backoff\\)$`));

  // meanwhile the API answers and the healthy repository publishes
  const hid: ID = { target: 'cluster01', repository: 'healthy', realm: '', package: 'web', workspace: 'ws1' };
  const pub = await publishFlow(c, ns, hid, { app: 'web' });
  t.is(pub.spec.lifecycle, 'published');
  t.is(pub.spec.packageRevID.revision, 'v1');
  t.is(pub.status.git.tag, 'cluster01/web/v1');
  const hdir = await freshClone(healthy.url('healthy'));
  t.is((await remoteTags(hdir)).get('cluster01/web/v1'), pub.status.git.commit);
  const repoList = expectStatus(await c.get(repoPath(ns)), 200, 'list Repositories');
  t.deepEqual((repoList.body.items as any[]).map((r) => r.metadata.name).sort(), ['flaky', 'healthy', 'locked']);
  t.is(expectStatus(await c.get(repoPath(ns, 'healthy')), 200, 'get Repository').body.metadata.name, 'healthy');
  t.deepEqual(expectStatus(await c.get(`/apis/${CFG}/namespaces/${ns}/packagevariants`), 200, 'list PackageVariants').body.items, []);
  t.deepEqual((await listPRs(c, ns, 'healthy')).map((p) => p.metadata.name), [prName(hid)]);
  const prr = expectStatus(await c.get(prrPath(ns, prName(hid))), 200, 'get PackageRevisionResources');
  t.deepEqual(Object.keys(prr.body.spec.resources).sort(), ['Kptfile', 'kustomization.yaml']);
  t.is((await readyOf(c, ns, 'healthy'))!.status, 'True');
  t.is((await readyOf(c, ns, 'flaky'))!.reason, 'Unreachable');
  // a write into the unreachable repository fails at once, saying why, and stores nothing
  const fid: ID = { target: 'cluster01', repository: 'flaky', realm: '', package: 'web', workspace: 'ws1' };
  const refused = await c.post(prPath(ns), { apiVersion: PKG, kind: 'PackageRevision', metadata: { name: prName(fid), namespace: ns }, spec: { packageRevID: fid, tasks: [{ type: 'init' }] } });
  t.is(refused.status, 503);
  t.is(refused.body.reason, 'ServiceUnavailable');
  t.regex(refused.body.message, new RegExp(`^Repository "flaky" is unreachable: push refs/heads/drafts/cluster01/web/ws1 to ${flaky.url('flaky').replace(/[.]/g, '\\.')}: unreachable \\((ECONNRESET|socket hang up)\\)$`));
  t.is((await c.get(prPath(ns, prName(fid)))).status, 404);

  // the remote comes back: Ready again, by itself
  flaky.setDown(false);
  t.is((await waitReady(c, ns, 'flaky', 'True', 'Synced', 90_000)).status, 'True');

  // the credentials file is fixed: Ready again, by itself
  await writeCreds(PASSWORD);
  t.is((await waitReady(c, ns, 'locked', 'True', 'Synced', 90_000)).status, 'True');

  // the password is rotated on the git server: AuthenticationFailed; the file follows: Ready
  const ROTATED = 'R0tated-pw-2';
  locked.setCredentials('robot', ROTATED);
  const rotated = await waitReady(c, ns, 'locked', 'False', 'AuthenticationFailed');
  t.false(rotated.message.includes(PASSWORD));
  t.false(rotated.message.includes(ROTATED));
  await writeCreds(ROTATED);
  t.is((await waitReady(c, ns, 'locked', 'True', 'Synced', 90_000)).status, 'True');

  // the status never carries a password
  const all = JSON.stringify(expectStatus(await c.get(repoPath(ns)), 200, 'list Repositories').body);
  for (const pw of [PASSWORD, WRONG, ROTATED]) t.false(all.includes(pw));
});
