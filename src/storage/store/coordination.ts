// Cross-replica coordination kept in the store (issue 12, item 3), for several replicas on etcd:
//
// - StoreLocks: named locks as CAS'd lock records with an expiry. A record says who holds the
//   lock, for how long (ttlMs), and who held it last. It is taken by creating it, or by a
//   compare-and-swap on its revision when it is free or expired; kept by renewing it (a CAS every
//   ttl/3); released by a CAS that clears the holder. Expiry is measured on the waiter's own
//   clock, as client-go's leader election does: a record whose revision has not changed for ttlMs
//   since this process first saw it is expired, whatever the clocks say, so a dead replica's lock
//   expires after at most ttlMs (plus the poll) and clock skew does not matter. Waiters wake on
//   the store's events for the lock's key (another replica's release) and otherwise when the
//   record would expire. A holder that fails to renew (cut off from the store longer than the
//   ttl) learns it lost the lock; what it was doing in git is still protected by git's own
//   compare-and-swap pushes (the remote refuses a push whose old value moved).
//
// - RevisionAllocator: the numbers of published package revisions, allocated by a CAS on one
//   counter key per package (the highest number ever given out): the next number is
//   max(counter, highest in git) + 1, written with a compare-and-swap, so two replicas never
//   give out the same number even if their git clones or the lock disagree. A publish that fails
//   after its number was allocated leaves a gap (the number is not given out again).
//
// Keys live under "/pkgserver-coordination/" in the store, outside every resource's prefix (the
// watch caches only see their revisions go by).
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { KeyExistsError, KeyNotFoundError, RevisionConflictError, type Store } from './interface.ts';

const ROOT = '/pkgserver-coordination/';
export const LOCK_PREFIX = `${ROOT}locks/`;
export const REVISION_PREFIX = `${ROOT}revisions/`;

/** The lock was not free within the acquire timeout. */
export class LockTimeoutError extends Error {
  constructor(
    public lock: string,
    public holder: string,
  ) {
    super(`the lock ${lock} is held by ${holder}; not free in time`);
    this.name = 'LockTimeoutError';
  }
}

interface LockRecord {
  /** the holder's identity, "" when free */
  holder: string;
  /** the identity of the last holder (its writes are the newest) */
  last: string;
  ttlMs: number;
}

export interface StoreLocksOptions {
  /** this replica's identity (default: hostname, pid and a random suffix) */
  identity?: string;
  /** a holder that stops renewing loses the lock after this long (default 15 s) */
  ttlMs?: number;
  /** how long an acquire waits for the lock (default 120 s) */
  acquireTimeoutMs?: number;
  log?: (msg: string) => void;
}

/** What a holder is told: whether another replica held the lock since this one last did. */
export interface Held {
  /** true when someone else held the lock since this replica last released it (fetch first) */
  stale: boolean;
  /** true once a renewal failed: the lock may be someone else's now */
  lost: boolean;
}

export class StoreLocks {
  readonly identity: string;
  private readonly ttlMs: number;
  private readonly acquireTimeoutMs: number;
  private readonly wakers = new Map<string, Set<() => void>>();
  private readonly unsubscribe: () => void;
  /** acquisitions and renewals (for metrics and tests) */
  acquired = 0;

  constructor(
    private readonly store: Store,
    private readonly opts: StoreLocksOptions = {},
  ) {
    this.identity = opts.identity ?? `${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.ttlMs = opts.ttlMs ?? 15_000;
    this.acquireTimeoutMs = opts.acquireTimeoutMs ?? 120_000;
    this.unsubscribe = store.subscribe((ev) => {
      if (!ev.key.startsWith(LOCK_PREFIX)) return;
      const ws = this.wakers.get(ev.key);
      if (ws) for (const w of [...ws]) w();
    });
  }

  close(): void {
    this.unsubscribe();
  }

  /** Runs `fn` holding the lock `name` (not re-entrant: callers hold an in-process lock around it). */
  async hold<T>(name: string, fn: (held: Held) => Promise<T>): Promise<T> {
    const key = LOCK_PREFIX + name;
    const { revision, stale } = await this.acquire(key);
    const held: Held = { stale, lost: false };
    let rev = revision;
    let renewing: Promise<void> = Promise.resolve();
    const timer = setInterval(() => {
      renewing = renewing.then(async () => {
        if (held.lost) return;
        try {
          rev = (await this.store.update(key, this.record(this.identity), rev)).modRevision;
        } catch (err) {
          held.lost = true;
          clearInterval(timer);
          this.opts.log?.(`lost the lock ${name}: ${(err as Error).message}`);
        }
      });
    }, Math.max(50, Math.floor(this.ttlMs / 3)));
    timer.unref();
    try {
      return await fn(held);
    } finally {
      clearInterval(timer);
      await renewing;
      if (!held.lost) {
        try {
          await this.store.update(key, this.record(''), rev);
        } catch (err) {
          this.opts.log?.(`releasing the lock ${name}: ${(err as Error).message}`);
        }
      }
    }
  }

  private record(holder: string): Buffer {
    const r: LockRecord = { holder, last: this.identity, ttlMs: this.ttlMs };
    return Buffer.from(JSON.stringify(r));
  }

  private async acquire(key: string): Promise<{ revision: number; stale: boolean }> {
    const deadline = Date.now() + this.acquireTimeoutMs;
    let observed: { revision: number; at: number } | undefined;
    for (;;) {
      const kv = await this.store.get(key);
      if (!kv) {
        try {
          const c = await this.store.create(key, this.record(this.identity));
          this.acquired++;
          return { revision: c.modRevision, stale: true };
        } catch (err) {
          if (err instanceof KeyExistsError) continue;
          throw err;
        }
      }
      const r = parseRecord(kv.value);
      const now = Date.now();
      if (!observed || observed.revision !== kv.modRevision) observed = { revision: kv.modRevision, at: now };
      const ttl = r.ttlMs > 0 ? r.ttlMs : this.ttlMs;
      const expiresAt = observed.at + ttl;
      if (!r.holder || r.holder === this.identity || now >= expiresAt) {
        if (r.holder && r.holder !== this.identity) this.opts.log?.(`the lock ${key.slice(LOCK_PREFIX.length)} of ${r.holder} expired: taking it over`);
        try {
          const u = await this.store.update(key, this.record(this.identity), kv.modRevision);
          this.acquired++;
          return { revision: u.modRevision, stale: r.last !== this.identity || (!!r.holder && r.holder !== this.identity) };
        } catch (err) {
          if (err instanceof RevisionConflictError || err instanceof KeyNotFoundError) continue;
          throw err;
        }
      }
      if (now >= deadline) throw new LockTimeoutError(key.slice(LOCK_PREFIX.length), r.holder);
      // wait for a change of the record (a release) or its expiry; re-read at least every second
      await this.wait(key, Math.min(expiresAt - now + 5, deadline - now, 1000));
    }
  }

  private wait(key: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let ws = this.wakers.get(key);
      if (!ws) this.wakers.set(key, (ws = new Set()));
      const done = () => {
        clearTimeout(timer);
        ws!.delete(done);
        if (ws!.size === 0) this.wakers.delete(key);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      ws.add(done);
    });
  }
}

function parseRecord(value: Buffer): LockRecord {
  try {
    const r = JSON.parse(value.toString('utf8')) as Partial<LockRecord>;
    return { holder: typeof r.holder === 'string' ? r.holder : '', last: typeof r.last === 'string' ? r.last : '', ttlMs: typeof r.ttlMs === 'number' ? r.ttlMs : 0 };
  } catch {
    return { holder: '', last: '', ttlMs: 0 };
  }
}

/** Package revision numbers from a CAS'd counter per package (see the header). */
export class RevisionAllocator {
  constructor(private readonly store: Store) {}

  /** The next major revision number of `pkg` (an opaque id), above `highestInGit`. */
  async next(pkg: string, highestInGit: number): Promise<number> {
    const key = REVISION_PREFIX + pkg;
    for (;;) {
      const kv = await this.store.get(key);
      const stored = kv ? Number(JSON.parse(kv.value.toString('utf8')).major) || 0 : 0;
      const next = Math.max(stored, highestInGit) + 1;
      const value = Buffer.from(JSON.stringify({ major: next }));
      try {
        if (kv) await this.store.update(key, value, kv.modRevision);
        else await this.store.create(key, value);
        return next;
      } catch (err) {
        if (err instanceof RevisionConflictError || err instanceof KeyExistsError || err instanceof KeyNotFoundError) continue;
        throw err;
      }
    }
  }
}
