import test from 'ava';
import { KubeConfig } from '@kubernetes/client-node';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { generateCA, issueServingCert } from '../../../src/cli/pki.ts';
import { TokenReviewAuthenticator, type TokenReviewOptions } from '../../../src/apiserver/authn/webhook.ts';
import { startFakeKube, type FakeKube } from '../../helpers/fakekube.ts';
import { startAuthServer, type AuthServer } from '../../helpers/certs.ts';
import { poll } from '../../helpers/poll.ts';

const REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const FAST_RETRY = { initialMs: 10, factor: 1.5, steps: 5 };

let kube: FakeKube;
let kc: KubeConfig;
let server: AuthServer;
let current: TokenReviewAuthenticator;

test.before(async () => {
  kube = await startFakeKube();
  kc = new KubeConfig();
  kc.loadFromFile(kube.kubeconfigPath);
  kube.tokens.set('tok-alice', { username: 'alice', uid: 'u-1', groups: ['devs', 'system:authenticated'], extra: { scopes: ['a', 'b'] } });
  kube.tokens.set('tok-bob', { username: 'bob' });
  server = await startAuthServer((req) => current.authenticate(req));
});

test.after.always(async () => {
  await server?.close();
  await kube?.close();
});

const reviews = () => kube.requests.filter((r) => r.path === REVIEWS).length;
const bearer = (token: string) => server.call({ headers: { Authorization: `Bearer ${token}` } });
const use = (opts: TokenReviewOptions = {}, config = kc) => (current = new TokenReviewAuthenticator(config, { retryBackoff: FAST_RETRY, ...opts }));

test.serial('an authenticated token: the reviewed user, cached for the TTL under a hash of the token', async (t) => {
  const authn = use();
  const before = reviews();
  const expected = {
    user: { name: 'alice', uid: 'u-1', groups: ['devs', 'system:authenticated'], extra: { scopes: ['a', 'b'] } },
    method: 'webhook',
    consumedHeaders: ['authorization'],
  };
  t.deepEqual((await bearer('tok-alice')).result, expected);
  t.is(reviews(), before + 1);
  const sent = kube.requests.filter((r) => r.path === REVIEWS).at(-1)!;
  t.deepEqual(sent.body, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'tok-alice' } });
  t.deepEqual((await bearer('tok-alice')).result, expected);
  t.is(reviews(), before + 1, 'the second request is answered from the cache');
  const cacheKeys = [...(authn as unknown as { cache: Map<string, unknown> }).cache.keys()];
  t.is(cacheKeys.length, 1);
  t.false(cacheKeys[0].includes('tok-alice'));
  t.is(Buffer.from(cacheKeys[0], 'base64').length, 32, 'an HMAC-SHA-256');
});

test.serial('a cached answer lasts its TTL, then the token is reviewed again', async (t) => {
  use({ cacheTTLMs: 300 });
  kube.tokens.set('tok-short', { username: 'carol' });
  t.is((await bearer('tok-short')).result.user.name, 'carol');
  kube.tokens.set('tok-short', { username: 'carol-2' });
  await poll('the cached answer to expire', async () => ((await bearer('tok-short')).result?.user.name === 'carol-2' ? true : undefined));
  t.pass();
});

test.serial('an unknown token: the review says why, and that answer is not cached (as kube)', async (t) => {
  use();
  const before = reviews();
  t.deepEqual((await bearer('tok-nobody')).error, { name: 'AuthenticationError', message: 'webhook: token not authenticated: invalid bearer token' });
  t.deepEqual((await bearer('tok-nobody')).error?.message, 'webhook: token not authenticated: invalid bearer token');
  t.is(reviews(), before + 2);
});

test.serial('no bearer token: no answer and no review', async (t) => {
  use();
  const before = reviews();
  t.deepEqual(await server.call(), {});
  t.deepEqual(await server.call({ headers: { Authorization: 'Basic eDp5' } }), {});
  t.is(reviews(), before);
});

test.serial('5xx answers are retried with backoff; the answer after them is used', async (t) => {
  use();
  const before = reviews();
  kube.failNext(REVIEWS, 500, 2);
  t.is((await bearer('tok-bob')).result.user.name, 'bob');
  t.is(reviews(), before + 3);
});

test.serial('a review that keeps failing ends as an AuthenticationError, is logged and is not cached', async (t) => {
  const logs: any[] = [];
  use({ log: pino({}, { write: (line: string) => logs.push(JSON.parse(line)) }) });
  const before = reviews();
  kube.failNext(REVIEWS, 503, 5);
  t.deepEqual((await bearer('tok-bob')).error, { name: 'AuthenticationError', message: 'webhook: TokenReview failed: HTTP 503: injected failure 503' });
  t.is(reviews(), before + 5, 'five attempts');
  t.deepEqual(logs.map((l) => [l.level, l.msg, l.err, l.attempts]), [[50, 'Failed to make webhook authenticator request', 'HTTP 503: injected failure 503', 5]]);
  t.is((await bearer('tok-bob')).result.user.name, 'bob', 'the failure was not cached');
  t.is(reviews(), before + 6);
});

test.serial('a 4xx answer is not retried', async (t) => {
  use();
  const before = reviews();
  kube.failNext(REVIEWS, 403, 1);
  t.is((await bearer('tok-bob')).error?.message, 'webhook: TokenReview failed: HTTP 403: injected failure 403');
  t.is(reviews(), before + 1);
});

test.serial('concurrent requests with one token share one review', async (t) => {
  use();
  const before = reviews();
  const answers = await Promise.all(Array.from({ length: 5 }, () => bearer('tok-alice')));
  t.deepEqual(answers.map((a) => a.result.user.name), ['alice', 'alice', 'alice', 'alice', 'alice']);
  t.is(reviews(), before + 1);
});

test.serial('kube-apiserver unreachable: an AuthenticationError naming the network error', async (t) => {
  const closed = await startFakeKube();
  const unreachable = new KubeConfig();
  unreachable.loadFromFile(closed.kubeconfigPath);
  await closed.close();
  use({}, unreachable);
  t.deepEqual((await bearer('tok-alice')).error, { name: 'AuthenticationError', message: 'webhook: TokenReview failed: ECONNREFUSED' });
});

test.serial('not authenticated without an error: no answer, cached for the failure TTL (the fake kube always gives an error, so a minimal server here)', async (t) => {
  const ca = generateCA(1);
  const serving = issueServingCert(ca, ['localhost'], ['127.0.0.1'], 1);
  let count = 0;
  const srv = https.createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    count++;
    req.resume();
    req.on('end', () => {
      res.writeHead(201, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', status: { user: {} } }));
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => srv.close(() => resolve())));
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'c', server: `https://127.0.0.1:${(srv.address() as AddressInfo).port}`, caData: Buffer.from(ca.cert).toString('base64') }],
    users: [{ name: 'u', token: 'x' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  use({ failureCacheTTLMs: 60_000 }, config);
  t.deepEqual(await bearer('tok-unknown'), {});
  t.deepEqual(await bearer('tok-unknown'), {});
  t.is(count, 1);
});
