// The fake kube-apiserver of test/helpers/fakekube.ts, driven by the real @kubernetes/client-node
// 1.4 with a KubeConfig loaded from its kubeconfig: TokenReview, SubjectAccessReview, reading
// ConfigMaps and Secrets, an informer that sees an update and a delete, watch replay and 410,
// injected failures and the bearer token requirement.
import test from 'ava';
import * as k8s from '@kubernetes/client-node';
import { API_AUDIENCE, fakeKubes } from '../helpers/fakekube.ts';
import { poll } from '../helpers/poll.ts';

/** client-node returns class instances; compare their JSON */
const plain = (x: unknown) => JSON.parse(JSON.stringify(x));

const { fake, closeAll } = fakeKubes();
test.after.always(closeAll);

test('TokenReview: known token, unknown token, audiences', async (t) => {
  const { kube, kc } = await fake();
  kube.tokens.set('tok-alice', { username: 'alice', uid: 'u-1', groups: ['devs', 'system:authenticated'], extra: { scopes: ['a', 'b'] } });
  kube.tokens.set('tok-aud', { username: 'bob', audiences: ['pkgserver'] });
  const api = kc.makeApiClient(k8s.AuthenticationV1Api);

  const ok = await api.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 'tok-alice' } } });
  t.deepEqual(plain(ok.status), {
    authenticated: true,
    user: { username: 'alice', uid: 'u-1', groups: ['devs', 'system:authenticated'], extra: { scopes: ['a', 'b'] } },
    audiences: [API_AUDIENCE],
  });

  const unknown = await api.createTokenReview({ body: { spec: { token: 'nope' } } });
  t.falsy(unknown.status?.authenticated);
  t.is(unknown.status?.user?.username, undefined);
  t.is(unknown.status?.error, 'invalid bearer token');

  const aud = await api.createTokenReview({ body: { spec: { token: 'tok-aud', audiences: ['pkgserver', 'other'] } } });
  t.deepEqual(plain(aud.status), { authenticated: true, user: { username: 'bob' }, audiences: ['pkgserver'] });
  const wrongAud = await api.createTokenReview({ body: { spec: { token: 'tok-aud', audiences: ['other'] } } });
  t.falsy(wrongAud.status?.authenticated);

  const posts = kube.requests.filter((r) => r.path === '/apis/authentication.k8s.io/v1/tokenreviews');
  t.is(posts.length, 4);
  t.is(posts[0].method, 'POST');
  t.is(posts[0].body.spec.token, 'tok-alice');
});

test('SubjectAccessReview: the decision function sees the spec; invalid specs are 422', async (t) => {
  const { kube, kc } = await fake();
  const seen: any[] = [];
  kube.sar = (spec) => {
    seen.push(spec);
    return spec.resourceAttributes?.verb === 'get' ? { allowed: true, reason: 'RBAC: allowed' } : { allowed: false, denied: true, reason: 'no' };
  };
  const api = kc.makeApiClient(k8s.AuthorizationV1Api);
  const spec = { user: 'alice', groups: ['devs'], resourceAttributes: { verb: 'get', group: 'pkg.pkgserver.dev', resource: 'packagerevisions', namespace: 'team-a' } };
  const yes = await api.createSubjectAccessReview({ body: { spec } });
  t.deepEqual(plain(yes.status), { allowed: true, reason: 'RBAC: allowed' });
  t.deepEqual(plain(seen[0]), spec);
  const no = await api.createSubjectAccessReview({ body: { spec: { user: 'alice', nonResourceAttributes: { path: '/metrics', verb: 'get' } } } });
  t.deepEqual(plain(no.status), { allowed: false, denied: true, reason: 'no' });

  const e = await t.throwsAsync(api.createSubjectAccessReview({ body: { spec: { resourceAttributes: { verb: 'get' } } } }));
  t.is((e as k8s.ApiException<string>).code, 422);
  t.is(
    JSON.parse((e as k8s.ApiException<string>).body).message,
    'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified',
  );
});

test('ConfigMaps and Secrets: read, 404, base64 data, list by name', async (t) => {
  const { kube, kc } = await fake();
  kube.setConfigMap('kube-system', 'cm', { a: '1' });
  kube.setSecret('ns1', 'creds', 'kubernetes.io/basic-auth', { username: 'u', password: 'p' });
  const core = kc.makeApiClient(k8s.CoreV1Api);

  const cm = await core.readNamespacedConfigMap({ namespace: 'kube-system', name: 'cm' });
  t.deepEqual(cm.data, { a: '1' });
  t.is(cm.kind, 'ConfigMap');
  t.is(cm.metadata?.namespace, 'kube-system');
  const rv1 = Number(cm.metadata?.resourceVersion);
  kube.setConfigMap('kube-system', 'cm', { a: '2' });
  const cm2 = await core.readNamespacedConfigMap({ namespace: 'kube-system', name: 'cm' });
  t.deepEqual(cm2.data, { a: '2' });
  t.true(Number(cm2.metadata?.resourceVersion) > rv1);
  t.is(cm2.metadata?.uid, cm.metadata?.uid);

  const s = await core.readNamespacedSecret({ namespace: 'ns1', name: 'creds' });
  t.is(s.type, 'kubernetes.io/basic-auth');
  t.deepEqual(s.data, { username: Buffer.from('u').toString('base64'), password: Buffer.from('p').toString('base64') });

  const e = await t.throwsAsync(core.readNamespacedSecret({ namespace: 'ns1', name: 'missing' }));
  t.is((e as k8s.ApiException<string>).code, 404);
  t.like(JSON.parse((e as k8s.ApiException<string>).body), { kind: 'Status', reason: 'NotFound', code: 404, message: 'secrets "missing" not found' });
  await t.throwsAsync(core.readNamespacedSecret({ namespace: 'other', name: 'creds' }));

  kube.setSecret('ns1', 'other', 'Opaque', { token: 't' });
  const list = await core.listNamespacedSecret({ namespace: 'ns1', fieldSelector: 'metadata.name=creds' });
  t.deepEqual(list.items.map((i) => i.metadata?.name), ['creds']);
  t.is(list.kind, 'SecretList');
  t.true(Number(list.metadata?.resourceVersion) >= Number(s.metadata?.resourceVersion));
  const all = await core.listNamespacedSecret({ namespace: 'ns1' });
  t.deepEqual(all.items.map((i) => i.metadata?.name).sort(), ['creds', 'other']);
  await t.throwsAsync(core.listNamespacedSecret({ namespace: 'ns1', fieldSelector: 'type=Opaque' }), { message: /field label not supported: type/ });
});

test('an informer (ListWatch with a field selector) sees an add, an update and a delete', async (t) => {
  const { kube, kc } = await fake();
  kube.setConfigMap('kube-system', 'watched', { v: '1' });
  kube.setConfigMap('kube-system', 'noise', { v: 'x' });
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const path = '/api/v1/namespaces/kube-system/configmaps';
  const sel = 'metadata.name=watched';
  const inf = new k8s.ListWatch<k8s.V1ConfigMap>(path, new k8s.Watch(kc), () => core.listNamespacedConfigMap({ namespace: 'kube-system', fieldSelector: sel }), false, undefined, sel);
  const events: string[] = [];
  inf.on('add', (o) => events.push(`add ${o.metadata?.name} ${o.data?.v}`));
  inf.on('update', (o) => events.push(`update ${o.metadata?.name} ${o.data?.v}`));
  inf.on('delete', (o) => events.push(`delete ${o.metadata?.name}`));
  await inf.start();
  t.teardown(() => inf.stop());
  t.deepEqual(events, ['add watched 1']);

  kube.setConfigMap('kube-system', 'noise', { v: 'y' });
  kube.setConfigMap('kube-system', 'watched', { v: '2' });
  await poll('update', async () => (events.length >= 2 ? true : undefined));
  kube.deleteConfigMap('kube-system', 'watched');
  await poll('delete', async () => (events.length >= 3 ? true : undefined));
  t.deepEqual(events, ['add watched 1', 'update watched 2', 'delete watched']);
  t.is(inf.get('watched', 'kube-system'), undefined);

  const watch = kube.requests.find((r) => r.query.includes('watch=true'));
  t.truthy(watch);
  t.is(new URLSearchParams(watch!.query).get('fieldSelector'), sel);
});

test('watch: replay after a resourceVersion, 410 when too old, stream ended by closeWatches', async (t) => {
  const { kube, kc } = await fake();
  kube.setConfigMap('ns', 'a', { v: '1' });
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const list = await core.listNamespacedConfigMap({ namespace: 'ns' });
  const from = list.metadata!.resourceVersion!;
  kube.setConfigMap('ns', 'a', { v: '2' });
  kube.deleteConfigMap('ns', 'a');

  const watch = new k8s.Watch(kc);
  const seen: string[] = [];
  let ended: unknown = 'no';
  await watch.watch('/api/v1/namespaces/ns/configmaps', { resourceVersion: from }, (type, obj) => seen.push(`${type} ${obj.data?.v}`), (err) => (ended = err));
  await poll('replayed events', async () => (seen.length >= 2 ? true : undefined));
  t.deepEqual(seen, ['MODIFIED 2', 'DELETED 2']);
  t.is(ended, 'no');
  t.is(kube.watchCount(), 1);
  kube.closeWatches();
  await poll('stream end', async () => (ended !== 'no' ? true : undefined));
  t.is(ended, null);

  kube.expireHistory();
  const errors: any[] = [];
  let done = false;
  await watch.watch('/api/v1/namespaces/ns/configmaps', { resourceVersion: from }, (type, obj) => type === 'ERROR' && errors.push(obj), () => (done = true));
  await poll('410 stream end', async () => (done ? true : undefined));
  t.is(errors.length, 1);
  t.like(errors[0], { kind: 'Status', code: 410, reason: 'Expired' });
});

test('failNext, and the bearer token is required', async (t) => {
  const { kube, kc } = await fake();
  kube.setConfigMap('ns', 'a', {});
  const core = kc.makeApiClient(k8s.CoreV1Api);
  kube.failNext('/api/v1/namespaces/ns/configmaps', 503, 2);
  for (let i = 0; i < 2; i++) {
    const e = await t.throwsAsync(core.readNamespacedConfigMap({ namespace: 'ns', name: 'a' }));
    t.is((e as k8s.ApiException<string>).code, 503);
  }
  t.deepEqual((await core.readNamespacedConfigMap({ namespace: 'ns', name: 'a' })).data, {});

  const other = new k8s.KubeConfig();
  other.loadFromOptions({
    clusters: [{ name: 'c', server: kube.url, caData: Buffer.from(kube.caCert).toString('base64') }],
    users: [{ name: 'u', token: 'wrong' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const e = await t.throwsAsync(other.makeApiClient(k8s.CoreV1Api).readNamespacedConfigMap({ namespace: 'ns', name: 'a' }));
  t.is((e as k8s.ApiException<string>).code, 401);
});
