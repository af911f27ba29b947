// The generic registry of one resource (k8s.io/apiserver/pkg/registry/generic/registry.Store):
// create, get, list, watch, update (guaranteed update with compare-and-swap), delete with
// finalizers, on top of the revisioned store for writes and the watch cache for reads.
import { isDeepStrictEqual } from 'node:util';
import { randomUUID, randomInt } from 'node:crypto';
import { deepFreeze, timestamp, type KObject } from '../../api/meta.ts';
import { Interner } from '../../util/strings.ts';
import { KeyExistsError, KeyNotFoundError, RevisionConflictError, type KV, type Store } from '../../storage/store/interface.ts';
import type { StoreLocks } from '../../storage/store/coordination.ts';
import { CacheTooOldError, Cacher, ExpiredError, type WatchEventType } from '../../storage/store/cacher.ts';
import {
  alreadyExists,
  badRequest,
  requestEntityTooLarge,
  conflict,
  expired,
  fieldErr,
  invalid,
  notFound,
  OBJECT_MODIFIED,
  timeout,
  tooLargeResourceVersion,
  type FieldError,
  type GroupResource,
} from '../errors.ts';
import { exactName, matchFields, matchLabels, parseFieldSelector, parseLabelSelector, type FieldRequirement } from '../selectors.ts';
import { applyDefaults, dns1123SubdomainError, metadataSizes, prune, TOTAL_ANNOTATION_SIZE, typeErrors, validateObjectMeta, validateObjectMetaUpdate, validateSchema } from '../validation.ts';
import { gv, type RequestContext, type ResourceDef } from './types.ts';
import { holds, runHolding } from '../../util/held.ts';
import { fromOpenAPI, managedFieldsOf, update as trackUpdate, type ManagedFieldsEntry, type OpenAPISchema, type TypeNode } from '../apply/index.ts';
import type { Schema } from '../../api/schema.ts';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult {
  items: KObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  sendInitialEvents?: boolean;
}

/** What a read requires of the cache (see RESTStorage.fresh). */
export interface FreshOptions {
  resourceVersion?: string;
  resourceVersionMatch?: string;
  continue?: string;
}

export interface WatchSink {
  send(type: WatchEventType, obj: KObject): void;
  /** ends the stream (a watcher too slow to keep up); the client re-watches */
  close?(): void;
}

export interface DeleteOptions {
  dryRun: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  /** kube's propagationPolicy: Orphan and Foreground keep the object (a finalizer) until the garbage collector is done */
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
}

/** The finalizers kube's garbage collector acts on, by DeleteOptions.propagationPolicy. */
export const GC_FINALIZERS = { Orphan: 'orphan', Foreground: 'foregroundDeletion' } as const;

/** What an update's mutation returns: the new object, and whether it pins a resourceVersion. */
export interface Mutation {
  obj: KObject;
  /** a resourceVersion the caller requires the stored object to have (PUT, or a patch that sets it) */
  precondition?: string;
  /**
   * managedFields a server-side apply computed for `obj` (the apply handler): stored as they are
   * instead of recording the write as an `Update`; an apply that changes nothing writes nothing.
   */
  managedFields?: ManagedFieldsEntry[];
}

const MAX_UPDATE_ATTEMPTS = 16;

/** One object of Registry.createMany: stored, or refused with the error `create` would throw. */
export type BatchCreateResult = { obj: KObject } | { error: unknown };

export interface RegistryOptions {
  /** runs before an object is stored by a create in a namespace (not for dry runs), e.g. to make sure the namespace exists */
  beforeNamespacedCreate?(namespace: string, ctx: RequestContext): Promise<void>;
  /** bound on a stored object's encoded size (default 1.5 MiB, etcd's --max-request-bytes) */
  maxObjectBytes?: number;
  /**
   * Several replicas (etcd): the write lock keys (Strategy.lockKey) are also held as locks in the
   * store, so writes with one key run one at a time across replicas too; when another replica
   * held one since, the cache first catches up with the store (a consistent read).
   */
  storeLocks?: StoreLocks;
  /**
   * Told how long each read on a remote store waited for the watch cache (Registry.fresh: a
   * consistent read, a resourceVersion or a continue token newer than the cache), and whether the
   * cache reached the revision in time ('reached') or the read answered 504 ('timeout').
   */
  onCacheWait?(seconds: number, result: 'reached' | 'timeout'): void;
}

export const DEFAULT_MAX_OBJECT_BYTES = 1_572_864;

/** What the REST handlers need of a resource's storage (the generic Registry, or a custom one). */
export interface RESTStorage {
  readonly def: ResourceDef;
  readonly gr: GroupResource;
  /** the newest revision the storage has seen (for BOOKMARK events) */
  revision(): number;
  get(ns: string | undefined, name: string): KObject | Promise<KObject>;
  /**
   * Waits until the cache can serve a read with these options (on a remote store: a consistent
   * read, a resourceVersion or continue token newer than the cache); 504 Timeout after the bound.
   */
  fresh?(opts: FreshOptions): Promise<void>;
  list(ns: string | undefined, opts: ListOptions): ListResult | Promise<ListResult>;
  watch(ns: string | undefined, opts: WatchOptions, sink: WatchSink): () => void;
  create(ns: string | undefined, obj: KObject, ctx: RequestContext): Promise<KObject>;
  update(ns: string | undefined, name: string, mutate: (current: KObject) => Mutation | Promise<Mutation>, ctx: RequestContext, sub?: string): Promise<KObject>;
  delete(ns: string | undefined, name: string, opts: DeleteOptions, ctx: RequestContext): Promise<{ obj: KObject; deleted: boolean }>;
  decodeFields(obj: KObject, mode: FieldValidation): string[];
  /** The object's type for server-side apply (src/apiserver/apply), from the schema. */
  applyType(): TypeNode;
  /** The reset fields of the main resource (sub undefined) or of a subresource (see SubresourceStrategy.writes). */
  resetFields(sub?: string): string[][];
  /** 413 for an object larger than the storage keeps (an applied configuration is checked before it is merged) */
  checkSize?(o: KObject): void;
  /**
   * Cheap bounds checked before any per-field validation (as kube-apiserver's body limit is), so
   * that a huge map of labels costs one pass, not the validation of every label: 422 for
   * annotations over kube's 256 KiB, 413 for labels, annotations and finalizers that alone are
   * larger than the storage keeps.
   */
  checkMetadataSize?(o: KObject): void;
}

/** The manager of a write without one (the server's own writes). */
export const DEFAULT_FIELD_MANAGER = 'pkgserver';

/** ObjectMeta fields a write may set (others are the system's): what a subresource resets of metadata. */
const WRITABLE_METADATA = ['labels', 'annotations', 'finalizers', 'ownerReferences'];

/**
 * The fields of an object a write through a subresource does not change: every field of the
 * schema outside `writes` (apiVersion and kind aside; of metadata, the writable fields only).
 */
export function resetFieldsFor(schema: Schema, writes: string[][]): string[][] {
  const out: string[][] = [];
  const walk = (s: Schema | undefined, prefix: string[], keep: string[][]) => {
    const props = prefix.length === 1 && prefix[0] === 'metadata' ? WRITABLE_METADATA : Object.keys(s?.properties ?? {});
    for (const k of props) {
      if (prefix.length === 0 && (k === 'apiVersion' || k === 'kind')) continue;
      const under = keep.filter((p) => p[0] === k);
      if (under.length === 0 && prefix.length === 0 && k === 'metadata') out.push(...WRITABLE_METADATA.map((m) => ['metadata', m]));
      else if (under.length === 0) out.push([...prefix, k]);
      else if (!under.some((p) => p.length === 1)) walk(s?.properties?.[k], [...prefix, k], under.map((p) => p.slice(1)));
    }
  };
  walk(schema, [], writes);
  return out;
}

/**
 * Records a non-apply write in metadata.managedFields (kube's field manager): the fields that
 * changed from `old` (undefined: a create) go to `manager`'s `Update` entry. managedFields the
 * client sent in `next` replace the stored ones, as kube lets a client rewrite them.
 */
export function recordManagedFields(storage: Pick<RESTStorage, 'applyType' | 'resetFields'>, next: KObject, old: KObject | undefined, manager: string, sub?: string, cache?: Map<string, ManagedFieldsEntry[]>): void {
  const type = storage.applyType();
  // A create's entry depends on the object's shape only (shapeOf): objects of one shape (the
  // thousands of revisions a repository sync creates) share the computed field set
  const key = cache && old === undefined && next.metadata.managedFields === undefined ? `${manager}\u0000${sub ?? ''}\u0000${shapeOf(next, type)}` : undefined;
  const hit = key !== undefined ? cache!.get(key) : undefined;
  if (hit) {
    const now = timestamp();
    setManagedFields(next, hit.map((e) => ({ ...e, time: now, fieldsV1: structuredClone(e.fieldsV1) })));
    return;
  }
  const r = trackUpdate(old, next, managedFieldsOf(old), manager, { type, subresource: sub, resetFields: storage.resetFields(sub) });
  setManagedFields(next, r.managedFields);
  if (key !== undefined) {
    if (cache!.size >= SHAPE_CACHE_SIZE) cache!.clear();
    cache!.set(key, structuredClone(r.managedFields));
  }
}

const SHAPE_CACHE_SIZE = 512;

/**
 * What decides the field set of a value of type `t` (two values of one shape have the same
 * fields): map keys, the key fields of map-list items, set-list values, and whether each value is
 * null, a scalar or a container; not the scalars' values (nor atomic lists' or maps' contents).
 */
export function shapeOf(v: unknown, t: TypeNode): string {
  if (v === null) return 'n';
  if (Array.isArray(v)) {
    if (t.kind === 'list' && t.listType === 'map')
      return `[${v.map((item) => (item !== null && typeof item === 'object' && !Array.isArray(item) ? `${JSON.stringify(t.keys.map((k) => (item as Record<string, unknown>)[k] ?? null))}${shapeOf(item, t.elementType)}` : JSON.stringify(item))).join(',')}]`;
    if (t.kind === 'list' && t.listType === 'set') return JSON.stringify(v);
    return v.length ? 'a' : 'a0';
  }
  if (typeof v === 'object') {
    if (t.kind === 'map' && t.atomic) return Object.keys(v).length ? 'm' : 'm0';
    let s = '{';
    for (const [k, child] of Object.entries(v)) s += `${JSON.stringify(k)}:${shapeOf(child, t.kind === 'map' ? (t.fields.get(k) ?? t.elementType) : t)},`;
    return `${s}}`;
  }
  return 's';
}

function setManagedFields(o: KObject, entries: ManagedFieldsEntry[] | undefined): void {
  if (entries?.length) o.metadata.managedFields = entries as unknown as KObject['metadata']['managedFields'];
  else delete o.metadata.managedFields;
}

/**
 * The short strings of decoded objects, kept once (src/util/strings.ts): the apiVersion, kinds,
 * timestamps, authors and condition texts that thousands of cached objects repeat.
 */
const decodedStrings = new Interner();

/**
 * managedFields' FieldsV1 trees shared between decoded objects: revisions made alike (a sync's,
 * a controller's) carry the same field sets, and one tree each cost ~2 KiB of heap per object
 * (20 MiB at 10,000 revisions). Keyed by their JSON; starts over when full.
 */
const sharedFieldSets = new Map<string, unknown>();
const SHARED_FIELD_SETS = 20_000;

function shareFieldSets(o: KObject): void {
  const entries = (o.metadata as { managedFields?: unknown }).managedFields;
  if (!Array.isArray(entries)) return;
  for (const e of entries as { fieldsV1?: unknown }[]) {
    if (!e || typeof e.fieldsV1 !== 'object' || e.fieldsV1 === null) continue;
    const key = JSON.stringify(e.fieldsV1);
    let shared = sharedFieldSets.get(key);
    if (shared === undefined) {
      if (sharedFieldSets.size >= SHARED_FIELD_SETS) sharedFieldSets.clear();
      shared = deepFreeze(e.fieldsV1, (s) => decodedStrings.intern(s));
      sharedFieldSets.set(key, shared);
    }
    e.fieldsV1 = shared;
  }
}

export class Registry implements RESTStorage {
  readonly gr: GroupResource;
  private readonly base: string;
  private readonly locks = new KeyedMutex();

  constructor(
    readonly def: ResourceDef,
    private readonly store: Store,
    readonly cacher: Cacher,
    private readonly opts: RegistryOptions = {},
  ) {
    this.gr = { group: def.group, resource: def.plural };
    this.base = Registry.prefix(def);
    for (const f of def.indexedFields ?? []) cacher.addIndex(f, (o) => this.fieldValue(o, f));
  }

  static prefix(def: Pick<ResourceDef, 'group' | 'plural'>): string {
    return `/registry/${def.group || 'core'}/${def.plural}/`;
  }

  revision(): number {
    return this.cacher.revision;
  }

  key(ns: string | undefined, name: string): string {
    return this.def.namespaced ? `${this.base}${ns}/${name}` : `${this.base}${name}`;
  }

  /**
   * Decodes a stored value, stamping the revision as resourceVersion. The object is deep-frozen:
   * the watch cache shares it with every reader (requests, watchers, the controllers' informers,
   * which keep it without a copy); a writer works on a structuredClone.
   */
  static decode(value: Buffer, revision: number): KObject {
    const o = JSON.parse(value.toString('utf8')) as KObject;
    o.metadata.resourceVersion = String(revision);
    shareFieldSets(o);
    return deepFreeze(o, (s) => decodedStrings.intern(s));
  }

  /**
   * Types before logic: no per-kind code (prepare, strategies, hooks) sees a field of the wrong
   * type. The 422 still lists every cause the generic rules find (schema, ObjectMeta), as kube's.
   */
  private checkTypes(o: KObject, old?: KObject): void {
    if (!typeErrors(o, this.def.schema).length) return;
    throw invalid(this.def.kind, this.def.group, typeof o.metadata?.name === 'string' ? o.metadata.name : '', dedupe(this.genericErrors(o, old).errs));
  }

  /** What the schema and the ObjectMeta rules say of an object (no per-kind code). */
  private genericErrors(obj: KObject, old: KObject | undefined): { errs: FieldError[]; schemaValid: boolean } {
    const s = this.def.strategy;
    const schemaErrs = validateSchema(obj, this.def.schema);
    const errs: FieldError[] = [...schemaErrs];
    // the ObjectMeta rules assume its types: they run when the schema found none wrong there
    if (!schemaErrs.some((e) => e.field === 'metadata' || e.field.startsWith('metadata.'))) {
      errs.push(...validateObjectMeta(obj.metadata, this.def.namespaced, (n) => (s.validateName ? s.validateName(n) : nameErrors(n))));
      if (old) errs.push(...validateObjectMetaUpdate(obj.metadata, old.metadata));
    }
    return { errs, schemaValid: schemaErrs.length === 0 };
  }

  /**
   * The object as it would be stored must fit the bound (checked after decoding, defaulting and
   * patching, before any side effect): 413, as etcd refuses a too large value.
   */
  checkSize(o: KObject): void {
    const limit = this.opts.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
    const size = Buffer.byteLength(JSON.stringify(o));
    if (size > limit) throw requestEntityTooLarge(limit, `the ${this.def.kind} "${o.metadata.name ?? ''}" (${size} bytes encoded)`);
  }

  checkMetadataSize(o: KObject): void {
    const limit = this.opts.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES;
    const { annotations, encoded } = metadataSizes(o.metadata, limit);
    const name = typeof o.metadata?.name === 'string' ? o.metadata.name : '';
    // kube's own cheap rule first: its 422 for annotations over 256 KiB (without the causes the
    // rest of the validation would add)
    if (annotations > TOTAL_ANNOTATION_SIZE) throw invalid(this.def.kind, this.def.group, name, [fieldErr.tooLong('metadata.annotations', TOTAL_ANNOTATION_SIZE)]);
    if (encoded > limit) throw requestEntityTooLarge(limit, `the ${this.def.kind} "${name}" (more than ${limit} bytes of labels, annotations and finalizers)`);
  }

  private encode(o: KObject): Buffer {
    const { resourceVersion: _rv, ...meta } = o.metadata;
    return Buffer.from(JSON.stringify({ ...o, metadata: meta }));
  }

  decodeFields(obj: KObject, mode: FieldValidation): string[] {
    return decodeFields(this.def, obj, mode);
  }

  private typeNode?: TypeNode;
  private readonly resets = new Map<string, string[][]>();
  /** the managedFields of a create, by the object's shape (recordManagedFields) */
  private readonly createShapes = new Map<string, ManagedFieldsEntry[]>();

  applyType(): TypeNode {
    return (this.typeNode ??= fromOpenAPI(this.def.schema as OpenAPISchema));
  }

  resetFields(sub?: string): string[][] {
    let r = this.resets.get(sub ?? '');
    if (!r) {
      r = sub ? resetFieldsFor(this.def.schema, this.def.subresources[sub]?.writes ?? [[sub]]) : this.def.subresources.status ? [['status']] : [];
      this.resets.set(sub ?? '', r);
    }
    return r;
  }

  // ---------------------------------------------------------------- reads

  get(ns: string | undefined, name: string): KObject {
    const o = this.cacher.get(this.key(ns, name));
    if (!o) throw notFound(this.gr, name);
    return o;
  }

  list(ns: string | undefined, opts: ListOptions): ListResult {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector, this.fieldNames());
    const prefix = ns === undefined || !this.def.namespaced ? this.base : `${this.base}${ns}/`;
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;

    let start = prefix;
    let snapshot: { entries: Iterable<[string, KObject]>; revision: number };
    try {
      if (opts.continue) {
        const tok = decodeContinue(opts.continue);
        start = prefix + tok.start;
        snapshot = tok.rv < 0 ? this.cacher.list(start) : this.cacher.listAt(tok.rv, start);
      } else if (opts.resourceVersionMatch === 'Exact') {
        const rv = parseRV(opts.resourceVersion);
        if (rv === undefined) throw badRequest('resourceVersionMatch=Exact requires a resourceVersion');
        this.checkNotTooLarge(opts.resourceVersion);
        snapshot = this.cacher.listAt(rv, start);
      } else {
        this.checkNotTooLarge(opts.resourceVersion);
        const name = exactName(fields);
        snapshot = name !== undefined && ns !== undefined ? this.single(ns, name) : (this.indexed(prefix, fields) ?? this.cacher.list(start));
      }
    } catch (e) {
      if (e instanceof ExpiredError) {
        if (opts.continue) {
          const tok = decodeContinue(opts.continue);
          throw expired(
            'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
            encodeContinue(-1, tok.start),
          );
        }
        throw expired(`too old resource version: ${e.requested} (${e.oldest})`);
      }
      throw e;
    }

    const filtered = labels.length > 0 || fields.length > 0;
    const items: KObject[] = [];
    let lastKey = '';
    let remaining = 0;
    let more = false;
    for (const [key, o] of snapshot.entries) {
      if (!key.startsWith(prefix)) break;
      if (filtered && !(matchLabels(labels, o.metadata.labels) && matchFields(fields, (f) => this.fieldValue(o, f)))) continue;
      if (limit && items.length >= limit) {
        more = true;
        if (filtered) break;
        remaining++;
        continue;
      }
      items.push(o);
      lastKey = key;
    }
    const out: ListResult = { items, resourceVersion: String(snapshot.revision) };
    if (more) {
      out.continue = encodeContinue(snapshot.revision, lastKey.slice(prefix.length) + '\u0000');
      if (!filtered) out.remainingItemCount = remaining;
    }
    return out;
  }

  /** The objects under `prefix` matching an `=` requirement on an indexed field, in key order (the caller applies every requirement). */
  private indexed(prefix: string, fields: FieldRequirement[]): { entries: Iterable<[string, KObject]>; revision: number } | undefined {
    for (const r of fields) {
      if (r.op !== '=' || !this.def.indexedFields?.includes(r.field)) continue;
      const keys = this.cacher.byIndex(r.field, r.value);
      if (!keys) continue;
      const entries: [string, KObject][] = [];
      for (const k of keys) if (k.startsWith(prefix)) entries.push([k, this.cacher.get(k)!]);
      return { entries, revision: this.cacher.revision };
    }
    return undefined;
  }

  private single(ns: string, name: string) {
    const key = this.key(ns, name);
    const o = this.cacher.get(key);
    return { revision: this.cacher.revision, entries: o ? ([[key, o]] as [string, KObject][]) : [] };
  }

  /**
   * kube's rules for which reads the cache may serve at once: resourceVersion "0" (any state);
   * a resourceVersion N (NotOlderThan, Exact, a watch from N) or a continue token at N waits until
   * the cache reached N; no resourceVersion is a consistent read (the store's current revision).
   * Only a remote store's cache can lag; on SQLite this returns at once (a resourceVersion the
   * cache has not reached does not exist, and list answers 504 as before).
   */
  async fresh(opts: FreshOptions): Promise<void> {
    const set = this.cacher.owner;
    if (!set?.remote) return;
    let rv: number | undefined;
    try {
      if (opts.continue) rv = decodeContinue(opts.continue).rv;
      else rv = parseRV(opts.resourceVersion);
    } catch {
      return; // the read itself answers 400
    }
    if (rv !== undefined && !(rv > 0)) return; // resourceVersion=0: any state, no wait
    const started = performance.now();
    const waited = (result: 'reached' | 'timeout') => this.opts.onCacheWait?.((performance.now() - started) / 1000, result);
    try {
      if (rv === undefined) await set.consistent();
      else await set.waitFor(rv);
      waited('reached');
    } catch (e) {
      if (e instanceof CacheTooOldError) {
        waited('timeout');
        if (e.consistent) throw timeout(e.message, 1);
        throw tooLargeResourceVersion(e.requested, e.current);
      }
      throw e;
    }
  }

  private checkNotTooLarge(resourceVersion: string | undefined): void {
    const rv = parseRV(resourceVersion);
    if (rv !== undefined && rv > this.cacher.revision)
      throw tooLargeResourceVersion(rv, this.cacher.revision);
  }

  /**
   * Starts a watch. Returns a function that stops it. Throws ExpiredError (the handler turns it
   * into a 410 ERROR event) when the resourceVersion is older than the watch window.
   */
  watch(ns: string | undefined, opts: WatchOptions, sink: WatchSink): () => void {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector, this.fieldNames());
    this.checkNotTooLarge(opts.resourceVersion);
    const rv = parseRV(opts.resourceVersion);
    const initial = opts.sendInitialEvents ?? (rv === undefined || rv === 0);
    return this.cacher.watch(
      {
        matches: (o) =>
          (ns === undefined || !this.def.namespaced || o.metadata.namespace === ns) &&
          matchLabels(labels, o.metadata.labels) &&
          matchFields(fields, (f) => this.fieldValue(o, f)),
        send: (type, o) => sink.send(type, o),
        close: () => sink.close?.(),
      },
      initial || rv === undefined || rv === 0 ? 'current' : rv,
      initial,
    );
  }

  fieldNames(): string[] {
    return ['metadata.name', 'metadata.namespace', ...Object.keys(this.def.fieldSelectors)];
  }

  fieldValue(o: KObject, field: string): string {
    if (field === 'metadata.name') return o.metadata.name ?? '';
    if (field === 'metadata.namespace') return o.metadata.namespace ?? '';
    return this.def.fieldSelectors[field]?.(o) ?? '';
  }

  // ---------------------------------------------------------------- writes

  /** Runs `fn` holding a write lock key (see Strategy.lockKey); this registry's writes inside it do not wait. */
  withLockKey<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.runLocked(key, fn);
  }

  /** The in-process lock of `key`, and with several replicas its lock in the store (once per flow). */
  private runLocked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const storeLocks = this.opts.storeLocks;
    if (!storeLocks) return this.locks.run(key, fn);
    const token = `registry-lock:${this.gr.resource}:${key}`;
    return this.locks.run(key, () =>
      holds(token)
        ? fn()
        : runHolding(token, () =>
            storeLocks.hold(`registry/${this.gr.group}/${this.gr.resource}/${key}`, async (held) => {
              if (held.stale) await this.catchUp();
              return fn();
            }),
          ),
    );
  }

  /** Waits until the cache has the store's current state (another replica wrote under our lock key). */
  private async catchUp(): Promise<void> {
    try {
      await this.cacher.owner?.consistent(30_000);
    } catch (e) {
      if (e instanceof CacheTooOldError) throw timeout(e.message, 1);
      throw e;
    }
  }

  /** Runs writes with the same lock key one at a time (Strategy.lockKey). */
  private locked<T>(ns: string | undefined, name: string, fn: () => Promise<T>): Promise<T> {
    const key = this.def.strategy.lockKey?.(ns, name);
    return key === undefined ? fn() : this.runLocked(key, fn);
  }

  async create(ns: string | undefined, obj: KObject, ctx: RequestContext): Promise<KObject> {
    const created = await this.locked(ns ?? obj.metadata?.namespace, obj.metadata?.name ?? '', () => this.doCreate(ns, obj, ctx));
    if (!ctx.dryRun && !ctx.mirror) await this.def.strategy.afterWrite?.(created, undefined, ctx);
    return created;
  }

  private async doCreate(ns: string | undefined, obj: KObject, ctx: RequestContext): Promise<KObject> {
    const key = await this.admitCreate(ns, obj, ctx);
    const meta = obj.metadata;
    // an existing object is a conflict, found before any side effect: a dry run answers as the
    // write would, and a beforeCreate hook (git) must not act for a create that cannot succeed
    const sideEffects = this.createSideEffects(ctx);
    if ((ctx.dryRun || sideEffects) && (await this.store.get(key))) throw alreadyExists(this.gr, meta.name!);
    if (ctx.dryRun) return obj;
    if (this.def.namespaced) await this.opts.beforeNamespacedCreate?.(meta.namespace!, ctx);
    if (sideEffects) await this.def.strategy.beforeCreate!(obj, ctx);
    const indexKeys = this.store.createIndexed ? (this.def.strategy.indexKeys?.(obj) ?? []) : [];
    try {
      const kv = indexKeys.length ? await this.store.createIndexed!(key, this.encode(obj), indexKeys) : await this.store.create(key, this.encode(obj));
      return Registry.decode(kv.value, kv.modRevision);
    } catch (e) {
      if (e instanceof KeyExistsError && e.key !== key && indexKeys.includes(e.key))
        throw invalid(this.def.kind, this.def.group, meta.name!, this.def.strategy.indexConflict?.(obj) ?? [fieldErr.duplicate('metadata', meta.name, 'another object holds the same unique fields')]);
      if (e instanceof KeyExistsError) throw alreadyExists(this.gr, meta.name!);
      throw e;
    }
  }

  /** Deletes the stored object (with its index keys, see Strategy.indexKeys). */
  private storeDelete(key: string, current: KObject, revision: number): Promise<{ prev: KV; revision: number }> {
    const indexKeys = this.store.deleteIndexed ? (this.def.strategy.indexKeys?.(current) ?? []) : [];
    return indexKeys.length ? this.store.deleteIndexed!(key, revision, indexKeys) : this.store.delete(key, revision);
  }

  /** Whether a create runs the strategy's beforeCreate hook (side effects outside the store). */
  private createSideEffects(ctx: RequestContext): boolean {
    return !ctx.mirror && this.def.strategy.beforeCreate !== undefined;
  }

  /**
   * The part of a create that only looks at the object: system fields, the strategy's
   * preparation, defaults, validation and the size bound. Returns the object's store key.
   */
  private async admitCreate(ns: string | undefined, obj: KObject, ctx: RequestContext): Promise<string> {
    const meta = (obj.metadata ??= {});
    if (this.def.namespaced) {
      if (meta.namespace && ns && meta.namespace !== ns)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      meta.namespace = ns ?? meta.namespace;
    }
    if (!meta.name && meta.generateName && this.def.strategy.allowGenerateName !== false) meta.name = generateName(meta.generateName);
    obj.apiVersion = gv(this.def);
    obj.kind = this.def.kind;
    // system fields (rest.FillObjectMetaSystemFields)
    meta.uid = randomUUID();
    meta.creationTimestamp = timestamp();
    meta.generation = 1;
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    if (this.def.subresources.status && !ctx.mirror) delete obj.status;
    this.checkTypes(obj);
    if (!ctx.mirror) this.def.strategy.prepareForCreate?.(obj, ctx);
    applyDefaults(obj, this.def.schema);
    await this.validate(obj, undefined, ctx);
    this.checkSize(obj); // before the managedFields are computed: a huge object is refused at once
    if (ctx.appliedManagedFields) setManagedFields(obj, ctx.appliedManagedFields);
    else recordManagedFields(this, obj, undefined, ctx.fieldManager ?? DEFAULT_FIELD_MANAGER, undefined, this.createShapes);
    this.checkSize(obj);
    return this.key(meta.namespace, meta.name!);
  }

  /**
   * Creates several objects with one store write (Store.createMany: one transaction, one fsync on
   * SQLite; one transaction per object, in order, on etcd) instead of one per object. Each object is admitted exactly as by `create` (system fields,
   * strategy, defaults, validation, size, the write lock of its lockKey, the namespace hook,
   * afterWrite), gets its own resourceVersion, and watchers see one ADDED event per object, in
   * the given order. The result is in the order of `objs`: the stored object, or the error that
   * refused it (an invalid object or an existing name refuses that object only). Creates with
   * side effects outside the store (a beforeCreate hook) and dry runs go one by one through
   * `create`, so that no side effect happens for a create that is not stored.
   */
  async createMany(ns: string | undefined, objs: KObject[], ctx: RequestContext): Promise<BatchCreateResult[]> {
    if (ctx.dryRun || this.createSideEffects(ctx)) {
      const out: BatchCreateResult[] = [];
      for (const obj of objs) out.push(await this.create(ns, obj, ctx).then((o): BatchCreateResult => ({ obj: o }), (error: unknown): BatchCreateResult => ({ error })));
      return out;
    }
    // every lock key the batch needs, taken in one order (KeyedMutex is re-entrant)
    const lockKeys = [...new Set(objs.map((o) => this.def.strategy.lockKey?.(ns ?? o.metadata?.namespace, o.metadata?.name ?? '')).filter((k): k is string => k !== undefined))].sort();
    const run = lockKeys.reduceRight<() => Promise<BatchCreateResult[]>>((inner, k) => () => this.locks.run(k, inner), () => this.doCreateMany(ns, objs, ctx));
    const results = await run();
    if (!ctx.mirror && this.def.strategy.afterWrite)
      for (const r of results) if ('obj' in r) await this.def.strategy.afterWrite(r.obj, undefined, ctx);
    return results;
  }

  private async doCreateMany(ns: string | undefined, objs: KObject[], ctx: RequestContext): Promise<BatchCreateResult[]> {
    const results: BatchCreateResult[] = new Array(objs.length);
    const admitted: { i: number; key: string; obj: KObject }[] = [];
    const keys = new Set<string>();
    for (let i = 0; i < objs.length; i++) {
      try {
        const key = await this.admitCreate(ns, objs[i], ctx);
        if (keys.has(key) || (await this.store.get(key))) throw alreadyExists(this.gr, objs[i].metadata.name!);
        keys.add(key);
        admitted.push({ i, key, obj: objs[i] });
      } catch (error) {
        results[i] = { error };
      }
    }
    if (this.def.namespaced && this.opts.beforeNamespacedCreate) {
      const refused = new Map<string, unknown>();
      for (const n of new Set(admitted.map((a) => a.obj.metadata.namespace!)))
        await this.opts.beforeNamespacedCreate(n, ctx).catch((error: unknown) => refused.set(n, error));
      for (const a of admitted) if (refused.has(a.obj.metadata.namespace!)) results[a.i] = { error: refused.get(a.obj.metadata.namespace!) };
    }
    const writes = admitted.filter((a) => !results[a.i]);
    let kvs: KV[];
    try {
      kvs = await this.store.createMany(writes.map((w) => ({ key: w.key, value: this.encode(w.obj) })));
    } catch (e) {
      if (!(e instanceof KeyExistsError)) throw e;
      // created by someone else since it was checked. An atomic store (SQLite) wrote nothing of
      // the batch; etcd's kept the objects before that one (e.created). The rest go on their own,
      // so that only that one is refused.
      kvs = e.created;
    }
    for (let j = 0; j < writes.length; j++) {
      const w = writes[j];
      if (j < kvs.length) {
        results[w.i] = { obj: Registry.decode(kvs[j].value, kvs[j].modRevision) };
        continue;
      }
      try {
        const kv = await this.store.create(w.key, this.encode(w.obj));
        results[w.i] = { obj: Registry.decode(kv.value, kv.modRevision) };
      } catch (e) {
        if (!(e instanceof KeyExistsError)) throw e;
        results[w.i] = { error: alreadyExists(this.gr, w.obj.metadata.name!) };
      }
    }
    return results;
  }

  private async validate(obj: KObject, old: KObject | undefined, ctx: RequestContext, sub?: string): Promise<void> {
    const s = this.def.strategy;
    const { errs, schemaValid } = this.genericErrors(obj, old);
    // per-kind rules (typed access to spec) run on a schema-valid object only, as kube-apiserver
    // runs a CRD's validation rules only without schema errors; metadata errors do not stop them,
    // so a 422 lists every cause
    if (schemaValid && !ctx.mirror) {
      if (!old) {
        if (s.validate) errs.push(...(await s.validate(obj, ctx)));
      } else if (sub) {
        const v = this.def.subresources[sub].validateUpdate;
        if (v) errs.push(...(await v(obj, old, ctx)));
      } else if (s.validateUpdate) errs.push(...(await s.validateUpdate(obj, old, ctx)));
    }
    if (errs.length) throw invalid(this.def.kind, this.def.group, obj.metadata.name ?? '', dedupe(errs));
  }

  /**
   * Guaranteed update: reads the stored object, applies `mutate`, prepares and validates the
   * result, and writes it with compare-and-swap, retrying when someone else wrote in between
   * (unless the mutation pinned a resourceVersion: then that is a 409 Conflict).
   */
  async update(ns: string | undefined, name: string, mutate: (current: KObject) => Mutation | Promise<Mutation>, ctx: RequestContext, sub?: string): Promise<KObject> {
    let old: KObject | undefined;
    const updated = await this.locked(ns, name, () =>
      this.doUpdate(ns, name, mutate, ctx, sub, (o) => {
        old = o;
      }),
    );
    if (!ctx.dryRun && !ctx.mirror && old && updated.metadata.resourceVersion !== old.metadata.resourceVersion) await this.def.strategy.afterWrite?.(updated, old, ctx);
    return updated;
  }

  private async doUpdate(
    ns: string | undefined,
    name: string,
    mutate: (current: KObject) => Mutation | Promise<Mutation>,
    ctx: RequestContext,
    sub: string | undefined,
    seen: (current: KObject) => void,
  ): Promise<KObject> {
    const key = this.key(ns, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.store.get(key);
      if (!kv) throw notFound(this.gr, name);
      const current = Registry.decode(kv.value, kv.modRevision);
      seen(current);
      const { obj, precondition, managedFields: applied } = await mutate(structuredClone(current));
      if (precondition !== undefined && precondition !== current.metadata.resourceVersion) throw conflict(this.gr, name, OBJECT_MODIFIED);
      if (obj.metadata?.name !== undefined && obj.metadata.name !== name)
        throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
      if (this.def.namespaced && obj.metadata?.namespace && obj.metadata.namespace !== ns)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      this.checkTypes(obj, current);
      const next = this.prepareUpdate(obj, current, ctx, sub);
      if (applied) {
        setManagedFields(next, applied);
        // an apply that changes nothing: no write, no side effect, the same resourceVersion
        if (isDeepStrictEqual(next, current)) return current;
      }
      await this.validate(next, current, ctx, sub);
      this.checkSize(next); // before the managedFields are computed: a huge object is refused at once
      if (!applied) {
        recordManagedFields(this, next, current, ctx.fieldManager ?? DEFAULT_FIELD_MANAGER, sub);
        this.checkSize(next);
      }
      if (ctx.dryRun) return isDeepStrictEqual(next, current) ? current : next;
      const finalDelete = next.metadata.deletionTimestamp && !next.metadata.finalizers?.length;
      if (!finalDelete && !ctx.mirror) await this.def.strategy.beforeUpdate?.(next, current, ctx, sub);
      if (isDeepStrictEqual(next, current)) return current; // nothing changed: no write, same resourceVersion
      try {
        if (finalDelete) {
          // the last finalizer is gone from an object being deleted: it goes now
          if (!ctx.mirror) await this.def.strategy.beforeDelete?.(current, ctx);
          const res = await this.storeDelete(key, current, kv.modRevision);
          return Registry.decode(res.prev.value, res.revision);
        }
        const written = await this.store.update(key, this.encode(next), kv.modRevision);
        return Registry.decode(written.value, written.modRevision);
      } catch (e) {
        if (e instanceof RevisionConflictError || e instanceof KeyNotFoundError) {
          // a pinned resourceVersion, or side effects already done for this attempt: no retry
          if (precondition !== undefined || this.def.strategy.beforeUpdate) throw conflict(this.gr, name, OBJECT_MODIFIED);
          if (attempt < MAX_UPDATE_ATTEMPTS) continue;
          throw conflict(this.gr, name, OBJECT_MODIFIED);
        }
        throw e;
      }
    }
  }

  /** rest.BeforeUpdate: system fields from the stored object, then the (sub)resource's narrowing. */
  private prepareUpdate(obj: KObject, old: KObject, ctx: RequestContext, sub?: string): KObject {
    let next: KObject;
    if (sub) {
      next = this.def.subresources[sub].prepareForUpdate(obj, old, ctx);
    } else {
      next = obj;
      next.apiVersion = gv(this.def);
      next.kind = this.def.kind;
      next.metadata ??= {};
      if (this.def.subresources.status && !ctx.mirror) {
        if (old.status === undefined) delete next.status;
        else next.status = structuredClone(old.status);
      }
      if (!ctx.mirror) this.def.strategy.prepareForUpdate?.(next, old, ctx);
    }
    const m = next.metadata;
    const o = old.metadata;
    m.name = m.name ?? o.name;
    if (this.def.namespaced) m.namespace = m.namespace || o.namespace;
    if (!m.uid) m.uid = o.uid;
    m.creationTimestamp = o.creationTimestamp;
    m.generation = o.generation;
    m.resourceVersion = o.resourceVersion;
    if (o.deletionTimestamp) {
      m.deletionTimestamp = o.deletionTimestamp;
      m.deletionGracePeriodSeconds = o.deletionGracePeriodSeconds;
    } else {
      delete m.deletionTimestamp;
      delete m.deletionGracePeriodSeconds;
    }
    // managedFields sent with the object replace the stored ones (recordManagedFields); a
    // subresource's object is built from the stored one. The stored (frozen) list is kept when the
    // sent one is the same: its field sets are parsed once (src/apiserver/apply)
    if (!Array.isArray(m.managedFields) || m.managedFields.length === 0 || isDeepStrictEqual(m.managedFields, o.managedFields)) {
      delete m.managedFields;
      if (o.managedFields) m.managedFields = o.managedFields;
    }
    for (const k of ['labels', 'annotations'] as const) if (m[k] && Object.keys(m[k]!).length === 0) delete m[k];
    if (m.finalizers?.length === 0) delete m.finalizers;
    applyDefaults(next, this.def.schema);
    if (specOf(next) !== specOf(old)) m.generation = (o.generation ?? 0) + 1;
    return next;
  }

  /**
   * Deletes: with finalizers the object only gets a deletionTimestamp (and goes when the last
   * finalizer is removed); otherwise it is removed with compare-and-swap.
   */
  async delete(ns: string | undefined, name: string, opts: DeleteOptions, ctx: RequestContext): Promise<{ obj: KObject; deleted: boolean }> {
    let old: KObject | undefined;
    const res = await this.locked(ns, name, () =>
      this.doDelete(ns, name, opts, ctx, (o) => {
        old = o;
      }),
    );
    if (!ctx.dryRun && !ctx.mirror) await this.def.strategy.afterWrite?.(res.deleted ? undefined : res.obj, old, ctx);
    return res;
  }

  private async doDelete(
    ns: string | undefined,
    name: string,
    opts: DeleteOptions,
    ctx: RequestContext,
    seen: (current: KObject) => void,
  ): Promise<{ obj: KObject; deleted: boolean }> {
    const key = this.key(ns, name);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.store.get(key);
      if (!kv) throw notFound(this.gr, name);
      const current = Registry.decode(kv.value, kv.modRevision);
      seen(current);
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== current.metadata.uid)
        throw conflict(this.gr, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`);
      if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion)
        throw conflict(this.gr, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`);
      if (!ctx.mirror) await this.def.strategy.validateDelete?.(current, ctx);
      try {
        const policy = opts.propagationPolicy === 'Orphan' || opts.propagationPolicy === 'Foreground' ? GC_FINALIZERS[opts.propagationPolicy] : undefined;
        const finalizers = [...(current.metadata.finalizers ?? []), ...(policy && !current.metadata.finalizers?.includes(policy) ? [policy] : [])];
        if (finalizers.length) {
          if (current.metadata.deletionTimestamp && finalizers.length === (current.metadata.finalizers?.length ?? 0)) return { obj: current, deleted: false };
          const next = structuredClone(current);
          next.metadata.deletionTimestamp ??= timestamp();
          next.metadata.deletionGracePeriodSeconds = 0;
          next.metadata.finalizers = finalizers;
          if (ctx.dryRun) return { obj: next, deleted: false }; // what the delete would do, not stored
          const written = await this.store.update(key, this.encode(next), kv.modRevision);
          return { obj: Registry.decode(written.value, written.modRevision), deleted: false };
        }
        if (ctx.dryRun) return { obj: current, deleted: true };
        if (!ctx.mirror) await this.def.strategy.beforeDelete?.(current, ctx);
        const res = await this.storeDelete(key, current, kv.modRevision);
        return { obj: Registry.decode(res.prev.value, res.revision), deleted: true };
      } catch (e) {
        if ((e instanceof RevisionConflictError || e instanceof KeyNotFoundError) && attempt < MAX_UPDATE_ATTEMPTS) continue;
        throw e;
      }
    }
  }
}

/**
 * Removes unknown fields. Strict: 400 listing them; Warn: returned as warnings; Ignore: dropped.
 */
export function decodeFields(def: ResourceDef, obj: KObject, mode: FieldValidation): string[] {
  const unknown = prune(obj, def.schema);
  if (unknown.length === 0 || mode === 'Ignore') return [];
  const list = unknown.map((p) => `unknown field "${p}"`);
  if (mode === 'Strict')
    throw badRequest(
      `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: strict decoding error: ${list.join(', ')}`,
      unknown.map((p) => ({ reason: 'FieldValueInvalid', message: `unknown field "${p}"`, field: p })),
    );
  return list;
}

/** Everything but metadata and status: a change of it bumps metadata.generation. */
function specOf(o: KObject): string {
  const { metadata: _m, status: _s, ...rest } = o;
  return JSON.stringify(rest);
}

function nameErrors(name: string): FieldError[] {
  const e = dns1123SubdomainError('metadata.name', name);
  return e ? [e] : [];
}

function dedupe(errs: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errs.filter((e) => {
    const k = `${e.field}\u0000${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function generateName(prefix: string): string {
  let s = prefix.slice(0, 58);
  for (let i = 0; i < 5; i++) s += NAME_CHARS[randomInt(NAME_CHARS.length)];
  return s;
}

function parseRV(rv: string | undefined): number | undefined {
  if (rv === undefined || rv === '') return undefined;
  // as kube parses it: an unsigned 64-bit integer (a bigger one is invalid, not "too large")
  if (!/^\d+$/.test(rv) || BigInt(rv) > 0xffffffffffffffffn) throw badRequest(`Invalid value: "${rv}": resourceVersion must be an unsigned 64-bit integer`, [fieldErr.invalid('resourceVersion', rv, 'must be an unsigned 64-bit integer')].map((e) => ({ reason: e.type, message: e.message, field: e.field })));
  return Number(rv);
}

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start })).toString('base64');
}

function decodeContinue(token: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
    if (t.v !== 'meta.k8s.io/v1' || typeof t.rv !== 'number' || typeof t.start !== 'string') throw new Error('bad');
    return { rv: t.rv, start: t.start };
  } catch {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

/**
 * One promise chain per key: `run` calls with the same key execute one at a time. Re-entrant: a
 * `run` inside a `run` of the same key (in the same async flow) executes at once.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();
  /** tokens of this mutex's keys, as recorded in the async flow that holds them */
  private readonly tokens = new Map<string, object>();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let token = this.tokens.get(key);
    if (!token) this.tokens.set(key, (token = {}));
    if (holds(token)) return fn();
    const held = token;
    const inner = () => runHolding(held, fn);
    const prev = this.tails.get(key) ?? Promise.resolve();
    const run = prev.then(inner, inner);
    const tail = run.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) {
        this.tails.delete(key);
        this.tokens.delete(key);
      }
    });
    return run;
  }
}
