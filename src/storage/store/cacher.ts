// The in-memory watch cache of one resource (kube-apiserver's "cacher"): every object under one
// key prefix, kept current from the store's event stream, plus a bounded window of recent events.
// It serves every list and watch, so reads never touch the store (or git).
import { outsideHeld } from '../../util/held.ts';
import { RevisionWaiters } from './revisionwaiters.ts';
import type { KObject } from '../../api/meta.ts';
import { isRemote, RevisionCompactedError, StoreTimeoutError, type Store, type StoreEvent } from './interface.ts';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface CacheEvent {
  type: WatchEventType;
  key: string;
  /** the object after the event (for DELETED: the last state, with the delete's resourceVersion) */
  object: KObject;
  /** the object before the event (absent for ADDED) */
  prev?: KObject;
  revision: number;
}

export type Decoder = (value: Buffer, revision: number) => KObject;

/** What a watcher receives: an event it should see after its filter was applied. */
export interface Watcher {
  /** true if the watcher wants to see this object */
  matches(obj: KObject): boolean;
  send(type: WatchEventType, obj: KObject, revision: number): void;
  /** ends the watch (the cache was reloaded: the client re-watches from its last resourceVersion) */
  close?(): void;
}

export class ExpiredError extends Error {
  constructor(public requested: number, public oldest: number) {
    super(`too old resource version: ${requested} (${oldest})`);
    this.name = 'ExpiredError';
  }
}

/** An equality index of a cacher: the value `fn` gives an object → the keys of the objects with it. */
interface FieldIndex {
  fn: (o: KObject) => string;
  keys: Map<string, Set<string>>;
}

/** The watch event type of a store event (a PUT with a previous value is MODIFIED). */
const eventType = (ev: StoreEvent): WatchEventType => (ev.type === 'DELETE' ? 'DELETED' : ev.prev ? 'MODIFIED' : 'ADDED');

export class Cacher {
  /** the newest store revision this cache has seen (for any key, not only its own) */
  revision = 0;
  private items = new Map<string, KObject>();
  /** keys of `items` in ascending order, for paging */
  private sorted: string[] = [];
  /** recent events of this prefix, oldest first */
  private window: CacheEvent[] = [];
  /** a watch may start at any revision >= oldest (every later event is in the window) */
  private oldest = 0;
  private watchers = new Set<Watcher>();
  /** the set this cacher is fed by (reads that must wait for a revision wait on it) */
  owner?: CacherSet;

  constructor(
    public readonly prefix: string,
    private readonly decode: Decoder,
    readonly capacity = 10_000,
  ) {}

  /** Equality indexes: name → (value → keys), kept with every change (kube's cacher IndexerFuncs). */
  private readonly indexes = new Map<string, FieldIndex>();

  /** Adds an index of the objects by the value `fn` gives (before load, or it is built now). */
  addIndex(name: string, fn: (o: KObject) => string): void {
    const index = { fn, keys: new Map<string, Set<string>>() };
    this.indexes.set(name, index);
    for (const [key, o] of this.items) this.index(index, key, o, true);
  }

  /** The keys of the objects whose index value is `value`, in key order; undefined for an unknown index. */
  byIndex(name: string, value: string): string[] | undefined {
    const index = this.indexes.get(name);
    if (!index) return undefined;
    return [...(index.keys.get(value) ?? [])].sort(compareKeys);
  }

  private index(index: FieldIndex, key: string, o: KObject, add: boolean): void {
    const v = index.fn(o);
    let keys = index.keys.get(v);
    if (add) {
      if (!keys) index.keys.set(v, (keys = new Set()));
      keys.add(key);
    } else if (keys) {
      keys.delete(key);
      if (keys.size === 0) index.keys.delete(v);
    }
  }

  /** Loads the current state and the recent history from the store. */
  load(items: { key: string; value: Buffer; modRevision: number }[], revision: number, history: StoreEvent[], historyStart: number): void {
    this.items.clear();
    for (const index of this.indexes.values()) index.keys.clear();
    for (const kv of items) this.items.set(kv.key, this.decode(kv.value, kv.modRevision));
    for (const index of this.indexes.values()) for (const [key, o] of this.items) this.index(index, key, o, true);
    this.sorted = [...this.items.keys()].sort(compareKeys);
    this.revision = revision;
    this.window = [];
    this.oldest = historyStart;
    // only the newest `capacity` events are kept, and decoded only when a watcher asks for them
    let end = history.length;
    while (end > 0 && history[end - 1].revision > revision) end--;
    const start = Math.max(0, end - this.capacity);
    if (start > 0) this.oldest = history[start - 1].revision;
    // the store gave only the newest `capacity` events: older ones may exist before the first
    else if (history.length >= this.capacity && end > 0) this.oldest = Math.max(historyStart, history[0].revision - 1);
    for (let i = start; i < end; i++) this.window.push(this.lazyEvent(history[i]));
    this.trim();
  }

  get(key: string): KObject | undefined {
    return this.items.get(key);
  }

  /** A progress notification: every event up to `revision` has been applied. */
  advance(revision: number): void {
    if (revision > this.revision) this.revision = revision;
  }

  /**
   * Ends every watch (before a reload: as kube's cacher on reinitialisation). The clients re-watch
   * from their last resourceVersion and get 410 Expired if the reloaded window no longer has it.
   */
  terminateWatchers(): void {
    const ws = [...this.watchers];
    this.watchers.clear();
    for (const w of ws) w.close?.();
  }

  /** Applies one committed store event. Events of other prefixes only advance the revision. */
  apply(ev: StoreEvent): void {
    if (ev.revision <= this.revision) return; // already seen (initial load raced with delivery)
    this.revision = ev.revision;
    if (!ev.key.startsWith(this.prefix)) return;
    const before = this.items.get(ev.key);
    const ce = this.toCacheEvent(ev, before);
    for (const index of this.indexes.values()) {
      if (before) this.index(index, ev.key, before, false);
      if (ce.type !== 'DELETED') this.index(index, ev.key, ce.object, true);
    }
    if (ce.type === 'DELETED') {
      if (this.items.delete(ev.key)) this.sorted.splice(lowerBound(this.sorted, ev.key), 1);
    } else {
      if (!this.items.has(ev.key)) this.sorted.splice(lowerBound(this.sorted, ev.key), 0, ev.key);
      this.items.set(ev.key, ce.object);
    }
    this.window.push(ce);
    this.trim();
    for (const w of this.watchers) deliver(w, ce);
  }

  /** Entries with keys >= startKey at the current revision, in key order. */
  list(startKey?: string): { entries: Iterable<[string, KObject]>; revision: number } {
    const from = startKey ? lowerBound(this.sorted, startKey) : 0;
    const items = this.items;
    const keys = this.sorted;
    return {
      revision: this.revision,
      entries: (function* (): Generator<[string, KObject]> {
        for (let i = from; i < keys.length; i++) yield [keys[i], items.get(keys[i])!];
      })(),
    };
  }

  /** The entries as they were at `revision` (for consistent paging); throws ExpiredError. */
  listAt(revision: number, startKey?: string): { entries: Iterable<[string, KObject]>; revision: number } {
    if (revision >= this.revision) return this.list(startKey);
    if (revision < this.oldest) throw new ExpiredError(revision, this.oldest);
    const state = new Map(this.items);
    for (let i = this.window.length - 1; i >= 0 && this.window[i].revision > revision; i--) {
      const ev = this.window[i];
      if (ev.type === 'ADDED') state.delete(ev.key);
      else state.set(ev.key, ev.prev!);
    }
    const keys = [...state.keys()].filter((k) => !startKey || k >= startKey).sort(compareKeys);
    return {
      revision,
      entries: (function* (): Generator<[string, KObject]> {
        for (const k of keys) yield [k, state.get(k)!];
      })(),
    };
  }

  /**
   * Starts a watch: replays the window's events after `fromRevision` (or, with `initial`, sends
   * the current state as ADDED events), then delivers live events until the returned function is
   * called. Throws ExpiredError if `fromRevision` is older than the window.
   */
  watch(w: Watcher, fromRevision: number | 'current', initial: boolean): () => void {
    if (initial) {
      for (const k of this.sorted) {
        const o = this.items.get(k)!;
        if (w.matches(o)) w.send('ADDED', o, Number(o.metadata.resourceVersion));
      }
    } else if (fromRevision !== 'current') {
      if (fromRevision < this.oldest) throw new ExpiredError(fromRevision, this.oldest);
      let i = this.window.length;
      while (i > 0 && this.window[i - 1].revision > fromRevision) i--;
      for (; i < this.window.length; i++) deliver(w, this.window[i]);
    }
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  /** A loaded history event whose objects are decoded when first read (most never are). */
  private lazyEvent(ev: StoreEvent): CacheEvent {
    const decode = this.decode;
    let object: KObject | undefined;
    let prev: KObject | null | undefined;
    return {
      type: eventType(ev),
      key: ev.key,
      revision: ev.revision,
      get object() {
        return (object ??= decode(ev.type === 'DELETE' ? ev.prev! : ev.value!, ev.revision));
      },
      get prev() {
        if (prev === undefined) prev = ev.prev ? decode(ev.prev, ev.prevRevision ?? ev.revision) : null;
        return prev ?? undefined;
      },
    };
  }

  /** The event with its objects decoded; `cached` is the key's cached object before it. */
  private toCacheEvent(ev: StoreEvent, cached: KObject | undefined): CacheEvent {
    // the previous state is the cached object when it is that revision (it is, once live): no second decode
    const prev = !ev.prev ? undefined : cached && cached.metadata.resourceVersion === String(ev.prevRevision) ? cached : this.decode(ev.prev, ev.prevRevision ?? ev.revision);
    const object = this.decode(ev.type === 'DELETE' ? ev.prev! : ev.value!, ev.revision);
    return { type: eventType(ev), key: ev.key, object, prev, revision: ev.revision };
  }

  private trim(): void {
    const excess = this.window.length - this.capacity;
    if (excess > 0) {
      this.oldest = this.window[excess - 1].revision;
      this.window.splice(0, excess);
    }
  }
}

/** Sends one event to a watcher, turning it into what the watcher's filter lets it see. */
function deliver(w: Watcher, ev: CacheEvent): void {
  const now = ev.type !== 'DELETED' && w.matches(ev.object);
  const before = ev.prev !== undefined && w.matches(ev.prev);
  if (ev.type === 'DELETED') {
    if (before) w.send('DELETED', ev.object, ev.revision);
  } else if (now && before) w.send('MODIFIED', ev.object, ev.revision);
  else if (now) w.send('ADDED', ev.object, ev.revision);
  else if (before) {
    // it left the watcher's selection: the watcher sees it deleted, as the last state it matched
    const gone = { ...ev.prev!, metadata: { ...ev.prev!.metadata, resourceVersion: String(ev.revision) } };
    w.send('DELETED', gone, ev.revision);
  }
}

const compareKeys = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function lowerBound(arr: string[], key: string): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Thrown by CacherSet.waitFor when the cache did not reach a revision in time (504 as kube). */
export class CacheTooOldError extends Error {
  constructor(public requested: number, public current: number, public consistent: boolean) {
    super(consistent ? `the watch cache did not reach the store's revision ${requested} in time (at ${current})` : `Too large resource version: ${requested}, current: ${current}`);
    this.name = 'CacheTooOldError';
  }
}

/** The default bound of a read's wait for the cache (kube's cacher: 3 s). */
export const CACHE_WAIT_MS = 3000;
/** how long a cache lag measurement waits for the cache to catch up before it reports the lag */
export const LAG_WAIT_MS = 1000;

/**
 * All cachers over one store: one subscription feeds every cacher, so each one's revision is the
 * store's, and a list's resourceVersion is always one its watch can start from.
 *
 * On a store that delivers every event before the write resolves (SQLite), the caches are always
 * current and nothing waits. On a remote store (etcd: `requestProgress`), the caches follow the
 * store's subscription and can lag behind writes of other replicas: reads that need a revision
 * wait for it (waitFor, consistent), helped by the store's progress notifications, as kube's
 * cacher does (waitUntilFreshAndBlock, consistent-list-from-cache). When the subscription reports
 * a gap (events compacted away while its watch was down) every cacher is reloaded from a fresh
 * list and its watchers are ended.
 */
export class CacherSet {
  private cachers: Cacher[] = [];
  private unsubscribe?: () => void;
  /** the newest revision every cacher has applied (or been advanced to) */
  revision = 0;
  /** reads waiting for the caches to reach a revision */
  private readonly waiters = new RevisionWaiters();
  private live = false;
  private buffered: StoreEvent[] = [];
  private reloading?: Promise<void>;
  private progressInFlight?: Promise<void>;
  private stopped = false;
  /** number of reloads after a gap (for tests and metrics) */
  relists = 0;

  constructor(
    private store: Store,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  add(c: Cacher): Cacher {
    this.cachers.push(c);
    c.owner = this;
    return c;
  }

  /** true when the store is remote and reads may have to wait for the cache */
  get remote(): boolean {
    return isRemote(this.store);
  }

  /** Loads every cacher and goes live. Events committed while loading are not lost. */
  async start(): Promise<void> {
    // events reach the caches, watchers and informers outside the writer's locks (src/util/held.ts)
    this.unsubscribe = this.store.subscribe(
      (ev) =>
        outsideHeld(() => {
          if (!this.live) this.buffered.push(ev);
          else this.applyAll(ev);
        }),
      (gap) => this.onGap(gap),
    );
    await this.load();
  }

  private applyAll(ev: StoreEvent): void {
    for (const c of this.cachers) c.apply(ev);
    if (ev.revision > this.revision) this.revision = ev.revision;
    this.release();
  }

  /**
   * Lists every prefix and loads its history. The history a store gives ends at its subscription's
   * horizon, which may be older than the list's revision: the events in between are the buffered
   * ones (the subscription started before the history was read), so they extend the window.
   */
  private async load(): Promise<void> {
    this.live = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const compacted = await this.store.compactedRevision();
        const recent = this.remote && this.cachers.length ? await this.recentHistory(compacted) : undefined;
        for (const c of this.cachers) {
          const listed = await this.store.list(c.prefix);
          const start = recent?.start ?? compacted;
          const history = recent
            ? recent.events.filter((ev) => ev.key.startsWith(c.prefix))
            : // only the newest events a cacher keeps (a restart on a big store reads no more)
              await this.store.history(c.prefix, compacted, c.capacity, { newest: true });
          const last = history.length ? history[history.length - 1].revision : start;
          const more = this.buffered.filter((ev) => ev.revision > last && ev.key.startsWith(c.prefix));
          c.load(listed.items, listed.revision, more.length ? [...history, ...more] : history, start);
        }
        break;
      } catch (err) {
        // another replica compacted between compactedRevision() and history(): read it again
        if (!(err instanceof RevisionCompactedError) || attempt >= 5) throw err;
      }
    }
    const buffered = this.buffered;
    this.buffered = [];
    for (const ev of buffered) for (const c of this.cachers) c.apply(ev);
    this.revision = Math.min(...this.cachers.map((c) => c.revision));
    if (!this.cachers.length) this.revision = Math.max(0, ...buffered.map((ev) => ev.revision));
    this.live = true;
    this.release();
  }

  /**
   * A remote store's history is a replay of every revision from the start (etcd: a watch from
   * it): per prefix from the compacted revision, a (re)load read every write ever made once per
   * resource (13 s for 10,000 revisions). One replay of the last `capacity` revisions serves
   * every cacher instead, and their windows start there (older resourceVersions are 410 Expired
   * and clients relist, as after a restart of kube's cacher, whose window starts at its list).
   */
  private async recentHistory(compacted: number): Promise<{ events: StoreEvent[]; start: number }> {
    const span = Math.max(...this.cachers.map((c) => c.capacity));
    const start = Math.max(compacted, (await this.store.currentRevision()) - span);
    return { events: await this.store.history('', start), start };
  }

  /** The subscription lost events: end every watch and reload every cacher (reads meanwhile see the old state). */
  private onGap(err: RevisionCompactedError): void {
    if (this.stopped) return;
    this.onError(err);
    this.live = false;
    if (this.reloading) return;
    this.relists++;
    for (const c of this.cachers) c.terminateWatchers();
    this.reloading = (async () => {
      for (;;) {
        try {
          await this.load();
          return;
        } catch (e) {
          this.onError(e);
          if (this.stopped) return;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })().finally(() => {
      this.reloading = undefined;
    });
  }

  private release(): void {
    this.waiters.release(this.revision);
  }

  private advance(revision: number): void {
    if (!this.live || revision <= this.revision) return;
    for (const c of this.cachers) c.advance(revision);
    this.revision = revision;
    this.release();
  }

  /**
   * Resolves once every cacher has reached `revision` (a read that must see it: a resourceVersion
   * newer than the cache, a continue token). On a store that is always current, a revision the
   * cache has not reached does not exist yet: CacheTooOldError at once. On a remote store it
   * waits, asking the store for progress notifications, at most `timeoutMs`, then CacheTooOldError.
   */
  async waitFor(revision: number, timeoutMs = CACHE_WAIT_MS, consistent = false): Promise<void> {
    if (revision <= this.revision && this.live) return;
    if (!this.remote) throw new CacheTooOldError(revision, this.revision, consistent);
    const deadline = Date.now() + timeoutMs;
    const waiter = this.waiters.wait(revision);
    const reached = waiter.reached;
    let done = false;
    void reached.then(() => (done = true));
    try {
      while (!done) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        await Promise.race([reached, this.progress(left)]);
        // a progress answer older than the revision: ask again, a little later
        if (!done && Date.now() < deadline) await Promise.race([reached, new Promise((r) => setTimeout(r, 20))]);
      }
    } finally {
      if (!done) waiter.cancel();
    }
    if (!done || this.revision < revision) throw new CacheTooOldError(revision, this.revision, consistent);
  }

  /** One progress request at a time, shared by every waiting read (each loops until its revision). */
  private progress(timeoutMs: number): Promise<void> {
    this.progressInFlight ??= this.store
      .requestProgress!(timeoutMs)
      .then(
        (r) => this.advance(r),
        (err: unknown) => {
          if (!(err instanceof StoreTimeoutError)) this.onError(err);
        },
      )
      .finally(() => {
        this.progressInFlight = undefined;
      });
    return this.progressInFlight;
  }

  /**
   * A consistent read (kube's consistent-list-from-cache): resolves once the cache has reached the
   * store's current revision. Immediate on a store that is always current.
   */
  async consistent(timeoutMs = CACHE_WAIT_MS): Promise<void> {
    if (!this.remote) return;
    const current = await this.store.currentRevision();
    await this.waitFor(current, timeoutMs, true);
  }

  /**
   * How far each cacher is behind the store (for the cache lag metric; remote stores only, empty
   * otherwise): the store's current revision minus the cacher's, after at most `timeoutMs` of
   * waiting for the cache to reach it. The wait asks for a progress notification, as a
   * consistent read does: the store's revision also moves with writes outside the cached
   * prefixes (locks, leases, markers), which only a progress notification brings to the cache, so
   * a cache that receives everything shows 0, and one whose watch is stalled or slow shows the
   * revisions it has not received.
   */
  async lag(timeoutMs = LAG_WAIT_MS): Promise<{ prefix: string; revisions: number }[]> {
    if (!this.remote) return [];
    const current = await this.store.currentRevision();
    try {
      await this.waitFor(current, timeoutMs, true);
    } catch (err) {
      if (!(err instanceof CacheTooOldError)) throw err;
    }
    return this.cachers.map((c) => ({ prefix: c.prefix, revisions: Math.max(0, current - c.revision) }));
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
  }
}
