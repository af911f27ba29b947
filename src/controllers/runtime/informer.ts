// An informer (client-go's SharedIndexInformer, in process): it watches one resource's storage
// with sendInitialEvents (the watch cache is the source, no HTTP), keeps a local store of the
// objects with secondary indexes, and tells its handlers about every change. Objects are frozen:
// each event stores the watch cache's own object, which is deep-frozen already (or a deep-frozen
// copy of an object that is not), and a change replaces it by a new object, so an object once
// handed out never changes (and a controller cannot change the watch cache through it).
import type { Logger } from 'pino';
import { deepFreeze, type KObject } from '../../api/meta.ts';
import type { RESTStorage } from '../../apiserver/registry/generic.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Told about each change: `old` is the previous state for MODIFIED and DELETED. */
export type EventHandler = (type: EventType, obj: KObject, old?: KObject) => void;

/** The index values of an object (none: it is not in the index). */
export type IndexFunc = (obj: KObject) => string[];

/** The index every informer has: objects by namespace ('' for cluster-scoped ones). */
export const NAMESPACE_INDEX = 'namespace';

export interface InformerOptions {
  /** only this namespace */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** where exceptions of handlers and index functions are reported */
  logger?: Logger;
}

interface Index {
  fn: IndexFunc;
  values: Map<string, Set<string>>;
}

/** What an informer watches: a resource's storage (a Registry, or a RESTStorage of its own). */
export type InformerSource = Pick<RESTStorage, 'def' | 'watch'>;

export class Informer {
  private readonly items = new Map<string, KObject>();
  private readonly indexes = new Map<string, Index>();
  private readonly handlers = new Set<EventHandler>();
  private stopWatch?: () => void;
  private synced = false;
  private readonly syncWaiters: (() => void)[] = [];

  constructor(
    readonly source: InformerSource,
    private readonly opts: InformerOptions = {},
  ) {
    this.addIndex(NAMESPACE_INDEX, (o) => [o.metadata.namespace ?? '']);
  }

  /**
   * Lists and watches (idempotent). The storage's watch cache must be loaded (the API server
   * started): it sends the initial objects within watch(), so the informer has synced on return.
   */
  start(): void {
    if (this.stopWatch) return;
    this.stopWatch = this.source.watch(
      this.opts.namespace,
      { sendInitialEvents: true, labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector },
      { send: (type, obj) => this.apply(type, obj) },
    );
    this.synced = true;
    for (const f of this.syncWaiters.splice(0)) f();
  }

  stop(): void {
    this.stopWatch?.();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the initial objects are in the store. */
  waitForSync(): Promise<void> {
    return this.synced ? Promise.resolve() : new Promise((r) => this.syncWaiters.push(r));
  }

  /** Adds a handler; it is told about every object already in the store as ADDED first. Returns its remover. */
  addHandler(h: EventHandler): () => void {
    this.handlers.add(h);
    for (const o of this.items.values()) this.call(h, 'ADDED', o);
    return () => this.handlers.delete(h);
  }

  /** Adds (or replaces) a secondary index, built at once from the objects in the store. */
  addIndex(name: string, fn: IndexFunc): void {
    const index: Index = { fn, values: new Map() };
    this.indexes.set(name, index);
    for (const [key, o] of this.items) this.indexObject(index, key, o);
  }

  get(namespace: string | undefined, name: string): KObject | undefined {
    return this.items.get(objectKey(namespace, name));
  }

  /** Every object, or those of one namespace. */
  list(namespace?: string): KObject[] {
    return namespace === undefined ? [...this.items.values()] : this.byIndex(NAMESPACE_INDEX, namespace);
  }

  /** The objects whose index function returned `value`. Throws for an unknown index. */
  byIndex(name: string, value: string): KObject[] {
    const index = this.indexes.get(name);
    if (!index) throw new Error(`informer for ${this.source.def.plural}: no index named "${name}"`);
    return [...(index.values.get(value) ?? [])].map((k) => this.items.get(k)!);
  }

  /** One watch event: the store and indexes first, then the handlers. Never throws (it runs inside the watch cache). */
  private apply(type: EventType, obj: KObject): void {
    const key = objectKey(obj.metadata.namespace, obj.metadata.name!);
    const old = this.items.get(key);
    // the watch cache's objects are deep-frozen already (Registry.decode): shared, not copied
    const next = Object.isFrozen(obj) ? obj : deepFreeze(structuredClone(obj));
    if (old) for (const index of this.indexes.values()) this.unindexObject(index, key, old);
    if (type === 'DELETED') {
      this.items.delete(key);
      if (!old) return;
    } else {
      this.items.set(key, next);
      for (const index of this.indexes.values()) this.indexObject(index, key, next);
    }
    const kind: EventType = type === 'DELETED' ? 'DELETED' : old ? 'MODIFIED' : 'ADDED';
    for (const h of this.handlers) this.call(h, kind, next, old);
  }

  private call(h: EventHandler, type: EventType, obj: KObject, old?: KObject): void {
    try {
      h(type, obj, old);
    } catch (err) {
      this.opts.logger?.error({ resource: this.source.def.plural, namespace: obj.metadata.namespace, name: obj.metadata.name, err: (err as Error).message }, 'informer event handler failed');
    }
  }

  private values(index: Index, o: KObject): string[] {
    try {
      return index.fn(o);
    } catch (err) {
      this.opts.logger?.error({ resource: this.source.def.plural, namespace: o.metadata.namespace, name: o.metadata.name, err: (err as Error).message }, 'informer index function failed');
      return [];
    }
  }

  private indexObject(index: Index, key: string, o: KObject): void {
    for (const v of this.values(index, o)) {
      let keys = index.values.get(v);
      if (!keys) index.values.set(v, (keys = new Set()));
      keys.add(key);
    }
  }

  private unindexObject(index: Index, key: string, o: KObject): void {
    for (const v of this.values(index, o)) {
      const keys = index.values.get(v);
      keys?.delete(key);
      if (keys?.size === 0) index.values.delete(v);
    }
  }
}

/** The store key of an object: "namespace/name" ("/name" when cluster-scoped). */
export const objectKey = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;

