// The KRM documents of a package: which files and documents count, the resources, the CRDs and
// APIServices a package provides, the RBAC rules of its Roles, the upstreams of its PackageVariants
// and PackageDependencies, and problems (never exceptions) for whatever does not parse or fit.
import test from 'ava';
import { packageDocuments, parseAPIVersion, type PackageDocuments } from '../../src/engine/documents.ts';

const NONE: PackageDocuments = { crds: [], apiServices: [], documents: [], rbacRules: [], upstreams: [], problems: [] };
const expect = (over: Partial<PackageDocuments>): PackageDocuments => ({ ...NONE, ...over });

const cm = (name: string, ns?: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}data: {a: b}\n`;

test('parseAPIVersion: group/version, core version, malformed', (t) => {
  const cases: [string, { group: string; version: string } | undefined][] = [
    ['apps/v1', { group: 'apps', version: 'v1' }],
    ['v1', { group: '', version: 'v1' }],
    ['apiextensions.k8s.io/v1beta1', { group: 'apiextensions.k8s.io', version: 'v1beta1' }],
    ['', undefined],
    ['/v1', undefined],
    ['apps/', undefined],
    ['/', undefined],
    ['a/b/c', undefined],
    ['apps /v1', undefined],
    [' v1', undefined],
    ['apps/v1\n', undefined],
  ];
  for (const [input, want] of cases) t.deepEqual(parseAPIVersion(input), want, JSON.stringify(input));
  t.is(parseAPIVersion(5 as unknown as string), undefined, 'not a string');
});

test('files: .yaml and .yml at any depth, in path order; kustomization files, the Kptfile and other files are not read', (t) => {
  const files = {
    'z.yaml': cm('z'),
    'a/b/c.yml': cm('abc'),
    'a/b.yaml': cm('ab'),
    'A.yaml': cm('upper'),
    Kptfile: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kptfile}\n',
    'kustomization.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k1}\n',
    'deep/er/kustomization.yml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k2}\n',
    'sub/Kustomization': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k3}\n',
    'sub/my-kustomization.yaml': cm('not-a-kustomization'),
    'README.md': cm('readme'),
    'x.yaml.txt': cm('txt'),
    'x.YAML': cm('caps'),
    'x.json': '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "json"}}',
  };
  t.deepEqual(
    packageDocuments(files).documents.map((d) => [d.file, d.name]),
    [['A.yaml', 'upper'], ['a/b.yaml', 'ab'], ['a/b/c.yml', 'abc'], ['sub/my-kustomization.yaml', 'not-a-kustomization'], ['z.yaml', 'z']],
  );
});

test('documents: multi-document files in file order, group/version/kind/name/namespace; non-mappings and data files skipped', (t) => {
  const files = {
    'app/all.yaml': [
      cm('one', 'prod'),
      '---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod, labels: {app: web}}\nspec: {replicas: 2}\n',
      '---\n# only a comment\n',
      '---\n- a\n- list\n',
      '---\njust a string\n',
      '---\napiVersion: v1\n',
      '---\nkind: ConfigMap\n',
      '---\napiVersion: ""\nkind: ConfigMap\n',
      '---\napiVersion: v1\nkind: ""\n',
      '---\nfoo: bar\n',
      '---\napiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n',
      '---\napiVersion: example.com/v1\nkind: Widget\n',
      '---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: "", namespace: ""}\n',
      '---\n',
    ].join(''),
    'data/values.yaml': 'replicas: 3\nimage: nginx\n',
    'empty.yaml': '',
  };
  t.deepEqual(
    packageDocuments(files),
    expect({
      documents: [
        { group: '', version: 'v1', kind: 'ConfigMap', name: 'one', namespace: 'prod', file: 'app/all.yaml' },
        { group: 'apps', version: 'v1', kind: 'Deployment', name: 'web', namespace: 'prod', file: 'app/all.yaml' },
        { group: '', version: 'v1', kind: 'Namespace', name: 'prod', file: 'app/all.yaml' },
        { group: 'example.com', version: 'v1', kind: 'Widget', file: 'app/all.yaml' },
        { group: 'example.com', version: 'v1', kind: 'Widget', file: 'app/all.yaml' },
      ],
    }),
  );
});

test('documents: local-config (annotation "true") and tool configuration (kpt.dev, kustomize, config.kubernetes.io) are skipped', (t) => {
  const files = {
    'fn.yaml': [
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: setters\n  annotations:\n    config.kubernetes.io/local-config: "true"\n',
      '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-local\n  annotations:\n    config.kubernetes.io/local-config: "false"\n',
      '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other-annotation\n  annotations: {example.com/local-config: "true"}\n',
      '---\napiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata: {name: pkg}\n',
      '---\napiVersion: fn.kpt.dev/v1alpha1\nkind: SetLabels\nmetadata: {name: labels}\n',
      '---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n',
      '---\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n',
      '---\napiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n',
      '---\napiVersion: notkpt.dev/v1\nkind: Thing\nmetadata: {name: counts}\n',
      '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bool-not-string\n  annotations:\n    config.kubernetes.io/local-config: true\n',
    ].join(''),
  };
  t.deepEqual(packageDocuments(files).documents, [
    { group: '', version: 'v1', kind: 'ConfigMap', name: 'not-local', file: 'fn.yaml' },
    { group: '', version: 'v1', kind: 'ConfigMap', name: 'other-annotation', file: 'fn.yaml' },
    { group: 'notkpt.dev', version: 'v1', kind: 'Thing', name: 'counts', file: 'fn.yaml' },
    { group: '', version: 'v1', kind: 'ConfigMap', name: 'bool-not-string', file: 'fn.yaml' },
  ]);
  const crd = 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: a.b.c\n  annotations: {config.kubernetes.io/local-config: "true"}\nspec: {group: x}\n';
  t.deepEqual(packageDocuments({ 'crd.yaml': crd }), NONE, 'a local-config CRD provides nothing and has no problems');
});

test('problems: a broken file or document is one problem with its line; the other files and documents still count', (t) => {
  const files = {
    'a.yaml': cm('before'),
    'broken.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n',
    'dup.yaml': 'apiVersion: v1\nkind: ConfigMap\nkind: Secret\n',
    'multi.yaml': `${cm('first')}---\nkey: : :\n---\n${cm('third')}`,
    'alias.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: *nope}\n',
    'z.yaml': cm('after'),
  };
  const out = packageDocuments(files);
  t.deepEqual(out.documents.map((d) => `${d.file}:${d.name}`), ['a.yaml:before', 'multi.yaml:first', 'multi.yaml:third', 'z.yaml:after']);
  t.deepEqual(out.problems.map((p) => p.file), ['alias.yaml', 'broken.yaml', 'dup.yaml', 'multi.yaml']);
  t.deepEqual(out.problems, [
    { file: 'alias.yaml', message: 'YAML document at line 1 cannot be read: Unresolved alias (the anchor must be set before the alias): nope' },
    { file: 'broken.yaml', message: 'YAML does not parse at line 5, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]' },
    { file: 'dup.yaml', message: 'YAML does not parse at line 3, column 1: Map keys must be unique' },
    { file: 'multi.yaml', message: 'YAML does not parse at line 7, column 6: Nested mappings are not allowed in compact mappings' },
  ]);
});

const CRD_V1 = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: false
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, default: 1}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
  - name: v1alpha1
    served: false
    storage: false
`;

test('CRD v1: group, kind, plural, scope, versions with served, storage and schema; also a document', (t) => {
  const files = { 'crds/widgets.yaml': CRD_V1, 'crds/widget.yaml': 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: default}\nspec: {size: 2}\n' };
  t.deepEqual(
    packageDocuments(files),
    expect({
      crds: [
        {
          name: 'widgets.example.com',
          group: 'example.com',
          kind: 'Widget',
          plural: 'widgets',
          scope: 'Namespaced',
          versions: [
            { name: 'v1beta1', served: true, storage: false, schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer', default: 1 } } } } } },
            { name: 'v1', served: true, storage: true, schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            { name: 'v1alpha1', served: false, storage: false },
          ],
          file: 'crds/widgets.yaml',
        },
      ],
      documents: [
        { group: 'example.com', version: 'v1', kind: 'Widget', name: 'w1', namespace: 'default', file: 'crds/widget.yaml' },
        { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', name: 'widgets.example.com', file: 'crds/widgets.yaml' },
      ],
    }),
  );
});

test('CRD: scope Cluster, and Namespaced when absent; served and storage false unless true', (t) => {
  const crd = (name: string, extra: string) =>
    `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ${name}}\nspec:\n  group: g.io\n  names: {kind: K, plural: ${name.split('.')[0]}}\n${extra}  versions: [{name: v1, served: "true", storage: 1}]\n`;
  const out = packageDocuments({ 'a.yaml': crd('as.g.io', '  scope: Cluster\n'), 'b.yaml': crd('bs.g.io', '') });
  t.deepEqual(out.crds, [
    { name: 'as.g.io', group: 'g.io', kind: 'K', plural: 'as', scope: 'Cluster', versions: [{ name: 'v1', served: false, storage: false }], file: 'a.yaml' },
    { name: 'bs.g.io', group: 'g.io', kind: 'K', plural: 'bs', scope: 'Namespaced', versions: [{ name: 'v1', served: false, storage: false }], file: 'b.yaml' },
  ]);
  t.deepEqual(out.problems, []);
});

test('CRD v1beta1: a single spec.version, spec.validation as the schema of every version', (t) => {
  const single = `apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  version: v1alpha1
  names: {kind: Gadget, plural: gadgets}
  scope: Cluster
  validation:
    openAPIV3Schema: {type: object, properties: {spec: {type: object}}}
`;
  const list = `apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata: {name: gizmos.example.com}
spec:
  group: example.com
  version: v1
  versions:
  - {name: v1, served: true, storage: true}
  - {name: v2, served: true, storage: false, schema: {openAPIV3Schema: {type: object, description: own}}}
  names: {kind: Gizmo, plural: gizmos}
  validation:
    openAPIV3Schema: {type: object, description: shared}
`;
  const none = `apiVersion: apiextensions.k8s.io/v1beta1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
spec: {group: example.com, version: v1, names: {kind: Thing, plural: things}}
`;
  t.deepEqual(packageDocuments({ '1.yaml': single, '2.yaml': list, '3.yaml': none }), expect({
    crds: [
      { name: 'gadgets.example.com', group: 'example.com', kind: 'Gadget', plural: 'gadgets', scope: 'Cluster', versions: [{ name: 'v1alpha1', served: true, storage: true, schema: { type: 'object', properties: { spec: { type: 'object' } } } }], file: '1.yaml' },
      {
        name: 'gizmos.example.com',
        group: 'example.com',
        kind: 'Gizmo',
        plural: 'gizmos',
        scope: 'Namespaced',
        versions: [
          { name: 'v1', served: true, storage: true, schema: { type: 'object', description: 'shared' } },
          { name: 'v2', served: true, storage: false, schema: { type: 'object', description: 'own' } },
        ],
        file: '2.yaml',
      },
      { name: 'things.example.com', group: 'example.com', kind: 'Thing', plural: 'things', scope: 'Namespaced', versions: [{ name: 'v1', served: true, storage: true }], file: '3.yaml' },
    ],
    documents: [
      { group: 'apiextensions.k8s.io', version: 'v1beta1', kind: 'CustomResourceDefinition', name: 'gadgets.example.com', file: '1.yaml' },
      { group: 'apiextensions.k8s.io', version: 'v1beta1', kind: 'CustomResourceDefinition', name: 'gizmos.example.com', file: '2.yaml' },
      { group: 'apiextensions.k8s.io', version: 'v1beta1', kind: 'CustomResourceDefinition', name: 'things.example.com', file: '3.yaml' },
    ],
  }));
});

test('CRD problems: missing group, kind, plural, versions; bad scope, bad version entries; a CRD defined twice', (t) => {
  const head = (name: string) => `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ${name}}\n`;
  const files = {
    'a.yaml': `${head('as.g.io')}spec: {names: {}, versions: [{name: v1, served: true, storage: true}]}\n`,
    'b.yaml': `${head('bs.g.io')}spec: {group: g.io, names: {kind: B, plural: bs}}\n`,
    'c.yaml': `${head('cs.g.io')}spec: {group: g.io, names: {kind: C, plural: cs}, versions: []}\n`,
    'd.yaml': `${head('ds.g.io')}spec: {group: g.io, scope: Global, names: {kind: D, plural: ds}, versions: [{name: v1}]}\n`,
    'e.yaml': `${head('es.g.io')}spec:\n  group: g.io\n  names: {kind: E, plural: es}\n  versions: [5, {served: true}, {name: v1, storage: true}, {name: v1}]\n`,
    'f.yaml': `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec: {group: g.io, names: {kind: F, plural: fs}, versions: [{name: v1}]}\n`,
    'g.yaml': `${head('es.g.io')}spec: {group: g.io, names: {kind: E2, plural: es}, versions: [{name: v2}]}\n`,
    'h.yaml': `apiVersion: apiextensions.k8s.io/v2\nkind: CustomResourceDefinition\nmetadata: {name: future.g.io}\nspec: 5\n`,
  };
  const out = packageDocuments(files);
  t.deepEqual(out.crds, [{ name: 'es.g.io', group: 'g.io', kind: 'E', plural: 'es', scope: 'Namespaced', versions: [{ name: 'v1', served: false, storage: true }], file: 'e.yaml' }]);
  t.deepEqual(out.problems, [
    { file: 'a.yaml', message: 'line 1: CustomResourceDefinition as.g.io: spec.group must be a non-empty string' },
    { file: 'a.yaml', message: 'line 1: CustomResourceDefinition as.g.io: spec.names.kind must be a non-empty string' },
    { file: 'a.yaml', message: 'line 1: CustomResourceDefinition as.g.io: spec.names.plural must be a non-empty string' },
    { file: 'b.yaml', message: 'line 1: CustomResourceDefinition bs.g.io: spec.versions must list at least one version' },
    { file: 'c.yaml', message: 'line 1: CustomResourceDefinition cs.g.io: spec.versions must list at least one version' },
    { file: 'd.yaml', message: 'line 1: CustomResourceDefinition ds.g.io: spec.scope must be "Namespaced" or "Cluster"' },
    { file: 'e.yaml', message: 'line 1: CustomResourceDefinition es.g.io: spec.versions[0] must be a mapping' },
    { file: 'e.yaml', message: 'line 1: CustomResourceDefinition es.g.io: spec.versions[1].name must be a non-empty string' },
    { file: 'e.yaml', message: 'line 1: CustomResourceDefinition es.g.io: spec.versions[3]: version v1 is listed more than once' },
    { file: 'f.yaml', message: 'line 1: CustomResourceDefinition: metadata.name must be a non-empty string' },
    { file: 'g.yaml', message: 'line 1: CustomResourceDefinition es.g.io: defined more than once in the package; the first definition counts' },
  ]);
  t.is(out.documents.length, 8, 'each is still a document');
  t.deepEqual(out.documents[7], { group: 'apiextensions.k8s.io', version: 'v2', kind: 'CustomResourceDefinition', name: 'future.g.io', file: 'h.yaml' }, 'an unknown CRD version is only a document');
});

test('APIService: v1 and v1beta1, spec.group and spec.version required', (t) => {
  const files = {
    'api.yaml': [
      'apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: v1beta1.metrics.k8s.io}\nspec: {group: metrics.k8s.io, version: v1beta1, service: {name: metrics, namespace: kube-system}}\n',
      '---\napiVersion: apiregistration.k8s.io/v1beta1\nkind: APIService\nmetadata: {name: v1alpha1.custom.io}\nspec: {group: custom.io, version: v1alpha1}\n',
      '---\napiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: broken}\nspec: {group: "", version: 1}\n',
    ].join(''),
  };
  t.deepEqual(packageDocuments(files), expect({
    apiServices: [
      { group: 'metrics.k8s.io', version: 'v1beta1', file: 'api.yaml' },
      { group: 'custom.io', version: 'v1alpha1', file: 'api.yaml' },
    ],
    documents: [
      { group: 'apiregistration.k8s.io', version: 'v1', kind: 'APIService', name: 'v1beta1.metrics.k8s.io', file: 'api.yaml' },
      { group: 'apiregistration.k8s.io', version: 'v1beta1', kind: 'APIService', name: 'v1alpha1.custom.io', file: 'api.yaml' },
      { group: 'apiregistration.k8s.io', version: 'v1', kind: 'APIService', name: 'broken', file: 'api.yaml' },
    ],
    problems: [
      { file: 'api.yaml', message: 'line 11: APIService broken: spec.group must be a non-empty string' },
      { file: 'api.yaml', message: 'line 11: APIService broken: spec.version must be a non-empty string' },
    ],
  }));
});

test('RBAC: Role and ClusterRole rules, group x resource, "*" skipped, subresources stripped, deduped per role', (t) => {
  const files = {
    'rbac/role.yaml': `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
- apiGroups: ["", apps]
  resources: [pods, pods/log, deployments, "*", "*/scale", ""]
  verbs: [get, list]
- apiGroups: ["*"]
  resources: [anything]
  verbs: ["*"]
- apiGroups: [example.com]
  resources: [widgets/status, widgets]
  resourceNames: [w1]
  verbs: [update]
- nonResourceURLs: [/healthz]
  verbs: [get]
- apiGroups: [""]
  resources: [pods]
  verbs: [watch]
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {agg: "true"}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: app}
rules:
- apiGroups: [""]
  resources: [configmaps, configmaps]
  verbs: [get]
- apiGroups: [""]
  resources: [secrets]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: aggregated}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {agg: "true"}}]
---
apiVersion: rbac.authorization.k8s.io/v1beta1
kind: Role
metadata: {name: old}
rules: [{apiGroups: [""], resources: [pods]}]
`,
  };
  const out = packageDocuments(files);
  t.deepEqual(out.rbacRules, [
    { group: '', resource: 'pods', role: 'ClusterRole/reader', file: 'rbac/role.yaml' },
    { group: '', resource: 'deployments', role: 'ClusterRole/reader', file: 'rbac/role.yaml' },
    { group: 'apps', resource: 'pods', role: 'ClusterRole/reader', file: 'rbac/role.yaml' },
    { group: 'apps', resource: 'deployments', role: 'ClusterRole/reader', file: 'rbac/role.yaml' },
    { group: 'example.com', resource: 'widgets', role: 'ClusterRole/reader', file: 'rbac/role.yaml' },
    { group: '', resource: 'configmaps', role: 'Role/reader', file: 'rbac/role.yaml' },
    { group: '', resource: 'secrets', role: 'Role/reader', file: 'rbac/role.yaml' },
  ]);
  t.deepEqual(out.problems, []);
  t.deepEqual(out.documents.map((d) => `${d.group}/${d.version} ${d.kind} ${d.name}`), [
    'rbac.authorization.k8s.io/v1 ClusterRole reader',
    'rbac.authorization.k8s.io/v1 Role reader',
    'rbac.authorization.k8s.io/v1 ClusterRole aggregated',
    'rbac.authorization.k8s.io/v1beta1 Role old',
  ]);
});

test('upstreams: PackageVariant and PackageDependency, revision "*" when absent or empty; not documents', (t) => {
  const files = {
    'deps.yaml': `apiVersion: claim.pkg.pkgserver.dev/v1alpha1
kind: PackageDependency
metadata: {name: needs-cert-manager}
spec:
  upstream: {repository: catalog, realm: infra/security, package: cert-manager, revision: ">=1.12 <2"}
---
apiVersion: claim.pkg.pkgserver.dev/v1alpha1
kind: PackageDependency
metadata: {name: needs-any-dns}
spec:
  upstream: {repository: catalog, package: dns, realm: ""}
`,
    'variants/pv.yaml': `apiVersion: config.pkg.pkgserver.dev/v1alpha1
kind: PackageVariant
metadata: {name: nginx-edge, namespace: default}
spec:
  upstream: {repository: catalog, realm: infra/net, package: nginx, revision: v2}
  downstream: {target: edge, repository: deploy, package: nginx}
---
apiVersion: config.pkg.pkgserver.dev/v1alpha1
kind: PackageVariant
metadata: {name: empty-revision}
spec:
  upstream: {repository: catalog, package: redis, revision: ""}
---
apiVersion: config.pkg.pkgserver.dev/v1beta1
kind: PackageVariant
metadata: {name: later-version}
spec:
  upstream: {repository: catalog, package: kafka, revision: "~3"}
---
apiVersion: config.pkg.pkgserver.dev/v1alpha1
kind: Repository
metadata: {name: catalog}
spec: {git: {url: /srv/git/catalog.git}}
`,
  };
  t.deepEqual(packageDocuments(files), expect({
    upstreams: [
      { repository: 'catalog', realm: 'infra/security', package: 'cert-manager', revision: '>=1.12 <2', via: 'PackageDependency', name: 'needs-cert-manager', file: 'deps.yaml' },
      { repository: 'catalog', package: 'dns', revision: '*', via: 'PackageDependency', name: 'needs-any-dns', file: 'deps.yaml' },
      { repository: 'catalog', realm: 'infra/net', package: 'nginx', revision: 'v2', via: 'PackageVariant', name: 'nginx-edge', file: 'variants/pv.yaml' },
      { repository: 'catalog', package: 'redis', revision: '*', via: 'PackageVariant', name: 'empty-revision', file: 'variants/pv.yaml' },
      { repository: 'catalog', package: 'kafka', revision: '~3', via: 'PackageVariant', name: 'later-version', file: 'variants/pv.yaml' },
    ],
    documents: [{ group: 'config.pkg.pkgserver.dev', version: 'v1alpha1', kind: 'Repository', name: 'catalog', file: 'variants/pv.yaml' }],
  }));
});

test('upstreams: missing repository or package, wrong types are problems', (t) => {
  const dep = (name: string, spec: string) => `apiVersion: claim.pkg.pkgserver.dev/v1alpha1\nkind: PackageDependency\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
  const files = {
    'a.yaml': dep('no-repo', '{upstream: {package: p}}'),
    'b.yaml': dep('no-package', '{upstream: {repository: r, package: ""}}'),
    'c.yaml': dep('no-upstream', '{}'),
    'd.yaml': dep('numbers', '{upstream: {repository: r, package: p, revision: 1.10, realm: 5}}'),
    'e.yaml': dep('list', '{upstream: [r, p]}'),
    'f.yaml': 'apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: PackageVariant\nspec: {upstream: {repository: r, package: p}}\n',
  };
  t.deepEqual(packageDocuments(files), expect({
    upstreams: [{ repository: 'r', package: 'p', revision: '*', via: 'PackageVariant', name: '', file: 'f.yaml' }],
    problems: [
      { file: 'a.yaml', message: 'line 1: PackageDependency no-repo: spec.upstream.repository must be a non-empty string' },
      { file: 'b.yaml', message: 'line 1: PackageDependency no-package: spec.upstream.package must be a non-empty string' },
      { file: 'c.yaml', message: 'line 1: PackageDependency no-upstream: spec.upstream must be a mapping' },
      { file: 'd.yaml', message: 'line 1: PackageDependency numbers: spec.upstream.realm must be a string' },
      { file: 'd.yaml', message: 'line 1: PackageDependency numbers: spec.upstream.revision must be a string (quote a version such as "1.10")' },
      { file: 'e.yaml', message: 'line 1: PackageDependency list: spec.upstream must be a mapping' },
    ],
  }));
});

test('wrong types: a problem or a skip, never an exception', (t) => {
  const files: Record<string, string> = {
    'a-spec-number.yaml': 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: a.g.io}\nspec: 5\n',
    'b-versions-map.yaml': 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: b.g.io}\nspec: {group: g.io, names: {kind: B, plural: b}, versions: {}}\n',
    'c-names-string.yaml': 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: c.g.io}\nspec: {group: [g], names: x, versions: [{name: v1, schema: 5}]}\n',
    'd-rules-string.yaml': 'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: d}\nrules: "x"\n',
    'e-rule-shapes.yaml': 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: e}\nrules: [5, {apiGroups: "", resources: [pods]}, {apiGroups: [""], resources: [1, pods]}, {apiGroups: [""], resources: [nodes]}]\n',
    'f-role-no-name.yaml': 'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: 5\nrules: []\n',
    'g-metadata.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: [a]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: 5, namespace: [x], annotations: [config.kubernetes.io/local-config]}\n',
    'h-apiversion.yaml': 'apiVersion: 5\nkind: ConfigMap\n---\napiVersion: v1\nkind: [ConfigMap]\n---\napiVersion: a/b/c\nkind: Thing\n',
    'i-apiservice.yaml': 'apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: i}\nspec: [group]\n',
    'j-tags.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: !!set {name}\nbinaryData: {a: !!binary aGVsbG8=}\n',
    'k-proto.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {__proto__: {name: polluted}, constructor: {name: x}}\n---\n__proto__: {apiVersion: v1, kind: ConfigMap}\n',
    'l-cycle.yaml': 'apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ls.g.io}\nspec: {group: g.io, names: {kind: L, plural: ls}, versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: &s {type: object, properties: {self: *s}}}}]}\n',
    'm-v1beta1-version-number.yaml': 'apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\nmetadata: {name: ms.g.io}\nspec: {group: g.io, names: {kind: M, plural: ms}, version: 1}\n',
    'n-scalar.yaml': '42\n',
    'o-null.yaml': 'null\n',
  };
  const out = packageDocuments(files);
  t.deepEqual(out.problems, [
    { file: 'a-spec-number.yaml', message: 'line 1: CustomResourceDefinition a.g.io: spec must be a mapping' },
    { file: 'b-versions-map.yaml', message: 'line 1: CustomResourceDefinition b.g.io: spec.versions must be a list' },
    { file: 'b-versions-map.yaml', message: 'line 1: CustomResourceDefinition b.g.io: spec.versions must list at least one version' },
    { file: 'c-names-string.yaml', message: 'line 1: CustomResourceDefinition c.g.io: spec.group must be a non-empty string' },
    { file: 'c-names-string.yaml', message: 'line 1: CustomResourceDefinition c.g.io: spec.names.kind must be a non-empty string' },
    { file: 'c-names-string.yaml', message: 'line 1: CustomResourceDefinition c.g.io: spec.names.plural must be a non-empty string' },
    { file: 'd-rules-string.yaml', message: 'line 1: Role d: rules must be a list' },
    { file: 'e-rule-shapes.yaml', message: 'line 1: ClusterRole e: rules[0] must be a mapping' },
    { file: 'e-rule-shapes.yaml', message: 'line 1: ClusterRole e: rules[1].apiGroups must be a list of strings' },
    { file: 'e-rule-shapes.yaml', message: 'line 1: ClusterRole e: rules[2].resources must be a list of strings' },
    { file: 'f-role-no-name.yaml', message: 'line 1: Role: metadata.name must be a non-empty string' },
    { file: 'h-apiversion.yaml', message: 'line 7: apiVersion "a/b/c" of Thing is not "<group>/<version>" or "<version>"' },
    { file: 'i-apiservice.yaml', message: 'line 1: APIService i: spec.group must be a non-empty string' },
    { file: 'i-apiservice.yaml', message: 'line 1: APIService i: spec.version must be a non-empty string' },
    { file: 'm-v1beta1-version-number.yaml', message: 'line 1: CustomResourceDefinition ms.g.io: spec.version must be a non-empty string' },
    { file: 'm-v1beta1-version-number.yaml', message: 'line 1: CustomResourceDefinition ms.g.io: spec.versions must list at least one version' },
  ]);
  t.deepEqual(out.rbacRules, [{ group: '', resource: 'nodes', role: 'ClusterRole/e', file: 'e-rule-shapes.yaml' }]);
  t.deepEqual(out.crds.map((c) => [c.name, c.versions.map((v) => v.name)]), [['ls.g.io', ['v1']]]);
  const schema = out.crds[0].versions[0].schema as { properties: { self: unknown } };
  t.is(schema.properties.self, schema, 'a self-referring schema is kept as is');
  t.deepEqual(out.documents.map((d) => `${d.file} ${d.kind} ${d.name ?? '-'} ${d.namespace ?? '-'}`), [
    'a-spec-number.yaml CustomResourceDefinition a.g.io -',
    'b-versions-map.yaml CustomResourceDefinition b.g.io -',
    'c-names-string.yaml CustomResourceDefinition c.g.io -',
    'd-rules-string.yaml Role d -',
    'e-rule-shapes.yaml ClusterRole e -',
    'f-role-no-name.yaml Role - -',
    'g-metadata.yaml ConfigMap - -',
    'g-metadata.yaml ConfigMap - -',
    'i-apiservice.yaml APIService i -',
    'j-tags.yaml ConfigMap - -',
    'k-proto.yaml ConfigMap - -',
    'l-cycle.yaml CustomResourceDefinition ls.g.io -',
    'm-v1beta1-version-number.yaml CustomResourceDefinition ms.g.io -',
  ]);
  t.is(({} as Record<string, unknown>).name, undefined, 'no prototype pollution');
});

test('wrong types: file content that is not text, and every field of every kind replaced by odd values, never throw', (t) => {
  t.deepEqual(packageDocuments({ 'a.yaml': 5 as unknown as string, 'b.yaml': cm('b') }), expect({
    documents: [{ group: '', version: 'v1', kind: 'ConfigMap', name: 'b', file: 'b.yaml' }],
    problems: [{ file: 'a.yaml', message: 'the file content is not text' }],
  }));
  const odd = ['5', '"x"', '[]', '{}', 'null', 'true', '[1, {a: b}]', '{a: [1]}', '""'];
  const shapes = [
    (v: string) => `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x.g.io}\nspec: {group: g.io, names: {kind: X, plural: x}, versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: ${v}}}], scope: ${v}}\n`,
    (v: string) => `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x.g.io}\nspec: {group: ${v}, names: ${v}, versions: ${v}}\n`,
    (v: string) => `apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\nmetadata: ${v}\nspec: {group: g.io, names: {kind: X, plural: x}, version: ${v}, validation: ${v}}\n`,
    (v: string) => `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: x.g.io}\nspec: {group: g.io, names: {kind: X, plural: x}, versions: [${v}, {name: ${v}, served: ${v}}]}\n`,
    (v: string) => `apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: {name: ${v}}\nspec: {group: ${v}, version: ${v}}\n`,
    (v: string) => `apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: [{apiGroups: ${v}, resources: ${v}}, ${v}]\n`,
    (v: string) => `apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\nrules: ${v}\n`,
    (v: string) => `apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: PackageVariant\nmetadata: {name: ${v}}\nspec: {upstream: {repository: ${v}, package: ${v}, realm: ${v}, revision: ${v}}}\n`,
    (v: string) => `apiVersion: claim.pkg.pkgserver.dev/v1alpha1\nkind: PackageDependency\nmetadata: {name: d}\nspec: ${v}\n`,
    (v: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, annotations: ${v}, namespace: ${v}}\n`,
    (v: string) => `apiVersion: ${v}\nkind: ${v}\n`,
  ];
  let documents = 0;
  for (const shape of shapes) {
    for (const v of odd) {
      const src = shape(v);
      let docs = NONE;
      t.notThrows(() => {
        docs = packageDocuments({ 'x.yaml': src });
      }, src);
      documents += docs.documents.length;
      for (const p of docs.problems) t.regex(p.message, /^line 1: /, src);
    }
  }
  t.is(documents, 8 * odd.length + 1, 'every shape is a document but PackageVariant and PackageDependency (upstreams only), and the apiVersion/kind one but for "x"');
});
