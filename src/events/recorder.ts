// Records Kubernetes Events (core v1) about objects, as client-go's tools/record EventRecorder
// does: the event is built at once (involvedObject from the object, source and reporting
// component, first/last timestamps, count 1, name "<object name>.<unix nanoseconds in hex>"), a
// per-object token bucket drops floods (a burst of 25, then one every 5 minutes), and a bounded
// queue hands it to one writer, so the caller never waits and never fails. The writer
// correlates: the same object, type, reason, message and source again within 10 minutes patches
// the existing Event (count+1, lastTimestamp, message) instead of creating another; a patch of an
// Event that is gone creates it again. Refused writes are logged, failed ones retried a few times.
//
// Where Events go is a sink: the server's own Event registry (storeEventRecorder, standalone) or
// kube-apiserver (clusterEventRecorder in ./cluster.ts). This module knows nothing of HTTP.
import type { Logger } from 'pino';
import type { CoreEvent, EventType, ObjectReference } from '../api/core.ts';
import { timestamp, type KObject } from '../api/meta.ts';
import type { RequestContext, UserInfo } from '../apiserver/registry/types.ts';

export interface EventRecorder {
  /**
   * Records an Event about `obj` (involvedObject from its apiVersion, kind, namespace, name, uid,
   * resourceVersion); never throws (failures are logged); a repeat within 10 minutes is counted on
   * the existing Event.
   */
  event(obj: KObject, type: EventType, reason: string, message: string): void;
}

/** Records nothing (controllers in tests, or when Events are off). */
export const nullEventRecorder: EventRecorder = { event() {} };

/** The fields a repeated event changes on the Event already written. */
export type EventRepeat = Required<Pick<CoreEvent, 'count' | 'lastTimestamp' | 'message'>>;

/** Where Events are written. Errors with a numeric `code` (an API Status) are not retried; a 404 of `patch` means the Event is gone. */
export interface EventSink {
  create(ev: CoreEvent): Promise<CoreEvent>;
  patch(namespace: string, name: string, repeat: EventRepeat): Promise<CoreEvent>;
}

export interface RecorderOptions {
  /** source.component and reportingComponent, e.g. "pkgserver" */
  component: string;
  /** source.host and reportingInstance: the replica (host name) */
  host: string;
  log: Logger;
  /** events waiting to be written; more are dropped (kube: 1000) */
  queueSize?: number;
  /** per object: this many events at once (kube: 25) ... */
  burst?: number;
  /** ... then one more per this many ms (kube: 5 min) */
  refillMs?: number;
  /** delay before the first retry of a failed write (doubled each time; 3 retries) */
  retryDelayMs?: number;
}

/** kube's correlator: a repeat within this window is counted on the existing Event */
export const AGGREGATE_WINDOW_MS = 10 * 60_000;
const CACHE_ENTRIES = 4096;
const RETRIES = 3;

/** A Map used as a least-recently-used cache of bounded size. */
class LRU<V> {
  private readonly m = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) {
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value!);
  }
}

let lastNanos = 0n;
/** Unix time in nanoseconds, strictly increasing within the process (the Event name suffix). */
function uniqueNanos(): bigint {
  const now = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
  lastNanos = now > lastNanos ? now : lastNanos + 1n;
  return lastNanos;
}

/** reference.GetReference: the object's identity, without empty fields. */
function reference(obj: KObject): ObjectReference {
  const ref: ObjectReference = {};
  const m = obj.metadata ?? {};
  for (const [k, v] of [['kind', obj.kind], ['namespace', m.namespace], ['name', m.name], ['uid', m.uid], ['apiVersion', obj.apiVersion], ['resourceVersion', m.resourceVersion]] as const) if (v) ref[k] = v;
  return ref;
}

/**
 * The object's name as the start of an Event's name (a DNS subdomain): kube's recorder uses the
 * name as it is; ours may hold ':' and '..' (a PackageRevision with a realm, or none), so every run
 * of other characters becomes '-' and empty labels go.
 */
export function eventNamePrefix(name: string): string {
  return (
    name
      .toLowerCase()
      .split('.')
      .map((label) => label.replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, ''))
      .filter(Boolean)
      .join('.')
      .slice(0, 200) || 'object'
  );
}

/** client-go's makeEvent. */
export function makeEvent(obj: KObject, type: EventType, reason: string, message: string, source: { component: string; host: string }, now = new Date()): CoreEvent {
  const ref = reference(obj);
  const t = timestamp(now);
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${eventNamePrefix(ref.name ?? '')}.${uniqueNanos().toString(16)}`, namespace: ref.namespace || 'default' },
    involvedObject: ref,
    reason,
    message,
    source: { component: source.component, ...(source.host ? { host: source.host } : {}) },
    firstTimestamp: t,
    lastTimestamp: t,
    count: 1,
    type,
    reportingComponent: source.component,
    reportingInstance: source.host,
  };
}

const refKey = (e: CoreEvent) => {
  const r = e.involvedObject;
  return [e.source?.component, e.source?.host, r.kind, r.namespace, r.name, r.uid, r.apiVersion].join('\u0000');
};
/** getEventKey: what makes two events the same one */
const eventKey = (e: CoreEvent) => [refKey(e), e.involvedObject.fieldPath, e.type, e.reason, e.message].join('\u0000');

interface Observation {
  namespace: string;
  name: string;
  firstTimestamp: string;
  count: number;
  at: number;
}

/** The recorder over a sink: rate limit, bounded queue, one writer that correlates. */
export class SinkRecorder implements EventRecorder {
  private readonly queue: CoreEvent[] = [];
  private writing = false;
  private readonly buckets = new LRU<{ tokens: number; at: number }>(CACHE_ENTRIES);
  private readonly seen = new LRU<Observation>(CACHE_ENTRIES);
  private readonly queueSize: number;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly retryDelayMs: number;

  constructor(
    private readonly sink: EventSink,
    private readonly opts: RecorderOptions,
  ) {
    this.queueSize = opts.queueSize ?? 1000;
    this.burst = opts.burst ?? 25;
    this.refillMs = opts.refillMs ?? 300_000;
    this.retryDelayMs = opts.retryDelayMs ?? 1000;
  }

  event(obj: KObject, type: EventType, reason: string, message: string): void {
    try {
      const ev = makeEvent(obj, type, reason, message, this.opts);
      if (!this.allow(refKey(ev))) {
        this.opts.log.debug({ object: ev.involvedObject, reason }, 'event dropped: too many events about this object');
        return;
      }
      if (this.queue.length >= this.queueSize) {
        this.opts.log.warn({ object: ev.involvedObject, reason }, 'event dropped: the event queue is full');
        return;
      }
      this.queue.push(ev);
      if (!this.writing) void this.drain();
    } catch (err) {
      this.opts.log.error({ err, reason }, 'event not recorded');
    }
  }

  /** EventSourceObjectSpamFilter: a token bucket per object and source. */
  private allow(key: string): boolean {
    const now = Date.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + (now - b.at) / this.refillMs);
    b.at = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(key, b);
    return ok;
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      for (let ev = this.queue.shift(); ev; ev = this.queue.shift()) await this.write(ev);
    } finally {
      this.writing = false;
    }
  }

  private async write(ev: CoreEvent): Promise<void> {
    const key = eventKey(ev);
    const now = Date.now();
    const prev = this.seen.get(key);
    const repeat = prev && now - prev.at < AGGREGATE_WINDOW_MS ? prev : undefined;
    if (repeat) {
      ev.metadata.name = repeat.name;
      ev.firstTimestamp = repeat.firstTimestamp;
      ev.count = repeat.count + 1;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        let written: CoreEvent | undefined;
        if (repeat) {
          try {
            written = await this.sink.patch(repeat.namespace, repeat.name, { count: ev.count!, lastTimestamp: ev.lastTimestamp!, message: ev.message! });
          } catch (err) {
            if (codeOf(err) !== 404) throw err; // gone (expired): written again below
          }
        }
        written ??= await this.sink.create(ev);
        this.seen.set(key, { namespace: ev.metadata.namespace!, name: written.metadata?.name ?? ev.metadata.name!, firstTimestamp: ev.firstTimestamp!, count: ev.count!, at: now });
        return;
      } catch (err) {
        const code = codeOf(err);
        const context = { object: ev.involvedObject, reason: ev.reason, err: (err as Error).message };
        if (code !== undefined) {
          this.opts.log.warn({ ...context, code }, 'event refused by the API server (not retried)');
          return;
        }
        if (attempt >= RETRIES) {
          this.opts.log.error(context, 'event not written; giving up');
          return;
        }
        this.opts.log.warn(context, 'event not written; retrying');
        await new Promise((r) => setTimeout(r, this.retryDelayMs * 2 ** attempt));
      }
    }
  }
}

/** The HTTP status of an API error (a metav1.Status), undefined for other failures. */
function codeOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** What storeEventRecorder writes through: the Event registry. */
export interface EventStore {
  create(namespace: string | undefined, obj: KObject, ctx: RequestContext): Promise<KObject>;
  update(namespace: string | undefined, name: string, mutate: (current: KObject) => { obj: KObject }, ctx: RequestContext): Promise<KObject>;
}

/** Standalone: Events written through the server's Event registry, as `user` (a system identity). */
export function storeEventRecorder(events: EventStore, opts: RecorderOptions & { user: UserInfo }): EventRecorder {
  const ctx: RequestContext = { user: opts.user, dryRun: false, fieldManager: 'pkgserver-event-recorder' };
  return new SinkRecorder(
    {
      create: async (ev) => (await events.create(ev.metadata.namespace, ev, ctx)) as CoreEvent,
      patch: async (namespace, name, repeat) => (await events.update(namespace, name, (cur) => ({ obj: { ...cur, ...repeat } }), ctx)) as CoreEvent,
    },
    opts,
  );
}
