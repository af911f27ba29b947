// Limits, TLS and health on the standalone server: the in-flight limits (429 with Retry-After,
// reads and writes counted apart, watches not counted, system:masters never refused); the serving
// certificate and the client CA re-read when their files change; TLS 1.2 at least; /livez and
// /readyz with named checks.
import test from 'ava';
import https from 'node:https';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateCA, issueClientCert, issueServingCert } from '../src/cli/pki.ts';
import { HttpClient } from './helpers/http.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';
import { policy, userOf, type TestUser } from './helpers/users.ts';

const NS = 'team-a';
const PR = `/apis/pkg.pkgserver.dev/v1alpha1/namespaces/${NS}/packagerevisions`;

/** Starts a request whose body never completes: it holds its in-flight slot until `finish`. */
function hold(user: TestUser, server: ServerHandle, method: string, p: string): { finish(): Promise<number> } {
  const u = new URL(p, server.url);
  const req = https.request({ method, hostname: u.hostname, port: u.port, path: u.pathname, headers: { 'Content-Type': 'application/json', 'Content-Length': '4' }, ca: adminTLS(server).ca, cert: user.cert.cert, key: user.cert.key, agent: false });
  const done = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
  });
  req.write('{');
  return {
    finish: () => {
      req.end('}  ');
      return done;
    },
  };
}

test('in-flight limits: the next request gets 429 with Retry-After; watches and system:masters pass; reads and writes apart', async (t) => {
  const dir = tempDir('limits-');
  writeFileSync(path.join(dir, 'policy.yaml'), policy([{ user: 'bob', role: 'pkgserver-editor', namespace: NS }]));
  const server = await startServer({ args: ['--authorization-policy-file', path.join(dir, 'policy.yaml'), '--max-requests-inflight', '1', '--max-mutating-requests-inflight', '1'] });
  t.teardown(() => server.stop());
  const bob = userOf(server, 'bob');
  const admin = new HttpClient(server.url, adminTLS(server));

  const write = hold(bob, server, 'POST', PR);
  // the write slot is taken once the server has the request; poll until a second write is refused
  const refused = await poll('a 429', async () => {
    const r = await bob.http.post(PR, {});
    return r.status === 429 ? r : undefined;
  });
  t.is(refused.headers['retry-after'], '1');
  t.deepEqual(refused.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Too many requests, please try again later.', reason: 'TooManyRequests', details: { retryAfterSeconds: 1 }, code: 429 });
  t.is((await bob.http.get(PR)).status, 200, 'reads have their own limit');
  t.not((await admin.post(PR, {})).status, 429, 'system:masters is never refused');

  const read = hold(bob, server, 'GET', PR);
  await poll('a read 429', async () => ((await bob.http.get(PR)).status === 429 ? true : undefined));
  const watch = await bob.http.get(`${PR}?watch=true&timeoutSeconds=1`);
  t.is(watch.status, 200, 'a watch is not counted');

  t.is(await write.finish(), 422, 'the held write completes (an empty object is not a valid PackageRevision)');
  t.is(await read.finish(), 200);
  t.not((await bob.http.post(PR, {})).status, 429, 'the slot is free again');
});

test('the serving certificate and the client CA are re-read when their files change; TLS 1.1 is refused', async (t) => {
  const dir = tempDir('tlsreload-');
  const ca = generateCA();
  const users1 = generateCA();
  const users2 = generateCA();
  const write = (name: string, text: string) => {
    writeFileSync(path.join(dir, `${name}.tmp`), text);
    renameSync(path.join(dir, `${name}.tmp`), path.join(dir, name)); // as a Secret volume changes: atomically
  };
  const first = issueServingCert(ca, ['localhost'], ['127.0.0.1']);
  write('tls.crt', first.cert);
  write('tls.key', first.key);
  write('client-ca.crt', users1.cert);
  writeFileSync(path.join(dir, 'policy.yaml'), policy([]));
  const server = await startServer({
    args: ['--tls-cert-file', path.join(dir, 'tls.crt'), '--tls-private-key-file', path.join(dir, 'tls.key'), '--client-ca-file', path.join(dir, 'client-ca.crt'), '--authorization-policy-file', path.join(dir, 'policy.yaml')],
  });
  t.teardown(() => server.stop());
  const u = new URL(server.url);
  const served = () =>
    new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: u.hostname, port: Number(u.port), ca: ca.cert, servername: 'localhost' }, () => {
        resolve(new X509Certificate(s.getPeerX509Certificate()!.raw).fingerprint256);
        s.end();
      });
      s.on('error', reject);
    });
  t.is(await served(), new X509Certificate(first.cert).fingerprint256);

  // users of the first CA get in, users of the second are nobody
  const whoami = (c: { cert: string; key: string }) => new HttpClient(server.url, { ca: ca.cert, ...c }).post('/apis/authentication.k8s.io/v1/selfsubjectreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' });
  const alice = issueClientCert(users1, 'alice', []);
  const bob = issueClientCert(users2, 'bob', []);
  t.is((await whoami(alice)).status, 201);
  t.is((await whoami(bob)).status, 401);

  const second = issueServingCert(ca, ['localhost'], ['127.0.0.1']);
  write('tls.key', second.key);
  write('tls.crt', second.cert);
  await poll('the new serving certificate', async () => ((await served()) === new X509Certificate(second.cert).fingerprint256 ? true : undefined));

  write('client-ca.crt', users2.cert);
  await poll('the new client CA', async () => ((await whoami(bob)).status === 201 ? true : undefined));
  t.is((await whoami(bob)).body.status.userInfo.username, 'bob');
  t.is((await whoami(alice)).status, 401);

  // a broken file keeps the last good one
  write('client-ca.crt', 'not a certificate');
  t.is((await whoami(bob)).status, 201);
  await poll('the reload error logged', async () => (server.logs.some((l) => l.includes('client CA not reloaded')) ? true : undefined));

  // TLS 1.1 and older are refused
  const old = await new Promise<string>((resolve) => {
    const s = tls.connect({ host: u.hostname, port: Number(u.port), ca: ca.cert, servername: 'localhost', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }, () => resolve('connected'));
    s.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
  });
  t.not(old, 'connected');
});

test('health: /livez and /readyz with named checks, ?verbose, ?exclude and one check by name, without credentials', async (t) => {
  const server = await startServer({});
  t.teardown(() => server.stop());
  const anon = new HttpClient(server.url, { ca: adminTLS(server).ca });
  const live = await anon.get('/livez?verbose');
  t.is(live.status, 200);
  t.is(live.body, '[+]ping ok\n[+]store ok\nlivez check passed\n');
  const ready = await anon.get('/readyz?verbose&exclude=shutdown');
  t.is(ready.status, 200);
  t.is(ready.body, '[+]ping ok\n[+]store ok\n[+]watch-cache ok\n[+]shutdown excluded: ok\n[+]controllers ok\nreadyz check passed\n');
  t.is((await anon.get('/readyz')).body, 'ok');
  t.is((await anon.get('/readyz/watch-cache')).body, 'ok');
  t.is((await anon.get('/livez/nope')).status, 404);
});
