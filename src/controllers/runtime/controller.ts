// A controller (controller-runtime's Controller): informer events are mapped to the keys of the
// objects it reconciles, which go through a rate-limited work queue to its Reconciler. A key is
// queued once however many events name it, never reconciled by two workers at once, retried with
// exponential backoff after an error (a 403 waits the longest delay: it needs a policy change, not
// a moment), and run again after the {requeueAfter} the Reconciler returns. Counts reconciles in
// controller-runtime's metrics.
import type { Logger } from 'pino';
import client from 'prom-client';
import type { KObject } from '../../api/meta.ts';
import type { EventType, Informer } from './informer.ts';
import { sharedMetric, WorkQueue } from './queue.ts';

export interface ObjectKey {
  /** '' for a cluster-scoped object */
  namespace: string;
  name: string;
}

export interface Result {
  /** reconcile the key again after this many milliseconds */
  requeueAfter?: number;
}

export interface Reconciler {
  /** Brings the world in line with the object named by `key` (which may be gone). Idempotent. */
  reconcile(key: ObjectKey): Promise<Result | void>;
}

/** Which keys an event concerns; `old` is the previous state for MODIFIED and DELETED. */
export type MapFunc = (type: EventType, obj: KObject, old?: KObject) => ObjectKey[];

export interface ControllerOptions {
  name: string;
  reconciler: Reconciler;
  /** concurrent reconciles (of different keys); default 1 */
  workers?: number;
  /** first retry delay after an error; default 5 ms (controller-runtime's) */
  baseDelayMs?: number;
  /** longest retry delay, also the delay after a 403; default 1000 s (controller-runtime's) */
  maxDelayMs?: number;
  logger: Logger;
  /** the registry of controller_runtime_reconcile_* and workqueue_* metrics (the server's /metrics) */
  metrics?: client.Registry;
}

const RESULTS = ['success', 'error', 'requeue', 'requeue_after'] as const;

/** The object's own key (controller-runtime's EnqueueRequestForObject). */
export const ownKey: MapFunc = (_type, obj) => [{ namespace: obj.metadata.namespace ?? '', name: obj.metadata.name! }];

/**
 * The keys of the owners of the given group and kind named in the object's ownerReferences (old
 * and new ones), in the object's namespace (EnqueueRequestForOwner). `controllerOnly`: only the
 * reference with controller: true.
 */
export function ownerKeys(group: string, kind: string, opts: { controllerOnly?: boolean } = {}): MapFunc {
  return (_type, obj, old) => {
    const keys: ObjectKey[] = [];
    for (const o of old ? [obj, old] : [obj])
      for (const ref of o.metadata.ownerReferences ?? []) {
        const refGroup = ref.apiVersion.includes('/') ? ref.apiVersion.slice(0, ref.apiVersion.indexOf('/')) : '';
        if (ref.kind !== kind || refGroup !== group || (opts.controllerOnly && !ref.controller)) continue;
        keys.push({ namespace: o.metadata.namespace ?? '', name: ref.name });
      }
    return keys;
  };
}

/**
 * The objects of `target` whose index `index` holds one of `values(obj)` (of the new and the old
 * state): e.g. a PackageRevision event → the PackageVariants indexed by its package.
 */
export function indexKeys(target: Informer, index: string, values: (obj: KObject) => string[]): MapFunc {
  return (_type, obj, old) => {
    const keys: ObjectKey[] = [];
    const seen = new Set<string>();
    for (const o of old ? [obj, old] : [obj])
      for (const v of values(o)) {
        if (seen.has(v)) continue;
        seen.add(v);
        for (const t of target.byIndex(index, v)) keys.push({ namespace: t.metadata.namespace ?? '', name: t.metadata.name! });
      }
    return keys;
  };
}

export const isForbidden = (err: unknown) => (err as { code?: unknown } | undefined)?.code === 403 || (err as { reason?: unknown } | undefined)?.reason === 'Forbidden';

interface ControllerMetrics {
  total: client.Counter<'controller' | 'result'>;
  errors: client.Counter<'controller'>;
}

export class Controller {
  readonly name: string;
  private readonly watched: { informer: Informer; map: MapFunc }[] = [];
  private readonly log: Logger;
  private readonly metrics?: ControllerMetrics;
  private queue?: WorkQueue;
  private readonly removers: (() => void)[] = [];
  private running = false;

  constructor(private readonly opts: ControllerOptions) {
    this.name = opts.name;
    this.log = opts.logger.child({ controller: opts.name });
    if (opts.metrics) {
      this.metrics = controllerMetrics(opts.metrics);
      for (const result of RESULTS) this.metrics.total.inc({ controller: this.name, result }, 0);
      this.metrics.errors.inc({ controller: this.name }, 0);
    }
  }

  /** Reconciles the keys `map` returns for each event of `informer` (default: the object's own key). */
  watches(informer: Informer, map: MapFunc = ownKey): this {
    this.watched.push({ informer, map });
    return this;
  }

  /** The informers this controller watches (the manager starts them). */
  informers(): Informer[] {
    return [...new Set(this.watched.map((w) => w.informer))];
  }

  /** True from start() until stop() has finished. */
  isRunning(): boolean {
    return this.running;
  }

  /** Starts the workers and subscribes to the informers, which replay their objects as ADDED. */
  start(): void {
    if (this.queue) return;
    if (this.running) throw new Error(`controller ${this.name} is still stopping`);
    const queue = new WorkQueue((key) => this.reconcile(key), {
      workers: this.opts.workers ?? 1,
      baseDelayMs: this.opts.baseDelayMs ?? 5,
      maxDelayMs: this.opts.maxDelayMs ?? 1_000_000,
      slowRetry: isForbidden,
      onError: (key, err, retryInMs) => this.log.error({ ...parseKey(key), err: (err as Error)?.message ?? String(err), retryInMs }, 'Reconciler error'),
      metrics: this.opts.metrics && { register: this.opts.metrics, name: this.name },
    });
    this.queue = queue;
    this.running = true;
    for (const { informer, map } of this.watched)
      this.removers.push(
        informer.addHandler((type, obj, old) => {
          for (const k of map(type, obj, old)) queue.add(keyString(k));
        }),
      );
  }

  /** Unsubscribes, drops queued keys and resolves once the running reconciles have finished. */
  async stop(): Promise<void> {
    const queue = this.queue;
    if (!queue) return;
    for (const remove of this.removers.splice(0)) remove();
    this.queue = undefined;
    await queue.stop();
    this.running = false;
  }

  /** Queues a key by hand (no-op while stopped). */
  enqueue(key: ObjectKey): void {
    this.queue?.add(keyString(key));
  }

  private async reconcile(key: string): Promise<Result | void> {
    let res: Result | void;
    const k = parseKey(key);
    this.log.debug({ namespace: k.namespace, name: k.name }, 'reconcile');
    try {
      res = await this.opts.reconciler.reconcile(k);
    } catch (err) {
      this.metrics?.errors.inc({ controller: this.name });
      this.metrics?.total.inc({ controller: this.name, result: 'error' });
      throw err;
    }
    this.metrics?.total.inc({ controller: this.name, result: res?.requeueAfter && res.requeueAfter > 0 ? 'requeue_after' : 'success' });
    return res;
  }
}

const keyString = (k: ObjectKey) => `${k.namespace}/${k.name}`;

function parseKey(key: string): ObjectKey {
  const i = key.indexOf('/');
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** controller-runtime's reconcile metrics of one registry, shared by every controller registered on it. */
function controllerMetrics(register: client.Registry): ControllerMetrics {
  const get = <M>(name: string, make: () => M) => sharedMetric(register, name, make);
  return {
    total: get(
      'controller_runtime_reconcile_total',
      () => new client.Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'], registers: [register] }),
    ),
    errors: get(
      'controller_runtime_reconcile_errors_total',
      () => new client.Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'], registers: [register] }),
    ),
  };
}
