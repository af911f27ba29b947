// What a repository holds, as PackageRevisions (SPEC 4.4): published revisions from tags (with
// the commit trailer's spec, or a plain catalog revision for tags made outside the server), drafts
// and proposed revisions from branches, and the repairs of interrupted publishes (a missing tag is
// created, a branch left behind deleted). The repository controller writes the result into the
// store through the API.
import { timestamp } from '../api/meta.ts';
import { compareRevisions, packageRevisionName, workspaceForRevision, type PackageRevisionSpec } from '../api/pkg.ts';
import type { PackageRepo } from '../storage/git/packages.ts';
import { packageKey, parseTrailer, type PackageKey, type Trailer } from '../storage/git/layout.ts';

/** What git says one PackageRevision is. */
export interface Observed {
  name: string;
  key: PackageKey;
  spec: PackageRevisionSpec;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  git: { branch?: string; tag?: string; commit: string };
  publishedBy?: string;
  publishTimestamp?: string;
}

interface CommitFacts {
  trailer?: Trailer;
  author: string;
  time: string;
  parent?: string;
}

/** One observed revision, and whether it is the newest published one of its package. */
export type ObservedRevision = Observed & { latest: boolean };

export interface Observation {
  revisions: ObservedRevision[];
  packages: number;
  /** the repository branch's head commit */
  head?: string;
}

export interface ObserveOptions {
  /**
   * Called after the fetch and after every OBSERVE_PAGE commits read: the caller may wait there
   * (for its turn among other repositories' syncs).
   */
  pace?: () => Promise<void>;
}

/** Commits read between two calls of ObserveOptions.pace. */
export const OBSERVE_PAGE = 500;

export class RepositoryObserver {
  /** commit oid → its trailer and author (commits never change) */
  private readonly commits = new Map<string, CommitFacts>();

  constructor(private readonly opts: { historyDepth?: number; log?: (msg: string) => void } = {}) {}

  private async facts(repo: PackageRepo, commit: string): Promise<CommitFacts> {
    let f = this.commits.get(commit);
    if (!f) {
      const info = await repo.git.readCommit(commit);
      f = { trailer: parseTrailer(info.message), author: info.author.name, time: timestamp(new Date(info.author.timestamp * 1000)), parent: info.parents[0] };
      if (this.commits.size > 200_000) this.commits.clear();
      this.commits.set(commit, f);
    }
    return f;
  }

  /**
   * Fetches, finishes interrupted publishes (a missing tag; a branch left behind), and says which
   * revisions git holds. `name` is the Repository's name.
   */
  async observe(repo: PackageRepo, name: string, opts: ObserveOptions = {}): Promise<Observation> {
    await repo.withLock(async () => {
      await repo.fetch();
      repo.invalidate(); // a local repository may have been changed by others
    });
    await opts.pace?.();
    await repo.withLock(() => this.completeTags(repo));
    const refs = await repo.refs();
    const observed = new Map<string, Observed>();
    // commits not read before, read in pages with a turn each (opts.pace)
    let reads = 0;
    const facts = async (commit: string) => {
      if (!this.commits.has(commit) && ++reads % OBSERVE_PAGE === 0) await opts.pace?.();
      return this.facts(repo, commit);
    };

    for (const [tag, commit] of refs.tags) {
      const parsed = repo.layout.parseTag(tag);
      if (!parsed) continue;
      const c = await facts(commit);
      const t = c.trailer;
      const fromServer = t && t.spec.packageRevID.revision === parsed.revision && repo.layout.packagePath(packageKey(t.spec.packageRevID)) === repo.layout.packagePath(parsed.key);
      const ws = fromServer ? t.spec.packageRevID.workspace : workspaceForRevision(parsed.revision);
      const spec: PackageRevisionSpec = fromServer
        ? { ...t.spec, lifecycle: 'published' }
        : { packageRevID: { ...parsed.key, repository: name, workspace: ws, revision: parsed.revision }, lifecycle: 'published', updatePolicy: 'loose', tasks: [{ type: 'init' }] };
      spec.packageRevID = { ...spec.packageRevID, repository: name };
      observed.set(packageRevisionName(spec.packageRevID), {
        name: packageRevisionName(spec.packageRevID),
        key: parsed.key,
        spec,
        labels: fromServer ? t.labels : undefined,
        annotations: fromServer ? t.annotations : undefined,
        git: { tag, commit },
        publishedBy: (fromServer && t.publishedBy) || c.author,
        publishTimestamp: (fromServer && t.publishTimestamp) || c.time,
      });
    }

    const staleBranches: string[] = [];
    for (const [branch, commit] of refs.heads) {
      const parsed = repo.layout.parseBranch(branch);
      if (!parsed) continue;
      const id = { ...parsed.key, repository: name, workspace: parsed.workspace };
      const n = packageRevisionName(id);
      if (observed.has(n)) {
        staleBranches.push(branch); // published already: the publish stopped before deleting its branch
        continue;
      }
      const t = (await facts(commit)).trailer;
      const spec: PackageRevisionSpec = t && packageRevisionName({ ...t.spec.packageRevID, repository: name }) === n ? { ...t.spec } : { packageRevID: id, lifecycle: parsed.kind, updatePolicy: 'loose', tasks: [{ type: 'init' }] };
      spec.packageRevID = { ...spec.packageRevID, repository: name, revision: undefined };
      delete spec.packageRevID.revision;
      spec.lifecycle = parsed.kind;
      const existing = observed.get(n);
      if (existing?.git.branch?.startsWith('proposed/') && parsed.kind === 'draft') continue; // both exist after an interrupted rename: proposed wins
      observed.set(n, { name: n, key: parsed.key, spec, labels: t?.labels, annotations: t?.annotations, git: { branch, commit } });
    }
    if (staleBranches.length)
      await repo.withLock(async () => {
        for (const b of staleBranches) await repo.deleteBranch(b);
      });

    const latest = latestPerPackage(observed, repo);
    const revisions = [...observed.values()].map((o) => ({ ...o, latest: latest.get(repo.layout.packagePath(o.key)) === o.name }));
    const packages = new Set(revisions.map((o) => repo.layout.packagePath(o.key)));
    return { revisions, packages: packages.size, head: (await repo.head()) ?? undefined };
  }

  /**
   * A publish whose commit reached the branch but whose tag did not: tag it now. Such a publish
   * still has its proposed branch with the same package content (publish deletes the branch only
   * after tagging); a publish commit with neither its tag nor that branch is a revision deleted
   * since, and stays deleted.
   */
  private async completeTags(repo: PackageRepo): Promise<void> {
    let commit = await repo.head();
    const { tags, heads } = await repo.refs();
    for (let i = 0; commit && i < (this.opts.historyDepth ?? 50); i++) {
      const { trailer: t, parent } = await this.facts(repo, commit);
      if (t?.spec.lifecycle === 'published' && t.spec.packageRevID.revision) {
        const key = packageKey(t.spec.packageRevID);
        const tag = repo.layout.tag(key, t.spec.packageRevID.revision);
        if (tags.has(tag)) break; // everything older was tagged already
        const proposed = heads.get(repo.layout.proposedBranch(key, t.spec.packageRevID.workspace));
        const dir = repo.layout.packagePath(key);
        if (proposed && JSON.stringify(await repo.git.listTree(proposed, dir)) === JSON.stringify(await repo.git.listTree(commit, dir))) {
          this.opts.log?.(`finishing an interrupted publish in ${repo.cfg.name}: creating tag ${tag} on ${commit}`);
          await repo.tag(tag, commit);
        }
      }
      commit = parent ?? null;
    }
  }
}

/** The newest published revision of each package path → its name. */
function latestPerPackage(observed: Map<string, Observed>, repo: PackageRepo): Map<string, string> {
  const best = new Map<string, Observed>();
  for (const o of observed.values()) {
    if (o.spec.lifecycle !== 'published' || !o.spec.packageRevID.revision) continue;
    const p = repo.layout.packagePath(o.key);
    const b = best.get(p);
    if (!b || compareRevisions(o.spec.packageRevID.revision, b.spec.packageRevID.revision!) > 0) best.set(p, o);
  }
  return new Map([...best].map(([p, o]) => [p, o.name]));
}
