// What a catalog package depends on: its documents (parsed by the real documents.ts) resolved
// against a small catalog of package-provided APIs and the cluster's core APIs. Every expected
// result is written out by hand.
import test from 'ava';
import type { PackageAPISpec } from '../../src/api/catalog.ts';
import { apiIndex, KUBERNETES_APIS } from '../../src/api/coreapis.ts';
import type { Dependencies, PackageRef } from '../../src/api/pkg.ts';
import { refString, resolveDependencies, type CatalogLookup } from '../../src/engine/dependencies.ts';
import { packageDocuments } from '../../src/engine/documents.ts';

const CORE = apiIndex(KUBERNETES_APIS);
const SELF: PackageRef = { repository: 'catalog', package: 'app' };

/** A catalog made of PackageAPI specs and the published revisions of each package ("repo[/realm]/pkg" → revisions). */
function catalogOf(apis: PackageAPISpec[], revisions: Record<string, string[]>): CatalogLookup {
  return {
    api: (group, kind) => apis.find((a) => a.group === group && a.kind === kind),
    group: (group) => apis.find((a) => a.group === group && a.kind === '*'),
    resource: (group, resource) => apis.find((a) => a.group === group && a.resource !== '' && a.resource === resource),
    revisions: (ref) => revisions[refString(ref)] ?? [],
  };
}

const resolve = (files: Record<string, string>, apis: PackageAPISpec[] = [], revisions: Record<string, string[]> = {}, self: PackageRef = SELF): Dependencies =>
  resolveDependencies(self, packageDocuments(files), catalogOf(apis, revisions), CORE);

const doc = (apiVersion: string, kind: string, name?: string, extra = '') =>
  `apiVersion: ${apiVersion}\nkind: ${kind}\n${name === undefined ? '' : `metadata:\n  name: ${name}\n`}${extra}`;
const stream = (...docs: string[]) => docs.join('---\n');

/** example.com/Widget (widgets), provided by catalog/widgets: API v1beta1 by revision v1, v1 by v1 and v2, v2 by v2. */
const WIDGETS: PackageAPISpec = {
  group: 'example.com',
  kind: 'Widget',
  resource: 'widgets',
  scope: 'Namespaced',
  providers: [
    {
      repository: 'catalog',
      package: 'widgets',
      versions: [
        { version: 'v1', revisions: ['v1', 'v2'] },
        { version: 'v1beta1', revisions: ['v1'] },
        { version: 'v2', revisions: ['v2'] },
      ],
    },
  ],
};
/** metrics.example.com: every kind, served by catalog/metrics's APIService (v1beta1, revision v1). */
const METRICS: PackageAPISpec = {
  group: 'metrics.example.com',
  kind: '*',
  resource: '',
  providers: [{ repository: 'catalog', package: 'metrics', versions: [{ version: 'v1beta1', revisions: ['v1'] }] }],
};
const REVISIONS = { 'catalog/widgets': ['v1', 'v2'], 'catalog/metrics': ['v1'] };

const widgetCRD = (group = 'example.com') =>
  doc(
    'apiextensions.k8s.io/v1',
    'CustomResourceDefinition',
    `widgets.${group}`,
    `spec:\n  group: ${group}\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions:\n  - {name: v1, served: true, storage: true}\n`,
  );

// ---- core APIs ----

test('core kinds are core dependencies, one per group/kind/version, sorted', (t) => {
  const files = {
    'app.yaml': stream(doc('apps/v1', 'Deployment', 'web'), doc('v1', 'ConfigMap', 'cfg'), doc('v1', 'ConfigMap', 'other')),
    'hpa.yaml': stream(doc('autoscaling/v1', 'HorizontalPodAutoscaler', 'a'), doc('autoscaling/v2', 'HorizontalPodAutoscaler', 'b')),
  };
  t.deepEqual(resolve(files), {
    packages: [],
    core: [
      { group: '', version: 'v1', kind: 'ConfigMap' },
      { group: 'apps', version: 'v1', kind: 'Deployment' },
      { group: 'autoscaling', version: 'v1', kind: 'HorizontalPodAutoscaler' },
      { group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler' },
    ],
  });
});

test('a core kind in a version the cluster does not serve is an error naming the versions it serves', (t) => {
  const files = {
    'app.yaml': stream(doc('apps/v1beta1', 'Deployment', 'web'), doc('v1', 'ConfigMap', 'cfg')),
    'hpa.yaml': doc('autoscaling/v2beta2', 'HorizontalPodAutoscaler'),
    'pod.yaml': doc('v2', 'Pod', 'p'),
  };
  t.deepEqual(resolve(files), {
    packages: [],
    core: [{ group: '', version: 'v1', kind: 'ConfigMap' }],
    errors: [
      'app.yaml (Deployment web): the cluster does not serve apps/v1beta1 Deployment (it serves apps/v1)',
      'hpa.yaml: the cluster does not serve autoscaling/v2beta2 HorizontalPodAutoscaler (it serves autoscaling/v2, autoscaling/v1)',
      'pod.yaml (Pod p): the cluster does not serve v2 Pod (it serves v1)',
    ],
  });
});

// ---- package-provided APIs ----

test('a kind another package provides: "*" when every published revision serves the version, else the revisions that do', (t) => {
  const files = {
    'a.yaml': doc('example.com/v1', 'Widget', 'a'),
    'b.yaml': doc('example.com/v2', 'Widget', 'b'),
    'c.yaml': doc('example.com/v1beta1', 'Widget', 'c'),
    'd.yaml': doc('example.com/v1', 'Widget', 'd'),
  };
  t.deepEqual(resolve(files, [WIDGETS], REVISIONS), {
    packages: [
      { repository: 'catalog', package: 'widgets', revision: '*', for: ['example.com/Widget'] },
      { repository: 'catalog', package: 'widgets', revision: 'v1', for: ['example.com/Widget'] },
      { repository: 'catalog', package: 'widgets', revision: 'v2', for: ['example.com/Widget'] },
    ],
    core: [],
  });
});

test('a version served by some of the revisions: those revisions joined by "||", which the published ones satisfy', (t) => {
  const gadgets: PackageAPISpec = {
    group: 'example.com',
    kind: 'Gadget',
    resource: 'gadgets',
    providers: [{ repository: 'catalog', realm: 'tools', package: 'gadgets', versions: [{ version: 'v1', revisions: ['v1', 'v3'] }] }],
  };
  t.deepEqual(resolve({ 'g.yaml': doc('example.com/v1', 'Gadget', 'g') }, [gadgets], { 'catalog/tools/gadgets': ['v1', 'v2', 'v3'] }), {
    packages: [{ repository: 'catalog', realm: 'tools', package: 'gadgets', revision: 'v1 || v3', for: ['example.com/Gadget'] }],
    core: [],
  });
});

test('a version the providing package does not serve is an error naming the versions it serves', (t) => {
  const files = { 'w.yaml': stream(doc('example.com/v1alpha1', 'Widget', 'old'), doc('example.com/v1', 'Widget', 'ok')) };
  t.deepEqual(resolve(files, [WIDGETS], REVISIONS), {
    packages: [{ repository: 'catalog', package: 'widgets', revision: '*', for: ['example.com/Widget'] }],
    core: [],
    errors: ['w.yaml (Widget old): example.com/v1alpha1 Widget: package catalog/widgets does not serve version v1alpha1 (it serves v1, v1beta1, v2)'],
  });
});

test('a group an APIService provides resolves any of its kinds', (t) => {
  const files = {
    'm.yaml': stream(doc('metrics.example.com/v1beta1', 'NodeMetrics', 'n'), doc('metrics.example.com/v1beta1', 'PodMetrics', 'p'), doc('metrics.example.com/v1beta1', 'NodeMetrics', 'n2')),
  };
  t.deepEqual(resolve(files, [METRICS], REVISIONS), {
    packages: [{ repository: 'catalog', package: 'metrics', revision: '*', for: ['metrics.example.com/NodeMetrics', 'metrics.example.com/PodMetrics'] }],
    core: [],
  });
});

test('a kind the catalog provides comes before the cluster: a package dependency, not a core one', (t) => {
  // a package providing a kind of a core group (unusual, but the catalog is asked first)
  const apps: PackageAPISpec = { group: 'apps', kind: 'Deployment', resource: 'deployments', providers: [{ repository: 'catalog', package: 'apps', versions: [{ version: 'v1', revisions: ['v1'] }] }] };
  t.deepEqual(resolve({ 'd.yaml': doc('apps/v1', 'Deployment', 'web') }, [apps], { 'catalog/apps': ['v1'] }), {
    packages: [{ repository: 'catalog', package: 'apps', revision: '*', for: ['apps/Deployment'] }],
    core: [],
  });
});

test('a kind neither the catalog nor the cluster has is missing, with an error naming group and kind', (t) => {
  const files = {
    'x.yaml': stream(doc('example.org/v1', 'Thing', 't'), doc('example.org/v2', 'Thing'), doc('v1', 'Frobnicator', 'f')),
  };
  t.deepEqual(resolve(files, [WIDGETS], REVISIONS), {
    packages: [],
    core: [],
    missing: ['Frobnicator', 'example.org/Thing'],
    errors: [
      'x.yaml (Thing t): no package provides example.org/Thing and the cluster does not serve it',
      'x.yaml: no package provides example.org/Thing and the cluster does not serve it',
      'x.yaml (Frobnicator f): no package provides Frobnicator and the cluster does not serve it',
    ],
  });
});

// ---- RBAC ----

test('RBAC rules: a resource of another package, a core resource (version "*"), subresources stripped, "*" skipped, unknown ones warned about', (t) => {
  const rbac = stream(
    doc(
      'rbac.authorization.k8s.io/v1',
      'ClusterRole',
      'app',
      [
        'rules:',
        '- apiGroups: [example.com]',
        '  resources: [widgets, widgets/status]',
        "- apiGroups: ['']",
        '  resources: [configmaps, pods/log, pods]',
        '- apiGroups: [apps]',
        "  resources: ['*']",
        "- apiGroups: ['*']",
        '  resources: [anything]',
        '- apiGroups: [example.org]',
        '  resources: [things]',
        '',
      ].join('\n'),
    ),
    doc('rbac.authorization.k8s.io/v1', 'Role', 'metrics', 'rules:\n- apiGroups: [metrics.example.com]\n  resources: [nodemetrics]\n'),
  );
  t.deepEqual(resolve({ 'rbac.yaml': rbac }, [WIDGETS, METRICS], REVISIONS), {
    packages: [
      { repository: 'catalog', package: 'metrics', revision: '*', for: ['metrics.example.com/nodemetrics'] },
      { repository: 'catalog', package: 'widgets', revision: '*', for: ['example.com/Widget'] },
    ],
    core: [
      { group: '', version: '*', kind: 'ConfigMap' },
      { group: '', version: '*', kind: 'Pod' },
      { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole' },
      { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role' },
    ],
    missingResources: ['example.org/things'],
    warnings: ['rbac.yaml: a rule of ClusterRole/app names resource "things" of group "example.org", which no package provides and the cluster does not serve'],
  });
});

test('a rule and a document asking for the same package with the same constraint make one dependency', (t) => {
  const files = {
    'role.yaml': doc('rbac.authorization.k8s.io/v1', 'Role', 'r', 'rules:\n- apiGroups: [example.com]\n  resources: [widgets]\n'),
    'w.yaml': doc('example.com/v1', 'Widget', 'w'),
  };
  t.deepEqual(resolve(files, [WIDGETS], REVISIONS), {
    packages: [{ repository: 'catalog', package: 'widgets', revision: '*', for: ['example.com/Widget'] }],
    core: [{ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role' }],
  });
});

// ---- own APIs ----

test('the kinds, resources and groups the package provides itself are no dependencies, even when the catalog lists them', (t) => {
  const selfWidgets: PackageAPISpec = { ...WIDGETS, providers: [{ ...SELF, versions: [{ version: 'v1', revisions: ['v1'] }] }, ...WIDGETS.providers] };
  const files = {
    'crd.yaml': widgetCRD(),
    'apiservice.yaml': doc('apiregistration.k8s.io/v1', 'APIService', 'v1beta1.metrics.example.com', 'spec:\n  group: metrics.example.com\n  version: v1beta1\n'),
    'objects.yaml': stream(doc('example.com/v1', 'Widget', 'w'), doc('example.com/v9', 'Widget', 'any-version'), doc('metrics.example.com/v1beta1', 'NodeMetrics', 'n')),
    'role.yaml': doc('rbac.authorization.k8s.io/v1', 'ClusterRole', 'c', 'rules:\n- apiGroups: [example.com]\n  resources: [widgets/status]\n- apiGroups: [metrics.example.com]\n  resources: [podmetrics]\n'),
  };
  t.deepEqual(resolve(files, [selfWidgets, METRICS], { ...REVISIONS, 'catalog/app': ['v1'] }), {
    packages: [],
    core: [
      { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition' },
      { group: 'apiregistration.k8s.io', version: 'v1', kind: 'APIService' },
      { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole' },
    ],
  });
});

test('a kind only the package itself provided (in another revision) and this revision no longer defines is missing', (t) => {
  const onlySelf: PackageAPISpec = { ...WIDGETS, providers: [{ ...SELF, versions: [{ version: 'v1', revisions: ['v1'] }] }] };
  const files = {
    'w.yaml': doc('example.com/v1', 'Widget', 'w'),
    'role.yaml': doc('rbac.authorization.k8s.io/v1', 'Role', 'r', 'rules:\n- apiGroups: [example.com]\n  resources: [widgets]\n'),
  };
  t.deepEqual(resolve(files, [onlySelf], { 'catalog/app': ['v1'] }), {
    packages: [],
    core: [{ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role' }],
    missing: ['example.com/Widget'],
    errors: ['w.yaml (Widget w): no package provides example.com/Widget and the cluster does not serve it'],
    missingResources: ['example.com/widgets'],
    warnings: ['role.yaml: a rule of Role/r names resource "widgets" of group "example.com", which no package provides and the cluster does not serve'],
  });
});

// ---- upstreams ----

const upstream = (apiVersion: string, kind: string, name: string, fields: string) => doc(apiVersion, kind, name, `spec:\n  upstream: {${fields}}\n`);
const variant = (name: string, fields: string) => upstream('config.pkg.pkgserver.dev/v1alpha1', 'PackageVariant', name, fields);
const dependency = (name: string, fields: string) => upstream('claim.pkg.pkgserver.dev/v1alpha1', 'PackageDependency', name, fields);
const UPSTREAMS = { 'catalog/base': ['v1', 'v2', 'v3'], 'catalog/infra/cert-manager': ['v1', 'v1.2', 'v1.5', 'v2'] };

test('PackageVariant and PackageDependency documents are package dependencies on their upstream with its revision', (t) => {
  const files = {
    'deps.yaml': stream(
      variant('pv', 'repository: catalog, package: base, revision: v2'),
      dependency('cm', 'repository: catalog, realm: infra, package: cert-manager, revision: ">=1.2.0 <2"'),
      dependency('cm-any', 'repository: catalog, realm: infra, package: cert-manager'),
      dependency('base-major', 'repository: catalog, package: base, revision: "^1"'),
      dependency('myself', 'repository: catalog, package: app, revision: v1'),
    ),
  };
  t.deepEqual(resolve(files, [], UPSTREAMS), {
    packages: [
      { repository: 'catalog', package: 'base', revision: '^1', for: ['PackageDependency base-major'] },
      { repository: 'catalog', package: 'base', revision: 'v2', for: ['PackageVariant pv'] },
      { repository: 'catalog', realm: 'infra', package: 'cert-manager', revision: '*', for: ['PackageDependency cm-any'] },
      { repository: 'catalog', realm: 'infra', package: 'cert-manager', revision: '>=1.2.0 <2', for: ['PackageDependency cm'] },
    ],
    core: [],
  });
});

test('an upstream revision that is no constraint is an error, and no dependency', (t) => {
  const files = { 'deps.yaml': stream(dependency('bad', 'repository: catalog, package: base, revision: latest'), variant('worse', 'repository: catalog, package: base, revision: "v1.2.3.4"')) };
  t.deepEqual(resolve(files, [], UPSTREAMS), {
    packages: [],
    core: [],
    errors: [
      'deps.yaml: PackageDependency bad: the revision "latest" is not a revision, a semver range or "*"',
      'deps.yaml: PackageVariant worse: the revision "v1.2.3.4" is not a revision, a semver range or "*"',
    ],
  });
});

test('a dependency no published revision satisfies is an error, and still listed', (t) => {
  const files = {
    'deps.yaml': stream(
      dependency('future', 'repository: catalog, realm: infra, package: cert-manager, revision: ">=3"'),
      variant('gone', 'repository: catalog, package: base, revision: v9'),
      dependency('unpublished', 'repository: catalog, package: nowhere'),
      dependency('fine', 'repository: catalog, package: base, revision: v3'),
    ),
  };
  t.deepEqual(resolve(files, [], UPSTREAMS), {
    packages: [
      { repository: 'catalog', package: 'base', revision: 'v3', for: ['PackageDependency fine'] },
      { repository: 'catalog', package: 'base', revision: 'v9', for: ['PackageVariant gone'] },
      { repository: 'catalog', realm: 'infra', package: 'cert-manager', revision: '>=3', for: ['PackageDependency future'] },
      { repository: 'catalog', package: 'nowhere', revision: '*', for: ['PackageDependency unpublished'] },
    ],
    core: [],
    errors: [
      'PackageDependency future: no published revision of catalog/infra/cert-manager satisfies ">=3"',
      'PackageVariant gone: no published revision of catalog/base satisfies "v9"',
      'PackageDependency unpublished: no published revision of catalog/nowhere satisfies "*"',
    ],
  });
});

// ---- ambiguity, skipped documents, problems ----

test('a GroupKind two packages provide is an error naming both, and no dependency', (t) => {
  const twice: PackageAPISpec = {
    ...WIDGETS,
    providers: [...WIDGETS.providers, { repository: 'catalog', package: 'widgets-fork', versions: [{ version: 'v1', revisions: ['v1'] }] }],
  };
  const files = {
    'w.yaml': doc('example.com/v1', 'Widget', 'w'),
    'role.yaml': doc('rbac.authorization.k8s.io/v1', 'Role', 'r', 'rules:\n- apiGroups: [example.com]\n  resources: [widgets]\n'),
  };
  t.deepEqual(resolve(files, [twice], { ...REVISIONS, 'catalog/widgets-fork': ['v1'] }), {
    packages: [],
    core: [{ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role' }],
    errors: [
      'example.com/Widget is provided by several packages: catalog/widgets, catalog/widgets-fork; keep it in one',
      'example.com/Widget is provided by several packages: catalog/widgets, catalog/widgets-fork; keep it in one',
    ],
  });
});

test('a GroupKind provided by the package itself and one other package resolves to the other one', (t) => {
  const withSelf: PackageAPISpec = { ...WIDGETS, providers: [{ ...SELF, versions: [{ version: 'v1', revisions: ['v1'] }] }, ...WIDGETS.providers] };
  t.deepEqual(resolve({ 'w.yaml': doc('example.com/v2', 'Widget', 'w') }, [withSelf], REVISIONS), {
    packages: [{ repository: 'catalog', package: 'widgets', revision: 'v2', for: ['example.com/Widget'] }],
    core: [],
  });
});

test('local-config documents and tool configuration are not resolved', (t) => {
  const files = {
    'setters.yaml': doc('example.org/v1', 'Setters', 'setters', "  annotations: {config.kubernetes.io/local-config: 'true'}\n"),
    'fn.yaml': doc('fn.kpt.dev/v1alpha1', 'ApplyReplacements', 'r'),
    'kustomize.yaml': doc('kustomize.config.k8s.io/v1beta1', 'Component', 'c'),
    'not-local.yaml': doc('v1', 'ConfigMap', 'c', "  annotations: {config.kubernetes.io/local-config: 'false'}\n"),
  };
  t.deepEqual(resolve(files), {
    packages: [],
    core: [{ group: '', version: 'v1', kind: 'ConfigMap' }],
  });
});

test('problems of the documents are errors, and the rest still resolves', (t) => {
  const files = { 'bad.yaml': 'a: [\n', 'ok.yaml': doc('v1', 'ConfigMap', 'c') };
  t.deepEqual(resolve(files), {
    packages: [],
    core: [{ group: '', version: 'v1', kind: 'ConfigMap' }],
    errors: ['bad.yaml: YAML does not parse at line 2, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]'],
  });
});
