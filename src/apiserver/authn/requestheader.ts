// Front-proxy authentication (k8s.io/apiserver/pkg/authentication/request/headerrequest): a
// proxy (kube-apiserver's aggregator) that authenticated the user passes it in X-Remote-* headers.
// The headers are believed only when the client certificate chains to the requestheader CA
// itself and its CN is one of the allowed names (any name when the list is empty); a certificate
// from any other CA gets no answer here, so the headers it sends change nothing.
import type { IncomingMessage } from 'node:http';
import { AuthenticationError, type AuthResult, type Authenticator, type Dynamic } from './types.ts';
import { CertificateVerifyError, peerChain, verifyClientChain } from './x509.ts';
import type { RequestHeaderConfig } from './types.ts';

export type { RequestHeaderConfig };

/** kube's defaults for the header names. */
export const DEFAULT_REQUEST_HEADER = {
  usernameHeaders: ['X-Remote-User'],
  groupHeaders: ['X-Remote-Group'],
  extraHeaderPrefixes: ['X-Remote-Extra-'],
  uidHeaders: [] as string[],
};

/**
 * Go's url.PathUnescape as kube uses it for extra keys: %XX sequences decoded as UTF-8 bytes; a
 * malformed escape leaves the key as it was.
 */
export function unescapeExtraKey(encoded: string): string {
  if (!encoded.includes('%')) return encoded;
  const src = Buffer.from(encoded, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < src.length; i++) {
    if (src[i] !== 0x25) {
      out.push(src[i]);
      continue;
    }
    const hex = src.subarray(i + 1, i + 3).toString('latin1');
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return encoded;
    out.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(out).toString('utf8');
}

const lower = (names: string[]) => names.map((n) => n.trim().toLowerCase());

export class RequestHeaderAuthenticator implements Authenticator {
  constructor(private readonly config: Dynamic<RequestHeaderConfig | undefined>) {}

  async authenticate(req: IncomingMessage): Promise<AuthResult | undefined> {
    const cfg = this.config.current();
    if (!cfg) return undefined;
    const chain = peerChain(req);
    if (chain.length === 0) return undefined;
    let cn: string;
    try {
      ({ cn } = verifyClientChain(chain, cfg.clientCA));
    } catch (err) {
      if (err instanceof CertificateVerifyError && err.unknownAuthority) return undefined; // not the front proxy
      throw err;
    }
    if (cfg.allowedNames.length > 0 && !cfg.allowedNames.includes(cn)) {
      throw new AuthenticationError(`x509: subject with cn=${cn} is not in the allowed list`);
    }

    const headers = req.headersDistinct;
    const first = (names: string[]) => {
      for (const name of names) {
        const value = headers[name]?.[0];
        if (value) return value;
      }
      return '';
    };
    const usernameHeaders = lower(cfg.usernameHeaders);
    const name = first(usernameHeaders);
    if (!name) return undefined;
    const uidHeaders = lower(cfg.uidHeaders);
    const uid = first(uidHeaders);
    const groupHeaders = lower(cfg.groupHeaders);
    const groups = groupHeaders.flatMap((h) => (headers[h] ?? []).filter((v) => v !== ''));
    const extra: Record<string, string[]> = {};
    const extraHeaders: string[] = [];
    for (const prefix of lower(cfg.extraHeaderPrefixes)) {
      for (const [header, values] of Object.entries(headers)) {
        if (!header.startsWith(prefix) || values === undefined) continue;
        extraHeaders.push(header);
        const key = unescapeExtraKey(header.slice(prefix.length));
        (extra[key] ??= []).push(...values);
      }
    }
    return {
      user: { name, ...(uid && { uid }), groups, ...(Object.keys(extra).length > 0 && { extra }) },
      method: 'requestheader',
      consumedHeaders: [...new Set([...usernameHeaders, ...uidHeaders, ...groupHeaders, ...extraHeaders])],
    };
  }
}
