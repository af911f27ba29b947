// The repository controller (SPEC 4.4, 5.1): for each Repository, fetch on its period (and when
// its annotations change), discover tags and draft/proposed branches, and reconcile the stored
// PackageRevisions to git: new tags become published revisions, changes made directly in git are
// taken over, vanished branches and tags remove their revisions, half-done publishes are
// finished. Sets Ready (False with an actionable reason), lastSyncTime and counts.
import type { Logger } from 'pino';
import type { Repository } from '../api/config.ts';
import { findCondition, timestamp, type Condition, type KObject } from '../api/meta.ts';
import { LABEL_LATEST, type PackageRevision } from '../api/pkg.ts';
import { parseDuration } from '../api/names.ts';
import type { Registry } from '../apiserver/registry/generic.ts';
import type { RequestContext } from '../apiserver/registry/types.ts';
import { withReady, type PackageEngine } from '../engine/engine.ts';
import { PackageUnavailableError } from '../engine/errors.ts';
import type { ObservedRevision } from '../engine/sync.ts';
import type { Registry as PromRegistry } from 'prom-client';
import type { EventRecorder } from '../events/recorder.ts';
import { Controller, ownKey, type ObjectKey, type Result } from './runtime/controller.ts';
import type { Informer } from './runtime/informer.ts';

export interface RepositoryControllerOptions {
  repositories: Registry;
  packageRevisions: Registry;
  /** informers of the two */
  repositoryInformer: Informer;
  revisionInformer: Informer;
  engine: PackageEngine;
  recorder: EventRecorder;
  logger: Logger;
  context: RequestContext;
  metrics?: PromRegistry;
}

/** Generation, annotations and deletion: what a sync follows (its own status writes are not). */
const fingerprint = (o: KObject) => `${o.metadata.generation}|${JSON.stringify(o.metadata.annotations ?? {})}|${o.metadata.deletionTimestamp ?? ''}`;

export function repositoryController(o: RepositoryControllerOptions): Controller {
  const reconciler = new RepositoryReconciler(o);
  const controller = new Controller({ name: 'repository', reconciler, workers: 4, baseDelayMs: 1000, maxDelayMs: 60_000, logger: o.logger, metrics: o.metrics });
  controller.watches(o.repositoryInformer, (type, obj, old) => (type === 'MODIFIED' && old && fingerprint(old) === fingerprint(obj) ? [] : ownKey(type, obj, old)));
  // revisions whose Repository is gone (deleted while the server was down)
  controller.watches(o.revisionInformer, (type, obj) => {
    const repo = (obj as PackageRevision).spec.packageRevID.repository;
    return type !== 'DELETED' && !o.repositoryInformer.get(obj.metadata.namespace, repo) ? [{ namespace: obj.metadata.namespace!, name: repo }] : [];
  });
  return controller;
}

class RepositoryReconciler {
  private readonly log: Logger;

  constructor(private readonly o: RepositoryControllerOptions) {
    this.log = o.logger.child({ controller: 'repository' });
  }

  async reconcile({ namespace: ns, name }: ObjectKey): Promise<Result | void> {
    const repoObj = this.o.repositoryInformer.get(ns, name) as Repository | undefined;
    if (!repoObj || repoObj.metadata.deletionTimestamp) {
      await this.removeRevisions(ns, name);
      this.o.engine.forget(ns, name);
      return;
    }
    const started = Date.now();
    try {
      // the same lock as API writes of this repository's revisions
      const counts = await this.o.packageRevisions.withLockKey(`${ns}/${name}`, () => this.sync(repoObj, ns, name));
      await this.setStatus(repoObj, { type: 'Ready', status: 'True', reason: 'Synced', message: `synced in ${Date.now() - started} ms` }, counts);
      this.log.debug({ repository: `${ns}/${name}`, ms: Date.now() - started, ...counts }, 'synced');
    } catch (e) {
      const reason = (e instanceof PackageUnavailableError && e.reason) || 'SyncFailed';
      const hint =
        reason === 'AuthenticationFailed'
          ? ' (check spec.git.credentials and the credentials it names)'
          : reason === 'Unreachable'
            ? ' (check spec.git.url and that the git server is up; the sync retries with backoff)'
            : '';
      this.log.warn({ repository: `${ns}/${name}`, err: (e as Error).message }, 'sync failed');
      await this.setStatus(repoObj, { type: 'Ready', status: 'False', reason, message: `${(e as Error).message}${hint}` });
      throw e;
    }
    return { requeueAfter: (parseDuration(repoObj.spec.sync.period) ?? 60) * 1000 };
  }

  private async setStatus(repo: Repository, cond: Omit<Condition, 'lastTransitionTime'>, counts?: { packages: number; revisions: number; head?: string }): Promise<void> {
    const ns = repo.metadata.namespace!;
    const name = repo.metadata.name!;
    const before = findCondition(repo.status?.conditions, cond.type);
    if (before?.reason !== cond.reason && (cond.status === 'False' || before)) this.o.recorder.event(repo, cond.status === 'True' ? 'Normal' : 'Warning', cond.reason!, cond.message ?? '');
    await this.o.repositories
      .update(
        ns,
        name,
        (cur) => {
          const status = { ...(cur.status ?? {}) };
          const old = findCondition(status.conditions, cond.type);
          const changed = !old || old.status !== cond.status || old.reason !== cond.reason;
          const c: Condition = { ...cond, lastTransitionTime: changed ? timestamp() : old!.lastTransitionTime, observedGeneration: cur.metadata.generation };
          if (!changed && old!.message === c.message) c.message = old!.message;
          status.conditions = [...(status.conditions ?? []).filter((x: Condition) => x.type !== cond.type), c];
          if (counts) {
            status.lastSyncTime = timestamp();
            status.packageCount = counts.packages;
            status.revisionCount = counts.revisions;
            if (counts.head) status.headCommit = counts.head;
            else delete status.headCommit;
          }
          return { obj: { ...cur, status } };
        },
        this.o.context,
        'status',
      )
      .catch((e) => this.log.debug({ err: (e as Error).message }, 'repository status not written'));
  }

  /** Makes the stored revisions of a repository match git. */
  private async sync(repoObj: Repository, ns: string, name: string): Promise<{ packages: number; revisions: number; head?: string }> {
    const observation = await this.o.engine.observe(repoObj);
    const stored = new Map(
      (this.o.packageRevisions.list(ns, { fieldSelector: `spec.packageRevID.repository=${name}` }).items as PackageRevision[]).map((p) => [p.metadata.name!, p]),
    );
    for (const ob of observation.revisions) {
      await this.apply(ns, ob, stored.get(ob.name), ob.latest);
      stored.delete(ob.name);
    }
    for (const gone of stored.values()) {
      await this.o.packageRevisions.delete(ns, gone.metadata.name!, { dryRun: false }, { ...this.o.context, mirror: true }).catch(() => undefined);
    }
    return { packages: observation.packages, revisions: observation.revisions.length, head: observation.head };
  }

  /** Creates or updates the stored PackageRevision to what git says (lifecycle, revision, commit). */
  private async apply(ns: string, ob: ObservedRevision, current: PackageRevision | undefined, isLatest: boolean): Promise<void> {
    const ctx = { ...this.o.context, mirror: true };
    const status = { ...withReady(current?.status, 'Synced', ob.git.tag ? `tag ${ob.git.tag}` : `branch ${ob.git.branch}`), git: ob.git, ...(ob.publishedBy ? { publishedBy: ob.publishedBy } : {}), ...(ob.publishTimestamp ? { publishTimestamp: ob.publishTimestamp } : {}) };
    if (!current) {
      const labels = { ...(ob.labels ?? {}) };
      if (isLatest) labels[LABEL_LATEST] = 'true';
      const obj: KObject = {
        apiVersion: 'pkg.pkgserver.dev/v1alpha1',
        kind: 'PackageRevision',
        metadata: { name: ob.name, namespace: ns, ...(Object.keys(labels).length ? { labels } : {}), ...(ob.annotations ? { annotations: ob.annotations } : {}) },
        spec: ob.spec,
        status,
      };
      await this.o.packageRevisions.create(ns, obj, ctx);
      return;
    }
    const lifecycle =
      ob.spec.lifecycle === 'published' && current.spec.lifecycle === 'deletionProposed' ? 'deletionProposed' : ob.spec.lifecycle; // deletionProposed lives only in the API
    const facts = (lc: string, rev: string | undefined, git: ObservedRevision['git'] | undefined, by: string | undefined, latest: boolean) =>
      JSON.stringify([lc, rev ?? null, git?.branch ?? null, git?.tag ?? null, git?.commit ?? null, by ?? null, latest]);
    const want = facts(lifecycle, ob.spec.packageRevID.revision, ob.git, ob.publishedBy ?? current.status?.publishedBy, isLatest);
    const have = facts(current.spec.lifecycle, current.spec.packageRevID.revision, current.status?.git as ObservedRevision['git'], current.status?.publishedBy, current.metadata.labels?.[LABEL_LATEST] === 'true');
    if (want === have) return;
    await this.o.packageRevisions.update(
      ns,
      ob.name,
      (cur) => {
        const pr = cur as PackageRevision;
        pr.spec.lifecycle = lifecycle;
        if (ob.spec.packageRevID.revision) pr.spec.packageRevID.revision = ob.spec.packageRevID.revision;
        else delete pr.spec.packageRevID.revision;
        pr.status = { ...(pr.status ?? {}), ...status };
        const labels = { ...(pr.metadata.labels ?? {}) };
        if (isLatest) labels[LABEL_LATEST] = 'true';
        else delete labels[LABEL_LATEST];
        pr.metadata.labels = labels;
        return { obj: pr };
      },
      ctx,
    );
  }

  private async removeRevisions(ns: string, repository: string): Promise<void> {
    const ctx = { ...this.o.context, mirror: true };
    for (const pr of this.o.packageRevisions.list(ns, { fieldSelector: `spec.packageRevID.repository=${repository}` }).items)
      await this.o.packageRevisions.delete(ns, pr.metadata.name!, { dryRun: false }, ctx).catch(() => undefined);
  }
}
