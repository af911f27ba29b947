// OpenID Connect ID tokens (kube's --oidc-* flags, k8s.io/apiserver/plugin/pkg/authenticator/
// token/oidc with go-oidc's verifier), verified with jose. Only bearer tokens that look like JWTs
// and whose (unverified) `iss` is this issuer are handled; any other token gets no answer, so the
// next token authenticator can try. A handled token must be signed by one of the issuer's keys
// with an accepted algorithm, name the client ID in `aud`, carry `exp` in the future and no `nbf`
// more than a minute ahead. Keys come from a local JWKS file (re-read when it changes) or from the
// issuer's discovery document's `jwks_uri`, fetched over HTTPS (trusting --oidc-ca-file when
// given), kept, and fetched again (at most once per cooldown) when a token names an unknown key.
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import { compactVerify, createLocalJWKSet, createRemoteJWKSet, customFetch, decodeProtectedHeader, errors, type CompactVerifyGetKey, type FetchImplementation, type JSONWebKeySet } from 'jose';
import { bearerToken } from './chain.ts';
import { AuthenticationError, type AuthResult, type Authenticator } from './types.ts';

export interface OIDCOptions {
  /** --oidc-issuer-url (https) */
  issuerURL: string;
  /** --oidc-client-id: the audience a token must name */
  clientID: string;
  /** a JWKS document with the issuer's keys, instead of discovery */
  jwksFile?: string;
  /** --oidc-ca-file: CA bundle trusted for discovery and the JWKS (default: the system's) */
  caFile?: string;
  /** --oidc-username-claim (default "sub") */
  usernameClaim?: string;
  /** --oidc-username-prefix: default "<issuerURL>#" unless the claim is "email"; "-" for none */
  usernamePrefix?: string;
  /** --oidc-groups-claim: a string or an array of strings */
  groupsClaim?: string;
  /** --oidc-groups-prefix */
  groupsPrefix?: string;
  /** --oidc-required-claim: claims that must be present with exactly this string value */
  requiredClaims?: Record<string, string>;
  /** --oidc-signing-algs (default ["RS256"]) */
  signingAlgs?: string[];
  /** least time between two JWKS fetches for an unknown key id (default 30 s) */
  keyRefreshCooldownMs?: number;
  /** told about a JWKS file change that could not be used */
  log?: Logger;
}

const ALLOWED_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'];
/** go-oidc accepts an `nbf` this far in the future (clock skew) */
const NBF_LEEWAY_MS = 60_000;
/** a failed discovery is tried again after this long (kube polls every 10 s) */
const DISCOVERY_RETRY_MS = 10_000;
const HTTP_TIMEOUT_MS = 30_000;
const MAX_DOCUMENT_BYTES = 1 << 20;

type Claims = Record<string, unknown>;

/** A claim the token itself carries (never one inherited from Object.prototype). */
const own = (claims: Claims, name: string): unknown => (Object.hasOwn(claims, name) ? claims[name] : undefined);

/** Go's %q of a string list: ["a" "b"] */
const goQuoteList = (list: string[]) => `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;

/** The claims of a compact JWT, unverified; undefined when it is not one. */
function unverifiedClaims(token: string): Claims | undefined {
  if (token.trim().startsWith('{')) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3 || !/^[A-Za-z0-9_-]*$/.test(parts[1])) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return claims !== null && typeof claims === 'object' && !Array.isArray(claims) ? claims : undefined;
  } catch {
    return undefined;
  }
}

/** kube's untrustedIssuer, with go-oidc's one exception for Google. */
function untrustedIssuer(claims: Claims): unknown {
  return claims.iss === 'accounts.google.com' ? 'https://accounts.google.com' : claims.iss;
}

/** GET over HTTPS with `ca` trusted (node:https, no redirects), bounded in size and time. */
function httpsGet(url: string, ca: string | undefined, signal?: AbortSignal): Promise<{ status: number; body: Buffer; contentType?: string }> {
  return new Promise((resolve, reject) => {
    if (!url.startsWith('https://')) return reject(new Error(`refusing to fetch ${url}: not https`));
    const req = https.get(url, { ca, signal, timeout: HTTP_TIMEOUT_MS, headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_DOCUMENT_BYTES) req.destroy(new Error(`response from ${url} is larger than ${MAX_DOCUMENT_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), contentType: res.headers['content-type'] }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timed out fetching ${url}`)));
    req.on('error', reject);
  });
}

/** The issuer's keys, as jose's key resolver. */
type KeySource = CompactVerifyGetKey;

export class OIDCAuthenticator implements Authenticator {
  private readonly issuer: string;
  private readonly usernameClaim: string;
  private readonly usernamePrefix: string;
  private readonly algs: string[];
  private readonly ca: string | undefined;
  private keys?: KeySource;
  private discovery?: Promise<KeySource>;
  private discoveryFailure?: { at: number; message: string };
  private jwksStamp = '';
  private jwksFailure = '';

  /** Checks the options and reads the CA and JWKS files; throws when they are not usable. */
  constructor(private readonly opts: OIDCOptions) {
    let url: URL;
    try {
      url = new URL(opts.issuerURL);
    } catch {
      throw new Error(`oidc: invalid issuer URL "${opts.issuerURL}"`);
    }
    if (url.protocol !== 'https:') throw new Error(`oidc: issuer URL "${opts.issuerURL}" must use the https scheme`);
    if (!opts.clientID) throw new Error('oidc: a client ID is required');
    this.issuer = opts.issuerURL;
    this.usernameClaim = opts.usernameClaim || 'sub';
    this.usernamePrefix = opts.usernamePrefix === '-' ? '' : opts.usernamePrefix || (this.usernameClaim === 'email' ? '' : `${this.issuer}#`);
    this.algs = opts.signingAlgs?.length ? opts.signingAlgs : ['RS256'];
    for (const alg of this.algs) if (!ALLOWED_ALGS.includes(alg)) throw new Error(`oidc: unsupported signing alg: "${alg}"`);
    this.ca = opts.caFile ? readFileSync(opts.caFile, 'utf8') : undefined;
    if (opts.jwksFile) this.keys = this.readJwksFile();
  }

  private readJwksFile(): KeySource {
    const file = this.opts.jwksFile!;
    const st = statSync(file);
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    const jwks = JSON.parse(readFileSync(file, 'utf8')) as JSONWebKeySet;
    if (!Array.isArray(jwks?.keys)) throw new Error(`oidc: ${file} is not a JSON Web Key Set`);
    const keys = createLocalJWKSet(jwks);
    this.jwksStamp = stamp;
    return keys;
  }

  /** The JWKS file's keys, re-read when the file changed (a bad change keeps the old keys). */
  private fileKeys(): KeySource {
    const file = this.opts.jwksFile!;
    try {
      const st = statSync(file);
      if (`${st.ino}:${st.size}:${st.mtimeMs}` !== this.jwksStamp) this.keys = this.readJwksFile();
      this.jwksFailure = '';
    } catch (err) {
      const message = `oidc: cannot use ${file}, keeping the previous keys: ${(err as Error).message}`;
      if (message !== this.jwksFailure) this.opts.log?.error(message); // once per failure
      this.jwksFailure = message;
    }
    return this.keys!;
  }

  /** Discovery, once (again after a failure, at most every DISCOVERY_RETRY_MS). */
  private remoteKeys(): Promise<KeySource> {
    if (this.keys) return Promise.resolve(this.keys);
    if (!this.discovery) {
      const failure = this.discoveryFailure;
      if (failure && Date.now() - failure.at < DISCOVERY_RETRY_MS) return Promise.reject(new Error(failure.message));
      this.discovery = this.discover().then(
        (keys) => (this.keys = keys),
        (err: Error) => {
          this.discovery = undefined;
          this.discoveryFailure = { at: Date.now(), message: err.message };
          throw err;
        },
      );
    }
    return this.discovery;
  }

  private async discover(): Promise<KeySource> {
    const wellKnown = `${this.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const res = await httpsGet(wellKnown, this.ca);
    if (res.status !== 200) throw new Error(`${wellKnown}: HTTP ${res.status}`);
    let doc: { issuer?: unknown; jwks_uri?: unknown };
    try {
      doc = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new Error(`${wellKnown}: not a JSON document`);
    }
    if (doc.issuer !== this.issuer) throw new Error(`oidc: issuer did not match the issuer returned by provider, expected "${this.issuer}" got ${JSON.stringify(doc.issuer)}`);
    if (typeof doc.jwks_uri !== 'string') throw new Error(`${wellKnown}: no jwks_uri`);
    const fetchWithCA: FetchImplementation = async (url, init) => {
      const r = await httpsGet(url, this.ca, init.signal);
      return new Response(new Uint8Array(r.body), { status: r.status, headers: r.contentType ? { 'content-type': r.contentType } : {} });
    };
    return createRemoteJWKSet(new URL(doc.jwks_uri), {
      cooldownDuration: this.opts.keyRefreshCooldownMs ?? 30_000,
      cacheMaxAge: Infinity, // as go-oidc: keep the keys, fetch again only for an unknown key
      [customFetch]: fetchWithCA,
    });
  }

  /** Signature check with the issuer's keys (every candidate when several keys match). */
  private async verifySignature(token: string): Promise<void> {
    const keys = this.opts.jwksFile ? this.fileKeys() : await this.remoteKeys().catch((err: Error) => {
      throw new AuthenticationError(`oidc: authenticator not initialized: ${err.message}`);
    });
    try {
      await compactVerify(token, keys, { algorithms: this.algs });
    } catch (err) {
      if (err instanceof errors.JWKSMultipleMatchingKeys) {
        for await (const key of err) {
          try {
            await compactVerify(token, key, { algorithms: this.algs });
            return;
          } catch {
            // try the next candidate
          }
        }
      }
      throw new AuthenticationError(`oidc: verify token: failed to verify signature: ${(err as Error).message}`);
    }
  }

  /** go-oidc's claim checks, done before the (possibly fetching) signature check. */
  private checkClaims(token: string, claims: Claims): void {
    const fail = (msg: string): never => {
      throw new AuthenticationError(`oidc: verify token: ${msg}`);
    };
    const aud = typeof claims.aud === 'string' ? [claims.aud] : claims.aud ?? [];
    if (!Array.isArray(aud) || aud.some((a) => typeof a !== 'string')) fail('oidc: failed to unmarshal claims: invalid "aud"');
    for (const name of ['exp', 'nbf']) {
      if (claims[name] !== undefined && typeof claims[name] !== 'number') fail(`oidc: failed to unmarshal claims: invalid "${name}"`);
    }
    if (!(aud as string[]).includes(this.opts.clientID)) fail(`oidc: expected audience ${JSON.stringify(this.opts.clientID)} got ${goQuoteList(aud as string[])}`);
    const now = Date.now();
    const exp = claims.exp as number | undefined;
    if (exp === undefined) fail('oidc: token is expired (Token Expiry: 0001-01-01T00:00:00Z)');
    if (exp! * 1000 < now) fail(`oidc: token is expired (Token Expiry: ${new Date(exp! * 1000).toISOString()})`);
    const nbf = claims.nbf as number | undefined;
    if (nbf !== undefined && now + NBF_LEEWAY_MS < nbf * 1000) {
      fail(`oidc: current time ${new Date(now).toISOString()} before the nbf (not before) time: ${new Date(nbf * 1000).toISOString()}`);
    }
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch (err) {
      fail(`oidc: malformed jwt: ${(err as Error).message}`);
    }
    if (typeof alg !== 'string' || !this.algs.includes(alg)) fail(`oidc: id token signed with unsupported algorithm, expected ${goQuoteList(this.algs)} got ${JSON.stringify(alg)}`);
  }

  private username(claims: Claims): string {
    const value = own(claims, this.usernameClaim);
    if (value === undefined) throw new AuthenticationError(`oidc: parse username claims "${this.usernameClaim}": claim not present`);
    if (typeof value !== 'string') throw new AuthenticationError(`oidc: parse username claims "${this.usernameClaim}": not a string`);
    if (this.usernameClaim === 'email' && Object.hasOwn(claims, 'email_verified')) {
      if (typeof claims.email_verified !== 'boolean') throw new AuthenticationError(`oidc: parse 'email_verified' claim: not a boolean`);
      if (!claims.email_verified) throw new AuthenticationError('oidc: email not verified');
    }
    return this.usernamePrefix + value;
  }

  private groups(claims: Claims): string[] {
    const claim = this.opts.groupsClaim;
    const value = claim ? own(claims, claim) : undefined;
    if (value === undefined) return [];
    const groups = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string')) {
      throw new AuthenticationError(`oidc: parse groups claim "${claim}": not a string or an array of strings`);
    }
    return (groups as string[]).map((g) => (this.opts.groupsPrefix ?? '') + g);
  }

  async authenticate(req: IncomingMessage): Promise<AuthResult | undefined> {
    const token = bearerToken(req);
    if (token === undefined) return undefined;
    const claims = unverifiedClaims(token);
    if (!claims || untrustedIssuer(claims) !== this.issuer) return undefined;
    this.checkClaims(token, claims);
    await this.verifySignature(token);
    const name = this.username(claims);
    const groups = this.groups(claims);
    for (const [claim, want] of Object.entries(this.opts.requiredClaims ?? {})) {
      const got = own(claims, claim);
      if (got === undefined) throw new AuthenticationError(`oidc: required claim ${claim} not present in ID token`);
      if (typeof got !== 'string') throw new AuthenticationError(`oidc: parse claim ${claim}: not a string`);
      if (got !== want) throw new AuthenticationError(`oidc: required claim ${claim} value does not match. Got = ${got}, want = ${want}`);
    }
    return { user: { name, groups }, method: 'oidc', consumedHeaders: ['authorization'] };
  }
}
