import test from 'ava';
import { impersonate, ImpersonationBadRequest, ImpersonationForbidden } from '../../../src/apiserver/authn/impersonation.ts';
import { constant, type UserInfo } from '../../../src/apiserver/authn/types.ts';
import { RBACAuthorizer, type PolicyDocuments } from '../../../src/apiserver/authz/rbac.ts';
import type { Attributes, Authorizer } from '../../../src/apiserver/authz/types.ts';
import { startAuthServer, type AuthServer } from '../../helpers/certs.ts';

// Who may impersonate what, as RBAC documents: admins anything, helpdesk only user "user-2".
const policy: PolicyDocuments = {
  clusterRoles: [
    {
      metadata: { name: 'impersonator' },
      rules: [
        { verbs: ['impersonate'], apiGroups: [''], resources: ['users', 'groups', 'serviceaccounts'] },
        { verbs: ['impersonate'], apiGroups: ['authentication.k8s.io'], resources: ['uids', 'userextras/scopes', 'userextras/acme.com/project'] },
      ],
    },
    { metadata: { name: 'helpdesk' }, rules: [{ verbs: ['impersonate'], apiGroups: [''], resources: ['users'], resourceNames: ['user-2'] }] },
  ],
  roles: [],
  clusterRoleBindings: [
    { metadata: { name: 'admins' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'impersonator' }, subjects: [{ kind: 'Group', name: 'admins' }] },
    { metadata: { name: 'helpdesk' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'helpdesk' }, subjects: [{ kind: 'User', name: 'helpdesk-1' }] },
  ],
  roleBindings: [],
};

const USERS: Record<string, UserInfo> = {
  admin: { name: 'admin', groups: ['admins', 'system:authenticated'] },
  helpdesk: { name: 'helpdesk-1', groups: ['system:authenticated'] },
  'user-2': { name: 'user-2', groups: ['devs', 'system:authenticated'] },
  odd: { name: 'a<b>&c', groups: ['system:authenticated'] },
};

const asked: Attributes[] = [];
let authorizer: Authorizer;
const rbac = new RBACAuthorizer(constant(policy));
/** the RBAC authorizer, recording every question */
const recording: Authorizer = {
  authorize: (a) => {
    asked.push(a);
    return rbac.authorize(a);
  },
};

let server: AuthServer;
test.before(async () => {
  server = await startAuthServer(async (req) => {
    const requester = USERS[req.headersDistinct['x-test-as']![0]];
    try {
      const out = await impersonate(req, requester, authorizer);
      return { out, left: Object.keys(req.headers).filter((h) => h.startsWith('impersonate-')), leftDistinct: Object.keys(req.headersDistinct).filter((h) => h.startsWith('impersonate-')) };
    } catch (err) {
      if (err instanceof ImpersonationForbidden) return { forbidden: { message: err.message, details: err.details, attributes: err.attributes, reason: err.reason, cause: (err.cause as Error | undefined)?.message } };
      if (err instanceof ImpersonationBadRequest) return { badRequest: err.message };
      throw err;
    }
  });
});
test.after.always(async () => {
  await server?.close();
});
test.beforeEach(() => {
  asked.length = 0;
  authorizer = recording;
});

const as = async (who: string, headers: Record<string, string | string[]> = {}) => (await server.call({ headers: { 'X-Test-As': who, ...headers } })).result;

test.serial('user, repeated groups, uid and escaped extras: each authorized with kube attributes, headers removed', async (t) => {
  const result = await as('admin', {
    'Impersonate-User': 'user-2',
    'Impersonate-Group': ['devs', 'qa'],
    'Impersonate-Uid': 'uid-2',
    'Impersonate-Extra-Scopes': ['view', 'edit'],
    'Impersonate-Extra-Acme.com%2fProject': 'p1',
  });
  const user2 = { name: 'user-2', uid: 'uid-2', groups: ['devs', 'qa', 'system:authenticated'], extra: { scopes: ['view', 'edit'], 'acme.com/project': ['p1'] } };
  t.deepEqual(result, { out: { user: user2, impersonatedUser: user2 }, left: [], leftDistinct: [] });
  const admin = USERS.admin;
  const core = { user: admin, verb: 'impersonate', resourceRequest: true, apiGroup: '' };
  const authn = { user: admin, verb: 'impersonate', resourceRequest: true, apiGroup: 'authentication.k8s.io', apiVersion: 'v1' };
  t.deepEqual(asked, [
    { ...core, resource: 'users', name: 'user-2' },
    { ...core, resource: 'groups', name: 'devs' },
    { ...core, resource: 'groups', name: 'qa' },
    { ...authn, resource: 'userextras', subresource: 'scopes', name: 'view' },
    { ...authn, resource: 'userextras', subresource: 'scopes', name: 'edit' },
    { ...authn, resource: 'userextras', subresource: 'acme.com/project', name: 'p1' },
    { ...authn, resource: 'uids', name: 'uid-2' },
  ]);
});

test.serial('a user alone gets system:authenticated; system:anonymous gets system:unauthenticated', async (t) => {
  t.deepEqual((await as('admin', { 'Impersonate-User': 'user-2' })).out.user, { name: 'user-2', groups: ['system:authenticated'] });
  t.deepEqual((await as('admin', { 'Impersonate-User': 'system:anonymous' })).out.user, { name: 'system:anonymous', groups: ['system:unauthenticated'] });
  t.deepEqual((await as('admin', { 'Impersonate-User': 'x', 'Impersonate-Group': 'system:unauthenticated' })).out.user, { name: 'x', groups: ['system:unauthenticated'] });
  t.deepEqual((await as('admin', { 'Impersonate-User': 'x', 'Impersonate-Group': ['system:authenticated', 'a'] })).out.user, { name: 'x', groups: ['system:authenticated', 'a'] });
});

test.serial('service accounts: authorized in their namespace, with their groups unless groups are given', async (t) => {
  const result = await as('admin', { 'Impersonate-User': 'system:serviceaccount:ns1:builder' });
  t.deepEqual(result.out.user, { name: 'system:serviceaccount:ns1:builder', groups: ['system:serviceaccounts', 'system:serviceaccounts:ns1', 'system:authenticated'] });
  t.deepEqual(asked, [{ user: USERS.admin, verb: 'impersonate', resourceRequest: true, apiGroup: '', resource: 'serviceaccounts', namespace: 'ns1', name: 'builder' }]);
  t.deepEqual((await as('admin', { 'Impersonate-User': 'system:serviceaccount:ns1:builder', 'Impersonate-Group': 'g' })).out.user.groups, ['g', 'system:authenticated']);
  asked.length = 0;
  t.deepEqual((await as('admin', { 'Impersonate-User': 'system:serviceaccount:NS:x' })).out.user, { name: 'system:serviceaccount:NS:x', groups: ['system:authenticated'] }, 'not a valid namespace: a plain user');
  t.is(asked[0].resource, 'users');
});

test.serial('no impersonation headers: the same user, nothing asked', async (t) => {
  t.deepEqual((await as('user-2')).out, { user: USERS['user-2'] });
  t.deepEqual(asked, []);
});

test.serial('groups, extras or a uid without a user: BadRequest with kube message', async (t) => {
  const result = await as('admin', { 'Impersonate-Group': 'devs', 'Impersonate-Extra-Scopes': 'a', 'Impersonate-Uid': 'u1' });
  t.deepEqual(result, { badRequest: 'requested [{Group  devs    } {UserExtra  a  authentication.k8s.io/v1  scopes} {UID  u1  authentication.k8s.io/v1  }] without impersonating a user' });
  t.deepEqual(asked, []);
});

test.serial("denials: kube's 403 message and details, the first denied piece", async (t) => {
  t.deepEqual((await as('user-2', { 'Impersonate-User': 'admin' })).forbidden, {
    message: 'users "admin" is forbidden: User "user-2" cannot impersonate resource "users" in API group "" at the cluster scope',
    details: { group: '', kind: 'users', name: 'admin' },
    attributes: { user: USERS['user-2'], verb: 'impersonate', resourceRequest: true, apiGroup: '', resource: 'users', name: 'admin' },
    reason: '',
  });
  t.is((await as('helpdesk', { 'Impersonate-User': 'user-2' })).out.user.name, 'user-2', 'helpdesk may impersonate user-2');
  t.is(
    (await as('helpdesk', { 'Impersonate-User': 'user-2', 'Impersonate-Group': 'system:masters' })).forbidden.message,
    'groups "system:masters" is forbidden: User "helpdesk-1" cannot impersonate resource "groups" in API group "" at the cluster scope',
  );
  const extra = (await as('helpdesk', { 'Impersonate-User': 'user-2', 'Impersonate-Extra-Scopes': 'all' })).forbidden;
  t.is(extra.message, 'userextras.authentication.k8s.io "all" is forbidden: User "helpdesk-1" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope');
  t.deepEqual(extra.details, { group: 'authentication.k8s.io', kind: 'userextras', name: 'all' });
  t.is(
    (await as('helpdesk', { 'Impersonate-User': 'user-2', 'Impersonate-Uid': 'u9' })).forbidden.message,
    'uids.authentication.k8s.io "u9" is forbidden: User "helpdesk-1" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope',
  );
  t.is(
    (await as('helpdesk', { 'Impersonate-User': 'system:serviceaccount:ns1:builder' })).forbidden.message,
    'serviceaccounts "builder" is forbidden: User "helpdesk-1" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "ns1"',
  );
});

test.serial("the authorizer's reason follows the message; an authorizer error gives no reason; HTML is escaped", async (t) => {
  authorizer = { authorize: async () => ({ decision: 'deny', reason: 'policy says no' }) };
  t.is((await as('odd', { 'Impersonate-User': 'u' })).forbidden.message, 'users "u" is forbidden: User "a&lt;b&gt;&amp;c" cannot impersonate resource "users" in API group "" at the cluster scope: policy says no');
  authorizer = {
    authorize: async () => {
      throw new Error('webhook down');
    },
  };
  const f = (await as('admin', { 'Impersonate-User': 'u' })).forbidden;
  t.is(f.message, 'users "u" is forbidden: User "admin" cannot impersonate resource "users" in API group "" at the cluster scope');
  t.is(f.cause, 'webhook down');
});
