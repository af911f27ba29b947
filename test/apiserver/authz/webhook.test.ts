// SubjectAccessReviewAuthorizer against the fake kube-apiserver (test/helpers/fakekube.ts): the
// review it sends, the decisions, the separate allowed/denied caches (counted on the fake's
// requests), retries of transient failures, and failures that end as "no opinion" with an error.
import test from 'ava';
import { KubeConfig } from '@kubernetes/client-node';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { requestAttributes } from '../../../src/apiserver/authz/attributes.ts';
import type { UserInfo } from '../../../src/apiserver/registry/types.ts';
import { AuthorizerChain } from '../../../src/apiserver/authz/union.ts';
import { SubjectAccessReviewAuthorizer, type SubjectAccessReviewOptions } from '../../../src/apiserver/authz/webhook.ts';
import { startFakeKube, type FakeKube } from '../../helpers/fakekube.ts';
import { poll } from '../../helpers/poll.ts';

const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
const FAST_RETRY = { initialMs: 5, factor: 1.5, jitter: 0.2, steps: 5 };

let kube: FakeKube;
test.before(async () => {
  kube = await startFakeKube();
});
test.after.always(async () => {
  await kube?.close();
});

const sarCount = () => kube.requests.filter((r) => r.path === SAR_PATH).length;

function kubeconfig(server?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  if (server) kc.clusters[0] = { ...kc.clusters[0], server };
  return kc;
}
const sarAuthz = (opts: SubjectAccessReviewOptions = {}) => new SubjectAccessReviewAuthorizer(kubeconfig(), { retry: FAST_RETRY, ...opts });

const alice: UserInfo = { name: 'alice', uid: 'u-1', groups: ['devs', 'system:authenticated'], extra: { scopes: ['b', 'a'], 'acme.com/team': ['x'] } };
const at = (method: string, url: string, user: UserInfo = alice) => requestAttributes(method, new URL(url, 'https://x'), user);
const PR = '/apis/pkg.pkgserver.dev/v1alpha1/namespaces/team-a/packagerevisions';

// The fake answers from `kube.sar`; tests run one at a time so that each sets its own.
test.serial('the review sent: user, uid, groups, extra and the resource or non-resource attributes', async (t) => {
  const specs: any[] = [];
  kube.sar = (spec) => (specs.push(spec), { allowed: true });
  const a = sarAuthz();
  t.deepEqual(await a.authorize(at('PATCH', `${PR}/x/approval`)), { decision: 'allow', reason: '' });
  t.deepEqual(await a.authorize(at('GET', '/openapi/v3/apis/pkg.pkgserver.dev/v1alpha1?hash=1')), { decision: 'allow', reason: '' });
  t.deepEqual(await a.authorize(at('GET', '/apis/pkg.pkgserver.dev/v1alpha1/packagerevisions', { name: 'bob', groups: [] })), { decision: 'allow', reason: '' });
  t.deepEqual(specs, [
    {
      user: 'alice',
      uid: 'u-1',
      groups: ['devs', 'system:authenticated'],
      extra: { 'acme.com/team': ['x'], scopes: ['b', 'a'] },
      resourceAttributes: { namespace: 'team-a', verb: 'patch', group: 'pkg.pkgserver.dev', version: 'v1alpha1', resource: 'packagerevisions', subresource: 'approval', name: 'x' },
    },
    {
      user: 'alice',
      uid: 'u-1',
      groups: ['devs', 'system:authenticated'],
      extra: { 'acme.com/team': ['x'], scopes: ['b', 'a'] },
      nonResourceAttributes: { path: '/openapi/v3/apis/pkg.pkgserver.dev/v1alpha1', verb: 'get' },
    },
    { user: 'bob', resourceAttributes: { verb: 'list', group: 'pkg.pkgserver.dev', version: 'v1alpha1', resource: 'packagerevisions' } },
  ]);
  const last = kube.requests.at(-1)!;
  t.is(last.method, 'POST');
  t.is(last.path, SAR_PATH);
  t.is(last.body.apiVersion, 'authorization.k8s.io/v1');
  t.is(last.body.kind, 'SubjectAccessReview');
});

test.serial('allowed → allow, denied → deny, neither → no opinion, each with status.reason', async (t) => {
  kube.sar = (spec) => {
    const verb = spec.resourceAttributes?.verb;
    if (verb === 'get') return { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "x"' };
    if (verb === 'delete') return { allowed: false, denied: true, reason: 'deletes are frozen' };
    if (verb === 'update') return { allowed: true, denied: true, reason: 'confused' };
    return { allowed: false, reason: 'no RBAC policy matched' };
  };
  const a = sarAuthz();
  t.deepEqual(await a.authorize(at('GET', `${PR}/x`)), { decision: 'allow', reason: 'RBAC: allowed by ClusterRoleBinding "x"' });
  t.deepEqual(await a.authorize(at('DELETE', `${PR}/x`)), { decision: 'deny', reason: 'deletes are frozen' });
  t.deepEqual(await a.authorize(at('PATCH', `${PR}/x`)), { decision: 'noOpinion', reason: 'no RBAC policy matched' });
  t.deepEqual(await a.authorize(at('PUT', `${PR}/x`)), { decision: 'deny', reason: 'confused', error: 'webhook subject access review returned both allow and deny response' });
});

test.serial('answers are cached by the whole review: the same request asks kube-apiserver once', async (t) => {
  kube.sar = (spec) => ({ allowed: spec.resourceAttributes?.verb !== 'delete' });
  const a = sarAuthz();
  const before = sarCount();
  for (let i = 0; i < 3; i++) {
    t.is((await a.authorize(at('GET', `${PR}/x`))).decision, 'allow');
    t.is((await a.authorize(at('DELETE', `${PR}/x`))).decision, 'noOpinion');
  }
  t.is(sarCount() - before, 2);
  // anything different is another review: name, namespace, subresource, verb, user, groups, extra
  t.is((await a.authorize(at('GET', `${PR}/y`))).decision, 'allow');
  t.is((await a.authorize(at('GET', `${PR.replace('team-a', 'team-b')}/x`))).decision, 'allow');
  t.is((await a.authorize(at('GET', `${PR}/x/status`))).decision, 'allow');
  t.is((await a.authorize(at('PATCH', `${PR}/x`))).decision, 'allow');
  t.is((await a.authorize(at('GET', `${PR}/x`, { ...alice, name: 'alice2' }))).decision, 'allow');
  t.is((await a.authorize(at('GET', `${PR}/x`, { ...alice, groups: ['devs'] }))).decision, 'allow');
  t.is((await a.authorize(at('GET', `${PR}/x`, { ...alice, extra: { scopes: ['b'] } }))).decision, 'allow');
  t.is(sarCount() - before, 9);
  // extra keys in another order are the same review
  t.is((await a.authorize(at('GET', `${PR}/x`, { ...alice, extra: { 'acme.com/team': ['x'], scopes: ['b', 'a'] } }))).decision, 'allow');
  t.is(sarCount() - before, 9);
  // another authorizer has its own cache
  t.is((await sarAuthz().authorize(at('GET', `${PR}/x`))).decision, 'allow');
  t.is(sarCount() - before, 10);
});

test.serial('allowed and denied answers are cached separately, each with its TTL', async (t) => {
  kube.sar = (spec) => ({ allowed: spec.resourceAttributes?.verb === 'get' });
  const get = at('GET', `${PR}/x`);
  const del = at('DELETE', `${PR}/x`);

  const allowOnly = sarAuthz({ allowCacheTTLMs: 60_000, denyCacheTTLMs: 0 });
  let before = sarCount();
  for (let i = 0; i < 3; i++) {
    await allowOnly.authorize(get);
    await allowOnly.authorize(del);
  }
  t.is(sarCount() - before, 1 + 3);

  const denyOnly = sarAuthz({ allowCacheTTLMs: 0, denyCacheTTLMs: 60_000 });
  before = sarCount();
  for (let i = 0; i < 3; i++) {
    await denyOnly.authorize(get);
    await denyOnly.authorize(del);
  }
  t.is(sarCount() - before, 3 + 1);

  // an entry expires: asked again once its TTL has passed
  const short = sarAuthz({ allowCacheTTLMs: 50 });
  before = sarCount();
  await short.authorize(get);
  t.is(sarCount() - before, 1);
  await poll('the cached answer to expire', async () => {
    await short.authorize(get);
    return sarCount() - before >= 2 ? true : undefined;
  });
  t.is((await short.authorize(get)).decision, 'allow');
});

test.serial('the cache keeps at most cacheSize answers, dropping the least recently used', async (t) => {
  kube.sar = () => ({ allowed: true });
  const a = sarAuthz({ cacheSize: 2 });
  const before = sarCount();
  await a.authorize(at('GET', `${PR}/a`));
  await a.authorize(at('GET', `${PR}/b`));
  await a.authorize(at('GET', `${PR}/a`)); // a is now the most recently used
  await a.authorize(at('GET', `${PR}/c`)); // drops b
  t.is(sarCount() - before, 3);
  await a.authorize(at('GET', `${PR}/a`));
  t.is(sarCount() - before, 3);
  await a.authorize(at('GET', `${PR}/b`));
  t.is(sarCount() - before, 4);
});

test.serial('requests with very long attributes are not cached (kube: 10000 characters)', async (t) => {
  kube.sar = () => ({ allowed: true });
  const a = sarAuthz();
  const long = at('GET', `${PR}/${'x'.repeat(10_000)}`);
  const before = sarCount();
  await a.authorize(long);
  await a.authorize(long);
  t.is(sarCount() - before, 2);
});

test.serial('transient failures (500, 429, 504) are retried with backoff; the answer is then cached', async (t) => {
  kube.sar = () => ({ allowed: true });
  const a = sarAuthz();
  const before = sarCount();
  kube.failNext(SAR_PATH, 500, 2);
  t.deepEqual(await a.authorize(at('GET', `${PR}/retry-500`)), { decision: 'allow', reason: '' });
  t.is(sarCount() - before, 3);
  kube.failNext(SAR_PATH, 429, 1);
  kube.failNext(SAR_PATH, 504, 1);
  t.deepEqual(await a.authorize(at('GET', `${PR}/retry-429-504`)), { decision: 'allow', reason: '' });
  t.is(sarCount() - before, 6);
  await a.authorize(at('GET', `${PR}/retry-500`));
  t.is(sarCount() - before, 6);
});

test.serial('failures end as no opinion with the error, are not cached, and the chain denies with that error', async (t) => {
  kube.sar = () => ({ allowed: true });
  const a = sarAuthz();
  const req = at('GET', `${PR}/fails`);
  let before = sarCount();
  // retried up to `steps` attempts in all
  kube.failNext(SAR_PATH, 500, 5);
  t.deepEqual(await a.authorize(req), { decision: 'noOpinion', reason: '', error: 'injected failure 500' });
  t.is(sarCount() - before, 5);
  // not retried: kube-apiserver refuses the service account (403), or the request is invalid
  before = sarCount();
  kube.failNext(SAR_PATH, 403, 1);
  t.deepEqual(await a.authorize(req), { decision: 'noOpinion', reason: '', error: 'injected failure 403' });
  t.is(sarCount() - before, 1);
  kube.failNext(SAR_PATH, 503, 1);
  t.deepEqual(await new AuthorizerChain([a]).authorize(req), { decision: 'deny', reason: '', error: 'injected failure 503' });
  t.is(sarCount() - before, 2);
  // the failure was not cached: the next call asks again and succeeds
  t.deepEqual(await a.authorize(req), { decision: 'allow', reason: '' });
  t.is(sarCount() - before, 3);
});

test.serial('a wrong credential (401) is a failure, not a decision', async (t) => {
  const kc = kubeconfig();
  kc.users[0] = { ...kc.users[0], token: 'not-the-token' };
  const a = new SubjectAccessReviewAuthorizer(kc, { retry: FAST_RETRY });
  const d = await a.authorize(at('GET', `${PR}/x`));
  t.is(d.decision, 'noOpinion');
  t.is(d.error, 'Unauthorized');
  t.false(JSON.stringify(d).includes('not-the-token'));
});

test.serial('an unreachable or silent kube-apiserver: no opinion with the error, no retry of a refused connection', async (t) => {
  // a port nobody listens on
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const refused = await new SubjectAccessReviewAuthorizer(kubeconfig(`https://127.0.0.1:${port}`), { retry: FAST_RETRY }).authorize(at('GET', `${PR}/x`));
  t.is(refused.decision, 'noOpinion');
  t.regex(refused.error ?? '', new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));

  // a server that accepts connections and never answers: the client timeout ends the call
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const url = `https://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const timedOut = await new SubjectAccessReviewAuthorizer(kubeconfig(url), { retry: FAST_RETRY, timeoutMs: 300 }).authorize(at('GET', `${PR}/x`));
  t.deepEqual(timedOut, { decision: 'noOpinion', reason: '', error: 'the SubjectAccessReview did not complete within 300 ms' });
  t.is(sockets.size, 1); // a client timeout is not retried (kube's DefaultShouldRetry)
});

test.serial('a kubeconfig without a current cluster is refused at construction', (t) => {
  t.throws(() => new SubjectAccessReviewAuthorizer(new KubeConfig()), { message: 'the authorization kubeconfig has no current cluster' });
});
