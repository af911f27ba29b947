// The policy file: strict validation with errors naming file, document and field; the default
// policy and the example roles evaluated by the RBAC authorizer; reloading while the server runs.
import test from 'ava';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { constant } from '../../../src/apiserver/authn/types.ts';
import { requestAttributes } from '../../../src/apiserver/authz/attributes.ts';
import { DEFAULT_POLICY, EXAMPLE_ROLES, loadPolicyFile, parsePolicy, watchPolicyFile, writeDefaultPolicy } from '../../../src/apiserver/authz/policyfile.ts';
import { RBACAuthorizer, type PolicyDocuments } from '../../../src/apiserver/authz/rbac.ts';
import type { UserInfo } from '../../../src/apiserver/registry/types.ts';
import { poll } from '../../helpers/poll.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pkgserver-policy-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (text: string) => {
  const p = path.join(dir, `policy-${++n}.yaml`);
  writeFileSync(p, text);
  return p;
};

const names = (p: PolicyDocuments) => ({
  clusterRoles: p.clusterRoles.map((r) => r.metadata.name),
  roles: p.roles.map((r) => `${r.metadata.namespace}/${r.metadata.name}`),
  clusterRoleBindings: p.clusterRoleBindings.map((r) => r.metadata.name),
  roleBindings: p.roleBindings.map((r) => `${r.metadata.namespace}/${r.metadata.name}`),
});

const can = async (p: PolicyDocuments, user: UserInfo, method: string, url: string) =>
  (await new RBACAuthorizer(constant(p)).authorize(requestAttributes(method, new URL(url, 'https://x'), user))).decision === 'allow';

/** parsePolicy's message for the given problems */
const invalid = (...lines: string[]) => ({ message: `invalid policy file:\n${lines.join('\n')}` });

// ---- the default policy ----

test('DEFAULT_POLICY: each controller may do its own work in every namespace, nothing more', async (t) => {
  const p = parsePolicy(DEFAULT_POLICY, 'default');
  const ctl = (name: string) => ({ name: `system:pkgserver:controller:${name}`, groups: ['system:pkgserver:controllers', 'system:authenticated'] });
  const attrs = (user: UserInfo, verb: string, resource: string, sub?: string) => ({ user, verb, resourceRequest: true, apiGroup: resource.startsWith('package') && resource !== 'packagevariants' ? 'pkg.pkgserver.dev' : 'config.pkg.pkgserver.dev', apiVersion: 'v1alpha1', resource, subresource: sub, namespace: 'any-ns', name: 'x' });
  const allowed = async (user: UserInfo, verb: string, resource: string, sub?: string) => (await new RBACAuthorizer(constant(p)).authorize(attrs(user, verb, resource, sub))).decision === 'allow';
  t.true(await allowed(ctl('approval'), 'approve', 'packagerevisions'));
  t.true(await allowed(ctl('approval'), 'update', 'packagerevisions'));
  t.true(await allowed(ctl('approval'), 'patch', 'packagerevisions', 'status'));
  t.false(await allowed(ctl('approval'), 'delete', 'packagerevisions'));
  t.true(await allowed(ctl('packagevariant'), 'create', 'packagerevisions'));
  t.true(await allowed(ctl('packagevariant'), 'update', 'packagevariants', 'status'));
  t.false(await allowed(ctl('packagevariant'), 'approve', 'packagerevisions'), 'the variant controller never approves');
  t.false(await allowed(ctl('packagevariant'), 'update', 'packagerevisions', 'approval'));
  t.true(await allowed(ctl('upgrades'), 'update', 'packagerevisions', 'status'));
  t.false(await allowed(ctl('upgrades'), 'update', 'packagerevisions'));
  t.true(await allowed(ctl('discovery'), 'create', 'packageapis'));
  t.true(await allowed(ctl('discovery'), 'delete', 'packageapis'));
  t.true(await allowed(ctl('discovery'), 'patch', 'packagerevisions', 'status'));
  t.false(await allowed(ctl('discovery'), 'update', 'packagerevisions'), 'discovery writes only the status');
  t.false(await allowed(ctl('discovery'), 'create', 'packagevariants'));
  t.true(await allowed(ctl('scheduler'), 'create', 'packagevariants'));
  t.true(await allowed(ctl('scheduler'), 'update', 'packagerevisions', 'status'));
  t.false(await allowed(ctl('scheduler'), 'delete', 'packagevariants'), 'the scheduler only adds variants');
  t.false(await allowed(ctl('scheduler'), 'approve', 'packagerevisions'), 'the scheduler never approves');
  t.false(await allowed(ctl('someone-else'), 'get', 'packagerevisions'), 'the group alone grants nothing');
});


test('DEFAULT_POLICY: cluster-admin for system:masters, discovery and self reviews for system:authenticated', async (t) => {
  const p = parsePolicy(DEFAULT_POLICY, 'default');
  t.deepEqual(names(p), {
    clusterRoles: ['cluster-admin', 'system:discovery', 'system:basic-user', 'system:pkgserver:packagevariant-controller', 'system:pkgserver:approval-controller', 'system:pkgserver:auto-approve', 'system:pkgserver:upgrades-controller', 'system:pkgserver:discovery-controller', 'system:pkgserver:scheduler-controller'],
    roles: [],
    clusterRoleBindings: ['cluster-admin', 'system:discovery', 'system:basic-user', 'system:pkgserver:packagevariant-controller', 'system:pkgserver:approval-controller', 'system:pkgserver:auto-approve', 'system:pkgserver:upgrades-controller', 'system:pkgserver:discovery-controller', 'system:pkgserver:scheduler-controller'],
    roleBindings: [],
  });
  t.deepEqual(p.clusterRoleBindings[0], {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'cluster-admin' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
    subjects: [{ kind: 'Group', name: 'system:masters', apiGroup: 'rbac.authorization.k8s.io' }],
  });
  const admin = { name: 'admin', groups: ['system:masters', 'system:authenticated'] };
  const user = { name: 'user-2', groups: ['devs', 'system:authenticated'] };
  const PR = '/apis/pkg.pkgserver.dev/v1alpha1/namespaces/team-a/packagerevisions';
  for (const [method, url] of [
    ['GET', PR],
    ['PATCH', `${PR}/x/approval`],
    ['PUT', `${PR}/x/status`],
    ['DELETE', `${PR}/x`],
    ['GET', '/metrics'],
    ['GET', '/apis'],
    ['POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'],
  ])
    t.true(await can(p, admin, method, url), `admin ${method} ${url}`);
  for (const [method, url] of [
    ['GET', '/api'],
    ['GET', '/api/v1'],
    ['GET', '/apis'],
    ['GET', '/apis/pkg.pkgserver.dev'],
    ['GET', '/apis/pkg.pkgserver.dev/v1alpha1'],
    ['GET', '/openapi/v2'],
    ['GET', '/openapi/v3'],
    ['GET', '/openapi/v3/apis/pkg.pkgserver.dev/v1alpha1?hash=1'],
    ['GET', '/version'],
    ['GET', '/healthz'],
    ['GET', '/livez'],
    ['GET', '/readyz'],
    ['POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'],
    ['POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews'],
    ['POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews'],
    ['POST', '/apis/authentication.k8s.io/v1beta1/selfsubjectreviews'],
  ])
    t.true(await can(p, user, method, url), `user ${method} ${url}`);
  for (const [method, url] of [
    ['GET', PR],
    ['GET', `${PR}/x`],
    ['GET', '/apis/pkg.pkgserver.dev/v1alpha1/packagerevisions'],
    ['POST', PR],
    ['GET', '/api/v1/namespaces/team-a/events'],
    ['GET', '/metrics'],
    ['GET', '/livez/store'],
    ['POST', '/apis'],
    ['POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews'],
    ['GET', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'],
  ])
    t.false(await can(p, user, method, url), `user ${method} ${url}`);
  // not authenticated (no system:authenticated group): nothing
  t.false(await can(p, { name: 'system:anonymous', groups: ['system:unauthenticated'] }, 'GET', '/apis'));
});

test('writeDefaultPolicy: only when absent, mode 0600', (t) => {
  const p = path.join(dir, 'sub', 'dir', 'policy.yaml');
  t.true(writeDefaultPolicy(p));
  t.is(readFileSync(p, 'utf8'), `${DEFAULT_POLICY}\n---\n${EXAMPLE_ROLES}`);
  t.is(loadPolicyFile(p).clusterRoles.length, 13, 'the defaults (nine roles) and the four example roles, unbound');
  t.is(statSync(p).mode & 0o777, 0o600);
  writeFileSync(p, '# mine\n');
  t.false(writeDefaultPolicy(p));
  t.is(readFileSync(p, 'utf8'), '# mine\n');
});

// ---- the example roles ----

const EXAMPLE_BINDINGS = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewers, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pkgserver-viewer}
subjects: [{kind: User, name: viewer}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: editors, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pkgserver-editor}
subjects: [{kind: User, name: editor}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: approvers, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pkgserver-approver}
subjects: [{kind: Group, name: approvers}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: repo-admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pkgserver-repository-admin}
subjects: [{kind: User, name: repo-admin}]
`;

test('EXAMPLE_ROLES: viewer, editor, approver and repository admin over every resource, verb and subresource', async (t) => {
  const p = parsePolicy(`${EXAMPLE_ROLES}---\n${EXAMPLE_BINDINGS}`, 'examples');
  t.deepEqual(names(p).clusterRoles, ['pkgserver-viewer', 'pkgserver-editor', 'pkgserver-approver', 'pkgserver-repository-admin']);
  const a = new RBACAuthorizer(constant(p));
  const PKG = 'pkg.pkgserver.dev';
  const CFG = 'config.pkg.pkgserver.dev';
  const users: Record<string, UserInfo> = {
    viewer: { name: 'viewer', groups: ['system:authenticated'] },
    editor: { name: 'editor', groups: ['system:authenticated'] },
    approver: { name: 'carol', groups: ['approvers', 'system:authenticated'] },
    'repo-admin': { name: 'repo-admin', groups: ['system:authenticated'] },
  };
  // [group, resource/subresource, verb, who may (in team-a)]
  const R = ['viewer', 'editor', 'approver'];
  const W = ['editor', 'approver'];
  const matrix: [string, string, string, string[]][] = [];
  for (const verb of ['get', 'list', 'watch']) {
    matrix.push([PKG, 'packagerevisions', verb, R], [PKG, 'packagerevisionresources', verb, R], [CFG, 'packagevariants', verb, R]);
    matrix.push([CFG, 'repositories', verb, [...R, 'repo-admin']]);
  }
  for (const verb of ['create', 'update', 'patch', 'delete']) {
    matrix.push([PKG, 'packagerevisions', verb, W], [CFG, 'packagevariants', verb, W], [CFG, 'repositories', verb, ['repo-admin']]);
  }
  matrix.push(
    [PKG, 'packagerevisionresources', 'update', W],
    [PKG, 'packagerevisionresources', 'patch', W],
    [PKG, 'packagerevisionresources', 'create', []],
    [PKG, 'packagerevisionresources', 'delete', []],
    [PKG, 'packagerevisions', 'deletecollection', []],
    [PKG, 'packagerevisions', 'approve', ['approver']],
    [PKG, 'packagerevisions/approval', 'get', ['approver']],
    [PKG, 'packagerevisions/approval', 'update', ['approver']],
    [PKG, 'packagerevisions/approval', 'patch', ['approver']],
    [PKG, 'packagerevisions/approval', 'approve', []],
    [PKG, 'packagerevisions/status', 'get', R],
    [PKG, 'packagerevisions/status', 'update', []],
    [PKG, 'packagerevisions/status', 'patch', []],
    [CFG, 'packagevariants/status', 'get', R],
    [CFG, 'packagevariants/status', 'update', []],
    [CFG, 'repositories/status', 'get', [...R, 'repo-admin']],
    [CFG, 'repositories/status', 'update', []],
    [CFG, 'repositories/status', 'patch', []],
    // the core group: Events and namespaces to read (kubectl describe, kubectl events, the namespace
    // kubectl looks up after a 404), and the lists kubectl describe namespace makes
    ['', 'resourcequotas', 'list', R],
    ['', 'limitranges', 'list', R],
    ['', 'resourcequotas', 'get', []],
    ['', 'pods', 'list', []],
  );
  for (const verb of ['get', 'list', 'watch']) matrix.push(['', 'events', verb, R], ['', 'namespaces', verb, R]);
  for (const verb of ['create', 'update', 'patch', 'delete']) matrix.push(['', 'events', verb, []], ['', 'namespaces', verb, []]);
  for (const [group, rs, verb, allowed] of matrix) {
    const [resource, subresource] = rs.split('/');
    for (const [who, user] of Object.entries(users)) {
      for (const namespace of ['team-a', 'team-b']) {
        const d = await a.authorize({ user, verb, resourceRequest: true, apiGroup: group, apiVersion: 'v1alpha1', resource, subresource, namespace, name: 'x' });
        // RoleBindings grant in team-a only; the repository admin's ClusterRoleBinding everywhere
        const expected = allowed.includes(who) && (namespace === 'team-a' || who === 'repo-admin');
        t.is(d.decision, expected ? 'allow' : 'noOpinion', `${who} ${verb} ${rs} in ${namespace}`);
      }
    }
  }
});

// ---- validation ----

test('a v1 List of documents, empty documents and comments are accepted', (t) => {
  const p = parsePolicy(
    `# comment only
---
apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: Role
  metadata: {name: r, namespace: team-a, labels: {a: b}}
  rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: rb, namespace: team-a}
  roleRef: {kind: Role, name: r}
  subjects: [{kind: ServiceAccount, name: builder}, {kind: User, name: alice}]
---
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: empty}
`,
    'p',
  );
  t.deepEqual(names(p), { clusterRoles: ['empty'], roles: ['team-a/r'], clusterRoleBindings: [], roleBindings: ['team-a/rb'] });
  // kube's v1 defaults: roleRef.apiGroup and User/Group apiGroup
  t.deepEqual(p.roleBindings[0].roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' });
  t.deepEqual(p.roleBindings[0].subjects, [
    { kind: 'ServiceAccount', name: 'builder' },
    { kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' },
  ]);
  t.deepEqual(p.roles[0].rules, [{ verbs: ['get'], apiGroups: [''], resources: ['configmaps'] }]);
  t.deepEqual(parsePolicy('', 'p'), { clusterRoles: [], roles: [], clusterRoleBindings: [], roleBindings: [] });
});

const CR = 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: ok}\n';

const errorCases: [name: string, text: string, lines: string[]][] = [
  ['unknown kind', `${CR}---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n`, ['p: document 2: kind: Unsupported value: "Pod": supported values: "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"']],
  ['missing kind', 'apiVersion: v1\nmetadata: {name: p}\n', ['p: document 1: kind: Required value']],
  ['not an object', '- a\n- b\n', ['p: document 1: must be an object (a ClusterRole, Role, ClusterRoleBinding or RoleBinding)']],
  [
    'wrong apiVersion',
    'apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: ClusterRole\nmetadata: {name: x}\n',
    ['p: document 1 (ClusterRole "x"): apiVersion: Unsupported value: "rbac.authorization.k8s.io/v1beta1": supported values: "rbac.authorization.k8s.io/v1"'],
  ],
  [
    'missing roleRef',
    'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nsubjects: [{kind: User, name: alice}]\n',
    ['p: document 1 (ClusterRoleBinding "b"): roleRef: Required value'],
  ],
  [
    'a ClusterRoleBinding of a Role',
    'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {kind: Role, name: r}\n',
    ['p: document 1 (ClusterRoleBinding "b"): roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"'],
  ],
  [
    'a roleRef of another group, without a name',
    'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: n}\nroleRef: {apiGroup: example.com, kind: ClusterRole}\n',
    ['p: document 1 (RoleBinding "b" in namespace "n"): roleRef.apiGroup: Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io"', 'p: document 1 (RoleBinding "b" in namespace "n"): roleRef.name: Required value'],
  ],
  [
    'a RoleBinding of a Role of another namespace',
    `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: editor, namespace: team-b}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: editor}
subjects: [{kind: Group, name: devs}]
`,
    [
      'p: document 2 (RoleBinding "b" in namespace "team-a"): roleRef.name: Invalid value: "editor": a RoleBinding can only bind a Role of its own namespace "team-a"; Role "editor" is in namespace "team-b" (bind a ClusterRole instead, or move the Role)',
    ],
  ],
  [
    'a Role without a namespace, a cluster-scoped object with one',
    'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: c, namespace: team-a}\n',
    ['p: document 1 (Role "r"): metadata.namespace: Required value', 'p: document 2 (ClusterRole "c"): metadata.namespace: Forbidden: not allowed on this type'],
  ],
  [
    'bad names',
    'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: "a/b%c", namespace: Team_A}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {labels: {}}\n',
    [
      'p: document 1 (Role "a/b%c" in namespace "Team_A"): metadata.name: Invalid value: "a/b%c": may not contain \'/\'',
      'p: document 1 (Role "a/b%c" in namespace "Team_A"): metadata.name: Invalid value: "a/b%c": may not contain \'%\'',
      'p: document 1 (Role "a/b%c" in namespace "Team_A"): metadata.namespace: Invalid value: "Team_A": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \'-\', and must start and end with an alphanumeric character (e.g. \'my-name\',  or \'123-abc\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?\')',
      'p: document 2 (ClusterRole ""): metadata.name: Required value: name is required',
    ],
  ],
  [
    'rules as kube validates them',
    `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r, namespace: n}
rules:
- {apiGroups: [""], resources: [pods]}
- {nonResourceURLs: [/metrics], verbs: [get]}
- {verbs: [get]}
- {apiGroups: [""], resources: [pods, services], resourceNames: [a], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: c}
rules:
- {nonResourceURLs: [/metrics], resources: [pods], verbs: [get]}
- {apiGroups: "", resources: [pods], verbs: [get]}
`,
    [
      'p: document 1 (Role "r" in namespace "n"): rules[0].verbs: Required value: verbs must contain at least one value',
      'p: document 1 (Role "r" in namespace "n"): rules[1].nonResourceURLs: Invalid value: ["/metrics"]: namespaced rules cannot apply to non-resource URLs',
      'p: document 1 (Role "r" in namespace "n"): rules[2].apiGroups: Required value: resource rules must supply at least one api group',
      'p: document 1 (Role "r" in namespace "n"): rules[2].resources: Required value: resource rules must supply at least one resource',
      'p: document 1 (Role "r" in namespace "n"): rules[3].resourceNames: Required value: resource names cannot apply to multiple resources',
      'p: document 2 (ClusterRole "c"): rules[0].nonResourceURLs: Invalid value: ["/metrics"]: rules cannot apply to both regular resources and non-resource URLs',
      'p: document 2 (ClusterRole "c"): rules[1].apiGroups: Invalid value: "": must be a list of strings',
      'p: document 2 (ClusterRole "c"): rules[1].apiGroups: Required value: resource rules must supply at least one api group',
    ],
  ],
  [
    'subjects as kube validates them',
    `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: b}
roleRef: {kind: ClusterRole, name: c}
subjects:
- {kind: ServiceAccount, name: builder}
- {kind: ServiceAccount, name: Bad_Name, namespace: n, apiGroup: rbac.authorization.k8s.io}
- {kind: User, name: ""}
- {kind: Group, name: g, apiGroup: example.com}
- {kind: Robot, name: r}
`,
    [
      'p: document 1 (ClusterRoleBinding "b"): subjects[0].namespace: Required value',
      'p: document 1 (ClusterRoleBinding "b"): subjects[1].name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\')',
      'p: document 1 (ClusterRoleBinding "b"): subjects[1].apiGroup: Unsupported value: "rbac.authorization.k8s.io": supported values: ""',
      'p: document 1 (ClusterRoleBinding "b"): subjects[2].name: Required value',
      'p: document 1 (ClusterRoleBinding "b"): subjects[3].apiGroup: Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io"',
      'p: document 1 (ClusterRoleBinding "b"): subjects[4].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"',
    ],
  ],
  [
    'unknown fields anywhere',
    `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: n, nmespace: x}
roleRef: {kind: ClusterRole, name: c, namespace: other}
subjects: [{kind: User, name: a, namespaces: [x]}]
spec: {}
`,
    [
      'p: document 1 (RoleBinding "b" in namespace "n"): unknown field "spec"',
      'p: document 1 (RoleBinding "b" in namespace "n"): unknown field "metadata.nmespace"',
      'p: document 1 (RoleBinding "b" in namespace "n"): unknown field "roleRef.namespace"',
      'p: document 1 (RoleBinding "b" in namespace "n"): unknown field "subjects[0].namespaces"',
    ],
  ],
  [
    'unknown rule fields, aggregation',
    `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: c}
aggregationRule: {clusterRoleSelectors: [{matchLabels: {a: b}}]}
rules: [{verb: [get], apiGroups: [""], resources: [pods]}]
`,
    [
      'p: document 1 (ClusterRole "c"): aggregationRule: Forbidden: aggregated ClusterRoles are not supported in the policy file; list the rules',
      'p: document 1 (ClusterRole "c"): unknown field "rules[0].verb"',
      'p: document 1 (ClusterRole "c"): rules[0].verbs: Required value: verbs must contain at least one value',
    ],
  ],
  [
    'duplicates',
    `${CR}---\n${CR}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: ok, namespace: a}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: ok, namespace: b}\n`,
    ['p: document 2 (ClusterRole "ok"): metadata.name: Duplicate value: "ok": also defined in document 1'],
  ],
  [
    'a List with a bad item',
    'apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: ClusterRole\n  metadata: {name: fine}\n',
    ['p: document 1, items[0]: kind: Unsupported value: "ConfigMap": supported values: "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"'],
  ],
  ['a List without items', 'apiVersion: v1\nkind: List\n', ['p: document 1 (List): items: Required value']],
];

for (const [name, text, lines] of errorCases) {
  test(`invalid: ${name}`, (t) => {
    t.throws(() => parsePolicy(text, 'p'), invalid(...lines));
  });
}

test('invalid: YAML syntax and duplicate keys name the document and the line in the file', (t) => {
  t.throws(
    () => parsePolicy(`${CR}---\nkind: [unclosed\n`, 'p'),
    invalid('p: document 2: Flow sequence in block collection must be sufficiently indented and end with a ] at line 6, column 1'),
  );
  t.throws(() => parsePolicy('kind: ClusterRole\nkind: Role\n', 'p'), invalid('p: document 1: Map keys must be unique at line 2, column 1'));
});

test('loadPolicyFile names the file', (t) => {
  const p = file(`${CR}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n`);
  t.throws(() => loadPolicyFile(p), invalid(`${p}: document 2 (ClusterRoleBinding "b"): roleRef: Required value`));
  t.deepEqual(names(loadPolicyFile(file(DEFAULT_POLICY))).clusterRoles, ['cluster-admin', 'system:discovery', 'system:basic-user', 'system:pkgserver:packagevariant-controller', 'system:pkgserver:approval-controller', 'system:pkgserver:auto-approve', 'system:pkgserver:upgrades-controller', 'system:pkgserver:discovery-controller', 'system:pkgserver:scheduler-controller']);
  t.throws(() => loadPolicyFile(path.join(dir, 'absent.yaml')), { code: 'ENOENT' });
});

// ---- following the file ----

const BIND_ALICE = `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: alice}]
`;

function logger() {
  const lines: { level: number; msg: string; file?: string; err?: string }[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

test('watchPolicyFile: reloads on change and on atomic rename; a bad version keeps the previous policy and is logged once', async (t) => {
  const p = file(DEFAULT_POLICY);
  const { log, lines } = logger();
  const w = watchPolicyFile(p, log, { intervalMs: 20 });
  t.teardown(() => w.stop());
  const seen: number[] = [];
  w.onChange((v) => seen.push(v.clusterRoleBindings.length));
  const rbac = new RBACAuthorizer(w);
  const alice = { name: 'alice', groups: ['system:authenticated'] };
  const aliceCan = async () => (await rbac.authorize(requestAttributes('GET', new URL('https://x/metrics'), alice))).decision === 'allow';
  t.false(await aliceCan());

  // changed in place
  writeFileSync(p, DEFAULT_POLICY + BIND_ALICE);
  await poll('the policy with alice', async () => ((await aliceCan()) ? true : undefined));
  t.deepEqual(seen, [10]);

  // a bad version: kept, one error naming the file, document and field
  writeFileSync(p, `${DEFAULT_POLICY}---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Rolebinding\nmetadata: {name: x}\n`);
  const err = await poll('the error log', async () => lines.find((l) => l.level === 50));
  t.is(err.msg, 'policy file not reloaded; the previous policy stays in force');
  t.is(err.file, p);
  t.is(
    err.err,
    `invalid policy file:\n${p}: document ${((d) => d.clusterRoles.length + d.clusterRoleBindings.length + 1)(parsePolicy(DEFAULT_POLICY, 'default'))}: kind: Unsupported value: "Rolebinding": supported values: "ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"`,
  );
  t.true(await aliceCan());
  t.is(w.current().clusterRoleBindings.length, 10);

  // replaced by a rename (as editors, kubectl cp and ConfigMap volumes do)
  const tmp = `${p}.tmp`;
  writeFileSync(tmp, DEFAULT_POLICY);
  renameSync(tmp, p);
  await poll('the policy without alice', async () => ((await aliceCan()) ? undefined : true));
  t.deepEqual(seen, [10, 9]);
  t.is(lines.filter((l) => l.level === 50).length, 1);
  t.deepEqual(
    lines.filter((l) => l.msg === 'policy file reloaded').map((l) => (l as unknown as { clusterRoleBindings: number }).clusterRoleBindings),
    [10, 9],
  );
});

test('watchPolicyFile: the first read fails like loadPolicyFile', (t) => {
  const p = file('apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r}\n');
  t.throws(() => watchPolicyFile(p, logger().log), invalid(`${p}: document 1 (Role "r"): metadata.namespace: Required value`));
});

test('invalid: a YAML alias bomb is refused, not expanded', (t) => {
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 0; i < 12; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`);
  t.throws(() => parsePolicy(bomb.join('\n'), 'p'), invalid('p: document 1: Excessive alias count indicates a resource exhaustion attack'));
});
