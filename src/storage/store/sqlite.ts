// The embedded backend of the revisioned key-value store (SPEC 4.1), modelled on kine.
//
// Three tables in one SQLite file:
//   kv     — the current state: one row per live key with its value and revisions;
//   events — the log: one row per write, keyed by its revision, carrying the previous value so
//            history() can replay DELETEs and updates the way an etcd watch with prev_kv would;
//   meta   — the current revision and the compacted revision. The current revision lives here,
//            not as MAX(events.revision), so it never goes backwards when compaction removes the
//            newest events or every key has been deleted.
//
// Every write is one IMMEDIATE transaction that reads the current revision, checks the
// compare-and-swap precondition, and writes the state row, the event row and the new revision;
// createMany writes a batch of keys the same way in one transaction (one revision and one event
// each, one fsync for all).
// With journal_mode=WAL and synchronous=FULL the commit is fsynced before it returns, so a write
// whose promise resolved survives a crash. better-sqlite3 is synchronous; the methods still
// return promises because the etcd backend implements the same interface.

import Database from 'better-sqlite3';
import {
  checkCount,
  KeyExistsError,
  KeyNotFoundError,
  RevisionCompactedError,
  RevisionConflictError,
  type EventType,
  type KV,
  type ListOptions,
  type ListResult,
  type Store,
  type StoreEvent,
  type Unsubscribe,
} from './interface.ts';

export interface SqliteStoreOptions {
  /** events kept by automatic compaction (default 100000) */
  historyLimit?: number;
  /** compact automatically whenever the revision reaches a multiple of this (default 1000) */
  compactEvery?: number;
  /** told about exceptions thrown by subscribe listeners; they are otherwise ignored */
  onListenerError?: (err: unknown, ev: StoreEvent) => void;
}

const DEFAULT_HISTORY_LIMIT = 100_000;
const DEFAULT_COMPACT_EVERY = 1000;
const BUSY_TIMEOUT_MS = 5000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  key             TEXT PRIMARY KEY,
  mod_revision    INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  value           BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  revision        INTEGER PRIMARY KEY,
  key             TEXT NOT NULL,
  type            TEXT NOT NULL CHECK (type IN ('PUT', 'DELETE')),
  value           BLOB,
  prev_value      BLOB,
  prev_revision   INTEGER,
  create_revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
  name  TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0);
`;

type MetaName = 'revision' | 'compacted';

interface StateRow {
  key: string;
  mod_revision: number;
  create_revision: number;
  value: Buffer;
}

interface EventRow {
  revision: number;
  key: string;
  type: EventType;
  value: Buffer | null;
  prev_value: Buffer | null;
  prev_revision: number | null;
  create_revision: number;
}

/** Bounds of a key range: lower inclusive; upper exclusive, null meaning unbounded. */
interface Range {
  lower: string;
  upper: string | null;
}

/**
 * The smallest string greater than every string that starts with `prefix`, or null when there is
 * none (the empty prefix, or one made only of U+10FFFF). SQLite compares TEXT with memcmp on
 * UTF-8, and UTF-8 byte order is code point order, so incrementing the last code point that can
 * be incremented gives the exclusive end of the prefix range (etcd's "prefix end" on bytes).
 */
function prefixEnd(prefix: string): string | null {
  const codePoints = Array.from(prefix);
  while (codePoints.length > 0) {
    const last = codePoints.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) {
      // Surrogates are not scalar values, so the one after U+D7FF is U+E000. (SQLite would also
      // accept a lone surrogate, which better-sqlite3 encodes as ED A0 80, but skipping the
      // range keeps the bound a well-formed string.)
      const next = last === 0xd7ff ? 0xe000 : last + 1;
      return codePoints.join('') + String.fromCodePoint(next);
    }
  }
  return null;
}

function prefixRange(prefix: string): Range {
  return { lower: prefix, upper: prefixEnd(prefix) };
}

/** SQLite reads LIMIT -1 as "no limit"; the interface uses 0 or undefined for that. */
function sqlLimit(limit: number | undefined): number {
  return limit && limit > 0 ? limit : -1;
}

function toKV(row: StateRow): KV {
  return {
    key: row.key,
    value: row.value,
    modRevision: row.mod_revision,
    createRevision: row.create_revision,
  };
}

/** Optional fields are left out rather than set to undefined, so events compare structurally. */
function toEvent(row: EventRow): StoreEvent {
  const ev: StoreEvent = {
    type: row.type,
    key: row.key,
    revision: row.revision,
    createRevision: row.create_revision,
  };
  if (row.value !== null) ev.value = row.value;
  if (row.prev_value !== null) ev.prev = row.prev_value;
  if (row.prev_revision !== null) ev.prevRevision = row.prev_revision;
  return ev;
}

/**
 * Decides a write from the key's current row: throws to refuse it (rolling the transaction back)
 * or returns the event type and the new value (null for DELETE).
 */
type WriteDecision = (current: StateRow | undefined) => { type: EventType; value: Buffer | null };

export class SqliteStore implements Store {
  private readonly listeners = new Set<(ev: StoreEvent) => void>();
  /** events committed but not yet delivered to every listener (see emit) */
  private readonly undelivered: StoreEvent[] = [];
  private emitting = false;

  private readonly stmt;
  private readonly writeTx;
  private readonly batchTx;
  private readonly compactTx;
  private readonly listTx;
  private readonly historyTx;

  private constructor(
    private readonly db: Database.Database,
    private readonly historyLimit: number,
    private readonly compactEvery: number,
    private readonly onListenerError?: (err: unknown, ev: StoreEvent) => void,
  ) {
    const listColumns = 'SELECT key, mod_revision, create_revision, value FROM kv';
    const historyColumns =
      'SELECT revision, key, type, value, prev_value, prev_revision, create_revision FROM events';
    this.stmt = {
      getMeta: db.prepare<[MetaName], number>('SELECT value FROM meta WHERE name = ?').pluck(),
      setMeta: db.prepare<[number, MetaName], void>('UPDATE meta SET value = ? WHERE name = ?'),
      get: db.prepare<[string], StateRow>(`${listColumns} WHERE key = ?`),
      // Both lower bounds are passed (prefix and startKey) so SQLite, not JavaScript's UTF-16
      // string order, decides which is larger.
      list: db.prepare<[string, string, string, number], StateRow>(
        `${listColumns} WHERE key >= ? AND key >= ? AND key < ? ORDER BY key LIMIT ?`,
      ),
      listUnbounded: db.prepare<[string, string, number], StateRow>(
        `${listColumns} WHERE key >= ? AND key >= ? ORDER BY key LIMIT ?`,
      ),
      upsert: db.prepare<[string, number, number, Buffer], void>(
        `INSERT INTO kv (key, mod_revision, create_revision, value) VALUES (?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE
         SET mod_revision = excluded.mod_revision, value = excluded.value`,
      ),
      remove: db.prepare<[string], void>('DELETE FROM kv WHERE key = ?'),
      appendEvent: db.prepare<EventRow, void>(
        `INSERT INTO events (revision, key, type, value, prev_value, prev_revision, create_revision)
         VALUES (@revision, @key, @type, @value, @prev_value, @prev_revision, @create_revision)`,
      ),
      history: db.prepare<[number, string, string, number], EventRow>(
        `${historyColumns} WHERE revision > ? AND key >= ? AND key < ? ORDER BY revision LIMIT ?`,
      ),
      historyUnbounded: db.prepare<[number, string, number], EventRow>(
        `${historyColumns} WHERE revision > ? AND key >= ? ORDER BY revision LIMIT ?`,
      ),
      historyNewest: db.prepare<[number, string, string, number], EventRow>(
        `${historyColumns} WHERE revision > ? AND key >= ? AND key < ? ORDER BY revision DESC LIMIT ?`,
      ),
      historyNewestUnbounded: db.prepare<[number, string, number], EventRow>(
        `${historyColumns} WHERE revision > ? AND key >= ? ORDER BY revision DESC LIMIT ?`,
      ),
      dropEvents: db.prepare<[number], void>('DELETE FROM events WHERE revision <= ?'),
    };

    this.writeTx = db.transaction((key: string, decide: WriteDecision): EventRow => this.writeRow(key, decide));

    this.batchTx = db.transaction((writes: { key: string; decide: WriteDecision }[]): EventRow[] => writes.map((w) => this.writeRow(w.key, w.decide)));

    this.compactTx = db.transaction((keep: number) => this.dropHistory(keep));

    // Reads run in a transaction too, so that rows and revisions come from one snapshot.
    this.listTx = db.transaction(
      (lower: string, upper: string | null, start: string, limit: number): ListResult => {
        // One more row than asked tells whether the limit cut the result.
        const fetch = limit < 0 ? limit : limit + 1;
        const rows =
          upper === null
            ? this.stmt.listUnbounded.all(lower, start, fetch)
            : this.stmt.list.all(lower, start, upper, fetch);
        const more = limit >= 0 && rows.length > limit;
        if (more) rows.length = limit;
        return { items: rows.map(toKV), revision: this.meta('revision'), more };
      },
    );

    this.historyTx = db.transaction(
      (lower: string, upper: string | null, fromRevision: number, limit: number, newest: boolean): StoreEvent[] => {
        const compacted = this.meta('compacted');
        if (fromRevision < compacted) throw new RevisionCompactedError(fromRevision, compacted);
        const [bounded, unbounded] = newest ? [this.stmt.historyNewest, this.stmt.historyNewestUnbounded] : [this.stmt.history, this.stmt.historyUnbounded];
        const rows = upper === null ? unbounded.all(fromRevision, lower, limit) : bounded.all(fromRevision, lower, upper, limit);
        // the newest ones come newest first: oldest first, as always
        return (newest ? rows.reverse() : rows).map(toEvent);
      },
    );
  }

  /**
   * Opens (creating if needed) the store in `file`; ':memory:' gives a private in-memory store.
   */
  static open(file: string, opts: SqliteStoreOptions = {}): SqliteStore {
    const historyLimit = checkCount('historyLimit', opts.historyLimit ?? DEFAULT_HISTORY_LIMIT, 0);
    const compactEvery = checkCount('compactEvery', opts.compactEvery ?? DEFAULT_COMPACT_EVERY, 1);
    const db = new Database(file);
    try {
      db.pragma('journal_mode = WAL');
      // FULL fsyncs the WAL on every commit: an acknowledged write survives a crash.
      db.pragma('synchronous = FULL');
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.exec(SCHEMA);
      return new SqliteStore(db, historyLimit, compactEvery, opts.onListenerError);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  async currentRevision(): Promise<number> {
    return this.meta('revision');
  }

  async compactedRevision(): Promise<number> {
    return this.meta('compacted');
  }

  async get(key: string): Promise<KV | null> {
    const row = this.stmt.get.get(key);
    return row ? toKV(row) : null;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const { lower, upper } = prefixRange(prefix);
    const start = opts.startKey ?? lower;
    const limit = sqlLimit(opts.limit);
    return this.listTx(lower, upper, start, limit);
  }

  async create(key: string, value: Buffer): Promise<KV> {
    const stored = Buffer.from(value);
    const row = this.write(key, (current) => {
      if (current) throw new KeyExistsError(key);
      return { type: 'PUT', value: stored };
    });
    return { key, value: stored, modRevision: row.revision, createRevision: row.create_revision };
  }

  async createMany(entries: { key: string; value: Buffer }[]): Promise<KV[]> {
    const stored = entries.map((e) => ({ key: e.key, value: Buffer.from(e.value) }));
    const rows = this.writeBatch(
      stored.map(({ key, value }) => ({
        key,
        decide: (current: StateRow | undefined) => {
          // a key given twice finds the row the batch wrote before it
          if (current) throw new KeyExistsError(key);
          return { type: 'PUT' as const, value };
        },
      })),
    );
    return rows.map((row, i) => ({ key: row.key, value: stored[i].value, modRevision: row.revision, createRevision: row.create_revision }));
  }

  async update(key: string, value: Buffer, expectedRevision: number): Promise<KV> {
    const stored = Buffer.from(value);
    const row = this.write(key, (current) => {
      if (!current) throw new KeyNotFoundError(key);
      if (current.mod_revision !== expectedRevision) {
        throw new RevisionConflictError(key, expectedRevision, current.mod_revision);
      }
      return { type: 'PUT', value: stored };
    });
    return { key, value: stored, modRevision: row.revision, createRevision: row.create_revision };
  }

  async delete(key: string, expectedRevision?: number): Promise<{ prev: KV; revision: number }> {
    const row = this.write(key, (current) => {
      if (!current) throw new KeyNotFoundError(key);
      if (expectedRevision !== undefined && current.mod_revision !== expectedRevision) {
        throw new RevisionConflictError(key, expectedRevision, current.mod_revision);
      }
      return { type: 'DELETE', value: null };
    });
    // A DELETE row always carries the previous value and its revision.
    const prev: KV = {
      key,
      value: row.prev_value!,
      modRevision: row.prev_revision!,
      createRevision: row.create_revision,
    };
    return { prev, revision: row.revision };
  }

  async history(prefix: string, fromRevision: number, limit?: number, opts: { newest?: boolean } = {}): Promise<StoreEvent[]> {
    const { lower, upper } = prefixRange(prefix);
    return this.historyTx(lower, upper, fromRevision, sqlLimit(limit), !!opts.newest);
  }

  subscribe(listener: (ev: StoreEvent) => void): Unsubscribe {
    // A wrapper per subscription, so subscribing one function twice yields two subscriptions.
    const entry = (ev: StoreEvent) => listener(ev);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  async compact(keep: number): Promise<void> {
    this.compactTx.immediate(checkCount('keep', keep, 0));
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.db.close();
  }

  /**
   * One write inside the caller's transaction: reads the key's row, lets `decide` accept or refuse
   * the write, and writes the state row, the event row and the next revision.
   */
  private writeRow(key: string, decide: WriteDecision): EventRow {
    const current = this.stmt.get.get(key);
    const { type, value } = decide(current);
    const revision = this.meta('revision') + 1;
    const row: EventRow = {
      revision,
      key,
      type,
      value,
      prev_value: current?.value ?? null,
      prev_revision: current?.mod_revision ?? null,
      create_revision: current?.create_revision ?? revision,
    };
    if (value === null) {
      this.stmt.remove.run(key);
    } else {
      this.stmt.upsert.run(key, revision, row.create_revision, value);
    }
    this.stmt.appendEvent.run(row);
    this.stmt.setMeta.run(revision, 'revision');
    // Deciding by revision rather than a counter keeps the schedule across restarts.
    if (revision % this.compactEvery === 0) this.dropHistory(this.historyLimit);
    return row;
  }

  private meta(name: MetaName): number {
    const value = this.stmt.getMeta.get(name);
    if (value === undefined) throw new Error(`store meta row ${name} is missing`);
    return value;
  }

  /**
   * Keeps the newest `keep` events. Every revision has exactly one event, so those are the
   * revisions above current - keep. Runs inside a transaction.
   */
  private dropHistory(keep: number): void {
    const target = this.meta('revision') - keep;
    if (target <= this.meta('compacted')) return;
    this.stmt.dropEvents.run(target);
    this.stmt.setMeta.run(target, 'compacted');
  }

  /** Commits one write, then delivers its event to the listeners before returning. */
  private write(key: string, decide: WriteDecision): EventRow {
    const row = this.writeTx.immediate(key, decide);
    this.emit(toEvent(row));
    return row;
  }

  /**
   * Commits several writes in one transaction (all or none), then delivers their events in
   * revision order before returning.
   */
  private writeBatch(writes: { key: string; decide: WriteDecision }[]): EventRow[] {
    if (writes.length === 0) return [];
    const rows = this.batchTx.immediate(writes);
    for (const row of rows) this.emit(toEvent(row));
    return rows;
  }

  /**
   * Delivers `ev` to every listener. A listener may itself write; that write's event is queued
   * and delivered by the outermost call once every listener has seen the current one, so each
   * listener sees events in revision order. All of it happens before the writes' promises
   * resolve, since their continuations run only after this synchronous loop.
   */
  private emit(ev: StoreEvent): void {
    this.undelivered.push(ev);
    if (this.emitting) return;
    this.emitting = true;
    try {
      for (let next = this.undelivered.shift(); next; next = this.undelivered.shift()) {
        // A snapshot, so listeners subscribed meanwhile start with the next event; the has()
        // check skips those unsubscribed meanwhile.
        for (const listener of [...this.listeners]) {
          if (!this.listeners.has(listener)) continue;
          try {
            listener(next);
          } catch (err) {
            this.reportListenerError(err, next);
          }
        }
      }
    } finally {
      this.emitting = false;
    }
  }

  private reportListenerError(err: unknown, ev: StoreEvent): void {
    try {
      this.onListenerError?.(err, ev);
    } catch {
      // A failing error reporter must not break the store either.
    }
  }
}
