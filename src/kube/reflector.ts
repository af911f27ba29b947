// Follows one named ConfigMap or Secret in a namespace, as client-go's reflector does with a
// `metadata.name` field selector (the way k8s.io/apiserver follows its authentication ConfigMap and
// kubelet its Secrets): list, then watch from the list's resourceVersion. A watch that ends is
// resumed from the last resourceVersion seen; an expired one (410) is replaced by a new list; errors
// are retried with a backoff (1 s doubling to 30 s). The object itself is never logged.
import {
  ApiException,
  CoreV1Api,
  Observable,
  Watch,
  type ConfigurationOptions,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';

export type Resource = 'configmaps' | 'secrets';

export interface ObjectWatch {
  stop(): void;
}

export interface FollowOptions {
  /** how long the first list may take, retries included (default 30 s) */
  firstListTimeoutMs?: number;
}

/** A failed read; the message names the object and the API's answer, never the object's data. */
export class KubeReadError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = 'KubeReadError';
  }
}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** client-go's minWatchTimeout: each watch asks the server to end it after 5 to 10 minutes */
const MIN_WATCH_TIMEOUT_S = 300;

/** `HTTP 403: <the Status message>` for an API error, the message otherwise */
export function describeError(e: unknown): string {
  if (e instanceof ApiException) {
    let message = '';
    try {
      message = JSON.parse(String(e.body)).message ?? '';
    } catch {
      // not a Status
    }
    return `HTTP ${e.code}${message ? `: ${message}` : ''}`;
  }
  const code = (e as { statusCode?: number } | undefined)?.statusCode;
  return code ? `HTTP ${code}` : ((e as Error | undefined)?.message ?? String(e));
}

const codeOf = (e: unknown): number | undefined => (e instanceof ApiException ? e.code : (e as { statusCode?: number })?.statusCode);

/**
 * Lists the object (retrying until `firstListTimeoutMs`; 401 and 403 fail at once), calls
 * `onChange` with it (undefined: it does not exist), then follows it in the background, calling
 * `onChange` after every change seen (and after each new list, changed or not).
 */
export async function followObject<T extends KubernetesObject>(
  kc: KubeConfig,
  resource: Resource,
  namespace: string,
  name: string,
  onChange: (obj: T | undefined) => void,
  log: Logger,
  opts: FollowOptions = {},
): Promise<ObjectWatch> {
  const core = kc.makeApiClient(CoreV1Api);
  const fieldSelector = `metadata.name=${name}`;
  const what = `${resource} ${namespace}/${name}`;
  const stopper = new AbortController();
  let rv = '';
  let watching: AbortController | undefined;

  /** waits `ms`, or less if stopped */
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        stopper.signal.removeEventListener('abort', wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      stopper.signal.addEventListener('abort', wake);
    });

  async function list(timeoutMs: number): Promise<void> {
    const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), stopper.signal]);
    const options: ConfigurationOptions = {
      middleware: [{ pre: (ctx) => (ctx.setSignal(signal), new Observable(Promise.resolve(ctx))), post: (r) => new Observable(Promise.resolve(r)) }],
      middlewareMergeStrategy: 'append',
    };
    const l =
      resource === 'configmaps'
        ? await core.listNamespacedConfigMap({ namespace, fieldSelector }, options)
        : await core.listNamespacedSecret({ namespace, fieldSelector }, options);
    rv = l.metadata?.resourceVersion ?? '';
    onChange(l.items.find((o) => o.metadata?.name === name) as T | undefined);
  }

  /**
   * One watch; resolves when the stream ends (expired: after a 410) with whether it was healthy
   * (it delivered an event or lasted a second: client-go treats a shorter, empty watch as an
   * error), rejects on an error.
   */
  function watchOnce(): Promise<{ expired: boolean; healthy: boolean }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      let expired = false;
      let events = 0;
      let failed: Error | undefined;
      const timeoutSeconds = MIN_WATCH_TIMEOUT_S + Math.floor(Math.random() * MIN_WATCH_TIMEOUT_S);
      // a guard in case the server never ends the stream (client-node 1.4's watch has no timeout)
      const guard = setTimeout(() => watching?.abort(), (timeoutSeconds + 30) * 1000);
      const onEvent = (type: string, obj: any) => {
        if (type === 'ERROR') {
          if (obj?.code === 410) expired = true;
          else failed = new KubeReadError(`watch of ${what} failed: ${obj?.message ?? 'unknown error'}`, obj?.code);
          return;
        }
        events++;
        if (obj?.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
        if (type === 'BOOKMARK' || obj?.metadata?.name !== name) return;
        onChange(type === 'DELETED' ? undefined : (obj as T));
      };
      const done = (err: unknown) => {
        clearTimeout(guard);
        watching = undefined;
        const healthy = events > 0 || Date.now() - started >= MIN_BACKOFF_MS;
        if (stopper.signal.aborted) resolve({ expired: false, healthy });
        else if (err && codeOf(err) === 410) resolve({ expired: true, healthy });
        else if (err) reject(err);
        else if (failed) reject(failed);
        else resolve({ expired, healthy });
      };
      const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`;
      const params = { fieldSelector, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds };
      new Watch(kc)
        .watch(path, params, onEvent, done)
        .then((c) => {
          if (stopper.signal.aborted) c.abort();
          else if (!c.signal.aborted) watching = c;
        })
        .catch(done);
    });
  }

  async function run(): Promise<void> {
    let backoff = 0;
    const nextBackoff = () => (backoff = Math.min(Math.max(MIN_BACKOFF_MS, backoff * 2), MAX_BACKOFF_MS));
    while (!stopper.signal.aborted) {
      try {
        if (!rv) await list(MAX_BACKOFF_MS);
        if (stopper.signal.aborted) return;
        const { expired, healthy } = await watchOnce();
        if (expired) {
          log.info({ resource, namespace, name }, 'watch expired, listing again');
          rv = '';
        }
        // a server that keeps ending watches at once is not hammered
        if (healthy) backoff = 0;
        else nextBackoff();
      } catch (e) {
        if (stopper.signal.aborted) return;
        nextBackoff();
        log.warn({ resource, namespace, name, retryInMs: backoff }, `following ${what} failed: ${describeError(e)}`);
      }
      if (backoff) await sleep(backoff);
    }
  }

  // the first list, retried while another attempt fits before the deadline
  const deadline = Date.now() + (opts.firstListTimeoutMs ?? 30_000);
  for (let attempt = 1, backoff = MIN_BACKOFF_MS; ; attempt++, backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)) {
    try {
      await list(Math.max(1, deadline - Date.now()));
      break;
    } catch (e) {
      const code = codeOf(e);
      const message = `unable to read ${what}: ${describeError(e)}`;
      const fatal = code === 401 || code === 403;
      if (fatal || Date.now() + backoff >= deadline) {
        stopper.abort();
        throw new KubeReadError(fatal ? message : `${message} (gave up after ${attempt} attempt${attempt > 1 ? 's' : ''})`, code);
      }
      log.warn({ resource, namespace, name, retryInMs: backoff }, message);
      await sleep(backoff);
    }
  }
  void run();
  return {
    stop() {
      stopper.abort();
      watching?.abort();
    },
  };
}
