// Git credentials from Secrets in a Repository's namespace (cluster mode). Like kubelet's
// watch-based secret manager: the first lookup of a Secret reads it and starts a watch on that one
// Secret (field selector metadata.name), later lookups are answered from memory and see updates
// and deletions, and a Secret not looked up for 10 minutes is no longer watched. A
// `kubernetes.io/basic-auth` Secret gives username and password, any other Secret with a `token`
// key a bearer token. Secret values are never logged nor put in an error.
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Credentials } from '../storage/git/credentials.ts';
import type { GitAuth } from '../storage/git/repo.ts';
import { followObject, type ObjectWatch } from './reflector.ts';

export const BASIC_AUTH_TYPE = 'kubernetes.io/basic-auth';

export interface SecretCredentialsOptions {
  /** stop watching a Secret not looked up for this long (default 10 minutes) */
  idleMs?: number;
  /** how long the first read of a Secret may take, retries included (default 10 s) */
  firstReadTimeoutMs?: number;
}

interface SecretState {
  secret?: V1Secret;
  /** the resourceVersion last warned about, so an unusable Secret is reported once per version */
  warned?: string;
}

interface Entry {
  state: SecretState;
  watch: Promise<ObjectWatch>;
  lastUsed: number;
}

const decode = (b64: string | undefined) => (b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8'));

/** The credentials a Secret holds; undefined (with a warning naming only its type and keys) if none. */
function toAuth(key: string, entry: SecretState, log: Logger): GitAuth | undefined {
  const s = entry.secret;
  if (!s) return undefined;
  const data = s.data ?? {};
  if (s.type === BASIC_AUTH_TYPE) {
    const auth: GitAuth = {};
    const username = decode(data.username);
    const password = decode(data.password);
    if (username !== undefined) auth.username = username;
    if (password !== undefined) auth.password = password;
    return auth;
  }
  if (data.token !== undefined) return { token: decode(data.token) };
  const rv = s.metadata?.resourceVersion ?? '';
  if (entry.warned !== rv) {
    entry.warned = rv;
    log.warn(
      { secret: key, type: s.type ?? '', keys: Object.keys(data).sort() },
      `secret ${key} holds no git credentials: it must be of type "${BASIC_AUTH_TYPE}" or have a "token" key`,
    );
  }
  return undefined;
}

/**
 * Credentials for `spec.git.credentials`: the Secret of that name in the Repository's namespace.
 * A missing Secret is undefined; a Secret that cannot be read (RBAC, API server unreachable) makes
 * `lookup` reject with a KubeReadError that names it and the API's answer.
 */
export function secretCredentials(kc: KubeConfig, log: Logger, opts: SecretCredentialsOptions = {}): Credentials & { stop(): void } {
  const idleMs = opts.idleMs ?? 10 * 60_000;
  const entries = new Map<string, Entry>();

  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [key, e] of entries) {
        if (now - e.lastUsed <= idleMs) continue;
        entries.delete(key);
        e.watch.then((w) => w.stop(), () => {});
        log.debug({ secret: key }, 'stopped watching an unused secret');
      }
    },
    Math.min(60_000, idleMs),
  );
  sweep.unref();

  return {
    async lookup(namespace, name) {
      const key = `${namespace}/${name}`;
      let entry = entries.get(key);
      if (!entry) {
        const state: SecretState = {};
        const watch = followObject<V1Secret>(kc, 'secrets', namespace, name, (s) => (state.secret = s), log, {
          firstListTimeoutMs: opts.firstReadTimeoutMs ?? 10_000,
        });
        const e: Entry = { state, watch, lastUsed: Date.now() };
        // a failed first read is not cached: the next lookup tries again
        e.watch.catch(() => entries.get(key) === e && entries.delete(key));
        entries.set(key, e);
        entry = e;
      }
      entry.lastUsed = Date.now();
      await entry.watch;
      return toAuth(key, entry.state, log);
    },
    stop() {
      clearInterval(sweep);
      for (const e of entries.values()) e.watch.then((w) => w.stop(), () => {});
      entries.clear();
    },
  };
}
