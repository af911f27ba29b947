// Git credentials from Secrets (src/kube/secrets.ts) against the fake kube-apiserver: basic-auth and
// token Secrets, later lookups served from memory by a watch on that one Secret, rotation and
// deletion seen, a Secret of the wrong type, read errors, watches dropped when unused, and no
// secret value in any log line or error. Also loadKubeConfig (src/kube/config.ts).
import test from 'ava';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { loadKubeConfig, SERVICE_ACCOUNT_TOKEN } from '../../src/kube/config.ts';
import { KubeReadError } from '../../src/kube/reflector.ts';
import { secretCredentials } from '../../src/kube/secrets.ts';
import { fakeKubes } from '../helpers/fakekube.ts';
import { poll } from '../helpers/poll.ts';
import { tempDir } from '../helpers/server.ts';

const NS = 'team-a';
const PATH = `/api/v1/namespaces/${NS}/secrets`;
/** every secret value used here: none may appear in a log line or an error message */
const VALUES = ['s3cret-pass-1', 's3cret-pass-2', 'tok-abcdef-123', 'opaque-value-xyz', 'git-user-1'];

const lines: string[] = [];
const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
const errors: string[] = [];

const { fake, closeAll } = fakeKubes();
test.after.always(closeAll);

test('basic-auth: read once, then from memory; rotation and deletion are seen', async (t) => {
  const { kube, kc } = await fake();
  kube.setSecret(NS, 'git', 'kubernetes.io/basic-auth', { username: 'git-user-1', password: 's3cret-pass-1' });
  const creds = secretCredentials(kc, log);
  t.teardown(() => creds.stop());

  t.deepEqual(await creds.lookup(NS, 'git'), { username: 'git-user-1', password: 's3cret-pass-1' });
  const list = kube.requests.find((r) => r.path === PATH);
  t.is(new URLSearchParams(list!.query).get('fieldSelector'), 'metadata.name=git');
  await poll('the watch', async () => (kube.watchCount() === 1 ? true : undefined));
  const watch = new URLSearchParams(kube.requests.find((r) => r.path === PATH && r.query.includes('watch=true'))!.query);
  t.is(watch.get('fieldSelector'), 'metadata.name=git');

  const before = kube.requests.length;
  for (let i = 0; i < 5; i++) t.deepEqual(await creds.lookup(NS, 'git'), { username: 'git-user-1', password: 's3cret-pass-1' });
  t.is(kube.requests.length, before, 'served from memory');

  kube.setSecret(NS, 'git', 'kubernetes.io/basic-auth', { username: 'git-user-1', password: 's3cret-pass-2' });
  await poll('rotation', async () => ((await creds.lookup(NS, 'git'))?.password === 's3cret-pass-2' ? true : undefined));
  t.deepEqual(await creds.lookup(NS, 'git'), { username: 'git-user-1', password: 's3cret-pass-2' });

  kube.deleteSecret(NS, 'git');
  await poll('deletion', async () => ((await creds.lookup(NS, 'git')) === undefined ? true : undefined));
  kube.setSecret(NS, 'git', 'kubernetes.io/basic-auth', { password: 's3cret-pass-1' });
  await poll('re-creation', async () => ((await creds.lookup(NS, 'git'))?.password === 's3cret-pass-1' ? true : undefined));
  t.deepEqual(await creds.lookup(NS, 'git'), { password: 's3cret-pass-1' });
  t.is(kube.requests.filter((r) => r.path === PATH && !r.query.includes('watch')).length, 1, 'one list in all');
});

test('a token key, a missing Secret, a Secret of another namespace, a wrong type', async (t) => {
  const { kube, kc } = await fake();
  kube.setSecret(NS, 'tok', 'Opaque', { token: 'tok-abcdef-123' });
  kube.setSecret(NS, 'opaque', 'Opaque', { password: 'opaque-value-xyz', user: 'git-user-1' });
  kube.setSecret('team-b', 'tok-b', 'Opaque', { token: 'tok-abcdef-123' });
  const creds = secretCredentials(kc, log);
  t.teardown(() => creds.stop());

  t.deepEqual(await creds.lookup(NS, 'tok'), { token: 'tok-abcdef-123' });
  t.is(await creds.lookup(NS, 'tok-b'), undefined);
  t.is(await creds.lookup(NS, 'missing'), undefined);

  const warnings = () => lines.map((l) => JSON.parse(l)).filter((m) => m.level === 40 && m.secret === `${NS}/opaque`);
  t.is(await creds.lookup(NS, 'opaque'), undefined);
  t.is(await creds.lookup(NS, 'opaque'), undefined);
  t.is(warnings().length, 1, 'warned once per version');
  t.like(warnings()[0], {
    type: 'Opaque',
    keys: ['password', 'user'],
    msg: 'secret team-a/opaque holds no git credentials: it must be of type "kubernetes.io/basic-auth" or have a "token" key',
  });

  // a Secret created after a lookup found nothing is seen through the watch
  kube.setSecret(NS, 'missing', 'kubernetes.io/basic-auth', { username: 'git-user-1', password: 's3cret-pass-2' });
  await poll('creation', async () => ((await creds.lookup(NS, 'missing'))?.password === 's3cret-pass-2' ? true : undefined));
  // a Secret that changes type
  kube.setSecret(NS, 'tok', 'kubernetes.io/tls', { 'tls.crt': 'x' });
  await poll('type change', async () => ((await creds.lookup(NS, 'tok')) === undefined ? true : undefined));
});

test('read errors reject without caching; unused Secrets stop being watched', async (t) => {
  const { kube, kc } = await fake();
  kube.setSecret(NS, 'git', 'kubernetes.io/basic-auth', { username: 'git-user-1', password: 's3cret-pass-1' });
  const creds = secretCredentials(kc, log, { idleMs: 300, firstReadTimeoutMs: 2000 });
  t.teardown(() => creds.stop());

  kube.failNext(PATH, 403);
  const e = await t.throwsAsync(creds.lookup(NS, 'git'), { instanceOf: KubeReadError });
  t.is(e!.message, 'unable to read secrets team-a/git: HTTP 403: injected failure 403');
  errors.push(e!.message);
  t.deepEqual(await creds.lookup(NS, 'git'), { username: 'git-user-1', password: 's3cret-pass-1' }, 'retried on the next lookup');

  kube.failNext(PATH, 503, 1000);
  const e2 = await t.throwsAsync(creds.lookup(NS, 'other'), { instanceOf: KubeReadError });
  t.regex(e2!.message, /^unable to read secrets team-a\/other: HTTP 503: injected failure 503 \(gave up after \d+ attempts?\)$/);
  errors.push(e2!.message);
  kube.clearFailures();

  // not looked up for idleMs: the watches end; the next lookup reads the Secret again
  await poll('watches stopped', async () => (kube.watchCount() === 0 ? true : undefined));
  kube.requests.length = 0;
  t.deepEqual(await creds.lookup(NS, 'git'), { username: 'git-user-1', password: 's3cret-pass-1' });
  t.is(kube.requests.filter((r) => r.path === PATH && !r.query.includes('watch')).length, 1);
});

test('loadKubeConfig: a file, in-cluster, standalone', (t) => {
  const dir = tempDir('kubeconfig-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(
    file,
    'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://10.0.0.1:6443"}}]\nusers: [{name: u, user: {token: tok-abcdef-123}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
  );
  t.is(loadKubeConfig({ kubeconfig: file })?.getCurrentCluster()?.server, 'https://10.0.0.1:6443');
  t.throws(() => loadKubeConfig({ kubeconfig: path.join(dir, 'nope') }), { message: /^unable to load kubeconfig ".*nope": ENOENT/ });
  writeFileSync(file, 'users: [{name: u, user: {token: tok-abcdef-123}}]\n  bad: [\n');
  const e = t.throws(() => loadKubeConfig({ kubeconfig: file }));
  errors.push(e!.message);

  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  t.teardown(() => {
    for (const [k, v] of [['KUBERNETES_SERVICE_HOST', saved.host], ['KUBERNETES_SERVICE_PORT', saved.port]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
  delete process.env.KUBERNETES_SERVICE_HOST;
  t.is(loadKubeConfig({ root: dir }), undefined, 'standalone');
  process.env.KUBERNETES_SERVICE_HOST = '10.96.0.1';
  process.env.KUBERNETES_SERVICE_PORT = '443';
  t.is(loadKubeConfig({ root: dir }), undefined, 'no service account token');
  mkdirSync(path.join(dir, path.dirname(SERVICE_ACCOUNT_TOKEN)), { recursive: true });
  writeFileSync(path.join(dir, SERVICE_ACCOUNT_TOKEN), 'tok-abcdef-123');
  const kc = loadKubeConfig({ root: dir });
  t.is(kc?.getCurrentCluster()?.server, 'https://10.96.0.1:443');
  t.is(kc?.getCurrentCluster()?.caFile, path.join(dir, '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt'));
});

test.after('no secret value in any log line or error message', (t) => {
  t.true(lines.length > 0);
  t.true(errors.length >= 3);
  for (const text of [...lines, ...errors]) for (const v of VALUES) t.false(text.includes(v), `${v} leaked into: ${text}`);
});
