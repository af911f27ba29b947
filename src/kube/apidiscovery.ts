// Which APIs the cluster serves, from kube-apiserver's discovery, kept current.
//
// A read takes the legacy discovery documents, as kubectl's discovery client does: `/api` and
// `/api/v1` (the core group), `/apis` (every group with its versions, preferred first) and
// `/apis/<group>/<version>` for each of them (a few at a time). Every kind becomes one ServedAPI
// (group, kind, plural resource, every version serving it with the preferred first, scope);
// subresources (`pods/status`) are skipped, and so is core v1 `bindings`, as in the built-in list
// (src/api/coreapis.ts). A group version that fails to answer (an aggregated API server that is
// down answers 503) keeps what the previous read found for it, or is left out if nothing was ever
// read: a blip neither removes kinds nor sets off a rediscovery; such failures are logged once.
//
// The set of APIs changes when a CustomResourceDefinition or an APIService does, so both are
// watched (list for a resourceVersion, then watch from it; a watch that ends is resumed from the
// last resourceVersion seen, an expired one (410) is replaced by a new list, errors are retried
// with a backoff of 1 s doubling to 30 s, as src/kube/reflector.ts does for one object). Any
// event, or a new list, re-reads discovery after `debounceMs` of quiet, and once more after
// `settleMs` (kube-apiserver updates its discovery documents shortly after the object changes);
// listeners hear of a read whose list differs from the current one. Nothing is polled.
//
// The server's own APIs (`own`) are always in the index, whether or not its APIService is
// registered and available yet. Until the first read succeeds the index is the built-in list
// (KUBERNETES_APIS) with them, so nothing waits on the cluster. Logs name paths, status codes and
// Status messages, never a credential or an object.
import {
  ApiextensionsV1Api,
  ApiregistrationV1Api,
  ApisApi,
  CoreApi,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiIndex, KUBERNETES_APIS, type APIIndex, type ServedAPI } from '../api/coreapis.ts';
import { codeOf, describeError, ListWatch, sleep, withSignal } from './reflector.ts';

export interface LiveAPIsOptions {
  kubeConfig: KubeConfig;
  /** the server's own APIs: always served, even before the cluster's discovery lists them */
  own?: readonly ServedAPI[];
  logger: Logger;
  /** quiet time after a watch event before discovery is read again (default 500 ms) */
  debounceMs?: number;
  /** one more read this long after the last event (default 5 s; 0 or not above debounceMs: none) */
  settleMs?: number;
  /** how long start() retries the first read (default 30 s) */
  firstReadTimeoutMs?: number;
  /** the timeout of each request (default 10 s) */
  requestTimeoutMs?: number;
}

/** Called with the new list and the one it replaces. */
export type APIsChangeListener = (apis: readonly ServedAPI[], previous: readonly ServedAPI[]) => void;

/** What LiveAPIs has done, for tests and logs. */
export interface LiveAPIsStats {
  /** successful reads of discovery */
  reads: number;
  /** failed reads (of `/api`, `/api/v1` or `/apis`; a failing group version alone does not count) */
  failures: number;
  /** reads that changed the list (each one called the listeners) */
  changes: number;
}

/** One resource of a discovery document, as far as an index needs it. */
export interface DiscoveredResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

/** A group of `/apis` (or the core group, name ''): its versions, preferred first. */
export interface DiscoveredGroup {
  name: string;
  versions: string[];
}

export interface DiscoveryRead {
  groups: DiscoveredGroup[];
  /** "version" (core) or "group/version" → its resources, for every group version known (read now, or kept from `previous`) */
  resources: Map<string, DiscoveredResource[]>;
  /** group versions that did not answer, with why */
  failed: Map<string, string>;
}

const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** group versions read at once */
const PARALLEL_READS = 8;

const groupVersion = (group: string, version: string) => (group ? `${group}/${version}` : version);
/**
 * Reads the discovery documents. Rejects when `/api`, `/api/v1` or `/apis` cannot be read; a
 * group version that cannot be read keeps its entry of `previous`, if any, and is named in
 * `failed`.
 */
export async function readDiscovery(
  kc: KubeConfig,
  opts: { signal?: AbortSignal; requestTimeoutMs?: number; previous?: ReadonlyMap<string, DiscoveredResource[]> } = {},
): Promise<DiscoveryRead> {
  const timeout = opts.requestTimeoutMs ?? 10_000;
  const options = () => withSignal(opts.signal ? AbortSignal.any([AbortSignal.timeout(timeout), opts.signal]) : AbortSignal.timeout(timeout));
  const slim = (list: { resources?: { name: string; kind: string; namespaced: boolean }[] }): DiscoveredResource[] =>
    (list.resources ?? []).map((r) => ({ name: r.name, kind: r.kind, namespaced: !!r.namespaced }));

  const [core, apis] = await Promise.all([kc.makeApiClient(CoreApi).getAPIVersions(options()), kc.makeApiClient(ApisApi).getAPIVersions(options())]);
  const resources = new Map<string, DiscoveredResource[]>();
  const failed = new Map<string, string>();
  const groups: DiscoveredGroup[] = [];
  // the core group: kube serves only v1 there
  if ((core.versions ?? []).includes('v1')) {
    resources.set('v1', slim(await kc.makeApiClient(CoreV1Api).getAPIResources(options())));
    groups.push({ name: '', versions: ['v1'] });
  }
  for (const g of apis.groups ?? []) {
    const listed = (g.versions ?? []).map((v) => v.version);
    const preferred = g.preferredVersion?.version;
    const versions = preferred && listed.includes(preferred) ? [preferred, ...listed.filter((v) => v !== preferred)] : listed;
    if (versions.length) groups.push({ name: g.name, versions });
  }

  const custom = kc.makeApiClient(CustomObjectsApi);
  const todo = groups.filter((g) => g.name !== '').flatMap((g) => g.versions.map((version) => ({ group: g.name, version })));
  const worker = async () => {
    for (let next = todo.shift(); next; next = todo.shift()) {
      const gv = groupVersion(next.group, next.version);
      try {
        resources.set(gv, slim(await custom.getAPIResources(next, options())));
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        failed.set(gv, describeError(e));
        const kept = opts.previous?.get(gv);
        if (kept) resources.set(gv, kept);
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_READS }, worker));
  return { groups, resources, failed };
}

/**
 * The ServedAPIs of a read: groups in discovery's order; in a group, one entry per kind, by
 * resource; its versions in the group's order (preferred first), its resource name and scope
 * from the first version that serves it.
 */
export function servedAPIs(groups: readonly DiscoveredGroup[], resources: ReadonlyMap<string, DiscoveredResource[]>): ServedAPI[] {
  const out: ServedAPI[] = [];
  for (const g of groups) {
    const byKind = new Map<string, ServedAPI>();
    for (const version of g.versions) {
      for (const r of resources.get(groupVersion(g.name, version)) ?? []) {
        if (r.name.includes('/') || (g.name === '' && r.name === 'bindings')) continue;
        const seen = byKind.get(r.kind);
        if (!seen) byKind.set(r.kind, { group: g.name, kind: r.kind, resource: r.name, versions: [version], namespaced: r.namespaced });
        else if (!seen.versions.includes(version)) seen.versions.push(version);
      }
    }
    out.push(...[...byKind.values()].sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0)));
  }
  return out.map((a) => Object.freeze({ ...a, versions: Object.freeze([...a.versions]) as string[] }));
}

/** `apis` followed by the entries of `own` whose group and kind it does not have. */
function withOwn(apis: readonly ServedAPI[], own: readonly ServedAPI[]): readonly ServedAPI[] {
  const has = new Set(apis.map((a) => `${a.group}/${a.kind}`));
  return Object.freeze([...apis, ...own.filter((a) => !has.has(`${a.group}/${a.kind}`))]);
}

/** "group/Kind" keys of `a` that are not in `b` (with versions, so a new version shows) */
function missingFrom(a: readonly ServedAPI[], b: readonly ServedAPI[]): string[] {
  const key = (x: ServedAPI) => `${x.group ? `${x.group}/` : ''}${x.kind} ${x.versions.join(',')}`;
  const has = new Set(b.map(key));
  return a.map(key).filter((k) => !has.has(k));
}

/**
 * The APIs the cluster serves, from live discovery (see the top of this file). An APIIndex whose
 * answers change as the cluster's APIs do; `onChange` listeners hear of each change.
 */
export class LiveAPIs implements APIIndex {
  private current: readonly ServedAPI[];
  private index: APIIndex;
  private readonly own: readonly ServedAPI[];
  private readonly log: Logger;
  private readonly listeners = new Set<APIsChangeListener>();
  private readonly stopper = new AbortController();
  private readonly followers: { resource: string; lw: ListWatch }[];
  private readonly counts: LiveAPIsStats = { reads: 0, failures: 0, changes: 0 };
  private previous = new Map<string, DiscoveredResource[]>();
  private started = false;
  private isLive = false;
  private reading?: Promise<void>;
  private again = false;
  private debounceTimer?: NodeJS.Timeout;
  private settleTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private retryBackoff = 0;
  /** the failed group versions last logged, so that a lasting failure is logged once */
  private lastFailed = '';

  constructor(private readonly opts: LiveAPIsOptions) {
    this.own = opts.own ?? [];
    this.log = opts.logger;
    this.current = withOwn(KUBERNETES_APIS, this.own);
    this.index = apiIndex(this.current);
    const kc = opts.kubeConfig;
    const follow = (resource: string, path: string, list: (signal: AbortSignal) => Promise<string>) => ({
      resource,
      lw: new ListWatch({
        kc,
        path,
        list,
        listTimeoutMs: this.timeout,
        // whatever changed since the last event seen is unknown: read discovery again
        listed: () => this.schedule(),
        onEvent: (type) => {
          if (type !== 'BOOKMARK') this.schedule();
        },
        stopper: this.stopper.signal,
        log: this.log,
        logFields: { resource },
        what: resource,
        failing: `watching ${resource}`,
      }),
    });
    this.followers = [
      follow('customresourcedefinitions', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', async (signal) => (await kc.makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition({ limit: 1 }, withSignal(signal))).metadata?.resourceVersion ?? ''),
      follow('apiservices', '/apis/apiregistration.k8s.io/v1/apiservices', async (signal) => (await kc.makeApiClient(ApiregistrationV1Api).listAPIService({ limit: 1 }, withSignal(signal))).metadata?.resourceVersion ?? ''),
    ];
  }

  kind(group: string, resource: string): string | undefined {
    return this.index.kind(group, resource);
  }

  api(group: string, kind: string): ServedAPI | undefined {
    return this.index.api(group, kind);
  }

  all(): readonly ServedAPI[] {
    return this.current;
  }

  /** Calls `listener` after each read that changed the list; returns a function that removes it. */
  onChange(listener: APIsChangeListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** True once a read of the cluster's discovery has succeeded (until then: the built-in list). */
  get live(): boolean {
    return this.isLive;
  }

  stats(): LiveAPIsStats {
    return { ...this.counts };
  }

  /**
   * Lists the CRDs and APIServices (for the watches' resourceVersion), reads discovery (retried
   * for up to `firstReadTimeoutMs`; if it never succeeds, an error is logged, the built-in list
   * stays in use and reads are retried in the background) and starts the watches. Resolves with
   * `live`; never rejects.
   */
  async start(): Promise<boolean> {
    if (this.started) throw new Error('LiveAPIs has already started');
    this.started = true;
    const stop = this.stopper.signal;
    // a failed list is left to the follower's loop (which lists, then has discovery read again)
    await Promise.all(this.followers.map((f) => f.lw.list(this.timeout).catch((e) => this.log.warn({ resource: f.resource }, `unable to list ${f.resource}: ${describeError(e)}; retrying in the background`))));
    const deadline = Date.now() + (this.opts.firstReadTimeoutMs ?? 30_000);
    for (let attempt = 1, backoff = MIN_BACKOFF_MS; !stop.aborted; attempt++, backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)) {
      try {
        await this.readOnce();
        break;
      } catch (e) {
        if (stop.aborted) break;
        const code = codeOf(e);
        if (code === 401 || code === 403 || Date.now() + backoff >= deadline) {
          this.log.error(
            { attempts: attempt },
            `unable to read the cluster's API discovery: ${describeError(e)}; using the built-in list of Kubernetes APIs until a read succeeds (retrying in the background)`,
          );
          this.retryLater();
          break;
        }
        this.log.warn({ attempt, retryInMs: backoff }, `unable to read the cluster's API discovery: ${describeError(e)}`);
        await sleep(backoff, stop);
      }
    }
    if (!stop.aborted) for (const f of this.followers) void f.lw.run();
    return this.isLive;
  }

  /** Ends the watches and timers; resolves when a read in progress has ended. */
  async stop(): Promise<void> {
    this.stopper.abort();
    for (const f of this.followers) f.lw.stop();
    clearTimeout(this.debounceTimer);
    clearTimeout(this.settleTimer);
    clearTimeout(this.retryTimer);
    await this.reading;
  }

  private get timeout(): number {
    return this.opts.requestTimeoutMs ?? 10_000;
  }

  /** a watch event or a new list: read again after the debounce, and once more when it has settled */
  private schedule(): void {
    if (this.stopper.signal.aborted) return;
    const debounce = this.opts.debounceMs ?? 500;
    const settle = this.opts.settleMs ?? 5000;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.requestRead(), debounce);
    if (settle > debounce) {
      clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => this.requestRead(), settle);
    }
  }

  private retryLater(): void {
    this.retryBackoff = Math.min(Math.max(MIN_BACKOFF_MS, this.retryBackoff * 2), MAX_BACKOFF_MS);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.requestRead(), this.retryBackoff);
  }

  /** reads now, or right after the read in progress */
  private requestRead(): void {
    if (this.stopper.signal.aborted) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = (async () => {
      do {
        this.again = false;
        try {
          await this.readOnce();
          this.retryBackoff = 0;
          clearTimeout(this.retryTimer);
        } catch (e) {
          if (this.stopper.signal.aborted) return;
          this.again = false; // the retry timer reads again
          this.retryLater();
          this.log.warn({ retryInMs: this.retryBackoff }, `unable to read the cluster's API discovery: ${describeError(e)}; keeping the APIs last read`);
        }
      } while (this.again && !this.stopper.signal.aborted);
    })().finally(() => (this.reading = undefined));
  }

  private async readOnce(): Promise<void> {
    let read: DiscoveryRead;
    try {
      read = await readDiscovery(this.opts.kubeConfig, { signal: this.stopper.signal, requestTimeoutMs: this.timeout, previous: this.previous });
    } catch (e) {
      this.counts.failures++;
      throw e;
    }
    if (this.stopper.signal.aborted) return;
    this.counts.reads++;
    this.previous = read.resources;
    const failed = [...read.failed].map(([gv, why]) => `${gv}: ${why}`).join('; ');
    if (failed !== this.lastFailed) {
      if (failed) this.log.warn({ groupVersions: [...read.failed.keys()] }, `some group versions of the cluster's discovery did not answer (kept as last read, if ever): ${failed}`);
      else if (this.lastFailed) this.log.info('every group version of the cluster answers discovery again');
      this.lastFailed = failed;
    }
    const next = withOwn(servedAPIs(read.groups, read.resources), this.own);
    const wasLive = this.isLive;
    this.isLive = true;
    if (JSON.stringify(next) === JSON.stringify(this.current)) return;
    const previous = this.current;
    this.current = next;
    this.index = apiIndex(next);
    this.counts.changes++;
    const cap = (l: string[]) => (l.length > 20 ? [...l.slice(0, 20), `… ${l.length - 20} more`] : l);
    this.log.info(
      { kinds: next.length, ...(wasLive ? { added: cap(missingFrom(next, previous)), removed: cap(missingFrom(previous, next)) } : {}) },
      wasLive ? 'the APIs the cluster serves changed' : 'read the APIs the cluster serves',
    );
    for (const l of this.listeners) {
      try {
        l(next, previous);
      } catch (e) {
        this.log.error({ err: (e as Error)?.message ?? String(e) }, 'an API change listener failed');
      }
    }
  }
}
