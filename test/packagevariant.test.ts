// The PackageVariant controller end to end, with kubectl 1.33 and raw HTTPS against the real
// server (its controllers on) and real git (local bare repositories written with the git CLI):
// exactly one downstream draft with the package context; a newer upstream makes exactly one
// upgrade draft in which a local edit survives and the upstream change arrives; a conflicting
// edit gives the conflict condition; context changes; adoption; deletion by policy and by
// kubectl's propagation; Events in describe and `kubectl events`; a revision event reaches only
// the variants indexed for it.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { git, localCatalogAndDeploy } from './helpers/gitserver.ts';
import { HttpClient } from './helpers/http.ts';
import { Kubectl } from './helpers/kubectl.ts';
import { managersOf, updatedBy } from './helpers/managedfields.ts';
import { afterSecondOf, poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';

const NS = 'variants';
const PR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisions`;
const PRR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisionresources`;
const PV = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagevariants`;
const REPOS = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories`;
const MERGE = 'application/merge-patch+json';

let server: ServerHandle;
let admin: HttpClient;
let k: Kubectl;
let catalogWC: string;

const deployment = (name: string, image: string, replicas = 1) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  replicas: ${replicas}\n  selector:\n    matchLabels: {app: ${name}}\n  template:\n    metadata:\n      labels: {app: ${name}}\n    spec:\n      containers:\n      - name: ${name}\n        image: ${image}\n`;

/** Publishes a catalog revision with the git CLI (a commit on main and the tag <pkg>/<rev>) and asks the server to sync. */
async function publishUpstream(pkg: string, rev: string, files: Record<string, string>): Promise<void> {
  for (const [f, c] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(catalogWC, pkg, f)), { recursive: true });
    writeFileSync(path.join(catalogWC, pkg, f), c);
  }
  await git(catalogWC, 'add', '.');
  await git(catalogWC, 'commit', '-q', '-m', `${pkg} ${rev}`);
  await git(catalogWC, 'tag', `${pkg}/${rev}`);
  await git(catalogWC, 'push', '-q', 'origin', 'main', `${pkg}/${rev}`);
  await admin.patch(`${REPOS}/cat`, { metadata: { annotations: { 'test/sync': `${pkg}-${rev}` } } }, MERGE);
  await poll(`catalog ${pkg} ${rev}`, async () => ((await admin.get(`${PR}/catalog.cat..${pkg}.${rev}`)).status === 200 ? true : undefined));
}

const variant = (name: string, pkg: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
  kind: 'PackageVariant',
  metadata: { name },
  spec: { upstream: { repository: 'cat', package: pkg, revision: '*' }, downstream: { target: 'c1', repository: 'deploy', package: name }, ...extra },
});

/** The downstream PackageRevisions a variant owns. */
async function owned(pvName: string): Promise<any[]> {
  const pv = (await admin.get(`${PV}/${pvName}`)).body;
  return (await admin.get(PR)).body.items.filter((pr: any) => (pr.metadata.ownerReferences ?? []).some((r: any) => r.uid === pv.metadata.uid));
}

/** Waits until the variant owns exactly `n` revisions matching `pred`, and returns them. */
async function ownedWhen(pvName: string, what: string, pred: (prs: any[]) => boolean): Promise<any[]> {
  return poll(`${pvName}: ${what}`, async () => {
    const prs = await owned(pvName);
    return pred(prs) ? prs : undefined;
  });
}

const files = async (name: string): Promise<Record<string, string>> => (await admin.get(`${PRR}/${name}`)).body.spec.resources;

async function publish(name: string): Promise<void> {
  for (const lifecycle of ['proposed', 'published']) {
    const r = await admin.patch(`${PR}/${name}`, { spec: { lifecycle } }, MERGE);
    if (r.status !== 200) throw new Error(`${lifecycle} ${name}: ${JSON.stringify(r.body)}`);
  }
}

async function editFile(name: string, file: string, edit: (text: string) => string): Promise<void> {
  const cur = (await admin.get(`${PRR}/${name}`)).body;
  cur.spec.resources[file] = edit(cur.spec.resources[file]);
  const r = await admin.put(`${PRR}/${name}`, cur);
  if (r.status !== 200) throw new Error(`edit ${name}: ${JSON.stringify(r.body)}`);
}

const container = (yamlText: string) => YAML.parse(yamlText).spec.template.spec.containers[0];
const condition = (o: any, type: string) => (o.status?.conditions ?? []).find((c: any) => c.type === type);

test.before(async () => {
  server = await startServer({ controllers: true });
  admin = new HttpClient(server.url, adminTLS(server));
  k = new Kubectl('1.33', server.kubeconfig);
  const site = await localCatalogAndDeploy(tempDir('pv-git-'));
  catalogWC = site.catalogWC;
  await k.ok(['create', 'namespace', NS]);
  await k.ok(['apply', '-n', NS, '-f', '-'], { input: site.repositories });
  await publishUpstream('web', 'v1', { Kptfile: 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: web\n', 'deployment.yaml': deployment('web', 'nginx:1.0'), 'service.yaml': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n' });
});
test.after.always(async () => {
  await server?.stop();
});

test.serial('a variant makes exactly one downstream draft, owned, with its package context; status and Events say so', async (t) => {
  const input = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ctx' }, data: { cluster: 'c1' } };
  await k.ok(['apply', '-n', NS, '-f', '-'], { input: JSON.stringify(variant('web', 'web', { packageContext: { inputs: [input], labels: { team: 'a' }, annotations: { 'example.com/owner': 'ops' } } })) });
  const [draft] = await ownedWhen('web', 'one draft', (prs) => prs.length === 1);
  t.regex(draft.metadata.name, /^c1\.deploy\.\.web\.pv-[0-9a-f]{16}$/);
  t.is(draft.spec.lifecycle, 'draft');
  t.deepEqual(draft.spec.tasks, [{ type: 'clone' }]);
  t.deepEqual(draft.spec.upstream, { repository: 'cat', package: 'web', revision: 'v1' });
  t.is(draft.metadata.labels.team, 'a');
  t.is(draft.metadata.annotations['example.com/owner'], 'ops');
  t.deepEqual(draft.metadata.ownerReferences.map((r: any) => [r.kind, r.name, r.controller]), [['PackageVariant', 'web', true]]);
  const f = await files(draft.metadata.name);
  t.is(container(f['deployment.yaml']).image, 'nginx:1.0');
  t.regex(f['package-context.yaml'], /cluster: c1/);
  const pv = await poll('Ready', async () => {
    const o = (await admin.get(`${PV}/web`)).body;
    return condition(o, 'Ready')?.status === 'True' ? o : undefined;
  });
  t.deepEqual(pv.status.downstream, [{ name: draft.metadata.name, lifecycle: 'draft' }]);
  // the controller's writes carry its own manager: the draft it created, the status it wrote
  const PVC = 'pkgserver-packagevariant-controller';
  t.truthy(updatedBy(draft, PVC)?.fieldsV1?.['f:spec'], managersOf(draft).join(', '));
  t.truthy(updatedBy(pv, PVC, 'status')?.fieldsV1?.['f:status']?.['f:downstream'], managersOf(pv).join(', '));
  t.is(condition(pv, 'Stalled').status, 'False');
  t.true(pv.metadata.finalizers.includes('config.pkg.pkgserver.dev/packagevariant'));
  // the variant's events, in kubectl describe and kubectl events
  const described = await poll('the event in describe', async () => {
    const out = await k.ok(['describe', 'packagevariant', 'web', '-n', NS]);
    return /DraftCreated/.test(out) ? out : undefined;
  });
  t.regex(described, /Normal\s+DraftCreated\s+\S+\s+pkgserver\s+created PackageRevision c1\.deploy\.\.web\.pv-[0-9a-f]{16}: cloned from web@v1/);
  t.regex(await k.ok(['events', '-n', NS, '--for', 'packagevariant/web']), /DraftCreated/);
  // nothing more happens: touching the variant's metadata or re-syncing does not make more drafts
  await admin.patch(`${PV}/web`, { metadata: { labels: { touched: 'yes' } } }, MERGE);
  const lastSync = (await admin.get(`${REPOS}/deploy`)).body.status?.lastSyncTime as string;
  t.truthy(lastSync);
  await afterSecondOf(lastSync);
  await admin.patch(`${REPOS}/deploy`, { metadata: { annotations: { 'pkg.pkgserver.dev/sync': '1' } } }, MERGE);
  await poll('the re-sync', async () => ((await admin.get(`${REPOS}/deploy`)).body.status?.lastSyncTime !== lastSync ? true : undefined));
  await poll('the variant reconciled after the label', async () => (server.logs.some((l) => l.includes('"msg":"reconcile"') && l.includes('"controller":"packagevariant"') && l.includes('"name":"web"')) ? true : undefined));
  t.deepEqual((await owned('web')).map((p) => p.metadata.name), [draft.metadata.name], 'the same draft, no other');
});

test.serial('a newer upstream makes exactly one upgrade draft: the local edit survives, the upstream change arrives', async (t) => {
  const [v1draft] = await owned('web');
  await editFile(v1draft.metadata.name, 'deployment.yaml', (y) => y.replace('replicas: 1', 'replicas: 3'));
  await publish(v1draft.metadata.name);
  await publishUpstream('web', 'v2', { 'deployment.yaml': deployment('web', 'nginx:2.0'), 'configmap.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: hello\n' });
  const prs = await ownedWhen('web', 'an upgrade draft', (p) => p.some((x: any) => x.spec.lifecycle === 'draft'));
  const drafts = prs.filter((p) => p.spec.lifecycle === 'draft');
  t.is(drafts.length, 1, 'exactly one upgrade draft');
  const up = drafts[0];
  t.deepEqual(up.spec.tasks, [{ type: 'upgrade' }]);
  t.is(up.spec.upstream.revision, 'v2');
  t.is(condition(up, 'pkg.pkgserver.dev/upgrade').status, 'True');
  const f = await files(up.metadata.name);
  const d = YAML.parse(f['deployment.yaml']);
  t.is(d.spec.replicas, 3, 'the local edit survives');
  t.is(d.spec.template.spec.containers[0].image, 'nginx:2.0', 'the upstream change arrives');
  t.regex(f['configmap.yaml'], /greeting: hello/, 'a resource added upstream arrives');
  t.regex(f.Kptfile, /ref: web\/v2/, 'the Kptfile points at the new upstream');
  // the published v1 of the downstream knows an upgrade exists (wide column Upgrade)
  const published = prs.find((p) => p.spec.lifecycle === 'published');
  const withUpgrade = await poll('latestUpstreamRevision', async () => {
    const o = (await admin.get(`${PR}/${published.metadata.name}`)).body;
    return o.status?.latestUpstreamRevision === 'v2' ? o : undefined;
  });
  t.truthy(updatedBy(withUpgrade, 'pkgserver-upgrades-controller', 'status')?.fieldsV1?.['f:status']?.['f:latestUpstreamRevision'], managersOf(withUpgrade).join(', '));
  t.regex(await k.ok(['get', 'pkgrev', published.metadata.name, '-n', NS, '-o', 'wide']), /\bv2\b/);
  // more events do not make more drafts
  await admin.patch(`${REPOS}/cat`, { metadata: { annotations: { 'test/sync': 'again' } } }, MERGE);
  await poll('the catalog re-sync', async () => ((await admin.get(`${REPOS}/cat`)).body.metadata.annotations['test/sync'] === 'again' ? true : undefined));
  t.is((await owned('web')).filter((p) => p.spec.lifecycle === 'draft').length, 1);
  t.regex(await k.ok(['describe', 'pv', 'web', '-n', NS]), /UpgradeDraftCreated/);
});

test.serial('an edit made on both sides gives the conflict condition naming the file, resource and field', async (t) => {
  const [draft] = (await owned('web')).filter((p) => p.spec.lifecycle === 'draft');
  await editFile(draft.metadata.name, 'deployment.yaml', (y) => y.replace('nginx:2.0', 'nginx:2.0-patched'));
  await publish(draft.metadata.name);
  await publishUpstream('web', 'v3', { 'deployment.yaml': deployment('web', 'nginx:3.0') });
  const prs = await ownedWhen('web', 'the v3 upgrade draft', (p) => p.some((x: any) => x.spec.lifecycle === 'draft' && x.spec.upstream?.revision === 'v3'));
  const up = prs.find((p) => p.spec.lifecycle === 'draft');
  const c = condition(up, 'pkg.pkgserver.dev/upgrade');
  t.is(c.status, 'False');
  t.is(c.reason, 'Conflict');
  t.regex(c.message, /deployment\.yaml apps\/Deployment\/\/web spec\.template\.spec\.containers\[name=web\]\.image/);
  const pv = await poll('MergeConflict', async () => {
    const o = (await admin.get(`${PV}/web`)).body;
    return condition(o, 'Ready')?.reason === 'MergeConflict' ? o : undefined;
  });
  t.is(condition(pv, 'Ready').status, 'False');
  t.regex(condition(pv, 'Ready').message, /containers\[name=web\]\.image/);
});

test.serial('a context change updates an unpublished draft in place, and makes a new draft after a publish', async (t) => {
  const before = (await owned('web')).filter((p) => p.spec.lifecycle === 'draft');
  t.is(before.length, 1);
  await admin.patch(`${PV}/web`, { spec: { packageContext: { labels: { team: 'b' } } } }, MERGE);
  const [same] = await ownedWhen('web', 'the draft relabelled', (p) => p.some((x: any) => x.spec.lifecycle === 'draft' && x.metadata.labels.team === 'b'))
    .then((p) => p.filter((x: any) => x.spec.lifecycle === 'draft'));
  t.is(same.metadata.name, before[0].metadata.name, 'the same draft, updated in place');
  await publish(same.metadata.name);
  await admin.patch(`${PV}/web`, { spec: { packageContext: { labels: { team: 'c' } } } }, MERGE);
  const prs = await ownedWhen('web', 'a new draft for the new context', (p) => p.some((x: any) => x.spec.lifecycle === 'draft' && x.metadata.labels.team === 'c'));
  const drafts = prs.filter((p) => p.spec.lifecycle === 'draft');
  t.is(drafts.length, 1);
  t.deepEqual(drafts[0].spec.tasks, [{ type: 'init' }], 'a copy of the latest published revision');
  t.not(drafts[0].metadata.name, same.metadata.name);
});

test.serial('adoptExisting takes over the downstream package; adoptNone leaves it alone', async (t) => {
  await publishUpstream('db', 'v1', { Kptfile: 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: db\n', 'deployment.yaml': deployment('db', 'postgres:16') });
  for (const pkg of ['db', 'db2']) {
    const r = await admin.post(PR, {
      apiVersion: 'pkg.pkgserver.dev/v1alpha1',
      kind: 'PackageRevision',
      metadata: { name: `c1.deploy..${pkg}.by-hand` },
      spec: { packageRevID: { target: 'c1', repository: 'deploy', package: pkg, workspace: 'by-hand' }, tasks: [{ type: 'clone' }], upstream: { repository: 'cat', package: 'db', revision: 'v1' } },
    });
    t.is(r.status, 201, JSON.stringify(r.body));
    await publish(`c1.deploy..${pkg}.by-hand`);
  }
  const adopt = variant('db', 'db', { adoptionPolicy: 'adoptExisting' });
  const none = variant('db2', 'db'); // downstream package db2, adoptNone by default
  t.is((await admin.post(PV, adopt)).status, 201);
  t.is((await admin.post(PV, none)).status, 201);
  const adopted = await ownedWhen('db', 'the by-hand revision adopted', (p) => p.some((x: any) => x.metadata.name === 'c1.deploy..db.by-hand'));
  t.true(adopted.some((p) => p.metadata.name === 'c1.deploy..db.by-hand'));
  await ownedWhen('db2', 'its own draft', (p) => p.length === 1);
  const byHand = (await admin.get(`${PR}/c1.deploy..db2.by-hand`)).body;
  t.is(byHand.metadata.ownerReferences, undefined, 'adoptNone: not taken over');
});

test.serial('a user makes an upgrade draft with kubectl create (the upgrade task)', async (t) => {
  await publishUpstream('solo', 'v1', { Kptfile: 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: solo\n', 'deployment.yaml': deployment('solo', 'redis:7.0') });
  const base = 'c1.deploy..solo.ws1';
  const made = await admin.post(PR, {
    apiVersion: 'pkg.pkgserver.dev/v1alpha1',
    kind: 'PackageRevision',
    metadata: { name: base },
    spec: { packageRevID: { target: 'c1', repository: 'deploy', package: 'solo', workspace: 'ws1' }, tasks: [{ type: 'clone' }], upstream: { repository: 'cat', package: 'solo', revision: 'v1' } },
  });
  t.is(made.status, 201, JSON.stringify(made.body));
  await editFile(base, 'deployment.yaml', (y) => y.replace('replicas: 1', 'replicas: 5'));
  await publish(base);
  await publishUpstream('solo', 'v2', { 'deployment.yaml': deployment('solo', 'redis:7.2') });
  const name = 'c1.deploy..solo.upgrade-v2';
  const out = await k.ok(['create', '-n', NS, '-f', '-'], {
    input: YAML.stringify({
      apiVersion: 'pkg.pkgserver.dev/v1alpha1',
      kind: 'PackageRevision',
      metadata: { name },
      spec: { packageRevID: { target: 'c1', repository: 'deploy', package: 'solo', workspace: 'upgrade-v2' }, tasks: [{ type: 'upgrade' }], upstream: { repository: 'cat', package: 'solo', revision: 'v2' } },
    }),
  });
  t.regex(out, /packagerevision\.pkg\.pkgserver\.dev\/c1\.deploy\.\.solo\.upgrade-v2 created/);
  const d = YAML.parse((await files(name))['deployment.yaml']);
  t.is(d.spec.replicas, 5);
  t.is(d.spec.template.spec.containers[0].image, 'redis:7.2');
  t.is(condition((await admin.get(`${PR}/${name}`)).body, 'pkg.pkgserver.dev/upgrade').reason, 'Merged');
  // without a published revision to start from, an upgrade is refused with the reason
  const refused = await k.run(['create', '-n', NS, '-f', '-'], {
    input: YAML.stringify({
      apiVersion: 'pkg.pkgserver.dev/v1alpha1',
      kind: 'PackageRevision',
      metadata: { name: 'c1.deploy..fresh.up' },
      spec: { packageRevID: { target: 'c1', repository: 'deploy', package: 'fresh', workspace: 'up' }, tasks: [{ type: 'upgrade' }], upstream: { repository: 'cat', package: 'solo', revision: 'v2' } },
    }),
  });
  t.is(refused.code, 1);
  t.regex(refused.stderr, /an upgrade starts from a published revision of the package; it has none/);
});

test.serial('with the approve gate in its context, the variant\'s draft is published by the approval controller, and that is all', async (t) => {
  t.is((await admin.post(PV, variant('auto', 'solo', { packageContext: { readinessGates: [{ conditionType: 'pkg.pkgserver.dev/approve' }] } }))).status, 201);
  const [pub] = await ownedWhen('auto', 'published', (p) => p.length === 1 && p[0].spec.lifecycle === 'published');
  t.is(pub.status.publishedBy, 'system:pkgserver:controller:approval');
  t.is(pub.spec.packageRevID.revision, 'v1');
  const pv = await poll('Ready', async () => {
    const o = (await admin.get(`${PV}/auto`)).body;
    return condition(o, 'Ready')?.status === 'True' && o.status.downstream?.[0]?.lifecycle === 'published' ? o : undefined;
  });
  t.deepEqual(pv.status.downstream, [{ name: pub.metadata.name, lifecycle: 'published', revision: 'v1' }]);
  t.deepEqual((await owned('auto')).map((p) => p.metadata.name), [pub.metadata.name], 'no new draft after the publish');
});

test.serial('deletion: deletionPolicy delete (drafts deleted, published proposed for deletion), orphan, and kubectl --cascade', async (t) => {
  // delete (the default), with kubectl's default background propagation
  const web = await owned('web');
  t.is((await k.run(['delete', 'pv', 'web', '-n', NS])).code, 0);
  await poll('web gone', async () => ((await admin.get(`${PV}/web`)).status === 404 ? true : undefined));
  for (const pr of web) {
    const now = await admin.get(`${PR}/${pr.metadata.name}`);
    if (pr.spec.lifecycle === 'draft') t.is(now.status, 404, `${pr.metadata.name} deleted`);
    else {
      t.is(now.body.spec.lifecycle, 'deletionProposed', `${pr.metadata.name} proposed for deletion`);
      t.is(now.body.metadata.ownerReferences, undefined);
    }
  }
  // orphan, by policy
  const orphanPV = variant('keep', 'db', { deletionPolicy: 'orphan' });
  t.is((await admin.post(PV, orphanPV)).status, 201);
  const [kept] = await ownedWhen('keep', 'a draft', (p) => p.length === 1);
  t.is((await k.run(['delete', 'pv', 'keep', '-n', NS])).code, 0);
  await poll('keep gone', async () => ((await admin.get(`${PV}/keep`)).status === 404 ? true : undefined));
  const left = (await admin.get(`${PR}/${kept.metadata.name}`)).body;
  t.is(left.spec.lifecycle, 'draft');
  t.is(left.metadata.ownerReferences, undefined);
  // --cascade=orphan orphans whatever the deletionPolicy
  t.is((await admin.post(PV, variant('casc', 'db'))).status, 201);
  const [c1] = await ownedWhen('casc', 'a draft', (p) => p.length === 1);
  t.is((await k.run(['delete', 'pv', 'casc', '-n', NS, '--cascade=orphan'])).code, 0);
  await poll('casc gone', async () => ((await admin.get(`${PV}/casc`)).status === 404 ? true : undefined));
  t.is((await admin.get(`${PR}/${c1.metadata.name}`)).body.metadata.ownerReferences, undefined);
  // --cascade=foreground: the variant waits for its drafts
  t.is((await admin.post(PV, variant('fore', 'db'))).status, 201);
  const [f1] = await ownedWhen('fore', 'a draft', (p) => p.length === 1);
  t.is((await k.run(['delete', 'pv', 'fore', '-n', NS, '--cascade=foreground'])).code, 0);
  await poll('fore gone', async () => ((await admin.get(`${PV}/fore`)).status === 404 ? true : undefined));
  t.is((await admin.get(`${PR}/${f1.metadata.name}`)).status, 404);
});

test.serial('a revision event reaches only the variants indexed for it (reconciles counted)', async (t) => {
  await publishUpstream('aa', 'v1', { Kptfile: 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: aa\n', 'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aa\n' });
  await publishUpstream('bb', 'v1', { Kptfile: 'apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: bb\n', 'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bb\n' });
  for (const n of ['aa', 'bb']) t.is((await admin.post(PV, variant(n, n))).status, 201);
  for (const n of ['aa', 'bb']) await ownedWhen(n, 'Ready', (p) => p.length === 1);
  await poll('both Ready', async () => {
    const all = await Promise.all(['aa', 'bb'].map(async (n) => condition((await admin.get(`${PV}/${n}`)).body, 'Ready')?.status));
    return all.every((s) => s === 'True') ? true : undefined;
  });
  const reconciles = (name: string) =>
    server.logs.filter((l) => l.includes('"msg":"reconcile"') && l.includes('"controller":"packagevariant"') && l.includes(`"name":"${name}"`)).length;
  const before = { aa: reconciles('aa'), bb: reconciles('bb') };
  await publishUpstream('aa', 'v2', { 'cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aa\ndata: {x: "2"}\n' });
  await ownedWhen('aa', 'the upgrade draft', (p) => p.some((x: any) => x.spec.upstream?.revision === 'v2'));
  t.true(reconciles('aa') > before.aa, 'aa reconciled');
  t.is(reconciles('bb'), before.bb, 'bb was not reconciled for events of package aa');
});
