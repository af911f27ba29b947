// Authentication on the standalone server, end to end over HTTPS:
// - the front proxy: requests shaped exactly as kube-apiserver's aggregator sends them (its client
//   certificate, X-Remote-User, repeated X-Remote-Group, escaped X-Remote-Extra-*, X-Remote-Uid)
//   act as that user: publishedBy, the distinct-approver rule, git authors and the audit log all
//   name the user; the same headers from an ordinary client certificate or from a proxy
//   certificate whose CN is not allowed change nothing;
// - bearer tokens: the static token file, and JWTs signed here with a local key set (valid,
//   expired, not yet valid, wrong issuer, wrong audience, bad signature);
// - the audit log: one ResponseComplete event per request in kube's shape, with the Audit-ID the
//   response carried;
// - no secret (git password, token, private key) in the logs, the audit log, any response, the
//   store or git.
import test from 'ava';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { generateCA, issueClientCert, type CertAndKey } from '../src/cli/pki.ts';
import { git, startGitServer, type GitServer } from './helpers/gitserver.ts';
import { HttpClient, type HttpResponse } from './helpers/http.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';
import { policy, serverCA, userOf } from './helpers/users.ts';

const NS = 'team-a';
const PR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisions`;
const WHOAMI = '/apis/authentication.k8s.io/v1/selfsubjectreviews';
const ISSUER = 'https://issuer.example.com';
const GIT_PASSWORD = 'git-Secret-Pa55word-7f3a';
const STATIC_TOKEN = 'static-Token-0b9e2c77d41a';
const SECRETS: string[] = [GIT_PASSWORD, STATIC_TOKEN];

let server: ServerHandle;
let admin: HttpClient;
let proxy: HttpClient; // the front proxy's certificate (CN front-proxy-client)
let rogueProxy: HttpClient; // same CA, CN not allowed
let anon: HttpClient;
let gitServer: GitServer;
let audit: string;
let signingKey: CryptoKey;
let otherKey: CryptoKey;
let proxyCA: CertAndKey;

test.before(async () => {
  const dir = tempDir('authn-');
  // the front proxy's own CA, separate from the client CA (as kube's docs require)
  proxyCA = generateCA();
  writeFileSync(path.join(dir, 'front-proxy-ca.crt'), proxyCA.cert);
  // static tokens, kube's CSV
  writeFileSync(path.join(dir, 'tokens.csv'), `${STATIC_TOKEN},carol,uid-carol,"devs,ops"\n`);
  // a JWKS with one RSA key; the JWTs are signed here
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  signingKey = privateKey as CryptoKey;
  otherKey = (await generateKeyPair('RS256')).privateKey as CryptoKey;
  writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] }));
  // the git remote needs a password
  gitServer = await startGitServer({ password: GIT_PASSWORD, requireAuthForRead: true });
  await gitServer.createBareRepo('deploy');
  writeFileSync(path.join(dir, 'credentials.yaml'), `deploy-auth: {username: git, password: ${GIT_PASSWORD}}\n`);
  writeFileSync(
    path.join(dir, 'policy.yaml'),
    policy([
      { user: 'alice', role: 'pkgserver-approver', namespace: NS },
      { user: 'bob', role: 'pkgserver-approver', namespace: NS },
      { user: 'carol', role: 'pkgserver-viewer', namespace: NS },
      { user: 'oidc:dave@example.com', role: 'pkgserver-viewer', namespace: NS },
    ]),
  );
  audit = path.join(dir, 'audit', 'audit.log');
  server = await startServer({
    args: [
      '--authorization-policy-file', path.join(dir, 'policy.yaml'),
      '--requestheader-client-ca-file', path.join(dir, 'front-proxy-ca.crt'),
      '--requestheader-allowed-names', 'front-proxy-client',
      '--requestheader-username-headers', 'X-Remote-User',
      '--requestheader-group-headers', 'X-Remote-Group',
      '--requestheader-extra-headers-prefix', 'X-Remote-Extra-',
      '--requestheader-uid-headers', 'X-Remote-Uid',
      '--token-auth-file', path.join(dir, 'tokens.csv'),
      '--oidc-issuer-url', ISSUER,
      '--oidc-client-id', 'pkgserver',
      '--oidc-jwks-file', path.join(dir, 'jwks.json'),
      '--oidc-username-claim', 'email',
      '--oidc-username-prefix', 'oidc:',
      '--oidc-groups-claim', 'groups',
      '--oidc-groups-prefix', 'oidc:',
      '--credentials-file', path.join(dir, 'credentials.yaml'),
      '--audit-log-path', audit,
    ],
  });
  const tls = adminTLS(server);
  admin = new HttpClient(server.url, tls);
  anon = new HttpClient(server.url, { ca: tls.ca });
  const fp = issueClientCert(proxyCA, 'front-proxy-client', []);
  proxy = new HttpClient(server.url, { ca: tls.ca, cert: fp.cert, key: fp.key });
  const rogue = issueClientCert(proxyCA, 'not-the-proxy', []);
  rogueProxy = new HttpClient(server.url, { ca: tls.ca, cert: rogue.cert, key: rogue.key });
  SECRETS.push(serverCA(server).key.split('\n')[1], fp.key.split('\n')[1], tls.key.split('\n')[1]);
  const r = await admin.post(`/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories`, {
    apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
    kind: 'Repository',
    metadata: { name: 'deploy' },
    spec: { deployment: true, git: { url: gitServer.url('deploy'), credentials: 'deploy-auth' }, approval: { requireDistinctApprover: true } },
  });
  if (r.status !== 201) throw new Error(JSON.stringify(r.body));
});
test.after.always(async () => {
  await server?.stop();
  await gitServer?.stop();
});

/** The headers kube-apiserver's proxy sets for a user (client-go SetAuthProxyHeaders). */
function asUser(user: string, groups: string[], extra: Record<string, string[]> = {}, uid?: string): Record<string, string | string[]> {
  const h: Record<string, string | string[]> = { 'X-Remote-User': user, 'X-Remote-Group': groups };
  if (uid) h['X-Remote-Uid'] = uid;
  for (const [k, v] of Object.entries(extra)) h[`X-Remote-Extra-${encodeURIComponent(k)}`] = v;
  return h;
}

const whoami = (c: HttpClient, headers: Record<string, string | string[]> = {}) =>
  c.post(WHOAMI, { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }, { headers });

function auditEvents(): any[] {
  try {
    return readFileSync(audit, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

async function auditOf(r: HttpResponse): Promise<any> {
  const id = r.headers['audit-id'];
  return poll(`the audit event ${id}`, async () => auditEvents().find((e) => e.auditID === id && e.stage === 'ResponseComplete'));
}

test.serial('front proxy: the aggregator\'s headers are the user (uid, groups, escaped extra keys)', async (t) => {
  const r = await whoami(proxy, asUser('alice', ['devs', 'system:authenticated'], { 'acme.com/project': ['p1', 'p2'], scopes: ['read'] }, 'uid-alice'));
  t.is(r.status, 201, JSON.stringify(r.body));
  t.deepEqual(r.body.status.userInfo, { username: 'alice', uid: 'uid-alice', groups: ['devs', 'system:authenticated'], extra: { 'acme.com/project': ['p1', 'p2'], scopes: ['read'] } });
  const ev = await auditOf(r);
  t.deepEqual(ev.user, { username: 'alice', uid: 'uid-alice', groups: ['devs', 'system:authenticated'], extra: { 'acme.com/project': ['p1', 'p2'], scopes: ['read'] } });
  t.is(ev.verb, 'create');
  t.is(ev.responseStatus.code, 201);
});

test.serial('front proxy: publishedBy, the distinct approver rule, git authors and the audit log name the user', async (t) => {
  const name = 'c1.deploy.apps.web.ws';
  const created = await proxy.post(PR, { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name }, spec: { packageRevID: { target: 'c1', repository: 'deploy', realm: 'apps', package: 'web', workspace: 'ws' }, tasks: [{ type: 'init' }] } }, { headers: asUser('alice', ['devs']) });
  t.is(created.status, 201, JSON.stringify(created.body));
  const proposed = await proxy.patch(`${PR}/${name}`, { spec: { lifecycle: 'proposed' } }, 'application/merge-patch+json', { headers: asUser('alice', ['devs']) });
  t.is(proposed.status, 200);
  t.is(proposed.body.metadata.annotations['pkg.pkgserver.dev/proposed-by'], 'alice');
  const remote = path.join(gitServer.root, 'deploy.git');
  t.is((await git(remote, 'log', '-1', '--format=%an', 'proposed/c1/apps/web/ws')).trim(), 'alice', 'the draft\'s commits are alice\'s');
  // alice may approve in general, but not what she proposed herself
  const self = await proxy.patch(`${PR}/${name}`, { spec: { lifecycle: 'published' } }, 'application/merge-patch+json', { headers: asUser('alice', ['devs']) });
  t.is(self.status, 422);
  t.regex(self.body.message, /requires a distinct approver: user "alice" proposed this revision/);
  const ok = await proxy.patch(`${PR}/${name}`, { spec: { lifecycle: 'published' } }, 'application/merge-patch+json', { headers: asUser('bob', ['devs']) });
  t.is(ok.status, 200, JSON.stringify(ok.body));
  t.is(ok.body.status.publishedBy, 'bob');
  const ev = await auditOf(ok);
  t.is(ev.user.username, 'bob');
  t.deepEqual(ev.objectRef, { resource: 'packagerevisions', namespace: NS, name, apiGroup: 'pkg.pkgserver.dev', apiVersion: 'v1alpha1' });
  t.is(ev.verb, 'patch');
  t.is(ev.annotations['authorization.k8s.io/decision'], 'allow');
  // git: the publish commit's author is bob
  t.is((await git(remote, 'log', '-1', '--format=%an', 'c1/apps/web/v1')).trim(), 'bob');
});

test.serial('the proxy headers from anyone else change nothing', async (t) => {
  const mallory = userOf(server, 'mallory', ['devs']);
  const before = (await admin.get(PR)).body.metadata.resourceVersion;
  // an ordinary client certificate stays its own user, whatever headers it sends
  const r = await whoami(mallory.http, asUser('bob', ['system:masters']));
  t.is(r.status, 201);
  t.is(r.body.status.userInfo.username, 'mallory');
  t.deepEqual(r.body.status.userInfo.groups, ['devs', 'system:authenticated']);
  const write = await mallory.http.post(PR, { apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', metadata: { name: 'c1.deploy.apps.x.ws' }, spec: {} }, { headers: asUser('bob', ['system:masters']) });
  t.is(write.status, 403);
  t.regex(write.body.message, /User "mallory" cannot create resource "packagerevisions"/);
  // a certificate from the proxy's CA with a CN that is not allowed is nobody
  const rogue = await whoami(rogueProxy, asUser('bob', ['system:masters']));
  t.is(rogue.status, 401);
  t.is((await rogueProxy.get(PR, { headers: asUser('bob', ['system:masters']) })).status, 401);
  // the proxy's certificate without a user header is nobody either
  t.is((await proxy.get(PR)).status, 401);
  t.is((await admin.get(PR)).body.metadata.resourceVersion, before, 'nothing was written');
  const ev = await auditOf(write);
  t.is(ev.user.username, 'mallory');
  t.is(ev.responseStatus.code, 403);
  t.is(ev.annotations['authorization.k8s.io/decision'], 'forbid');
});

test.serial('an impersonated request is audited with both users', async (t) => {
  const r = await whoami(admin, { 'Impersonate-User': 'alice', 'Impersonate-Group': 'devs' });
  t.is(r.status, 201);
  t.is(r.body.status.userInfo.username, 'alice');
  const ev = await auditOf(r);
  t.is(ev.user.username, 'admin');
  t.deepEqual(ev.impersonatedUser, { username: 'alice', groups: ['devs', 'system:authenticated'] });
});

test.serial('static token file: a known token is its user; unknown or malformed tokens are 401', async (t) => {
  const r = await whoami(anon, { Authorization: `Bearer ${STATIC_TOKEN}` });
  t.is(r.status, 201, JSON.stringify(r.body));
  t.deepEqual(r.body.status.userInfo, { username: 'carol', uid: 'uid-carol', groups: ['devs', 'ops', 'system:authenticated'] });
  t.is((await anon.get(PR, { headers: { Authorization: `Bearer ${STATIC_TOKEN}` } })).status, 200, 'carol is a viewer in team-a');
  for (const h of [`Bearer ${STATIC_TOKEN}x`, 'Bearer ', `Basic ${Buffer.from(`carol:${STATIC_TOKEN}`).toString('base64')}`]) {
    const bad = await anon.get(PR, { headers: { Authorization: h } });
    t.is(bad.status, 401, h.slice(0, 12));
    t.deepEqual(bad.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
  }
});

async function jwt(claims: Record<string, unknown>, opts: { key?: CryptoKey; iss?: string; aud?: string; exp?: number; nbf?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ email: 'dave@example.com', email_verified: true, groups: ['readers'], ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(opts.iss ?? ISSUER)
    .setAudience(opts.aud ?? 'pkgserver')
    .setSubject('dave')
    .setIssuedAt(now - 60)
    .setNotBefore(opts.nbf ?? now - 60)
    .setExpirationTime(opts.exp ?? now + 600)
    .sign(opts.key ?? signingKey);
}

test.serial('JWTs: a valid token is its user with prefixes; expired, early, wrong issuer or audience, bad signature are 401', async (t) => {
  const good = await jwt({});
  SECRETS.push(good);
  const r = await whoami(anon, { Authorization: `Bearer ${good}` });
  t.is(r.status, 201, JSON.stringify(r.body));
  t.deepEqual(r.body.status.userInfo, { username: 'oidc:dave@example.com', groups: ['oidc:readers', 'system:authenticated'] });
  t.is((await anon.get(PR, { headers: { Authorization: `Bearer ${good}` } })).status, 200);
  const now = Math.floor(Date.now() / 1000);
  const bad: [string, string][] = [
    ['expired', await jwt({}, { exp: now - 600 })],
    ['not yet valid', await jwt({}, { nbf: now + 600 })],
    ['wrong issuer', await jwt({}, { iss: 'https://evil.example.com' })],
    ['wrong audience', await jwt({}, { aud: 'someone-else' })],
    ['bad signature', await jwt({}, { key: otherKey })],
    ['email not verified', await jwt({ email_verified: false })],
  ];
  for (const [what, token] of bad) {
    const res = await anon.get(PR, { headers: { Authorization: `Bearer ${token}` } });
    t.is(res.status, 401, what);
  }
  // the token's body tampered with: the signature no longer holds
  const [h, , s] = good.split('.');
  const forged = `${h}.${Buffer.from(JSON.stringify({ iss: ISSUER, aud: 'pkgserver', email: 'admin@example.com', email_verified: true, exp: now + 600 })).toString('base64url')}.${s}`;
  t.is((await anon.get(PR, { headers: { Authorization: `Bearer ${forged}` } })).status, 401);
});

test.serial('every request gets an Audit-ID and one ResponseComplete event at Metadata level, failures included', async (t) => {
  const r = await admin.get(`${PR}?limit=1`);
  const ev = await auditOf(r);
  t.is(ev.kind, 'Event');
  t.is(ev.apiVersion, 'audit.k8s.io/v1');
  t.is(ev.level, 'Metadata');
  t.is(ev.stage, 'ResponseComplete');
  t.is(ev.requestURI, `${PR}?limit=1`);
  t.is(ev.verb, 'list');
  t.deepEqual(ev.user, { username: 'admin', groups: ['system:masters', 'system:authenticated'] });
  t.true(ev.sourceIPs.includes('127.0.0.1'));
  t.deepEqual(ev.objectRef, { resource: 'packagerevisions', namespace: NS, apiGroup: 'pkg.pkgserver.dev', apiVersion: 'v1alpha1' });
  t.deepEqual(ev.responseStatus, { metadata: {}, code: 200 });
  t.regex(ev.requestReceivedTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  t.regex(ev.stageTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  t.true(ev.stageTimestamp >= ev.requestReceivedTimestamp);
  t.false('requestObject' in ev || 'responseObject' in ev, 'no bodies at Metadata level');
  // a 401 is audited too, without a user
  const u = await anon.get(PR);
  const ev401 = await auditOf(u);
  t.is(ev401.responseStatus.code, 401);
  // a watch: ResponseStarted when it starts, ResponseComplete when it ends
  const w = await admin.get(`${PR}?watch=true&timeoutSeconds=1`);
  const id = w.headers['audit-id'];
  await poll('watch events', async () => (auditEvents().filter((e) => e.auditID === id).length === 2 ? true : undefined));
  t.deepEqual(auditEvents().filter((e) => e.auditID === id).map((e) => [e.stage, e.verb]), [['ResponseStarted', 'watch'], ['ResponseComplete', 'watch']]);
});

test.serial('no secret appears in logs, the audit log, responses, the store or git', async (t) => {
  // a failing request that names the credentials: the remote refuses a wrong password
  const r = await admin.get(`/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/repositories/deploy`);
  const bodies = JSON.stringify(r.body);
  const texts: [string, string][] = [
    ['server log', server.logs.join('\n')],
    ['audit log', readFileSync(audit, 'utf8')],
    ['responses', bodies],
  ];
  // every file the server wrote (store, git mirrors, policy), except the PKI it generated
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
  for (const f of walk(server.dataDir)) if (!f.includes(`${path.sep}pki${path.sep}`) && !f.endsWith('kubeconfig')) texts.push([path.relative(server.dataDir, f), readFileSync(f).toString('latin1')]);
  // git: every commit, tag and file content of the remote (objects are compressed on disk)
  const remote = path.join(gitServer.root, 'deploy.git');
  texts.push(['git history', await git(remote, 'log', '--all', '-p', '--format=%H %an <%ae> %cn <%ce>%n%B')]);
  texts.push(['git refs', await git(remote, 'for-each-ref')]);
  t.true(texts.length > 5);
  for (const secret of SECRETS) for (const [where, text] of texts) t.false(text.includes(secret), `a secret (${secret.slice(0, 6)}…) appears in ${where}`);
});
