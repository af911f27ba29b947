// The revisioned key-value store beneath every registry (SPEC 4.1).
//
// The contract is etcd's: one global revision that increases by one with every write, values
// addressed by key, compare-and-swap on the revision a key was last written at, and a bounded
// history of events that watches replay from. The resourceVersion of an API object is the
// revision of its last write. Backends: SQLite (embedded, default) and etcd (several replicas).

/** A stored value with the revision of its last write and of its creation. */
export interface KV {
  key: string;
  value: Buffer;
  /** revision of the last write of this key (the object's resourceVersion) */
  modRevision: number;
  /** revision at which the key was created */
  createRevision: number;
}

export type EventType = 'PUT' | 'DELETE';

/** One committed change. For DELETE, `value` is absent and `prev` holds the last value. */
export interface StoreEvent {
  type: EventType;
  key: string;
  revision: number;
  /** the new value (PUT only) */
  value?: Buffer;
  /** the value before this change; absent for a create */
  prev?: Buffer;
  /** revision of `prev` */
  prevRevision?: number;
  /** revision at which the key was created */
  createRevision: number;
}

export interface ListOptions {
  /** only keys >= startKey (for paging) */
  startKey?: string;
  /** at most this many items (0 or undefined: all) */
  limit?: number;
}

export interface ListResult {
  items: KV[];
  /** the revision the list was read at */
  revision: number;
  /** true when `limit` cut the result */
  more: boolean;
}

/**
 * Thrown by create when the key exists. From a createMany that is not atomic (etcd), `created`
 * holds the keys of the batch written before this one, in order; they stay written.
 */
export class KeyExistsError extends Error {
  constructor(public key: string, public created: KV[] = []) {
    super(`key exists: ${key}`);
    this.name = 'KeyExistsError';
  }
}

/** Thrown by update/delete when the key does not exist. */
export class KeyNotFoundError extends Error {
  constructor(public key: string) {
    super(`key not found: ${key}`);
    this.name = 'KeyNotFoundError';
  }
}

/** Thrown by update/delete when the key was written after `expectedRevision`. */
export class RevisionConflictError extends Error {
  constructor(public key: string, public expected: number, public actual: number) {
    super(`revision conflict on ${key}: expected ${expected}, found ${actual}`);
    this.name = 'RevisionConflictError';
  }
}

/** Thrown by history when `fromRevision` is older than the oldest event still kept. */
export class RevisionCompactedError extends Error {
  constructor(public requested: number, public compacted: number) {
    super(`revision ${requested} is compacted (oldest kept: ${compacted})`);
    this.name = 'RevisionCompactedError';
  }
}

/** Thrown by a remote store's requestProgress when the subscription did not answer in time. */
export class StoreTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreTimeoutError';
  }
}

/** A count option or argument of a backend: an integer >= min (RangeError otherwise). */
export function checkCount(name: string, n: number, min: number): number {
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${n}`);
  return n;
}

export type Unsubscribe = () => void;

/**
 * A store other processes write too (etcd, several replicas): its watch can lag behind writes,
 * and locks and revision numbers must be kept in it. Told by the progress requests only such a
 * store has.
 */
export function isRemote(store: Store): boolean {
  return typeof store.requestProgress === 'function';
}

export interface Store {
  /** The newest committed revision (0 for an empty store). */
  currentRevision(): Promise<number>;
  /** Events with revision <= this are gone; history() from below it throws RevisionCompactedError. */
  compactedRevision(): Promise<number>;

  get(key: string): Promise<KV | null>;
  /** Current values of all keys starting with `prefix`, in key order. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;

  /** Creates the key; throws KeyExistsError if present. Resolves once the write is durable. */
  create(key: string, value: Buffer): Promise<KV>;
  /**
   * Creates several keys in one atomic, durable write (one transaction, one fsync): each key gets
   * its own revision, +1 per key in the given order, and its own PUT event; the events are
   * delivered in that order once the whole batch is durable. If any key exists (or is given
   * twice), nothing is written, no event is delivered, and KeyExistsError names the key.
   *
   * Backends that cannot do that in one revision per key (etcd, where one transaction's writes
   * share one revision) write the keys one by one, in order: each still gets its own, increasing
   * revision and event (other writers' revisions may come in between), but the first existing key
   * stops the batch and the keys before it stay written, listed in the KeyExistsError's
   * `created`. A key given twice is still refused before anything is written.
   */
  createMany(entries: { key: string; value: Buffer }[]): Promise<KV[]>;
  /**
   * Replaces the key's value if its modRevision still equals `expectedRevision`.
   * Throws KeyNotFoundError or RevisionConflictError. Resolves once durable.
   */
  update(key: string, value: Buffer, expectedRevision: number): Promise<KV>;
  /**
   * Deletes the key (if `expectedRevision` is given, only if it still matches).
   * Returns the deleted value and the revision of the delete.
   */
  delete(key: string, expectedRevision?: number): Promise<{ prev: KV; revision: number }>;

  /**
   * Events for keys under `prefix` with revision > fromRevision, oldest first, at most `limit`
   * (the oldest ones; with `newest`, the newest ones, still oldest first).
   * Throws RevisionCompactedError if fromRevision < compactedRevision().
   */
  history(prefix: string, fromRevision: number, limit?: number, opts?: { newest?: boolean }): Promise<StoreEvent[]>;

  /**
   * Every event committed from now on, for every key, in revision order, delivered
   * synchronously after the write is durable and before the write's promise resolves.
   * (Backends fed from elsewhere, like etcd watches, deliver as soon as they learn of it: a write
   * made through the same store object still resolves only after its event was delivered, but the
   * writes of other processes are delivered whenever the watch brings them, and a listener may
   * also receive events committed shortly before it subscribed. Writes issued concurrently may
   * commit in any order.)
   */
  subscribe(listener: (ev: StoreEvent) => void, onGap?: (err: RevisionCompactedError) => void): Unsubscribe;

  /**
   * Remote stores only (etcd): asks the subscription for a progress notification and resolves
   * with a revision R such that every event with revision <= R has been delivered to the
   * listeners (the next notification: it may answer an earlier request, so a caller that needs
   * the current revision reads currentRevision() first and repeats until R reaches it). Rejects with
   * StoreTimeoutError after `timeoutMs`. Absent on stores that deliver each event before the
   * write resolves (SQLite): their listeners are always current.
   *
   * `onGap` of subscribe is told when the subscription lost events it can no longer deliver
   * (etcd compacted them while its watch was down): the listener must reload (relist).
   */
  requestProgress?(timeoutMs: number): Promise<number>;

  /**
   * Remote stores only (etcd): creates `key` and its index keys (keys outside every watched
   * prefix, whose existence enforces a uniqueness) in one transaction, all or none; KeyExistsError
   * names the first existing one (the object's key first). Only the object's event is delivered.
   * Stores without it (SQLite, one process) leave uniqueness to in-process checks.
   */
  createIndexed?(key: string, value: Buffer, indexKeys: string[]): Promise<KV>;
  /** With createIndexed: deletes `key` at `expectedRevision` and its index keys in one transaction. */
  deleteIndexed?(key: string, expectedRevision: number, indexKeys: string[]): Promise<{ prev: KV; revision: number }>;

  /** Drops history older than the newest `keep` events. */
  compact(keep: number): Promise<void>;

  close(): Promise<void>;
}
