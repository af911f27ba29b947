// Certificates for authentication tests: CAs (also intermediate ones) and client certificates
// with any subject, validity, extended key usage or key type, built with node-forge. Subjects can
// hold several attributes in one RDN (O=a+O=b), which forge cannot write by itself, and a leaf
// can have an EC key (forge only knows RSA), so the TBSCertificate is patched and re-signed.
// Also an HTTPS server configured as pkgserver's TLS layer, to authenticate real requests.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import forge from 'node-forge';
import { generateCA, issueServingCert } from '../../src/cli/pki.ts';

const { pki, asn1 } = forge;

export interface Issued {
  /** PEM */
  cert: string;
  /** PEM private key */
  key: string;
  forgeCert: forge.pki.Certificate;
  forgeKey: forge.pki.rsa.PrivateKey;
}

export interface CertOptions {
  /** default: now - 5 min */
  notBefore?: Date;
  /** default: now + 1 day */
  notAfter?: Date;
  /** extended key usages ('clientAuth', 'serverAuth'); null: no extension. Leaf default ['clientAuth'], CA default null */
  eku?: ('clientAuth' | 'serverAuth')[] | null;
  /** use this certificate's RSA key pair instead of a new one */
  reuseKey?: Issued;
}

export interface LeafOptions extends CertOptions {
  cn?: string;
  o?: string[];
  /** the whole subject as RDNs, each a list of [short name, value] pairs (one SET per RDN); overrides cn and o */
  rdns?: [string, string][][];
  /** an EC P-256 key instead of RSA */
  ec?: boolean;
}

const OIDS: Record<string, string> = { CN: '2.5.4.3', O: '2.5.4.10', OU: '2.5.4.11', C: '2.5.4.6', UID: '0.9.2342.19200300.100.1.1' };

function rsaKey(): { pem: string; key: forge.pki.rsa.PrivateKey; pub: forge.pki.rsa.PublicKey } {
  const { privateKey: pem } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const key = pki.privateKeyFromPem(pem);
  return { pem, key, pub: pki.setRsaPublicKey(key.n, key.e) };
}

function serial(): string {
  const b = randomBytes(12);
  b[0] = (b[0] & 0x7f) || 1;
  return b.toString('hex');
}

function utf8(shortName: string, value: string): forge.pki.CertificateField {
  return { type: OIDS[shortName], value, valueTagClass: asn1.Type.UTF8 as number };
}

/** An issuer name equal byte for byte to the CA's subject (forge keeps parsed UTF-8 values raw). */
function nameOf(cert: forge.pki.Certificate): forge.pki.CertificateField[] {
  return cert.subject.attributes.map((a) => ({
    type: a.type,
    value: (a.valueTagClass as number) === asn1.Type.UTF8 ? forge.util.decodeUtf8(String(a.value)) : a.value,
    valueTagClass: a.valueTagClass,
  }));
}

function build(opts: CertOptions & {
  subject: forge.pki.CertificateField[];
  issuer?: Issued;
  ca: boolean;
  rdns?: [string, string][][];
  ec?: boolean;
}): Issued {
  const own = opts.reuseKey
    ? { pem: opts.reuseKey.key, key: opts.reuseKey.forgeKey, pub: pki.setRsaPublicKey(opts.reuseKey.forgeKey.n, opts.reuseKey.forgeKey.e) }
    : rsaKey();
  const cert = pki.createCertificate();
  cert.serialNumber = serial();
  cert.validity.notBefore = opts.notBefore ?? new Date(Date.now() - 5 * 60_000);
  cert.validity.notAfter = opts.notAfter ?? new Date(Date.now() + 24 * 3600_000);
  cert.setSubject(opts.subject);
  cert.setIssuer(opts.issuer ? nameOf(opts.issuer.forgeCert) : opts.subject);
  cert.publicKey = own.pub;
  const eku = opts.eku === undefined ? (opts.ca ? null : ['clientAuth']) : opts.eku;
  const exts: object[] = [
    opts.ca ? { name: 'basicConstraints', cA: true, critical: true } : { name: 'basicConstraints', cA: false, critical: true },
    opts.ca ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true } : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ];
  if (eku) exts.push({ name: 'extKeyUsage', ...Object.fromEntries(eku.map((u) => [u, true])) });
  if (opts.issuer) {
    const ski = opts.issuer.forgeCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string };
    exts.push({ name: 'authorityKeyIdentifier', keyIdentifier: forge.util.hexToBytes(ski.subjectKeyIdentifier) });
  }
  cert.setExtensions(exts);
  const signer = opts.issuer?.forgeKey ?? own.key;
  cert.sign(signer, forge.md.sha256.create());

  let keyPem = own.pem;
  if (opts.rdns || opts.ec) {
    const tbs = cert.tbsCertificate;
    if (opts.rdns) {
      const { UNIVERSAL } = asn1.Class;
      const atv = ([name, value]: [string, string]) =>
        asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, [
          asn1.create(UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(OIDS[name]).getBytes()),
          asn1.create(UNIVERSAL, asn1.Type.UTF8, false, forge.util.encodeUtf8(value)),
        ]);
      const rdns = opts.rdns.map((rdn) => asn1.create(UNIVERSAL, asn1.Type.SET, true, rdn.map(atv)));
      (tbs.value as forge.asn1.Asn1[])[5] = asn1.create(UNIVERSAL, asn1.Type.SEQUENCE, true, rdns);
    }
    if (opts.ec) {
      const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      const spki = ec.publicKey.export({ type: 'spki', format: 'der' });
      (tbs.value as forge.asn1.Asn1[])[6] = asn1.fromDer(forge.util.createBuffer(spki.toString('binary')));
      keyPem = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    }
    const md = forge.md.sha256.create();
    md.update(asn1.toDer(tbs).getBytes());
    cert.signature = signer.sign(md);
  }
  return { cert: pki.certificateToPem(cert), key: keyPem, forgeCert: cert, forgeKey: own.key };
}

/** A CA (self-signed, or an intermediate signed by `issuer`). */
export function makeCA(cn: string, opts: CertOptions & { issuer?: Issued } = {}): Issued {
  return build({ ...opts, subject: [utf8('CN', cn)], ca: true });
}

/** A leaf (client) certificate signed by `issuer`. */
export function makeLeaf(issuer: Issued, opts: LeafOptions = {}): Issued {
  const subject = [...(opts.o ?? []).map((o) => utf8('O', o)), ...(opts.cn !== undefined ? [utf8('CN', opts.cn)] : [])];
  return build({ ...opts, subject, issuer, ca: false });
}

/** DER of a PEM certificate. */
export function der(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

export interface AuthServer {
  url: string;
  /** one request with an optional client certificate; the handler's answer or the error it threw */
  call(opts?: { cert?: string; key?: string; headers?: Record<string, string | string[]> }): Promise<{ result?: any; error?: { name: string; message: string; unknownAuthority?: boolean } }>;
  close(): Promise<void>;
}

/**
 * An HTTPS server set up as pkgserver's (requestCert, rejectUnauthorized false, every client CA
 * trusted at the TLS layer) that runs `handle` on each request and answers its result as JSON.
 */
export async function startAuthServer(handle: (req: IncomingMessage) => Promise<unknown>, clientCAs: string[] = []): Promise<AuthServer> {
  const serverCA = generateCA(1);
  const serving = issueServingCert(serverCA, ['localhost'], ['127.0.0.1'], 1);
  const server = https.createServer({ cert: serving.cert, key: serving.key, requestCert: true, rejectUnauthorized: false, ...(clientCAs.length > 0 && { ca: clientCAs }) }, (req, res) => {
    handle(req).then(
      (result) => res.end(JSON.stringify({ result: result ?? null })),
      (err: Error & { unknownAuthority?: boolean }) => res.end(JSON.stringify({ error: { name: err.name, message: err.message, unknownAuthority: err.unknownAuthority } })),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    call: (opts = {}) =>
      new Promise((resolve, reject) => {
        const req = https.request(url, { ca: serverCA.cert, cert: opts.cert, key: opts.key, headers: opts.headers, agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            resolve(body.result === null ? {} : body);
          });
        });
        req.on('error', reject);
        req.end();
      }),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
