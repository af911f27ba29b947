// The PackageVariant controller (SPEC 5.5): for each variant, a downstream draft cloned from the
// upstream catalog revision into the downstream repository with the package context, owned by the
// variant; a newer matching upstream gives one new draft with an upgrade task (a three-way merge
// that keeps local edits); a context change gives a new draft (published downstream) or updates
// the draft in place; adoption and deletion policies; status and conditions users can act on.
//
// What Porch's users hit is designed out: a PackageRevision event enqueues only the variants
// indexed for its package or owning it (no fan-out to every variant); reads come from informers
// (no list per reconcile); and the draft's workspace and an annotation carry a hash of what it was
// made from, so a reconcile that runs twice, after a restart or a lost race, finds the draft it
// made instead of making another (no extra revisions in a loop). The variant never proposes or
// approves; the approval controller does when the gate asks for it.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CONFIG_GROUP, CONFIG_VERSION, type PackageVariant, type Repository } from '../api/config.ts';
import { findCondition, timestamp, type Condition, type KObject, type OwnerReference } from '../api/meta.ts';
import { CATALOG_TARGET, compareRevisions, packageRevisionName, pickRevision, PKG_GROUP, PKG_VERSION, type PackageRevision, type PackageRevisionSpec } from '../api/pkg.ts';
import { UPGRADE_CONDITION } from '../engine/tasks.ts';
import type { EventRecorder } from '../events/recorder.ts';
import { withoutOwner } from './gc.ts';
import { Controller, indexKeys, isForbidden, ownKey, type ObjectKey, type Result } from './runtime/controller.ts';
import type { Client } from './runtime/client.ts';
import type { Informer } from './runtime/informer.ts';

/** Keeps a variant until its downstream revisions are handled by its deletionPolicy. */
export const VARIANT_FINALIZER = 'config.pkg.pkgserver.dev/packagevariant';
/** On a downstream revision: the hash of the variant state it was made from. */
export const ANNOTATION_VARIANT_HASH = 'config.pkg.pkgserver.dev/variant-spec-hash';
/** On a downstream revision: the uid of the variant that made it (so it is found again if its ownerReference was lost, e.g. rebuilt from git). */
export const ANNOTATION_VARIANT_UID = 'config.pkg.pkgserver.dev/variant-uid';
/** On a downstream revision: the upstream revision it was made from (also for drafts by init). */
export const ANNOTATION_UPSTREAM_REVISION = 'config.pkg.pkgserver.dev/upstream-revision';
/** kube's finalizer for DeleteOptions.propagationPolicy=Orphan */
export const ORPHAN_FINALIZER = 'orphan';

const PACKAGE_INDEX = 'package';
const UPSTREAM_INDEX = 'upstream';
const DOWNSTREAM_INDEX = 'downstream';
const REPOSITORY_INDEX = 'repository';

const pkgKey = (ns: string | undefined, repository: string, target: string, realm: string | undefined, pkg: string) => `${ns}/${repository}/${target}/${realm ?? ''}/${pkg}`;
const prPackage = (pr: PackageRevision) => {
  const id = pr.spec.packageRevID;
  return pkgKey(pr.metadata.namespace, id.repository, id.target, id.realm, id.package);
};
const upstreamOf = (pv: PackageVariant) => pkgKey(pv.metadata.namespace, pv.spec.upstream.repository, CATALOG_TARGET, pv.spec.upstream.realm, pv.spec.upstream.package);
const downstreamOf = (pv: PackageVariant) => {
  const d = pv.spec.downstream;
  return pkgKey(pv.metadata.namespace, d.repository, d.target, d.realm, d.package);
};
const isPublished = (pr: PackageRevision) => pr.spec.lifecycle === 'published' || pr.spec.lifecycle === 'deletionProposed';
const byRevisionDesc = (a: PackageRevision, b: PackageRevision) => compareRevisions(b.spec.packageRevID.revision!, a.spec.packageRevID.revision!);

export { pickRevision };

export interface PackageVariantControllerOptions {
  client: Client;
  variants: Informer;
  revisions: Informer;
  repositories: Informer;
  recorder: EventRecorder;
  logger: Logger;
  metrics?: Registry;
}

export function packageVariantController(o: PackageVariantControllerOptions): Controller {
  o.variants.addIndex(UPSTREAM_INDEX, (v) => [upstreamOf(v as PackageVariant)]);
  o.variants.addIndex(DOWNSTREAM_INDEX, (v) => [downstreamOf(v as PackageVariant)]);
  o.variants.addIndex(REPOSITORY_INDEX, (v) => [`${v.metadata.namespace}/${(v as PackageVariant).spec.downstream.repository}`]);
  o.revisions.addIndex(PACKAGE_INDEX, (pr) => [prPackage(pr as PackageRevision)]);
  const reconciler = new PackageVariantReconciler(o);
  const controller = new Controller({ name: 'packagevariant', reconciler, workers: 4, baseDelayMs: 500, maxDelayMs: 60_000, logger: o.logger, metrics: o.metrics });
  // a variant's own changes, except its status (written by this controller)
  controller.watches(o.variants, (type, obj, old) => (type === 'MODIFIED' && old && !specChanged(obj, old) ? [] : ownKey(type, obj, old)));
  // a revision: the variants that use its package upstream or downstream, and those owning it
  const variantsOf = indexKeys(o.variants, UPSTREAM_INDEX, (pr) => [prPackage(pr as PackageRevision)]);
  const downstreamOfPr = indexKeys(o.variants, DOWNSTREAM_INDEX, (pr) => [prPackage(pr as PackageRevision)]);
  controller.watches(o.revisions, (type, obj, old) => dedupe([...variantsOf(type, obj, old), ...downstreamOfPr(type, obj, old)]));
  // a repository appearing or going
  controller.watches(
    o.repositories,
    indexKeys(o.variants, REPOSITORY_INDEX, (r) => [`${r.metadata.namespace}/${r.metadata.name}`]),
  );
  return controller;
}

function dedupe(keys: ObjectKey[]): ObjectKey[] {
  const seen = new Set<string>();
  return keys.filter((k) => !seen.has(`${k.namespace}/${k.name}`) && !!seen.add(`${k.namespace}/${k.name}`));
}

/** Anything but status (and the resourceVersion) changed. */
function specChanged(a: KObject, b: KObject): boolean {
  const strip = (o: KObject) => JSON.stringify({ ...o, status: undefined, metadata: { ...o.metadata, resourceVersion: undefined, managedFields: undefined } });
  return strip(a) !== strip(b);
}

class PackageVariantReconciler {
  private readonly log: Logger;

  constructor(private readonly o: PackageVariantControllerOptions) {
    this.log = o.logger.child({ controller: 'packagevariant' });
  }

  async reconcile(key: ObjectKey): Promise<Result | void> {
    const pv = this.o.variants.get(key.namespace, key.name) as PackageVariant | undefined;
    if (!pv) return;
    try {
      if (pv.metadata.deletionTimestamp) return await this.finalize(pv);
      if (!(pv.metadata.finalizers ?? []).includes(VARIANT_FINALIZER)) {
        await this.o.client.update('packagevariants', key.namespace, key.name, (cur) => {
          cur.metadata.finalizers = [...(cur.metadata.finalizers ?? []), VARIANT_FINALIZER];
          return { obj: cur };
        });
        return; // its update event runs this again
      }
      return await this.ensure(pv);
    } catch (e) {
      if (isForbidden(e)) {
        await this.setStatus(pv, { stalled: { reason: 'Forbidden', message: (e as Error).message } });
        this.o.recorder.event(pv, 'Warning', 'Forbidden', (e as Error).message);
      }
      throw e;
    }
  }

  /** The revisions owned by this variant (ownerReference by uid). */
  private owned(pv: PackageVariant, candidates: PackageRevision[]): PackageRevision[] {
    return candidates.filter((pr) => (pr.metadata.ownerReferences ?? []).some((r) => r.uid === pv.metadata.uid));
  }

  private ownerRef(pv: PackageVariant): OwnerReference {
    return { apiVersion: `${CONFIG_GROUP}/${CONFIG_VERSION}`, kind: 'PackageVariant', name: pv.metadata.name!, uid: pv.metadata.uid!, controller: true, blockOwnerDeletion: true };
  }

  private async ensure(pv: PackageVariant): Promise<Result | void> {
    const ns = pv.metadata.namespace!;
    const up = pv.spec.upstream;
    const down = pv.spec.downstream;
    const ctx = pv.spec.packageContext ?? {};

    // the upstream revision
    const upstreamRevisions = (this.o.revisions.byIndex(PACKAGE_INDEX, upstreamOf(pv)) as PackageRevision[]).filter((p) => isPublished(p) && p.spec.packageRevID.revision);
    const revision = pickRevision(upstreamRevisions.map((p) => p.spec.packageRevID.revision!), up.revision);
    if (!revision) {
      const what = `${[up.repository, up.realm, up.package].filter(Boolean).join('/')}@${up.revision || 'latest'}`;
      return this.stalled(pv, 'UpstreamNotFound', `no published revision of ${what} in namespace ${ns}${upstreamRevisions.length ? `; published: ${upstreamRevisions.map((p) => p.spec.packageRevID.revision).join(', ')}` : ''}`);
    }
    // the downstream repository
    const repo = this.o.repositories.get(ns, down.repository) as Repository | undefined;
    if (!repo) return this.stalled(pv, 'DownstreamRepositoryNotFound', `Repository "${down.repository}" does not exist in namespace ${ns}`);
    if (!repo.spec.deployment) return this.stalled(pv, 'NotADeploymentRepository', `Repository "${down.repository}" is a catalog repository; the downstream must be a deployment repository`);

    let downstream = this.o.revisions.byIndex(PACKAGE_INDEX, downstreamOf(pv)) as PackageRevision[];
    // revisions this variant made whose ownerReference is missing (a crash between git and the
    // store, a store rebuilt from git) are its own again; with adoptExisting, every unowned one
    const unowned = downstream.filter((pr) => !(pr.metadata.ownerReferences ?? []).some((r) => r.controller));
    const claim = unowned.filter((pr) => pv.spec.adoptionPolicy === 'adoptExisting' || pr.metadata.annotations?.[ANNOTATION_VARIANT_UID] === pv.metadata.uid);
    for (const pr of claim) {
      const adopt = pr.metadata.annotations?.[ANNOTATION_VARIANT_UID] !== pv.metadata.uid;
      await this.o.client.update('packagerevisions', ns, pr.metadata.name!, (cur) => {
        cur.metadata.ownerReferences = [...(cur.metadata.ownerReferences ?? []).filter((r) => r.uid !== pv.metadata.uid), this.ownerRef(pv)];
        if (adopt) {
          cur.metadata.labels = { ...(cur.metadata.labels ?? {}), ...(ctx.labels ?? {}) };
          cur.metadata.annotations = { ...(cur.metadata.annotations ?? {}), ...(ctx.annotations ?? {}) };
        }
        return { obj: cur };
      });
      this.o.recorder.event(pv, 'Normal', adopt ? 'Adopted' : 'Reclaimed', `${adopt ? 'adopted' : 'took back'} PackageRevision ${pr.metadata.name}`);
    }
    if (claim.length) downstream = this.o.revisions.byIndex(PACKAGE_INDEX, downstreamOf(pv)) as PackageRevision[];
    const owned = this.owned(pv, downstream);

    // what the downstream should be made from
    const hash = variantHash(pv, revision);
    const current = owned.find((pr) => pr.metadata.annotations?.[ANNOTATION_VARIANT_HASH] === hash);
    const unpublished = owned.filter((pr) => !isPublished(pr));
    let keep = current?.metadata.name;
    if (!current) {
      const inPlace = unpublished.find((pr) => madeFrom(pr) === revision);
      if (inPlace) {
        keep = inPlace.metadata.name;
        // only the context changed: the draft follows it
        await this.o.client.update('packagerevisions', ns, inPlace.metadata.name!, (cur) => {
          const pr = cur as PackageRevision;
          pr.spec.inputs = ctx.inputs;
          pr.spec.readinessGates = ctx.readinessGates;
          pr.metadata.labels = { ...(pr.metadata.labels ?? {}), ...(ctx.labels ?? {}) };
          pr.metadata.annotations = { ...(pr.metadata.annotations ?? {}), ...(ctx.annotations ?? {}), [ANNOTATION_VARIANT_HASH]: hash, [ANNOTATION_UPSTREAM_REVISION]: revision };
          return { obj: pr };
        });
        this.o.recorder.event(pv, 'Normal', 'DownstreamUpdated', `updated the package context of ${inPlace.metadata.name}`);
      } else {
        const latest = owned.filter(isPublished).sort(byRevisionDesc)[0];
        const task = !latest ? 'clone' : madeFrom(latest) !== revision ? 'upgrade' : 'init';
        const name = packageRevisionName({ ...down, workspace: `pv-${hash}` });
        keep = name;
        const spec: PackageRevisionSpec = {
          packageRevID: { target: down.target, repository: down.repository, realm: down.realm, package: down.package, workspace: `pv-${hash}` },
          lifecycle: 'draft',
          tasks: [{ type: task }],
          ...(task === 'init' ? {} : { upstream: { repository: up.repository, realm: up.realm, package: up.package, revision } }),
          ...(ctx.readinessGates?.length ? { readinessGates: ctx.readinessGates } : {}),
          ...(ctx.inputs?.length ? { inputs: ctx.inputs } : {}),
        } as PackageRevisionSpec;
        const obj: KObject = {
          apiVersion: `${PKG_GROUP}/${PKG_VERSION}`,
          kind: 'PackageRevision',
          metadata: {
            name,
            namespace: ns,
            labels: { ...(ctx.labels ?? {}) },
            annotations: { ...(ctx.annotations ?? {}), [ANNOTATION_VARIANT_HASH]: hash, [ANNOTATION_UPSTREAM_REVISION]: revision, [ANNOTATION_VARIANT_UID]: pv.metadata.uid! },
            ownerReferences: [this.ownerRef(pv)],
          },
          spec,
        };
        try {
          await this.o.client.create('packagerevisions', ns, obj);
          const how = task === 'clone' ? `cloned from ${up.package}@${revision}` : task === 'upgrade' ? `upgraded ${latest!.spec.packageRevID.revision} to upstream ${revision}` : `a new draft of ${latest!.spec.packageRevID.revision} with the new package context`;
          this.o.recorder.event(pv, 'Normal', task === 'upgrade' ? 'UpgradeDraftCreated' : 'DraftCreated', `created PackageRevision ${name}: ${how}`);
        } catch (e) {
          if ((e as { code?: number }).code !== 409) throw e; // made already (a lost race or a restart): it is found next time
        }
      }
    }
    // one unpublished downstream revision at most: any other this variant made is stale
    for (const stale of unpublished) {
      if (stale.metadata.name === keep) continue;
      await this.o.client.delete('packagerevisions', ns, stale.metadata.name!).catch((e) => {
        if ((e as { code?: number }).code !== 404) throw e;
      });
      this.o.recorder.event(pv, 'Normal', 'StaleDraftDeleted', `deleted PackageRevision ${stale.metadata.name}: ${keep} follows the variant now`);
    }
    await this.setStatus(pv, { revision, hash });
  }

  private async stalled(pv: PackageVariant, reason: string, message: string): Promise<void> {
    if (findCondition(pv.status?.conditions, 'Stalled')?.reason !== reason) this.o.recorder.event(pv, 'Warning', reason, message);
    await this.setStatus(pv, { stalled: { reason, message } });
  }

  /** Writes the status when it changed: the downstream list, Ready and Stalled. */
  private async setStatus(pv: PackageVariant, what: { stalled?: { reason: string; message: string }; revision?: string; hash?: string }): Promise<void> {
    const owned = this.owned(pv, this.o.revisions.byIndex(PACKAGE_INDEX, downstreamOf(pv)) as PackageRevision[]).sort((a, b) => a.metadata.name!.localeCompare(b.metadata.name!));
    const downstream = owned.map((pr) => ({ name: pr.metadata.name!, lifecycle: pr.spec.lifecycle, ...(pr.spec.packageRevID.revision ? { revision: pr.spec.packageRevID.revision } : {}) }));
    const conditions: Omit<Condition, 'lastTransitionTime'>[] = [];
    if (what.stalled) {
      conditions.push({ type: 'Ready', status: 'False', reason: what.stalled.reason, message: what.stalled.message });
      conditions.push({ type: 'Stalled', status: 'True', reason: what.stalled.reason, message: what.stalled.message });
    } else {
      const current = owned.find((pr) => pr.metadata.annotations?.[ANNOTATION_VARIANT_HASH] === what.hash);
      const conflict = current && findCondition(current.status?.conditions, UPGRADE_CONDITION);
      if (!current) conditions.push({ type: 'Ready', status: 'False', reason: 'DownstreamPending', message: `the downstream draft for upstream ${what.revision} is being made` });
      else if (conflict?.status === 'False') conditions.push({ type: 'Ready', status: 'False', reason: 'MergeConflict', message: `${current.metadata.name}: ${conflict.message}` });
      else conditions.push({ type: 'Ready', status: 'True', reason: 'DownstreamReady', message: `${current.metadata.name} (${current.spec.lifecycle}${current.spec.packageRevID.revision ? ` ${current.spec.packageRevID.revision}` : ''}) is made from upstream ${what.revision}` });
      conditions.push({ type: 'Stalled', status: 'False', reason: 'Reconciled', message: '' });
    }
    const next = { downstream, conditions };
    const same = JSON.stringify(pv.status?.downstream ?? []) === JSON.stringify(downstream) && conditions.every((c) => {
      const old = findCondition(pv.status?.conditions, c.type);
      return old && old.status === c.status && old.reason === c.reason && old.message === c.message && old.observedGeneration === pv.metadata.generation;
    });
    if (same) return;
    await this.o.client.update(
      'packagevariants',
      pv.metadata.namespace,
      pv.metadata.name!,
      (cur) => {
        const old = (cur.status?.conditions ?? []) as Condition[];
        cur.status = {
          ...(cur.status ?? {}),
          downstream: next.downstream,
          conditions: next.conditions.map((c) => {
            const prev = old.find((x) => x.type === c.type);
            return { ...c, lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime : timestamp(), observedGeneration: cur.metadata.generation };
          }),
        };
        return { obj: cur };
      },
      'status',
    );
  }

  /**
   * The variant is being deleted: its downstream revisions follow its deletionPolicy (or are
   * orphaned when the deletion asked for it, kube's propagationPolicy=Orphan), then it may go.
   */
  private async finalize(pv: PackageVariant): Promise<void> {
    if (!(pv.metadata.finalizers ?? []).includes(VARIANT_FINALIZER)) return;
    const ns = pv.metadata.namespace!;
    const orphan = pv.spec.deletionPolicy === 'orphan' || (pv.metadata.finalizers ?? []).includes(ORPHAN_FINALIZER);
    const dropOwner = (pr: PackageRevision) =>
      this.o.client.update('packagerevisions', ns, pr.metadata.name!, (cur) => {
        withoutOwner(cur, pv.metadata.uid!);
        return { obj: cur };
      });
    for (const pr of this.owned(pv, this.o.revisions.byIndex(PACKAGE_INDEX, downstreamOf(pv)) as PackageRevision[])) {
      if (orphan || pr.spec.lifecycle === 'deletionProposed') {
        await dropOwner(pr);
        this.o.recorder.event(pv, 'Normal', 'Orphaned', `left PackageRevision ${pr.metadata.name}`);
      } else if (pr.spec.lifecycle === 'published') {
        // published revisions are never deleted outright: their deletion is proposed
        await this.o.client.update('packagerevisions', ns, pr.metadata.name!, (cur) => {
          (cur as PackageRevision).spec.lifecycle = 'deletionProposed';
          withoutOwner(cur, pv.metadata.uid!);
          return { obj: cur };
        });
        this.o.recorder.event(pv, 'Normal', 'DeletionProposed', `proposed the deletion of published PackageRevision ${pr.metadata.name}`);
      } else {
        await this.o.client.delete('packagerevisions', ns, pr.metadata.name!).catch((e) => {
          if ((e as { code?: number }).code !== 404) throw e;
        });
        this.o.recorder.event(pv, 'Normal', 'DraftDeleted', `deleted PackageRevision ${pr.metadata.name}`);
      }
    }
    await this.o.client.update('packagevariants', ns, pv.metadata.name!, (cur) => {
      cur.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== VARIANT_FINALIZER);
      return { obj: cur };
    });
  }
}

/** The upstream revision a downstream revision was made from. */
const madeFrom = (pr: PackageRevision) => pr.metadata.annotations?.[ANNOTATION_UPSTREAM_REVISION] ?? pr.spec.upstream?.revision;

/** 16 hex of a hash of what a downstream draft is made from: the variant, the upstream revision, the context. */
export function variantHash(pv: PackageVariant, revision: string): string {
  const up = pv.spec.upstream;
  const ctx = pv.spec.packageContext ?? {};
  const what = JSON.stringify([pv.metadata.uid, up.repository, up.realm ?? '', up.package, revision, ctx.inputs ?? [], ctx.labels ?? {}, ctx.annotations ?? {}, ctx.readinessGates ?? []]);
  return createHash('sha256').update(what).digest('hex').slice(0, 16);
}
