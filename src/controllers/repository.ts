// The repository controller (SPEC 4.4, 5.1): for each Repository, fetch on its period (and when
// its annotations change), discover tags and draft/proposed branches, and reconcile the stored
// PackageRevisions to git: new tags become published revisions, changes made directly in git are
// taken over, vanished branches and tags remove their revisions, half-done publishes are
// finished. Sets Ready (False with an actionable reason), lastSyncTime and counts.
import type { Logger } from 'pino';
import type { Repository } from '../api/config.ts';
import { findCondition, setCondition, timestamp, type Condition, type KObject } from '../api/meta.ts';
import { LABEL_LATEST, type PackageRevision } from '../api/pkg.ts';
import { parseDuration } from '../api/names.ts';
import type { Registry } from '../apiserver/registry/generic.ts';
import type { RequestContext } from '../apiserver/registry/types.ts';
import { withReady, type PackageEngine } from '../engine/engine.ts';
import { PackageUnavailableError } from '../engine/errors.ts';
import type { ObservedRevision } from '../engine/sync.ts';
import type { Registry as PromRegistry } from 'prom-client';
import type { EventRecorder } from '../events/recorder.ts';
import { Turns } from '../util/turns.ts';
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

/** Repositories synced at once (the controller's workers): their fetches and git reads overlap. */
export const SYNC_WORKERS = 8;
/**
 * Steps of sync work (a page of commits read, a page of revisions written) in flight across all
 * repositories; syncs take these turns in FIFO order, one step at a time, so a big repository does
 * not hold up the small ones.
 */
export const SYNC_TURNS = 2;
/** PackageRevisions created per store transaction (Registry.createMany) by the sync. */
export const SYNC_PAGE = 500;
/** A sync with at least this many revisions to write reports its progress (status and log). */
const PROGRESS_MIN_WRITES = SYNC_PAGE;
/** Progress reports of one sync are at least this far apart. */
const PROGRESS_INTERVAL_MS = 1000;
/** kstatus's condition for work in progress (kpt, Flux and Config Sync read it): True while a long sync runs, removed when it ends. */
export const RECONCILING = 'Reconciling';

export function repositoryController(o: RepositoryControllerOptions): Controller {
  const reconciler = new RepositoryReconciler(o);
  const controller = new Controller({ name: 'repository', reconciler, workers: SYNC_WORKERS, baseDelayMs: 1000, maxDelayMs: 60_000, logger: o.logger, metrics: o.metrics });
  controller.watches(o.repositoryInformer, (type, obj, old) => (type === 'MODIFIED' && old && fingerprint(old) === fingerprint(obj) ? [] : ownKey(type, obj, old)));
  // revisions whose Repository is gone (deleted while the server was down)
  controller.watches(o.revisionInformer, (type, obj) => {
    const repo = (obj as PackageRevision).spec.packageRevID.repository;
    return type !== 'DELETED' && !o.repositoryInformer.get(obj.metadata.namespace, repo) ? [{ namespace: obj.metadata.namespace!, name: repo }] : [];
  });
  return controller;
}

class RepositoryReconciler {
  readonly log: Logger;
  private readonly turns = new Turns(SYNC_TURNS);

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
    const before = findCondition(repo.status?.conditions, cond.type);
    if (before?.reason !== cond.reason && (cond.status === 'False' || before)) this.o.recorder.event(repo, cond.status === 'True' ? 'Normal' : 'Warning', cond.reason!, cond.message ?? '');
    await this.writeStatus(repo, 'repository status', (status, cur) => {
      const old = findCondition(status.conditions, cond.type);
      const changed = !old || old.status !== cond.status || old.reason !== cond.reason;
      const c: Condition = { ...cond, lastTransitionTime: changed ? timestamp() : old!.lastTransitionTime, observedGeneration: cur.metadata.generation };
      if (!changed && old!.message === c.message) c.message = old!.message;
      // the sync has ended (either way): no work in progress any more
      status.conditions = [...(status.conditions ?? []).filter((x: Condition) => x.type !== cond.type && x.type !== RECONCILING), c];
      if (counts) {
        status.lastSyncTime = timestamp();
        status.packageCount = counts.packages;
        status.revisionCount = counts.revisions;
        if (counts.head) status.headCommit = counts.head;
        else delete status.headCommit;
      }
    });
  }

  /** Changes a Repository's status through the status subresource; a failure is logged (debug) only. */
  private writeStatus(repo: Repository, what: string, change: (status: NonNullable<Repository['status']>, cur: KObject) => void): Promise<void> {
    return this.o.repositories
      .update(
        repo.metadata.namespace!,
        repo.metadata.name!,
        (cur) => {
          const status = { ...(cur.status ?? {}) } as NonNullable<Repository['status']>;
          change(status, cur);
          return { obj: { ...cur, status } };
        },
        this.o.context,
        'status',
      )
      .then(
        () => undefined,
        (e) => this.log.debug({ err: (e as Error).message }, `${what} not written`),
      );
  }

  /**
   * Makes the stored revisions of a repository match git: new revisions are created in pages of
   * SYNC_PAGE, one store transaction each (Registry.createMany); changed ones are updated and
   * vanished ones deleted one by one. Git reads and page writes take turns with the other
   * repositories' syncs (SYNC_TURNS). A long sync reports progress in the Repository status (the
   * Reconciling condition: "synced 5000/10000 revisions") and the log.
   */
  private async sync(repoObj: Repository, ns: string, name: string): Promise<{ packages: number; revisions: number; head?: string }> {
    const turn = this.turns.job();
    try {
      if (!repoObj.status?.lastSyncTime) await this.reportProgress(repoObj, 'Fetching', `fetching ${repoObj.spec.git.url} for the first sync`);
      const observation = await this.o.engine.observe(repoObj, { pace: () => turn.next() });
      const stored = new Map(
        (this.o.packageRevisions.list(ns, { fieldSelector: `spec.packageRevID.repository=${name}` }).items as PackageRevision[]).map((p) => [p.metadata.name!, p]),
      );
      const creates: KObject[] = [];
      const changes: { ob: ObservedRevision; current: PackageRevision }[] = [];
      for (const ob of observation.revisions) {
        const current = stored.get(ob.name);
        stored.delete(ob.name);
        if (!current) creates.push(this.newRevision(ns, ob));
        else if (this.differs(ob, current)) changes.push({ ob, current });
      }
      const total = observation.revisions.length;
      const progress = new Progress(this, repoObj, total, total - creates.length - changes.length, creates.length + changes.length + stored.size >= PROGRESS_MIN_WRITES);
      await progress.report(true);

      const ctx = { ...this.o.context, mirror: true };
      let failure: unknown;
      for (let i = 0; i < creates.length; i += SYNC_PAGE) {
        await turn.next();
        const results = await this.o.packageRevisions.createMany(ns, creates.slice(i, i + SYNC_PAGE), ctx);
        for (const r of results) {
          if ('obj' in r) progress.synced++;
          else failure ??= r.error;
        }
        await progress.report();
      }
      for (const { ob, current } of changes) {
        await this.apply(ns, ob, current);
        progress.synced++;
        await progress.report();
      }
      for (const gone of stored.values()) {
        await this.o.packageRevisions.delete(ns, gone.metadata.name!, { dryRun: false }, ctx).catch(() => undefined);
      }
      if (failure) throw failure;
      progress.finished();
      return { packages: observation.packages, revisions: total, head: observation.head };
    } finally {
      turn.done();
    }
  }

  /** A PackageRevision as git says it is, for a create. */
  private newRevision(ns: string, ob: ObservedRevision): KObject {
    const labels = { ...(ob.labels ?? {}) };
    if (ob.latest) labels[LABEL_LATEST] = 'true';
    return {
      apiVersion: 'pkg.pkgserver.dev/v1alpha1',
      kind: 'PackageRevision',
      metadata: { name: ob.name, namespace: ns, ...(Object.keys(labels).length ? { labels } : {}), ...(ob.annotations ? { annotations: ob.annotations } : {}) },
      spec: ob.spec,
      status: this.observedStatus(ob, undefined),
    };
  }

  private observedStatus(ob: ObservedRevision, current: PackageRevision | undefined): NonNullable<PackageRevision['status']> {
    return { ...withReady(current?.status, 'Synced', ob.git.tag ? `tag ${ob.git.tag}` : `branch ${ob.git.branch}`), git: ob.git, ...(ob.publishedBy ? { publishedBy: ob.publishedBy } : {}), ...(ob.publishTimestamp ? { publishTimestamp: ob.publishTimestamp } : {}) };
  }

  /** deletionProposed lives only in the API: git says published. */
  private lifecycleOf(ob: ObservedRevision, current: PackageRevision): PackageRevision['spec']['lifecycle'] {
    return ob.spec.lifecycle === 'published' && current.spec.lifecycle === 'deletionProposed' ? 'deletionProposed' : ob.spec.lifecycle;
  }

  /** Whether the stored revision differs from git in what the sync maintains (lifecycle, revision, commit, latest). */
  private differs(ob: ObservedRevision, current: PackageRevision): boolean {
    const facts = (lc: string, rev: string | undefined, git: ObservedRevision['git'] | undefined, by: string | undefined, latest: boolean) =>
      JSON.stringify([lc, rev ?? null, git?.branch ?? null, git?.tag ?? null, git?.commit ?? null, by ?? null, latest]);
    const want = facts(this.lifecycleOf(ob, current), ob.spec.packageRevID.revision, ob.git, ob.publishedBy ?? current.status?.publishedBy, ob.latest);
    const have = facts(current.spec.lifecycle, current.spec.packageRevID.revision, current.status?.git as ObservedRevision['git'], current.status?.publishedBy, current.metadata.labels?.[LABEL_LATEST] === 'true');
    return want !== have;
  }

  /** Writes the Reconciling condition (work in progress) of a Repository; failures are logged only. */
  async reportProgress(repo: Repository, reason: string, message: string): Promise<void> {
    const ns = repo.metadata.namespace!;
    const name = repo.metadata.name!;
    this.log.info({ repository: `${ns}/${name}` }, message);
    await this.writeStatus(repo, 'repository progress', (status, cur) => {
      status.conditions = setCondition(status.conditions, { type: RECONCILING, status: 'True', reason, message }, cur.metadata.generation);
    });
  }

  /** Updates the stored PackageRevision to what git says (lifecycle, revision, commit, the latest label). */
  private async apply(ns: string, ob: ObservedRevision, current: PackageRevision): Promise<void> {
    const ctx = { ...this.o.context, mirror: true };
    const status = this.observedStatus(ob, current);
    const lifecycle = this.lifecycleOf(ob, current);
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
        if (ob.latest) labels[LABEL_LATEST] = 'true';
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

/** Progress of one sync: "synced 5000/10000 revisions" in the Reconciling condition and the log, at most once a second. */
class Progress {
  private last = 0;
  private reported = false;
  private readonly started = Date.now();

  constructor(
    private readonly r: RepositoryReconciler,
    private readonly repo: Repository,
    private readonly total: number,
    /** revisions that match git (already, or written by this sync) */
    public synced: number,
    private readonly enabled: boolean,
  ) {}

  async report(first = false): Promise<void> {
    if (!this.enabled || (!first && Date.now() - this.last < PROGRESS_INTERVAL_MS)) return;
    this.last = Date.now();
    this.reported = true;
    await this.r.reportProgress(this.repo, 'Syncing', `synced ${this.synced}/${this.total} revisions`);
  }

  /** The end of a sync that reported progress, in the log (the status says Ready). */
  finished(): void {
    if (this.reported) this.r.log.info({ repository: `${this.repo.metadata.namespace}/${this.repo.metadata.name}`, ms: Date.now() - this.started }, `synced ${this.synced}/${this.total} revisions`);
  }
}
