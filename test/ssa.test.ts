// Server-side apply and managedFields end to end (issue 13): every kubectl from 1.27 to 1.33 applies
// Repositories, PackageVariants and PackageRevisions with `apply --server-side` against the real
// server over HTTPS (conflicts, --force-conflicts, removal of fields no one else owns,
// `diff --server-side`, `get --show-managed-fields`), a client-node program applies as Flux does,
// and the HTTP details: fieldManager, dryRun, the status and approval subresources, no write for
// the same apply, the managers of non-apply writes, deletecollection, resourceVersionMatch.
// One server; each kubectl version works in its own namespace.
import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Kubectl, KUBECTL_VERSIONS, type KubectlVersion } from './helpers/kubectl.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';
import { HttpClient, type HttpResponse } from './helpers/http.ts';
import { git } from './helpers/gitserver.ts';
import { kubeConfig } from './helpers/clientnode.ts';
import { userOf } from './helpers/users.ts';
import { DEFAULT_POLICY } from '../src/apiserver/authz/policyfile.ts';

let server: ServerHandle;
let admin: HttpClient;
let gitDir: string;
const files = tempDir('ssa-manifests-');

const CFG = 'config.pkg.pkgserver.dev/v1alpha1';
const PKG = 'pkg.pkgserver.dev/v1alpha1';
const APPLY = 'application/apply-patch+yaml';
const MERGE = 'application/merge-patch+json';
const repos = (ns: string) => `/apis/${CFG}/namespaces/${ns}/repositories`;
const variants = (ns: string) => `/apis/${CFG}/namespaces/${ns}/packagevariants`;
const revisions = (ns: string) => `/apis/${PKG}/namespaces/${ns}/packagerevisions`;

/** A role that may patch Repositories but not create them (an apply that creates needs both). */
const PATCHER_POLICY = `${DEFAULT_POLICY}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: repository-patcher}
rules: [{apiGroups: [config.pkg.pkgserver.dev], resources: [repositories], verbs: [get, list, watch, patch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: repository-patcher}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: repository-patcher}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: patcher}]
`;

test.before(async () => {
  gitDir = tempDir('ssa-git-');
  const policyFile = path.join(tempDir('ssa-policy-'), 'policy.yaml');
  writeFileSync(policyFile, PATCHER_POLICY);
  server = await startServer({ args: ['--authorization-policy-file', policyFile] });
  admin = new HttpClient(server.url, adminTLS(server));
});
test.after.always(async () => {
  await server?.stop();
});

function file(name: string, yaml: string): string {
  const p = path.join(files, name);
  writeFileSync(p, yaml);
  return p;
}

async function bareRepo(ns: string, name: string): Promise<string> {
  await git(gitDir, 'init', '-q', '--bare', '-b', 'main', `${ns}-${name}.git`);
  return path.join(gitDir, `${ns}-${name}.git`);
}

const repositoryYAML = (ns: string, name: string, url: string, o: { labels?: Record<string, string>; period?: string }) => `apiVersion: ${CFG}
kind: Repository
metadata:
  name: ${name}
  namespace: ${ns}
${o.labels ? `  labels: ${JSON.stringify(o.labels)}\n` : ''}spec:
  deployment: true
  git: {url: ${url}}
${o.period ? `  sync: {period: ${o.period}}\n` : ''}`;

const variantYAML = (ns: string, name: string, labels: Record<string, string>) => `apiVersion: ${CFG}
kind: PackageVariant
metadata: {name: ${name}, namespace: ${ns}}
spec:
  upstream: {repository: catalog, package: nginx, revision: v2}
  downstream: {target: c1, repository: deploy, package: nginx}
  packageContext:
    labels: ${JSON.stringify(labels)}
`;

const revisionYAML = (ns: string, o: { policy?: string; gates?: string[]; labels?: Record<string, string> }) => `apiVersion: ${PKG}
kind: PackageRevision
metadata:
  name: c1.deploy..web.ws
  namespace: ${ns}
${o.labels ? `  labels: ${JSON.stringify(o.labels)}\n` : ''}spec:
  packageRevID: {target: c1, repository: deploy, package: web, workspace: ws}
  tasks: [{type: init}]
${o.policy ? `  updatePolicy: ${o.policy}\n` : ''}${o.gates ? `  readinessGates: ${JSON.stringify(o.gates.map((conditionType) => ({ conditionType })))}\n` : ''}`;

async function getObj(p: string): Promise<any> {
  const r = await admin.get(p);
  if (r.status !== 200) throw new Error(`GET ${p}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const managers = (o: any) => (o.metadata.managedFields ?? []).map((e: any) => `${e.manager}/${e.operation}${e.subresource ? `/${e.subresource}` : ''}`).sort();
const entry = (o: any, manager: string, operation = 'Apply') => (o.metadata.managedFields ?? []).find((e: any) => e.manager === manager && e.operation === operation);

/** kubectl's conflict error, as kube words it. */
const conflictRe = (manager: string, field: string) => new RegExp(`Apply failed with 1 conflict: conflict with "${manager}": ${field.replace(/\./g, '\\.')}`);

function isStatus(t: ExecutionContext, r: HttpResponse, code: number, reason: string, message?: string | RegExp): void {
  t.is(r.status, code, JSON.stringify(r.body));
  t.is(r.body?.kind, 'Status', JSON.stringify(r.body));
  t.is(r.body.reason, reason);
  if (typeof message === 'string') t.is(r.body.message, message);
  else if (message) t.regex(r.body.message, message);
}

for (const v of KUBECTL_VERSIONS) {
  test.serial(`kubectl ${v}: apply --server-side on Repository, PackageVariant and PackageRevision`, async (t) => {
    const k = new Kubectl(v as KubectlVersion, server.kubeconfig);
    const ns = `ssa-${v.replace('.', '-')}`;
    const tag = v.replace('.', '');
    const url = await bareRepo(ns, 'deploy');
    const ssa = (name: string, yaml: string, ...extra: string[]) => k.run(['apply', '--server-side', '-f', file(`${tag}-${name}.yaml`, yaml), ...extra]);

    // ---- Repository: creates, the same apply again writes nothing, updates
    const created = await ssa('repo', repositoryYAML(ns, 'deploy', url, { labels: { team: 'a', tier: 'web' }, period: '5m' }));
    t.is(created.code, 0, created.stderr);
    t.regex(created.stdout, /repository\.config\.pkg\.pkgserver\.dev\/deploy serverside-applied/);
    const r1 = await getObj(`${repos(ns)}/deploy`);
    t.deepEqual(managers(r1), ['kubectl/Apply']);
    t.deepEqual(entry(r1, 'kubectl').fieldsV1, { 'f:metadata': { 'f:labels': { 'f:team': {}, 'f:tier': {} } }, 'f:spec': { 'f:deployment': {}, 'f:git': { 'f:url': {} }, 'f:sync': { 'f:period': {} } } });
    t.is((await ssa('repo', repositoryYAML(ns, 'deploy', url, { labels: { team: 'a', tier: 'web' }, period: '5m' }))).code, 0);
    t.is((await getObj(`${repos(ns)}/deploy`)).metadata.resourceVersion, r1.metadata.resourceVersion, 'the same apply twice writes nothing');
    const updated = await ssa('repo', repositoryYAML(ns, 'deploy', url, { labels: { team: 'a', tier: 'web' }, period: '6m' }));
    t.is(updated.code, 0, updated.stderr);
    t.is((await getObj(`${repos(ns)}/deploy`)).spec.sync.period, '6m');

    // a second manager with another value: kube's conflict; the same value for tier: shared
    const otherYAML = (period: string) => repositoryYAML(ns, 'deploy', url, { labels: { tier: 'web' }, period });
    const conflict = await ssa('repo-other', otherYAML('7m'), '--field-manager=other');
    t.not(conflict.code, 0);
    t.regex(conflict.stderr, conflictRe('kubectl', '.spec.sync.period'));
    t.regex(conflict.stderr, /--force-conflicts/);
    t.is((await getObj(`${repos(ns)}/deploy`)).spec.sync.period, '6m');
    const forced = await ssa('repo-other', otherYAML('7m'), '--field-manager=other', '--force-conflicts');
    t.is(forced.code, 0, forced.stderr);
    const r2 = await getObj(`${repos(ns)}/deploy`);
    t.is(r2.spec.sync.period, '7m');
    t.deepEqual(managers(r2), ['kubectl/Apply', 'other/Apply']);
    t.falsy(entry(r2, 'kubectl').fieldsV1['f:spec']['f:sync'], 'the field was taken from kubectl');

    // diff --server-side shows what an apply would change, and changes nothing
    const next = repositoryYAML(ns, 'deploy', url, { labels: { team: 'b', tier: 'web' } });
    const diff = await k.run(['diff', '--server-side', '--force-conflicts', '-f', file(`${tag}-repo-diff.yaml`, next)]);
    t.is(diff.code, 1, diff.stderr);
    t.regex(diff.stdout, /^-\s+team: a$/m);
    t.regex(diff.stdout, /^\+\s+team: b$/m);
    t.is((await getObj(`${repos(ns)}/deploy`)).metadata.resourceVersion, r2.metadata.resourceVersion);

    // kubectl drops team (it alone owns it: removed) and tier (other owns it too: kept)
    const dropped = await ssa('repo', repositoryYAML(ns, 'deploy', url, {}));
    t.is(dropped.code, 0, dropped.stderr);
    const r3 = await getObj(`${repos(ns)}/deploy`);
    t.deepEqual(r3.metadata.labels, { tier: 'web' });
    t.is(r3.spec.sync.period, '7m', 'owned by other');

    // --show-managed-fields shows both managers; plain -o yaml hides them
    const shown = await k.ok(['get', 'repository', 'deploy', '-n', ns, '-o', 'yaml', '--show-managed-fields']);
    t.regex(shown, /managedFields:/);
    t.regex(shown, /manager: kubectl\n\s+operation: Apply/);
    t.regex(shown, /manager: other\n\s+operation: Apply/);
    t.notRegex(await k.ok(['get', 'repository', 'deploy', '-n', ns, '-o', 'yaml']), /managedFields/);

    // ---- PackageVariant
    const pv = await ssa('pv', variantYAML(ns, 'pv1', { a: '1', b: '1' }));
    t.is(pv.code, 0, pv.stderr);
    t.regex(pv.stdout, /packagevariant\.config\.pkg\.pkgserver\.dev\/pv1 serverside-applied/);
    t.is((await ssa('pv', variantYAML(ns, 'pv1', { a: '2', b: '1' }))).code, 0);
    t.deepEqual((await getObj(`${variants(ns)}/pv1`)).spec.packageContext.labels, { a: '2', b: '1' });
    const pvConflict = await ssa('pv-other', variantYAML(ns, 'pv1', { a: '3' }), '--field-manager=other');
    t.regex(pvConflict.stderr, conflictRe('kubectl', '.spec.packageContext.labels.a'));
    t.is((await ssa('pv-other', variantYAML(ns, 'pv1', { a: '3' }), '--field-manager=other', '--force-conflicts')).code, 0);
    t.is((await ssa('pv', variantYAML(ns, 'pv1', {}))).code, 0);
    const pv2 = await getObj(`${variants(ns)}/pv1`);
    t.deepEqual(pv2.spec.packageContext.labels, { a: '3' }, 'b removed (kubectl alone owned it), a kept (other owns it)');
    t.deepEqual(managers(pv2), ['kubectl/Apply', 'other/Apply']);

    // ---- PackageRevision (a draft in git)
    const pr = await ssa('pr', revisionYAML(ns, { gates: ['example.com/a', 'example.com/b'] }));
    t.is(pr.code, 0, pr.stderr);
    t.regex(pr.stdout, /packagerevision\.pkg\.pkgserver\.dev\/c1\.deploy\.\.web\.ws serverside-applied/);
    const pr1 = await getObj(`${revisions(ns)}/c1.deploy..web.ws`);
    t.is(pr1.spec.lifecycle, 'draft');
    t.deepEqual(entry(pr1, 'kubectl').fieldsV1['f:spec']['f:readinessGates'], {
      'k:{"conditionType":"example.com/a"}': { '.': {}, 'f:conditionType': {} },
      'k:{"conditionType":"example.com/b"}': { '.': {}, 'f:conditionType': {} },
    });
    t.is((await ssa('pr', revisionYAML(ns, { policy: 'strict', gates: ['example.com/a', 'example.com/b'] }))).code, 0);
    t.is((await getObj(`${revisions(ns)}/c1.deploy..web.ws`)).spec.updatePolicy, 'strict');
    const prConflict = await ssa('pr-other', revisionYAML(ns, { policy: 'loose', gates: ['example.com/a'] }), '--field-manager=other');
    t.regex(prConflict.stderr, conflictRe('kubectl', '.spec.updatePolicy'));
    t.is((await ssa('pr-other', revisionYAML(ns, { policy: 'loose', gates: ['example.com/a'] }), '--field-manager=other', '--force-conflicts')).code, 0);
    const prDiff = await k.run(['diff', '--server-side', '-f', file(`${tag}-pr-diff.yaml`, revisionYAML(ns, { gates: ['example.com/a', 'example.com/b', 'example.com/c'] }))]);
    t.is(prDiff.code, 1, prDiff.stderr);
    t.regex(prDiff.stdout, /^\+\s+- conditionType: example\.com\/c$/m);
    t.is((await ssa('pr', revisionYAML(ns, {}))).code, 0);
    const pr2 = await getObj(`${revisions(ns)}/c1.deploy..web.ws`);
    t.deepEqual(pr2.spec.readinessGates, [{ conditionType: 'example.com/a' }], 'gate b removed, gate a kept (other applies it)');
    t.is(pr2.spec.updatePolicy, 'loose');
    t.regex(await k.ok(['get', 'pkgrev', 'c1.deploy..web.ws', '-n', ns, '-o', 'yaml', '--show-managed-fields']), /manager: other[\s\S]*manager: kubectl|manager: kubectl[\s\S]*manager: other/);
  });
}

test.serial('a client-node program applies as Flux does (PATCH application/apply-patch+yaml, fieldManager, force)', async (t) => {
  const ns = 'ssa-flux';
  const api = k8s.KubernetesObjectApi.makeApiClient(kubeConfig(server));
  const obj = (period: string, labels: Record<string, string>) => ({
    apiVersion: CFG,
    kind: 'Repository',
    metadata: { name: 'flux', namespace: ns, labels },
    spec: { git: { url: 'https://git.example.com/flux.git' }, sync: { period } },
  });
  const created: any = await api.patch(obj('5m', { a: '1', b: '1' }), undefined, undefined, 'kustomize-controller', true, k8s.PatchStrategy.ServerSideApply);
  t.is((created as any).spec.sync.period, '5m');
  t.deepEqual(managers(created), ['kustomize-controller/Apply']);
  const again: any = await api.patch(obj('5m', { a: '1', b: '1' }), undefined, undefined, 'kustomize-controller', true, k8s.PatchStrategy.ServerSideApply);
  t.is(again.metadata!.resourceVersion, created.metadata!.resourceVersion, 'the same apply twice: same resourceVersion');
  // someone edits a field by hand (kubectl edit's manager); Flux, forcing, takes it back
  const edited = await admin.patch(`${repos(ns)}/flux?fieldManager=kubectl-edit`, { spec: { sync: { period: '9m' } } }, MERGE);
  t.is(edited.status, 200);
  t.deepEqual(managers(edited.body), ['kubectl-edit/Update', 'kustomize-controller/Apply']);
  // without force: kube's conflict, as an ApiException 409 with the causes
  const err = await api.patch(obj('5m', { a: '1' }), undefined, undefined, 'kustomize-controller', false, k8s.PatchStrategy.ServerSideApply).catch((e) => e);
  t.is(err.code, 409);
  const status = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
  t.is(status.reason, 'Conflict');
  t.is(status.message, `Apply failed with 1 conflict: conflict with "kubectl-edit" using ${CFG}: .spec.sync.period`);
  t.deepEqual(status.details.causes, [{ reason: 'FieldManagerConflict', message: `conflict with "kubectl-edit" using ${CFG}`, field: '.spec.sync.period' }]);
  const forced: any = await api.patch(obj('5m', { a: '1' }), undefined, undefined, 'kustomize-controller', true, k8s.PatchStrategy.ServerSideApply);
  t.is((forced as any).spec.sync.period, '5m');
  t.deepEqual(forced.metadata!.labels, { a: '1' }, 'b pruned: only Flux owned it');
  t.deepEqual(managers(forced), ['kustomize-controller/Apply'], 'kubectl-edit lost its only field');
});

test.serial('apply over HTTP: fieldManager required, force only for apply, version and kind checked, YAML bodies, dryRun, 415 for CBOR', async (t) => {
  const ns = 'ssa-http';
  const p = `${repos(ns)}/h1`;
  const yaml = `apiVersion: ${CFG}\nkind: Repository\nmetadata: {name: h1}\nspec:\n  git: {url: "https://git.example.com/h1.git"}\n`;
  isStatus(t, await admin.patch(p, yaml, APPLY), 422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
  isStatus(t, await admin.patch(`${p}?fieldManager=x`, yaml, 'application/apply-patch+cbor'), 415, 'UnsupportedMediaType', /accepted media types include: .*application\/apply-patch\+yaml/);
  isStatus(t, await admin.patch(`${p}?fieldManager=x`, yaml.replace(`apiVersion: ${CFG}`, 'apiVersion: v1'), APPLY), 400, 'BadRequest', `Incorrect version specified in apply patch. Specified patch version: v1, expected: ${CFG}`);
  isStatus(t, await admin.patch(`${p}?fieldManager=x`, yaml.replace('kind: Repository', 'kind: PackageVariant'), APPLY), 400, 'BadRequest');
  // unknown fields: Strict refuses, the default warns and drops them
  isStatus(t, await admin.patch(`${p}?fieldManager=x&fieldValidation=Strict`, `${yaml}  bogus: 1\n`, APPLY), 400, 'BadRequest', /unknown field "spec.bogus"/);
  const warned = await admin.patch(`${p}?fieldManager=x`, `${yaml}  bogus: 1\n`, APPLY);
  t.is(warned.status, 201);
  t.regex(String(warned.headers.warning), /unknown field \\"spec.bogus\\"/);
  t.is(warned.body.spec.bogus, undefined);
  t.is((await admin.delete(p)).status, 200);
  // dryRun=All: the answer of the create, nothing stored
  const dry = await admin.patch(`${p}?fieldManager=x&dryRun=All`, yaml, APPLY);
  t.is(dry.status, 201, JSON.stringify(dry.body));
  t.deepEqual(managers(dry.body), ['x/Apply']);
  t.is((await admin.get(p)).status, 404);
  // YAML (not only kubectl's JSON) creates: 201, then 200
  const c = await admin.patch(`${p}?fieldManager=x`, yaml, APPLY);
  t.is(c.status, 201, JSON.stringify(c.body));
  const dryUpdate = await admin.patch(`${p}?fieldManager=x&dryRun=All`, yaml.replace('spec:\n', 'spec:\n  sync: {period: 1m}\n'), APPLY);
  t.is(dryUpdate.status, 200);
  t.is(dryUpdate.body.spec.sync.period, '1m');
  t.is((await getObj(p)).spec.sync.period, '60s');
  t.is((await getObj(p)).metadata.resourceVersion, c.body.metadata.resourceVersion);
  // a name that is not the URL's
  isStatus(t, await admin.patch(`${repos(ns)}/other?fieldManager=x`, yaml, APPLY), 400, 'BadRequest', 'the name of the object (h1) does not match the name on the URL (other)');
  // force on another patch type is 422, as kube
  isStatus(t, await admin.patch(`${p}?force=true`, { metadata: { labels: { a: '1' } } }, MERGE), 422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch');
  // managedFields may not be applied
  isStatus(t, await admin.patch(`${p}?fieldManager=x`, JSON.stringify({ apiVersion: CFG, kind: 'Repository', metadata: { name: 'h1', managedFields: [{ manager: 'x' }] } }), APPLY), 400, 'BadRequest', /managedFields must be nil/);
});

test.serial('the same apply twice: same resourceVersion, no store write (no watch event)', async (t) => {
  const ns = 'ssa-noop';
  const p = `${variants(ns)}/v`;
  const body = JSON.stringify({ apiVersion: CFG, kind: 'PackageVariant', metadata: { name: 'v' }, spec: { upstream: { repository: 'c', package: 'p' }, downstream: { target: 'c1', repository: 'd', package: 'p' } } });
  const a = await admin.patch(`${p}?fieldManager=m`, body, APPLY);
  t.is(a.status, 201);
  const w = await admin.stream(`${variants(ns)}?watch=true&resourceVersion=${a.body.metadata.resourceVersion}&allowWatchBookmarks=false`);
  const b = await admin.patch(`${p}?fieldManager=m`, body, APPLY);
  t.is(b.status, 200);
  t.deepEqual(b.body, a.body);
  // a write after it is the first event the watch sees
  const c = await admin.patch(`${p}?fieldManager=m`, body.replace('"package":"p"}}', '"package":"p"},"deletionPolicy":"orphan"}'), APPLY);
  t.is(c.status, 200);
  t.not(c.body.metadata.resourceVersion, a.body.metadata.resourceVersion);
  const ev = await w.next();
  t.is(ev.type, 'MODIFIED');
  t.is(ev.object.metadata.resourceVersion, c.body.metadata.resourceVersion);
  w.close();
});

test.serial('managedFields on every write: create, update, each patch type, with kube default managers from the User-Agent', async (t) => {
  const ns = 'ssa-managers';
  const k = new Kubectl('1.33', server.kubeconfig);
  const p = `${repos(ns)}/m1`;
  await k.ok(['create', 'namespace', ns]);
  await k.ok(['create', '-f', file('m1.yaml', repositoryYAML(ns, 'm1', 'https://git.example.com/m1.git', {}))]);
  t.deepEqual(managers(await getObj(p)), ['kubectl-create/Update']);
  await k.ok(['label', 'repository', 'm1', '-n', ns, 'a=1']);
  await k.ok(['patch', 'repository', 'm1', '-n', ns, '--type=merge', '-p', '{"spec":{"sync":{"period":"2m"}}}']);
  await k.ok(['annotate', 'repository', 'm1', '-n', ns, 'x=y']);
  const o = await getObj(p);
  t.deepEqual(managers(o), ['kubectl-annotate/Update', 'kubectl-create/Update', 'kubectl-label/Update', 'kubectl-patch/Update']);
  t.deepEqual(entry(o, 'kubectl-patch', 'Update').fieldsV1, { 'f:spec': { 'f:sync': { 'f:period': {} } } });
  t.deepEqual(entry(o, 'kubectl-label', 'Update').fieldsV1, { 'f:metadata': { 'f:labels': { '.': {}, 'f:a': {} } } });
  // kubectl edit
  const edited = await k.run(['edit', 'repository', 'm1', '-n', ns], { env: { KUBE_EDITOR: k.editor('s/period: 2m/period: 3m/') } });
  t.is(edited.code, 0, edited.stderr);
  t.truthy(entry(await getObj(p), 'kubectl-edit', 'Update'));
  // no fieldManager: the User-Agent up to '/'
  const put = await admin.put(p, { ...(await getObj(p)), spec: { ...(await getObj(p)).spec, sync: { period: '4m' } } }, { headers: { 'User-Agent': 'my-operator/v0.3 (linux)' } });
  t.is(put.status, 200);
  t.deepEqual(entry(put.body, 'my-operator', 'Update').fieldsV1, { 'f:spec': { 'f:sync': { 'f:period': {} } } });
  t.falsy(entry(put.body, 'kubectl-edit', 'Update'), 'the field it owned went to the new writer');
  // a JSON patch and a strategic merge patch
  const jp = await admin.patch(`${p}?fieldManager=jp`, [{ op: 'add', path: '/metadata/labels/b', value: '2' }], 'application/json-patch+json');
  t.truthy(entry(jp.body, 'jp', 'Update'));
  const smp = await admin.patch(`${p}?fieldManager=smp`, { metadata: { labels: { c: '3' } } }, 'application/strategic-merge-patch+json');
  t.truthy(entry(smp.body, 'smp', 'Update'));
  // the status subresource records its writes with subresource status
  const st = await admin.patch(`${p}/status?fieldManager=syncer`, { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Synced', message: 'ok', lastTransitionTime: '2026-11-26T00:00:00Z' }] } }, MERGE);
  t.is(st.status, 200);
  t.deepEqual(entry(st.body, 'syncer', 'Update').subresource, 'status');
  t.truthy(entry(st.body, 'syncer', 'Update').fieldsV1['f:status']['f:conditions']['k:{"type":"Ready"}']);
});

test.serial('client-side apply → server-side apply: kubectl takes over what its last-applied-configuration says it applied', async (t) => {
  const ns = 'ssa-migrate';
  const k = new Kubectl('1.33', server.kubeconfig);
  await k.ok(['create', 'namespace', ns]);
  const f = (period: string) => file(`mig-${period}.yaml`, repositoryYAML(ns, 'mig', 'https://git.example.com/mig.git', { labels: { a: '1' }, period }));
  await k.ok(['apply', '-f', f('5m')]);
  const csa = await getObj(`${repos(ns)}/mig`);
  t.deepEqual(managers(csa), ['kubectl-client-side-apply/Update']);
  t.truthy(csa.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']);
  const r = await k.run(['apply', '--server-side', '-f', f('6m')]);
  t.is(r.code, 0, r.stderr);
  const o = await getObj(`${repos(ns)}/mig`);
  t.is(o.spec.sync.period, '6m');
  t.truthy(entry(o, 'kubectl', 'Apply'));
  t.regex(o.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], /"period":"6m"/);
});

// As in kube: the same file applied client-side, then server-side by the same user, is no conflict
// (kubectl moves the kubectl-client-side-apply entry to its own Apply entry, csaupgrade, since 1.26), and a field
// later removed from the file is removed from the object. With the oldest and the newest kubectl.
for (const v of ['1.27', '1.33'] as const) {
  test.serial(`kubectl ${v}: apply, then apply --server-side of the same file: no conflict; a field removed from the file is removed`, async (t) => {
    const ns = `ssa-migrate-${v.replace('.', '-')}`;
    const k = new Kubectl(v, server.kubeconfig);
    const tag = `mig${v.replace('.', '')}`;
    const p = `${repos(ns)}/mig`;
    await k.ok(['create', 'namespace', ns]);
    const full = file(`${tag}-full.yaml`, repositoryYAML(ns, 'mig', 'https://git.example.com/mig.git', { labels: { a: '1', b: '2' }, period: '5m' }));
    const csa = await k.run(['apply', '-f', full]);
    t.is(csa.code, 0, csa.stderr);
    t.deepEqual(managers(await getObj(p)), ['kubectl-client-side-apply/Update']);
    const ssa = await k.run(['apply', '--server-side', '-f', full]);
    t.is(ssa.code, 0, ssa.stderr);
    t.notRegex(ssa.stderr, /conflict/i);
    const o = await getObj(p);
    // kubectl applies the annotation as kubectl-last-applied, then replaces the client-side apply
    // entry by its own (csaupgrade), as against kube-apiserver
    t.deepEqual(managers(o), ['kubectl-last-applied/Apply', 'kubectl/Apply'], JSON.stringify(o.metadata.managedFields));
    t.deepEqual(entry(o, 'kubectl').fieldsV1['f:spec'], { 'f:deployment': {}, 'f:git': { 'f:url': {} }, 'f:sync': { 'f:period': {} } });
    // the file loses label b and spec.sync: both go
    const less = file(`${tag}-less.yaml`, repositoryYAML(ns, 'mig', 'https://git.example.com/mig.git', { labels: { a: '1' } }));
    const r = await k.run(['apply', '--server-side', '-f', less]);
    t.is(r.code, 0, r.stderr);
    const o2 = await getObj(p);
    t.deepEqual(o2.metadata.labels, { a: '1' });
    t.is(o2.spec.sync.period, '60s', 'the applied 5m removed: the default again');
    t.deepEqual(managers(o2), ['kubectl-last-applied/Apply', 'kubectl/Apply']);
    // and a client-side apply after it still works from the annotation kubectl's apply kept in step
    const back = await k.run(['apply', '-f', full]);
    t.is(back.code, 0, back.stderr);
    const o3 = await getObj(p);
    t.deepEqual(o3.metadata.labels, { a: '1', b: '2' });
    t.is(o3.spec.sync.period, '5m');
  });
}

test.serial('apply through the status and approval subresources: their own fields only, recorded with the subresource', async (t) => {
  const ns = 'ssa-sub';
  const url = await bareRepo(ns, 'deploy');
  t.is((await admin.patch(`${repos(ns)}/deploy?fieldManager=setup`, repositoryYAML(ns, 'deploy', url, {}), APPLY)).status, 201);
  const name = 'c1.deploy..web.ws';
  const p = `${revisions(ns)}/${name}`;
  t.is((await admin.patch(`${p}?fieldManager=gitops`, revisionYAML(ns, { gates: ['example.com/a'] }), APPLY)).status, 201);
  const cond = (status: string) => ({ type: 'example.com/a', status, reason: 'Checked', message: 'by ci', lastTransitionTime: '2026-11-26T00:00:00Z' });
  const statusApply = (status: string, extra = {}) =>
    admin.patch(`${p}/status?fieldManager=ci`, JSON.stringify({ apiVersion: PKG, kind: 'PackageRevision', metadata: { name }, ...extra, status: { conditions: [cond(status)] } }), APPLY);
  // spec in a status apply is ignored (a reset field of the subresource), not owned
  const s = await statusApply('True', { spec: { updatePolicy: 'strict' } });
  t.is(s.status, 200, JSON.stringify(s.body));
  t.is(s.body.spec.updatePolicy, 'loose');
  const ci = entry(s.body, 'ci');
  t.is(ci.subresource, 'status');
  t.deepEqual(Object.keys(ci.fieldsV1), ['f:status']);
  t.deepEqual(ci.fieldsV1['f:status']['f:conditions']['k:{"type":"example.com/a"}']['f:status'], {});
  // another manager through status: a conflict names the manager with its subresource
  const other = await admin.patch(`${p}/status?fieldManager=other`, JSON.stringify({ apiVersion: PKG, kind: 'PackageRevision', metadata: { name }, status: { conditions: [cond('False')] } }), APPLY);
  isStatus(t, other, 409, 'Conflict');
  t.regex(other.body.message, /conflict with "ci" with subresource "status": \.status\.conditions\[type="example\.com\/a"\]\.status/);
  // approval: spec.lifecycle only
  const a = await admin.patch(`${p}/approval?fieldManager=approver`, JSON.stringify({ apiVersion: PKG, kind: 'PackageRevision', metadata: { name, labels: { x: 'y' } }, spec: { lifecycle: 'proposed', updatePolicy: 'strict' } }), APPLY);
  t.is(a.status, 200, JSON.stringify(a.body));
  t.is(a.body.spec.lifecycle, 'proposed');
  t.is(a.body.spec.updatePolicy, 'loose');
  t.is(a.body.metadata.labels, undefined);
  const ap = entry(a.body, 'approver');
  t.is(ap.subresource, 'approval');
  t.deepEqual(ap.fieldsV1, { 'f:spec': { 'f:lifecycle': {} } });
  // a subresource of a missing object is 404, never a create
  isStatus(t, await admin.patch(`${revisions(ns)}/nope/status?fieldManager=ci`, JSON.stringify({ apiVersion: PKG, kind: 'PackageRevision', metadata: { name: 'nope' } }), APPLY), 404, 'NotFound');
});

test.serial('deletecollection: label and field selectors delete exactly the matching objects; a published revision is refused and reported, the others go', async (t) => {
  const ns = 'ssa-dc';
  const url = await bareRepo(ns, 'deploy');
  t.is((await admin.patch(`${repos(ns)}/deploy?fieldManager=setup`, repositoryYAML(ns, 'deploy', url, {}), APPLY)).status, 201);
  for (const [name, app] of [['a', 'x'], ['b', 'x'], ['c', 'y'], ['d', 'x']]) {
    const r = await admin.post(variants(ns), { apiVersion: CFG, kind: 'PackageVariant', metadata: { name, labels: { app } }, spec: { upstream: { repository: 'c', package: 'p' }, downstream: { target: 'c1', repository: 'deploy', package: name } } });
    t.is(r.status, 201);
  }
  const names = async (p: string) => (await getObj(p)).items.map((o: any) => o.metadata.name);
  // dry run: the answer, nothing deleted
  const dry = await admin.delete(`${variants(ns)}?labelSelector=app%3Dx`, { dryRun: ['All'] });
  t.is(dry.status, 200, JSON.stringify(dry.body));
  t.is(dry.body.kind, 'PackageVariantList');
  t.deepEqual(dry.body.items.map((o: any) => o.metadata.name), ['a', 'b', 'd']);
  t.deepEqual(await names(variants(ns)), ['a', 'b', 'c', 'd']);
  const byLabel = await admin.delete(`${variants(ns)}?labelSelector=app%3Dx&fieldSelector=metadata.name!%3Dd`);
  t.is(byLabel.status, 200, JSON.stringify(byLabel.body));
  t.deepEqual(byLabel.body.items.map((o: any) => o.metadata.name), ['a', 'b']);
  t.deepEqual(await names(variants(ns)), ['c', 'd']);
  // revisions: one published (refused as a single delete refuses it), two drafts
  const pr = (pkg: string) => ({ apiVersion: PKG, kind: 'PackageRevision', metadata: { name: `c1.deploy..${pkg}.ws`, labels: { app: 'z' } }, spec: { packageRevID: { target: 'c1', repository: 'deploy', package: pkg, workspace: 'ws' }, tasks: [{ type: 'init' }] } });
  for (const pkg of ['p1', 'p2', 'p3', 'p4', 'p5']) t.is((await admin.post(revisions(ns), pr(pkg))).status, 201);
  for (const pkg of ['p2', 'p5'])
    for (const lifecycle of ['proposed', 'published']) t.is((await admin.patch(`${revisions(ns)}/c1.deploy..${pkg}.ws`, { spec: { lifecycle } }, MERGE)).status, 200);
  const single = await admin.delete(`${revisions(ns)}/c1.deploy..p2.ws`, { dryRun: ['All'] });
  t.not(single.status, 200);
  // label and field selectors: p3 is left out by the field selector; p2 is refused as a single delete is
  const some = await admin.delete(`${revisions(ns)}?labelSelector=app%3Dz&fieldSelector=metadata.name!%3Dc1.deploy..p3.ws,metadata.name!%3Dc1.deploy..p5.ws`);
  t.is(some.status, single.status, JSON.stringify(some.body));
  t.is(some.body.reason, single.body.reason);
  t.is(some.body.message, single.body.message);
  t.deepEqual(some.body.details.causes.map((c: any) => c.field), ['c1.deploy..p2.ws']);
  t.deepEqual(await names(revisions(ns)), ['c1.deploy..p2.ws', 'c1.deploy..p3.ws', 'c1.deploy..p5.ws']);
  // two refusals: both reported, each as its single delete words it; the draft goes
  const single5 = await admin.delete(`${revisions(ns)}/c1.deploy..p5.ws`, { dryRun: ['All'] });
  const all = await admin.delete(`${revisions(ns)}?labelSelector=app%3Dz`);
  t.is(all.status, single.status, JSON.stringify(all.body));
  t.is(all.body.message, `2 of 3 objects were not deleted: ${single.body.message}; ${single5.body.message}`);
  t.deepEqual(all.body.details.causes.map((c: any) => [c.field, c.message]), [['c1.deploy..p2.ws', single.body.message], ['c1.deploy..p5.ws', single5.body.message]]);
  t.deepEqual(await names(revisions(ns)), ['c1.deploy..p2.ws', 'c1.deploy..p5.ws']);
  // a verb the resource does not serve
  isStatus(t, await admin.delete(`/apis/${PKG}/namespaces/${ns}/packagerevisionresources`), 405, 'MethodNotAllowed');
});

test.serial('kubectl delete -l and --all delete what matches; a published revision is refused', async (t) => {
  const ns = 'ssa-kdel';
  const k = new Kubectl('1.33', server.kubeconfig);
  for (const [name, app] of [['a', 'x'], ['b', 'y']]) {
    t.is((await admin.post(variants(ns), { apiVersion: CFG, kind: 'PackageVariant', metadata: { name, labels: { app } }, spec: { upstream: { repository: 'c', package: 'p' }, downstream: { target: 'c1', repository: 'd', package: name } } })).status, 201);
  }
  t.regex(await k.ok(['delete', 'pv', '-n', ns, '-l', 'app=x']), /packagevariant\.config\.pkg\.pkgserver\.dev "a" deleted/);
  t.deepEqual((await getObj(variants(ns))).items.map((o: any) => o.metadata.name), ['b']);
  await k.ok(['delete', 'pv', '-n', ns, '--all']);
  t.deepEqual((await getObj(variants(ns))).items, []);
  // revisions: kubectl deletes the drafts that match; the published one is refused as a single delete is
  const url = await bareRepo(ns, 'deploy');
  t.is((await admin.patch(`${repos(ns)}/deploy?fieldManager=setup`, repositoryYAML(ns, 'deploy', url, {}), APPLY)).status, 201);
  for (const [pkg, app] of [['p1', 'z'], ['p2', 'z'], ['p3', 'w']]) {
    const pr = { apiVersion: PKG, kind: 'PackageRevision', metadata: { name: `c1.deploy..${pkg}.ws`, labels: { app } }, spec: { packageRevID: { target: 'c1', repository: 'deploy', package: pkg, workspace: 'ws' }, tasks: [{ type: 'init' }] } };
    t.is((await admin.post(revisions(ns), pr)).status, 201);
  }
  for (const lifecycle of ['proposed', 'published']) t.is((await admin.patch(`${revisions(ns)}/c1.deploy..p2.ws`, { spec: { lifecycle } }, MERGE)).status, 200);
  const byLabel = await k.run(['delete', 'pkgrev', '-n', ns, '-l', 'app=z']);
  t.not(byLabel.code, 0);
  t.regex(byLabel.stdout, /packagerevision\.pkg\.pkgserver\.dev "c1\.deploy\.\.p1\.ws" deleted/);
  t.regex(byLabel.stderr, /"c1\.deploy\.\.p2\.ws" is forbidden: a published revision cannot be deleted/);
  t.deepEqual((await getObj(revisions(ns))).items.map((o: any) => o.metadata.name), ['c1.deploy..p2.ws', 'c1.deploy..p3.ws']);
  const all = await k.run(['delete', 'pkgrev', '-n', ns, '--all']);
  t.not(all.code, 0);
  t.regex(all.stdout, /"c1\.deploy\.\.p3\.ws" deleted/);
  t.deepEqual((await getObj(revisions(ns))).items.map((o: any) => o.metadata.name), ['c1.deploy..p2.ws']);
});

test.serial('resourceVersionMatch on lists: NotOlderThan and Exact as kube, with its validation errors', async (t) => {
  const ns = 'ssa-rvm';
  const first = await admin.post(variants(ns), { apiVersion: CFG, kind: 'PackageVariant', metadata: { name: 'a' }, spec: { upstream: { repository: 'c', package: 'p' }, downstream: { target: 'c1', repository: 'd', package: 'a' } } });
  t.is(first.status, 201);
  const rv = first.body.metadata.resourceVersion;
  t.is((await admin.post(variants(ns), { ...first.body, metadata: { name: 'b' } })).status, 201);
  const exact = await getObj(`${variants(ns)}?resourceVersion=${rv}&resourceVersionMatch=Exact`);
  t.deepEqual(exact.items.map((o: any) => o.metadata.name), ['a']);
  t.is(exact.metadata.resourceVersion, rv);
  const newer = await getObj(`${variants(ns)}?resourceVersion=${rv}&resourceVersionMatch=NotOlderThan`);
  t.deepEqual(newer.items.map((o: any) => o.metadata.name), ['a', 'b']);
  isStatus(t, await admin.get(`${variants(ns)}?resourceVersionMatch=Exact`), 422, 'Invalid', /resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided/);
  isStatus(t, await admin.get(`${variants(ns)}?resourceVersion=1&resourceVersionMatch=Bogus`), 422, 'Invalid', /resourceVersionMatch: Unsupported value: "Bogus"/);
  isStatus(t, await admin.get(`${variants(ns)}?resourceVersion=999999999&resourceVersionMatch=NotOlderThan`), 504, 'Timeout');
});

test.serial('apply to PackageRevisionResources merges the files it sends into the draft', async (t) => {
  const ns = 'ssa-prr';
  const url = await bareRepo(ns, 'deploy');
  t.is((await admin.patch(`${repos(ns)}/deploy?fieldManager=setup`, repositoryYAML(ns, 'deploy', url, {}), APPLY)).status, 201);
  const name = 'c1.deploy..web.ws';
  t.is((await admin.patch(`${revisions(ns)}/${name}?fieldManager=setup`, revisionYAML(ns, {}), APPLY)).status, 201);
  const prr = `/apis/${PKG}/namespaces/${ns}/packagerevisionresources/${name}`;
  const before = await getObj(prr);
  const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: "1"}\n';
  const r = await admin.patch(`${prr}?fieldManager=gitops`, JSON.stringify({ apiVersion: PKG, kind: 'PackageRevisionResources', metadata: { name }, spec: { resources: { 'cm.yaml': cm } } }), APPLY);
  t.is(r.status, 200, JSON.stringify(r.body));
  t.is(r.body.spec.resources['cm.yaml'], cm);
  t.deepEqual(Object.keys(r.body.spec.resources).sort(), [...Object.keys(before.spec.resources), 'cm.yaml'].sort());
  // a missing one is not created
  isStatus(t, await admin.patch(`/apis/${PKG}/namespaces/${ns}/packagerevisionresources/c1.deploy..nope.ws?fieldManager=gitops`, JSON.stringify({ apiVersion: PKG, kind: 'PackageRevisionResources', metadata: { name: 'c1.deploy..nope.ws' } }), APPLY), 404, 'NotFound');
});

test.serial('an apply that creates is authorized as a create too: patch alone may apply to an existing object only', async (t) => {
  const ns = 'ssa-authz';
  const patcher = userOf(server, 'patcher');
  const yaml = (period: string) => repositoryYAML(ns, 'p1', 'https://git.example.com/p1.git', { period });
  const denied = await patcher.http.patch(`${repos(ns)}/p1?fieldManager=patcher`, yaml('5m'), APPLY);
  isStatus(t, denied, 403, 'Forbidden', `repositories.config.pkg.pkgserver.dev "p1" is forbidden: User "patcher" cannot create resource "repositories" in API group "config.pkg.pkgserver.dev" in the namespace "${ns}"`);
  t.is((await admin.get(`${repos(ns)}/p1`)).status, 404);
  t.is((await admin.patch(`${repos(ns)}/p1?fieldManager=admin`, yaml('5m'), APPLY)).status, 201);
  const ok = await patcher.http.patch(`${repos(ns)}/p1?fieldManager=patcher&force=true`, yaml('6m'), APPLY);
  t.is(ok.status, 200, JSON.stringify(ok.body));
  t.is(ok.body.spec.sync.period, '6m');
});

/** kubectl versions whose `apply` has `--subresource` (1.32 added it; 1.27–1.31 answer "unknown flag"). */
const APPLY_SUBRESOURCE = new Set<string>(['1.32', '1.33']);

for (const v of KUBECTL_VERSIONS) {
  test.serial(`kubectl ${v}: apply --server-side --subresource=status and approval`, async (t) => {
    const k = new Kubectl(v as KubectlVersion, server.kubeconfig);
    const ns = `ssa-subres-${v.replace('.', '-')}`;
    const tag = `sub${v.replace('.', '')}`;
    const url = await bareRepo(ns, 'deploy');
    const name = 'c1.deploy..web.ws';
    t.is((await admin.patch(`${repos(ns)}/deploy?fieldManager=setup`, repositoryYAML(ns, 'deploy', url, {}), APPLY)).status, 201);
    t.is((await admin.patch(`${variants(ns)}/pv1?fieldManager=setup`, variantYAML(ns, 'pv1', { a: '1' }), APPLY)).status, 201);
    t.is((await admin.patch(`${revisions(ns)}/${name}?fieldManager=setup`, revisionYAML(ns, {}), APPLY)).status, 201);
    const cond = `[{type: example.com/ci, status: "True", reason: Checked, message: by ci, lastTransitionTime: "2026-11-26T00:00:00Z"}]`;
    const statusYAML = (apiVersion: string, kind: string, n: string, extra = '') => `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: {name: ${JSON.stringify(n)}, namespace: ${ns}}\n${extra}status:\n  conditions: ${cond}\n`;
    const sub = (f: string, yaml: string, subresource: string) => k.run(['apply', '--server-side', `--subresource=${subresource}`, '--field-manager=ci', '-f', file(`${tag}-${f}.yaml`, yaml)]);

    if (!APPLY_SUBRESOURCE.has(v)) {
      const r = await sub('repo-status', statusYAML(CFG, 'Repository', 'deploy'), 'status');
      t.not(r.code, 0);
      t.regex(r.stderr, /unknown flag: --subresource/);
      return;
    }
    for (const [p, kind, apiVersion, n] of [
      [`${repos(ns)}/deploy`, 'Repository', CFG, 'deploy'],
      [`${variants(ns)}/pv1`, 'PackageVariant', CFG, 'pv1'],
      [`${revisions(ns)}/${name}`, 'PackageRevision', PKG, name],
    ] as const) {
      const before = await getObj(p);
      // spec sent through status is not written (a reset field of the subresource)
      const r = await sub(`${kind}-status`, statusYAML(apiVersion, kind, n, `spec: {}\n`), 'status');
      t.is(r.code, 0, `${kind}: ${r.stderr}`);
      t.regex(r.stdout, /serverside-applied/);
      const o = await getObj(p);
      t.deepEqual(o.spec, before.spec, kind);
      t.like(o.status.conditions.find((c: any) => c.type === 'example.com/ci'), { status: 'True', reason: 'Checked' }, kind);
      const ci = entry(o, 'ci');
      t.is(ci?.subresource, 'status', kind);
      t.deepEqual(Object.keys(ci.fieldsV1), ['f:status'], kind);
      // the same apply again writes nothing
      t.is((await sub(`${kind}-status`, statusYAML(apiVersion, kind, n, `spec: {}\n`), 'status')).code, 0);
      t.is((await getObj(p)).metadata.resourceVersion, o.metadata.resourceVersion, `${kind}: the same status apply twice`);
      // another manager through status: kube's conflict naming the subresource; forced, it takes the field
      const other = await k.run(['apply', '--server-side', '--subresource=status', '--field-manager=other', '-f', file(`${tag}-${kind}-other.yaml`, statusYAML(apiVersion, kind, n).replace('"True"', '"False"'))]);
      t.not(other.code, 0, kind);
      t.regex(other.stderr, /conflict with "ci" with subresource "status": \.status\.conditions\[type="example\.com\/ci"\]\.status/, kind);
      const forced = await k.run(['apply', '--server-side', '--subresource=status', '--field-manager=other', '--force-conflicts', '-f', file(`${tag}-${kind}-other.yaml`, statusYAML(apiVersion, kind, n).replace('"True"', '"False"'))]);
      t.is(forced.code, 0, forced.stderr);
      t.is((await getObj(p)).status.conditions.find((c: any) => c.type === 'example.com/ci').status, 'False', kind);
    }
    // PackageRevision's approval subresource: spec.lifecycle only
    const approvalYAML = `apiVersion: ${PKG}\nkind: PackageRevision\nmetadata: {name: ${JSON.stringify(name)}, namespace: ${ns}, labels: {x: "1"}}\nspec: {lifecycle: proposed, updatePolicy: strict}\n`;
    const a = await k.run(['apply', '--server-side', '--subresource=approval', '--field-manager=approver', '-f', file(`${tag}-approval.yaml`, approvalYAML)]);
    t.is(a.code, 0, a.stderr);
    const pr = await getObj(`${revisions(ns)}/${name}`);
    t.is(pr.spec.lifecycle, 'proposed');
    t.not(pr.spec.updatePolicy, 'strict');
    t.is(pr.metadata.labels?.x, undefined);
    const ap = entry(pr, 'approver');
    t.is(ap?.subresource, 'approval');
    t.deepEqual(ap.fieldsV1, { 'f:spec': { 'f:lifecycle': {} } });
  });
}
