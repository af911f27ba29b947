// PKI for pkgserver: a private CA, a serving certificate, an admin client certificate and a
// kubeconfig that uses them. The server never runs without TLS or client authentication, so the
// first start generates all of this in the data directory; `pkgserver certs` writes the same
// files for other names (e.g. a Service DNS name inside a cluster).
//
// Certificates are built and signed with node-forge. RSA keys come straight from Node's native
// crypto (forge's pure-JavaScript generator needs seconds per 2048-bit key).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import forge from 'node-forge';
import { stringify } from 'yaml';

const { pki } = forge;

export interface PKIOptions {
  dnsNames: string[];
  ipAddresses: string[];
  /** CN of the admin client certificate; default "admin". */
  adminUser?: string;
  /** One O per group in the admin client certificate; default ["system:masters"]. */
  adminGroups?: string[];
  /** Validity of the serving and admin certificates; default 365. */
  validityDays?: number;
  /** Validity of the CA; default 3650. */
  caValidityDays?: number;
}

/** PEM strings. */
export interface PKIFiles {
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
}

/** A PEM certificate and its PEM (PKCS#1) RSA private key. */
export interface CertAndKey {
  cert: string;
  key: string;
}

const FILE_NAMES: Record<keyof PKIFiles, string> = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  servingCert: 'serving.crt',
  servingKey: 'serving.key',
  adminCert: 'admin.crt',
  adminKey: 'admin.key',
};

const DAY_MS = 24 * 60 * 60 * 1000;
/** notBefore is back-dated by this much so peers with a slightly slow clock accept new certs. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

const DEFAULT_ADMIN_USER = 'admin';
const DEFAULT_ADMIN_GROUPS = ['system:masters'];
const DEFAULT_VALIDITY_DAYS = 365;
const DEFAULT_CA_VALIDITY_DAYS = 3650;

type Attribute = forge.pki.CertificateField;

/** A parsed certificate with its private key. */
interface ParsedPair {
  cert: forge.pki.Certificate;
  key: forge.pki.rsa.PrivateKey;
}

// ---------------------------------------------------------------------------------------------
// Certificate construction

/** A fresh RSA 2048 key pair from Node's native generator, as PKCS#1 PEM and forge objects. */
function newKeyPair(): { pem: string; privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey: pem } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicExponent: 0x10001,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const privateKey = pki.privateKeyFromPem(pem);
  return { pem, privateKey, publicKey: pki.setRsaPublicKey(privateKey.n, privateKey.e) };
}

/**
 * A random 128-bit serial number, hex encoded. The first byte is kept in 0x01..0x7f so the DER
 * INTEGER is positive and minimally encoded (forge writes the hex bytes verbatim).
 */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) || 0x01;
  return bytes.toString('hex');
}

/**
 * A subject/issuer attribute encoded as UTF8String. forge defaults to PrintableString, which
 * cannot hold characters such as '@' or '_' and which Go's x509 parser (kubectl, kube-apiserver)
 * rejects when they appear.
 */
function utf8Attr(shortName: 'CN' | 'O', value: string): Attribute {
  // @types/node-forge mistypes valueTagClass as asn1.Class; forge expects an asn1.Type.
  return { shortName, value, valueTagClass: forge.asn1.Type.UTF8 as number };
}

/** The text of a parsed attribute; forge keeps parsed values as raw (UTF-8) bytes. */
function attrText(attr: Attribute): string {
  const value = String(attr.value ?? '');
  return (attr.valueTagClass as number) === forge.asn1.Type.UTF8 ? forge.util.decodeUtf8(value) : value;
}

/**
 * The issuer name for certificates signed by `ca`: its subject, with UTF-8 values decoded so that
 * forge re-encodes them to the same bytes (it UTF-8 encodes UTF8String values when writing).
 */
function issuerOf(ca: forge.pki.Certificate): Attribute[] {
  return ca.subject.attributes.map((attr) => ({ ...attr, value: attrText(attr) }));
}

/** The key identifier of `ca` for the authorityKeyIdentifier extension, as bytes. */
function keyIdentifierOf(ca: forge.pki.Certificate): string {
  const ext = ca.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  return ext?.subjectKeyIdentifier !== undefined
    ? forge.util.hexToBytes(ext.subjectKeyIdentifier)
    : ca.generateSubjectKeyIdentifier().getBytes();
}

/** Builds and signs a certificate; returns it as PEM. */
function signCertificate(spec: {
  subject: Attribute[];
  issuer: Attribute[];
  publicKey: forge.pki.rsa.PublicKey;
  signingKey: forge.pki.rsa.PrivateKey;
  days: number;
  extensions: object[];
}): string {
  const cert = pki.createCertificate();
  cert.serialNumber = randomSerial();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - CLOCK_SKEW_MS);
  cert.validity.notAfter = new Date(now + spec.days * DAY_MS);
  cert.setSubject(spec.subject);
  cert.setIssuer(spec.issuer);
  // The public key must be set before the extensions: subjectKeyIdentifier is derived from it.
  cert.publicKey = spec.publicKey;
  cert.setExtensions(spec.extensions);
  cert.sign(spec.signingKey, forge.md.sha256.create());
  return pki.certificateToPem(cert);
}

/** Parses a CA given as PEM and checks that the key belongs to the certificate. */
function parseCA(ca: CertAndKey): ParsedPair {
  const parsed = parsePair(ca);
  if (!keyMatches(parsed)) throw new Error('CA private key does not match the CA certificate');
  return parsed;
}

function parsePair(pair: CertAndKey): ParsedPair {
  return { cert: pki.certificateFromPem(pair.cert), key: pki.privateKeyFromPem(pair.key) };
}

function keyMatches({ cert, key }: ParsedPair): boolean {
  const publicKey = cert.publicKey as forge.pki.rsa.PublicKey;
  return publicKey.n.equals(key.n) && publicKey.e.equals(key.e);
}

/** Issues a leaf certificate (serving or client) with a new key, signed by `ca`. */
function issueLeaf(ca: CertAndKey, subject: Attribute[], usage: 'serverAuth' | 'clientAuth', days: number, extra: object[]): CertAndKey {
  const issuer = parseCA(ca);
  const { pem, publicKey } = newKeyPair();
  const cert = signCertificate({
    subject,
    issuer: issuerOf(issuer.cert),
    publicKey,
    signingKey: issuer.key,
    days,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', [usage]: true },
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: keyIdentifierOf(issuer.cert) },
      ...extra,
    ],
  });
  return { cert, key: pem };
}

/**
 * The canonical text form of an IP address (IPv6 compressed, lower case), or an error for
 * anything else. Also rewrites IPv4-mapped IPv6 in dotted form (::ffff:1.2.3.4), which forge
 * cannot encode, to pure hex.
 */
function canonicalIP(ip: string): string {
  const version = isIP(ip);
  try {
    if (version === 4) return new URL(`http://${ip}/`).hostname;
    if (version === 6) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    // e.g. an IPv6 zone ("fe80::1%eth0"), which net.isIP accepts but a certificate cannot hold
  }
  throw new Error(`invalid IP address for a certificate: "${ip}"`);
}

/** Requested names, de-duplicated: DNS names compared case-insensitively, IPs canonicalised. */
function normalizeNames(dnsNames: string[], ipAddresses: string[]): { dns: string[]; ips: string[] } {
  const dns = [...new Map(dnsNames.map((name) => [name.toLowerCase(), name])).values()];
  const ips = [...new Set(ipAddresses.map(canonicalIP))];
  return { dns, ips };
}

// ---------------------------------------------------------------------------------------------
// Public issuing API

/** A new self-signed CA (RSA 2048, SHA-256), valid for `days` (default 3650). */
export function generateCA(days: number = DEFAULT_CA_VALIDITY_DAYS): CertAndKey {
  const { pem, privateKey, publicKey } = newKeyPair();
  // The timestamp tells a regenerated CA apart from the one it replaced.
  const subject = [utf8Attr('CN', `pkgserver-ca@${Math.floor(Date.now() / 1000)}`)];
  const cert = signCertificate({
    subject,
    issuer: subject,
    publicKey,
    signingKey: privateKey,
    days,
    extensions: [
      // pathLen 0: this CA only ever signs leaf certificates.
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ],
  });
  return { cert, key: pem };
}

/** A TLS server certificate signed by `ca`, valid for every given DNS name and IP address. */
export function issueServingCert(ca: CertAndKey, dnsNames: string[], ipAddresses: string[], days: number = DEFAULT_VALIDITY_DAYS): CertAndKey {
  const { dns, ips } = normalizeNames(dnsNames, ipAddresses);
  if (dns.length + ips.length === 0) throw new Error('a serving certificate needs at least one DNS name or IP address');
  const altNames = [...dns.map((value) => ({ type: 2, value })), ...ips.map((ip) => ({ type: 7, ip }))];
  // Clients match the host against the subjectAltName only, so the CN is just a label.
  return issueLeaf(ca, [utf8Attr('CN', 'pkgserver')], 'serverAuth', days, [{ name: 'subjectAltName', altNames }]);
}

/**
 * A TLS client certificate signed by `ca`. Kubernetes authenticates it as user `commonName`
 * in the groups `organizations`.
 */
export function issueClientCert(ca: CertAndKey, commonName: string, organizations: string[], days: number = DEFAULT_VALIDITY_DAYS): CertAndKey {
  const subject = [...new Set(organizations)].map((group) => utf8Attr('O', group));
  subject.push(utf8Attr('CN', commonName));
  return issueLeaf(ca, subject, 'clientAuth', days, []);
}

// ---------------------------------------------------------------------------------------------
// Files

/** `caBundle` value for an APIService: the CA certificate PEM, base64 encoded. */
export function caBundle(caCertPem: string): string {
  return Buffer.from(caCertPem, 'utf8').toString('base64');
}

/**
 * Writes `data` to `file` through a temporary file in the same directory, flushed to disk before
 * it is renamed over the target, so a crash leaves either the old file or the complete new one.
 */
async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Parses a stored pair; files that exist but cannot be parsed are an error, not regenerated. */
function parseStored(pair: Partial<CertAndKey>, certPath: string): ParsedPair | undefined {
  if (pair.cert === undefined || pair.key === undefined) return undefined;
  try {
    return parsePair(pair as CertAndKey);
  } catch (err) {
    throw new Error(`cannot use ${certPath} and its key (${(err as Error).message}); remove them to have them regenerated`);
  }
}

function currentlyValid(cert: forge.pki.Certificate, now: Date): boolean {
  return cert.validity.notBefore <= now && now < cert.validity.notAfter;
}

/** Whether a stored leaf pair is still good: its own key, signed by `ca`, not expired. */
function leafUsable(leaf: ParsedPair, ca: ParsedPair, now: Date): boolean {
  let signed: boolean;
  try {
    signed = ca.cert.verify(leaf.cert);
  } catch {
    signed = false; // forge throws when the issuer name differs from the CA's subject
  }
  return signed && keyMatches(leaf) && currentlyValid(leaf.cert, now);
}

function coversNames(cert: forge.pki.Certificate, dns: string[], ips: string[]): boolean {
  const ext = cert.getExtension('subjectAltName') as { altNames?: { type: number; value: string; ip?: string }[] } | undefined;
  const altNames = ext?.altNames ?? [];
  const have = new Set<string>();
  for (const alt of altNames) {
    if (alt.type === 2) have.add(`dns:${alt.value.toLowerCase()}`);
    if (alt.type === 7 && alt.ip) have.add(`ip:${canonicalIP(alt.ip)}`);
  }
  return dns.every((name) => have.has(`dns:${name.toLowerCase()}`)) && ips.every((ip) => have.has(`ip:${ip}`));
}

function hasSubject(cert: forge.pki.Certificate, user: string, groups: string[]): boolean {
  const attrs = cert.subject.attributes;
  const cns = attrs.filter((a) => a.shortName === 'CN').map(attrText);
  const orgs = new Set(attrs.filter((a) => a.shortName === 'O').map(attrText));
  const wanted = new Set(groups);
  return cns.length === 1 && cns[0] === user && orgs.size === wanted.size && [...wanted].every((g) => orgs.has(g));
}

/**
 * Makes sure `dir` holds a CA, a serving certificate and an admin client certificate matching
 * `opts`, generating only what is missing or no longer fits:
 * - the CA is kept unless it is missing, expired or its key does not match (a new CA means new
 *   leaf certificates, since they are checked against it);
 * - the serving certificate is re-issued when it does not cover every requested name;
 * - the admin certificate is re-issued when its user or groups differ;
 * - either leaf is also re-issued when it is expired, not signed by the CA or paired with the
 *   wrong key (e.g. after a crash between writing a key and its certificate).
 * Files that exist but cannot be parsed are reported instead of being overwritten.
 * `created` is true when any file was written. Keys are written with mode 0600.
 */
export async function ensurePKI(
  dir: string,
  opts: PKIOptions,
): Promise<{ files: PKIFiles; paths: Record<keyof PKIFiles, string>; created: boolean }> {
  const adminUser = opts.adminUser ?? DEFAULT_ADMIN_USER;
  const adminGroups = opts.adminGroups ?? DEFAULT_ADMIN_GROUPS;
  const days = opts.validityDays ?? DEFAULT_VALIDITY_DAYS;
  const { dns, ips } = normalizeNames(opts.dnsNames, opts.ipAddresses);

  const keys = Object.keys(FILE_NAMES) as (keyof PKIFiles)[];
  const paths = Object.fromEntries(keys.map((k) => [k, path.join(dir, FILE_NAMES[k])])) as Record<keyof PKIFiles, string>;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stored: Partial<PKIFiles> = Object.fromEntries(
    await Promise.all(keys.map(async (k) => [k, await readIfExists(paths[k])] as const)),
  );

  const now = new Date();
  const fresh: Partial<PKIFiles> = {};

  let ca: CertAndKey;
  let caParsed = parseStored({ cert: stored.caCert, key: stored.caKey }, paths.caCert);
  if (caParsed && keyMatches(caParsed) && currentlyValid(caParsed.cert, now)) {
    ca = { cert: stored.caCert!, key: stored.caKey! };
  } else {
    ca = generateCA(opts.caValidityDays ?? DEFAULT_CA_VALIDITY_DAYS);
    caParsed = parsePair(ca);
    fresh.caCert = ca.cert;
    fresh.caKey = ca.key;
  }

  const serving = parseStored({ cert: stored.servingCert, key: stored.servingKey }, paths.servingCert);
  if (!serving || !leafUsable(serving, caParsed, now) || !coversNames(serving.cert, dns, ips)) {
    const issued = issueServingCert(ca, dns, ips, days);
    fresh.servingCert = issued.cert;
    fresh.servingKey = issued.key;
  }

  const admin = parseStored({ cert: stored.adminCert, key: stored.adminKey }, paths.adminCert);
  if (!admin || !leafUsable(admin, caParsed, now) || !hasSubject(admin.cert, adminUser, adminGroups)) {
    const issued = issueClientCert(ca, adminUser, adminGroups, days);
    fresh.adminCert = issued.cert;
    fresh.adminKey = issued.key;
  }

  for (const k of keys) {
    const data = fresh[k];
    if (data !== undefined) await writeFileAtomic(paths[k], data, k.endsWith('Key') ? 0o600 : 0o644);
  }
  const files = { ...stored, ...fresh } as PKIFiles;
  return { files, paths, created: Object.keys(fresh).length > 0 };
}

/** A kubeconfig (apiVersion v1, kind Config) with the CA and client credentials embedded. */
export function kubeconfigYAML(opts: {
  server: string;
  caCert: string;
  clientCert: string;
  clientKey: string;
  clusterName?: string;
  userName?: string;
  contextName?: string;
  namespace?: string;
}): string {
  const clusterName = opts.clusterName ?? 'pkgserver';
  const userName = opts.userName ?? 'pkgserver-admin';
  const contextName = opts.contextName ?? 'pkgserver';
  const b64 = (pem: string) => Buffer.from(pem, 'utf8').toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: clusterName, cluster: { server: opts.server, 'certificate-authority-data': b64(opts.caCert) } }],
    users: [{ name: userName, user: { 'client-certificate-data': b64(opts.clientCert), 'client-key-data': b64(opts.clientKey) } }],
    contexts: [
      {
        name: contextName,
        context: { cluster: clusterName, user: userName, ...(opts.namespace !== undefined && { namespace: opts.namespace }) },
      },
    ],
    'current-context': contextName,
    preferences: {},
  };
  // lineWidth 0: never fold the long base64 strings across lines.
  return stringify(config, { lineWidth: 0 });
}
