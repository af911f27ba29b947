// The core v1 resources the standalone server serves itself (SPEC 7): Events, so that `kubectl
// describe` and `kubectl events` show what happened, and Namespaces, which kubectl looks up after
// a 404. A namespaced create in a namespace that does not exist creates it; a namespace that still
// holds objects cannot be deleted. Events expire after a TTL (kube-apiserver's --event-ttl),
// removed by a periodic sweep through the registry. In a cluster none of this is served:
// kube-apiserver has them, and Events go there (clusterEventRecorder).
import os from 'node:os';
import type { Logger } from 'pino';
import type { CoreEvent } from './api/core.ts';
import type { KObject } from './api/meta.ts';
import { StatusError } from './apiserver/errors.ts';
import { eventResource, lastObserved } from './apiserver/registry/events.ts';
import type { Registry } from './apiserver/registry/generic.ts';
import { DEFAULT_NAMESPACE, namespaceResource } from './apiserver/registry/namespaces.ts';
import type { RequestContext, UserInfo } from './apiserver/registry/types.ts';
import type { APIServer } from './apiserver/server.ts';
import { storeEventRecorder, type EventRecorder } from './events/recorder.ts';

export interface CoreOptions {
  /** the identity of the server's own writes: implicit namespaces, Events, the TTL sweep */
  user: UserInfo;
  log: Logger;
  /** Events not written for this long are deleted (kube-apiserver's --event-ttl; default 1 h) */
  eventTTLMs?: number;
  /** source.component of the Events the recorder writes (default "pkgserver") */
  component?: string;
  /** source.host of those Events (default the host name) */
  host?: string;
}

export interface CoreResources {
  events: Registry;
  namespaces: Registry;
  /** records Events through the Event registry */
  recorder: EventRecorder;
  /** after the server started: makes sure `default` exists and starts the TTL sweep */
  start(): Promise<void>;
  stop(): void;
}

export const DEFAULT_EVENT_TTL_MS = 60 * 60_000;

const statusCode = (e: unknown) => (e instanceof StatusError ? e.code : undefined);

/** Registers Events and Namespaces on the server and the implicit creation of namespaces. */
export function coreResources(server: APIServer, opts: CoreOptions): CoreResources {
  const log = opts.log;
  const ttl = opts.eventTTLMs ?? DEFAULT_EVENT_TTL_MS;
  const system: RequestContext = { user: opts.user, dryRun: false, fieldManager: 'pkgserver' };
  const events = server.addResource(eventResource());

  const removeQuietly = async (reg: Registry, o: KObject) => {
    try {
      await reg.delete(o.metadata.namespace, o.metadata.name!, { dryRun: false, preconditions: { resourceVersion: o.metadata.resourceVersion } }, system);
    } catch (e) {
      // gone already, or written again since it was read (then it is no longer expired)
      if (statusCode(e) !== 404 && statusCode(e) !== 409) log.warn({ err: (e as Error).message, event: `${o.metadata.namespace}/${o.metadata.name}` }, 'event not deleted');
    }
  };

  const namespaces = server.addResource(
    namespaceResource({
      contents: (ns) =>
        server
          .registries()
          .filter((r) => r.def.namespaced && r !== events)
          .map((r) => ({ kind: r.def.kind, count: r.list(ns, {}).items.length }))
          .filter((c) => c.count > 0),
      deleted: async (ns) => {
        for (const e of events.list(ns, {}).items) await removeQuietly(events, e);
      },
    }),
  );

  const exists = (name: string) => {
    try {
      namespaces.get(undefined, name);
      return true;
    } catch {
      return false;
    }
  };
  const ensureNamespace = async (name: string) => {
    if (exists(name)) return;
    try {
      await namespaces.create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } }, system);
      log.info({ namespace: name }, 'namespace created');
    } catch (e) {
      if (statusCode(e) !== 409) throw e; // created meanwhile by another write
    }
  };
  server.setNamespaceHook((ns) => ensureNamespace(ns));

  let timer: NodeJS.Timeout | undefined;
  let sweeping = false;
  const sweep = async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      const cutoff = Date.now() - ttl;
      for (const e of events.list(undefined, {}).items) if (lastObserved(e as CoreEvent) < cutoff) await removeQuietly(events, e);
    } finally {
      sweeping = false;
    }
  };

  return {
    events,
    namespaces,
    recorder: storeEventRecorder(events, { component: opts.component ?? 'pkgserver', host: opts.host ?? os.hostname(), log, user: opts.user }),
    async start() {
      await ensureNamespace(DEFAULT_NAMESPACE);
      timer = setInterval(() => void sweep().catch((err) => log.error({ err }, 'event TTL sweep failed')), Math.min(60_000, Math.max(1000, ttl / 2)));
      timer.unref();
    },
    stop() {
      clearInterval(timer);
    },
  };
}
