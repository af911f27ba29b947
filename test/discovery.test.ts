// Package discovery, dependencies, scheduling and safe delete/upgrade end to end (issue 9), against
// the real server (controllers on), kubectl 1.27–1.33 and real git: a catalog of ten packages
// written and tagged with the git CLI; the dependencies, errors and warnings the discovery
// controller computes for every revision are compared with a table written by hand; the
// PackageAPI maps are browsed with every kubectl; a provider published later re-resolves only the
// revisions waiting for it (counted from the controller's reconcile log lines); the scheduler
// deploys an app's whole dependency chain on a target, reusing what is there and refusing a cycle;
// a depended-on revision cannot be deleted; breaking CRD changes are refused unless overridden.
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { git, localCatalogAndDeploy } from './helpers/gitserver.ts';
import { HttpClient, type WatchStream } from './helpers/http.ts';
import { Kubectl, KUBECTL_VERSIONS } from './helpers/kubectl.ts';
import { managersOf, updatedBy } from './helpers/managedfields.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';

const NS = 'discovery';
const PR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisions`;
const PRR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisionresources`;
const PAPI = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packageapis`;
const PV = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagevariants`;
const REPOS = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories`;
const MERGE = 'application/merge-patch+json';
const DEPS = 'pkg.pkgserver.dev/dependencies';
const SCHEDULE = 'pkg.pkgserver.dev/schedule';
const APPROVE = 'pkg.pkgserver.dev/approve';
const OVERRIDE = 'pkg.pkgserver.dev/allow-breaking-crd-changes';

let server: ServerHandle;
let admin: HttpClient;
let k: Kubectl;
let catalogWC: string;

// ---------------------------------------------------------------- the catalog

const kptfile = (name: string) => `apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: ${name}\n`;

/** The Widget CRD: v1beta1 and v1 served (v1 stored), with a schema whose fields the safety check compares. */
const widgetCRD = (o: { versions?: string[]; scope?: string; sizeType?: string; required?: string[]; colors?: string[]; dropLabel?: boolean } = {}) => {
  const versions = o.versions ?? ['v1beta1', 'v1'];
  const schema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        ...(o.required ? { required: o.required } : {}),
        properties: { size: { type: o.sizeType ?? 'integer' }, color: { type: 'string', enum: o.colors ?? ['red', 'green', 'blue'] }, ...(o.dropLabel ? {} : { label: { type: 'string' } }) },
      },
    },
  };
  return YAML.stringify({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'widgets.example.com' },
    spec: {
      group: 'example.com',
      names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
      scope: o.scope ?? 'Namespaced',
      versions: versions.map((name) => ({ name, served: true, storage: name === versions.at(-1), schema: { openAPIV3Schema: schema } })),
    },
  });
};

const deployment = (name: string) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  selector:\n    matchLabels: {app: ${name}}\n  template:\n    metadata:\n      labels: {app: ${name}}\n    spec:\n      containers:\n      - name: ${name}\n        image: example.com/${name}:1\n`;
const dependency = (name: string, pkg: string, revision?: string) =>
  `apiVersion: claim.pkg.pkgserver.dev/v1alpha1\nkind: PackageDependency\nmetadata:\n  name: ${name}\nspec:\n  upstream:\n    repository: cat\n    package: ${pkg}\n${revision ? `    revision: "${revision}"\n` : ''}`;

const CATALOG: Record<string, Record<string, string>> = {
  // a CRD provider with two served versions
  crds: { Kptfile: kptfile('crds'), 'crd/widgets.yaml': widgetCRD(), 'README.md': 'The Widget API.\n' },
  // an operator: a Deployment, a Role and a ClusterRole over the widgets and core APIs
  operator: {
    Kptfile: kptfile('operator'),
    'manager.yaml': `${deployment('widget-operator')}---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: widget-operator\n`,
    'rbac/role.yaml':
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: widget-operator\nrules:\n- apiGroups: [example.com]\n  resources: [widgets, widgets/status]\n  verbs: [get, list, watch, update]\n- apiGroups: [""]\n  resources: [configmaps, "*"]\n  verbs: [get]\n',
    'rbac/clusterrole.yaml':
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: widget-operator\nrules:\n- apiGroups: [apps]\n  resources: [deployments]\n  verbs: [get, list]\n- apiGroups: [coordination.k8s.io]\n  resources: [leases]\n  verbs: [get, create, update]\n',
  },
  // an APIService package: every kind of metrics.example.io
  metrics: {
    Kptfile: kptfile('metrics'),
    'apiservice.yaml':
      'apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata:\n  name: v1beta1.metrics.example.io\nspec:\n  group: metrics.example.io\n  version: v1beta1\n  groupPriorityMinimum: 100\n  versionPriority: 100\n  service:\n    name: metrics\n    namespace: metrics\n',
    'service.yaml': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: metrics\n  namespace: metrics\nspec:\n  ports:\n  - port: 443\n',
  },
  // an app: a Widget (v1beta1), a metrics.example.io kind, a declared dependency on the operator
  app: {
    Kptfile: kptfile('app'),
    'widget.yaml': 'apiVersion: example.com/v1beta1\nkind: Widget\nmetadata:\n  name: blue\nspec:\n  size: 3\n',
    'deps/operator.yaml': dependency('operator', 'operator'),
    'scrape.yaml': 'apiVersion: metrics.example.io/v1beta1\nkind: ScrapeConfig\nmetadata:\n  name: app\n',
    'config.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: b\n',
    // local configuration is not a resource of the package
    'local.yaml': 'apiVersion: fn.example.com/v1\nkind: SetNamespace\nmetadata:\n  name: ns\n  annotations:\n    config.kubernetes.io/local-config: "true"\n',
  },
  // a PackageDependency claim with a semver range
  claimer: { Kptfile: kptfile('claimer'), 'deps.yaml': dependency('widgets', 'crds', '>=1.0.0 <3') },
  // an unknown kind (and a second revision-holder waiting for the same API)
  unknown: { Kptfile: kptfile('unknown'), 'gizmo.yaml': 'apiVersion: gizmos.example.org/v1\nkind: Gizmo\nmetadata:\n  name: g\n' },
  'unknown-too': { Kptfile: kptfile('unknown-too'), 'gizmo.yaml': 'apiVersion: gizmos.example.org/v1\nkind: Gizmo\nmetadata:\n  name: h\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: h\n' },
  // an RBAC rule for a resource nobody serves: a warning, not an error
  'rbac-unknown': {
    Kptfile: kptfile('rbac-unknown'),
    'role.yaml': 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: bars\nrules:\n- apiGroups: [foo.example.net]\n  resources: [bars]\n  verbs: [get]\n',
  },
  // a cycle
  'cycle-a': { Kptfile: kptfile('cycle-a'), 'deps.yaml': dependency('b', 'cycle-b', '*') },
  'cycle-b': { Kptfile: kptfile('cycle-b'), 'deps.yaml': dependency('a', 'cycle-a', '*') },
};

/** Writes packages into the catalog's work tree, commits, tags `<pkg>/<rev>` each, pushes, and asks the server to sync. */
async function publishGit(packages: Record<string, Record<string, string>>, rev = 'v1'): Promise<void> {
  // the server may have written to main meanwhile (a revision published through the API)
  await git(catalogWC, 'fetch', '-q', 'origin');
  if ((await git(catalogWC, 'branch', '-r')).includes('origin/main')) await git(catalogWC, 'rebase', '-q', 'origin/main');
  for (const [pkg, files] of Object.entries(packages))
    for (const [f, c] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(catalogWC, pkg, f)), { recursive: true });
      writeFileSync(path.join(catalogWC, pkg, f), c);
    }
  await git(catalogWC, 'add', '.');
  await git(catalogWC, 'commit', '-q', '-m', `publish ${Object.keys(packages).join(', ')}`);
  const tags = Object.keys(packages).map((p) => `${p}/${rev}`);
  for (const t of tags) await git(catalogWC, 'tag', t);
  await git(catalogWC, 'push', '-q', 'origin', 'main', ...tags);
  await admin.patch(`${REPOS}/cat`, { metadata: { annotations: { 'test/sync': tags.join(',') } } }, MERGE);
  for (const pkg of Object.keys(packages)) await poll(`catalog ${pkg} ${rev}`, async () => ((await admin.get(`${PR}/${catalogName(pkg, rev)}`)).status === 200 ? true : undefined), 60_000);
}

const catalogName = (pkg: string, rev = 'v1') => `catalog.cat..${pkg}.${rev.replace(/\./g, '-')}`;
const condition = (o: any, type: string) => (o?.status?.conditions ?? []).find((c: any) => c.type === type);
const getPR = async (name: string) => (await admin.get(`${PR}/${name}`)).body;

/** Waits until the revision's dependencies condition has the wanted status and returns the revision. */
async function discovered(name: string, status?: 'True' | 'False', ms = 60_000): Promise<any> {
  return poll(
    `${name}: dependencies ${status ?? 'discovered'}`,
    async () => {
      const pr = await getPR(name);
      const c = condition(pr, DEPS);
      return c && (!status || c.status === status) ? pr : undefined;
    },
    ms,
  );
}

/** The deploy-first steps of a person: propose and publish. */
async function publish(name: string, annotations?: Record<string, string>): Promise<{ status: number; body: any }> {
  if (annotations) await admin.patch(`${PR}/${name}`, { metadata: { annotations } }, MERGE);
  let r = await admin.patch(`${PR}/${name}`, { spec: { lifecycle: 'proposed' } }, MERGE);
  if (r.status !== 200) return r;
  r = await admin.patch(`${PR}/${name}`, { spec: { lifecycle: 'published' } }, MERGE);
  return r;
}

test.before(async () => {
  server = await startServer({ controllers: true });
  admin = new HttpClient(server.url, adminTLS(server));
  k = new Kubectl('1.33', server.kubeconfig);
  const site = await localCatalogAndDeploy(tempDir('discovery-git-'));
  catalogWC = site.catalogWC;
  await k.ok(['create', 'namespace', NS]);
  await k.ok(['apply', '-n', NS, '-f', '-'], { input: site.repositories });
  await publishGit(CATALOG);
});
test.after.always(async () => {
  await server?.stop();
});

// ---------------------------------------------------------------- the table, by hand

const core = (group: string, version: string, kind: string) => ({ group, version, kind });
const pkgDep = (pkg: string, revision: string, ...why: string[]) => ({ repository: 'cat', package: pkg, revision, for: why });

const EXPECTED: Record<string, { status: 'True' | 'False'; reason: string; dependencies: Record<string, unknown> }> = {
  crds: { status: 'True', reason: 'Resolved', dependencies: { packages: [], core: [core('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition')] } },
  operator: {
    status: 'True',
    reason: 'Resolved',
    dependencies: {
      packages: [pkgDep('crds', '*', 'example.com/Widget')],
      core: [core('', '*', 'ConfigMap'), core('', 'v1', 'ServiceAccount'), core('apps', 'v1', 'Deployment'), core('coordination.k8s.io', '*', 'Lease'), core('rbac.authorization.k8s.io', 'v1', 'ClusterRole'), core('rbac.authorization.k8s.io', 'v1', 'Role')],
    },
  },
  metrics: { status: 'True', reason: 'Resolved', dependencies: { packages: [], core: [core('', 'v1', 'Service'), core('apiregistration.k8s.io', 'v1', 'APIService')] } },
  app: {
    status: 'True',
    reason: 'Resolved',
    dependencies: {
      packages: [pkgDep('crds', '*', 'example.com/Widget'), pkgDep('metrics', '*', 'metrics.example.io/ScrapeConfig'), pkgDep('operator', '*', 'PackageDependency operator')],
      core: [core('', 'v1', 'ConfigMap')],
    },
  },
  claimer: { status: 'True', reason: 'Resolved', dependencies: { packages: [pkgDep('crds', '>=1.0.0 <3', 'PackageDependency widgets')], core: [] } },
  unknown: {
    status: 'False',
    reason: 'MissingAPIs',
    dependencies: { packages: [], core: [], missing: ['gizmos.example.org/Gizmo'], errors: ['gizmo.yaml (Gizmo g): no package provides gizmos.example.org/Gizmo and the cluster does not serve it'] },
  },
  'unknown-too': {
    status: 'False',
    reason: 'MissingAPIs',
    dependencies: { packages: [], core: [core('', 'v1', 'ConfigMap')], missing: ['gizmos.example.org/Gizmo'], errors: ['gizmo.yaml (Gizmo h): no package provides gizmos.example.org/Gizmo and the cluster does not serve it'] },
  },
  'rbac-unknown': {
    status: 'True',
    reason: 'Resolved',
    dependencies: {
      packages: [],
      core: [core('rbac.authorization.k8s.io', 'v1', 'ClusterRole')],
      missingResources: ['foo.example.net/bars'],
      warnings: ['role.yaml: a rule of ClusterRole/bars names resource "bars" of group "foo.example.net", which no package provides and the cluster does not serve'],
    },
  },
  'cycle-a': { status: 'True', reason: 'Resolved', dependencies: { packages: [pkgDep('cycle-b', '*', 'PackageDependency b')], core: [] } },
  'cycle-b': { status: 'True', reason: 'Resolved', dependencies: { packages: [pkgDep('cycle-a', '*', 'PackageDependency a')], core: [] } },
};

const withoutTree = (d: any) => {
  const { tree, ...rest } = d ?? {};
  return { rest, tree };
};

test.serial('the dependencies, errors and warnings of every catalog revision are those of the hand-written table', async (t) => {
  t.is(Object.keys(CATALOG).length, 10);
  const actual: typeof EXPECTED = {};
  for (const [pkg, want] of Object.entries(EXPECTED)) {
    const pr = await discovered(catalogName(pkg), want.status);
    const { rest, tree } = withoutTree(pr.status.dependencies);
    t.regex(tree, /^[0-9a-f]{40}$/, `${pkg}: the tree the result was computed from`);
    actual[pkg] = { status: condition(pr, DEPS).status, reason: condition(pr, DEPS).reason, dependencies: rest };
  }
  t.deepEqual(actual, EXPECTED);
  // the discovery controller writes the condition and the dependencies under its own manager
  const operator = await getPR(catalogName('operator'));
  t.truthy(updatedBy(operator, 'pkgserver-discovery-controller', 'status')?.fieldsV1?.['f:status']?.['f:dependencies'], managersOf(operator).join(', '));
  t.is(condition(await getPR(catalogName('unknown')), DEPS).message, (EXPECTED.unknown.dependencies.errors as string[])[0]);
  t.is(condition(await getPR(catalogName('operator')), DEPS).message, '1 package dependency, 6 core APIs');
  t.is(condition(await getPR(catalogName('rbac-unknown')), DEPS).message, '0 package dependencies, 1 core API; 1 warning');
});

test.serial('kubectl 1.27–1.33 list the provided APIs with their columns and field selectors; the reverse lookup is on the revision', async (t) => {
  const apis = await poll('the PackageAPIs', async () => {
    const items = (await admin.get(PAPI)).body.items;
    return items?.length === 2 ? items : undefined;
  });
  for (const api of apis) t.truthy(updatedBy(api, 'pkgserver-discovery-controller')?.fieldsV1?.['f:spec'], managersOf(api).join(', '));
  const rows = (out: string) => out.trim().split('\n').map((l) => l.trim().split(/\s+/));
  for (const v of KUBECTL_VERSIONS) {
    const kv = new Kubectl(v, server.kubeconfig);
    t.deepEqual(
      rows(await kv.ok(['get', 'packageapis', '-n', NS])),
      [
        ['NAME', 'GROUP', 'KIND', 'VERSIONS', 'PACKAGE', 'REVISIONS'],
        ['metrics.example.io', 'metrics.example.io', '*', 'v1beta1', 'cat/metrics', 'v1'],
        ['widgets.example.com', 'example.com', 'Widget', 'v1,v1beta1', 'cat/crds', 'v1'],
      ],
      `kubectl ${v}`,
    );
    t.deepEqual(rows(await kv.ok(['get', 'papi', '-n', NS, '-o', 'wide']))[2], ['widgets.example.com', 'example.com', 'Widget', 'v1,v1beta1', 'cat/crds', 'v1', 'widgets', 'Namespaced'], `kubectl ${v} -o wide`);
    t.is((await kv.ok(['get', 'packageapis', '-n', NS, '--field-selector', 'spec.group=example.com,spec.kind=Widget', '-o', 'name'])).trim(), 'packageapi.pkg.pkgserver.dev/widgets.example.com', `kubectl ${v}`);
    t.is((await kv.ok(['get', 'packageapis', '-n', NS, '--field-selector', 'spec.kind!=Widget', '-o', 'name'])).trim(), 'packageapi.pkg.pkgserver.dev/metrics.example.io', `kubectl ${v}`);
    t.is((await kv.ok(['get', 'packageapis', '-n', NS, '--field-selector', 'spec.group=cert-manager.io', '-o', 'name'])).trim(), '', `kubectl ${v}`);
  }
  // which package provides example.com/Widget, in which revisions and versions
  const api = YAML.parse(await k.ok(['get', 'packageapi', 'widgets.example.com', '-n', NS, '-o', 'yaml']));
  t.deepEqual(api.spec, { group: 'example.com', kind: 'Widget', resource: 'widgets', scope: 'Namespaced', providers: [{ repository: 'cat', package: 'crds', versions: [{ version: 'v1', revisions: ['v1'] }, { version: 'v1beta1', revisions: ['v1'] }] }] });
  // read-only: the API refuses writes with 405, kubectl says so
  const r = await k.run(['delete', 'packageapi', 'widgets.example.com', '-n', NS]);
  t.not(r.code, 0);
  t.regex(r.stderr, /MethodNotAllowed|method not allowed|not supported/i);
  t.is((await admin.delete(`${PAPI}/widgets.example.com`)).status, 405);
  // the reverse lookup: which published packages depend on crds v1
  const pr = YAML.parse(await k.ok(['get', 'pkgrev', catalogName('crds'), '-n', NS, '-o', 'yaml']));
  t.deepEqual(pr.status.dependents, [
    { name: catalogName('app'), repository: 'cat', package: 'app', revision: 'v1', constraint: '*' },
    { name: catalogName('claimer'), repository: 'cat', package: 'claimer', revision: 'v1', constraint: '>=1.0.0 <3' },
    { name: catalogName('operator'), repository: 'cat', package: 'operator', revision: 'v1', constraint: '*' },
  ]);
  t.deepEqual((await getPR(catalogName('cycle-a'))).status.dependents.map((d: any) => d.name), [catalogName('cycle-b')]);
  t.is((await getPR(catalogName('app'))).status.dependents, undefined, 'nobody depends on the app');
});

test.serial('publishing a missing provider later resolves the revisions waiting for it, and only those', async (t) => {
  const mark = server.logs.length;
  await publishGit({
    // what the RBAC rule of rbac-unknown names
    bars: {
      Kptfile: kptfile('bars'),
      'crd.yaml':
        'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: bars.foo.example.net\nspec:\n  group: foo.example.net\n  names: {kind: Bar, plural: bars}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {openAPIV3Schema: {type: object}}\n',
    },
    gizmos: {
      Kptfile: kptfile('gizmos'),
      'crd.yaml':
        'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gizmos.gizmos.example.org\nspec:\n  group: gizmos.example.org\n  names: {kind: Gizmo, plural: gizmos}\n  scope: Cluster\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {openAPIV3Schema: {type: object}}\n',
    },
  });
  for (const pkg of ['unknown', 'unknown-too']) {
    const pr = await discovered(catalogName(pkg), 'True');
    t.deepEqual(withoutTree(pr.status.dependencies).rest.packages, [pkgDep('gizmos', '*', 'gizmos.example.org/Gizmo')], pkg);
    t.is(withoutTree(pr.status.dependencies).rest.errors, undefined, pkg);
  }
  // a warning only, but resolved as well once a package serves the resource
  const rbac = await poll('rbac-unknown resolved', async () => {
    const pr = await getPR(catalogName('rbac-unknown'));
    return pr.status.dependencies.packages.length ? pr : undefined;
  });
  t.deepEqual(withoutTree(rbac.status.dependencies).rest, { packages: [pkgDep('bars', '*', 'foo.example.net/Bar')], core: [core('rbac.authorization.k8s.io', 'v1', 'ClusterRole')] });
  await poll('the providers list their dependents', async () => ((await getPR(catalogName('gizmos'))).status?.dependents?.length === 2 && (await getPR(catalogName('bars'))).status?.dependents?.length === 1 ? true : undefined));
  // the discovery controller's reconciles since: the provider and the two waiting revisions, nothing else
  const reconciled = new Set(
    server.logs
      .slice(mark)
      .filter((l) => l.includes('"msg":"reconcile"') && l.includes('"controller":"discovery"'))
      .map((l) => JSON.parse(l).name as string),
  );
  t.deepEqual([...reconciled].sort(), [catalogName('bars'), catalogName('gizmos'), catalogName('rbac-unknown'), catalogName('unknown'), catalogName('unknown-too')].sort());
  // each of those once or twice (its own event, a provider's), never once per status write
  const times = server.logs.slice(mark).filter((l) => l.includes('"msg":"reconcile"') && l.includes('"controller":"discovery"')).length;
  t.true(times <= 2 * reconciled.size, `${times} reconciles of ${reconciled.size} revisions`);
});

/** A deployment revision cloned from a catalog package, with readiness gates. */
const root = (target: string, pkg: string, gates: string[]) => ({
  apiVersion: 'pkg.pkgserver.dev/v1alpha1',
  kind: 'PackageRevision',
  metadata: { name: `${target}.deploy..${pkg}.ws`, namespace: NS },
  spec: { packageRevID: { target, repository: 'deploy', package: pkg, workspace: 'ws' }, tasks: [{ type: 'clone' }], upstream: { repository: 'cat', package: pkg, revision: 'v1' }, readinessGates: gates.map((conditionType) => ({ conditionType })) },
});

/** Waits for the published revision of a package on a target and returns it. */
const publishedOn = (target: string, pkg: string, ms = 90_000) =>
  poll(
    `${pkg} published on ${target}`,
    async () => ((await admin.get(PR)).body.items as any[]).find((p) => p.spec.packageRevID.target === target && p.spec.packageRevID.package === pkg && p.spec.lifecycle === 'published'),
    ms,
  );

test.serial('scheduling: the app on c1 brings its dependency chain in order, reuses what c1 has, and its gate turns True once all are published', async (t) => {
  // c1 has the CRDs already (a variant of its own, approved by the controller)
  const own = { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'PackageVariant', metadata: { name: 'c1-crds' }, spec: { upstream: { repository: 'cat', package: 'crds', revision: 'v1' }, downstream: { target: 'c1', repository: 'deploy', package: 'crds' }, packageContext: { readinessGates: [{ conditionType: APPROVE }] } } };
  await k.ok(['apply', '-n', NS, '-f', '-'], { input: JSON.stringify(own) });
  await publishedOn('c1', 'crds');

  const watch: WatchStream = await admin.stream(`${PV}?watch=1&resourceVersion=${(await admin.get(PV)).body.metadata.resourceVersion}`);
  try {
    for (const target of ['c1', 'c2']) t.is((await admin.post(PR, root(target, 'app', [SCHEDULE, APPROVE]))).status, 201);
    const app1 = await publishedOn('c1', 'app');
    const app2 = await publishedOn('c2', 'app');
    for (const [target, app] of [['c1', app1], ['c2', app2]]) {
      const gate = condition(app, SCHEDULE);
      t.is(gate.status, 'True', target);
      t.is(gate.reason, 'DependenciesPublished', target);
      t.regex(gate.message, new RegExp(`every dependency is published on ${target}: cat/crds v1, cat/metrics v1, cat/operator v1`), target);
    }
    // the variants made, in the order they appeared: on c2 the CRDs before the operator that needs them; none for the CRDs of c1
    const added = watch.lines.map((l) => JSON.parse(l)).filter((e) => e.type === 'ADDED').map((e) => e.object.metadata.name as string);
    t.deepEqual(added.filter((n) => n.startsWith('c1.')).sort(), ['c1.deploy.metrics', 'c1.deploy.operator']);
    const c2 = added.filter((n) => n.startsWith('c2.'));
    t.deepEqual([...c2].sort(), ['c2.deploy.crds', 'c2.deploy.metrics', 'c2.deploy.operator']);
    t.true(c2.indexOf('c2.deploy.crds') < c2.indexOf('c2.deploy.operator'), `created in dependency order: ${c2.join(', ')}`);
    const pv = (await admin.get(`${PV}/c1.deploy.operator`)).body;
    t.deepEqual(pv.spec.upstream, { repository: 'cat', package: 'operator', revision: 'v1' });
    t.deepEqual(pv.spec.downstream, { target: 'c1', repository: 'deploy', package: 'operator' });
    t.is(pv.metadata.labels['pkg.pkgserver.dev/scheduled'], 'true');
    t.truthy(updatedBy(pv, 'pkgserver-scheduler-controller')?.fieldsV1?.['f:spec'], managersOf(pv).join(', '));
    // every dependency is published on each target; c1's CRDs are the ones it had (one revision of crds there)
    for (const target of ['c1', 'c2']) for (const pkg of ['crds', 'metrics', 'operator']) t.truthy(await publishedOn(target, pkg));
    const c1crds = ((await admin.get(PR)).body.items as any[]).filter((p) => p.spec.packageRevID.target === 'c1' && p.spec.packageRevID.package === 'crds');
    t.is(c1crds.length, 1);
    t.is(c1crds[0].metadata.ownerReferences[0].name, 'c1-crds');
  } finally {
    watch.close();
  }
});

test.serial('scheduling refuses a cycle, naming it', async (t) => {
  t.is((await admin.post(PR, root('c1', 'cycle-a', [SCHEDULE]))).status, 201);
  const pr = await poll('the schedule gate', async () => {
    const o = await getPR('c1.deploy..cycle-a.ws');
    return condition(o, SCHEDULE) ? o : undefined;
  });
  t.like(condition(pr, SCHEDULE), { status: 'False', reason: 'Cycle', message: 'dependency cycle: cat/cycle-a → cat/cycle-b → cat/cycle-a' });
  t.deepEqual(((await admin.get(PV)).body.items as any[]).filter((v) => v.spec.upstream.package.startsWith('cycle')), [], 'no variant for the cycle');
  const r = await publish('c1.deploy..cycle-a.ws');
  t.is(r.status, 422, JSON.stringify(r.body));
  t.regex(r.body.message, /pkg\.pkgserver\.dev\/schedule/);
});

const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test.serial('a depended-on revision cannot be deleted: the refusal names the deployed packages using it and the catalog packages needing it', async (t) => {
  const name = catalogName('crds');
  t.is((await admin.patch(`${PR}/${name}`, { spec: { lifecycle: 'deletionProposed' } }, MERGE)).status, 200);
  const r = await k.run(['delete', 'pkgrev', name, '-n', NS]);
  t.not(r.code, 0);
  t.regex(r.stderr, /Error from server \(Conflict\)/);
  for (const who of ['PackageVariant c1-crds', 'PackageVariant c2.deploy.crds', 'PackageRevision c1.deploy..crds.pv-', 'PackageRevision c2.deploy..crds.pv-'])
    t.regex(r.stderr, new RegExp(`still used as an upstream by .*${esc(who)}`), who);
  t.regex(
    r.stderr,
    new RegExp(
      esc(
        `it is the last published revision that satisfies the dependencies of PackageRevision ${catalogName('app')} (needs cat/crds *), PackageRevision ${catalogName('claimer')} (needs cat/crds >=1.0.0 <3), PackageRevision ${catalogName('operator')} (needs cat/crds *) (publish another revision that does first)`,
      ),
    ),
  );
  const d = await admin.delete(`${PR}/${name}`);
  t.is(d.status, 409);
  t.is(d.body.reason, 'Conflict');
  // nothing changed: the revision and its tag are there; it goes back to published
  t.is((await getPR(name)).spec.lifecycle, 'deletionProposed');
  t.regex(await git(catalogWC, 'ls-remote', '--tags', 'origin'), /refs\/tags\/crds\/v1$/m);
  t.is((await admin.patch(`${PR}/${name}`, { spec: { lifecycle: 'published' } }, MERGE)).status, 200);
});

test.serial('publishing CRDs that break the previous revision is refused with every break listed; the override publishes them; an upgrade in place meets the same check', async (t) => {
  const next = 'catalog.cat..crds.next';
  const draft = { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name: next, namespace: NS }, spec: { packageRevID: { target: 'catalog', repository: 'cat', package: 'crds', workspace: 'next' }, tasks: [{ type: 'init' }] } };
  t.is((await admin.post(PR, draft)).status, 201);
  const prr = (await admin.get(`${PRR}/${next}`)).body;
  prr.spec.resources['crd/widgets.yaml'] = widgetCRD({ versions: ['v1'], scope: 'Cluster', sizeType: 'string', required: ['color'], colors: ['red', 'green'], dropLabel: true });
  t.is((await admin.put(`${PRR}/${next}`, prr)).status, 200);
  const r = await publish(next);
  t.is(r.status, 422);
  t.is(r.body.reason, 'Invalid');
  const crd = 'CustomResourceDefinition widgets.example.com';
  t.deepEqual(
    r.body.details.causes.map((c: any) => `${c.field}: ${c.message}`),
    [
      `spec.lifecycle: Forbidden: ${crd}: scope changed from Namespaced to Cluster (against v1)`,
      `spec.lifecycle: Forbidden: ${crd}: version v1beta1 is removed while it was served (against v1)`,
      `spec.lifecycle: Forbidden: ${crd}, version v1: new required field spec.color (against v1)`,
      `spec.lifecycle: Forbidden: ${crd}, version v1: field spec.size changed type from integer to string (against v1)`,
      `spec.lifecycle: Forbidden: ${crd}, version v1: field spec.color: enum narrowed, no longer allows "blue" (against v1)`,
      `spec.lifecycle: Forbidden: ${crd}, version v1: field spec.label removed (against v1)`,
      `metadata.annotations[${OVERRIDE}]: Forbidden: set to "true" to publish these breaking CustomResourceDefinition changes anyway (clients of the removed or changed fields will break)`,
    ],
  );
  t.is((await getPR(next)).spec.lifecycle, 'proposed', 'nothing published');
  t.notRegex(await git(catalogWC, 'ls-remote', '--tags', 'origin'), /crds\/v2/);

  // the override publishes it as v2
  const o = await publish(next, { [OVERRIDE]: 'true' });
  t.is(o.status, 200, JSON.stringify(o.body));
  t.is(o.body.spec.packageRevID.revision, 'v2');
  // the maps follow: v1beta1 only in v1; the app (a v1beta1 Widget) now needs crds v1 exactly
  await poll('the PackageAPI with v2', async () => {
    const api = (await admin.get(`${PAPI}/widgets.example.com`)).body;
    return JSON.stringify(api.spec?.providers?.[0]?.versions) === JSON.stringify([{ version: 'v1', revisions: ['v1', 'v2'] }, { version: 'v1beta1', revisions: ['v1'] }]) ? true : undefined;
  });
  const app = await poll('the app needs crds v1', async () => {
    const pr = await getPR(catalogName('app'));
    return pr.status.dependencies.packages.find((p: any) => p.package === 'crds')?.revision === 'v1' ? pr : undefined;
  });
  t.is(condition(app, DEPS).status, 'True');
  // so crds v1 is still the last revision the app can use; the operator and the claimer can use v2
  t.is((await admin.patch(`${PR}/${catalogName('crds')}`, { spec: { lifecycle: 'deletionProposed' } }, MERGE)).status, 200);
  const d = await admin.delete(`${PR}/${catalogName('crds')}`);
  t.is(d.status, 409);
  t.regex(d.body.message, new RegExp(`${esc(`the dependencies of PackageRevision ${catalogName('app')} (needs cat/crds v1) (publish`)}`));
  t.is((await admin.patch(`${PR}/${catalogName('crds')}`, { spec: { lifecycle: 'published' } }, MERGE)).status, 200);

  // c1's CRDs upgraded in place to v2 (its variant moved): the same check refuses to publish the upgrade
  t.is((await admin.patch(`${PV}/c1-crds`, { spec: { upstream: { revision: 'v2' } } }, MERGE)).status, 200);
  const upgrade = await poll('the upgrade draft refused by the approval controller', async () => {
    const prs = ((await admin.get(PR)).body.items as any[]).filter((p) => p.spec.packageRevID.target === 'c1' && p.spec.packageRevID.package === 'crds' && p.spec.lifecycle !== 'published');
    return prs.find((p) => /scope changed/.test(condition(p, APPROVE)?.message ?? ''));
  }, 90_000).catch(async (e) => {
    console.log(JSON.stringify(((await admin.get(PR)).body.items as any[]).filter((p) => p.spec.packageRevID.target === 'c1' && p.spec.packageRevID.package === 'crds').map((p) => [p.metadata.name, p.spec, p.status.conditions]), null, 1));
    console.log(server.logs.filter((l) => l.includes('c1-crds') || l.includes('"level":50') || l.includes('"level":40')).slice(-30).join('\n'));
    throw e;
  });
  t.is(upgrade.spec.upstream.revision, 'v2');
  t.regex(condition(upgrade, APPROVE).message, /version v1beta1 is removed while it was served \(against v1\)/);
});

test.serial('scheduling reports constraints no revision meets together, with both requesters', async (t) => {
  // crds has v1 and v2 now: one package pins v1, another wants v2 or later, a third needs both
  await publishGit({
    'pin-old': { Kptfile: kptfile('pin-old'), 'deps.yaml': dependency('crds', 'crds', 'v1') },
    'want-new': { Kptfile: kptfile('want-new'), 'deps.yaml': dependency('crds', 'crds', '>=2') },
    both: { Kptfile: kptfile('both'), 'deps.yaml': `${dependency('old', 'pin-old')}---\n${dependency('new', 'want-new')}` },
  });
  await discovered(catalogName('both'), 'True');
  t.is((await admin.post(PR, root('c3', 'both', [SCHEDULE]))).status, 201);
  const pr = await poll('the conflict on the gate', async () => {
    const o = await getPR('c3.deploy..both.ws');
    return condition(o, SCHEDULE)?.reason === 'Conflict' ? o : undefined;
  });
  t.is(condition(pr, SCHEDULE).status, 'False');
  t.is(condition(pr, SCHEDULE).message, 'no published revision of cat/crds satisfies "v1" (by cat/pin-old v1), ">=2" (by cat/want-new v1) (published: v1, v2)');
  t.deepEqual(((await admin.get(PV)).body.items as any[]).filter((v) => v.spec.downstream.target === 'c3').map((v) => v.metadata.name), [], 'nothing made for c3');
});

test.serial('after a restart the maps come back from the store and the tree-keyed cache: no package file is read from git', async (t) => {
  const before = (await admin.get(PAPI)).body.items.map((o: any) => [o.metadata.name, o.spec]);
  const catalog = ((await admin.get(PR)).body.items as any[]).filter((p) => p.spec.packageRevID.target === 'catalog' && p.spec.lifecycle === 'published').map((p) => p.metadata.name as string);
  t.true(catalog.length >= 12);
  const dataDir = server.dataDir;
  await server.stop();
  server = await startServer({ controllers: true, dataDir });
  admin = new HttpClient(server.url, adminTLS(server));
  // every published catalog revision is discovered again by the new process
  await poll('every catalog revision reconciled after the restart', async () => {
    const seen = new Set(server.logs.filter((l) => l.includes('"msg":"reconcile"') && l.includes('"controller":"discovery"')).map((l) => JSON.parse(l).name));
    return catalog.every((n) => seen.has(n)) ? true : undefined;
  }, 60_000);
  // and each has read its documents (a reconcile is logged when it starts)
  let metrics = '';
  const count = (source: string) => Number(new RegExp(`^pkgserver_package_documents_total\\{source="${source}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
  await poll('every revision read its documents', async () => {
    metrics = (await admin.get('/metrics')).body as string;
    // (every package has a tree of its own: distinct Kptfile names)
    return count('disk') + count('git') >= catalog.length ? true : undefined;
  });
  t.is(count('git'), 0, `no package read from git: ${server.logs.filter((l) => l.includes('read from git (tree')).join('\n')}`);
  t.true(count('disk') >= catalog.length, `read from the data directory: ${count('disk')}`);
  t.deepEqual((await admin.get(PAPI)).body.items.map((o: any) => [o.metadata.name, o.spec]), before);
  t.is(condition(await getPR(catalogName('app')), DEPS).status, 'True');
});
