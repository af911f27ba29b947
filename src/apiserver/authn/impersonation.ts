// Impersonation (k8s.io/apiserver/pkg/endpoints/filters/impersonation): `Impersonate-User`,
// `Impersonate-Group` (repeated), `Impersonate-Uid` and `Impersonate-Extra-<escaped key>` make a
// request act as another user. Each requested piece is authorized for the authenticated user with
// the verb `impersonate`, as kube does: users, groups and serviceaccounts in the core group "",
// uids and userextras/<key> in authentication.k8s.io. The impersonated user's groups are computed
// as kube computes them, and the headers are removed once used.
import type { IncomingMessage } from 'node:http';
import { forbiddenMessage, type Attributes, type Authorizer } from '../authz/types.ts';
import { unescapeExtraKey } from './requestheader.ts';
import { ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS, type UserInfo } from './types.ts';

const USER = 'impersonate-user';
const GROUP = 'impersonate-group';
const UID = 'impersonate-uid';
const EXTRA_PREFIX = 'impersonate-extra-';

const SA_PREFIX = 'system:serviceaccount:';
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** An impersonation header without Impersonate-User: kube answers 400 BadRequest with this message. */
export class ImpersonationBadRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImpersonationBadRequest';
  }
}

/** A denied impersonation: kube answers 403 Forbidden with `message` and `details`. */
export class ImpersonationForbidden extends Error {
  /** kube's Status details: {group, kind: the resource, name} */
  readonly details: { group: string; kind: string; name: string };

  /** `cause`: the authorizer's error, for the log (kube shows only the reason) */
  constructor(
    readonly attributes: Attributes,
    readonly reason: string,
    cause?: unknown,
  ) {
    const sanitized = forbiddenMessage(attributes).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    const why = reason ? `${sanitized}: ${reason}` : sanitized;
    const group = attributes.apiGroup ?? '';
    const resource = attributes.resource ?? '';
    const qualified = group ? `${resource}.${group}` : resource;
    const name = attributes.name ?? '';
    super(name ? `${qualified} "${name}" is forbidden: ${why}` : `${qualified} is forbidden: ${why}`, { cause });
    this.name = 'ImpersonationForbidden';
    this.details = { group, kind: resource, name };
  }
}

/** One thing asked for, as kube's ObjectReference (printed the way Go prints it in the 400 message). */
interface Request {
  kind: 'User' | 'ServiceAccount' | 'Group' | 'UserExtra' | 'UID';
  namespace?: string;
  name: string;
  apiVersion?: string;
  fieldPath?: string;
}

const goString = (r: Request) => `{${[r.kind, r.namespace ?? '', r.name, '', r.apiVersion ?? '', '', r.fieldPath ?? ''].join(' ')}}`;

/** kube's serviceaccount.SplitUsername: namespace and name of system:serviceaccount:NS:NAME, if valid. */
function splitServiceAccount(username: string): { namespace: string; name: string } | undefined {
  if (!username.startsWith(SA_PREFIX)) return undefined;
  const parts = username.slice(SA_PREFIX.length).split(':');
  if (parts.length !== 2) return undefined;
  const [namespace, name] = parts;
  if (namespace.length > 63 || !DNS1123_LABEL.test(namespace)) return undefined;
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) return undefined;
  return { namespace, name };
}

function impersonationRequests(req: IncomingMessage): Request[] {
  const headers = req.headersDistinct;
  const requests: Request[] = [];
  const user = headers[USER]?.[0] ?? '';
  if (user) {
    const sa = splitServiceAccount(user);
    requests.push(sa ? { kind: 'ServiceAccount', namespace: sa.namespace, name: sa.name } : { kind: 'User', name: user });
  }
  const groups = headers[GROUP] ?? [];
  for (const group of groups) requests.push({ kind: 'Group', name: group });
  let hasExtra = false;
  for (const [header, values] of Object.entries(headers)) {
    if (!header.startsWith(EXTRA_PREFIX) || values === undefined) continue;
    hasExtra = true;
    const key = unescapeExtraKey(header.slice(EXTRA_PREFIX.length));
    for (const value of values) requests.push({ kind: 'UserExtra', apiVersion: 'authentication.k8s.io/v1', name: value, fieldPath: key });
  }
  const uid = headers[UID]?.[0] ?? '';
  if (uid) requests.push({ kind: 'UID', name: uid, apiVersion: 'authentication.k8s.io/v1' });
  if ((groups.length > 0 || hasExtra || uid) && !user) {
    throw new ImpersonationBadRequest(`requested [${requests.map(goString).join(' ')}] without impersonating a user`);
  }
  return requests;
}

/**
 * Applies the request's impersonation headers for `user`: `user` in the answer is who the request
 * now acts as, and `impersonatedUser` is set (the same user) when impersonation happened. Throws
 * ImpersonationBadRequest (400) or ImpersonationForbidden (403). Removes the Impersonate-* headers.
 */
export async function impersonate(req: IncomingMessage, user: UserInfo, authorizer: Authorizer): Promise<{ user: UserInfo; impersonatedUser?: UserInfo }> {
  const requests = impersonationRequests(req);
  if (requests.length === 0) return { user };

  const groupsSpecified = (req.headersDistinct[GROUP] ?? []).length > 0;
  let username = '';
  let uid = '';
  let groups: string[] = [];
  const extra: Record<string, string[]> = {};
  for (const r of requests) {
    const attrs: Attributes = { user, verb: 'impersonate', resourceRequest: true, apiGroup: '', name: r.name };
    switch (r.kind) {
      case 'ServiceAccount':
        Object.assign(attrs, { resource: 'serviceaccounts', namespace: r.namespace });
        username = `${SA_PREFIX}${r.namespace}:${r.name}`;
        if (!groupsSpecified) groups = ['system:serviceaccounts', `system:serviceaccounts:${r.namespace}`];
        break;
      case 'User':
        attrs.resource = 'users';
        username = r.name;
        break;
      case 'Group':
        attrs.resource = 'groups';
        groups.push(r.name);
        break;
      case 'UserExtra':
        Object.assign(attrs, { apiGroup: 'authentication.k8s.io', apiVersion: 'v1', resource: 'userextras', subresource: r.fieldPath });
        (extra[r.fieldPath!] ??= []).push(r.name);
        break;
      case 'UID':
        Object.assign(attrs, { apiGroup: 'authentication.k8s.io', apiVersion: 'v1', resource: 'uids' });
        uid = r.name;
        break;
    }
    let decision;
    try {
      decision = await authorizer.authorize(attrs);
    } catch (err) {
      throw new ImpersonationForbidden(attrs, '', err);
    }
    if (decision.decision !== 'allow') throw new ImpersonationForbidden(attrs, decision.reason);
  }

  if (username !== ANONYMOUS) {
    if (!groups.some((g) => g === ALL_AUTHENTICATED || g === ALL_UNAUTHENTICATED)) groups.push(ALL_AUTHENTICATED);
  } else if (!groups.includes(ALL_UNAUTHENTICATED)) {
    groups.push(ALL_UNAUTHENTICATED);
  }
  const impersonated: UserInfo = { name: username, ...(uid && { uid }), groups, ...(Object.keys(extra).length > 0 && { extra }) };

  for (const header of Object.keys(req.headersDistinct)) {
    if (header === USER || header === GROUP || header === UID || header.startsWith(EXTRA_PREFIX)) {
      delete req.headers[header];
      delete req.headersDistinct[header];
    }
  }
  return { user: impersonated, impersonatedUser: impersonated };
}
