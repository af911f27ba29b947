// The cluster's authentication settings for extension API servers: ConfigMap
// kube-system/extension-apiserver-authentication, which kube-apiserver publishes, read at start and
// followed as k8s.io/apiserver does (ConfigMapCAController for `client-ca-file` and
// `requestheader-client-ca-file`, RequestHeaderAuthRequestController for the header lists). As
// there, the three parts are kept separately, and a part that becomes missing or invalid keeps its
// last good value (an error is logged); the header lists are JSON arrays in strings, and a missing
// key is an empty list.
import { X509Certificate } from 'node:crypto';
import type { KubeConfig, V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Dynamic, RequestHeaderConfig } from '../apiserver/authn/types.ts';

export type { RequestHeaderConfig };
import { followObject, type FollowOptions, type ObjectWatch } from './reflector.ts';

export const AUTH_CONFIGMAP_NAMESPACE = 'kube-system';
export const AUTH_CONFIGMAP_NAME = 'extension-apiserver-authentication';
const AUTH_READER_ROLE = 'extension-apiserver-authentication-reader';

export interface ClusterAuthConfig {
  /** PEM bundle of the CA of ordinary client certificates */
  clientCA?: string;
  /** set once the ConfigMap has held a valid `requestheader-client-ca-file` */
  requestHeader?: RequestHeaderConfig;
}

type Headers = Omit<RequestHeaderConfig, 'clientCA'>;

const HEADER_KEYS: Record<keyof Headers, string> = {
  usernameHeaders: 'requestheader-username-headers',
  uidHeaders: 'requestheader-uid-headers',
  groupHeaders: 'requestheader-group-headers',
  extraHeaderPrefixes: 'requestheader-extra-headers-prefix',
  allowedNames: 'requestheader-allowed-names',
};

/** kube's deserializeStrings: "" is no list, anything else must be a JSON array of strings (or null) */
export function deserializeStrings(key: string, value: string | undefined): string[] {
  if (!value) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (e) {
    throw new Error(`${key}: ${(e as Error).message}`);
  }
  if (parsed === null) return [];
  if (!Array.isArray(parsed) || parsed.some((s) => typeof s !== 'string')) throw new Error(`${key}: not a JSON array of strings`);
  return parsed;
}

/** Throws unless `pem` holds at least one certificate and every CERTIFICATE block parses. */
export function checkCABundle(key: string, pem: string): void {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new Error(`${key}: no certificate found`);
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch (e) {
      throw new Error(`${key}: invalid certificate: ${(e as Error).message}`);
    }
  }
}

/**
 * Reads the ConfigMap (waiting at most `firstListTimeoutMs`, default 30 s; a 401 or 403 fails at
 * once, with kube's hint about the RoleBinding) and follows it. A ConfigMap that does not exist
 * yields `{}`, as k8s.io/apiserver tolerates it; it is picked up when it is created.
 */
export async function watchAuthenticationConfig(
  kc: KubeConfig,
  log: Logger,
  opts: FollowOptions = {},
): Promise<Dynamic<ClusterAuthConfig> & { stop(): void }> {
  const where = `configmap ${AUTH_CONFIGMAP_NAMESPACE}/${AUTH_CONFIGMAP_NAME}`;
  const l = log.child({ configmap: `${AUTH_CONFIGMAP_NAMESPACE}/${AUTH_CONFIGMAP_NAME}` });
  const listeners = new Set<(v: ClusterAuthConfig) => void>();
  let clientCA: string | undefined;
  let requestHeaderCA: string | undefined;
  let headers: Headers | undefined;
  let value: ClusterAuthConfig = {};
  let first = true;

  /** a CA part: the new bundle if valid, else the last good one */
  const caPart = (key: string, pem: string | undefined, last: string | undefined): string | undefined => {
    try {
      if (!pem) throw new Error(`${key}: missing`);
      checkCABundle(key, pem);
      return pem;
    } catch (e) {
      if (pem || last) l.error(`${where}: ${(e as Error).message}${last ? '; keeping the last good value' : ''}`);
      return last;
    }
  };

  const apply = (cm: V1ConfigMap | undefined) => {
    if (!cm) {
      if (first) l.warn(`${where} does not exist: client certificates and front-proxy requests cannot be authenticated until it does`);
      else l.error(`${where} is gone; keeping the last authentication configuration`);
      first = false;
      return;
    }
    first = false;
    const data = cm.data ?? {};
    clientCA = caPart('client-ca-file', data['client-ca-file'], clientCA);
    requestHeaderCA = caPart('requestheader-client-ca-file', data['requestheader-client-ca-file'], requestHeaderCA);
    try {
      const next = {} as Headers;
      for (const [field, key] of Object.entries(HEADER_KEYS) as [keyof Headers, string][]) next[field] = deserializeStrings(key, data[key]);
      headers = next;
    } catch (e) {
      l.error(`${where}: ${(e as Error).message}${headers ? '; keeping the last good request header settings' : ''}`);
    }
    const empty: Headers = { allowedNames: [], usernameHeaders: [], groupHeaders: [], extraHeaderPrefixes: [], uidHeaders: [] };
    const next: ClusterAuthConfig = {
      ...(clientCA && { clientCA }),
      ...(requestHeaderCA && { requestHeader: { clientCA: requestHeaderCA, ...(headers ?? empty) } }),
    };
    if (JSON.stringify(next) === JSON.stringify(value)) return;
    value = next;
    l.info({ clientCA: !!next.clientCA, requestHeader: !!next.requestHeader, allowedNames: next.requestHeader?.allowedNames }, 'loaded the cluster authentication configuration');
    for (const fn of listeners) fn(value);
  };

  let watch: ObjectWatch;
  try {
    watch = await followObject<V1ConfigMap>(kc, 'configmaps', AUTH_CONFIGMAP_NAMESPACE, AUTH_CONFIGMAP_NAME, apply, l, opts);
  } catch (e) {
    const code = (e as { code?: number }).code;
    const hint =
      code === 403
        ? `. Usually fixed by 'kubectl create rolebinding -n ${AUTH_CONFIGMAP_NAMESPACE} ROLEBINDING_NAME --role=${AUTH_READER_ROLE} --serviceaccount=YOUR_NS:YOUR_SA'`
        : '';
    throw new Error(`unable to load the cluster authentication configuration: ${(e as Error).message}${hint}`);
  }
  return {
    current: () => value,
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    stop: () => watch.stop(),
  };
}
