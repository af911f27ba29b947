// Following kube-system/extension-apiserver-authentication (src/kube/authconfig.ts) against the
// fake kube-apiserver: the first read, updates, invalid data and deletion keeping the last good
// value, a ConfigMap created later, a 410 relist, failing watches, and the errors of the first read.
import test from 'ava';
import pino from 'pino';
import { generateCA } from '../../src/cli/pki.ts';
import { deserializeStrings, watchAuthenticationConfig, type ClusterAuthConfig } from '../../src/kube/authconfig.ts';
import { fakeKubes } from '../helpers/fakekube.ts';
import { poll } from '../helpers/poll.ts';

const NS = 'kube-system';
const NAME = 'extension-apiserver-authentication';
const PATH = `/api/v1/namespaces/${NS}/configmaps`;
const clientCA = generateCA(1).cert;
const proxyCA = generateCA(1).cert;
const proxyCA2 = generateCA(1).cert;

/** what kube-apiserver publishes (uid headers only on newer clusters) */
const published = (over: Record<string, string> = {}) => ({
  'client-ca-file': clientCA,
  'requestheader-client-ca-file': proxyCA,
  'requestheader-allowed-names': '["front-proxy-client"]',
  'requestheader-username-headers': '["X-Remote-User"]',
  'requestheader-group-headers': '["X-Remote-Group"]',
  'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
  ...over,
});

const expected = (over: Partial<NonNullable<ClusterAuthConfig['requestHeader']>> = {}): ClusterAuthConfig => ({
  clientCA,
  requestHeader: {
    clientCA: proxyCA,
    allowedNames: ['front-proxy-client'],
    usernameHeaders: ['X-Remote-User'],
    groupHeaders: ['X-Remote-Group'],
    extraHeaderPrefixes: ['X-Remote-Extra-'],
    uidHeaders: [],
    ...over,
  },
});

function capture() {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
  return { log, lines, messages: () => lines.map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

const { fake, closeAll } = fakeKubes();
test.after.always(closeAll);

test('deserializeStrings parses as kube does', (t) => {
  t.deepEqual(deserializeStrings('k', undefined), []);
  t.deepEqual(deserializeStrings('k', ''), []);
  t.deepEqual(deserializeStrings('k', 'null'), []);
  t.deepEqual(deserializeStrings('k', '["a","b"]'), ['a', 'b']);
  t.throws(() => deserializeStrings('k', 'X-Remote-User'), { message: /^k: / });
  t.throws(() => deserializeStrings('k', '"a"'), { message: 'k: not a JSON array of strings' });
  t.throws(() => deserializeStrings('k', '[1]'), { message: 'k: not a JSON array of strings' });
});

test('first read, then updates are followed through a watch on that one ConfigMap', async (t) => {
  const { kube, kc } = await fake();
  kube.setConfigMap(NS, NAME, published());
  kube.setConfigMap(NS, 'other', { x: 'y' });
  const { log } = capture();
  const cfg = await watchAuthenticationConfig(kc, log);
  t.teardown(() => cfg.stop());
  t.deepEqual(cfg.current(), expected());

  const list = kube.requests.find((r) => r.path === PATH && !r.query.includes('watch'));
  t.is(new URLSearchParams(list!.query).get('fieldSelector'), `metadata.name=${NAME}`);
  await poll('the watch', async () => (kube.requests.some((r) => r.path === PATH && r.query.includes('watch=true')) ? true : undefined));
  const watch = new URLSearchParams(kube.requests.find((r) => r.query.includes('watch=true'))!.query);
  t.is(watch.get('fieldSelector'), `metadata.name=${NAME}`);
  t.is(watch.get('resourceVersion'), '1002', "the list's resourceVersion");

  const seen: ClusterAuthConfig[] = [];
  cfg.onChange((v) => seen.push(v));
  kube.setConfigMap(NS, 'other', { x: 'z' }); // another ConfigMap: no change
  kube.setConfigMap(NS, NAME, published({ 'requestheader-allowed-names': '[]', 'requestheader-uid-headers': '["X-Remote-Uid"]', 'requestheader-client-ca-file': proxyCA2 }));
  await poll('the update', async () => (seen.length ? true : undefined));
  const want = expected({ clientCA: proxyCA2, allowedNames: [], uidHeaders: ['X-Remote-Uid'] });
  t.deepEqual(cfg.current(), want);
  t.deepEqual(seen, [want]);

  // the same content again is no change
  kube.setConfigMap(NS, NAME, published({ 'requestheader-allowed-names': '[]', 'requestheader-uid-headers': '["X-Remote-Uid"]', 'requestheader-client-ca-file': proxyCA2 }));
  kube.setConfigMap(NS, NAME, published());
  await poll('the next update', async () => (seen.length === 2 ? true : undefined));
  t.deepEqual(seen[1], expected());
  t.is(kube.requests.filter((r) => r.path === PATH && !r.query.includes('watch')).length, 1, 'served by one list and a watch');
});

test('invalid data and deletion keep the last good value and log an error', async (t) => {
  const { kube, kc } = await fake();
  kube.setConfigMap(NS, NAME, published());
  const { log, messages } = capture();
  const cfg = await watchAuthenticationConfig(kc, log);
  t.teardown(() => cfg.stop());
  const errors = () => messages().filter((m) => m.level === 50).map((m) => m.msg);

  // a broken client CA: that part keeps its value, the others change
  kube.setConfigMap(NS, NAME, published({ 'client-ca-file': 'not a certificate', 'requestheader-allowed-names': '["a"]' }));
  await poll('the change', async () => (cfg.current().requestHeader?.allowedNames[0] === 'a' ? true : undefined));
  t.deepEqual(cfg.current(), expected({ allowedNames: ['a'] }));
  t.deepEqual(errors(), [`configmap ${NS}/${NAME}: client-ca-file: no certificate found; keeping the last good value`]);

  // broken header lists and a garbled CA block
  const garbled = proxyCA.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!');
  kube.setConfigMap(NS, NAME, published({ 'requestheader-group-headers': 'X-Remote-Group', 'requestheader-client-ca-file': garbled }));
  await poll('two more errors', async () => (errors().length === 3 ? true : undefined));
  t.deepEqual(cfg.current(), expected({ allowedNames: ['a'] }));
  t.regex(errors()[1], /^configmap kube-system\/extension-apiserver-authentication: requestheader-client-ca-file: invalid certificate: .*; keeping the last good value$/);
  t.regex(errors()[2], /^configmap kube-system\/extension-apiserver-authentication: requestheader-group-headers: .*; keeping the last good request header settings$/);

  // a missing CA key keeps the last one too
  kube.setConfigMap(NS, NAME, { 'requestheader-client-ca-file': proxyCA2 });
  await poll('CA change', async () => (cfg.current().requestHeader?.clientCA === proxyCA2 ? true : undefined));
  t.deepEqual(cfg.current(), {
    clientCA,
    requestHeader: { clientCA: proxyCA2, allowedNames: [], usernameHeaders: [], groupHeaders: [], extraHeaderPrefixes: [], uidHeaders: [] },
  });

  const before = cfg.current();
  kube.deleteConfigMap(NS, NAME);
  await poll('the deletion error', async () => (errors().some((e) => e.includes('is gone')) ? true : undefined));
  t.is(cfg.current(), before);
});

test('a ConfigMap that does not exist yet gives {} and is picked up when created', async (t) => {
  const { kube, kc } = await fake();
  const { log, messages } = capture();
  const cfg = await watchAuthenticationConfig(kc, log);
  t.teardown(() => cfg.stop());
  t.deepEqual(cfg.current(), {});
  t.true(messages().some((m) => m.level === 40 && m.msg.includes('does not exist')));
  kube.setConfigMap(NS, NAME, published());
  await poll('creation', async () => (cfg.current().clientCA ? true : undefined));
  t.deepEqual(cfg.current(), expected());
});

test('expired watches are relisted, ended and failed watches resumed', async (t) => {
  const { kube, kc } = await fake();
  kube.setConfigMap(NS, NAME, published());
  const { log } = capture();
  const cfg = await watchAuthenticationConfig(kc, log);
  t.teardown(() => cfg.stop());
  const lists = () => kube.requests.filter((r) => r.path === PATH && !r.query.includes('watch')).length;
  const watches = () => kube.requests.filter((r) => r.path === PATH && r.query.includes('watch=true')).length;
  await poll('watching', async () => (kube.watchCount() === 1 ? true : undefined));

  // the server ends the stream: a new watch from the last resourceVersion, no list
  kube.closeWatches();
  await poll('re-watch', async () => (watches() === 2 && kube.watchCount() === 1 ? true : undefined));
  t.is(lists(), 1);
  kube.setConfigMap(NS, NAME, published({ 'requestheader-allowed-names': '["b"]' }));
  await poll('update after re-watch', async () => (cfg.current().requestHeader?.allowedNames[0] === 'b' ? true : undefined));

  // failing watches are retried from the same resourceVersion, without a list
  kube.failNext(PATH, 500, 2);
  kube.closeWatches();
  await poll('failed watches and a new one', async () => (watches() === 5 && kube.watchCount() === 1 ? true : undefined));
  t.is(lists(), 1);
  kube.setConfigMap(NS, NAME, published({ 'requestheader-allowed-names': '["c"]' }));
  await poll('update after failed watches', async () => (cfg.current().requestHeader?.allowedNames[0] === 'c' ? true : undefined));

  // the history is gone: the next watch gets ERROR 410 and the reflector lists again
  kube.expireHistory();
  kube.closeWatches();
  await poll('relist and watch', async () => (lists() === 2 && watches() === 7 && kube.watchCount() === 1 ? true : undefined));
  kube.setConfigMap(NS, NAME, published({ 'requestheader-allowed-names': '["d"]' }));
  await poll('update after 410 and relist', async () => (cfg.current().requestHeader?.allowedNames[0] === 'd' ? true : undefined));
  t.is(lists(), 2);
});

test('the first read: 403 fails at once with kube hint, errors are retried until the deadline', async (t) => {
  const { kube, kc } = await fake();
  const { log } = capture();
  kube.failNext(PATH, 403);
  await t.throwsAsync(watchAuthenticationConfig(kc, log), {
    message:
      'unable to load the cluster authentication configuration: unable to read configmaps kube-system/extension-apiserver-authentication: HTTP 403: injected failure 403. ' +
      "Usually fixed by 'kubectl create rolebinding -n kube-system ROLEBINDING_NAME --role=extension-apiserver-authentication-reader --serviceaccount=YOUR_NS:YOUR_SA'",
  });
  t.is(kube.requests.length, 1);

  kube.setConfigMap(NS, NAME, published());
  kube.failNext(PATH, 503, 1);
  const cfg = await watchAuthenticationConfig(kc, log);
  cfg.stop();
  t.deepEqual(cfg.current(), expected());

  kube.failNext(PATH, 503, 1000);
  await t.throwsAsync(watchAuthenticationConfig(kc, log, { firstListTimeoutMs: 1500 }), {
    message: /^unable to load the cluster authentication configuration: unable to read configmaps kube-system\/extension-apiserver-authentication: HTTP 503: injected failure 503 \(gave up after \d+ attempts?\)$/,
  });
});
