// A rate-limited work queue (client-go's workqueue, reduced): a key is queued at most once,
// never processed by two workers at once (added while running: it runs once more afterwards),
// re-queued with exponential backoff on failure, and can be scheduled for later (the handler's
// {requeueAfter}, or addAfter). An add() runs the key soon and cancels its scheduled run; of two
// scheduled runs the earlier one is kept. Workers take keys on a later tick, never inside add().
// Counts its work in client-go's workqueue_* metrics when given a prom-client registry.
import client from 'prom-client';

/** The longest delay setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface QueueResult {
  /** run the key again after this many milliseconds (ignored when <= 0) */
  requeueAfter?: number;
}

export interface WorkQueueOptions {
  workers: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** told about each failure, with the delay before the key runs again */
  onError?: (key: string, err: unknown, retryInMs: number) => void;
  /** failures that need someone to act (a 403: a policy to change) wait maxDelayMs, not the backoff */
  slowRetry?: (err: unknown) => boolean;
  /** registers workqueue_depth, workqueue_adds_total and workqueue_retries_total{name} */
  metrics?: { register: client.Registry; name: string };
}

interface QueueMetrics {
  depth: client.Gauge<'name'>;
  adds: client.Counter<'name'>;
  retries: client.Counter<'name'>;
}

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly order: string[] = [];
  private readonly active = new Set<string>();
  /** keys added while being processed: they run again afterwards */
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private readonly failures = new Map<string, number>();
  private readonly metrics?: QueueMetrics;
  private readonly labels: { name: string };
  private running = 0;
  private pumpScheduled = false;
  private stopped = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly handler: (key: string) => Promise<QueueResult | void>,
    private readonly opts: WorkQueueOptions,
  ) {
    this.labels = { name: opts.metrics?.name ?? '' };
    if (opts.metrics) {
      this.metrics = queueMetrics(opts.metrics.register);
      this.metrics.adds.inc(this.labels, 0);
      this.metrics.retries.inc(this.labels, 0);
      this.metrics.depth.set(this.labels, 0);
    }
  }

  add(key: string): void {
    if (this.stopped) return;
    this.clearTimer(key);
    if (this.active.has(key)) {
      if (!this.dirty.has(key)) this.metrics?.adds.inc(this.labels);
      this.dirty.add(key);
      return;
    }
    if (this.pending.has(key)) return;
    this.metrics?.adds.inc(this.labels);
    this.push(key);
  }

  private push(key: string): void {
    this.pending.add(key);
    this.order.push(key);
    this.metrics?.depth.set(this.labels, this.order.length);
    // the adds of one burst (a watch event's handlers, an informer's replay) are all
    // de-duplicated before a worker takes the first key
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Adds `key` after `ms`, unless it is already scheduled sooner. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const due = Date.now() + ms;
    const scheduled = this.timers.get(key);
    if (scheduled && scheduled.due <= due) return;
    this.clearTimer(key);
    this.metrics?.retries.inc(this.labels);
    this.schedule(key, due, ms);
  }

  /** The timer of a delayed add (counted once by addAfter, however many steps it takes). */
  private schedule(key: string, due: number, ms: number): void {
    // Node fires a timer of more than 2^31-1 ms at once: a longer wait is taken in steps (a
    // timer may also fire a millisecond early: only a clamped step is followed by another)
    const t = setTimeout(() => {
      this.timers.delete(key);
      if (ms > MAX_TIMER_MS && !this.stopped) this.schedule(key, due, Math.max(1, due - Date.now()));
      else this.add(key);
    }, Math.min(ms, MAX_TIMER_MS));
    t.unref();
    this.timers.set(key, { timer: t, due });
  }

  /** Forgets the key's failures (its next failure starts the backoff again) and its scheduled run. */
  forget(key: string): void {
    this.failures.delete(key);
    this.clearTimer(key);
  }

  private clearTimer(key: string): void {
    const t = this.timers.get(key);
    if (t) clearTimeout(t.timer);
    this.timers.delete(key);
  }

  private pump(): void {
    while (!this.stopped && this.running < this.opts.workers && this.order.length > 0) {
      const key = this.order.shift()!;
      this.pending.delete(key);
      this.active.add(key);
      this.running++;
      void Promise.resolve()
        .then(() => this.handler(key))
        .then(
          (res) => {
            this.failures.delete(key);
            if (res?.requeueAfter && res.requeueAfter > 0) this.addAfter(key, res.requeueAfter);
          },
          (err) => {
            const n = (this.failures.get(key) ?? 0) + 1;
            this.failures.set(key, n);
            const delay = this.opts.slowRetry?.(err) ? this.opts.maxDelayMs : Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** (n - 1));
            this.opts.onError?.(key, err, delay);
            this.addAfter(key, delay);
          },
        )
        .finally(() => {
          this.active.delete(key);
          this.running--;
          if (this.dirty.delete(key) && !this.stopped) this.push(key); // counted when it was added
          this.pump();
          if (this.running === 0 && this.order.length === 0) for (const f of this.idle.splice(0)) f();
        });
    }
    this.metrics?.depth.set(this.labels, this.order.length);
  }

  /** Drops queued and scheduled keys and resolves once the running handlers have finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.order.length = 0;
    this.pending.clear();
    this.dirty.clear();
    this.metrics?.depth.set(this.labels, 0);
    if (this.running > 0) await new Promise<void>((r) => this.idle.push(r));
  }
}

/** The workqueue metrics of one registry, shared by every queue registered on it. */
function queueMetrics(register: client.Registry): QueueMetrics {
  const get = <M>(name: string, make: () => M) => sharedMetric(register, name, make);
  return {
    depth: get('workqueue_depth', () => new client.Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'], registers: [register] })),
    adds: get('workqueue_adds_total', () => new client.Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name'], registers: [register] })),
    retries: get(
      'workqueue_retries_total',
      () => new client.Counter({ name: 'workqueue_retries_total', help: 'Total number of items added to the workqueue with a non-zero delay (backoff after a failure, requeueAfter or addAfter)', labelNames: ['name'], registers: [register] }),
    ),
  };
}

/** The metric `name` of a registry, made by `make` (registering it) the first time. */
export const sharedMetric = <M>(register: client.Registry, name: string, make: () => M): M => (register.getSingleMetric(name) as M | undefined) ?? make();
