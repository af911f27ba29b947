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
import { WorkQueue } from './queue.ts';

export interface RepositoryControllerOptions {
  repositories: Registry;
  packageRevisions: Registry;
  engine: PackageEngine;
  logger: Logger;
  context: RequestContext;
  /** how far back the branch history is searched for publishes whose tag is missing */
  historyDepth?: number;
}

export class RepositoryController {
  private readonly queue: WorkQueue;
  private stopWatch?: () => void;
  /** last generation + annotations seen per Repository: status writes do not re-trigger a sync */
  private readonly seen = new Map<string, string>();
  private readonly log: Logger;

  constructor(private readonly o: RepositoryControllerOptions) {
    this.log = o.logger.child({ controller: 'repository' });
    this.queue = new WorkQueue((key) => this.reconcile(key), {
      workers: 4,
      baseDelayMs: 1000,
      maxDelayMs: 60_000,
      onError: (key, err) => this.log.warn({ repository: key, err: (err as Error).message }, 'sync failed'),
    });
  }

  start(): void {
    this.stopWatch = this.o.repositories.watch(undefined, { sendInitialEvents: true }, {
      send: (type, obj) => {
        const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
        if (type === 'DELETED') {
          this.seen.delete(key);
          this.queue.add(key);
          return;
        }
        const fingerprint = `${obj.metadata.generation}|${JSON.stringify(obj.metadata.annotations ?? {})}`;
        if (this.seen.get(key) === fingerprint) return;
        this.seen.set(key, fingerprint);
        this.queue.add(key);
      },
    });
    // revisions whose Repository is gone (deleted while the server was down)
    const names = new Set(this.o.repositories.list(undefined, {}).items.map((r) => `${r.metadata.namespace}/${r.metadata.name}`));
    for (const pr of this.o.packageRevisions.list(undefined, {}).items as PackageRevision[]) {
      const key = `${pr.metadata.namespace}/${pr.spec.packageRevID.repository}`;
      if (!names.has(key)) this.queue.add(key);
    }
  }

  async stop(): Promise<void> {
    this.stopWatch?.();
    await this.queue.stop();
  }

  private async reconcile(key: string): Promise<void> {
    const [ns, name] = key.split('/');
    let repoObj: Repository | undefined;
    try {
      repoObj = this.o.repositories.get(ns, name) as Repository;
    } catch {
      repoObj = undefined;
    }
    if (!repoObj || repoObj.metadata.deletionTimestamp) {
      await this.removeRevisions(ns, name);
      this.o.engine.forget(ns, name);
      this.queue.forget(key);
      return;
    }
    const started = Date.now();
    try {
      // the same lock as API writes of this repository's revisions
      const counts = await this.o.packageRevisions.withLockKey(`${ns}/${name}`, () => this.sync(repoObj!, ns, name));
      await this.setStatus(ns, name, { type: 'Ready', status: 'True', reason: 'Synced', message: `synced in ${Date.now() - started} ms` }, counts);
      this.log.debug({ repository: key, ms: Date.now() - started, ...counts }, 'synced');
    } catch (e) {
      const reason = (e instanceof PackageUnavailableError && e.reason) || 'SyncFailed';
      const hint =
        reason === 'AuthenticationFailed'
          ? ' (check spec.git.credentials and the credentials it names)'
          : reason === 'Unreachable'
            ? ' (check spec.git.url and that the git server is up; the sync retries with backoff)'
            : '';
      await this.setStatus(ns, name, { type: 'Ready', status: 'False', reason, message: `${(e as Error).message}${hint}` });
      throw e;
    } finally {
      const period = parseDuration(repoObj.spec.sync.period) ?? 60;
      this.queue.addAfter(key, period * 1000);
    }
  }

  private async setStatus(ns: string, name: string, cond: Omit<Condition, 'lastTransitionTime'>, counts?: { packages: number; revisions: number; head?: string }): Promise<void> {
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
