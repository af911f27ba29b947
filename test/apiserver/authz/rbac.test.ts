// The RBAC authorizer: rule matching (modelled on kube's TestRuleMatches), bindings by user, group
// and service account, namespace scoping, missing roles, kube's reasons, and rulesFor.
import test from 'ava';
import { constant } from '../../../src/apiserver/authn/types.ts';
import { RBACAuthorizer, ruleAllows, type ClusterRoleBinding, type PolicyDocuments, type RoleBinding, type Subject } from '../../../src/apiserver/authz/rbac.ts';
import type { Attributes, PolicyRule } from '../../../src/apiserver/authz/types.ts';
import type { UserInfo } from '../../../src/apiserver/registry/types.ts';

const anyone: UserInfo = { name: 'someone', groups: [] };

interface Req {
  verb: string;
  group?: string;
  resource?: string;
  sub?: string;
  name?: string;
  ns?: string;
  url?: string;
}
const attrs = (r: Req, user: UserInfo = anyone): Attributes =>
  r.url !== undefined
    ? { user, verb: r.verb, resourceRequest: false, path: r.url }
    : { user, verb: r.verb, resourceRequest: true, apiGroup: r.group ?? '', apiVersion: 'v1', resource: r.resource, subresource: r.sub, name: r.name, namespace: r.ns };

const rule = (verbs: string, groups: string, resources: string, extra: Partial<PolicyRule> = {}): PolicyRule => ({
  verbs: verbs.split(','),
  apiGroups: groups.split(','),
  resources: resources.split(','),
  ...extra,
});
const urlRule = (verbs: string, urls: string): PolicyRule => ({ verbs: verbs.split(','), nonResourceURLs: urls.split(',') });

const matchCases: { name: string; rule: PolicyRule; expect: [Req, boolean][] }[] = [
  {
    name: 'star verb, exact match other',
    rule: rule('*', 'group1', 'resource1'),
    expect: [
      [{ verb: 'verb1', group: 'group1', resource: 'resource1' }, true],
      [{ verb: 'verb1', group: 'group2', resource: 'resource1' }, false],
      [{ verb: 'verb1', group: 'group1', resource: 'resource2' }, false],
      [{ verb: 'verb2', group: 'group1', resource: 'resource1' }, true],
      [{ verb: 'verb2', group: 'group2', resource: 'resource2' }, false],
    ],
  },
  {
    name: 'star group, exact match other',
    rule: rule('verb1', '*', 'resource1'),
    expect: [
      [{ verb: 'verb1', group: 'group1', resource: 'resource1' }, true],
      [{ verb: 'verb1', group: 'group2', resource: 'resource1' }, true],
      [{ verb: 'verb1', group: '', resource: 'resource1' }, true],
      [{ verb: 'verb1', group: 'group1', resource: 'resource2' }, false],
      [{ verb: 'verb2', group: 'group1', resource: 'resource1' }, false],
    ],
  },
  {
    name: 'star resource, exact match other',
    rule: rule('verb1', 'group1', '*'),
    expect: [
      [{ verb: 'verb1', group: 'group1', resource: 'resource1' }, true],
      [{ verb: 'verb1', group: 'group1', resource: 'resource2' }, true],
      [{ verb: 'verb1', group: 'group1', resource: 'resource1', sub: 'status' }, true],
      [{ verb: 'verb1', group: 'group2', resource: 'resource1' }, false],
      [{ verb: 'verb2', group: 'group1', resource: 'resource1' }, false],
    ],
  },
  {
    name: 'tuple expansion',
    rule: rule('verb1,verb2', 'group1,group2', 'resource1,resource2'),
    expect: [
      [{ verb: 'verb1', group: 'group1', resource: 'resource1' }, true],
      [{ verb: 'verb1', group: 'group2', resource: 'resource1' }, true],
      [{ verb: 'verb1', group: 'group1', resource: 'resource2' }, true],
      [{ verb: 'verb1', group: 'group2', resource: 'resource2' }, true],
      [{ verb: 'verb2', group: 'group1', resource: 'resource1' }, true],
      [{ verb: 'verb2', group: 'group2', resource: 'resource2' }, true],
      [{ verb: 'verb3', group: 'group1', resource: 'resource1' }, false],
      [{ verb: 'verb1', group: 'group3', resource: 'resource1' }, false],
      [{ verb: 'verb1', group: 'group1', resource: 'resource3' }, false],
    ],
  },
  {
    name: 'the core group is the empty string and matches only itself or *',
    rule: rule('get', '', 'events'),
    expect: [
      [{ verb: 'get', group: '', resource: 'events' }, true],
      [{ verb: 'get', group: 'events.k8s.io', resource: 'events' }, false],
    ],
  },
  {
    name: 'a resource does not match its subresources',
    rule: rule('*', '*', 'packagerevisions'),
    expect: [
      [{ verb: 'update', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'x' }, true],
      [{ verb: 'update', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', sub: 'status', name: 'x' }, false],
      [{ verb: 'update', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', sub: 'approval', name: 'x' }, false],
    ],
  },
  {
    name: 'subresource expansion',
    rule: rule('*', '*', 'resource1/subresource1'),
    expect: [
      [{ verb: 'verb1', group: 'group1', resource: 'resource1', sub: 'subresource1' }, true],
      [{ verb: 'verb1', group: 'group2', resource: 'resource1', sub: 'subresource2' }, false],
      [{ verb: 'verb1', group: 'group1', resource: 'resource2', sub: 'subresource1' }, false],
      [{ verb: 'verb2', group: 'group1', resource: 'resource1', sub: 'subresource1' }, true],
      [{ verb: 'verb1', group: 'group1', resource: 'resource1' }, false],
    ],
  },
  {
    name: 'star subresource: */status matches the status of every resource, not the resource itself',
    rule: rule('get,update', '*', '*/status'),
    expect: [
      [{ verb: 'update', group: 'g', resource: 'packagerevisions', sub: 'status' }, true],
      [{ verb: 'get', group: 'g', resource: 'repositories', sub: 'status' }, true],
      [{ verb: 'update', group: 'g', resource: 'packagerevisions', sub: 'approval' }, false],
      [{ verb: 'update', group: 'g', resource: 'packagerevisions', sub: 'xstatus' }, false],
      [{ verb: 'update', group: 'g', resource: 'packagerevisions' }, false],
    ],
  },
  {
    name: 'resourceNames: only requests naming one of them',
    rule: rule('get,update', 'pkg.pkgserver.dev', 'packagerevisions', { resourceNames: ['a', 'b'] }),
    expect: [
      [{ verb: 'get', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'a' }, true],
      [{ verb: 'update', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'b' }, true],
      [{ verb: 'get', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'c' }, false],
      [{ verb: 'get', group: 'pkg.pkgserver.dev', resource: 'packagerevisions' }, false], // a list names nothing
      [{ verb: 'create', group: 'pkg.pkgserver.dev', resource: 'packagerevisions' }, false],
    ],
  },
  {
    name: 'custom verbs are plain strings',
    rule: rule('approve', 'pkg.pkgserver.dev', 'packagerevisions'),
    expect: [
      [{ verb: 'approve', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'x', ns: 'team-a' }, true],
      [{ verb: 'update', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'x', ns: 'team-a' }, false],
      [{ verb: 'Approve', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'x', ns: 'team-a' }, false],
    ],
  },
  {
    name: 'impersonate users and groups',
    rule: rule('impersonate', '', 'users,groups'),
    expect: [
      [{ verb: 'impersonate', group: '', resource: 'users', name: 'user-2' }, true],
      [{ verb: 'impersonate', group: '', resource: 'groups', name: 'devs' }, true],
      [{ verb: 'impersonate', group: '', resource: 'serviceaccounts', name: 'sa', ns: 'x' }, false],
      [{ verb: 'impersonate', group: 'authentication.k8s.io', resource: 'userextras', sub: 'scopes' }, false],
    ],
  },
  {
    name: 'a resource rule never matches a non-resource request',
    rule: rule('*', '*', '*'),
    expect: [
      [{ verb: 'get', url: '/apis' }, false],
      [{ verb: 'get', url: '/metrics' }, false],
    ],
  },
  {
    name: 'star nonresource, exact match other',
    rule: urlRule('verb1', '*'),
    expect: [
      [{ verb: 'verb1', url: '/foo' }, true],
      [{ verb: 'verb1', url: '/foo/bar' }, true],
      [{ verb: 'verb1', url: '/foo/bar/one' }, true],
      [{ verb: 'verb2', url: '/foo' }, false],
      [{ verb: 'verb2', url: '/foo/bar/one' }, false],
    ],
  },
  {
    name: 'star nonresource subpath',
    rule: urlRule('verb1', '/foo/*'),
    expect: [
      [{ verb: 'verb1', url: '/foo' }, false],
      [{ verb: 'verb1', url: '/foo/bar' }, true],
      [{ verb: 'verb1', url: '/foo/bar/one' }, true],
      [{ verb: 'verb1', url: '/foo/' }, true],
      [{ verb: 'verb1', url: '/notfoo' }, false],
      [{ verb: 'verb1', url: '/notfoo/bar' }, false],
    ],
  },
  {
    name: 'a prefix without a slash before the star',
    rule: urlRule('get', '/openapi*'),
    expect: [
      [{ verb: 'get', url: '/openapi' }, true],
      [{ verb: 'get', url: '/openapi/v3' }, true],
      [{ verb: 'get', url: '/openapiX' }, true],
      [{ verb: 'get', url: '/open' }, false],
    ],
  },
  {
    name: 'star verb, exact nonresource',
    rule: urlRule('*', '/foo,/foo/bar/one'),
    expect: [
      [{ verb: 'verb1', url: '/foo' }, true],
      [{ verb: 'verb1', url: '/foo/bar' }, false],
      [{ verb: 'verb1', url: '/foo/bar/one' }, true],
      [{ verb: 'verb2', url: '/foo' }, true],
      [{ verb: 'verb2', url: '/foo/' }, false],
    ],
  },
  {
    name: 'a non-resource rule never matches a resource request',
    rule: urlRule('*', '*'),
    expect: [[{ verb: 'get', group: '', resource: 'pods' }, false]],
  },
];

for (const c of matchCases) {
  test(`ruleAllows: ${c.name}`, (t) => {
    for (const [req, expected] of c.expect) t.is(ruleAllows(attrs(req), c.rule), expected, JSON.stringify(req));
  });
}

// ---- bindings ----

const subj = (s: string): Subject => {
  const [kind] = s.split(':', 1) as [string];
  if (kind === 'ServiceAccount') {
    const [ns, sa] = s.slice('ServiceAccount:'.length).split('/');
    return sa === undefined ? { kind, name: ns } : { kind, name: sa, namespace: ns };
  }
  return { kind, name: s.slice(kind.length + 1), apiGroup: 'rbac.authorization.k8s.io' };
};
const crb = (name: string, role: string, ...subjects: string[]): ClusterRoleBinding => ({
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects: subjects.map(subj),
});
const rb = (ns: string, name: string, kind: 'Role' | 'ClusterRole', role: string, ...subjects: string[]): RoleBinding => ({
  metadata: { name, namespace: ns },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name: role },
  subjects: subjects.map(subj),
});
const policy = (p: Partial<PolicyDocuments>): PolicyDocuments => ({ clusterRoles: [], roles: [], clusterRoleBindings: [], roleBindings: [], ...p });
const authz = (p: Partial<PolicyDocuments>) => new RBACAuthorizer(constant(policy(p)));

const u = (name: string, ...groups: string[]): UserInfo => ({ name, groups });

test('a RoleBinding of a ClusterRole grants it in its namespace only, to users and groups (kube TestAuthorizer)', async (t) => {
  const a = authz({
    clusterRoles: [{ metadata: { name: 'admin' }, rules: [rule('*', '*', '*'), urlRule('*', '*')] }],
    roleBindings: [rb('ns1', 'admins', 'ClusterRole', 'admin', 'User:admin', 'Group:admins')],
  });
  const pass: [UserInfo, Req][] = [
    [u('admin'), { verb: 'get', resource: 'Pods', ns: 'ns1' }],
    [u('admin'), { verb: 'watch', resource: 'Pods', ns: 'ns1' }],
    [u('admin', 'group1'), { verb: 'watch', resource: 'Foobar', ns: 'ns1' }],
    [u('joe', 'admins'), { verb: 'watch', resource: 'Foobar', ns: 'ns1' }],
    [u('joe', 'group1', 'admins'), { verb: 'watch', resource: 'Foobar', ns: 'ns1' }],
  ];
  const fail: [UserInfo, Req][] = [
    [u('admin'), { verb: 'GET', resource: 'Pods', ns: 'ns2' }],
    [u('admin'), { verb: 'GET', resource: 'Nodes' }],
    [u('admin', 'admins'), { verb: 'GET', resource: 'Pods', ns: 'ns2' }],
    [u('admin', 'admins'), { verb: 'GET', resource: 'Nodes' }],
    [u('joe'), { verb: 'get', resource: 'Pods', ns: 'ns1' }],
    // the ClusterRole's nonResourceURLs are not granted by a RoleBinding
    [u('admin'), { verb: 'get', url: '/metrics' }],
  ];
  for (const [user, req] of pass) t.is((await a.authorize(attrs(req, user))).decision, 'allow', JSON.stringify([user, req]));
  for (const [user, req] of fail) t.deepEqual(await a.authorize(attrs(req, user)), { decision: 'noOpinion', reason: '' }, JSON.stringify([user, req]));
});

test('non-resource URLs through ClusterRoleBindings (kube TestAuthorizer)', async (t) => {
  const a = authz({
    clusterRoles: [
      { metadata: { name: 'non-resource-url-getter' }, rules: [urlRule('get', '/apis')] },
      { metadata: { name: 'non-resource-url' }, rules: [urlRule('*', '/apis')] },
      { metadata: { name: 'non-resource-url-prefix' }, rules: [urlRule('get', '/apis/*')] },
    ],
    clusterRoleBindings: [
      crb('getter', 'non-resource-url-getter', 'User:foo', 'Group:bar'),
      crb('any', 'non-resource-url', 'User:admin', 'Group:admin'),
      crb('prefix', 'non-resource-url-prefix', 'User:prefixed', 'Group:prefixed'),
    ],
  });
  const pass: [UserInfo, Req][] = [
    [u('foo'), { verb: 'get', url: '/apis' }],
    [u('', 'bar'), { verb: 'get', url: '/apis' }],
    [u('admin'), { verb: 'get', url: '/apis' }],
    [u('', 'admin'), { verb: 'watch', url: '/apis' }],
    [u('prefixed'), { verb: 'get', url: '/apis/v1' }],
    [u('', 'prefixed'), { verb: 'get', url: '/apis/v1/foobar' }],
  ];
  const fail: [UserInfo, Req][] = [
    [u('foo'), { verb: 'watch', url: '/apis' }],
    [u('', 'bar'), { verb: 'watch', url: '/apis' }],
    [u('foo'), { verb: 'get', url: '/api/v1' }],
    [u('admin'), { verb: 'get', url: '/api/v1' }],
    [u('prefixed'), { verb: 'get', url: '/api/v1' }],
    [u('prefixed'), { verb: 'get', url: '/apis' }],
  ];
  for (const [user, req] of pass) t.is((await a.authorize(attrs(req, user))).decision, 'allow', JSON.stringify([user, req]));
  for (const [user, req] of fail) t.is((await a.authorize(attrs(req, user))).decision, 'noOpinion', JSON.stringify([user, req]));
});

test('subresources: a rule on pods does not allow pods/status, and the reverse', async (t) => {
  const a = authz({
    clusterRoles: [
      { metadata: { name: 'pods' }, rules: [rule('*', '*', 'pods')] },
      { metadata: { name: 'status' }, rules: [rule('*', '*', 'pods/status')] },
    ],
    roleBindings: [rb('ns1', 'a', 'ClusterRole', 'pods', 'User:a'), rb('ns1', 'b', 'ClusterRole', 'status', 'User:b')],
  });
  t.is((await a.authorize(attrs({ verb: 'get', resource: 'pods', ns: 'ns1' }, u('a')))).decision, 'allow');
  t.is((await a.authorize(attrs({ verb: 'get', resource: 'pods', sub: 'status', ns: 'ns1' }, u('a')))).decision, 'noOpinion');
  t.is((await a.authorize(attrs({ verb: 'get', resource: 'pods', sub: 'status', ns: 'ns1' }, u('b')))).decision, 'allow');
  t.is((await a.authorize(attrs({ verb: 'get', resource: 'pods', ns: 'ns1' }, u('b')))).decision, 'noOpinion');
});

test('a ClusterRoleBinding grants everywhere: every namespace, cluster scope and non-resource URLs', async (t) => {
  const a = authz({
    clusterRoles: [{ metadata: { name: 'cluster-admin' }, rules: [rule('*', '*', '*'), urlRule('*', '*')] }],
    clusterRoleBindings: [crb('cluster-admin', 'cluster-admin', 'Group:system:masters')],
  });
  const admin = u('admin', 'system:masters', 'system:authenticated');
  for (const req of [
    { verb: 'delete', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'x', ns: 'team-a' },
    { verb: 'list', group: 'pkg.pkgserver.dev', resource: 'packagerevisions' },
    { verb: 'approve', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'x', ns: 'team-b' },
    { verb: 'impersonate', resource: 'users', name: 'user-2' },
    { verb: 'get', url: '/metrics' },
  ])
    t.deepEqual(await a.authorize(attrs(req, admin)), {
      decision: 'allow',
      reason: 'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group "system:masters"',
    });
  t.is((await a.authorize(attrs({ verb: 'get', url: '/metrics' }, u('admin', 'system:authenticated')))).decision, 'noOpinion');
});

test('a RoleBinding of a Role: the Role of the binding namespace, never one of another namespace', async (t) => {
  const a = authz({
    roles: [
      { metadata: { name: 'editor', namespace: 'team-a' }, rules: [rule('update', 'pkg.pkgserver.dev', 'packagerevisions')] },
      { metadata: { name: 'reader', namespace: 'team-b' }, rules: [rule('get', 'pkg.pkgserver.dev', 'packagerevisions')] },
    ],
    roleBindings: [rb('team-a', 'edit', 'Role', 'editor', 'User:alice'), rb('team-a', 'read', 'Role', 'reader', 'User:alice')],
  });
  const alice = u('alice');
  t.deepEqual(await a.authorize(attrs({ verb: 'update', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'x', ns: 'team-a' }, alice)), {
    decision: 'allow',
    reason: 'RBAC: allowed by RoleBinding "edit/team-a" of Role "editor" to User "alice"',
  });
  // the binding "read" names a Role "reader" that only exists in team-b: it grants nothing
  t.deepEqual(await a.authorize(attrs({ verb: 'get', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'x', ns: 'team-a' }, alice)), {
    decision: 'noOpinion',
    reason: 'RBAC: role.rbac.authorization.k8s.io "reader" not found',
  });
  t.is((await a.authorize(attrs({ verb: 'update', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', name: 'x', ns: 'team-b' }, alice))).decision, 'noOpinion');
  t.is((await a.authorize(attrs({ verb: 'update', group: 'pkg.pkgserver.dev', resource: 'packagerevisions' }, alice))).decision, 'noOpinion');
});

test('service account subjects: namespace defaults to the RoleBinding namespace; required for ClusterRoleBindings', async (t) => {
  const a = authz({
    clusterRoles: [{ metadata: { name: 'get' }, rules: [rule('get', '*', '*')] }],
    clusterRoleBindings: [crb('sa-everywhere', 'get', 'ServiceAccount:kube-system/controller'), crb('sa-no-ns', 'get', 'ServiceAccount:lost')],
    roleBindings: [rb('team-a', 'local-sa', 'ClusterRole', 'get', 'ServiceAccount:builder'), rb('team-a', 'other-sa', 'ClusterRole', 'get', 'ServiceAccount:team-b/deployer')],
  });
  const sa = (ns: string, name: string) => u(`system:serviceaccount:${ns}:${name}`, 'system:serviceaccounts', `system:serviceaccounts:${ns}`);
  const get = (ns?: string) => ({ verb: 'get', resource: 'configmaps', name: 'x', ns });
  t.deepEqual(await a.authorize(attrs(get('team-a'), sa('kube-system', 'controller'))), {
    decision: 'allow',
    reason: 'RBAC: allowed by ClusterRoleBinding "sa-everywhere" of ClusterRole "get" to ServiceAccount "controller/kube-system"',
  });
  t.is((await a.authorize(attrs(get(), sa('kube-system', 'controller')))).decision, 'allow');
  t.deepEqual(await a.authorize(attrs(get('team-a'), sa('team-a', 'builder'))), {
    decision: 'allow',
    reason: 'RBAC: allowed by RoleBinding "local-sa/team-a" of ClusterRole "get" to ServiceAccount "builder/team-a"',
  });
  t.is((await a.authorize(attrs(get('team-a'), sa('team-b', 'builder')))).decision, 'noOpinion');
  t.is((await a.authorize(attrs(get('team-b'), sa('team-a', 'builder')))).decision, 'noOpinion');
  t.deepEqual(await a.authorize(attrs(get('team-a'), sa('team-b', 'deployer'))), {
    decision: 'allow',
    reason: 'RBAC: allowed by RoleBinding "other-sa/team-a" of ClusterRole "get" to ServiceAccount "deployer/team-b"',
  });
  // a ClusterRoleBinding's service account without a namespace matches nobody
  t.is((await a.authorize(attrs(get('team-a'), sa('', 'lost')))).decision, 'noOpinion');
  t.is((await a.authorize(attrs(get('team-a'), u('system:serviceaccount::lost')))).decision, 'noOpinion');
  // the user name must be exactly the service account's
  t.is((await a.authorize(attrs(get('team-a'), u('system:serviceaccount:team-a:builder:x')))).decision, 'noOpinion');
  t.is((await a.authorize(attrs(get('team-a'), u('builder')))).decision, 'noOpinion');
});

test('unknown subject kinds never apply; group membership is exact', async (t) => {
  const a = authz({
    clusterRoles: [{ metadata: { name: 'get' }, rules: [rule('get', '*', '*')] }],
    clusterRoleBindings: [crb('weird', 'get', 'Robot:alice', 'Group:devs')],
  });
  t.is((await a.authorize(attrs({ verb: 'get', resource: 'x' }, u('alice')))).decision, 'noOpinion');
  t.is((await a.authorize(attrs({ verb: 'get', resource: 'x' }, u('bob', 'devs')))).decision, 'allow');
  t.is((await a.authorize(attrs({ verb: 'get', resource: 'x' }, u('bob', 'devs2', 'Devs')))).decision, 'noOpinion');
});

test('missing roles are evaluation errors in the reason; other bindings still allow', async (t) => {
  const a = authz({
    clusterRoles: [{ metadata: { name: 'get' }, rules: [rule('get', '*', '*')] }],
    clusterRoleBindings: [crb('ghost', 'does-not-exist', 'User:alice'), crb('ghost2', 'gone', 'User:alice'), crb('ghost3', 'gone', 'User:alice')],
    roleBindings: [rb('team-a', 'ghost-role', 'Role', 'nope', 'User:alice'), rb('team-a', 'ok', 'ClusterRole', 'get', 'User:alice')],
  });
  const alice = u('alice');
  t.deepEqual(await a.authorize(attrs({ verb: 'list', resource: 'x', ns: 'team-a' }, alice)), {
    decision: 'noOpinion',
    reason:
      'RBAC: [clusterrole.rbac.authorization.k8s.io "does-not-exist" not found, clusterrole.rbac.authorization.k8s.io "gone" not found, role.rbac.authorization.k8s.io "nope" not found]',
  });
  t.deepEqual(await a.authorize(attrs({ verb: 'list', resource: 'x' }, alice)), {
    decision: 'noOpinion',
    reason: 'RBAC: [clusterrole.rbac.authorization.k8s.io "does-not-exist" not found, clusterrole.rbac.authorization.k8s.io "gone" not found]',
  });
  t.deepEqual(await a.authorize(attrs({ verb: 'get', resource: 'x', ns: 'team-a' }, alice)), {
    decision: 'allow',
    reason: 'RBAC: allowed by RoleBinding "ok/team-a" of ClusterRole "get" to User "alice"',
  });
  // a user no broken binding applies to sees no error
  t.deepEqual(await a.authorize(attrs({ verb: 'get', resource: 'x', ns: 'team-a' }, u('bob'))), { decision: 'noOpinion', reason: '' });
});

test('the first matching binding is named in the reason (ClusterRoleBindings before RoleBindings)', async (t) => {
  const a = authz({
    clusterRoles: [{ metadata: { name: 'get' }, rules: [rule('get', '*', '*')] }],
    clusterRoleBindings: [crb('b1', 'get', 'User:nobody', 'Group:devs', 'User:alice')],
    roleBindings: [rb('team-a', 'b0', 'ClusterRole', 'get', 'User:alice')],
  });
  t.is((await a.authorize(attrs({ verb: 'get', resource: 'x', ns: 'team-a' }, u('alice', 'devs')))).reason, 'RBAC: allowed by ClusterRoleBinding "b1" of ClusterRole "get" to Group "devs"');
});

test('the policy is read from the Dynamic on every decision', async (t) => {
  let current = policy({});
  const listeners: ((p: PolicyDocuments) => void)[] = [];
  const a = new RBACAuthorizer({ current: () => current, onChange: (fn) => (listeners.push(fn), () => {}) });
  const req = attrs({ verb: 'get', resource: 'x', ns: 'n' }, u('alice'));
  t.is((await a.authorize(req)).decision, 'noOpinion');
  current = policy({ clusterRoles: [{ metadata: { name: 'get' }, rules: [rule('get', '*', '*')] }], clusterRoleBindings: [crb('b', 'get', 'User:alice')] });
  t.is((await a.authorize(req)).decision, 'allow');
  current = policy({});
  t.is((await a.authorize(req)).decision, 'noOpinion');
});

test('rulesFor: the rules of every binding that applies, in kube SelfSubjectRulesReview shape', (t) => {
  const a = authz({
    clusterRoles: [
      {
        metadata: { name: 'discovery' },
        rules: [urlRule('get', '/apis,/apis/*')],
      },
      { metadata: { name: 'viewer' }, rules: [rule('get,list,watch', 'pkg.pkgserver.dev', 'packagerevisions'), rule('get', 'pkg.pkgserver.dev', 'packagerevisions/status')] },
      { metadata: { name: 'admin' }, rules: [rule('*', '*', '*'), urlRule('*', '*')] },
    ],
    roles: [{ metadata: { name: 'one', namespace: 'team-a' }, rules: [rule('update', 'pkg.pkgserver.dev', 'packagerevisions', { resourceNames: ['x'] })] }],
    clusterRoleBindings: [crb('discovery', 'discovery', 'Group:system:authenticated'), crb('missing', 'nope', 'User:alice')],
    roleBindings: [
      rb('team-a', 'view', 'ClusterRole', 'viewer', 'User:alice'),
      rb('team-a', 'one', 'Role', 'one', 'User:alice'),
      rb('team-a', 'admin', 'ClusterRole', 'admin', 'User:root'),
      rb('team-b', 'view', 'ClusterRole', 'viewer', 'User:alice'),
    ],
  });
  const alice = u('alice', 'system:authenticated');
  t.deepEqual(a.rulesFor(alice, 'team-a'), {
    resourceRules: [
      { verbs: ['get', 'list', 'watch'], apiGroups: ['pkg.pkgserver.dev'], resources: ['packagerevisions'] },
      { verbs: ['get'], apiGroups: ['pkg.pkgserver.dev'], resources: ['packagerevisions/status'] },
      { verbs: ['update'], apiGroups: ['pkg.pkgserver.dev'], resources: ['packagerevisions'], resourceNames: ['x'] },
    ],
    nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/apis', '/apis/*'] }],
    incomplete: false,
    evaluationError: 'clusterrole.rbac.authorization.k8s.io "nope" not found',
  });
  t.deepEqual(a.rulesFor(alice, 'team-c'), {
    resourceRules: [],
    nonResourceRules: [{ verbs: ['get'], nonResourceURLs: ['/apis', '/apis/*'] }],
    incomplete: false,
    evaluationError: 'clusterrole.rbac.authorization.k8s.io "nope" not found',
  });
  t.deepEqual(a.rulesFor(u('bob'), 'team-a'), { resourceRules: [], nonResourceRules: [], incomplete: false });
  // kube lists a ClusterRole's non-resource rules under a RoleBinding too (they allow nothing there)
  t.deepEqual(a.rulesFor(u('root'), 'team-a'), {
    resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
    nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
    incomplete: false,
  });
  // the result is a copy: changing it changes no policy
  const r = a.rulesFor(alice, 'team-a');
  r.resourceRules[0].verbs.push('delete');
  t.deepEqual(a.rulesFor(alice, 'team-a').resourceRules[0].verbs, ['get', 'list', 'watch']);
});
