// The authentication chain (k8s.io/apiserver/pkg/authentication/authenticatorfactory
// delegating.go, request/union, request/bearertoken, group/authenticated_group_adder.go): the
// front proxy first, then client certificates, then bearer tokens (token file, OIDC, TokenReview).
// The first answer wins; errors of the others are kept for the log, never shown to the client.
// The answer gets the system:authenticated group as kube's AuthenticatedGroupAdder gives it.
import type { IncomingMessage } from 'node:http';
import { ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS, AuthenticationError, type AuthResult, type Authenticator, type UserInfo } from './types.ts';

/**
 * The bearer token of `Authorization: Bearer <token>` as kube's bearertoken authenticator reads it
 * (scheme case-insensitive, one space; anything after a second space is ignored).
 */
export function bearerToken(req: IncomingMessage): string | undefined {
  const auth = (req.headersDistinct.authorization?.[0] ?? '').trim();
  const parts = auth.split(' ');
  if (parts.length < 2 || parts[0].toLowerCase() !== 'bearer') return undefined;
  return parts[1] || undefined;
}

/** kube's AuthenticatedGroupAdder: adds system:authenticated unless anonymous or already decided. */
export function withAuthenticatedGroup(user: UserInfo): UserInfo {
  if (user.name === ANONYMOUS || user.groups.some((g) => g === ALL_AUTHENTICATED || g === ALL_UNAUTHENTICATED)) return user;
  return { ...user, groups: [...user.groups, ALL_AUTHENTICATED] };
}

export interface ChainAuthenticators {
  /** the front proxy (requestheader) */
  requestHeader?: Authenticator;
  /** client certificates of the client CA */
  clientCert?: Authenticator;
  /** bearer token authenticators, asked in this order: token file, OIDC issuers, TokenReview */
  tokens?: Authenticator[];
}

export interface ChainResult {
  result?: AuthResult;
  /** why the other authenticators refused; for the log only */
  errors: Error[];
}

export class AuthenticatorChain implements Authenticator {
  private readonly requestAuthenticators: Authenticator[];
  private readonly tokenAuthenticators: Authenticator[];

  constructor(authenticators: ChainAuthenticators) {
    this.requestAuthenticators = [authenticators.requestHeader, authenticators.clientCert].filter((a): a is Authenticator => a !== undefined);
    this.tokenAuthenticators = authenticators.tokens ?? [];
  }

  /** The first answer (with system:authenticated added) and the errors of the authenticators asked before it. */
  async authenticateRequest(req: IncomingMessage): Promise<ChainResult> {
    const errors: Error[] = [];
    const ask = async (authenticators: Authenticator[]): Promise<AuthResult | undefined> => {
      for (const a of authenticators) {
        try {
          const result = await a.authenticate(req);
          if (result) return { ...result, user: withAuthenticatedGroup(result.user) };
        } catch (err) {
          errors.push(err instanceof Error ? err : new Error(String(err)));
        }
      }
      return undefined;
    };
    const result = await ask(this.requestAuthenticators);
    if (result) return { result, errors };
    if (this.tokenAuthenticators.length > 0 && bearerToken(req) !== undefined) {
      const before = errors.length;
      const byToken = await ask(this.tokenAuthenticators);
      if (byToken) return { result: byToken, errors };
      if (errors.length === before) errors.push(new AuthenticationError('invalid bearer token'));
    }
    return { errors };
  }

  async authenticate(req: IncomingMessage): Promise<AuthResult | undefined> {
    return (await this.authenticateRequest(req)).result;
  }
}
