// The garbage collector (kube's, reduced to what the server's own objects need), over every
// resource the server stores:
// - an object deleted with propagationPolicy=Orphan (finalizer `orphan`): its dependents lose
//   their ownerReference to it, then the finalizer goes;
// - propagationPolicy=Foreground (finalizer `foregroundDeletion`): once its other finalizers are
//   gone (a controller's own cleanup, e.g. a PackageVariant's deletionPolicy), its dependents are
//   deleted; one that cannot be (a published PackageRevision) loses the ownerReference instead;
//   then the finalizer goes;
// - Background (the default): a dependent whose owners are all gone is deleted.
// Writes go through the API as the collector's own user. No kind names: owners and dependents
// are found by uid.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { KObject } from '../api/meta.ts';
import { GC_FINALIZERS } from '../apiserver/registry/generic.ts';
import { Controller, type ObjectKey, type Result } from './runtime/controller.ts';
import type { Client } from './runtime/client.ts';
import type { Informer } from './runtime/informer.ts';

const OWNER_INDEX = 'owner-uid';
const UID_INDEX = 'uid';
const GC_SET: ReadonlySet<string> = new Set(Object.values(GC_FINALIZERS));

export interface GarbageCollectorOptions {
  client: Client;
  /** an informer per resource, by plural */
  informers: Map<string, Informer>;
  logger: Logger;
  metrics?: Registry;
}

/** Keys name the resource too: namespace "<plural>|<namespace>". */
const key = (plural: string, o: KObject): ObjectKey => ({ namespace: `${plural}|${o.metadata.namespace ?? ''}`, name: o.metadata.name! });

export function garbageCollector(o: GarbageCollectorOptions): Controller {
  for (const inf of o.informers.values()) {
    inf.addIndex(OWNER_INDEX, (obj) => (obj.metadata.ownerReferences ?? []).map((r) => r.uid));
    inf.addIndex(UID_INDEX, (obj) => (obj.metadata.uid ? [obj.metadata.uid] : []));
  }
  const gc = new GarbageCollectorReconciler(o);
  const controller = new Controller({ name: 'garbage-collector', reconciler: gc, workers: 2, baseDelayMs: 500, maxDelayMs: 60_000, logger: o.logger, metrics: o.metrics });
  for (const [plural, inf] of o.informers)
    controller.watches(inf, (type, obj, old) => {
      const keys: ObjectKey[] = [];
      // an owner being deleted with a GC finalizer, or a dependent that may have lost its owners
      if (type !== 'DELETED' && ((obj.metadata.deletionTimestamp && obj.metadata.finalizers?.some((f) => GC_SET.has(f))) || obj.metadata.ownerReferences?.length)) keys.push(key(plural, obj));
      // its owners may be waiting for it (foreground)
      for (const ref of [...(obj.metadata.ownerReferences ?? []), ...(old?.metadata.ownerReferences ?? [])]) for (const owner of gc.byUid(ref.uid)) keys.push(owner);
      // gone: its dependents may have lost their last owner
      if (type === 'DELETED' && obj.metadata.uid) keys.push(...gc.dependents(obj.metadata.uid).map((d) => key(d.plural, d.obj)));
      return keys;
    });
  return controller;
}

class GarbageCollectorReconciler {
  private readonly log: Logger;

  constructor(private readonly o: GarbageCollectorOptions) {
    this.log = o.logger.child({ controller: 'garbage-collector' });
  }

  byUid(uid: string): ObjectKey[] {
    const out: ObjectKey[] = [];
    for (const [plural, inf] of this.o.informers) for (const obj of inf.byIndex(UID_INDEX, uid)) out.push(key(plural, obj));
    return out;
  }

  dependents(uid: string): { plural: string; obj: KObject }[] {
    const out: { plural: string; obj: KObject }[] = [];
    for (const [plural, inf] of this.o.informers) for (const obj of inf.byIndex(OWNER_INDEX, uid)) out.push({ plural, obj });
    return out;
  }

  private dropOwner(plural: string, dep: KObject, uid: string): Promise<unknown> {
    return this.o.client
      .update(plural, dep.metadata.namespace, dep.metadata.name!, (cur) => {
        withoutOwner(cur, uid);
        return { obj: cur };
      })
      .catch(notFoundIsDone);
  }

  private removeFinalizer(plural: string, obj: KObject, finalizer: string): Promise<unknown> {
    return this.o.client
      .update(plural, obj.metadata.namespace, obj.metadata.name!, (cur) => {
        cur.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== finalizer);
        return { obj: cur };
      })
      .catch(notFoundIsDone);
  }

  async reconcile(k: ObjectKey): Promise<Result | void> {
    const sep = k.namespace.indexOf('|');
    const plural = k.namespace.slice(0, sep);
    const ns = k.namespace.slice(sep + 1) || undefined;
    const obj = this.o.informers.get(plural)?.get(ns, k.name);
    if (!obj) return;
    const uid = obj.metadata.uid!;
    const finalizers = obj.metadata.finalizers ?? [];
    if (obj.metadata.deletionTimestamp && finalizers.includes(GC_FINALIZERS.Orphan)) {
      for (const d of this.dependents(uid)) await this.dropOwner(d.plural, d.obj, uid);
      await this.removeFinalizer(plural, obj, GC_FINALIZERS.Orphan);
      return;
    }
    if (obj.metadata.deletionTimestamp && finalizers.includes(GC_FINALIZERS.Foreground)) {
      if (finalizers.some((f) => f !== GC_FINALIZERS.Foreground)) return; // others finish first; their removal runs this again
      const deps = this.dependents(uid);
      for (const d of deps) {
        if (d.obj.metadata.deletionTimestamp) continue;
        try {
          await this.o.client.delete(d.plural, d.obj.metadata.namespace, d.obj.metadata.name!);
        } catch (e) {
          const code = (e as { code?: number }).code;
          if (code === 404) continue;
          if (code !== 403 && code !== 409 && code !== 422) throw e;
          // it cannot be deleted (e.g. a published revision): it stays, without this owner
          this.log.info({ owner: `${plural}/${obj.metadata.name}`, dependent: `${d.plural}/${d.obj.metadata.name}`, err: (e as Error).message }, 'dependent kept: it cannot be deleted');
          await this.dropOwner(d.plural, d.obj, uid);
        }
      }
      if (this.dependents(uid).length === 0) await this.removeFinalizer(plural, obj, GC_FINALIZERS.Foreground);
      return;
    }
    // background: a dependent whose owners are all gone
    const refs = obj.metadata.ownerReferences ?? [];
    if (!refs.length || obj.metadata.deletionTimestamp) return;
    if (refs.some((r) => this.byUid(r.uid).length > 0)) return;
    try {
      await this.o.client.delete(plural, ns, k.name);
    } catch (e) {
      const code = (e as { code?: number }).code;
      if (code === 404) return;
      if (code !== 403 && code !== 409 && code !== 422) throw e;
      this.log.info({ dependent: `${plural}/${k.name}`, err: (e as Error).message }, 'orphaned dependent kept: it cannot be deleted');
      await this.o.client.update(plural, ns, k.name, (cur) => {
        delete cur.metadata.ownerReferences;
        return { obj: cur };
      });
    }
  }
}

/** Removes the ownerReference to `uid` (and the field, when it was the last one). */
export function withoutOwner(obj: KObject, uid: string): void {
  const rest = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== uid);
  if (rest.length) obj.metadata.ownerReferences = rest;
  else delete obj.metadata.ownerReferences;
}

const notFoundIsDone = (e: unknown) => {
  if ((e as { code?: number }).code !== 404) throw e;
};
