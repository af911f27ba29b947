// The authorization attributes of a request, as k8s.io/apiserver's RequestInfoFactory
// (pkg/endpoints/request/requestinfo.go, prefixes "api" and "apis", "api" without a group) and
// filters.GetAuthorizerAttributes build them. /api/V/... and /apis/G/V/... with a resource are
// resource requests; every other path is a non-resource request whose verb is the lower-cased
// HTTP method.
import type { UserInfo } from '../registry/types.ts';
import type { Attributes } from './types.ts';
import { exactName, parseFieldTerms } from '../selectors.ts';

const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS_PREFIXES = new Set(['api']);
/** verbs written as a path segment (/apis/G/V/watch/...), still accepted by kube */
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(['proxy']);
/** /namespaces/NS/<these> is a subresource of the namespace, not a namespaced resource */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

const METHOD_VERBS: Record<string, string> = { POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

/**
 * The attributes of one request. Throws, as kube's NewRequestInfo fails (the filter answers 500),
 * for a resource path that names a special verb and nothing after it (/apis/G/V/watch).
 */
export function requestAttributes(method: string, url: URL, user: UserInfo): Attributes {
  const path = decodePath(url.pathname);
  const nonResource: Attributes = { user, verb: method.toLowerCase(), resourceRequest: false, path };
  let parts = splitPath(path);
  if (parts.length < 3 || !API_PREFIXES.has(parts[0])) return nonResource;
  const prefix = parts[0];
  parts = parts.slice(1);
  let apiGroup = '';
  if (!GROUPLESS_PREFIXES.has(prefix)) {
    if (parts.length < 3) return nonResource; // /apis/G/V is discovery
    apiGroup = parts[0];
    parts = parts.slice(1);
  }
  const apiVersion = parts[0];
  parts = parts.slice(1);

  let verb: string;
  if (SPECIAL_VERBS.has(parts[0])) {
    if (parts.length < 2) throw new Error(`unable to determine kind and namespace from url, ${url.pathname}${url.search}`);
    verb = parts[0];
    parts = parts.slice(1);
  } else {
    verb = METHOD_VERBS[method.toUpperCase()] ?? '';
  }

  let namespace = '';
  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      namespace = parts[1];
      // /namespaces/NS/RESOURCE...: a namespaced resource; /namespaces/NS[/status]: the namespace itself
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2])) parts = parts.slice(2);
    }
  }

  const resource = parts[0] ?? '';
  let name = parts.length >= 2 ? parts[1] : '';
  const subresource = parts.length >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.has(verb) ? parts[2] : '';

  if (!name && verb === 'get') {
    const q = url.searchParams;
    const watch = q.getAll('watch');
    verb = watch.length > 0 && watch[0] !== '0' && watch[0].toLowerCase() !== 'false' ? 'watch' : 'list';
    // a list or watch of one object by field selector is authorized as that object
    const selector = q.get('fieldSelector');
    if (selector !== null) {
      const byName = exactNameOf(selector);
      if (byName !== undefined && isPathSegmentName(byName)) name = byName;
    }
  }
  if (!name && verb === 'delete') verb = 'deletecollection';

  return {
    user,
    verb,
    resourceRequest: true,
    apiGroup,
    apiVersion,
    resource,
    ...(subresource ? { subresource } : {}),
    ...(namespace ? { namespace } : {}),
    ...(name ? { name } : {}),
    path,
  };
}

/** Go's URL.Path is the unescaped path; a malformed escape keeps the path as received. */
function decodePath(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

function splitPath(p: string): string[] {
  const trimmed = p.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

/** content.IsPathSegmentName: not "." or "..", no "/" or "%" */
const isPathSegmentName = (n: string) => n !== '.' && n !== '..' && !n.includes('/') && !n.includes('%');

/**
 * The name a field selector requires (fields.Selector.RequiresExactMatch on metadata.name), or
 * undefined when it does not, or when the selector does not parse (kube then ignores it).
 */
function exactNameOf(selector: string): string | undefined {
  try {
    return exactName(parseFieldTerms(selector));
  } catch {
    return undefined;
  }
}
