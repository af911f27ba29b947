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

/** the HTTP status of an API error (ApiException's `code`, a watch error's `statusCode`); not a system error's code ('ECONNREFUSED') */
export function codeOf(e: unknown): number | undefined {
  const x = e as { code?: unknown; statusCode?: unknown } | undefined;
  return typeof x?.code === 'number' ? x.code : typeof x?.statusCode === 'number' ? x.statusCode : undefined;
}

/** Per-request client-node options: the request ends when `signal` aborts. */
export function withSignal(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [{ pre: (ctx) => (ctx.setSignal(signal), new Observable(Promise.resolve(ctx))), post: (r) => new Observable(Promise.resolve(r)) }],
    middlewareMergeStrategy: 'append',
  };
}

/** waits `ms`, or less if `signal` aborts */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal.addEventListener('abort', wake);
  });
}

export interface ListWatchOptions {
  kc: KubeConfig;
  /** the collection's path (`/api/v1/namespaces/<ns>/configmaps`) */
  path: string;
  /** more watch parameters (a field selector) */
  params?: Record<string, string>;
  /** one list; resolves with its resourceVersion */
  list: (signal: AbortSignal) => Promise<string>;
  /** how long a list in the loop may take */
  listTimeoutMs: number;
  /** after each list made by the loop (the caller's own first list excepted) */
  listed?: () => void;
  /** each watch event but errors (bookmarks too); the resourceVersion is followed already */
  onEvent: (type: string, obj: any) => void;
  stopper: AbortSignal;
  log: Logger;
  /** fields of the loop's log lines */
  logFields: Record<string, string>;
  /** names the collection in errors (`watch of <what> failed`) */
  what: string;
  /** starts the warning of a failed list or watch (`<failing> failed: HTTP 500`) */
  failing: string;
}

/**
 * client-go's reflector loop over one collection: list (when there is no resourceVersion), then
 * watch from the resourceVersion; a watch that ends is resumed from the last resourceVersion
 * seen, an expired one (410) is replaced by a new list, errors are retried with a backoff (1 s
 * doubling to 30 s; a watch that ends at once counts as an error). Runs until `stopper` aborts.
 */
export class ListWatch {
  rv = '';
  private watching?: AbortController;
  private readonly watch: Watch;

  constructor(private readonly o: ListWatchOptions) {
    this.watch = new Watch(o.kc);
  }

  async list(timeoutMs: number): Promise<void> {
    this.rv = await this.o.list(AbortSignal.any([AbortSignal.timeout(timeoutMs), this.o.stopper]));
  }

  async run(): Promise<void> {
    const { stopper, log, logFields } = this.o;
    let backoff = 0;
    const nextBackoff = () => (backoff = Math.min(Math.max(MIN_BACKOFF_MS, backoff * 2), MAX_BACKOFF_MS));
    while (!stopper.aborted) {
      try {
        if (!this.rv) {
          await this.list(this.o.listTimeoutMs);
          this.o.listed?.();
        }
        if (stopper.aborted) return;
        const { expired, healthy } = await this.watchOnce();
        if (expired) {
          log.info(logFields, 'watch expired, listing again');
          this.rv = '';
        }
        // a server that keeps ending watches at once is not hammered
        if (healthy) backoff = 0;
        else nextBackoff();
      } catch (e) {
        if (stopper.aborted) return;
        nextBackoff();
        log.warn({ ...logFields, retryInMs: backoff }, `${this.o.failing} failed: ${describeError(e)}`);
      }
      if (backoff) await sleep(backoff, stopper);
    }
  }

  /** Ends the current watch (abort the stopper to end the loop). */
  stop(): void {
    this.watching?.abort();
  }

  /**
   * One watch; resolves when the stream ends (expired: after a 410) with whether it was healthy
   * (it delivered an event or lasted a second: client-go treats a shorter, empty watch as an
   * error), rejects on an error.
   */
  private watchOnce(): Promise<{ expired: boolean; healthy: boolean }> {
    const { stopper } = this.o;
    return new Promise((resolve, reject) => {
      const started = Date.now();
      let expired = false;
      let events = 0;
      let failed: Error | undefined;
      const timeoutSeconds = MIN_WATCH_TIMEOUT_S + Math.floor(Math.random() * MIN_WATCH_TIMEOUT_S);
      // a guard in case the server never ends the stream (client-node 1.4's watch has no timeout)
      const guard = setTimeout(() => this.watching?.abort(), (timeoutSeconds + 30) * 1000);
      const onEvent = (type: string, obj: any) => {
        if (type === 'ERROR') {
          if (obj?.code === 410) expired = true;
          else failed = new KubeReadError(`watch of ${this.o.what} failed: ${obj?.message ?? 'unknown error'}`, obj?.code);
          return;
        }
        events++;
        if (obj?.metadata?.resourceVersion) this.rv = obj.metadata.resourceVersion;
        this.o.onEvent(type, obj);
      };
      const done = (err: unknown) => {
        clearTimeout(guard);
        this.watching = undefined;
        const healthy = events > 0 || Date.now() - started >= MIN_BACKOFF_MS;
        if (stopper.aborted) resolve({ expired: false, healthy });
        else if (err && codeOf(err) === 410) resolve({ expired: true, healthy });
        else if (err) reject(err);
        else if (failed) reject(failed);
        else resolve({ expired, healthy });
      };
      this.watch
        .watch(this.o.path, { ...this.o.params, resourceVersion: this.rv, allowWatchBookmarks: true, timeoutSeconds }, onEvent, done)
        .then((c) => {
          if (stopper.aborted) c.abort();
          else if (!c.signal.aborted) this.watching = c;
        })
        .catch(done);
    });
  }
}

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
  const lw = new ListWatch({
    kc,
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/${resource}`,
    params: { fieldSelector },
    async list(signal) {
      const l =
        resource === 'configmaps'
          ? await core.listNamespacedConfigMap({ namespace, fieldSelector }, withSignal(signal))
          : await core.listNamespacedSecret({ namespace, fieldSelector }, withSignal(signal));
      onChange(l.items.find((o) => o.metadata?.name === name) as T | undefined);
      return l.metadata?.resourceVersion ?? '';
    },
    listTimeoutMs: MAX_BACKOFF_MS,
    onEvent: (type, obj) => {
      if (type === 'BOOKMARK' || obj?.metadata?.name !== name) return;
      onChange(type === 'DELETED' ? undefined : (obj as T));
    },
    stopper: stopper.signal,
    log,
    logFields: { resource, namespace, name },
    what,
    failing: `following ${what}`,
  });

  // the first list, retried while another attempt fits before the deadline
  const deadline = Date.now() + (opts.firstListTimeoutMs ?? 30_000);
  for (let attempt = 1, backoff = MIN_BACKOFF_MS; ; attempt++, backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)) {
    try {
      await lw.list(Math.max(1, deadline - Date.now()));
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
      await sleep(backoff, stopper.signal);
    }
  }
  void lw.run();
  return {
    stop() {
      stopper.abort();
      lw.stop();
    },
  };
}
