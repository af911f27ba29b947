// Authentication and authorization filters. Standalone, clients authenticate with certificates
// issued by the client CA (CN = user, O = groups). Authorization is an interface: this issue
// allows every authenticated user; policy files and SubjectAccessReview plug in here later.
import type { TLSSocket } from 'node:tls';
import type { IncomingMessage } from 'node:http';
import type { UserInfo } from './registry/types.ts';

export interface Authenticator {
  authenticate(req: IncomingMessage): UserInfo | undefined;
}

/** x509 client certificates chained to the client CA (verified by the TLS layer). */
export class ClientCertAuthenticator implements Authenticator {
  authenticate(req: IncomingMessage): UserInfo | undefined {
    const sock = req.socket as TLSSocket;
    if (!sock.authorized) return undefined;
    const cert = sock.getPeerCertificate();
    const cn = cert?.subject?.CN;
    if (!cn || Array.isArray(cn)) return undefined;
    const o = cert.subject.O;
    const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
    return { name: cn, groups: [...groups, 'system:authenticated'] };
  }
}

export interface Attributes {
  user: UserInfo;
  verb: string;
  /** resource requests */
  group?: string;
  version?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** non-resource requests */
  path?: string;
}

export interface Decision {
  allowed: boolean;
  reason?: string;
}

export interface Authorizer {
  authorize(attrs: Attributes): Promise<Decision>;
}

/** Allows every authenticated request (the policy-file authorizer replaces it). */
export const allowAuthenticated: Authorizer = {
  async authorize(attrs) {
    return { allowed: attrs.user.groups.includes('system:authenticated') };
  },
};
