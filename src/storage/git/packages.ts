// Package-level git operations on one repository (SPEC 4.2, 4.3): drafts on branches, publish as
// a commit on the repository branch plus a lightweight tag, deletion. Every method runs under
// the repository's lock; writes to the shared branch are compare-and-swap and, when the remote
// moved, re-fetched, rebuilt on the new head and retried.
import { GitObjectNotFoundError } from './objects.ts';
import { GitConflictError, GitPartialUpdateError, GitRepo, type GitIdentity, type RefUpdate, type UpdateRefsOptions } from './repo.ts';
import { compareRevisions, Layout, parseTrailer, revisionMajor, type PackageKey, type Trailer } from './layout.ts';
import { holds, runHolding } from '../../util/held.ts';
import type { StoreLocks } from '../store/coordination.ts';

/** A package's files: path relative to the package directory → content. */
export type Files = Map<string, Buffer>;

export interface RepoConfig {
  namespace: string;
  name: string;
  /** the URL as the Repository names it (for Kptfile upstreams) */
  url: string;
  ref: string;
  directory: string;
  deployment: boolean;
}

export interface Refs {
  heads: Map<string, string>;
  tags: Map<string, string>;
}

/** Attempts of a write to the shared branch that loses its compare-and-swap to other writers. */
const MAX_PUSH_ATTEMPTS = 12;

/**
 * A test hook: `PKGSERVER_TEST_PAUSE=<step>` stops a publish at that step (the test kills the
 * process). Steps: `before-push` (the publish commit written, nothing sent), `after-push` (the
 * remote took the commit, the tag and the branch deletion in one atomic request; the clone's refs
 * not moved yet), and for a remote without atomic pushes `after-commit` (the commit is on the
 * branch, no tag) and `after-tag` (commit and tag, the proposed branch still there).
 */
async function testPause(step: string, log?: (msg: string) => void): Promise<void> {
  if (process.env.PKGSERVER_TEST_PAUSE !== step) return;
  log?.(`test pause at ${step}`);
  await new Promise(() => {});
}

export class PackageRepo {
  readonly layout: Layout;
  private refsCache?: Refs;
  private mainPackages?: { head: string; paths: string[] };

  constructor(
    readonly cfg: RepoConfig,
    readonly git: GitRepo,
    private readonly log?: (msg: string) => void,
    /** the store's locks (several replicas): every locked section also holds the repository's lock there */
    private readonly locks?: StoreLocks,
  ) {
    this.layout = new Layout(cfg.directory, cfg.deployment);
  }

  /** The name of this repository's lock in the store. */
  get lockName(): string {
    return `git/${this.cfg.namespace}/${this.cfg.name}`;
  }

  get mainRef(): string {
    return `refs/heads/${this.cfg.ref}`;
  }

  /**
   * Runs `fn` alone among this repository's locked sections: in this process (GitRepo's mutex)
   * and, with several replicas, across them (the store lock `lockName`, taken once per outermost
   * section). When another replica held the store lock since this one did, the clone is fetched
   * first, so `fn` sees that replica's pushes (tags, branches) before it writes.
   */
  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.git.withLock(() => {
      const locks = this.locks;
      if (!locks || holds(this)) return fn();
      return runHolding(this, () =>
        locks.hold(this.lockName, async (held) => {
          if (held.stale) await this.fetch();
          return fn();
        }),
      );
    });
  }

  /** Fetches from the remote (nothing for a local repository) and forgets the cached refs. */
  async fetch(): Promise<void> {
    await this.git.fetch();
    this.refsCache = undefined;
  }

  /** Branches and tags, cached until the next write or fetch. */
  async refs(): Promise<Refs> {
    if (!this.refsCache) {
      const [heads, tags] = await Promise.all([this.git.listRefs('refs/heads/'), this.git.listRefs('refs/tags/')]);
      this.refsCache = { heads, tags };
    }
    return this.refsCache;
  }

  /** Forgets cached refs (after a ref changed outside this object, e.g. a local repository). */
  invalidate(): void {
    this.refsCache = undefined;
  }

  async head(): Promise<string | null> {
    return (await this.refs()).heads.get(this.cfg.ref) ?? null;
  }

  async files(commit: string, key: PackageKey): Promise<Files> {
    await this.needCommit(commit);
    return this.git.readFiles(commit, this.layout.packagePath(key));
  }

  /** The git tree of a package at a commit (its content's identity), or null when absent. */
  async packageTree(commit: string, key: PackageKey): Promise<string | null> {
    await this.needCommit(commit);
    return this.git.treeOf(commit, this.layout.packagePath(key));
  }

  async trailer(commit: string): Promise<Trailer | undefined> {
    await this.needCommit(commit);
    return parseTrailer((await this.git.readCommit(commit)).message);
  }

  /**
   * Before a read of a commit named by the store: with several replicas the commit may have been
   * pushed by another one and not be in this clone yet. Then the clone is fetched (one fetch
   * shared by the readers that asked for it meanwhile); a commit that is still missing is a
   * GitObjectNotFoundError (never the empty package a read of nothing would give).
   */
  private async needCommit(commit: string): Promise<void> {
    if (await this.git.hasObject(commit)) return;
    await this.fetchSoon();
    if (!(await this.git.hasObject(commit))) throw new GitObjectNotFoundError(commit);
  }

  private fetchRunning?: Promise<void>;
  private fetchQueued?: Promise<void>;

  /**
   * A fetch that starts now or, when one is running (it may have started before what the caller
   * looks for was pushed), right after it; callers that ask while one waits share it.
   */
  private fetchSoon(): Promise<void> {
    if (!this.fetchRunning) {
      this.fetchRunning = this.fetch().finally(() => {
        this.fetchRunning = undefined;
      });
      return this.fetchRunning;
    }
    this.fetchQueued ??= this.fetchRunning
      .catch(() => {})
      .then(() => {
        this.fetchQueued = undefined;
        return this.fetchSoon();
      });
    return this.fetchQueued;
  }

  /** Published revisions of a package (from its tags), oldest first. */
  async published(key: PackageKey): Promise<{ revision: string; commit: string; tag: string }[]> {
    const prefix = `${this.layout.packagePath(key)}/`;
    const out: { revision: string; commit: string; tag: string }[] = [];
    for (const [tag, commit] of (await this.refs()).tags) {
      if (!tag.startsWith(prefix)) continue;
      const parsed = this.layout.parseTag(tag);
      if (parsed && this.layout.packagePath(parsed.key) === this.layout.packagePath(key)) out.push({ revision: parsed.revision, commit, tag });
    }
    return out.sort((a, b) => compareRevisions(a.revision, b.revision));
  }

  /** `v<highest published major + 1>` */
  async nextRevision(key: PackageKey): Promise<string> {
    const majors = (await this.published(key)).map((p) => revisionMajor(p.revision));
    return `v${Math.max(0, ...majors) + 1}`;
  }

  /** Package paths on the main branch (directories holding a Kptfile), cached per head commit. */
  async packagesOnMain(): Promise<string[]> {
    const head = await this.head();
    if (!head) return [];
    if (this.mainPackages?.head !== head) this.mainPackages = { head, paths: (await this.git.findPackages(head, this.cfg.directory)).map((p) => p.path) };
    return this.mainPackages.paths;
  }

  // ---------------------------------------------------------------- writes

  private async setRefs(updates: RefUpdate[], opts?: UpdateRefsOptions): Promise<void> {
    try {
      await this.git.updateRefs(updates, opts);
    } finally {
      this.refsCache = undefined;
    }
  }

  private setRef(ref: string, newOid: string | null, expectedOld: string | null): Promise<void> {
    return this.setRefs([{ ref, newOid, expectedOld }]);
  }

  /**
   * Runs `attempt` with the current head of the main branch and moves the branch to its commit,
   * together with the attempt's other ref updates (`also`), in one request: all or none. When
   * that loses (someone else pushed), fetches and tries again on the new head; the attempt checks
   * its own preconditions again (it throws when they no longer hold).
   */
  private async onMain<T>(
    attempt: (head: string | null) => Promise<{ commit: string; result: T; also?: RefUpdate[] }>,
    opts?: UpdateRefsOptions,
  ): Promise<T> {
    for (let i = 1; ; i++) {
      const head = await this.head();
      const { commit, result, also = [] } = await attempt(head);
      try {
        await this.setRefs([{ ref: this.mainRef, newOid: commit, expectedOld: head }, ...also], opts);
        return result;
      } catch (e) {
        // a remote without atomic pushes that took the branch already: not something to redo
        if (e instanceof GitPartialUpdateError && e.applied.includes(this.mainRef)) throw e;
        if (!(e instanceof GitConflictError) || i >= MAX_PUSH_ATTEMPTS) throw e;
        this.log?.(`${this.cfg.name}: ${this.cfg.ref} moved, rebuilding on the new head (attempt ${i + 1})`);
        // a jittered pause, growing with each lost race, so competing writers stop colliding
        await new Promise((r) => setTimeout(r, Math.random() * 50 * i));
        await this.fetch();
      }
    }
  }

  /** Creates `branch` with one commit: the main branch's tree with the package replaced by `files`. */
  async createBranch(branch: string, key: PackageKey, files: Files, message: string, author: GitIdentity): Promise<string> {
    const head = await this.head();
    const commit = await this.git.commitFiles({ parent: head, dir: this.layout.packagePath(key), files, message, author });
    await this.setRef(`refs/heads/${branch}`, commit, null);
    return commit;
  }

  /** One commit on `branch` replacing the package's files. */
  async commitToBranch(branch: string, key: PackageKey, files: Files, message: string, author: GitIdentity): Promise<string> {
    const ref = `refs/heads/${branch}`;
    const head = (await this.refs()).heads.get(branch);
    if (!head) throw new GitConflictError(`branch ${branch} does not exist`);
    const commit = await this.git.commitFiles({ parent: head, dir: this.layout.packagePath(key), files, message, author });
    await this.setRef(ref, commit, head);
    return commit;
  }

  /**
   * Renames a branch (drafts/… ↔ proposed/…): both refs in one request (a remote without atomic
   * pushes: the new one first, so a crash never loses the commit).
   */
  async renameBranch(from: string, to: string): Promise<string> {
    const commit = (await this.refs()).heads.get(from);
    if (!commit) throw new GitConflictError(`branch ${from} does not exist`);
    const existing = (await this.refs()).heads.get(to);
    if (existing && existing !== commit) await this.setRef(`refs/heads/${to}`, null, existing); // a leftover
    await this.setRefs([
      ...(existing !== commit ? [{ ref: `refs/heads/${to}`, newOid: commit, expectedOld: null }] : []),
      { ref: `refs/heads/${from}`, newOid: null, expectedOld: commit },
    ]);
    return commit;
  }

  /** Deletes a branch; one that is gone from the remote already (deleted by another server) is fine. */
  async deleteBranch(branch: string): Promise<void> {
    const commit = (await this.refs()).heads.get(branch);
    if (!commit) return;
    try {
      await this.setRef(`refs/heads/${branch}`, null, commit);
    } catch (e) {
      if (!(e instanceof GitConflictError)) throw e;
      await this.fetch();
      if ((await this.refs()).heads.has(branch)) throw e;
    }
  }

  /**
   * Publishes the package from `branch` as `revision`: one commit on the main branch that changes
   * only the package directory, the lightweight tag on it and the deletion of the branch, in one
   * atomic request (when the main branch moved: fetch, rebuild, retry). A tag that exists, or a
   * branch that moved or vanished, is a GitConflictError and nothing changes.
   * A remote without atomic pushes gets commit, tag and branch deletion in that order; a crash in
   * between leaves what the repository sync finishes (a publish commit without its tag, a tag whose
   * proposed branch is still there).
   */
  async publish(branch: string, key: PackageKey, revision: string, message: string, author: GitIdentity): Promise<{ commit: string; tag: string }> {
    const branchRef = `refs/heads/${branch}`;
    const draft = (await this.refs()).heads.get(branch);
    if (!draft) throw new GitConflictError(`branch ${branch} does not exist`);
    const files = await this.files(draft, key);
    const dir = this.layout.packagePath(key);
    const tag = this.layout.tag(key, revision);
    const tagRef = `refs/tags/${tag}`;
    const afterPush = async (refs: string[]): Promise<void> => {
      if (refs.includes(this.mainRef) && refs.includes(tagRef)) await testPause('after-push', this.log);
      else if (refs.includes(this.mainRef)) await testPause('after-commit', this.log);
      else if (refs.includes(tagRef)) await testPause('after-tag', this.log);
    };
    try {
      const commit = await this.onMain(
        async (head) => {
          const refs = await this.refs();
          if (refs.tags.has(tag)) throw new GitConflictError(`tag ${tag} exists`);
          if (refs.heads.get(branch) !== draft) throw new GitConflictError(`branch ${branch} ${refs.heads.has(branch) ? 'moved' : 'is gone'}`);
          const c = await this.git.commitFiles({ parent: head, dir, files, message, author });
          await testPause('before-push', this.log);
          return {
            commit: c,
            result: c,
            also: [
              { ref: tagRef, newOid: c, expectedOld: null },
              { ref: branchRef, newOid: null, expectedOld: draft },
            ],
          };
        },
        { afterPush },
      );
      return { commit, tag };
    } catch (e) {
      // A remote without atomic pushes took the commit and the tag but not the branch deletion
      // (another server's sync deleted it first, the remote just went away): the revision is
      // published; the repository sync deletes a leftover branch of a published revision.
      if (e instanceof GitPartialUpdateError && e.applied.includes(tagRef)) {
        this.log?.(`${this.cfg.name}: published ${tag}, but branch ${branch} was not deleted (the sync will): ${e.message}`);
        return { commit: (await this.refs()).tags.get(tag)!, tag };
      }
      throw e;
    }
  }

  /** Creates a missing tag of a publish that was interrupted after its commit. */
  async tag(tag: string, commit: string): Promise<void> {
    if ((await this.refs()).tags.get(tag) === commit) return;
    await this.setRef(`refs/tags/${tag}`, commit, null);
  }

  /**
   * Deletes a published revision's tag; `removePackage`: also one commit removing its directory
   * from the main branch, in the same request as the tag deletion.
   */
  async deleteRevision(tag: string, key: PackageKey, removePackage: boolean, message: string, author: GitIdentity): Promise<void> {
    const tagRef = `refs/tags/${tag}`;
    const dir = this.layout.packagePath(key);
    const head = await this.head();
    if (removePackage && head && (await this.git.listTree(head, dir)).length > 0) {
      await this.onMain(async (h) => {
        const commit = (await this.refs()).tags.get(tag);
        return {
          commit: await this.git.commitFiles({ parent: h, dir, files: null, message, author }),
          result: undefined,
          also: commit ? [{ ref: tagRef, newOid: null, expectedOld: commit }] : [],
        };
      });
      return;
    }
    const commit = (await this.refs()).tags.get(tag);
    if (commit) await this.setRef(tagRef, null, commit);
  }
}
