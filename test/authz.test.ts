// Authorization of every request on the standalone server with a policy file of RBAC documents:
// a matrix over every resource × verb × subresource for three users (viewer, editor, approver);
// each denied request is a 403 with kube's message and changes nothing (store and git refs);
// each allowed one succeeds. Publishing is a permission of its own (SPEC 3.3): the editor can
// propose but not publish, through the main resource (merge and strategic patches, with kubectl)
// or the approval subresource; the approver can. Non-resource paths are authorized too.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { git } from './helpers/gitserver.ts';
import type { HttpClient, HttpResponse } from './helpers/http.ts';
import { Kubectl } from './helpers/kubectl.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';
import { HttpClient as Http } from './helpers/http.ts';
import { policy, userOf, type TestUser } from './helpers/users.ts';

const NS = 'team-a';
const PKG = 'pkg.pkgserver.dev';
const CFG = 'config.pkg.pkgserver.dev';
const USERS = ['viewer', 'editor', 'approver'] as const;
type UserName = (typeof USERS)[number];

let server: ServerHandle;
let admin: HttpClient;
let bare: string;
const users = {} as Record<UserName, TestUser>;

const R = {
  packagerevisions: `/apis/${PKG}/v1alpha1/namespaces/${NS}/packagerevisions`,
  packagerevisionresources: `/apis/${PKG}/v1alpha1/namespaces/${NS}/packagerevisionresources`,
  repositories: `/apis/${CFG}/v1alpha1/namespaces/${NS}/repositories`,
  packagevariants: `/apis/${CFG}/v1alpha1/namespaces/${NS}/packagevariants`,
} as const;
type Resource = keyof typeof R;
const GROUP: Record<Resource, string> = { packagerevisions: PKG, packagerevisionresources: PKG, repositories: CFG, packagevariants: CFG };

const prName = (pkg: string) => `c1.deploy.apps.${pkg}.ws`;
const prBody = (pkg: string) => ({
  apiVersion: `${PKG}/v1alpha1`,
  kind: 'PackageRevision',
  metadata: { name: prName(pkg) },
  spec: { packageRevID: { target: 'c1', repository: 'deploy', realm: 'apps', package: pkg, workspace: 'ws' }, tasks: [{ type: 'init' }] },
});
const pvBody = (name: string) => ({
  apiVersion: `${CFG}/v1alpha1`,
  kind: 'PackageVariant',
  metadata: { name },
  spec: { upstream: { repository: 'deploy', package: name }, downstream: { target: 'c1', repository: 'deploy', package: name } },
});

async function must(r: Promise<HttpResponse>, code: number, what: string): Promise<HttpResponse> {
  const res = await r;
  if (res.status !== code) throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res;
}

test.before(async () => {
  const dir = tempDir('authz-');
  const file = path.join(dir, 'policy.yaml');
  writeFileSync(file, policy([...USERS.map((u) => ({ user: u, role: `pkgserver-${u}`, namespace: NS }))]));
  server = await startServer({ args: ['--authorization-policy-file', file] });
  admin = new Http(server.url, adminTLS(server));
  for (const u of USERS) users[u] = userOf(server, u, ['devs']);
  bare = path.join(tempDir('authz-git-'), 'deploy.git');
  await git(path.dirname(bare), 'init', '-q', '--bare', '-b', 'main', bare);
  await must(admin.post(R.repositories, { apiVersion: `${CFG}/v1alpha1`, kind: 'Repository', metadata: { name: 'deploy' }, spec: { deployment: true, git: { url: bare } } }), 201, 'repository');
  // per user: a draft and a variant to read and write, and one of each to delete
  for (const u of USERS) {
    for (const pkg of [u, `${u}-del`]) await must(admin.post(R.packagerevisions, prBody(pkg)), 201, `draft ${pkg}`);
    for (const pv of [`pv-${u}`, `pv-${u}-del`]) await must(admin.post(R.packagevariants, pvBody(pv)), 201, `variant ${pv}`);
  }
});
test.after.always(async () => {
  await server?.stop();
});

// ------------------------------------------------------------------ what each role may do

type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
const VERBS: Verb[] = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];
const SUB_VERBS: Verb[] = ['get', 'update', 'patch'];
const SUBRESOURCES: [Resource, string][] = [
  ['packagerevisions', 'status'],
  ['packagerevisions', 'approval'],
  ['repositories', 'status'],
  ['packagevariants', 'status'],
];

/** The expected decisions, written out independently of the policy file. */
function allowed(user: UserName, resource: Resource, verb: Verb, sub?: string): boolean {
  const read = verb === 'get' || verb === 'list' || verb === 'watch';
  if (sub === 'status') return verb === 'get'; // every role reads status; nobody writes it
  if (sub === 'approval') return user === 'approver';
  if (read) return true;
  if (user === 'viewer') return false;
  if (resource === 'packagerevisions' || resource === 'packagevariants') return true;
  if (resource === 'packagerevisionresources') return verb === 'update' || verb === 'patch';
  return false; // repositories: the repository-admin role, bound to nobody here
}

/** The name a request targets, per user (the delete targets are their own objects). */
function target(user: UserName, resource: Resource, verb: Verb): string | undefined {
  if (verb === 'list' || verb === 'watch' || verb === 'create') return undefined;
  if (resource === 'repositories') return 'deploy';
  if (resource === 'packagevariants') return verb === 'delete' ? `pv-${user}-del` : `pv-${user}`;
  return prName(verb === 'delete' ? `${user}-del` : user);
}

/** Sends one request of the matrix as `user`; the body is whatever makes an allowed request succeed. */
async function send(c: HttpClient, user: UserName, resource: Resource, verb: Verb, sub?: string): Promise<HttpResponse> {
  const name = target(user, resource, verb);
  const url = `${R[resource]}${name ? `/${name}` : ''}${sub ? `/${sub}` : ''}`;
  const current = async () => (await admin.get(url)).body;
  switch (verb) {
    case 'get':
    case 'list':
      return c.get(url);
    case 'watch':
      return c.get(`${url}?watch=true&timeoutSeconds=1`);
    case 'create': {
      const body =
        resource === 'packagerevisions' ? prBody(`${user}-new`) : resource === 'packagevariants' ? pvBody(`pv-${user}-new`) : resource === 'repositories' ? { apiVersion: `${CFG}/v1alpha1`, kind: 'Repository', metadata: { name: `r-${user}` }, spec: { git: { url: bare } } } : { apiVersion: `${PKG}/v1alpha1`, kind: 'PackageRevisionResources', metadata: { name: prName(`${user}-new`) } };
      return c.post(url, body);
    }
    case 'update': {
      const o = await current();
      if (!sub) o.metadata.labels = { ...(o.metadata.labels ?? {}), updatedBy: user };
      return c.put(url, o);
    }
    case 'patch': {
      const body = sub === 'approval' ? { spec: { lifecycle: 'draft' } } : sub === 'status' ? { status: {} } : resource === 'packagerevisionresources' ? { spec: { resources: { [`${user}.yaml`]: `kind: ConfigMap\napiVersion: v1\nmetadata: {name: ${user}}\n` } } } : { metadata: { labels: { patchedBy: user } } };
      return c.patch(url, body, 'application/merge-patch+json');
    }
    case 'delete':
      return c.delete(url);
  }
}

function forbiddenMessage(user: UserName, resource: Resource, verb: Verb, sub?: string): string {
  const name = target(user, resource, verb);
  return `${resource}.${GROUP[resource]}${name ? ` "${name}"` : ''} is forbidden: User "${user}" cannot ${verb} resource "${resource}${sub ? `/${sub}` : ''}" in API group "${GROUP[resource]}" in the namespace "${NS}"`;
}

interface Case {
  user: UserName;
  resource: Resource;
  verb: Verb;
  sub?: string;
}
const CASES: Case[] = USERS.flatMap((user) => [
  ...(Object.keys(R) as Resource[]).flatMap((resource) => VERBS.map((verb) => ({ user, resource, verb }))),
  ...SUBRESOURCES.flatMap(([resource, sub]) => SUB_VERBS.map((verb) => ({ user, resource, verb, sub }))),
]);
const describe = (c: Case) => `${c.user} ${c.verb} ${c.resource}${c.sub ? `/${c.sub}` : ''}`;

/** Everything a write could change: the store's revision, every object, and the git refs. */
async function snapshot(): Promise<string> {
  const lists = await Promise.all(Object.values(R).map((u) => admin.get(u)));
  const refs = await git(bare, 'for-each-ref', '--format=%(refname) %(objectname)');
  return JSON.stringify({ rv: lists.map((l) => l.body.metadata.resourceVersion), items: lists.map((l) => l.body.items.map((o: any) => [o.metadata.name, o.metadata.resourceVersion])), refs });
}

test.serial('authorization matrix: every denied request is a 403 with kube\'s message and changes nothing', async (t) => {
  const denied = CASES.filter((c) => !allowed(c.user, c.resource, c.verb, c.sub));
  t.true(denied.length > 40, 'the matrix has denials for each user');
  const before = await snapshot();
  for (const c of denied) {
    const r = await send(users[c.user].http, c.user, c.resource, c.verb, c.sub);
    const name = target(c.user, c.resource, c.verb);
    t.is(r.status, 403, describe(c));
    t.deepEqual(
      r.body,
      { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: forbiddenMessage(c.user, c.resource, c.verb, c.sub), reason: 'Forbidden', details: { ...(name ? { name } : {}), group: GROUP[c.resource], kind: c.resource }, code: 403 },
      describe(c),
    );
  }
  t.is(await snapshot(), before, 'no denied request changed the store or git');
});

test.serial('authorization matrix: every allowed request succeeds', async (t) => {
  const order: Verb[] = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];
  const ok = CASES.filter((c) => allowed(c.user, c.resource, c.verb, c.sub)).sort((a, b) => order.indexOf(a.verb) - order.indexOf(b.verb) || Number(!!a.sub) - Number(!!b.sub));
  for (const c of ok) {
    const r = await send(users[c.user].http, c.user, c.resource, c.verb, c.sub);
    t.is(r.status, c.verb === 'create' ? 201 : 200, `${describe(c)}: ${JSON.stringify(r.body).slice(0, 300)}`);
  }
  // the writes happened as those users
  t.is((await admin.get(`${R.packagerevisions}/${prName('editor')}`)).body.metadata.labels.patchedBy, 'editor');
  t.is((await admin.get(`${R.packagerevisions}/${prName('editor-del')}`)).status, 404);
  t.is((await admin.get(`${R.packagevariants}/pv-approver-new`)).status, 200);
});

test.serial('the editor proposes but cannot publish (merge, strategic and subresource patches, kubectl 1.27 and 1.33); the approver can', async (t) => {
  const editor = users.editor;
  await must(admin.post(R.packagerevisions, prBody('web')), 201, 'draft web');
  const n = prName('web');
  const proposed = await editor.http.patch(`${R.packagerevisions}/${n}`, { spec: { lifecycle: 'proposed' } }, 'application/merge-patch+json');
  t.is(proposed.status, 200, JSON.stringify(proposed.body));
  t.is(proposed.body.metadata.annotations['pkg.pkgserver.dev/proposed-by'], 'editor');
  const before = await snapshot();
  const approveMsg = `packagerevisions.${PKG} "${n}" is forbidden: User "editor" cannot approve resource "packagerevisions" in API group "${PKG}" in the namespace "${NS}"`;

  // raw HTTPS: merge, strategic merge and JSON patches, and PUT, on the main resource
  for (const [body, ct] of [
    [{ spec: { lifecycle: 'published' } }, 'application/merge-patch+json'],
    [{ spec: { lifecycle: 'published' } }, 'application/strategic-merge-patch+json'],
    [[{ op: 'replace', path: '/spec/lifecycle', value: 'published' }], 'application/json-patch+json'],
  ] as const) {
    const r = await editor.http.patch(`${R.packagerevisions}/${n}`, body, ct);
    t.is(r.status, 403, ct);
    t.is(r.body.message, approveMsg, ct);
  }
  const cur = (await admin.get(`${R.packagerevisions}/${n}`)).body;
  const put = await editor.http.put(`${R.packagerevisions}/${n}`, { ...cur, spec: { ...cur.spec, lifecycle: 'published' } });
  t.is(put.status, 403);
  t.is(put.body.message, approveMsg);
  // the approval subresource: the editor may not write it at all
  const sub = await editor.http.patch(`${R.packagerevisions}/${n}/approval`, { spec: { lifecycle: 'published' } }, 'application/merge-patch+json');
  t.is(sub.status, 403);
  t.is(sub.body.message, `packagerevisions.${PKG} "${n}" is forbidden: User "editor" cannot patch resource "packagerevisions/approval" in API group "${PKG}" in the namespace "${NS}"`);

  // kubectl, as a user runs it
  const k33 = new Kubectl('1.33', editor.kubeconfig);
  const k27 = new Kubectl('1.27', editor.kubeconfig);
  for (const [k, args] of [
    [k33, ['--type=merge']],
    [k33, []],
    [k27, ['--type=merge']],
    [k27, []],
    [k33, ['--subresource=approval', '--type=merge']],
  ] as const) {
    const r = await k.run(['patch', 'pkgrev', n, '-n', NS, ...args, '-p', '{"spec":{"lifecycle":"published"}}']);
    t.is(r.code, 1, `kubectl.${k.version} ${args.join(' ')}`);
    t.regex(r.stderr, /Error from server \(Forbidden\)/, `kubectl.${k.version} ${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, (args as readonly string[]).includes('--subresource=approval') ? /User "editor" cannot (get|patch) resource "packagerevisions\/approval"/ : /User "editor" cannot approve resource "packagerevisions"/);
  }
  const r27 = await k27.run(['replace', '--raw', `${R.packagerevisions}/${n}/approval`, '-f', '-'], { input: JSON.stringify({ ...cur, spec: { ...cur.spec, lifecycle: 'published' } }) });
  t.is(r27.code, 1);
  t.regex(r27.stderr, /Forbidden/);
  t.is(await snapshot(), before, 'nothing changed: still proposed, no tag, no commit on main');

  // the approver publishes with kubectl's plain patch
  const approved = await new Kubectl('1.33', users.approver.kubeconfig).run(['patch', 'pkgrev', n, '-n', NS, '-p', '{"spec":{"lifecycle":"published"}}']);
  t.is(approved.code, 0, approved.stderr);
  const pub = (await admin.get(`${R.packagerevisions}/${n}`)).body;
  t.is(pub.spec.lifecycle, 'published');
  t.is(pub.status.publishedBy, 'approver');
  t.is((await git(bare, 'tag', '-l')).trim(), 'c1/apps/web/v1');
  t.regex(await git(bare, 'log', '-1', '--format=%an', 'c1/apps/web/v1'), /approver/);

  // and through the approval subresource (kubectl 1.33)
  await must(admin.post(R.packagerevisions, prBody('api')), 201, 'draft api');
  await must(editor.http.patch(`${R.packagerevisions}/${prName('api')}`, { spec: { lifecycle: 'proposed' } }, 'application/merge-patch+json'), 200, 'propose api');
  const viaSub = await new Kubectl('1.33', users.approver.kubeconfig).run(['patch', 'pkgrev', prName('api'), '-n', NS, '--subresource=approval', '--type=merge', '-p', '{"spec":{"lifecycle":"published"}}']);
  t.is(viaSub.code, 0, viaSub.stderr);
  t.is((await admin.get(`${R.packagerevisions}/${prName('api')}`)).body.status.publishedBy, 'approver');
});

test.serial('a status write needs update on packagerevisions/status: the approver cannot forge publishedBy', async (t) => {
  const n = prName('approver');
  const r = await users.approver.http.patch(`${R.packagerevisions}/${n}/status`, { status: { publishedBy: 'someone' } }, 'application/merge-patch+json');
  t.is(r.status, 403);
  t.is(r.body.message, `packagerevisions.${PKG} "${n}" is forbidden: User "approver" cannot patch resource "packagerevisions/status" in API group "${PKG}" in the namespace "${NS}"`);
  t.is((await admin.get(`${R.packagerevisions}/${n}`)).body.status?.publishedBy, undefined);
});

test.serial('non-resource paths are authorized: discovery and OpenAPI for every user, /metrics for the admin only', async (t) => {
  const viewer = users.viewer.http;
  for (const p of ['/apis', `/apis/${PKG}/v1alpha1`, '/openapi/v3', `/openapi/v3/apis/${PKG}/v1alpha1`, '/openapi/v2']) t.is((await viewer.get(p)).status, 200, p);
  const m = await viewer.get('/metrics');
  t.is(m.status, 403);
  t.deepEqual(m.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'forbidden: User "viewer" cannot get path "/metrics"', reason: 'Forbidden', details: {}, code: 403 });
  t.is((await admin.get('/metrics')).status, 200);
  // a namespace the viewer has no binding in
  const other = await viewer.get(`/apis/${PKG}/v1alpha1/namespaces/team-b/packagerevisions`);
  t.is(other.status, 403);
  t.is(other.body.message, `packagerevisions.${PKG} is forbidden: User "viewer" cannot list resource "packagerevisions" in API group "${PKG}" in the namespace "team-b"`);
  // across namespaces (-A) needs a cluster-wide grant
  t.is((await viewer.get(`/apis/${PKG}/v1alpha1/packagerevisions`)).body.message, `packagerevisions.${PKG} is forbidden: User "viewer" cannot list resource "packagerevisions" in API group "${PKG}" at the cluster scope`);
  // no credentials: only health and version
  for (const p of ['/healthz', '/livez', '/readyz', '/version']) t.is((await viewer.get(p, { anonymous: true })).status, 200, p);
  for (const p of ['/apis', '/metrics', '/openapi/v3']) t.is((await viewer.get(p, { anonymous: true })).status, 401, p);
});
