// Client certificate authentication (k8s.io/apiserver/pkg/authentication/request/x509): the
// peer's certificate chain is verified against one CA bundle, then the subject's CN is the user
// and its O attributes are the groups. The TLS layer trusts the client CA and the requestheader CA
// together (`socket.authorized` only says "some CA"), so each authenticator verifies the chain
// itself against its own bundle, the way Go's x509.Certificate.Verify does: validity of every
// certificate, signatures, intermediates must be CAs, and an extended key usage extension anywhere
// in the chain must allow client authentication.
import type { IncomingMessage } from 'node:http';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import forge from 'node-forge';
import { AuthenticationError, type AuthResult, type Authenticator, type Dynamic } from './types.ts';

const { asn1 } = forge;
type Node = forge.asn1.Asn1;

const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const EKU_ANY = '2.5.29.37.0';
const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';
const MAX_DEPTH = 8;
const MAX_SIGNATURE_CHECKS = 100;
const NUMERIC_STRING = 18;
const T61_STRING = 20;

/** Why a chain was refused; `unknownAuthority`: it does not lead to the bundle at all. */
export class CertificateVerifyError extends AuthenticationError {
  constructor(
    message: string,
    readonly unknownAuthority: boolean,
  ) {
    super(message);
    this.name = 'CertificateVerifyError';
  }
}

/**
 * DER of the peer's certificate and of the chain Node exposes after it (what the client sent,
 * completed from the server's trust store), leaf first, stopping at a self-signed certificate.
 */
export function peerChain(req: IncomingMessage): Buffer[] {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== 'function') return [];
  const out: Buffer[] = [];
  const seen = new Set<string>();
  let cert: { raw?: Buffer; fingerprint256?: string; issuerCertificate?: unknown } | undefined = socket.getPeerCertificate(true);
  while (cert?.raw && !seen.has(cert.fingerprint256 ?? '')) {
    seen.add(cert.fingerprint256 ?? '');
    out.push(cert.raw);
    cert = cert.issuerCertificate as typeof cert;
  }
  return out;
}

const bundles = new Map<string, X509Certificate[]>();

/**
 * The certificates of a PEM bundle, parsed once per distinct bundle; blocks that do not parse are
 * skipped, as Go's CertPool.AppendCertsFromPEM does.
 */
function parseBundle(pem: string): X509Certificate[] {
  let certs = bundles.get(pem);
  if (!certs) {
    certs = [];
    for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
      try {
        certs.push(new X509Certificate(block));
      } catch {
        // not a certificate
      }
    }
    if (bundles.size >= 16) bundles.clear(); // a handful of bundles are live at a time
    bundles.set(pem, certs);
  }
  return certs;
}

function parseDer(der: Buffer): Node {
  // @types/node-forge knows only the boolean form of the options
  return asn1.fromDer(forge.util.createBuffer(der.toString('binary')), { parseAllBytes: true, decodeBitStrings: false } as unknown as boolean);
}

/** The TBSCertificate fields, with the optional version field skipped: serial is [0]. */
function tbsFields(der: Buffer): Node[] {
  const tbs = (parseDer(der).value as Node[])[0].value as Node[];
  return tbs[0].tagClass === asn1.Class.CONTEXT_SPECIFIC ? tbs.slice(1) : tbs;
}

/** An attribute value as Go's encoding/asn1 reads strings; undefined for non-string types. */
function asn1String(node: Node): string | undefined {
  const bytes = Buffer.from(node.value as string, 'binary');
  switch (node.type as number) {
    case asn1.Type.UTF8:
    case T61_STRING: // Go keeps the bytes
      return bytes.toString('utf8');
    case asn1.Type.PRINTABLESTRING:
    case asn1.Type.IA5STRING:
    case NUMERIC_STRING:
      return bytes.toString('latin1');
    case asn1.Type.BMPSTRING:
      return Buffer.from(bytes).swap16().toString('utf16le');
    default:
      return undefined;
  }
}

/** CN (the last one, as Go's pkix.Name) and every O, in order, from the certificate's subject. */
function subjectOf(der: Buffer): { cn: string; organizations: string[] } {
  const subject = tbsFields(der)[4];
  let cn = '';
  const organizations: string[] = [];
  for (const rdn of subject.value as Node[]) {
    for (const atv of rdn.value as Node[]) {
      const [type, value] = atv.value as Node[];
      const oid = asn1.derToOid(type.value as string);
      const text = asn1String(value);
      if (text === undefined) continue;
      if (oid === OID_CN) cn = text;
      else if (oid === OID_O) organizations.push(text);
    }
  }
  return { cn, organizations };
}

function hexColons(bytes: string | undefined): string {
  return Buffer.from(bytes ?? '', 'binary').toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:');
}

/** kube's certificateIdentifier: "SN=<decimal>, SKID=<hex>, AKID=<hex>". */
function certificateIdentifier(cert: X509Certificate): string {
  let skid: string | undefined;
  let akid: string | undefined;
  try {
    const exts = tbsFields(cert.raw).find((f) => f.tagClass === asn1.Class.CONTEXT_SPECIFIC && f.type === 3);
    for (const ext of ((exts?.value as Node[] | undefined)?.[0]?.value as Node[] | undefined) ?? []) {
      const parts = ext.value as Node[];
      const oid = asn1.derToOid(parts[0].value as string);
      const inner = () => asn1.fromDer(parts[parts.length - 1].value as string);
      if (oid === '2.5.29.14') skid = inner().value as string;
      if (oid === '2.5.29.35') akid = ((inner().value as Node[]).find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 0)?.value as string | undefined);
    }
  } catch {
    // identification only
  }
  return `SN=${BigInt(`0x${cert.serialNumber}`).toString()}, SKID=${hexColons(skid)}, AKID=${hexColons(akid)}`;
}

function validityError(cert: X509Certificate, now: Date): string | undefined {
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (now < from) return `x509: certificate has expired or is not yet valid: current time ${iso(now)} is before ${iso(from)}`;
  if (now > to) return `x509: certificate has expired or is not yet valid: current time ${iso(now)} is after ${iso(to)}`;
  return undefined;
}

const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

function allowsClientAuth(cert: X509Certificate): boolean {
  const usages = cert.keyUsage; // the extended key usages; undefined when the extension is absent
  return !usages || usages.includes(EKU_CLIENT_AUTH) || usages.includes(EKU_ANY);
}

/** The CN for messages, even from a subject forge cannot read. */
function nameForMessage(cert: X509Certificate): string {
  try {
    return subjectOf(cert.raw).cn;
  } catch {
    return cert.subject;
  }
}

interface Search {
  /** the first reason a candidate issuer was refused */
  hint?: string;
  /** signature checks left (Go allows 100 per verification) */
  checksLeft: number;
}

/** Every path from `cert` to a certificate of `roots` through `intermediates`, as Go builds them. */
function buildChains(cert: X509Certificate, roots: X509Certificate[], intermediates: X509Certificate[], now: Date, path: X509Certificate[], search: Search): X509Certificate[][] {
  if (path.length > MAX_DEPTH) return [];
  const chains: X509Certificate[][] = [];
  const consider = (candidate: X509Certificate, isRoot: boolean) => {
    if (path.some((p) => p.raw.equals(candidate.raw)) || !cert.checkIssued(candidate)) return;
    if (search.checksLeft-- <= 0) throw new CertificateVerifyError('x509: signature check attempts limit reached while verifying certificate chain', false);
    const refused = !cert.verify(candidate.publicKey)
      ? 'x509: signature is invalid'
      : (validityError(candidate, now) ?? (!isRoot && !candidate.ca ? 'x509: certificate is not authorized to sign other certificates' : undefined));
    if (refused) {
      search.hint ??= `possibly because of "${refused}" while trying to verify candidate authority certificate "${nameForMessage(candidate)}"`;
      return;
    }
    if (isRoot) chains.push([...path, candidate]);
    else chains.push(...buildChains(candidate, roots, intermediates, now, [...path, candidate], search));
  };
  for (const root of roots) consider(root, true);
  for (const intermediate of intermediates) consider(intermediate, false);
  return chains;
}

/**
 * Verifies `chain` (leaf first, then any intermediates the client sent) against the CA bundle
 * `caBundlePEM` only, for client authentication at `now`; returns the leaf's CN and O attributes.
 * Throws CertificateVerifyError (an AuthenticationError) when it does not verify.
 */
export function verifyClientChain(chain: Buffer[], caBundlePEM: string, now: Date = new Date()): { cn: string; organizations: string[] } {
  if (chain.length === 0) throw new CertificateVerifyError('x509: no client certificate', true);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chain[0]);
  } catch (err) {
    throw new CertificateVerifyError(`x509: cannot parse the client certificate: ${(err as Error).message}`, false);
  }
  const fail = (msg: string, unknownAuthority = false): never => {
    throw new CertificateVerifyError(`verifying certificate ${certificateIdentifier(leaf)} failed: ${msg}`, unknownAuthority);
  };
  const expired = validityError(leaf, now);
  if (expired) fail(expired);

  const roots = parseBundle(caBundlePEM);
  const intermediates: X509Certificate[] = [];
  for (const der of chain.slice(1)) {
    try {
      intermediates.push(new X509Certificate(der));
    } catch {
      // an unparsable extra certificate cannot be part of a path
    }
  }
  const search: Search = { checksLeft: MAX_SIGNATURE_CHECKS };
  let chains: X509Certificate[][];
  try {
    chains = roots.some((r) => r.raw.equals(leaf.raw)) ? [[leaf]] : buildChains(leaf, roots, intermediates, now, [leaf], search);
  } catch (err) {
    return fail((err as Error).message);
  }
  if (chains.length === 0) fail(`x509: certificate signed by unknown authority${search.hint ? ` (${search.hint})` : ''}`, true);
  if (!chains.some((c) => c.every(allowsClientAuth))) fail('x509: certificate specifies an incompatible key usage');
  try {
    return subjectOf(leaf.raw);
  } catch (err) {
    throw new CertificateVerifyError(`x509: cannot parse the subject of the client certificate: ${(err as Error).message}`, false);
  }
}

/**
 * Client certificates signed by the client CA (`--client-ca-file`, or the
 * extension-apiserver-authentication ConfigMap's `client-ca-file`): user = CN, groups = O.
 * No CA configured, no certificate, or an empty CN: no answer.
 */
export class ClientCertAuthenticator implements Authenticator {
  constructor(private readonly clientCA: Dynamic<string | undefined>) {}

  async authenticate(req: IncomingMessage): Promise<AuthResult | undefined> {
    const ca = this.clientCA.current();
    if (!ca) return undefined;
    const chain = peerChain(req);
    if (chain.length === 0) return undefined;
    const { cn, organizations } = verifyClientChain(chain, ca);
    if (!cn) return undefined;
    return { user: { name: cn, groups: organizations }, method: 'x509' };
  }
}
