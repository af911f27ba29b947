// The package engine (Porch's engine): the package domain between the API and git. Every API
// write that changes a revision's content or lifecycle does its git work here, under the
// repository's lock, before the object is stored (so the API never reports what git does not
// have): the tasks that make a draft (init, clone, upgrade), propose and reject, publishing,
// deletion, the package context and the Kptfile, and the files of PackageRevisionResources. It
// opens repositories (bare clones of remotes in the data directory, or local bare repositories
// used directly) and raises the domain errors of ./errors.ts, never HTTP ones.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import client from 'prom-client';
import type { Repository } from '../api/config.ts';
import { timestamp } from '../api/meta.ts';
import { ANNOTATION_ALLOW_BREAKING_CRDS, compareRevisions, LABEL_LATEST, type PackageRevision } from '../api/pkg.ts';
import { fieldErr } from '../api/fielderrors.ts';
import { canonicalPath, isWithin, localPath, localPathError } from '../api/localrepos.ts';
import { transition } from './lifecycle.ts';
import { RepositoryObserver, type Observation, type ObserveOptions } from './sync.ts';
import { TASKS, type TaskEnv } from './tasks.ts';
import { PackageConflictError, PackageExistsError, PackageInvalidError, PackageUnavailableError } from './errors.ts';
import type { Credentials } from '../storage/git/credentials.ts';
import { GitAuthError, GitConflictError, GitRepo, GitUnreachableError, type GitAuth, type GitIdentity } from '../storage/git/repo.ts';
import { PackageRepo } from '../storage/git/packages.ts';
import { GitObjectNotFoundError } from '../storage/git/objects.ts';
import { LockTimeoutError, type RevisionAllocator, type StoreLocks } from '../storage/store/coordination.ts';
import { commitMessage, packageKey, type PackageKey, type Trailer } from '../storage/git/layout.ts';
import { packageDocuments, type PackageDocuments } from './documents.ts';
import { crdBreaks } from './crdsafety.ts';
import { fromFiles, KPTFILE, packageProblems, toFiles, validateFiles, withManagedFiles, type Files } from './content.ts';

/** Who does the work: recorded as the author of commits and as publishedBy. */
export interface EngineContext {
  user: { name: string };
}

export interface EngineOptions {
  dataDir: string;
  /** where local repositories may be (checked again when one is opened) */
  localRepositories?: { roots: string[]; dataDir: string };
  credentials: Credentials;
  /** Repository object by namespace and name */
  repository(namespace: string, name: string): Repository | undefined;
  committer: GitIdentity;
  timeoutMs?: number;
  log?: (msg: string) => void;
  /** debug-level messages */
  debug?: (msg: string) => void;
  /**
   * Several replicas on one store (etcd): git writes hold a lock in the store per repository and
   * revision numbers come from a CAS'd counter in the store (src/storage/store/coordination.ts).
   * Absent with SQLite: one process, in-process locks, numbers from the git tags under them.
   */
  coordination?: { locks: StoreLocks; revisions: RevisionAllocator };
}

/** Ready: the revision's content is in git (a branch or a tag) and can be read. */
export function withReady(status: PackageRevision['status'], reason: string, message: string): NonNullable<PackageRevision['status']> {
  const conditions = (status?.conditions ?? []).filter((c) => c.type !== 'Ready');
  const old = status?.conditions?.find((c) => c.type === 'Ready');
  const same = old?.status === 'True' && old.reason === reason;
  conditions.push({ type: 'Ready', status: 'True', reason, message, lastTransitionTime: same ? old!.lastTransitionTime : timestamp() });
  return { ...(status ?? {}), conditions };
}

const unavailable = (message: string) => new PackageUnavailableError(message);

/** A package's files, path → content, as PackageRevisionResources shows them. */
export type Resources = Readonly<Record<string, string>>;
const NO_RESOURCES: Resources = Object.freeze({});
/** Bound on the cached files of PackageRevisionResources: 64 MiB, counted as the characters of paths and contents. */
const RESOURCES_CACHE_SIZE = 64 * 2 ** 20;
/** Packages whose extracted documents are kept in memory. */
const DOCUMENTS_CACHE_ENTRIES = 5000;
/** Version of the stored extraction: a change of ./documents.ts's output bumps it. */
const DOCUMENTS_FORMAT = 1;
/**
 * Where the documents of a revision came from (memory, the data directory's cache, or git): after
 * a restart with nothing changed, discovery reads none from git. Registered by the server.
 */
export const documentReads = new client.Counter({ name: 'pkgserver_package_documents_total', help: 'Extracted package documents read, by source (memory, disk, git)', labelNames: ['source'], registers: [] });

/** git's empty tree: the documents of a package directory that is not there */
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/**
 * A git failure as the package domain sees it: an unreachable remote (no answer within the git
 * timeout included) or refused credentials are "unavailable", a lost compare-and-swap a conflict;
 * anything else as it is. The messages name the remote, never credentials, and the Repository
 * when one is given (a user's request; the repository sync reports on the Repository itself).
 */
function translate(e: unknown, repository?: string): never {
  const named = (err: Error, what: string) => (repository ? `Repository "${repository}"${what}: ${err.message}` : err.message);
  if (e instanceof GitUnreachableError) throw new PackageUnavailableError(named(e, ' is unreachable'), 'Unreachable');
  if (e instanceof GitAuthError) throw new PackageUnavailableError(named(e, ''), 'AuthenticationFailed');
  if (e instanceof GitConflictError) throw new PackageConflictError(e.message);
  if (e instanceof LockTimeoutError) throw new PackageUnavailableError(named(e, ' is locked by another replica'), 'Locked');
  // a commit the store names that the clone does not have, even after a fetch
  if (e instanceof GitObjectNotFoundError) throw new PackageUnavailableError(named(e, " does not hold the revision's commit"));
  throw e;
}

/**
 * Refuses a write whose result would be over the package limits (./content.ts packageProblems):
 * 422, each cause on `field` (what made the files), naming the file and the limit.
 */
function overLimits(pr: PackageRevision, files: Files, field: string, what: string): void {
  const over = packageProblems(files);
  if (over.length) throw new PackageInvalidError(pr.kind ?? 'PackageRevision', pr.metadata.name!, over.map((e) => fieldErr.forbidden(field, `${what} would be over the package limits: ${e.field}: ${e.message}`)));
}

/** The identity recorded as author of a user's commits. */
export function authorOf(user: { name: string }): GitIdentity {
  return { name: user.name, email: user.name.includes('@') ? user.name : `${user.name}@pkgserver.local` };
}

export const keyOf = (pr: PackageRevision): PackageKey => packageKey(pr.spec.packageRevID);

export function trailerOf(pr: PackageRevision): Trailer {
  const t: Trailer = { name: pr.metadata.name!, spec: pr.spec };
  if (pr.metadata.labels && Object.keys(pr.metadata.labels).length) t.labels = Object.fromEntries(Object.entries(pr.metadata.labels).filter(([k]) => k !== LABEL_LATEST));
  if (pr.metadata.annotations && Object.keys(pr.metadata.annotations).length) t.annotations = pr.metadata.annotations;
  if (pr.status?.publishedBy) t.publishedBy = pr.status.publishedBy;
  if (pr.status?.publishTimestamp) t.publishTimestamp = pr.status.publishTimestamp;
  return t;
}

const describe = (pr: PackageRevision) => {
  const id = pr.spec.packageRevID;
  return `${id.package} ${id.revision || id.workspace} (${[id.target, id.repository, id.realm, id.package].filter(Boolean).join('/')})`;
};

export class PackageEngine {
  private readonly repos = new Map<string, { url: string; repo: Promise<PackageRepo> }>();

  private readonly observer: RepositoryObserver;

  constructor(private readonly opts: EngineOptions) {
    this.observer = new RepositoryObserver({ log: opts.log });
  }

  /** The open repository of a Repository object, opening (cloning) it when needed. */
  async repo(namespace: string, name: string): Promise<PackageRepo> {
    const r = this.opts.repository(namespace, name);
    if (!r) throw unavailable(`Repository "${name}" does not exist in namespace "${namespace}"`);
    return this.open(r);
  }

  open(r: Repository): Promise<PackageRepo> {
    const id = `${r.metadata.namespace}/${r.metadata.name}`;
    const known = this.repos.get(id);
    if (known && known.url === r.spec.git.url) {
      // the credentials are looked up on every use: they may have been fixed or rotated since
      return known.repo.then(async (repo) => {
        repo.git.setAuth(await this.auth(r));
        return repo;
      });
    }
    const repo = this.doOpen(r);
    this.repos.set(id, { url: r.spec.git.url, repo });
    repo.catch(() => this.repos.delete(id)); // a failed open is retried next time
    return repo;
  }

  /** The credentials `spec.git.credentials` names, as configured now. */
  private async auth(r: Repository): Promise<GitAuth | undefined> {
    if (!r.spec.git.credentials) return undefined;
    let auth: GitAuth | undefined;
    try {
      auth = await this.opts.credentials.lookup(r.metadata.namespace!, r.spec.git.credentials);
    } catch (e) {
      // the Secret could not be read (the cluster unreachable, no permission): try again later
      throw unavailable(`credentials "${r.spec.git.credentials}" of Repository "${r.metadata.name}" could not be read: ${(e as Error).message}`);
    }
    if (!auth) throw unavailable(`credentials "${r.spec.git.credentials}" of Repository "${r.metadata.name}" are not configured`);
    return auth;
  }

  private async doOpen(r: Repository): Promise<PackageRepo> {
    const url = r.spec.git.url;
    const local = !/^https?:\/\//.test(url);
    const auth = await this.auth(r);
    const gitdir = local
      ? this.localGitdir(r)
      : path.join(this.opts.dataDir, 'git', r.metadata.namespace!, `${r.metadata.name}-${createHash('sha256').update(url).digest('hex').slice(0, 12)}.git`);
    const git = await GitRepo.open({ gitdir, remote: local ? undefined : { url, auth }, timeoutMs: this.opts.timeoutMs, author: this.opts.committer }).catch((e) => {
      // the message would name the resolved path: say only that it cannot be opened
      if (local) throw unavailable(`Repository "${r.metadata.name}": spec.git.url is not a bare git repository the server can open`);
      throw e;
    });
    return new PackageRepo(
      { namespace: r.metadata.namespace!, name: r.metadata.name!, url, ref: r.spec.git.ref, directory: r.spec.git.directory, deployment: r.spec.deployment },
      git,
      this.opts.log,
      this.opts.coordination?.locks,
    );
  }

  /**
   * The directory of a local repository, checked again as it is opened (symbolic links may have
   * changed since the Repository was validated): allowed by the local repository policy
   * (src/api/localrepos.ts), its objects and refs inside it rather than links out of it. Resolved
   * once; git then uses the resolved path.
   */
  private localGitdir(r: Repository): string {
    const p = localPath(r.spec.git.url);
    const gitdir = p === undefined ? undefined : canonicalPath(p);
    const policy = this.opts.localRepositories ?? { roots: [], dataDir: this.opts.dataDir };
    const why =
      gitdir === undefined
        ? 'is not a local path the server can resolve'
        : (localPathError(gitdir, policy) ??
          (['objects', 'refs', 'packed-refs'].some((e) => !isWithin(canonicalPath(path.join(gitdir, e)) ?? '/', gitdir))
            ? 'must be a repository whose objects and refs are inside it, not symbolic links out of it'
            : undefined));
    if (why) throw unavailable(`Repository "${r.metadata.name}": spec.git.url ${why}`);
    return gitdir!;
  }

  /** Runs an operation with git's errors turned into the domain's (naming the revision's Repository). */
  private doing<T>(fn: () => Promise<T>, pr?: PackageRevision): Promise<T> {
    return fn().catch((e) => translate(e, pr?.spec.packageRevID.repository));
  }

  /** Fetches a repository and says which revisions it holds (the repository sync; ./sync.ts). */
  observe(r: Repository, opts: ObserveOptions = {}): Promise<Observation> {
    return this.doing(async () => this.observer.observe(await this.open(r), r.metadata.name!, opts));
  }

  /** Forgets a repository (its Repository was deleted); git data stays. */
  forget(namespace: string, name: string): void {
    const id = `${namespace}/${name}`;
    this.repos.get(id)?.repo.then((r) => r.git.close(), () => undefined);
    this.repos.delete(id);
  }

  // ---------------------------------------------------------------- hooks of the PackageRevision registry

  /** Creates the draft branch with the content of its task (./tasks.ts: init, clone, upgrade). */
  create(pr: PackageRevision, ctx: EngineContext): Promise<void> {
    return this.doing(() => this.doCreate(pr, ctx), pr);
  }

  private async doCreate(pr: PackageRevision, ctx: EngineContext): Promise<void> {
    const repo = await this.repo(pr.metadata.namespace!, pr.spec.packageRevID.repository);
    await repo.withLock(async () => {
      const key = keyOf(pr);
      await this.checkNesting(repo, pr);
      const task = pr.spec.tasks[0].type;
      const env: TaskEnv = { repo, repository: (name) => this.opts.repository(pr.metadata.namespace!, name), open: (r) => this.open(r) };
      const made = await TASKS[task](env, pr);
      const files = withManagedFiles(made.files, pr.spec.inputs, repo.cfg.deployment);
      const branch = repo.layout.draftBranch(key, pr.spec.packageRevID.workspace);
      if ((await repo.refs()).heads.has(branch))
        throw new PackageExistsError(`branch ${branch} already exists in repository ${repo.cfg.name}; the repository sync will adopt it`);
      overLimits(pr, files, 'spec.tasks[0]', `the package the ${task} task makes`);
      const subject = `Create draft ${describe(pr)} by ${pr.spec.tasks[0].type}`;
      const commit = await repo.createBranch(branch, key, files, commitMessage(subject, trailerOf(pr)), authorOf(ctx.user));
      const status = withReady(pr.status, 'DraftCreated', `draft branch ${branch}`);
      status.conditions = [...status.conditions!.filter((c) => !made.conditions?.some((m) => m.type === c.type)), ...(made.conditions ?? [])];
      pr.status = { ...status, git: { branch, commit } };
    });
  }

  /**
   * The next revision of a package: `v<highest published major + 1>` from the tags (under the
   * repository's lock); with several replicas, a CAS on the package's counter in the store, so a
   * number is never given out twice.
   */
  private async allocateRevision(repo: PackageRepo, key: PackageKey, ns: string, repository: string): Promise<string> {
    const fromGit = await repo.nextRevision(key);
    const coord = this.opts.coordination;
    if (!coord) return fromGit;
    const major = await coord.revisions.next(`${ns}/${repository}/${repo.layout.packagePath(key)}`, Number(fromGit.slice(1)) - 1);
    return `v${major}`;
  }

  /** A package directory may not be inside another package, nor hold one. */
  private async checkNesting(repo: PackageRepo, pr: PackageRevision): Promise<void> {
    const mine = repo.layout.packagePath(keyOf(pr));
    const refs = await repo.refs();
    const known = new Set<string>(await repo.packagesOnMain());
    for (const tag of refs.tags.keys()) {
      const t = repo.layout.parseTag(tag);
      if (t) known.add(repo.layout.packagePath(t.key));
    }
    for (const b of refs.heads.keys()) {
      const p = repo.layout.parseBranch(b);
      if (p) known.add(repo.layout.packagePath(p.key));
    }
    for (const other of known) {
      if (mine.startsWith(`${other}/`) || other.startsWith(`${mine}/`))
        throw new PackageInvalidError(pr.kind ?? 'PackageRevision', pr.metadata.name!, [
          fieldErr.invalid('spec.packageRevID', mine, `package directories may not nest: ${other} is ${mine.startsWith(`${other}/`) ? 'a package that contains it' : 'a package inside it'}`),
        ]);
    }
  }

  /** Git work of a lifecycle change (propose, reject, approve) or of a change of inputs. */
  update(next: PackageRevision, old: PackageRevision, ctx: EngineContext, sub: string | undefined): Promise<void> {
    return this.doing(() => this.doUpdate(next, old, ctx, sub), next);
  }

  private async doUpdate(next: PackageRevision, old: PackageRevision, ctx: EngineContext, sub: string | undefined): Promise<void> {
    if (sub === 'status') return;
    const repo = await this.repo(next.metadata.namespace!, next.spec.packageRevID.repository);
    const key = keyOf(next);
    const ws = next.spec.packageRevID.workspace;
    await repo.withLock(async () => {
      const t = transition(old.spec.lifecycle, next.spec.lifecycle);
      const git = { ...(next.status?.git ?? {}) };
      if (t === 'propose' || t === 'reject') {
        const from = repo.layout.branch(t === 'propose' ? 'draft' : 'proposed', key, ws);
        const to = repo.layout.branch(t === 'propose' ? 'proposed' : 'draft', key, ws);
        git.commit = await repo.renameBranch(from, to);
        git.branch = to;
      } else if (t === 'approve') {
        await this.checkCRDs(repo, next, key, repo.layout.proposedBranch(key, ws));
        const revision = await this.allocateRevision(repo, key, next.metadata.namespace!, next.spec.packageRevID.repository);
        next.spec.packageRevID.revision = revision;
        next.status = { ...(next.status ?? {}), publishedBy: ctx.user.name, publishTimestamp: timestamp() };
        next.metadata.labels = { ...(next.metadata.labels ?? {}), [LABEL_LATEST]: 'true' };
        const { commit, tag } = await repo.publish(repo.layout.proposedBranch(key, ws), key, revision, commitMessage(`Publish ${describe(next)}`, trailerOf(next)), authorOf(ctx.user));
        git.commit = commit;
        git.tag = tag;
        delete git.branch;
        next.status = withReady(next.status, 'Published', `tag ${tag} on ${repo.cfg.ref}`);
      } else if ((next.spec.lifecycle === 'draft' || next.spec.lifecycle === 'proposed') && JSON.stringify(next.spec.inputs ?? null) !== JSON.stringify(old.spec.inputs ?? null)) {
        const branch = repo.layout.branch(next.spec.lifecycle, key, ws);
        const current = await repo.files((await repo.refs()).heads.get(branch) ?? '', key);
        const files = withManagedFiles(current, next.spec.inputs, repo.cfg.deployment);
        overLimits(next, files, 'spec.inputs', 'the package with these inputs in its package-context.yaml');
        git.commit = await repo.commitToBranch(branch, key, files, commitMessage(`Update inputs of ${describe(next)}`, trailerOf(next)), authorOf(ctx.user));
      }
      next.status = { ...(next.status ?? {}), git };
    });
  }

  /**
   * Refuses to publish CustomResourceDefinitions that break the previous published revision's
   * (./crdsafety.ts: a version or field removed, a type changed, an enum narrowed, a new required
   * field, a default changed), each break a cause, unless the revision carries the override
   * annotation. Catalog and deployment revisions alike: publishing a deployment package's new
   * revision is its upgrade in place.
   */
  private async checkCRDs(repo: PackageRepo, next: PackageRevision, key: PackageKey, branch: string): Promise<void> {
    if (next.metadata.annotations?.[ANNOTATION_ALLOW_BREAKING_CRDS] === 'true') return;
    const previous = (await repo.published(key)).sort((a, b) => compareRevisions(a.revision, b.revision)).at(-1);
    if (!previous) return;
    const head = (await repo.refs()).heads.get(branch);
    if (!head) return;
    // only packages that mention CRDs are parsed
    const crds = async (commit: string) => {
      const files = fromFiles(await repo.files(commit, key));
      return Object.values(files).some((c) => c.includes('CustomResourceDefinition')) ? packageDocuments(files).crds : [];
    };
    const [before, after] = await Promise.all([crds(previous.commit), crds(head)]);
    const breaks = crdBreaks(before, after);
    if (!breaks.length) return;
    throw new PackageInvalidError(next.kind ?? 'PackageRevision', next.metadata.name!, [
      ...breaks.map((b) => fieldErr.forbidden('spec.lifecycle', `${b.message} (against ${previous.revision})`)),
      fieldErr.forbidden(`metadata.annotations[${ANNOTATION_ALLOW_BREAKING_CRDS}]`, `set to "true" to publish these breaking CustomResourceDefinition changes anyway (clients of the removed or changed fields will break)`),
    ]);
  }

  /** Removes a revision from git: a draft's branch, or a published revision's tag (and directory if last). */
  delete(pr: PackageRevision, ctx: EngineContext): Promise<void> {
    return this.doing(() => this.doDelete(pr, ctx), pr);
  }

  private async doDelete(pr: PackageRevision, ctx: EngineContext): Promise<void> {
    const repo = await this.repo(pr.metadata.namespace!, pr.spec.packageRevID.repository);
    const key = keyOf(pr);
    await repo.withLock(async () => {
      if (pr.spec.lifecycle === 'draft' || pr.spec.lifecycle === 'proposed') {
        await repo.deleteBranch(repo.layout.branch(pr.spec.lifecycle, key, pr.spec.packageRevID.workspace));
        return;
      }
      const revision = pr.spec.packageRevID.revision!;
      const others = (await repo.published(key)).filter((p) => p.revision !== revision);
      await repo.deleteRevision(repo.layout.tag(key, revision), key, others.length === 0, commitMessage(`Delete ${describe(pr)}`, trailerOf(pr)), authorOf(ctx.user));
    });
  }

  // ---------------------------------------------------------------- PackageRevisionResources

  /**
   * The decoded files of a package at a commit, by `<commit>:<package path>` (git objects never
   * change, so an entry never goes stale), bounded by RESOURCES_CACHE_SIZE; concurrent reads of
   * one entry share one git read.
   */
  private readonly resources = new LRUCache<string, Resources, { repo: PackageRepo; commit: string; key: PackageKey }>({
    maxSize: RESOURCES_CACHE_SIZE,
    sizeCalculation: (r) => Math.max(1, Object.entries(r).reduce((n, [p, c]) => n + p.length + c.length, 0)),
    fetchMethod: async (_k, _stale, { context: { repo, commit, key } }) => Object.freeze(fromFiles(await repo.files(commit, key))),
  });

  /** The files of a revision at its commit (shared and frozen: callers copy before changing them). */
  readResources(pr: PackageRevision): Promise<Resources> {
    return this.doing(async () => {
      const commit = pr.status?.git?.commit;
      if (!commit) return NO_RESOURCES;
      const repo = await this.repo(pr.metadata.namespace!, pr.spec.packageRevID.repository);
      const key = keyOf(pr);
      return this.resources.forceFetch(`${commit}:${repo.layout.packagePath(key)}`, { context: { repo, commit, key } });
    }, pr);
  }

  // ---------------------------------------------------------------- documents (discovery)

  /** Extracted documents by package tree id: git trees never change, so entries never go stale. */
  private readonly documentsCache = new LRUCache<string, PackageDocuments>({ max: DOCUMENTS_CACHE_ENTRIES });

  /**
   * The KRM documents of a revision (./documents.ts) with the git tree of its package: from memory,
   * else from `<data>/documents/<tree>.json` (so a restart reads no package file when nothing
   * changed), else read from git and extracted, and kept in both.
   */
  documents(pr: PackageRevision): Promise<{ tree: string; documents: PackageDocuments }> {
    return this.doing(async () => {
      const commit = pr.status?.git?.commit;
      if (!commit) throw unavailable(`${describe(pr)} has no commit yet`);
      const repo = await this.repo(pr.metadata.namespace!, pr.spec.packageRevID.repository);
      const tree = (await repo.packageTree(commit, keyOf(pr))) ?? EMPTY_TREE;
      const cached = this.documentsCache.get(tree);
      if (cached) {
        documentReads.inc({ source: 'memory' });
        return { tree, documents: cached };
      }
      const file = path.join(this.opts.dataDir, 'documents', `${tree}.json`);
      let docs: PackageDocuments | undefined;
      try {
        const stored = JSON.parse(await fs.readFile(file, 'utf8')) as { format: number; documents: PackageDocuments };
        if (stored.format === DOCUMENTS_FORMAT) docs = stored.documents;
      } catch {
        // not there yet, or unreadable: extract again
      }
      if (docs) documentReads.inc({ source: 'disk' });
      else {
        documentReads.inc({ source: 'git' });
        this.opts.debug?.(`documents of ${describe(pr)} read from git (tree ${tree})`);
        docs = packageDocuments({ ...(await this.readResources(pr)) });
        await fs.mkdir(path.dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        await fs.writeFile(tmp, JSON.stringify({ format: DOCUMENTS_FORMAT, documents: docs }));
        await fs.rename(tmp, file);
      }
      this.documentsCache.set(tree, docs);
      return { tree, documents: docs };
    }, pr);
  }

  /** One commit on the draft branch with the new files (strict: exactly these; loose: merged over). */
  writeResources(next: PackageRevision, resources: Record<string, string>, ctx: EngineContext): Promise<void> {
    return this.doing(() => this.doWriteResources(next, resources, ctx), next);
  }

  private async doWriteResources(next: PackageRevision, resources: Record<string, string>, ctx: EngineContext): Promise<void> {
    const errs = validateFiles(resources);
    if (errs.length) throw new PackageInvalidError('PackageRevisionResources', next.metadata.name!, errs);
    const repo = await this.repo(next.metadata.namespace!, next.spec.packageRevID.repository);
    const key = keyOf(next);
    await repo.withLock(async () => {
      const branch = repo.layout.draftBranch(key, next.spec.packageRevID.workspace);
      const head = (await repo.refs()).heads.get(branch);
      if (!head) throw unavailable(`branch ${branch} is missing in repository ${repo.cfg.name}; the repository sync will reconcile it`);
      const current = await repo.files(head, key);
      const base = next.spec.updatePolicy === 'strict' ? new Map<string, Buffer>() : new Map(current);
      for (const [p, c] of toFiles(resources)) base.set(p, c);
      if (!base.has(KPTFILE))
        throw new PackageInvalidError('PackageRevisionResources', next.metadata.name!, [fieldErr.required(`spec.resources[${KPTFILE}]`, 'a package needs its Kptfile')]);
      const files = withManagedFiles(base, next.spec.inputs, repo.cfg.deployment);
      const over = packageProblems(files);
      if (over.length) throw new PackageInvalidError('PackageRevisionResources', next.metadata.name!, over);
      if (sameFiles(files, current)) return; // nothing changes: no commit, the revision stays as it is
      const commit = await repo.commitToBranch(branch, key, files, commitMessage(`Update ${describe(next)}`, trailerOf(next)), authorOf(ctx.user));
      next.status = { ...(next.status ?? {}), git: { ...(next.status?.git ?? {}), branch, commit } };
    });
  }
}

const sameFiles = (a: Map<string, Buffer>, b: Map<string, Buffer>) => a.size === b.size && [...a].every(([p, c]) => b.get(p)?.equals(c));
