// Leader election over a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does
// it (kube-controller-manager's --leader-elect): so that, with several replicas, one runs the
// controllers and the others keep warm informers.
//
// - A candidate reads the Lease. It may take it when nobody holds it, or when the record has not
//   changed for the record's leaseDurationSeconds *as measured on the candidate's own clock* since
//   it last saw the record change (clocks of replicas are never compared).
// - The leader renews (renewTime) every retry period. When it has not managed to renew for the
//   renew deadline (shorter than the lease duration), it stops leading, stopping its controllers,
//   before any other replica may take the Lease over: the others wait the whole lease duration.
// - Every write is a compare-and-swap on the Lease's resourceVersion; two candidates never both
//   succeed.
// - Stopping releases the Lease (no holder, a one-second duration), so another replica takes over
//   at once instead of after the lease duration.
//
// The Lease is reached through a LeaseLock: the server's own Lease resource through the API
// (apiLeaseLock: standalone, or on a store several replicas share), or kube-apiserver's.
import type { Logger } from 'pino';
import client from 'prom-client';
import type { Lease } from '../../api/coordination.ts';
import type { KObject } from '../../api/meta.ts';
import type { Mutation } from '../../apiserver/registry/generic.ts';
import type { LeaderCallbacks, LeaderElector } from './manager.ts';

/** The fields of a Lease's spec that leader election uses (client-go's LeaderElectionRecord). */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions: number;
}

/** Where the Lease is kept. Writes are compare-and-swap on `version` (a resourceVersion). */
export interface LeaseLock {
  /** namespace/name, for logs and metrics */
  readonly description: string;
  /** The record and its version; null when there is no Lease. */
  get(): Promise<{ record: LeaseRecord; version: string } | null>;
  /** Creates the Lease; rejects when it exists. */
  create(record: LeaseRecord): Promise<void>;
  /** Replaces the record if the Lease is still at `version`; rejects otherwise. */
  update(record: LeaseRecord, version: string): Promise<void>;
}

export interface LeaseElectorOptions {
  /** this replica's identity (kube: hostname_uuid) */
  identity: string;
  /** how long others wait after the record stopped changing before taking over (kube default 15 s) */
  leaseDurationMs: number;
  /** how long the leader keeps trying to renew before it stops leading (kube default 10 s) */
  renewDeadlineMs: number;
  /** interval of attempts to acquire or renew (kube default 2 s) */
  retryPeriodMs: number;
  logger: Logger;
  /** metrics registry for leader_election_master_status (kube's name) */
  metrics?: client.Registry;
  /** the clock (tests) */
  now?: () => number;
}

/** kube's defaults (component-base LeaderElectionConfiguration). */
export const LEASE_DEFAULTS = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** client-go's JitterFactor for the acquire loop. */
const JITTER = 1.2;

const statusGauges = new WeakMap<client.Registry, client.Gauge>();
function statusGauge(registry: client.Registry): client.Gauge {
  let g = statusGauges.get(registry);
  if (!g) {
    g = new client.Gauge({ name: 'leader_election_master_status', help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. \'name\' is the string used to identify the lease.', labelNames: ['name'], registers: [registry] });
    statusGauges.set(registry, g);
  }
  return g;
}

export class LeaseLeaderElector implements LeaderElector {
  private readonly now: () => number;
  private readonly log: Logger;
  private stopped = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  /** the record as last seen (or written), its raw form and when it was seen (our clock) */
  private observed?: LeaseRecord;
  private observedRaw = '';
  private observedAt = 0;
  private readonly gauge?: client.Gauge;
  /** when this replica last renewed, while it leads (healthz) */
  private renewedAt?: number;

  constructor(
    private readonly lock: LeaseLock,
    private readonly o: LeaseElectorOptions,
  ) {
    if (!(o.leaseDurationMs > o.renewDeadlineMs)) throw new RangeError('the lease duration must be greater than the renew deadline');
    if (!(o.renewDeadlineMs > JITTER * o.retryPeriodMs)) throw new RangeError(`the renew deadline must be greater than ${JITTER} × the retry period`);
    if (!(o.retryPeriodMs > 0)) throw new RangeError('the retry period must be greater than zero');
    if (!o.identity) throw new RangeError('a leader election identity is required');
    this.now = o.now ?? Date.now;
    this.log = o.logger.child({ component: 'leaderelection', lease: lock.description, identity: o.identity });
    this.gauge = o.metrics && statusGauge(o.metrics);
    this.gauge?.set({ name: lock.description }, 0);
  }

  /** True while the last record seen names this replica. */
  isLeader(): boolean {
    return this.observed?.holderIdentity === this.o.identity;
  }

  /** The holder the last record seen names ('' when none). */
  holder(): string {
    return this.observed?.holderIdentity ?? '';
  }

  /**
   * A leader that has not renewed for longer than the lease duration plus `toleranceMs` is
   * unhealthy (client-go's HealthzAdaptor): its controllers may be running beside another leader's.
   */
  check(toleranceMs = 20_000): void {
    if (this.renewedAt !== undefined && this.now() - this.renewedAt > this.o.leaseDurationMs + toleranceMs)
      throw new Error(`failed to renew the lease ${this.lock.description} for ${Math.round((this.now() - this.renewedAt) / 1000)} s`);
  }

  run(callbacks: LeaderCallbacks): void {
    if (this.loop) throw new Error('the leader elector is already running');
    this.loop = this.campaign(callbacks).catch((err) => this.log.error({ err: (err as Error).message }, 'leader election stopped'));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.release();
  }

  private async campaign(callbacks: LeaderCallbacks): Promise<void> {
    while (!this.stopped) {
      this.log.info('attempting to acquire the leader lease');
      while (!this.stopped && !(await this.attempt())) await this.sleep(this.o.retryPeriodMs * (1 + Math.random() * JITTER));
      if (this.stopped) return;
      this.log.info('acquired the leader lease');
      this.renewedAt = this.now();
      this.gauge?.set({ name: this.lock.description }, 1);
      callbacks.onStartedLeading();
      while (!this.stopped) {
        await this.sleep(this.o.retryPeriodMs);
        if (this.stopped) break;
        if (await this.attempt()) {
          this.renewedAt = this.now();
          continue;
        }
        if (!this.isLeader() || this.now() - this.renewedAt >= this.o.renewDeadlineMs) {
          this.log.warn({ sinceRenewMs: this.now() - this.renewedAt }, this.isLeader() ? 'failed to renew the leader lease within the renew deadline' : `the leader lease is held by ${this.holder()}`);
          break;
        }
      }
      this.renewedAt = undefined;
      this.gauge?.set({ name: this.lock.description }, 0);
      callbacks.onStoppedLeading();
    }
  }

  /** One tryAcquireOrRenew, bounded by the renew deadline; false on any failure. */
  private async attempt(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.o.renewDeadlineMs);
    });
    try {
      return await Promise.race([this.tryAcquireOrRenew(), timeout]);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'leader lease not acquired or renewed');
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.now();
    const stamp = new Date(now).toISOString();
    const mine: LeaseRecord = { holderIdentity: this.o.identity, leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000), acquireTime: stamp, renewTime: stamp, leaseTransitions: 0 };
    const current = await this.lock.get();
    if (!current) {
      await this.lock.create(mine);
      this.observe(mine, '');
      return true;
    }
    const raw = `${current.version}|${JSON.stringify(current.record)}`;
    if (raw !== this.observedRaw) {
      this.observed = current.record;
      this.observedRaw = raw;
      this.observedAt = now;
    }
    const held = current.record.holderIdentity !== '';
    const valid = this.observedAt + current.record.leaseDurationSeconds * 1000 > now;
    if (held && valid && !this.isLeader()) return false;
    if (this.isLeader()) {
      mine.acquireTime = current.record.acquireTime;
      mine.leaseTransitions = current.record.leaseTransitions;
    } else {
      mine.leaseTransitions = current.record.leaseTransitions + 1;
    }
    await this.lock.update(mine, current.version);
    this.observe(mine, '');
    return true;
  }

  private observe(record: LeaseRecord, raw: string): void {
    this.observed = record;
    this.observedRaw = raw; // our own write: the next read (a new version) counts as a change
    this.observedAt = this.now();
  }

  /** Gives the Lease up when this replica holds it: no holder, a one-second duration. */
  private async release(): Promise<void> {
    if (!this.isLeader()) return;
    try {
      const current = await this.lock.get();
      if (!current || current.record.holderIdentity !== this.o.identity) return;
      const stamp = new Date(this.now()).toISOString();
      await this.lock.update({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: stamp, renewTime: stamp, leaseTransitions: current.record.leaseTransitions }, current.version);
      this.observed = undefined;
      this.log.info('released the leader lease');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'the leader lease was not released; another replica takes it over when it expires');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** What apiLeaseLock needs of the controllers' client (src/controllers/runtime/client.ts). */
export interface LeaseClient {
  get(plural: string, namespace: string | undefined, name: string): Promise<KObject>;
  create(plural: string, namespace: string | undefined, obj: KObject): Promise<KObject>;
  update(plural: string, namespace: string | undefined, name: string, mutate: (current: KObject) => Mutation): Promise<KObject>;
}

const statusCode = (e: unknown) => (e as { code?: number } | undefined)?.code;

function toRecord(l: Lease): LeaseRecord {
  const s = l.spec ?? {};
  return {
    holderIdentity: s.holderIdentity ?? '',
    leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
    ...(s.acquireTime ? { acquireTime: s.acquireTime } : {}),
    ...(s.renewTime ? { renewTime: s.renewTime } : {}),
    leaseTransitions: s.leaseTransitions ?? 0,
  };
}

/** The Lease `namespace/name` through this server's own API (the Lease resource), as `client`'s user. */
export function apiLeaseLock(client: LeaseClient, namespace: string, name: string): LeaseLock {
  return {
    description: `${namespace}/${name}`,
    async get() {
      try {
        const l = (await client.get('leases', namespace, name)) as Lease;
        return { record: toRecord(l), version: l.metadata.resourceVersion! };
      } catch (e) {
        if (statusCode(e) === 404) return null;
        throw e;
      }
    },
    async create(record) {
      await client.create('leases', namespace, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: record } as Lease);
    },
    async update(record, version) {
      await client.update('leases', namespace, name, (current) => ({ obj: { ...current, spec: record } as Lease, precondition: version }));
    },
  };
}
