// AuthorizerChain: always-allowed groups and paths as kube's delegated authorization, then the
// union of authorizers (first allow or deny wins; no opinion from all → deny with the reasons).
import test from 'ava';
import { constant } from '../../../src/apiserver/authn/types.ts';
import { requestAttributes } from '../../../src/apiserver/authz/attributes.ts';
import { parsePolicy, DEFAULT_POLICY } from '../../../src/apiserver/authz/policyfile.ts';
import { RBACAuthorizer } from '../../../src/apiserver/authz/rbac.ts';
import type { Attributes, Authorizer, Decision } from '../../../src/apiserver/authz/types.ts';
import { AuthorizerChain, canI } from '../../../src/apiserver/authz/union.ts';

const user = { name: 'alice', groups: ['system:authenticated'] };
const at = (method: string, url: string, u = user) => requestAttributes(method, new URL(url, 'https://x'), u);

/** An authorizer with a fixed answer that records what it was asked. */
function fixed(d: Decision): Authorizer & { asked: Attributes[] } {
  const asked: Attributes[] = [];
  return { asked, authorize: async (a) => (asked.push(a), d) };
}
const noOpinion = (reason = '', error?: string): Decision => ({ decision: 'noOpinion', reason, ...(error ? { error } : {}) });

test('default always-allowed paths: /healthz, /readyz, /livez exactly, for non-resource requests only', async (t) => {
  const inner = fixed(noOpinion());
  const chain = new AuthorizerChain([inner]);
  for (const p of ['/healthz', '/readyz', '/livez', 'healthz']) t.deepEqual(await chain.authorize({ ...at('GET', '/'), path: p }), { decision: 'allow', reason: '' }, p);
  t.deepEqual(await chain.authorize(at('HEAD', '/livez')), { decision: 'allow', reason: '' });
  t.deepEqual(await chain.authorize(at('GET', '/readyz?verbose')), { decision: 'allow', reason: '' });
  for (const p of ['/livez/store', '/healthzz', '/metrics', '/']) t.is((await chain.authorize(at('GET', p))).decision, 'deny', p);
  // a resource request whose path happens to match is not a path request
  t.is((await chain.authorize({ ...at('GET', '/apis/g/v/healthz'), path: '/healthz' })).decision, 'deny');
  t.deepEqual(
    inner.asked.map((a) => a.path),
    ['/livez/store', '/healthzz', '/metrics', '/', '/healthz'],
  );
});

test('--authorization-always-allow-paths: exact, or a prefix with a trailing *, leading / optional', async (t) => {
  const chain = new AuthorizerChain([], { alwaysAllowPaths: ['/livez*', 'metrics', '/openapi/*', '/'] });
  const allowed = async (p: string) => (await chain.authorize(at('GET', p))).decision === 'allow';
  t.true(await allowed('/livez'));
  t.true(await allowed('/livez/store'));
  t.true(await allowed('/livezzz'));
  t.true(await allowed('/metrics'));
  t.false(await allowed('/metrics/x'));
  t.true(await allowed('/openapi/v3'));
  t.false(await allowed('/openapi'));
  t.true(await allowed('/'));
  t.false(await allowed('/healthz')); // the defaults are replaced
  t.throws(() => new AuthorizerChain([], { alwaysAllowPaths: ['/a*/b'] }), { message: 'only trailing * allowed in "a*/b"' });
  t.throws(() => new AuthorizerChain([], { alwaysAllowPaths: ['**'] }), { message: 'only trailing * allowed in "**"' });
  t.false(await new AuthorizerChain([], { alwaysAllowPaths: [] }).authorize(at('GET', '/healthz')).then((d) => d.decision === 'allow'));
});

test('always-allowed groups (default system:masters) skip the authorizers', async (t) => {
  const inner = fixed({ decision: 'deny', reason: 'no' });
  const admin = { name: 'admin', groups: ['system:masters', 'system:authenticated'] };
  t.deepEqual(await new AuthorizerChain([inner]).authorize(at('DELETE', '/apis/pkg.pkgserver.dev/v1alpha1/namespaces/a/packagerevisions/x', admin)), { decision: 'allow', reason: '' });
  t.is(inner.asked.length, 0);
  t.is((await new AuthorizerChain([inner], { alwaysAllowGroups: [] }).authorize(at('GET', '/apis', admin))).decision, 'deny');
  t.is((await new AuthorizerChain([inner], { alwaysAllowGroups: ['ops'] }).authorize(at('GET', '/apis', { name: 'o', groups: ['ops'] }))).decision, 'allow');
});

test('the first allow or deny wins, with its reason; later authorizers are not asked', async (t) => {
  const a = fixed(noOpinion('a has nothing'));
  const b = fixed({ decision: 'deny', reason: 'b says no' });
  const c = fixed({ decision: 'allow', reason: 'c says yes' });
  const req = at('GET', '/apis/pkg.pkgserver.dev/v1alpha1/packagerevisions');
  t.deepEqual(await new AuthorizerChain([a, b, c]).authorize(req), { decision: 'deny', reason: 'b says no' });
  t.deepEqual(await new AuthorizerChain([a, c, b]).authorize(req), { decision: 'allow', reason: 'c says yes' });
  t.is(a.asked.length, 2);
  t.is(b.asked.length, 1);
  t.is(c.asked.length, 1);
  t.is(a.asked[0], req);
});

test('no opinion from every authorizer: deny with the reasons joined by newlines, and the errors', async (t) => {
  const req = at('GET', '/metrics');
  t.deepEqual(await new AuthorizerChain([]).authorize(req), { decision: 'deny', reason: '' });
  t.deepEqual(await new AuthorizerChain([fixed(noOpinion('one')), fixed(noOpinion()), fixed(noOpinion('two'))]).authorize(req), { decision: 'deny', reason: 'one\ntwo' });
  t.deepEqual(await new AuthorizerChain([fixed(noOpinion('', 'e1')), fixed(noOpinion('r', 'e2')), fixed(noOpinion('', 'e1'))]).authorize(req), {
    decision: 'deny',
    reason: 'r',
    error: '[e1, e2]',
  });
  t.deepEqual(await new AuthorizerChain([fixed(noOpinion('', 'down'))]).authorize(req), { decision: 'deny', reason: '', error: 'down' });
  // an allow after an error still allows (kube checks the decision before the error)
  t.deepEqual(await new AuthorizerChain([fixed(noOpinion('', 'down')), fixed({ decision: 'allow', reason: 'ok' })]).authorize(req), { decision: 'allow', reason: 'ok' });
});

test('canI: true only for allow; with the default policy through RBAC', async (t) => {
  t.true(await canI(fixed({ decision: 'allow', reason: '' }), at('GET', '/apis')));
  t.false(await canI(fixed({ decision: 'deny', reason: '' }), at('GET', '/apis')));
  t.false(await canI(fixed(noOpinion()), at('GET', '/apis')));
  const chain = new AuthorizerChain([new RBACAuthorizer(constant(parsePolicy(DEFAULT_POLICY, 'default')))], { alwaysAllowGroups: [] });
  t.true(await canI(chain, at('GET', '/openapi/v3')));
  t.true(await canI(chain, at('GET', '/healthz', { name: 'system:anonymous', groups: ['system:unauthenticated'] })));
  t.false(await canI(chain, at('GET', '/apis', { name: 'system:anonymous', groups: ['system:unauthenticated'] })));
  t.false(await canI(chain, at('PATCH', '/apis/pkg.pkgserver.dev/v1alpha1/namespaces/team-a/packagerevisions/x/approval')));
  t.true(await canI(chain, at('PATCH', '/apis/pkg.pkgserver.dev/v1alpha1/namespaces/team-a/packagerevisions/x/approval', { name: 'admin', groups: ['system:masters'] })));
});
