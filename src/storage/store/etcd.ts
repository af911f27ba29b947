// The etcd backend of the revisioned key-value store (SPEC 4.1), for several replicas.
//
// It speaks etcd's v3 gRPC API through the `etcd3` client, using its raw KV and Watch clients
// (connection pool, host selection, TLS and retries of unavailable members come from the client;
// its higher-level Watcher is not used: it does not report a compacted watch's compact_revision
// and, after a batch split at 1000 revisions, resumes after the response header's revision
// rather than the last event's).
//
// Keys: every store key is stored as `<prefix><key>` with the prefix ending in "/" (default
// "/pkgserver/", outside kube-apiserver's "/registry/"), so several installations share one etcd;
// the prefix is stripped on the way out. The key that is the prefix itself (the store key "") is
// reserved for this backend's marker (see history) and never listed.
//
// Revisions are etcd's: resourceVersion = mod_revision; the store's revision is etcd's global
// revision, so with other users of the same etcd it grows by more than one between two of our
// writes. Writes are single transactions: create compares create_revision == 0; update compares
// mod_revision == expected (and that the key exists); delete compares existence and, with an
// expected revision, mod_revision. A refused transaction reads the key in its failure branch, so
// not-found and conflict are told apart in the same round trip.
//
// createMany is NOT atomic here. etcd gives every operation of one transaction the same revision,
// while the contract wants one revision and one event per key (watch resumption from any object's
// resourceVersion depends on it). So the keys are created one transaction each, in order; the
// first existing key stops the batch with KeyExistsError, whose `created` lists the keys already
// written (they stay, with their events). A key given twice is found before anything is written.
// Callers (Registry.createMany) use `created`.
//
// subscribe: one etcd watch on the prefix with prev_kv, from the revision of this store's marker
// write at open, delivers events in revision order as the watch learns of them — writes of other
// replicas too. Every write made through this store resolves only after its own event has been
// delivered to the listeners (bounded by deliveryTimeoutMs, after which it resolves anyway and the
// lag is reported), so the SQLite backend's "delivered before the write resolves" holds for this
// replica's writes. A listener subscribed at time t also receives events committed shortly before
// t that the watch had not delivered yet.
//
// requestProgress: etcd's WatchProgressRequest on the subscription's stream; the watch cache uses
// it to know it has every event up to etcd's revision (consistent reads, waits for a
// resourceVersion). Trusted only after a (re)started watch delivered a marker written once it was
// created (etcd < 3.4.24/3.5.8 answers progress before an unsynced watch's events, issue 15220).
// A compaction that cancels the subscription's watch is a gap: the onGap listeners relist.
//
// createIndexed/deleteIndexed: an object and its index keys (uniqueness across replicas) in one
// transaction; they share one revision, and the subscription delivers one event per revision
// (the first of the transaction, the object's), so the index keys stay invisible to the caches.
//
// history: a watch from fromRevision+1 with prev_kv, collected until it reaches the horizon: the
// newest revision this store's subscription has delivered (so every write made through this store
// before the call, and every event any listener has seen, is included; later events reach the
// listeners). Without an etcd progress signal a watch over a quiet range never says it has caught
// up, so the horizon must be the revision of an event in the watched range: that is why open()
// writes the marker key (one revision per start of a store), and why the watched range is the
// requested prefix only when the horizon's key lies in it. A compacted start revision ends the
// watch with etcd's compact_revision → RevisionCompactedError.
//
// A write whose connection breaks after etcd applied it is retried by the client on another
// member (its default policy); the retry's comparison then fails, so such a write can surface as
// KeyExistsError or RevisionConflictError although it took effect — the ambiguity every etcd
// client has; the registry's callers see a conflict and read the object again.
//
// Compaction: etcd's compaction at revision R keeps events from R on; this store reports R - 1 as
// compactedRevision (history from R - 1 asks for events > R - 1). compact(keep) compacts etcd at
// current - keep + 1 (at current for keep = 0, which keeps one more event than asked). Compactions
// by others (another replica, etcd's own auto-compaction) are learned when a read or watch runs
// into them, and on compactedRevision(), which checks with a cheap range read at the next revision.

import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import {
  CompareResult,
  CompareTarget,
  Etcd3,
  type ICompare,
  type IKeyValue,
  type IRangeRequest,
  type IRequestOp,
  type ITxnResponse,
  type IWatchCreateRequest,
  type IWatchResponse,
} from 'etcd3';
import {
  checkCount,
  KeyExistsError,
  KeyNotFoundError,
  RevisionCompactedError,
  RevisionConflictError,
  StoreTimeoutError,
  type KV,
  type ListOptions,
  type ListResult,
  type Store,
  type StoreEvent,
  type Unsubscribe,
} from './interface.ts';
import { RevisionWaiters } from './revisionwaiters.ts';

export const DEFAULT_ETCD_PREFIX = '/pkgserver/';

export interface EtcdTLSFiles {
  /** CA of the etcd servers' certificates (PEM file); default: the system's roots */
  caFile?: string;
  /** client certificate (PEM file), with keyFile */
  certFile?: string;
  keyFile?: string;
}

export interface EtcdStoreOptions {
  /** client URLs, http:// or https:// (all of one kind) */
  endpoints: string[];
  /** every key is stored under this prefix (default "/pkgserver/"; a trailing "/" is added) */
  prefix?: string;
  tls?: EtcdTLSFiles;
  /** events kept by automatic compaction (default 100000) */
  historyLimit?: number;
  /** compact automatically, on a write of this store, once etcd's revision has advanced this much since this store last did (default 1000) */
  compactEvery?: number;
  /** how long a write waits for its own event to be delivered before it resolves anyway (default 30 s) */
  deliveryTimeoutMs?: number;
  /** bound on every unary call to etcd (default 30 s) */
  requestTimeoutMs?: number;
  /** told about exceptions thrown by subscribe listeners; they are otherwise ignored */
  onListenerError?: (err: unknown, ev: StoreEvent) => void;
  /** told about trouble of the subscription's watch (broken stream, compacted gap, slow delivery) */
  onWatchError?: (err: unknown) => void;
}

const DEFAULT_HISTORY_LIMIT = 100_000;
const DEFAULT_COMPACT_EVERY = 1000;
/** keys per range request when a list is not limited (keeps each response far below gRPC's 4 MiB) */
const LIST_PAGE = 500;
const WATCH_BACKOFF_MS = [100, 200, 500, 1000, 2000, 5000];
/** attempts at opening a one-off watch stream while members are unreachable */
const STREAM_ATTEMPTS = 10;
/** how often an unanswered progress request is repeated (etcd ignores it while the watch catches up) */
const PROGRESS_RETRY_MS = 100;

type Stream = Awaited<ReturnType<Etcd3['watchClient']['watch']>>;

/** etcd's prefix end on bytes: the smallest key greater than every key starting with `prefix`; empty = no end. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  // every byte is 0xff (or the prefix is empty): "\0" means "to the end of the keyspace"
  return Buffer.from([0]);
}

/** gRPC UNAVAILABLE: the member could not be reached */
function isUnavailable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && ((err as { code?: unknown }).code === 14 || /UNAVAILABLE/.test(String((err as Error).message)));
}

/**
 * Ends a watch stream of ours. Half-closing it first matters: the etcd3 client treats an error
 * on a still-writable stream as a failure of its member (the CANCELLED of our own cancel too),
 * which closes that member's connections and counts towards its circuit breaker.
 */
function closeStream(stream: { end(): void; cancel(): void }): void {
  stream.end();
  stream.cancel();
}

function isCompactedError(err: unknown): boolean {
  return err instanceof Error && /required revision has been compacted/.test(err.message);
}

function isFutureRevisionError(err: unknown): boolean {
  return err instanceof Error && /required revision is a future revision/.test(err.message);
}

/** Normalises the key prefix: starts with "/", ends with exactly one "/". */
export function normalizePrefix(prefix: string): string {
  if (!prefix.startsWith('/')) throw new Error(`the etcd key prefix must start with "/", got "${prefix}"`);
  return prefix.replace(/\/*$/, '/');
}

export class EtcdStore implements Store {
  private readonly listeners = new Set<(ev: StoreEvent) => void>();
  private readonly gapListeners = new Set<(err: RevisionCompactedError) => void>();
  /** callers of requestProgress waiting for the next progress notification */
  private progressWaiters: ((revision: number) => void)[] = [];
  private readonly prefix: Buffer;
  private readonly prefixEnd: Buffer;

  /** the newest revision the subscription has delivered, and the etcd key of that event */
  private delivered = 0;
  private deliveredKey: Buffer = Buffer.alloc(0);
  /** writes waiting for their event to be delivered, by revision */
  private readonly waiters = new RevisionWaiters();
  private compacted = 0;
  private lastAutoCompact = 0;
  private stream?: Stream;
  private backoff = 0;
  private restartTimer?: NodeJS.Timeout;
  private closed = false;
  /**
   * Progress notifications are trusted only once the subscription's watch has delivered the
   * marker written after it was (re)started: etcd before 3.4.24/3.5.8 (issue 15220) can answer a
   * progress request of a watch that is still catching up with the current revision before
   * sending the events it is catching up with. Infinity while a marker is being written.
   */
  private progressTrustedFrom = Infinity;
  /** set while interruptSubscription holds the subscription's watch down */
  private interrupted = false;
  private readonly historyLimit: number;
  private readonly compactEvery: number;
  private readonly deliveryTimeoutMs: number;

  private constructor(
    private readonly client: Etcd3,
    prefix: string,
    private readonly opts: EtcdStoreOptions,
  ) {
    this.prefix = Buffer.from(prefix);
    this.prefixEnd = prefixEnd(this.prefix);
    this.historyLimit = checkCount('historyLimit', opts.historyLimit ?? DEFAULT_HISTORY_LIMIT, 0);
    this.compactEvery = checkCount('compactEvery', opts.compactEvery ?? DEFAULT_COMPACT_EVERY, 1);
    this.deliveryTimeoutMs = checkCount('deliveryTimeoutMs', opts.deliveryTimeoutMs ?? 30_000, 1);
  }

  /**
   * Connects to etcd, writes this store's marker, learns etcd's compaction and starts the
   * subscription's watch; resolves once the watch has delivered the marker.
   */
  static async open(opts: EtcdStoreOptions): Promise<EtcdStore> {
    if (!opts.endpoints.length) throw new Error('no etcd endpoints');
    const hosts = opts.endpoints.map((e) => {
      const u = new URL(e);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`etcd endpoint ${u.protocol}//${u.host}: only http:// and https:// URLs`);
      // not echoed: it would be a password
      if (u.username || u.password) throw new Error(`etcd endpoint ${u.protocol}//${u.host}: user information in the URL is not supported`);
      return `${u.protocol}//${u.host}`;
    });
    const secure = hosts.map((h) => h.startsWith('https:'));
    if (secure.some((s) => s !== secure[0])) throw new Error('etcd endpoints must be all http:// or all https://');
    const tls = opts.tls ?? {};
    if (!!tls.certFile !== !!tls.keyFile) throw new Error('an etcd client certificate needs both its certificate and its key file');
    if ((tls.caFile || tls.certFile) && !secure[0]) throw new Error('etcd TLS files are given but the endpoints are http://');
    const prefix = normalizePrefix(opts.prefix ?? DEFAULT_ETCD_PREFIX);
    const requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    const client = new Etcd3({
      hosts,
      credentials:
        tls.caFile || tls.certFile
          ? {
              // null: the system's roots (grpc-js createSsl)
              rootCertificate: (tls.caFile ? readFileSync(tls.caFile) : null) as Buffer,
              privateKey: tls.keyFile ? readFileSync(tls.keyFile) : undefined,
              certChain: tls.certFile ? readFileSync(tls.certFile) : undefined,
            }
          : undefined,
      // values are bounded by etcd (1.5 MiB by default), list pages are not: as kube's client,
      // no bound on what is received
      grpcOptions: { 'grpc.max_receive_message_length': -1 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
    });
    const store = new EtcdStore(client, prefix, opts);
    try {
      await store.start();
      return store;
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  private async start(): Promise<void> {
    const marker = Buffer.from(JSON.stringify({ opened: new Date().toISOString(), pid: process.pid }));
    const put = await this.client.kv.put({ key: this.prefix, value: marker });
    const markerRevision = Number(put.header.revision);
    this.lastAutoCompact = markerRevision;
    await this.refreshCompacted();
    const seen = this.waitDelivered(markerRevision);
    await this.startWatch(markerRevision);
    await seen;
    if (this.delivered < markerRevision) throw new Error(`the etcd watch did not deliver revision ${markerRevision} within ${this.deliveryTimeoutMs} ms`);
  }

  async currentRevision(): Promise<number> {
    const res = await this.client.kv.range({ key: this.prefix, count_only: true });
    return Number(res.header.revision);
  }

  async compactedRevision(): Promise<number> {
    await this.refreshCompacted();
    return this.compacted;
  }

  async get(key: string): Promise<KV | null> {
    if (key === '') return null;
    const res = await this.client.kv.range({ key: this.encode(key) });
    return res.kvs.length ? this.toKV(res.kvs[0]) : null;
  }

  /**
   * Current values under `prefix` in key order, read at one revision: the first range's, or
   * `opts.revision` (an etcd-only option, for continuing pages at the revision of the first:
   * RevisionCompactedError once that revision is compacted). An unlimited list is read in pages
   * of 500 keys at that revision.
   */
  async list(prefix: string, opts: ListOptions & { revision?: number } = {}): Promise<ListResult> {
    const lower = this.encode(prefix);
    const end = prefixEnd(lower);
    let from = lower;
    if (opts.startKey !== undefined) {
      const start = this.encode(opts.startKey);
      if (Buffer.compare(start, from) > 0) from = start;
    }
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    let revision = opts.revision ?? 0;
    const items: KV[] = [];
    let more = false;
    if (Buffer.compare(from, end) >= 0) {
      return { items, revision: revision || (await this.currentRevision()), more };
    }
    for (;;) {
      const want = limit ? limit + 1 - items.length : LIST_PAGE;
      const req: IRangeRequest = { key: from, range_end: end, limit: Math.min(want, LIST_PAGE) };
      if (revision) req.revision = revision;
      const res = await this.read(() => this.client.kv.range(req), revision);
      if (!revision) revision = Number(res.header.revision);
      for (const kv of res.kvs) if (!kv.key.equals(this.prefix)) items.push(this.toKV(kv));
      if (limit && items.length > limit) {
        items.length = limit;
        more = true;
        break;
      }
      if (!res.more || !res.kvs.length) break;
      // the next page starts right after the last key of this one
      from = Buffer.concat([res.kvs[res.kvs.length - 1].key, Buffer.from([0])]);
    }
    return { items, revision, more };
  }

  async create(key: string, value: Buffer): Promise<KV> {
    const kv = await this.createOne(key, value);
    await this.waitDelivered(kv.modRevision);
    return kv;
  }

  async createMany(entries: { key: string; value: Buffer }[]): Promise<KV[]> {
    const seen = new Set<string>();
    for (const { key } of entries) {
      if (key === '') throw new Error('the empty key is reserved');
      if (seen.has(key)) throw new KeyExistsError(key);
      seen.add(key);
    }
    const created: KV[] = [];
    try {
      for (const { key, value } of entries) {
        try {
          created.push(await this.createOne(key, value));
        } catch (err) {
          if (err instanceof KeyExistsError) throw new KeyExistsError(key, created.slice());
          throw err;
        }
      }
    } finally {
      // the events of what was written are delivered before this resolves or rejects
      if (created.length) await this.waitDelivered(created[created.length - 1].modRevision);
    }
    return created;
  }

  async update(key: string, value: Buffer, expectedRevision: number): Promise<KV> {
    if (key === '') throw new KeyNotFoundError(key); // the marker's
    const k = this.encode(key);
    const stored = Buffer.from(value);
    const res = await this.txn(
      [this.exists(k), { key: k, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: expectedRevision }],
      [{ request_put: { key: k, value: stored, prev_kv: true } }],
      k,
    );
    if (!res.succeeded) throw this.refusal(key, expectedRevision, res);
    const revision = Number(res.header.revision);
    const prev = res.responses[0].response_put.prev_kv;
    await this.afterWrite(revision);
    return { key, value: stored, modRevision: revision, createRevision: Number(prev.create_revision) };
  }

  async delete(key: string, expectedRevision?: number): Promise<{ prev: KV; revision: number }> {
    if (key === '') throw new KeyNotFoundError(key); // the marker's
    const k = this.encode(key);
    const compare = [this.exists(k)];
    if (expectedRevision !== undefined) compare.push({ key: k, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: expectedRevision });
    const res = await this.txn(compare, [{ request_delete_range: { key: k, prev_kv: true } }], k);
    if (!res.succeeded) throw this.refusal(key, expectedRevision, res);
    const revision = Number(res.header.revision);
    const prev = this.toKV(res.responses[0].response_delete_range.prev_kvs[0]);
    await this.afterWrite(revision);
    return { prev, revision };
  }

  /**
   * Creates `key` and its index keys in one transaction (all or none): KeyExistsError names the
   * first of them that exists (the object's key first). The index keys hold the object's key.
   * They share the object's revision; the subscription delivers the object's event (the first
   * of the transaction) and skips the index keys' (see onWatchResponse).
   */
  async createIndexed(key: string, value: Buffer, indexKeys: string[]): Promise<KV> {
    if (key === '' || indexKeys.includes('')) throw new Error('the empty key is reserved');
    const keys = [key, ...indexKeys].map((k) => this.encode(k));
    const stored = Buffer.from(value);
    const res = await this.client.kv.txn({
      compare: keys.map((k) => ({ key: k, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 })),
      success: [{ request_put: { key: keys[0], value: stored } }, ...keys.slice(1).map((k) => ({ request_put: { key: k, value: Buffer.from(key) } }))],
      failure: keys.map((k) => ({ request_range: { key: k, count_only: true } })),
    });
    if (!res.succeeded) {
      const i = res.responses.findIndex((r) => Number(r.response_range?.count ?? 0) > 0);
      throw new KeyExistsError(i <= 0 ? key : indexKeys[i - 1]);
    }
    const revision = Number(res.header.revision);
    await this.afterWrite(revision);
    return { key, value: stored, modRevision: revision, createRevision: revision };
  }

  /** Deletes `key` (if it is still at `expectedRevision`) and its index keys in one transaction. */
  async deleteIndexed(key: string, expectedRevision: number, indexKeys: string[]): Promise<{ prev: KV; revision: number }> {
    if (key === '') throw new KeyNotFoundError(key);
    const k = this.encode(key);
    const res = await this.txn(
      [this.exists(k), { key: k, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: expectedRevision }],
      [{ request_delete_range: { key: k, prev_kv: true } }, ...indexKeys.map((ik) => ({ request_delete_range: { key: this.encode(ik) } }))],
      k,
    );
    if (!res.succeeded) throw this.refusal(key, expectedRevision, res);
    const revision = Number(res.header.revision);
    const prev = this.toKV(res.responses[0].response_delete_range.prev_kvs[0]);
    await this.afterWrite(revision);
    return { prev, revision };
  }

  async history(prefix: string, fromRevision: number, limit?: number, opts: { newest?: boolean } = {}): Promise<StoreEvent[]> {
    checkCount('fromRevision', fromRevision, 0);
    const max = limit && limit > 0 ? limit : Infinity;
    if (fromRevision < this.compacted) throw new RevisionCompactedError(fromRevision, this.compacted);
    const horizon = this.delivered;
    if (fromRevision >= horizon) {
      // nothing to replay; still, a compacted fromRevision is refused as by a watch
      await this.checkNotCompacted(fromRevision);
      return [];
    }
    const lower = this.encode(prefix);
    const upper = prefixEnd(lower);
    const inPrefix = (k: Buffer) => k.subarray(0, lower.length).equals(lower);
    // the watched range must hold the horizon's event, or the watch could not tell it is done
    const narrow = inPrefix(this.deliveredKey);
    const out: StoreEvent[] = [];
    await this.replay({ key: narrow ? lower : this.prefix, range_end: narrow ? upper : this.prefixEnd, start_revision: fromRevision + 1, prev_kv: true }, fromRevision, horizon, (evs) => {
      for (const ev of evs) {
        if (!inPrefix(ev.kv.key) || ev.kv.key.equals(this.prefix)) continue;
        out.push(this.toEvent(ev));
        if (opts.newest) {
          if (out.length > max) out.shift();
        } else if (out.length >= max) return true;
      }
      return false;
    });
    return out;
  }

  subscribe(listener: (ev: StoreEvent) => void, onGap?: (err: RevisionCompactedError) => void): Unsubscribe {
    const entry = (ev: StoreEvent) => listener(ev);
    const gap = onGap ? (err: RevisionCompactedError) => onGap(err) : undefined;
    this.listeners.add(entry);
    if (gap) this.gapListeners.add(gap);
    return () => {
      this.listeners.delete(entry);
      if (gap) this.gapListeners.delete(gap);
    };
  }

  /**
   * etcd's WatchProgressRequest on the subscription's stream: etcd answers with an empty response
   * whose header revision R is its current revision, once the watch has sent every event up to R
   * (it does not answer while the watch is catching up, so the request is repeated). Events are
   * emitted synchronously as responses arrive, so when this resolves every event <= R has reached
   * the listeners. Responses cannot be matched to requests: an answer to an earlier caller's
   * request may be older than this call, so callers that need the current revision read it first
   * (currentRevision) and repeat until R reaches it.
   */
  async requestProgress(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let got: number | undefined;
    const waiter = (r: number) => {
      got = r;
    };
    let wake: () => void = () => {};
    const notify = (r: number) => {
      waiter(r);
      wake();
    };
    this.progressWaiters.push(notify);
    try {
      while (got === undefined) {
        if (this.closed) throw new StoreTimeoutError('the etcd store is closed');
        const left = deadline - Date.now();
        if (left <= 0) throw new StoreTimeoutError(`the etcd watch did not report its progress within ${timeoutMs} ms (delivered: ${this.delivered})`);
        if (this.stream) this.stream.write({ progress_request: {} });
        await new Promise<void>((resolve) => {
          if (got !== undefined) return resolve();
          const t = setTimeout(resolve, Math.min(left, PROGRESS_RETRY_MS));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
      return got;
    } finally {
      this.progressWaiters = this.progressWaiters.filter((w) => w !== notify);
    }
  }

  /**
   * Takes the subscription's watch down until the returned function is called (as a broken
   * connection would; operations and tests: the watch then resumes from the last delivered
   * revision, or reports a gap if etcd compacted it meanwhile).
   */
  interruptSubscription(): () => void {
    this.interrupted = true;
    const stream = this.stream;
    this.stream = undefined;
    if (stream) closeStream(stream);
    return () => {
      if (!this.interrupted) return;
      this.interrupted = false;
      this.restartWatch(undefined);
    };
  }

  async compact(keep: number): Promise<void> {
    checkCount('keep', keep, 0);
    const current = await this.currentRevision();
    const target = current - keep;
    if (target <= this.compacted) return;
    // etcd keeps events from the compaction revision on; keep = 0 cannot go past the current one
    const etcdRevision = keep >= 1 ? target + 1 : current;
    try {
      await this.client.kv.compact({ revision: etcdRevision });
    } catch (err) {
      // someone compacted further already
      if (!isCompactedError(err)) throw err;
      await this.refreshCompacted();
    }
    this.compacted = Math.max(this.compacted, target);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    clearTimeout(this.restartTimer);
    if (this.stream) closeStream(this.stream);
    this.stream = undefined;
    this.waiters.releaseAll();
    this.client.close();
  }

  // ---- writes ----

  private async createOne(key: string, value: Buffer): Promise<KV> {
    if (key === '') throw new Error('the empty key is reserved');
    const k = this.encode(key);
    const stored = Buffer.from(value);
    const res = await this.txn([{ key: k, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 }], [{ request_put: { key: k, value: stored } }], undefined);
    if (!res.succeeded) throw new KeyExistsError(key);
    const revision = Number(res.header.revision);
    this.maybeCompact(revision);
    return { key, value: stored, modRevision: revision, createRevision: revision };
  }

  private exists(k: Buffer): ICompare {
    return { key: k, target: CompareTarget.Create, result: CompareResult.Greater, create_revision: 0 };
  }

  /** One transaction; on failure it reads `failureRead` so the refusal can be explained. */
  private txn(compare: ICompare[], success: IRequestOp[], failureRead: Buffer | undefined): Promise<ITxnResponse> {
    return this.client.kv.txn({ compare, success, failure: failureRead ? [{ request_range: { key: failureRead } }] : [] });
  }

  private refusal(key: string, expected: number | undefined, res: ITxnResponse): Error {
    const current = res.responses[0]?.response_range?.kvs?.[0];
    if (!current) return new KeyNotFoundError(key);
    return new RevisionConflictError(key, expected ?? 0, Number(current.mod_revision));
  }

  private async afterWrite(revision: number): Promise<void> {
    this.maybeCompact(revision);
    await this.waitDelivered(revision);
  }

  private maybeCompact(revision: number): void {
    if (revision - this.lastAutoCompact < this.compactEvery) return;
    this.lastAutoCompact = revision;
    this.compact(this.historyLimit).catch((err: unknown) => this.report(err));
  }

  /** Resolves once the subscription has delivered `revision` (or after deliveryTimeoutMs). */
  private waitDelivered(revision: number): Promise<void> {
    if (this.delivered >= revision || this.closed) return Promise.resolve();
    return this.waiters.wait(revision, this.deliveryTimeoutMs).reached.then((reached) => {
      if (!reached) this.report(new Error(`the etcd watch has not delivered revision ${revision} after ${this.deliveryTimeoutMs} ms (delivered: ${this.delivered})`));
    });
  }

  // ---- the subscription's watch ----

  private async startWatch(fromRevision: number): Promise<void> {
    if (this.closed || this.interrupted) return;
    let stream: Stream;
    try {
      stream = await this.client.watchClient.watch();
    } catch (err) {
      this.watchBroken(err, undefined);
      return;
    }
    if (this.closed) {
      closeStream(stream);
      return;
    }
    this.stream = stream;
    stream.on('data', (res: IWatchResponse) => this.onWatchResponse(res, stream));
    stream.on('error', (err: Error) => this.watchBroken(err, stream));
    stream.on('end', () => this.watchBroken(new Error('the etcd watch stream ended'), stream));
    stream.write({ create_request: { key: this.prefix, range_end: this.prefixEnd, start_revision: fromRevision, prev_kv: true } });
  }

  private onWatchResponse(res: IWatchResponse, stream: Stream): void {
    if (stream !== this.stream) return;
    if (res.created && !res.canceled) {
      this.backoff = 0;
      // the watch is synced once it delivered a write made after it was created
      this.progressTrustedFrom = Infinity;
      this.client.kv
        .put({ key: this.prefix, value: Buffer.from(JSON.stringify({ watch: new Date().toISOString(), pid: process.pid })) })
        .then((put) => {
          if (stream === this.stream) this.progressTrustedFrom = Number(put.header.revision);
        })
        .catch((err: unknown) => this.report(err));
      return;
    }
    if (res.canceled) {
      const compactRevision = Number(res.compact_revision);
      if (compactRevision > 0) {
        // events between what was delivered and the compaction are lost to the listeners
        this.compacted = Math.max(this.compacted, compactRevision - 1);
        const gap = new RevisionCompactedError(this.delivered, compactRevision - 1);
        this.report(gap);
        this.delivered = Math.max(this.delivered, compactRevision - 1);
        this.releaseWaiters();
        for (const g of [...this.gapListeners]) {
          try {
            g(gap);
          } catch (err) {
            this.report(err);
          }
        }
      } else {
        this.report(new Error(`the etcd watch was canceled: ${res.cancel_reason || 'no reason given'}`));
      }
      this.restartWatch(stream);
      return;
    }
    if (!res.events.length) {
      // a progress notification: every event up to the header's revision has been sent (once synced)
      if (this.delivered < this.progressTrustedFrom) return;
      const revision = Number(res.header.revision);
      for (const w of [...this.progressWaiters]) w(revision);
      return;
    }
    for (const ev of res.events) {
      const revision = Number(ev.kv.mod_revision);
      // already delivered (a restarted watch), or a later write of the same transaction (the
      // index keys of createIndexed/deleteIndexed): one event per revision, the first
      if (revision <= this.delivered) continue;
      if (revision > this.delivered) {
        this.delivered = revision;
        this.deliveredKey = ev.kv.key;
      }
      if (ev.kv.key.equals(this.prefix)) continue; // a marker
      this.emit(this.toEvent(ev));
    }
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    this.waiters.release(this.delivered);
  }

  private watchBroken(err: unknown, stream: Stream | undefined): void {
    if (this.closed || (stream && stream !== this.stream)) return;
    this.report(err);
    this.restartWatch(stream);
  }

  private restartWatch(stream: Stream | undefined): void {
    if (stream) {
      closeStream(stream);
      if (this.stream === stream) this.stream = undefined;
    }
    if (this.closed || this.restartTimer || this.interrupted) return;
    const wait = WATCH_BACKOFF_MS[Math.min(this.backoff++, WATCH_BACKOFF_MS.length - 1)];
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.startWatch(this.delivered + 1);
    }, wait);
  }

  private emit(ev: StoreEvent): void {
    for (const listener of [...this.listeners]) {
      if (!this.listeners.has(listener)) continue;
      try {
        listener(ev);
      } catch (err) {
        try {
          this.opts.onListenerError?.(err, ev);
        } catch {
          // a failing reporter must not break the store
        }
      }
    }
  }

  private report(err: unknown): void {
    try {
      this.opts.onWatchError?.(err);
    } catch {
      // as above
    }
  }

  // ---- history and compaction ----

  /**
   * A one-off watch from `req.start_revision` that hands batches of events to `take` until an
   * event at `until` or later has been seen, or `take` returns true. Throws RevisionCompactedError
   * if etcd has compacted the start revision.
   */
  private async replay(req: IWatchCreateRequest, fromRevision: number, until: number, take: (evs: IWatchResponse['events']) => boolean): Promise<void> {
    // a stream's connection error shows only once it is open; another member may answer
    for (let attempt = 1; ; attempt++) {
      let answered = false;
      try {
        return await this.replayOnce(req, fromRevision, until, take, () => (answered = true));
      } catch (err) {
        if (answered || !isUnavailable(err) || attempt >= STREAM_ATTEMPTS || this.closed) throw err;
        await delay(WATCH_BACKOFF_MS[Math.min(attempt - 1, WATCH_BACKOFF_MS.length - 1)]);
      }
    }
  }

  private async replayOnce(req: IWatchCreateRequest, fromRevision: number, until: number, take: (evs: IWatchResponse['events']) => boolean, answered: () => void): Promise<void> {
    const stream = await this.client.watchClient.watch();
    try {
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (res: IWatchResponse) => {
          answered();
          if (res.canceled) {
            const compactRevision = Number(res.compact_revision);
            if (compactRevision > 0) {
              this.compacted = Math.max(this.compacted, compactRevision - 1);
              reject(new RevisionCompactedError(fromRevision, compactRevision - 1));
            } else reject(new Error(`the etcd watch was canceled: ${res.cancel_reason || 'no reason given'}`));
            return;
          }
          if (!res.events.length) return;
          const evs = res.events.filter((ev) => Number(ev.kv.mod_revision) <= until);
          if (take(evs) || Number(res.events[res.events.length - 1].kv.mod_revision) >= until) resolve();
        });
        stream.on('error', reject);
        stream.on('end', () => reject(new Error('the etcd watch stream ended')));
        stream.write({ create_request: req });
      });
    } finally {
      closeStream(stream);
    }
  }

  /** Throws RevisionCompactedError if history after `fromRevision` is no longer in etcd. */
  private async checkNotCompacted(fromRevision: number): Promise<void> {
    try {
      await this.client.kv.range({ key: this.prefix, revision: fromRevision + 1, count_only: true });
    } catch (err) {
      if (isFutureRevisionError(err)) return;
      if (!isCompactedError(err)) throw err;
      await this.learnCompaction(fromRevision + 1);
      throw new RevisionCompactedError(fromRevision, this.compacted);
    }
  }

  /** Catches up with compactions made by others: a range read at the next revision tells. */
  private async refreshCompacted(): Promise<void> {
    try {
      await this.client.kv.range({ key: this.prefix, revision: this.compacted + 1, count_only: true });
    } catch (err) {
      if (isFutureRevisionError(err)) return;
      if (!isCompactedError(err)) throw err;
      await this.learnCompaction(this.compacted + 1);
    }
  }

  /**
   * etcd's compaction revision, known to be above `start`: a watch from `start` is canceled at
   * once with it. The watched key is the marker, so nothing else is read.
   */
  private async learnCompaction(start: number): Promise<void> {
    await this.replay({ key: this.prefix, start_revision: start }, start - 1, Infinity, () => false).catch((err: unknown) => {
      if (!(err instanceof RevisionCompactedError)) throw err;
    });
  }

  /** A read at a fixed revision; a compacted one becomes RevisionCompactedError. */
  private async read<T>(call: () => Promise<T>, revision: number): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (revision && isCompactedError(err)) {
        await this.refreshCompacted();
        throw new RevisionCompactedError(revision, this.compacted);
      }
      throw err;
    }
  }

  // ---- conversions ----

  private encode(key: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(key, 'utf8')]);
  }

  private decode(k: Buffer): string {
    return k.subarray(this.prefix.length).toString('utf8');
  }

  private toKV(kv: IKeyValue): KV {
    return { key: this.decode(kv.key), value: kv.value, modRevision: Number(kv.mod_revision), createRevision: Number(kv.create_revision) };
  }

  private toEvent(ev: IWatchResponse['events'][number]): StoreEvent {
    const revision = Number(ev.kv.mod_revision);
    const prev = ev.prev_kv;
    if (String(ev.type).toUpperCase() === 'DELETE') {
      const out: StoreEvent = { type: 'DELETE', key: this.decode(ev.kv.key), revision, createRevision: prev ? Number(prev.create_revision) : 0 };
      if (prev) {
        out.prev = prev.value;
        out.prevRevision = Number(prev.mod_revision);
      }
      return out;
    }
    const out: StoreEvent = { type: 'PUT', key: this.decode(ev.kv.key), revision, value: ev.kv.value, createRevision: Number(ev.kv.create_revision) };
    if (prev) {
      out.prev = prev.value;
      out.prevRevision = Number(prev.mod_revision);
    }
    return out;
  }
}
