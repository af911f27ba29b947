// Package content rules end to end over HTTPS against the real server and local bare repositories:
// file paths (controls, bidirectional overrides, whitespace, length, git's special names, a file
// that is also a directory), YAML with an unresolved alias, and the package limits on the result
// of every write (loose updates merged over the current files, a clone's content, inputs). Every
// refusal is a 422 with kube's Status and leaves the draft branch where it was.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { git } from './helpers/gitserver.ts';
import { HttpClient, type HttpResponse } from './helpers/http.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';

let server: ServerHandle;
let admin: HttpClient;
let deployGit: string;
const NS = 'content';
const PR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisions`;
const PRR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisionresources`;
const REPOS = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories`;

async function bareRepo(name: string): Promise<string> {
  const dir = tempDir(`${name}-`);
  const bare = path.join(dir, `${name}.git`);
  await git(dir, 'init', '-q', '--bare', '-b', 'main', bare);
  return bare;
}

async function addRepository(name: string, url: string, deployment: boolean): Promise<void> {
  const r = await admin.request('POST', REPOS, { body: { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name }, spec: { deployment, git: { url } } } });
  if (r.status !== 201) throw new Error(`repository ${name}: ${r.status} ${JSON.stringify(r.body)}`);
}

test.before(async () => {
  server = await startServer();
  admin = new HttpClient(server.url, adminTLS(server));
  deployGit = await bareRepo('deploy');
  await addRepository('deploy', deployGit, true);
});
test.after.always(async () => {
  await server?.stop();
});

const prName = (pkg: string, ws = 'ws1') => `c1.deploy.apps.${pkg}.${ws}`;

async function draft(pkg: string): Promise<string> {
  const n = prName(pkg);
  const r = await admin.request('POST', PR, {
    body: { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name: n }, spec: { packageRevID: { target: 'c1', repository: 'deploy', realm: 'apps', package: pkg, workspace: 'ws1' }, tasks: [{ type: 'init' }] } },
  });
  if (r.status !== 201) throw new Error(`create ${n}: ${r.status} ${JSON.stringify(r.body)}`);
  return n;
}

/** The draft branch's head, read with the git CLI from the bare repository. */
const head = async (pkg: string) => (await git(deployGit, 'rev-parse', `refs/heads/drafts/c1/apps/${pkg}/ws1`)).trim();

/** Writes files with an update of the PackageRevisionResources (loose by default: merged over the current files). */
async function write(n: string, resources: Record<string, string>): Promise<HttpResponse> {
  const cur = (await admin.request('GET', `${PRR}/${n}`)).body;
  return admin.request('PUT', `${PRR}/${n}`, { body: { ...cur, spec: { ...cur.spec, resources } } });
}

/** The Status of a 422 with one cause. */
const invalid = (kind: string, n: string, field: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: `${kind}.pkg.pkgserver.dev "${n}" is invalid: ${field}: ${message}`,
  reason: 'Invalid',
  details: { name: n, group: 'pkg.pkgserver.dev', kind, causes: [{ reason: message.startsWith('Too many') ? 'FieldValueTooMany' : message.startsWith('Too long') ? 'FieldValueTooLong' : message.startsWith('Forbidden') ? 'FieldValueForbidden' : 'FieldValueInvalid', message, field }] },
  code: 422,
});

/** A write refused with 422 and exactly this cause; the draft branch has not moved. */
async function refused(t: import('ava').ExecutionContext, pkg: string, resources: Record<string, string>, field: string, message: string): Promise<void> {
  const n = prName(pkg);
  const before = await head(pkg);
  const r = await write(n, resources);
  t.is(r.status, 422, JSON.stringify(r.body));
  t.deepEqual(r.body, invalid('PackageRevisionResources', n, field, message));
  t.is(await head(pkg), before, 'nothing written');
}

const CONTROL = 'a file path may not contain control characters (such as newline, tab or NUL)';
const GIT_NAMES = 'a segment of a file path may not start with ".git": git gives such names (.git, .gitmodules, .gitattributes, .gitignore) a meaning of their own';

test.serial('a newline in a file name is refused', async (t) => {
  await draft('paths');
  await refused(t, 'paths', { 'a\nb.yaml': 'a: 1\n' }, 'spec.resources[a\\nb.yaml]', `Invalid value: "a\\nb.yaml": ${CONTROL}`);
  await refused(t, 'paths', { 'nul\0.yaml': 'a: 1\n' }, 'spec.resources[nul\\x00.yaml]', `Invalid value: "nul\\x00.yaml": ${CONTROL}`);
});

test.serial('the right-to-left override U+202E in a file name is refused', async (t) => {
  await refused(
    t,
    'paths',
    { 'invoice\u202eyaml.exe': 'a: 1\n' },
    'spec.resources[invoice\\u202eyaml.exe]',
    'Invalid value: "invoice\\u202eyaml.exe": a file path may not contain invisible formatting characters (such as bidirectional text controls, zero-width characters or line separators)',
  );
});

test.serial('a file named by a single space is refused', async (t) => {
  await refused(t, 'paths', { ' ': 'a: 1\n' }, 'spec.resources[ ]', 'Invalid value: " ": a segment of a file path may not start or end with whitespace');
  await refused(t, 'paths', { 'dir/x.yaml ': 'a: 1\n' }, 'spec.resources[dir/x.yaml ]', 'Invalid value: "dir/x.yaml ": a segment of a file path may not start or end with whitespace');
});

test.serial('a 5,000-character file name is refused', async (t) => {
  const cut = `${'n'.repeat(128)}...`;
  await refused(t, 'paths', { ['n'.repeat(5000)]: 'a: 1\n' }, `spec.resources[${cut}]`, `Invalid value: "${cut}": a file path may not be more than 1024 bytes (this one has 5000)`);
  await refused(t, 'paths', { [`d/${'n'.repeat(256)}`]: 'a: 1\n' }, `spec.resources[d/${cut.slice(2)}]`, `Invalid value: "d/${cut.slice(2)}": a segment of a file path may not be more than 255 bytes (one has 256)`);
});

test.serial('.gitmodules is refused', async (t) => {
  await refused(t, 'paths', { '.gitmodules': '[submodule "x"]\n\tpath = x\n\turl = ../../etc\n' }, 'spec.resources[.gitmodules]', `Invalid value: ".gitmodules": ${GIT_NAMES}`);
});

test.serial('.gitattributes is refused, at any level', async (t) => {
  await refused(t, 'paths', { 'sub/.gitattributes': '* filter=evil\n' }, 'spec.resources[sub/.gitattributes]', `Invalid value: "sub/.gitattributes": ${GIT_NAMES}`);
  await refused(t, 'paths', { '.GITATTRIBUTES': '* filter=evil\n' }, 'spec.resources[.GITATTRIBUTES]', `Invalid value: ".GITATTRIBUTES": ${GIT_NAMES}`);
});

test.serial('Kptfile and Kptfile/x: one 422 cause naming both, not a 500 from git', async (t) => {
  const n = prName('paths');
  // loose: Kptfile is already on the branch
  await refused(t, 'paths', { 'Kptfile/x': 'a: 1\n' }, 'spec.resources[Kptfile/x]', 'Invalid value: "Kptfile/x": "Kptfile" is a file, so it cannot also be the directory of "Kptfile/x"');
  // both in one request
  const cur = (await admin.request('GET', `${PRR}/${n}`)).body;
  await refused(t, 'paths', { ...cur.spec.resources, 'Kptfile/x': 'a: 1\n' }, 'spec.resources[Kptfile/x]', 'Invalid value: "Kptfile/x": "Kptfile" is a file, so it cannot also be the directory of "Kptfile/x"');
});

test.serial('YAML with an unresolved alias is refused, naming the file, line and column once', async (t) => {
  await refused(t, 'paths', { 'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\ndata:\n  a: *nope\n  b: *nope\n' }, 'spec.resources[cm.yaml]', 'Invalid value: "cm.yaml": YAML does not parse at line 4, column 6: unresolved alias *nope (no anchor &nope before it)');
  await refused(t, 'paths', { 'a.yaml': 'a: 1\na: 2\n' }, 'spec.resources[a.yaml]', 'Invalid value: "a.yaml": YAML does not parse at line 2, column 1: Map keys must be unique');
});

test.serial('a YAML anchor referenced 99 times is refused by the bytes it expands to', async (t) => {
  const amp = `a: &a "${'x'.repeat(200_000)}"\n${Array.from({ length: 99 }, (_, i) => `k${i}: *a`).join('\n')}\n`;
  const n = prName('paths');
  const r = await write(n, { 'amp.yaml': amp });
  t.is(r.status, 422);
  t.is(Buffer.byteLength(amp) + 99 * 200_000, 20_000_791, 'each alias replaced by the 200,002 bytes of its anchor');
  t.is(r.body.message, `PackageRevisionResources.pkg.pkgserver.dev "${n}" is invalid: spec.resources[amp.yaml]: Invalid value: "amp.yaml": YAML aliases (the first at line 2, column 5) expand the file to ${Buffer.byteLength(amp) + 99 * 200_000} bytes: may not be more than 1048576 bytes`);
});

test.serial('valid paths and YAML are written as they are', async (t) => {
  const n = prName('paths');
  const files = { 'é/naïve file.yaml': 'a: &x {p: 1}\nb: *x\n', 'refs/heads/main': 'not a ref\n', '.hidden.yaml': 'a: 1\n' };
  const r = await write(n, files);
  t.is(r.status, 200, JSON.stringify(r.body));
  for (const [p, c] of Object.entries(files)) t.is(r.body.spec.resources[p], c);
  const tree = (await git(deployGit, 'ls-tree', '-r', '--name-only', '-z', `refs/heads/drafts/c1/apps/paths/ws1`)).split('\0').filter(Boolean).sort();
  t.deepEqual(tree, ['c1/apps/paths/.hidden.yaml', 'c1/apps/paths/Kptfile', 'c1/apps/paths/kustomization.yaml', 'c1/apps/paths/refs/heads/main', 'c1/apps/paths/é/naïve file.yaml'].sort());
});

/** n small files named f<from>.txt … */
const smallFiles = (from: number, count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`bulk/f${String(from + i).padStart(5, '0')}.txt`, `${from + i}\n`]));

test.serial('three loose updates of 900 files: the one that would pass 1000 files is refused and nothing is written', async (t) => {
  const n = await draft('many');
  const first = await write(n, smallFiles(0, 900));
  t.is(first.status, 200, JSON.stringify(first.body));
  t.is(Object.keys(first.body.spec.resources).length, 902, '900 files, the Kptfile and the generated kustomization.yaml');
  await refused(t, 'many', smallFiles(900, 900), 'spec.resources', 'Too many: 1802: must have at most 1000 items');
  await refused(t, 'many', smallFiles(1800, 900), 'spec.resources', 'Too many: 1802: must have at most 1000 items');
  t.is(Object.keys((await admin.request('GET', `${PRR}/${n}`)).body.spec.resources).length, 902);
  // up to the limit is fine
  t.is((await write(n, smallFiles(900, 98))).status, 200);
  await refused(t, 'many', smallFiles(998, 1), 'spec.resources', 'Too many: 1001: must have at most 1000 items');
});

test.serial('a loose update pushing the package over 8 MiB is refused', async (t) => {
  const n = await draft('heavy');
  const chunk = (i: number) => ({ [`blob${i}a.txt`]: 'x'.repeat(700_000), [`blob${i}b.txt`]: 'y'.repeat(700_000) });
  for (let i = 0; i < 5; i++) t.is((await write(n, chunk(i))).status, 200, `write ${i}: 1.4 MB each, ${(i + 1) * 1.4} MB in all`);
  await refused(t, 'heavy', chunk(5), 'spec.resources', 'Too long: may not be more than 8388608 bytes');
  // a single file over 1 MiB is refused in the request itself
  await refused(t, 'heavy', { 'big.txt': 'z'.repeat((1 << 20) + 1) }, 'spec.resources[big.txt]', 'Too long: may not be more than 1048576 bytes');
});

test.serial('a clone whose result is over the limits is refused, and no branch is made', async (t) => {
  // a catalog package of 1001 files, pushed to git directly (the server would not take it)
  const catalog = await bareRepo('cat');
  const wc = tempDir('cat-wc-');
  await git(wc, 'clone', '-q', catalog, '.');
  mkdirSync(path.join(wc, 'big'));
  writeFileSync(path.join(wc, 'big', 'Kptfile'), 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: big\n');
  for (let i = 0; i < 1000; i++) writeFileSync(path.join(wc, 'big', `f${i}.txt`), `${i}\n`);
  await git(wc, 'checkout', '-q', '-b', 'main');
  await git(wc, 'add', '.');
  await git(wc, 'commit', '-q', '-m', 'big package');
  await git(wc, 'tag', 'big/v1');
  await git(wc, 'push', '-q', 'origin', 'main', 'big/v1');
  await addRepository('cat', catalog, false);
  const n = prName('big');
  const r = await admin.request('POST', PR, {
    body: { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name: n }, spec: { packageRevID: { target: 'c1', repository: 'deploy', realm: 'apps', package: 'big', workspace: 'ws1' }, tasks: [{ type: 'clone' }], upstream: { repository: 'cat', package: 'big', revision: 'v1' } } },
  });
  t.is(r.status, 422, JSON.stringify(r.body));
  t.deepEqual(r.body, invalid('PackageRevision', n, 'spec.tasks[0]', 'Forbidden: the package the clone task makes would be over the package limits: spec.resources: Too many: 1002: must have at most 1000 items'));
  t.is((await admin.request('GET', `${PR}/${n}`)).status, 404);
  t.is((await git(deployGit, 'branch', '--list', 'drafts/c1/apps/big/*')).trim(), '', 'no draft branch');
});

test.serial('inputs that would make package-context.yaml larger than a file may be are refused', async (t) => {
  const n = prName('paths');
  const before = await head('paths');
  const inputs = [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big' }, data: { big: 'x'.repeat(1_100_000) } }];
  const r = await admin.request('PATCH', `${PR}/${n}`, { body: { spec: { inputs } }, contentType: 'application/merge-patch+json' });
  t.is(r.status, 422, JSON.stringify(r.body).slice(0, 500));
  t.deepEqual(r.body, invalid('PackageRevision', n, 'spec.inputs', 'Forbidden: the package with these inputs in its package-context.yaml would be over the package limits: spec.resources[package-context.yaml]: Too long: may not be more than 1048576 bytes'));
  t.is(await head('paths'), before, 'nothing written');
  t.is((await admin.request('GET', `${PR}/${n}`)).body.spec.inputs, undefined, 'nothing stored');
});
