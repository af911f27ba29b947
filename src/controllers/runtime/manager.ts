// The controller manager (controller-runtime's Manager): it starts the informers, waits until all
// have synced, and runs the controllers while this replica leads. Leader election is a hook: a
// LeaderElector (a Lease, when several replicas run) calls back when leadership starts and stops;
// standalone, alwaysLeader leads at once. Informers run whether leading or not, so a new leader
// starts from a warm cache.
import type { Logger } from 'pino';
import type { Controller } from './controller.ts';
import { Informer, type InformerSource } from './informer.ts';

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export interface LeaderElector {
  /** Campaigns for leadership and calls back each time it is gained or lost. */
  run(callbacks: LeaderCallbacks): void;
  /** Gives leadership up (releasing the Lease) and stops campaigning. */
  stop(): Promise<void>;
}

/** A single replica: leads from the start. */
export const alwaysLeader: LeaderElector = {
  run: (callbacks) => callbacks.onStartedLeading(),
  stop: async () => {},
};

export interface ManagerOptions {
  logger: Logger;
  /** default: alwaysLeader */
  leaderElector?: LeaderElector;
}

export class Manager {
  private readonly controllers: Controller[] = [];
  private readonly shared = new Map<InformerSource, Informer>();
  private readonly elector: LeaderElector;
  private readonly log: Logger;
  private started = false;
  private stopping = false;
  private leading = false;
  /** leadership changes, applied one after another */
  private transitions: Promise<void> = Promise.resolve();
  private informersStarted: Informer[] = [];

  constructor(opts: ManagerOptions) {
    this.elector = opts.leaderElector ?? alwaysLeader;
    this.log = opts.logger.child({ controller: 'manager' });
  }

  /** The shared informer of a resource's storage (one per storage; started by start()). */
  informer(source: InformerSource): Informer {
    let i = this.shared.get(source);
    if (!i) this.shared.set(source, (i = new Informer(source, { logger: this.log })));
    return i;
  }

  add(controller: Controller): void {
    if (this.started) throw new Error(`controller ${controller.name} added after the manager started`);
    this.controllers.push(controller);
  }

  /** True while this replica leads and its controllers run. */
  isLeading(): boolean {
    return this.leading;
  }

  /**
   * Starts every informer (the shared ones and those the controllers watch), waits until all have
   * synced, then campaigns for leadership; the controllers start when it is gained. The API
   * server's watch caches must be loaded first.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('the manager has already started');
    this.started = true;
    this.informersStarted = [...new Set([...this.shared.values(), ...this.controllers.flatMap((c) => c.informers())])];
    for (const i of this.informersStarted) i.start();
    await Promise.all(this.informersStarted.map((i) => i.waitForSync()));
    if (this.stopping) return;
    this.elector.run({
      onStartedLeading: () => void this.lead(true),
      onStoppedLeading: () => void this.lead(false),
    });
  }

  /** Stops the controllers (waiting for running reconciles), then leader election and the informers. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.lead(false);
    await this.elector.stop();
    await this.transitions; // a callback the elector made while stopping
    for (const i of this.informersStarted) i.stop();
  }

  private lead(leading: boolean): Promise<void> {
    this.transitions = this.transitions.then(async () => {
      if (leading && this.stopping) return;
      if (leading === this.leading) return;
      this.leading = leading;
      if (leading) {
        this.log.info('started leading: starting the controllers');
        for (const c of this.controllers) c.start();
      } else {
        this.log.info('stopped leading: stopping the controllers');
        await Promise.all(this.controllers.map((c) => c.stop()));
      }
    }).catch((err) => this.log.error({ err: (err as Error).message }, 'leadership change failed'));
    return this.transitions;
  }
}
