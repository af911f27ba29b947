// Authentication: who sent a request (k8s.io/apiserver/pkg/authentication). Each authenticator
// looks at one kind of credential; a chain asks them in order and the first answer wins.
import type { IncomingMessage } from 'node:http';
import type { UserInfo } from '../registry/types.ts';

export type { UserInfo };

/** kube's well-known groups and users */
export const ALL_AUTHENTICATED = 'system:authenticated';
export const ALL_UNAUTHENTICATED = 'system:unauthenticated';
export const ANONYMOUS = 'system:anonymous';
export const SYSTEM_MASTERS = 'system:masters';

/** What an authenticator answers when it recognises the credential. */
export interface AuthResult {
  user: UserInfo;
  /** which authenticator answered (for logs and the audit log): "x509", "requestheader", "token-file", "oidc", "webhook" */
  method: string;
  /**
   * Request headers the authenticator consumed and that must not reach later filters
   * (requestheader: X-Remote-*, tokens: Authorization).
   */
  consumedHeaders?: string[];
}

/**
 * One authenticator. `undefined`: the request carries no credential of this kind (the chain asks
 * the next one). A thrown AuthenticationError: the credential is present but invalid (expired,
 * bad signature, CN not allowed); the chain records the error and asks the next one; if no
 * authenticator answers, the request gets 401. Never throws anything else for a bad credential.
 */
export interface Authenticator {
  authenticate(req: IncomingMessage): Promise<AuthResult | undefined>;
}

/** A credential that was presented but is not valid. The message is for logs, never for clients. */
export class AuthenticationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthenticationError';
  }
}

/** kube's --requestheader-* settings (or the extension-apiserver-authentication ConfigMap's). */
export interface RequestHeaderConfig {
  /** PEM bundle of the front proxy's client CA */
  clientCA: string;
  /** CNs the front proxy's certificate may have; empty: any */
  allowedNames: string[];
  usernameHeaders: string[];
  groupHeaders: string[];
  extraHeaderPrefixes: string[];
  uidHeaders: string[];
}

/** A value that can change at run time (CA bundles, requestheader settings, policy files). */
export interface Dynamic<T> {
  current(): T;
  /** called after each change; returns a function that unsubscribes */
  onChange(fn: (value: T) => void): () => void;
}

/** A constant as a Dynamic. */
export function constant<T>(value: T): Dynamic<T> {
  return { current: () => value, onChange: () => () => {} };
}
