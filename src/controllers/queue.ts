// A rate-limited work queue (client-go's workqueue, reduced): a key is queued at most once,
// never processed by two workers at once, re-queued with exponential backoff on failure (unless it
// is already scheduled sooner, e.g. by its handler's own periodic re-queue), and can be scheduled
// for later.

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly order: string[] = [];
  private readonly active = new Set<string>();
  /** keys added while being processed: they run again afterwards */
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private readonly failures = new Map<string, number>();
  private running = 0;
  private stopped = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly handler: (key: string) => Promise<void>,
    private readonly opts: { workers: number; baseDelayMs: number; maxDelayMs: number; onError?: (key: string, err: unknown) => void },
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    this.clearTimer(key);
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.pending.has(key)) return;
    this.pending.add(key);
    this.order.push(key);
    this.pump();
  }

  /** Adds `key` after `ms` (an earlier add wins; a later addAfter replaces the timer). */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    this.clearTimer(key);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(key, { timer: t, due: Date.now() + ms });
  }

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
    while (!this.stopped && this.running < this.opts.workers) {
      const i = this.order.findIndex((k) => !this.active.has(k));
      if (i < 0) break;
      const [key] = this.order.splice(i, 1);
      this.pending.delete(key);
      this.active.add(key);
      this.running++;
      void this.handler(key)
        .then(
          () => this.failures.delete(key),
          (err) => {
            const n = (this.failures.get(key) ?? 0) + 1;
            this.failures.set(key, n);
            this.opts.onError?.(key, err);
            const delay = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** (n - 1));
            const scheduled = this.timers.get(key);
            if (!scheduled || scheduled.due > Date.now() + delay) this.addAfter(key, delay);
          },
        )
        .finally(() => {
          this.active.delete(key);
          this.running--;
          if (this.dirty.delete(key)) this.add(key);
          this.pump();
          if (this.running === 0 && this.order.length === 0) for (const f of this.idle.splice(0)) f();
        });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.order.length = 0;
    this.pending.clear();
    if (this.running > 0) await new Promise<void>((r) => this.idle.push(r));
  }
}
