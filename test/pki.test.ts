import test from 'ava';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import forge from 'node-forge';
import { parse } from 'yaml';
import { caBundle, ensurePKI, generateCA, issueServingCert, kubeconfigYAML, type PKIOptions } from '../src/cli/pki.ts';

const OPTIONS: PKIOptions = {
  dnsNames: ['localhost', 'pkgserver.pkgserver-system.svc'],
  ipAddresses: ['127.0.0.1', '::1'],
};

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const tmpDirs: string[] = [];
async function tmpDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pkgserver-pki-'));
  tmpDirs.push(dir);
  return dir;
}

// One PKI generated up front; tests that change it work on a copy of its directory.
let baseDir: string;
let base: Awaited<ReturnType<typeof ensurePKI>>;

test.before(async (t) => {
  baseDir = path.join(await tmpDir(), 'pki');
  const start = performance.now();
  base = await ensurePKI(baseDir, OPTIONS);
  t.log(`full PKI generation: ${(performance.now() - start).toFixed(0)} ms`);
});

test.after.always(async () => {
  await Promise.all(tmpDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function copyOfBase(): Promise<string> {
  const dir = path.join(await tmpDir(), 'pki');
  await cp(baseDir, dir, { recursive: true });
  return dir;
}

function x509(pem: string): X509Certificate {
  return new X509Certificate(pem);
}

test('first run creates a CA that issued the serving and admin certificates', (t) => {
  t.true(base.created);
  const ca = x509(base.files.caCert);
  t.true(ca.ca);
  t.true(ca.checkIssued(ca), 'the CA is self-signed');
  for (const pem of [base.files.servingCert, base.files.adminCert]) {
    const cert = x509(pem);
    t.false(cert.ca);
    t.true(cert.checkIssued(ca));
    t.true(cert.verify(ca.publicKey));
  }
});

test('certificates do not verify against a different CA', (t) => {
  const other = x509(generateCA().cert);
  t.false(x509(base.files.servingCert).verify(other.publicKey));
  t.false(x509(base.files.adminCert).checkIssued(other));
});

test('files on disk match the returned PEMs; keys are 0600', async (t) => {
  for (const [name, file] of Object.entries(base.paths) as [keyof typeof base.files, string][]) {
    t.is(path.dirname(file), baseDir);
    t.is(await readFile(file, 'utf8'), base.files[name]);
  }
  for (const file of [base.paths.caKey, base.paths.servingKey, base.paths.adminKey]) {
    t.is((await stat(file)).mode & 0o777, 0o600, file);
  }
  t.deepEqual(
    Object.values(base.paths).map((p) => path.basename(p)).sort(),
    ['admin.crt', 'admin.key', 'ca.crt', 'ca.key', 'serving.crt', 'serving.key'],
  );
});

test('serving certificate covers every requested name and is for server auth', (t) => {
  const cert = x509(base.files.servingCert);
  const sans = cert.subjectAltName ?? '';
  t.true(sans.includes('DNS:localhost'), sans);
  t.true(sans.includes('DNS:pkgserver.pkgserver-system.svc'), sans);
  t.true(sans.includes('IP Address:127.0.0.1'), sans);
  t.is(cert.checkIP('::1'), '::1', sans);
  t.is(cert.checkHost('pkgserver.pkgserver-system.svc', { subject: 'never' }), 'pkgserver.pkgserver-system.svc');
  t.is(cert.checkHost('other.example.com', { subject: 'never' }), undefined);
  t.deepEqual(cert.keyUsage, [SERVER_AUTH]); // Node reports the *extended* key usage here
});

// Node's X509Certificate does not expose these details, so read them with forge's parser.
test('extensions: critical constraints and key usage, key identifiers, positive serials', (t) => {
  type Ext = Record<string, unknown> & { value: string };
  const ext = (cert: forge.pki.Certificate, name: string) => cert.getExtension(name) as Ext | undefined;

  const ca = forge.pki.certificateFromPem(base.files.caCert);
  t.like(ext(ca, 'basicConstraints'), { critical: true, cA: true });
  t.like(ext(ca, 'keyUsage'), { critical: true, keyCertSign: true, cRLSign: true, digitalSignature: false });
  const caKeyId = String(ext(ca, 'subjectKeyIdentifier')?.subjectKeyIdentifier);
  t.regex(caKeyId, /^[0-9a-f]{40}$/);

  for (const pem of [base.files.caCert, base.files.servingCert, base.files.adminCert]) {
    const serial = forge.pki.certificateFromPem(pem).serialNumber;
    t.is(serial.length, 32);
    const firstByte = parseInt(serial.slice(0, 2), 16);
    t.true(firstByte > 0 && firstByte < 0x80, serial); // positive, minimal DER INTEGER
  }

  for (const pem of [base.files.servingCert, base.files.adminCert]) {
    const leaf = forge.pki.certificateFromPem(pem);
    t.like(ext(leaf, 'basicConstraints'), { critical: true, cA: false });
    t.like(ext(leaf, 'keyUsage'), { critical: true, digitalSignature: true, keyEncipherment: true, keyCertSign: false });
    // authorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier, ... }
    const aki = forge.asn1.fromDer(ext(leaf, 'authorityKeyIdentifier')!.value).value as forge.asn1.Asn1[];
    t.is(forge.util.bytesToHex(aki[0].value as string), caKeyId);
  }
});

test('admin certificate is a client certificate for admin in system:masters', (t) => {
  const cert = x509(base.files.adminCert);
  t.deepEqual(cert.subject.split('\n').sort(), ['CN=admin', 'O=system:masters']);
  t.deepEqual(cert.keyUsage, [CLIENT_AUTH]);
  t.is(cert.subjectAltName, undefined);
});

test('certificate dates: back-dated for clock skew, default validity periods', (t) => {
  const now = Date.now();
  const ca = x509(base.files.caCert);
  const serving = x509(base.files.servingCert);
  const days = (cert: X509Certificate) => (Date.parse(cert.validTo) - now) / 86_400_000;
  t.true(Date.parse(serving.validFrom) < now - 60_000, serving.validFrom);
  t.true(Math.abs(days(serving) - 365) < 1, serving.validTo);
  t.true(Math.abs(days(ca) - 3650) < 1, ca.validTo);
  t.not(serving.serialNumber, x509(base.files.adminCert).serialNumber);
});

test('ensurePKI on an existing directory loads the files unchanged', async (t) => {
  const again = await ensurePKI(baseDir, OPTIONS);
  t.false(again.created);
  t.deepEqual(again.files, base.files);
  t.deepEqual(again.paths, base.paths);
});

test('an extra DNS name re-issues only the serving certificate', async (t) => {
  const dir = await copyOfBase();
  const opts = { ...OPTIONS, dnsNames: [...OPTIONS.dnsNames, 'pkgserver.example.com'] };
  const result = await ensurePKI(dir, opts);
  t.true(result.created);
  const { servingCert, servingKey, ...rest } = result.files;
  const { servingCert: oldCert, servingKey: oldKey, ...oldRest } = base.files;
  t.deepEqual(rest, oldRest);
  t.not(servingCert, oldCert);
  t.not(servingKey, oldKey);
  const cert = x509(servingCert);
  t.is(cert.checkHost('pkgserver.example.com', { subject: 'never' }), 'pkgserver.example.com');
  t.is(cert.checkHost('localhost', { subject: 'never' }), 'localhost');
  t.true(cert.verify(x509(rest.caCert).publicKey));
  t.is(await readFile(result.paths.servingCert, 'utf8'), servingCert);
  // A subset of the names now covered needs nothing new.
  t.false((await ensurePKI(dir, OPTIONS)).created);
});

test('a different admin user re-issues only the admin certificate', async (t) => {
  const dir = await copyOfBase();
  const result = await ensurePKI(dir, { ...OPTIONS, adminUser: 'alice', adminGroups: ['dev', 'ops'] });
  t.true(result.created);
  t.is(result.files.caCert, base.files.caCert);
  t.is(result.files.servingCert, base.files.servingCert);
  const cert = x509(result.files.adminCert);
  t.deepEqual(cert.subject.split('\n').sort(), ['CN=alice', 'O=dev', 'O=ops']);
  t.true(cert.checkIssued(x509(base.files.caCert)));
});

test('a serving key that does not match its certificate is replaced', async (t) => {
  const dir = await copyOfBase();
  // As if a crash had happened between writing a new key and its certificate.
  await writeFile(path.join(dir, 'serving.key'), base.files.adminKey);
  const result = await ensurePKI(dir, OPTIONS);
  t.true(result.created);
  t.is(result.files.caKey, base.files.caKey);
  t.not(result.files.servingCert, base.files.servingCert);
  t.true(x509(result.files.servingCert).checkPrivateKey(createPrivateKey(result.files.servingKey)));
});

test('a missing CA key regenerates everything', async (t) => {
  const dir = await copyOfBase();
  await rm(path.join(dir, 'ca.key'));
  const result = await ensurePKI(dir, OPTIONS);
  t.true(result.created);
  t.not(result.files.caCert, base.files.caCert);
  const ca = x509(result.files.caCert);
  t.true(x509(result.files.servingCert).checkIssued(ca));
  t.true(x509(result.files.adminCert).checkIssued(ca));
});

test('an unparseable file is reported, not overwritten', async (t) => {
  const dir = await copyOfBase();
  await writeFile(path.join(dir, 'ca.crt'), 'not a certificate');
  await t.throwsAsync(ensurePKI(dir, OPTIONS), { message: /ca\.crt/ });
  t.is(await readFile(path.join(dir, 'ca.crt'), 'utf8'), 'not a certificate');
});

test('invalid IP addresses are rejected', (t) => {
  const ca = { cert: base.files.caCert, key: base.files.caKey };
  t.throws(() => issueServingCert(ca, [], ['300.1.1.1']), { message: /invalid IP address/ });
  t.throws(() => issueServingCert(ca, [], []), { message: /at least one/ });
});

test('TLS round trip authenticates the admin client certificate', async (t) => {
  const { files } = base;
  const server = https.createServer(
    { key: files.servingKey, cert: files.servingCert, ca: files.caCert, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const socket = req.socket as TLSSocket;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ authorized: socket.authorized, cn: socket.getPeerCertificate().subject?.CN ?? null }));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;

  // The client verifies the server too: `ca` plus the default rejectUnauthorized and a check of
  // 127.0.0.1 against the certificate's IP SANs.
  const get = (clientCert?: { cert: string; key: string }) =>
    new Promise<{ authorized: boolean; cn: string | null }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path: '/', ca: files.caCert, agent: false, ...clientCert }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(JSON.parse(body)));
      });
      req.on('error', reject);
      req.end();
    });

  t.deepEqual(await get({ cert: files.adminCert, key: files.adminKey }), { authorized: true, cn: 'admin' });
  t.deepEqual(await get(), { authorized: false, cn: null });
});

test('kubeconfig embeds the CA and client credentials', (t) => {
  const yaml = kubeconfigYAML({
    server: 'https://127.0.0.1:6443',
    caCert: base.files.caCert,
    clientCert: base.files.adminCert,
    clientKey: base.files.adminKey,
    namespace: 'team-a',
  });
  const config = parse(yaml);
  const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
  t.is(config.apiVersion, 'v1');
  t.is(config.kind, 'Config');
  t.is(config['current-context'], 'pkgserver');
  t.deepEqual(config.contexts, [{ name: 'pkgserver', context: { cluster: 'pkgserver', user: 'pkgserver-admin', namespace: 'team-a' } }]);
  t.is(config.clusters[0].name, 'pkgserver');
  t.is(config.clusters[0].cluster.server, 'https://127.0.0.1:6443');
  t.is(decode(config.clusters[0].cluster['certificate-authority-data']), base.files.caCert);
  t.is(config.users[0].name, 'pkgserver-admin');
  t.is(decode(config.users[0].user['client-certificate-data']), base.files.adminCert);
  t.is(decode(config.users[0].user['client-key-data']), base.files.adminKey);
  // Base64 values stay on one line each.
  t.true(yaml.split('\n').some((line) => line.trim() === `certificate-authority-data: ${caBundle(base.files.caCert)}`));
});

test('kubeconfig names can be overridden', (t) => {
  const config = parse(
    kubeconfigYAML({
      server: 'https://pkgserver.example.com',
      caCert: base.files.caCert,
      clientCert: base.files.adminCert,
      clientKey: base.files.adminKey,
      clusterName: 'c',
      userName: 'u',
      contextName: 'x',
    }),
  );
  t.is(config['current-context'], 'x');
  t.deepEqual(config.contexts[0], { name: 'x', context: { cluster: 'c', user: 'u' } });
  t.is(config.clusters[0].name, 'c');
  t.is(config.users[0].name, 'u');
});

test('caBundle is the base64 of the CA PEM', (t) => {
  const bundle = caBundle(base.files.caCert);
  t.regex(bundle, /^[A-Za-z0-9+/]+=*$/);
  t.is(Buffer.from(bundle, 'base64').toString('utf8'), base.files.caCert);
});
