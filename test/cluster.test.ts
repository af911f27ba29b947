// The in-cluster mode against a small kube-apiserver written for the tests
// (test/helpers/fakekube.ts: TokenReview, SubjectAccessReview, ConfigMaps and Secrets with watches,
// exactly as kube-apiserver answers them; there is no kube-apiserver on these machines):
// - the client CA and the front proxy's settings come from
//   kube-system/extension-apiserver-authentication and are followed when it changes;
// - bearer tokens are delegated to TokenReview, every request to SubjectAccessReview, with kube's
//   caches (one review per distinct request within the TTL, a new one after it);
// - the aggregator's availability probe and discovery fetch are allowed (system:masters);
// - the self reviews are kube-apiserver's there, not ours;
// - git credentials come from Secrets in the Repository's namespace and follow their rotation.
import test from 'ava';
import { generateCA, issueClientCert, type CertAndKey } from '../src/cli/pki.ts';
import { startFakeKube, type FakeKube } from './helpers/fakekube.ts';
import { startGitServer, type GitServer } from './helpers/gitserver.ts';
import { HttpClient } from './helpers/http.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, type ServerHandle } from './helpers/server.ts';
import { serverCA } from './helpers/users.ts';

const NS = 'team-a';
const PR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisions`;
const REPOS = `/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories`;

let kube: FakeKube;
let server: ServerHandle;
let clientCA: CertAndKey; // the cluster's client CA
let proxyCA: CertAndKey; // the cluster's front-proxy CA
let proxy: HttpClient;
let admin: HttpClient; // a client certificate of the cluster's client CA, group system:masters
let anon: HttpClient;
let gitServer: GitServer;

const authConfig = (allowed: string[]) => ({
  'client-ca-file': clientCA.cert,
  'requestheader-client-ca-file': proxyCA.cert,
  'requestheader-allowed-names': JSON.stringify(allowed),
  'requestheader-username-headers': '["X-Remote-User"]',
  'requestheader-group-headers': '["X-Remote-Group"]',
  'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
});

/** SubjectAccessReview policy of the fake: erin and frank may read team-a; erin may write it. */
function decide(spec: any) {
  const a = spec.resourceAttributes;
  if (!a) return { allowed: spec.user === 'frank' && spec.nonResourceAttributes?.path === '/apis' };
  if (a.namespace !== NS) return { allowed: false, reason: `no access to namespace ${a.namespace}` };
  if (spec.user === 'erin') return { allowed: true, reason: 'erin may' };
  if (spec.user === 'frank' && ['get', 'list', 'watch'].includes(a.verb)) return { allowed: true };
  return { allowed: false, denied: spec.user === 'mallory', reason: `${spec.user} is read-only here` };
}

test.before(async () => {
  kube = await startFakeKube();
  clientCA = generateCA();
  proxyCA = generateCA();
  kube.setConfigMap('kube-system', 'extension-apiserver-authentication', authConfig(['front-proxy-client']));
  kube.tokens.set('tok-erin', { username: 'erin', uid: 'u-erin', groups: ['devs'] });
  kube.tokens.set('tok-mallory', { username: 'mallory', groups: ['devs'] });
  kube.sar = decide;
  gitServer = await startGitServer({ password: 'first-password', requireAuthForRead: true });
  await gitServer.createBareRepo('deploy', { initialFiles: { 'README.md': 'deploy\n' } });
  kube.setSecret(NS, 'deploy-auth', 'kubernetes.io/basic-auth', { username: 'git', password: 'first-password' });
  server = await startServer({
    controllers: true,
    args: ['--kubeconfig', kube.kubeconfigPath, '--authentication-token-webhook-cache-ttl=2s', '--authorization-webhook-cache-authorized-ttl=2s', '--authorization-webhook-cache-unauthorized-ttl=2s'],
  });
  const ca = adminTLS(server).ca;
  const fp = issueClientCert(proxyCA, 'front-proxy-client', []);
  proxy = new HttpClient(server.url, { ca, cert: fp.cert, key: fp.key });
  const adm = issueClientCert(clientCA, 'cluster-admin', ['system:masters']);
  admin = new HttpClient(server.url, { ca, cert: adm.cert, key: adm.key });
  anon = new HttpClient(server.url, { ca });
});
test.after.always(async () => {
  await server?.stop();
  await kube?.close();
  await gitServer?.stop();
});

const reviews = (kind: 'tokenreviews' | 'subjectaccessreviews') => kube.requests.filter((r) => r.path.endsWith(`/${kind}`));
const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

test.serial('the server says it runs in the cluster', (t) => {
  t.true(server.logs.some((l) => l.includes('"mode":"cluster"')));
});

test.serial('bearer tokens go to TokenReview and requests to SubjectAccessReview, each cached for its TTL', async (t) => {
  const tr0 = reviews('tokenreviews').length;
  const sar0 = reviews('subjectaccessreviews').length;
  const r = await anon.get(PR, bearer('tok-erin'));
  t.is(r.status, 200, JSON.stringify(r.body));
  const tr = reviews('tokenreviews').slice(tr0);
  t.is(tr.length, 1);
  t.is(tr[0].body.spec.token, 'tok-erin');
  const sar = reviews('subjectaccessreviews').slice(sar0);
  t.is(sar.length, 1);
  t.deepEqual(sar[0].body.spec, { user: 'erin', uid: 'u-erin', groups: ['devs', 'system:authenticated'], resourceAttributes: { namespace: NS, verb: 'list', group: 'pkg.pkgserver.dev', version: 'v1alpha1', resource: 'packagerevisions' } });
  // the same request again at once: both answers come from the caches
  t.is((await anon.get(PR, bearer('tok-erin'))).status, 200);
  t.is(reviews('tokenreviews').length, tr0 + 1);
  t.is(reviews('subjectaccessreviews').length, sar0 + 1);
  // after the TTL (2 s) both are asked again
  await poll('a second TokenReview after the TTL', async () => {
    t.is((await anon.get(PR, bearer('tok-erin'))).status, 200);
    return reviews('tokenreviews').length > tr0 + 1 && reviews('subjectaccessreviews').length > sar0 + 1 ? true : undefined;
  });
  // an unknown token: 401. kube-apiserver's refusal carries status.error, and kube's cache keeps
  // no answer with an error, so each such request is reviewed again
  const n = reviews('tokenreviews').length;
  t.is((await anon.get(PR, bearer('tok-nobody'))).status, 401);
  t.is((await anon.get(PR, bearer('tok-nobody'))).status, 401);
  t.is(reviews('tokenreviews').length, n + 2);
});

test.serial('a SubjectAccessReview refusal is a 403 with kube\'s message and the reason; a write changes nothing', async (t) => {
  const before = (await admin.get(PR)).body.metadata.resourceVersion;
  const r = await proxy.post(PR, { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name: 'c1.deploy.apps.x.ws' }, spec: {} }, { headers: { 'X-Remote-User': 'frank', 'X-Remote-Group': ['devs', 'system:authenticated'] } });
  t.is(r.status, 403);
  t.is(r.body.message, `packagerevisions.pkg.pkgserver.dev is forbidden: User "frank" cannot create resource "packagerevisions" in API group "pkg.pkgserver.dev" in the namespace "${NS}": frank is read-only here`);
  const denied = await anon.delete(`${PR}/x`, undefined, bearer('tok-mallory'));
  t.is(denied.status, 403);
  t.regex(denied.body.message, /User "mallory" cannot delete resource "packagerevisions".*: mallory is read-only here$/);
  t.is((await admin.get(PR)).body.metadata.resourceVersion, before);
});

test.serial('the front proxy is followed from the ConfigMap: a change of the allowed names applies without a restart', async (t) => {
  const frank = { headers: { 'X-Remote-User': 'frank', 'X-Remote-Group': ['devs'] } };
  t.is((await proxy.get(PR, frank)).status, 200);
  kube.setConfigMap('kube-system', 'extension-apiserver-authentication', authConfig(['another-proxy']));
  await poll('the proxy refused', async () => ((await proxy.get(PR, frank)).status === 401 ? true : undefined));
  kube.setConfigMap('kube-system', 'extension-apiserver-authentication', authConfig(['front-proxy-client']));
  await poll('the proxy accepted again', async () => ((await proxy.get(PR, frank)).status === 200 ? true : undefined));
});

test.serial('client certificates: the cluster\'s client CA, not the generated one', async (t) => {
  const r = await admin.get(PR);
  t.is(r.status, 200);
  const local = issueClientCert(serverCA(server), 'admin', ['system:masters']);
  const byGenerated = new HttpClient(server.url, { ca: adminTLS(server).ca, cert: local.cert, key: local.key });
  t.is((await byGenerated.get(PR)).status, 401);
});

test.serial('the aggregator\'s availability probe and discovery fetch are answered without a review', async (t) => {
  const n = reviews('subjectaccessreviews').length;
  const headers = { 'X-Remote-User': 'system:kube-aggregator', 'X-Remote-Group': 'system:masters' };
  const probe = await proxy.get('/apis/pkg.pkgserver.dev/v1alpha1', { headers });
  t.is(probe.status, 200);
  t.is(probe.body.kind, 'APIResourceList');
  const disc = await proxy.get('/apis', { headers: { ...headers, Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList' } });
  t.is(disc.status, 200);
  t.deepEqual(disc.body.items.map((g: any) => g.metadata.name).sort(), ['config.pkg.pkgserver.dev', 'pkg.pkgserver.dev'], 'the self reviews are kube-apiserver\'s in a cluster');
  t.is(reviews('subjectaccessreviews').length, n, 'system:masters is always allowed');
  t.is((await admin.post('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { nonResourceAttributes: { path: '/apis', verb: 'get' } } })).status, 404);
  // health needs no credentials
  for (const p of ['/livez', '/readyz', '/healthz']) t.is((await anon.get(p)).status, 200, p);
});

test.serial('git credentials come from the Secret in the Repository\'s namespace and follow its rotation', async (t) => {
  const created = await admin.post(REPOS, { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name: 'deploy' }, spec: { deployment: true, git: { url: gitServer.url('deploy'), credentials: 'deploy-auth' } } });
  t.is(created.status, 201, JSON.stringify(created.body));
  const ready = async (reason: string) =>
    poll(`Ready ${reason}`, async () => {
      const c = (await admin.get(`${REPOS}/deploy`)).body.status?.conditions?.find((x: any) => x.type === 'Ready');
      return c?.reason === reason ? c : undefined;
    });
  t.is((await ready('Synced')).status, 'True');
  // the remote's password changes: the sync fails until the Secret follows
  gitServer.setCredentials('git', 'second-password');
  const touch = async (v: string) => admin.patch(`${REPOS}/deploy`, { metadata: { annotations: { 'test/sync': v } } }, 'application/merge-patch+json');
  await touch('1');
  t.is((await ready('AuthenticationFailed')).status, 'False');
  kube.setSecret(NS, 'deploy-auth', 'kubernetes.io/basic-auth', { username: 'git', password: 'second-password' });
  await poll('synced with the rotated password', async () => {
    await touch(String(Date.now()));
    const c = (await admin.get(`${REPOS}/deploy`)).body.status?.conditions?.find((x: any) => x.type === 'Ready');
    return c?.reason === 'Synced' ? true : undefined;
  });
  // a Secret of the same name in another namespace is never used
  t.false(kube.requests.some((r) => r.path.includes('/secrets') && !r.path.includes(`/namespaces/${NS}/`)));
  t.false(server.logs.some((l) => l.includes('second-password') || l.includes('first-password')), 'no password in the logs');
});

