// The controllers' client: every call asks the real RBAC authorizer with kube's attributes, a
// denied call is kube's 403 with kube's message and writes nothing, an allowed write reaches the
// registry with a RequestContext whose authorize() asks for the controller's user (a strategy's
// `approve` check), and returned objects are the caller's copies.
import test from 'ava';
import { constant } from '../../../src/apiserver/authn/types.ts';
import { RBACAuthorizer, type PolicyDocuments } from '../../../src/apiserver/authz/rbac.ts';
import { AuthorizerChain } from '../../../src/apiserver/authz/union.ts';
import { StatusError } from '../../../src/apiserver/errors.ts';
import type { UserInfo } from '../../../src/apiserver/registry/types.ts';
import { Client } from '../../../src/controllers/runtime/client.ts';
import { env, GROUP, type Env } from './env.ts';

const CONTROLLER: UserInfo = { name: 'system:pkgserver:controller', groups: ['system:authenticated'] };

/** The controller may do everything to widgets in team-a, and only read them in team-b. */
function policy(extraVerbs: string[] = []): PolicyDocuments {
  const role = (name: string, verbs: string[], resources: string[]) => ({ metadata: { name }, rules: [{ verbs, apiGroups: [GROUP], resources }] });
  const bind = (ns: string, role: string) => ({
    metadata: { name: `${role}-${ns}`, namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: CONTROLLER.name }],
  });
  return {
    clusterRoles: [
      role('widget-writer', ['get', 'list', 'create', 'update', 'delete', ...extraVerbs], ['widgets', 'widgets/approval']),
      role('widget-reader', ['get', 'list'], ['widgets']),
    ],
    roles: [],
    clusterRoleBindings: [],
    roleBindings: [bind('team-a', 'widget-writer'), bind('team-b', 'widget-reader')],
  };
}

function clientFor(e: Env, docs: PolicyDocuments): Client {
  return new Client({
    registries: (plural) => ({ widgets: e.widgets, gadgets: e.gadgets })[plural],
    authorizer: new AuthorizerChain([new RBACAuthorizer(constant(docs))]),
    user: CONTROLLER,
  });
}

/** The rejection of `p` as [code, reason, message]. */
async function failure(p: Promise<unknown>): Promise<[number, string, string]> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof StatusError)) throw new Error(`expected a StatusError, got ${String(err)}`);
  return [err.code, err.reason, err.message];
}

const denied = (verb: string, resource: string, ns: string, name = '') =>
  [403, 'Forbidden', `widgets.${GROUP}${name ? ` "${name}"` : ''} is forbidden: User "${CONTROLLER.name}" cannot ${verb} resource "${resource}" in API group "${GROUP}" in the namespace "${ns}"`] as const;

test('client: allowed calls reach the registry as the controller', async (t) => {
  const e = await env(t);
  const c = clientFor(e, policy());
  const created = await c.create('widgets', 'team-a', { metadata: { name: 'w1' }, spec: { color: 'red' } });
  t.is(created.metadata.namespace, 'team-a');
  t.is(e.widgets.get('team-a', 'w1').spec.color, 'red');
  const updated = await c.update('widgets', 'team-a', 'w1', (cur) => ({ obj: { ...cur, spec: { color: 'blue' } } }));
  t.is(updated.spec.color, 'blue');
  t.is((await c.get('widgets', 'team-a', 'w1')).spec.color, 'blue');
  t.deepEqual((await c.list('widgets', 'team-a')).items.map((o) => o.metadata.name), ['w1']);
  const del = await c.delete('widgets', 'team-a', 'w1');
  t.true(del.deleted);
  t.throws(() => e.widgets.get('team-a', 'w1'), { instanceOf: StatusError, message: `widgets.${GROUP} "w1" not found` });
});

test('client: a denied call is kube\'s 403 and writes nothing', async (t) => {
  const e = await env(t);
  await e.put(e.widgets, 'team-b', 'w1', { color: 'red' });
  const before = e.widgets.get('team-b', 'w1');
  const c = clientFor(e, policy());
  t.deepEqual(await failure(c.create('widgets', 'team-b', { metadata: { name: 'w2' }, spec: {} })), [...denied('create', 'widgets', 'team-b')]);
  t.throws(() => e.widgets.get('team-b', 'w2'), { message: `widgets.${GROUP} "w2" not found` });
  let mutated = false;
  const mutate = (cur: typeof before) => {
    mutated = true;
    return { obj: { ...cur, spec: { color: 'blue' } } };
  };
  t.deepEqual(await failure(c.update('widgets', 'team-b', 'w1', mutate)), [...denied('update', 'widgets', 'team-b', 'w1')]);
  t.deepEqual(await failure(c.update('widgets', 'team-b', 'w1', mutate, 'approval')), [...denied('update', 'widgets/approval', 'team-b', 'w1')]);
  t.deepEqual(await failure(c.delete('widgets', 'team-b', 'w1')), [...denied('delete', 'widgets', 'team-b', 'w1')]);
  t.false(mutated);
  t.is(e.widgets.get('team-b', 'w1').metadata.resourceVersion, before.metadata.resourceVersion);
  // reads: allowed in team-b, not in team-c nor across namespaces
  t.is((await c.get('widgets', 'team-b', 'w1')).spec.color, 'red');
  t.deepEqual(await failure(c.get('widgets', 'team-c', 'w1')), [...denied('get', 'widgets', 'team-c', 'w1')]);
  t.deepEqual(await failure(c.list('widgets', undefined)), [
    403,
    'Forbidden',
    `widgets.${GROUP} is forbidden: User "${CONTROLLER.name}" cannot list resource "widgets" in API group "${GROUP}" at the cluster scope`,
  ]);
  t.deepEqual(await failure(c.get('nosuch', 'team-a', 'x')), [404, 'NotFound', 'the server could not find the requested resource']);
});

test('client: the registry\'s ctx.authorize asks for the controller\'s user (the approve verb)', async (t) => {
  const e = await env(t);
  await e.put(e.widgets, 'team-a', 'w1', {});
  const approve = (c: Client) => c.update('widgets', 'team-a', 'w1', (cur) => ({ obj: { ...cur, spec: { approved: 'yes' } } }), 'approval');
  // update on widgets/approval is granted, the approve verb is not: the strategy refuses
  t.deepEqual(await failure(approve(clientFor(e, policy()))), [403, 'Forbidden', `widgets.${GROUP} "w1" is forbidden: User "${CONTROLLER.name}" cannot approve`]);
  t.is(e.widgets.get('team-a', 'w1').spec.approved, undefined);
  // with the approve verb it goes through
  const done = await approve(clientFor(e, policy(['approve'])));
  t.is(done.spec.approved, 'yes');
  t.deepEqual(e.approvals, [
    { user: CONTROLLER.name, approve: false },
    { user: CONTROLLER.name, approve: true },
  ]);
});

test('client: objects returned are copies; the object given to create is not changed', async (t) => {
  const e = await env(t);
  const c = clientFor(e, policy());
  const mine = Object.freeze({ metadata: Object.freeze({ name: 'w1' }), spec: Object.freeze({ color: 'red' }) });
  await c.create('widgets', 'team-a', mine);
  t.deepEqual(mine, { metadata: { name: 'w1' }, spec: { color: 'red' } });
  const got = await c.get('widgets', 'team-a', 'w1');
  got.spec.color = 'changed';
  const listed = (await c.list('widgets', 'team-a')).items[0];
  listed.spec.color = 'changed too';
  t.is(e.widgets.get('team-a', 'w1').spec.color, 'red');
});
