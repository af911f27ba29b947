// One git repository, read and written with isomorphic-git's object API (blobs, trees, commits,
// refs) — never a work tree or an index.
//
// A repository is either a local bare repository used in place, or a bare clone (in the data
// directory) of an http(s) remote. For a remote, local `refs/heads/*` and `refs/tags/*` mirror the
// remote's as of the last fetch, and ref updates are pushed (compare-and-swap) before the local
// ref moves, so the remote is always the source of truth. A push is one receive-pack request of
// our own (`updateRefs`: several refs, atomic) with a pack of just the objects `commitFiles`
// wrote, so its cost follows the change, not the repository's size.
//
// isomorphic-git does no locking of its own, so every write (and every fetch) runs under one
// async mutex per repository (`withLock`, re-entrant within one async call chain). Reads of
// immutable objects need no lock.
import fs from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import git, { Errors, type CommitObject, type HttpClient, type TreeEntry } from 'isomorphic-git';
import { gitFs } from './gitfs.ts';
import { own } from '../../util/strings.ts';
import { indexPack } from './indexpack.ts';
import { GitObjectFormatError, ObjectDatabase, parseCommit, parseTag, parseTree, type ObjectType, type RawObject } from './objects.ts';
import nodeHttp from 'isomorphic-git/http/node';
import { GitRemoteHTTP } from 'isomorphic-git/managers';
import { LRUCache } from 'lru-cache';
import client from 'prom-client';
import { isValidRefName } from '../../api/names.ts';
import { holds, runHolding } from '../../util/held.ts';

export type { TreeEntry };

const ZERO_OID = '0'.repeat(40);
const OID = /^[0-9a-f]{40}$/;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_IDENTITY: GitIdentity = { name: 'pkgserver', email: 'pkgserver@localhost' };
/**
 * The clone's `remote.origin.fetch`. isomorphic-git needs one, and writes every advertised ref it
 * maps; `fetch` mirrors refs itself, so this one maps nothing that fetch advertises to it.
 */
const FETCH_REFSPEC = '+refs/pkgserver/none:refs/pkgserver/none';
const TREE_MODE = '040000';
const FILE_MODE = '100644';
/** Tags sent as haves in an upload-pack request, besides every branch tip. */
const UPLOAD_PACK_HAVES = 256;
/** Fetches re-asked when refs moved on the remote during the fetch. */
const FETCH_ATTEMPTS = 5;
/** Bound on the memo of oid → peeled commit oid (objects never change, so entries never go stale). */
const PEEL_MEMO_LIMIT = 100_000;
/** A fetch that creates at least this many refs writes them into packed-refs at once (else a loose file each). */
const PACK_NEW_REFS_MIN = 64;
/** Bound on the commits `peel` read and keeps for one `readCommit` each (the sync reads every tag's commit right after listing the tags). */
const PEELED_COMMITS_LIMIT = 20_000;
/**
 * Bound, in bytes (estimated), of the cache of parsed trees, one for all repositories (an oid names
 * the same content everywhere, and objects never change: entries never go stale). It was one of
 * 32 MiB per repository: 43 MiB of heap for 20 repositories after a discovery of 5,000 revisions.
 */
const TREE_CACHE_BYTES = 8 << 20;
/** Bound on the commits written here and not yet pushed whose objects are remembered (oldest dropped first). */
const UNPUSHED_LIMIT = 1_000;
/** How far back `updateRefs` walks from a new commit to one the remote has before it gives up on computing the objects. */
const OBJECT_WALK_LIMIT = 64;

/**
 * Files read from git objects (the blobs `readFiles` reads), counted for the whole process. Not in
 * any registry: the server registers it on its own (`registry.registerMetric(gitFileReads)`).
 */
export const gitFileReads = new client.Counter({ name: 'pkgserver_git_file_reads_total', help: 'Files read from git objects (blobs of package files)', registers: [] });

export class GitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
/** The remote refused the credentials (HTTP 401/403), or asked for credentials we do not have. */
export class GitAuthError extends GitError {}
/** The remote could not be reached, did not answer in time, or answered with a server error. */
export class GitUnreachableError extends GitError {}
/** A compare-and-swap ref update lost: the ref is not at the expected value (or the move is not a fast-forward). */
export class GitConflictError extends GitError {}
/**
 * A remote without atomic pushes took some of the updates of one `updateRefs` call (`applied`, in
 * order, the local refs moved too) and refused the next one; the rest were not sent.
 */
export class GitPartialUpdateError extends GitConflictError {
  constructor(
    message: string,
    readonly applied: string[],
  ) {
    super(message);
  }
}
/** A ref name that git would refuse, or that clashes with an existing ref (`a/v1` vs `a/v1/x`). */
export class GitRefNameError extends GitError {}

export interface GitIdentity {
  name: string;
  email: string;
}

/** Basic auth (`username`/`password`) or a bearer `token` (sent as `Authorization: Bearer`; wins over the others). */
export interface GitAuth {
  username?: string;
  password?: string;
  token?: string;
}

export interface GitRepoOptions {
  /** the bare repository (local mode) or where the bare clone of `remote` lives */
  gitdir: string;
  /** an http(s) remote; without it `gitdir` is an existing bare repository used directly */
  remote?: { url: string; auth?: GitAuth };
  /** bound on every network operation (default 30 s): past it, or a socket silent that long, the remote is unreachable (GitUnreachableError) */
  timeoutMs?: number;
  /** committer of every commit, and author when a commit names none */
  author?: GitIdentity;
}

export interface GitSignature extends GitIdentity {
  /** seconds since the epoch */
  timestamp: number;
  /** minutes, as `Date#getTimezoneOffset` (UTC+2 is -120) */
  timezoneOffset: number;
}

export interface CommitInfo {
  oid: string;
  message: string;
  author: GitSignature;
  committer: GitSignature;
  parents: string[];
  tree: string;
}

/** One compare-and-swap of `updateRefs`: `ref` to `newOid` (null deletes it) provided it is at `expectedOld` (null: absent). */
export interface RefUpdate {
  ref: string;
  newOid: string | null;
  expectedOld: string | null;
}

export interface UpdateRefsOptions {
  /**
   * Called when the remote has accepted `refs` and before the local refs follow (once for an
   * atomic request, once per ref when the remote cannot do atomic pushes); not for a local
   * repository. A test hook for crashes at that point.
   */
  afterPush?: (refs: string[]) => Promise<void>;
}

/** A ref that `fetch` created (`before` null), moved, or deleted (`after` null); values are as stored (unpeeled). */
export interface RefChange {
  ref: string;
  before: string | null;
  after: string | null;
}

/** A package: a directory (path from the repository root) holding a `Kptfile`, and its tree. */
export interface PackageDir {
  path: string;
  tree: string;
}

export interface CommitFilesOptions {
  /** the commit whose tree is the base; null for a root commit on an empty tree */
  parent: string | null;
  /** directory to replace, from the repository root ("" or "/" = the whole tree) */
  dir: string;
  /** the directory's new content, paths relative to `dir`; null (or empty: git has no empty directories) removes `dir` */
  files: Map<string, Buffer> | null;
  /** the base tree; only the parent's tree is supported (the default) */
  baseTree?: 'parent';
  message: string;
  /** defaults to the repository's identity */
  author?: GitIdentity;
}

/** Splits a path inside the repository into its parts ("" → []); refuses anything git or fsck would not take. */
function splitPath(p: string, what: string): string[] {
  const trimmed = p.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return [];
  const parts = trimmed.split('/');
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..' || part.toLowerCase() === '.git' || part.includes('\0')) {
      throw new GitError(`invalid ${what} ${JSON.stringify(p)}`);
    }
  }
  return parts;
}

function assertOid(oid: string | null, what: string): void {
  if (oid !== null && !OID.test(oid)) throw new GitError(`${what} is not an object id: ${JSON.stringify(oid)}`);
}

const oidOrNone = (oid: string | null) => oid ?? '(none)';

/** The `code` of an isomorphic-git error (its class name) or of a Node system error. */
function errorCode(err: unknown): string | undefined {
  return (err as { code?: string } | undefined)?.code;
}

function pktLine(line: string): Buffer {
  const data = Buffer.from(line);
  return Buffer.concat([Buffer.from((data.length + 4).toString(16).padStart(4, '0')), data]);
}

/** The payloads (trailing newline removed) of the pkt-lines in `buf`; flush packets are skipped. */
function parsePktLines(buf: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 4 <= buf.length; ) {
    const len = parseInt(buf.subarray(at, at + 4).toString(), 16);
    if (Number.isNaN(len)) break;
    if (len < 4) {
      at += 4;
      continue;
    }
    out.push(buf.subarray(at + 4, at + len).toString().replace(/\n$/, ''));
    at += len;
  }
  return out;
}

/**
 * The pack of an upload-pack reply: after the ACK/NAK lines, either side-band packets (1: pack
 * data, 2: progress, 3: a fatal error from the remote) up to a flush, or the raw pack. Null when
 * the remote refused a want that is no longer one of its refs' tips ("not our ref").
 */
function demuxPack(reply: Buffer, sideBand: boolean, url: string): Buffer | null {
  let at = 0;
  const parts: Buffer[] = [];
  for (;;) {
    if (at + 4 > reply.length) throw new GitError(`fetch from ${url}: the reply ended before its pack`);
    const head = reply.toString('latin1', at, at + 4);
    const len = parseInt(head, 16);
    if (!/^[0-9a-f]{4}$/.test(head)) {
      if (!sideBand) return reply.subarray(at); // the raw pack
      throw new GitError(`fetch from ${url}: malformed reply`);
    }
    if (len === 0) {
      if (!sideBand) throw new GitError(`fetch from ${url}: the reply ended before its pack`);
      break; // end of the side-band stream
    }
    if (len < 4 || at + len > reply.length) throw new GitError(`fetch from ${url}: malformed reply`);
    const payload = reply.subarray(at + 4, at + len);
    at += len;
    const text = payload.toString('latin1', 0, 4);
    if (parts.length === 0 && (text === 'ACK ' || text === 'NAK\n' || text === 'NAK')) continue;
    // a fatal error: an ERR line, or side-band channel 3
    const fatal = text.startsWith('ERR ') ? payload.toString('utf8', 4).trim() : sideBand && payload[0] === 3 ? payload.toString('utf8', 1).trim() : undefined;
    if (fatal !== undefined) {
      // a ref moved after the advertisement: its old tip is no longer a valid want
      if (fatal.includes('not our ref')) return null;
      throw new GitError(`fetch from ${url}: the remote says ${fatal}`);
    }
    if (!sideBand) throw new GitError(`fetch from ${url}: unexpected line ${JSON.stringify(payload.toString('utf8').slice(0, 80))}`);
    if (payload[0] === 1) parts.push(payload.subarray(1));
    // 2: progress, ignored
  }
  return Buffer.concat(parts);
}

/** Ends `iterator` (with `aborted`'s rejection) as soon as `aborted` settles, and releases it. */
async function* abortable(iterator: AsyncIterableIterator<Uint8Array>, aborted: Promise<never>): AsyncIterableIterator<Uint8Array> {
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await iterator.return?.();
  }
}

/**
 * An HTTP client whose requests and response bodies all fail once `signal` aborts, even when the
 * peer stops answering mid-stream; isomorphic-git then rejects instead of waiting forever. A
 * socket silent for `idleMs` fails too: without it Node's keep-alive agent gives up on an active
 * socket after its own 5 s, with an untyped "Request timed out", whatever the git timeout is.
 */
function abortableHttp(base: HttpClient, signal: AbortSignal, idleMs: number): HttpClient {
  const aborted = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  aborted.catch(() => {}); // observed by whoever races it; not an unhandled rejection otherwise
  return {
    async request(req) {
      const res = await Promise.race([base.request({ ...req, signal, fetchOptions: { ...req.fetchOptions, timeout: idleMs } }), aborted]);
      return { ...res, body: res.body && abortable(res.body, aborted) };
    },
  };
}

/** The error of isomorphic-git's node HTTP client (simple-get) when a socket stays silent past its timeout. */
const SOCKET_TIMEOUT_MESSAGE = 'Request timed out';

/**
 * Remotes (URLs without credentials) whose last request got no answer within the timeout, and
 * when. Waiting the whole timeout again at once would only hold the repository's lock: a write
 * queued behind a sync that just timed out would take twice the timeout to learn the same.
 */
const silentRemotes = new Map<string, number>();

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);

/** Parsed trees by the oid read (a tree, or a commit: its tree), shared by every repository, bounded by an estimate of their size. */
const trees = new LRUCache<string, { oid: string; tree: TreeEntry[] }>({
  maxSize: TREE_CACHE_BYTES,
  sizeCalculation: (t) => 100 + t.tree.reduce((n, e) => n + 120 + e.path.length * 2, 0),
});

export class GitRepo {
  /** isomorphic-git's object cache (parsed packfiles and indexes), shared by every call on this repository */
  private cache = {};
  /** reads of objects (loose and packed) with native zlib: every object read but isomorphic-git's own (fetch, packObjects) */
  private readonly objects: ObjectDatabase;
  private lockTail: Promise<void> = Promise.resolve();
  /** oid of a commit or (annotated) tag → the commit it peels to */
  private readonly peeled = new Map<string, string>();
  /** commits read by `peel` and not yet by `readCommit` (which takes them from here), bounded */
  private readonly peeledCommits = new Map<string, CommitObject>();
  /**
   * Commits written by `commitFiles` and not pushed yet → every object that call wrote (blobs,
   * trees, the commit), so a push sends exactly those without walking history. Bounded (oldest
   * dropped first); a commit not here has its objects computed from the diff with its parent.
   */
  private readonly unpushed = new Map<string, string[]>();
  /**
   * Whether the remote's last receive-pack advertisement offered `atomic`: then a write is sent
   * without asking for the advertisement first (see `blindPush`).
   */
  private remoteAtomic = false;

  private constructor(
    readonly gitdir: string,
    private readonly remote: Remote | undefined,
    private readonly timeoutMs: number,
    private readonly identity: GitIdentity,
  ) {
    this.objects = new ObjectDatabase(gitdir);
  }

  /** Closes the pack files opened for reads (they are opened again when needed). */
  close(): void {
    this.objects.close();
  }

  /**
   * Opens `gitdir`: the local bare repository itself (no `remote`), or the bare clone of `remote`,
   * which is created (init, remote config, first fetch) when absent and reused when present.
   * Credentials in the URL are moved to `auth`, so they never reach the git config.
   */
  static async open(opts: GitRepoOptions): Promise<GitRepo> {
    const gitdir = path.resolve(opts.gitdir);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const identity = opts.author ?? DEFAULT_IDENTITY;
    if (!opts.remote) {
      if (!(await isGitDir(gitdir))) throw new GitError(`${gitdir} is not a git repository`);
      return new GitRepo(gitdir, undefined, timeoutMs, identity);
    }

    const remote = parseRemote(opts.remote.url, opts.remote.auth);
    if (await isGitDir(gitdir)) {
      if ((await git.getConfig({ fs: gitFs, gitdir, path: 'remote.origin.url' })) !== remote.url) {
        await git.setConfig({ fs: gitFs, gitdir, path: 'remote.origin.url', value: remote.url });
      }
      return new GitRepo(gitdir, remote, timeoutMs, identity);
    }

    // Clone into a scratch directory and rename it into place, so a failed or interrupted first
    // fetch never leaves a half-made clone that a later open would take for a good one.
    await mkdir(path.dirname(gitdir), { recursive: true });
    const scratch = `${gitdir}.clone-${process.pid}-${Date.now()}`;
    try {
      await git.init({ fs: gitFs, gitdir: scratch, bare: true, defaultBranch: 'main' });
      await git.setConfig({ fs: gitFs, gitdir: scratch, path: 'remote.origin.url', value: remote.url });
      await git.setConfig({ fs: gitFs, gitdir: scratch, path: 'remote.origin.fetch', value: FETCH_REFSPEC });
      await new GitRepo(scratch, remote, timeoutMs, identity).fetch();
      await rename(scratch, gitdir);
    } catch (err) {
      await rm(scratch, { recursive: true, force: true });
      throw err;
    }
    return new GitRepo(gitdir, remote, timeoutMs, identity);
  }

  /** Uses `auth` (undefined: the URL's own user:password, if any) for every later network operation, e.g. after a rotation. */
  setAuth(auth: GitAuth | undefined): void {
    if (this.remote) this.remote.auth = auth ?? this.remote.urlAuth;
  }

  /** The remote's URL (without credentials), or undefined for a local repository. */
  get url(): string | undefined {
    return this.remote?.url;
  }

  /**
   * Runs `fn` alone among this repository's locked sections. Re-entrant: `fn` (and anything it
   * awaits) may call locked methods such as `commitFiles` and `updateRef` without deadlocking.
   */
  withLock<T>(fn: () => Promise<T>): Promise<T> {
    if (holds(this)) return fn();
    const run = this.lockTail.then(() => runHolding(this, fn));
    this.lockTail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  // ---------------------------------------------------------------------------------------------
  // fetch

  /**
   * Fetches every branch and tag and makes local `refs/heads/*` and `refs/tags/*` exactly the
   * remote's: new refs are created, moved ones moved, vanished ones deleted. A local repository
   * has nothing to fetch. Returns the changes, sorted by ref.
   */
  async fetch(): Promise<RefChange[]> {
    const remote = this.remote;
    if (!remote) return [];
    return this.withLock(async () => {
      const before = await this.readLocalRefs();
      const advertised = await this.network('fetch', async (http) => {
        for (let attempt = 1; ; attempt++) {
          const info = await GitRemoteHTTP.discover({ http, service: 'git-upload-pack', url: remote.url, headers: this.authHeaders(), protocolVersion: 1 });
          const refs = new Map<string, string>();
          for (const [ref, oid] of info.refs as Map<string, string>) if (isValidRefName(ref)) refs.set(ref, oid);
          // Local refs only ever point at objects that are here (with everything they reach).
          const local = new Set(before.values());
          const missing: string[] = [];
          // a first fetch (no local refs) has none of them: no lookup each (checked below once fetched)
          for (const oid of new Set(refs.values())) if (!local.has(oid) && (before.size === 0 || !(await this.hasObject(oid)))) missing.push(oid);
          if (missing.length === 0) return refs;
          // Only objects are fetched here (refs are mirrored below, once every object is here):
          // one upload-pack request for the missing oids, the local tips as haves.
          await this.uploadPack(http, missing, before, info.capabilities as Set<string>);
          // A ref that moved between the advertisement and the request makes the remote refuse
          // its old tip as a want ("not our ref": uploadPack then fetches nothing). Refs are
          // mirrored only once every object is here: ask again.
          const stillMissing: string[] = [];
          for (const oid of missing) if (!(await this.hasObject(oid))) stillMissing.push(oid);
          if (stillMissing.length === 0) return refs;
          if (attempt >= FETCH_ATTEMPTS)
            throw new GitUnreachableError(`fetch from ${remote.url} did not deliver ${stillMissing.length} object(s) after ${attempt} attempts (the remote kept changing); the next sync retries`);
        }
      });

      // The objects are all here now; mirror the refs. Deletions go first so that `a/v1` can
      // give way to `a/v1/x` and vice versa.
      const current = await this.readLocalRefs();
      for (const ref of current.keys()) if (!advertised.has(ref)) await this.writeLocalRef(ref, null);
      // many new refs (a first fetch of a big repository): one write of packed-refs, not a file each
      const added = [...advertised].filter(([ref]) => !current.has(ref));
      const packAdded = added.length >= PACK_NEW_REFS_MIN;
      if (packAdded) await this.addPackedRefs(added);
      for (const [ref, oid] of advertised) if (current.get(ref) !== oid && !(packAdded && !current.has(ref))) await this.writeLocalRef(ref, oid);

      const changes: RefChange[] = [];
      for (const ref of new Set([...before.keys(), ...advertised.keys()])) {
        const was = before.get(ref) ?? null;
        const now = advertised.get(ref) ?? null;
        if (was !== now) changes.push({ ref, before: was, after: now });
      }
      return changes.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
    });
  }

  /**
   * One upload-pack request (smart HTTP, protocol v1, stateless): `wants`, the local refs' commits
   * as haves, `done`; the pack that comes back is checked and indexed here (./indexpack.ts) and
   * stored as `objects/pack/pack-<checksum>.pack` with its `.idx` (written last, by a rename).
   */
  private async uploadPack(http: HttpClient, wants: string[], local: Map<string, string>, offered: Set<string>): Promise<void> {
    const url = this.remote!.url;
    const band = offered.has('side-band-64k') ? 'side-band-64k' : offered.has('side-band') ? 'side-band' : undefined;
    const caps = [band, offered.has('ofs-delta') ? 'ofs-delta' : undefined, offered.has('no-progress') ? 'no-progress' : undefined, 'agent=pkgserver'].filter(Boolean).join(' ');
    // the branches' tips (every draft, proposal and main) and some tags: enough for the remote to
    // leave out what is here; a have it does not know is ignored
    const haves = new Set<string>();
    for (const [ref, oid] of local) if (ref.startsWith('refs/heads/')) haves.add(oid);
    for (const [ref, oid] of local) if (ref.startsWith('refs/tags/') && haves.size < UPLOAD_PACK_HAVES) haves.add(oid);
    const body = Buffer.concat([
      ...wants.map((oid, i) => pktLine(`want ${oid}${i === 0 ? ` ${caps}` : ''}\n`)),
      Buffer.from('0000'),
      ...[...haves].map((oid) => pktLine(`have ${oid}\n`)),
      pktLine('done\n'),
    ]);
    const pack = demuxPack(await this.post(http, 'git-upload-pack', body), band !== undefined, url);
    if (!pack) return; // refs moved meanwhile: the caller finds objects missing and asks again
    const { checksum, idx } = indexPack(pack);
    const dir = path.join(this.gitdir, 'objects', 'pack');
    await mkdir(dir, { recursive: true });
    const base = path.join(dir, `pack-${checksum}`);
    await writeFile(`${base}.pack`, pack);
    await writeFile(`${base}.idx.tmp`, idx);
    await rename(`${base}.idx.tmp`, `${base}.idx`);
  }

  // ---------------------------------------------------------------------------------------------
  // reads

  /** The commit a full ref name (`refs/heads/main`, `refs/tags/a/v1`) points to, tags peeled; null when absent. */
  async resolve(ref: string): Promise<string | null> {
    if (!isValidRefName(ref)) throw new GitRefNameError(`invalid ref name ${JSON.stringify(ref)}`);
    const oid = (await this.readRefs(ref)).get(ref);
    return oid === undefined ? null : this.peel(oid);
  }

  /** Every branch or tag under `prefix`, by name without the prefix, to the commit it points to (tags peeled). */
  async listRefs(prefix: 'refs/heads/' | 'refs/tags/'): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const [ref, oid] of await this.readRefs(prefix)) out.set(ref.slice(prefix.length), await this.peel(oid));
    return out;
  }

  async readCommit(oid: string): Promise<CommitInfo> {
    // a commit just peeled (listRefs) was read already: the sync reads each tag's commit once
    const peeled = this.peeledCommits.get(oid);
    if (peeled) this.peeledCommits.delete(oid);
    const commit = peeled ?? parseCommit(this.object(oid, 'commit').data);
    return { oid, message: commit.message, author: commit.author, committer: commit.committer, parents: commit.parent, tree: commit.tree };
  }

  /** The tree id of directory `dir` (from the root) of a commit, or null when there is no such directory. */
  async treeOf(commitOid: string, dir: string): Promise<string | null> {
    return this.subtree(commitOid, splitPath(dir, 'directory'));
  }

  /** The entries of directory `dir` (from the root) of a commit or tree; empty when there is no such directory. */
  async listTree(commitOrTreeOid: string, dir: string): Promise<TreeEntry[]> {
    const tree = await this.subtree(commitOrTreeOid, splitPath(dir, 'directory'));
    return tree ? [...(await this.readTree(tree))] : [];
  }

  /** Every file under `dir` of a commit (recursively), by path relative to `dir`, sorted by path. */
  async readFiles(commitOid: string, dir: string): Promise<Map<string, Buffer>> {
    const files: [string, Buffer][] = [];
    const visit = async (tree: string, prefix: string): Promise<void> => {
      await Promise.all(
        (await this.readTree(tree)).map(async (entry) => {
          const rel = prefix + entry.path;
          if (entry.type === 'tree') await visit(entry.oid, `${rel}/`);
          else if (entry.type === 'blob') {
            const blob = this.object(entry.oid, 'blob').data;
            gitFileReads.inc();
            files.push([rel, Buffer.from(blob)]);
          }
          // a 'commit' entry is a submodule: no content in this repository
        }),
      );
    };
    const root = await this.subtree(commitOid, splitPath(dir, 'directory'));
    if (root) await visit(root, '');
    return new Map(files.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** Every directory under `baseDir` of a commit that holds a `Kptfile`, not looking inside packages; sorted by path. */
  async findPackages(commitOid: string, baseDir: string): Promise<PackageDir[]> {
    const found: PackageDir[] = [];
    const visit = async (tree: string, dir: string): Promise<void> => {
      const entries = await this.readTree(tree);
      if (entries.some((e) => e.path === 'Kptfile' && e.type === 'blob')) {
        found.push({ path: dir, tree });
        return;
      }
      await Promise.all(entries.filter((e) => e.type === 'tree').map((e) => visit(e.oid, dir ? `${dir}/${e.path}` : e.path)));
    };
    const parts = splitPath(baseDir, 'directory');
    const root = await this.subtree(commitOid, parts);
    if (root) await visit(root, parts.join('/'));
    return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  // ---------------------------------------------------------------------------------------------
  // writes

  /**
   * Writes a commit whose tree is the parent's with exactly `dir` replaced by `files` (or removed)
   * and returns its oid; no ref moves. Directories left empty by a removal disappear, as in git.
   */
  async commitFiles(opts: CommitFilesOptions): Promise<string> {
    assertOid(opts.parent, 'parent');
    const dirParts = splitPath(opts.dir, 'directory');
    const files = opts.files && opts.files.size > 0 ? opts.files : null;
    return this.withLock(async () => {
      const written: string[] = [];
      const base = opts.parent ? (await this.readCommit(opts.parent)).tree : null;
      const content = files ? await this.writeFileTree(files, written) : null;
      let tree = await this.replaceSubtree(base, dirParts, content, written);
      if (tree === null) written.push((tree = await git.writeTree({ fs: gitFs, gitdir: this.gitdir, tree: [] })));
      const now = { timestamp: Math.floor(Date.now() / 1000), timezoneOffset: new Date().getTimezoneOffset() };
      const commit = await git.writeCommit({
        fs: gitFs,
        gitdir: this.gitdir,
        commit: {
          message: opts.message.endsWith('\n') ? opts.message : `${opts.message}\n`,
          tree,
          parent: opts.parent ? [opts.parent] : [],
          author: { ...(opts.author ?? this.identity), ...now },
          committer: { ...this.identity, ...now },
        },
      });
      written.push(commit);
      if (this.unpushed.size >= UNPUSHED_LIMIT) this.unpushed.delete(this.unpushed.keys().next().value!);
      this.unpushed.set(commit, written);
      return commit;
    });
  }

  /**
   * Compare-and-swap of a branch or lightweight tag: sets `ref` to commit `newOid` (null deletes
   * it) provided it is at `expectedOld` (null: it must not exist; an annotated tag is also at the
   * commit it peels to); otherwise GitConflictError.
   * A move must be a fast-forward (GitConflictError otherwise); rewrite a ref by deleting and
   * re-creating it. With a remote, the remote is updated first (the push carries the expected
   * old value, so a remote that moved meanwhile refuses it) and the local ref follows.
   */
  async updateRef(ref: string, newOid: string | null, expectedOld: string | null): Promise<void> {
    return this.updateRefs([{ ref, newOid, expectedOld }]);
  }

  /**
   * Compare-and-swap of several refs at once, each as `updateRef` (expected values, fast-forward
   * moves, name clashes): all of them or none. With a remote this is one receive-pack request
   * (after one advertisement) with git's `atomic` capability, carrying a pack of exactly the
   * objects the new commits need (those `commitFiles` wrote, or their diff against a parent the
   * remote has); the local refs follow once the remote took them. Any refused update is a
   * GitConflictError naming the refs, and nothing moved.
   *
   * A remote that does not advertise `atomic` gets one request per update, in the order given
   * (order them so that every prefix is a state you can recover from); when one is refused after
   * others were taken, GitPartialUpdateError says which were. A local repository checks every
   * expected value, then writes the refs, under the lock.
   */
  async updateRefs(updates: RefUpdate[], opts: UpdateRefsOptions = {}): Promise<void> {
    const seen = new Set<string>();
    for (const { ref, newOid, expectedOld } of updates) {
      if (!isValidRefName(ref)) throw new GitRefNameError(`invalid ref name ${JSON.stringify(ref)}`);
      if (seen.has(ref)) throw new GitError(`${ref} is updated twice in one request`);
      seen.add(ref);
      assertOid(newOid, 'new value');
      assertOid(expectedOld, 'expected value');
    }
    if (updates.length === 0) return;
    return this.withLock(async () => {
      for (const { ref, newOid, expectedOld } of updates) {
        if (newOid === null) continue;
        await this.assertNoNameClash(ref);
        await this.assertFastForward(ref, expectedOld, newOid);
      }
      if (this.remote) {
        await this.pushRefs(updates, opts);
        return;
      }
      const stale: string[] = [];
      for (const { ref, expectedOld } of updates) {
        const current = (await this.readRefs(ref)).get(ref) ?? null;
        if (!(await this.isAt(current, expectedOld))) stale.push(`${ref} is at ${oidOrNone(current)}, expected ${oidOrNone(expectedOld)}`);
      }
      if (stale.length) throw new GitConflictError(stale.join('; '));
      await this.writeLocalRefs(updates);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // pushing

  /** Deletions first, so that `a/v1` can give way to `a/v1/x` and vice versa. */
  private async writeLocalRefs(updates: RefUpdate[]): Promise<void> {
    for (const u of updates) if (u.newOid === null) await this.writeLocalRef(u.ref, null);
    for (const u of updates) if (u.newOid !== null) await this.writeLocalRef(u.ref, u.newOid);
  }

  /** The remote part of `updateRefs` (under the lock). */
  private async pushRefs(updates: RefUpdate[], opts: UpdateRefsOptions): Promise<void> {
    const url = this.remote!.url;
    if (this.remoteAtomic && (await this.blindPush(updates, opts))) return;
    const plan = await this.network(`push ${updates.map((u) => u.ref).join(', ')} to`, async (http) => {
      const info = await GitRemoteHTTP.discover({ http, service: 'git-receive-pack', url, headers: this.authHeaders(), protocolVersion: 1 });
      const advertised = info.refs as Map<string, string>;
      const capabilities = info.capabilities as Set<string>;
      this.remoteAtomic = capabilities.has('atomic');
      // the values the request carries as old ones are the remote's own (an annotated tag stays a tag object)
      const olds = new Map<string, string | null>();
      const stale: string[] = [];
      for (const { ref, expectedOld } of updates) {
        const remote = advertised.get(ref) ?? null;
        olds.set(ref, remote);
        if (!(await this.isAt(remote, expectedOld))) stale.push(`${ref} is at ${oidOrNone(remote)} on ${url}, expected ${oidOrNone(expectedOld)}`);
      }
      if (stale.length) throw new GitConflictError(stale.join('; '));
      const onRemote = new Set(advertised.values());
      const objects = new Set<string>();
      const sent = new Set<string>();
      for (const { newOid } of updates) {
        if (newOid === null) continue;
        const found = await this.objectsToSend(newOid, onRemote, sent);
        if (!found) return { fallback: true as const, olds };
        for (const oid of found) objects.add(oid);
      }
      const atomic = capabilities.has('atomic');
      const pack = updates.some((u) => u.newOid !== null) ? await this.packOf([...objects]) : undefined;
      const batches = atomic ? [updates] : updates.map((u) => [u]);
      for (const [i, batch] of batches.entries()) {
        const commands = batch.map((u) => ({ ref: u.ref, old: olds.get(u.ref) ?? null, new: u.newOid }));
        // the pack goes with the first request that creates or moves a ref (git wants none with deletes only)
        const needsPack = batch.some((u) => u.newOid !== null);
        const firstWithPack = needsPack && !batches.slice(0, i).some((b) => b.some((u) => u.newOid !== null));
        try {
          await this.receivePack(http, commands, atomic, needsPack ? (firstWithPack ? pack! : await this.packOf([])) : undefined);
        } catch (err) {
          if (i > 0 && err instanceof GitConflictError) {
            const applied = batches.slice(0, i).flat().map((u) => u.ref);
            throw new GitPartialUpdateError(`${err.message} (${url} has no atomic pushes: ${applied.join(', ')} already updated)`, applied);
          }
          throw err;
        }
        await opts.afterPush?.(batch.map((u) => u.ref));
        await this.writeLocalRefs(batch);
      }
      for (const oid of sent) this.unpushed.delete(oid);
      return { fallback: false as const, olds };
    });
    if (!plan.fallback) return;
    // Objects not known here (a commit made before a restart, far from anything the remote has):
    // isomorphic-git's push walks history to find them, one ref at a time.
    for (const [i, u] of updates.entries()) {
      try {
        await this.push(u.ref, u.newOid, u.expectedOld);
      } catch (err) {
        if (i > 0 && err instanceof GitConflictError) {
          const applied = updates.slice(0, i).map((x) => x.ref);
          throw new GitPartialUpdateError(`${err.message} (${applied.join(', ')} already updated)`, applied);
        }
        throw err;
      }
      await opts.afterPush?.([u.ref]);
      await this.writeLocalRef(u.ref, u.newOid);
    }
  }

  /**
   * A write without the advertisement (one request instead of two, one git process fewer on the
   * git server): the expected old values go as the old ones, and the objects sent are those the
   * remote lacks if it is where the local mirror says. receive-pack checks every old value under
   * its own lock and applies all or nothing (`atomic`), so a remote that moved refuses it. Any
   * refusal (a ref moved, an annotated tag where a commit was expected, a hook, objects missing)
   * returns false and the caller asks for the advertisement and decides from what the remote holds
   * (a hook's refusal is then met twice). True when the remote took every update.
   */
  private async blindPush(updates: RefUpdate[], opts: UpdateRefsOptions): Promise<boolean> {
    // what the remote holds, as far as the mirror knows: its branches and the values expected
    const onRemote = new Set([...(await this.readRefs('refs/heads/')).values(), ...updates.flatMap((u) => (u.expectedOld ? [u.expectedOld] : []))]);
    const sent = new Set<string>();
    const objects = new Set<string>();
    for (const { newOid } of updates) {
      if (newOid === null) continue;
      const found = await this.objectsToSend(newOid, onRemote, sent);
      if (!found) return false;
      for (const oid of found) objects.add(oid);
    }
    const pack = updates.some((u) => u.newOid !== null) ? await this.packOf([...objects]) : undefined;
    const commands = updates.map((u) => ({ ref: u.ref, old: u.expectedOld, new: u.newOid }));
    try {
      await this.network(`push ${updates.map((u) => u.ref).join(', ')} to`, (http) => this.receivePack(http, commands, true, pack));
    } catch (err) {
      if (err instanceof GitConflictError || (err instanceof GitError && !(err instanceof GitAuthError) && !(err instanceof GitUnreachableError))) return false;
      throw err;
    }
    await opts.afterPush?.(updates.map((u) => u.ref));
    await this.writeLocalRefs(updates);
    for (const oid of sent) this.unpushed.delete(oid);
    return true;
  }

  /**
   * The objects the remote needs for commit `oid`, given commits it has (`onRemote`): walks back
   * from `oid` to those, taking the objects `commitFiles` recorded for a commit, or else the
   * commit, and the trees and blobs of its tree that differ from its first parent's. Adds the
   * commits taken to `commits`. Null when no commit the remote has is found within the walk limit.
   */
  private async objectsToSend(oid: string, onRemote: Set<string>, commits: Set<string>): Promise<string[] | null> {
    const out: string[] = [];
    const queue = [oid];
    let walked = 0;
    while (queue.length) {
      const c = queue.shift()!;
      if (onRemote.has(c) || commits.has(c)) continue;
      if (++walked > OBJECT_WALK_LIMIT) return null;
      commits.add(c);
      const info = await this.readCommit(c);
      if (info.parents.length === 0 && onRemote.size > 0 && !this.unpushed.has(c)) return null; // unrelated history
      queue.push(...info.parents);
      const recorded = this.unpushed.get(c);
      if (recorded) {
        out.push(...recorded);
        continue;
      }
      out.push(c);
      const parentTree = info.parents.length ? (await this.readCommit(info.parents[0])).tree : null;
      await this.treeDiff(info.tree, parentTree, out);
    }
    return out;
  }

  /** Adds `tree` and every tree and blob below it that `base` (null: none) does not have at the same place. */
  private async treeDiff(tree: string, base: string | null, out: string[]): Promise<void> {
    if (tree === base) return;
    out.push(tree);
    const baseEntries = new Map((base ? await this.readTree(base) : []).map((e) => [e.path, e]));
    for (const entry of await this.readTree(tree)) {
      const old = baseEntries.get(entry.path);
      if (old?.oid === entry.oid) continue;
      if (entry.type === 'tree') await this.treeDiff(entry.oid, old?.type === 'tree' ? old.oid : null, out);
      else if (entry.type === 'blob') out.push(entry.oid);
    }
  }

  private async packOf(oids: string[]): Promise<Buffer> {
    const { packfile } = await this.read(() => git.packObjects({ fs: gitFs, gitdir: this.gitdir, oids: [...new Set(oids)], cache: this.cache }));
    return Buffer.from(packfile!);
  }

  /**
   * One receive-pack request: the commands, then `pack` (none when every command is a delete),
   * and its `report-status` read. A refused command is a GitConflictError naming every refused ref.
   */
  private async receivePack(http: HttpClient, commands: { ref: string; old: string | null; new: string | null }[], atomic: boolean, pack: Buffer | undefined): Promise<void> {
    const url = this.remote!.url;
    const caps = ['report-status', ...(atomic ? ['atomic'] : []), 'agent=pkgserver'].join(' ');
    const body = Buffer.concat([
      ...commands.map((c, i) => pktLine(`${c.old ?? ZERO_OID} ${c.new ?? ZERO_OID} ${c.ref}${i === 0 ? `\0${caps}` : ''}\n`)),
      Buffer.from('0000'),
      ...(pack ? [pack] : []),
    ]);
    const lines = parsePktLines(await this.post(http, 'git-receive-pack', body));
    const unpack = lines.find((l) => l.startsWith('unpack '));
    if (!unpack) throw new GitError(`push to ${url}: no report from the remote`);
    if (unpack !== 'unpack ok') throw new GitError(`push to ${url}: the remote could not unpack the objects (${unpack.slice(7)})`);
    const refused = lines.filter((l) => l.startsWith('ng ')).map((l) => l.slice(3));
    if (refused.length) throw new GitConflictError(`push to ${url} rejected: ${refused.join('; ')}`);
    const accepted = new Set(lines.filter((l) => l.startsWith('ok ')).map((l) => l.slice(3)));
    const missing = commands.filter((c) => !accepted.has(c.ref)).map((c) => c.ref);
    if (missing.length) throw new GitError(`push to ${url}: no status for ${missing.join(', ')}`);
  }

  /** One smart-HTTP request to `service` (git-upload-pack, git-receive-pack): its reply, or an HttpError for a status other than 200. */
  private async post(http: HttpClient, service: string, body: Buffer): Promise<Buffer> {
    const res = await http.request({
      url: `${this.remote!.url}/${service}`,
      method: 'POST',
      headers: { ...this.authHeaders(), 'content-type': `application/x-${service}-request`, accept: `application/x-${service}-result` },
      // isomorphic-git's node client sends an array as one buffer, with a Content-Length
      body: [body] as unknown as AsyncIterableIterator<Uint8Array>,
    });
    const chunks: Buffer[] = [];
    if (res.body) for await (const chunk of res.body) chunks.push(Buffer.from(chunk));
    const reply = Buffer.concat(chunks);
    if (res.statusCode !== 200) throw new Errors.HttpError(res.statusCode, res.statusMessage, reply.subarray(0, 1024).toString());
    return reply;
  }

  // ---------------------------------------------------------------------------------------------
  // internals

  /**
   * Pushes one ref update with isomorphic-git (which walks history for the objects to send): the
   * fallback of `updateRefs` for commits whose objects it cannot tell. The remote must hold
   * `expectedOld` when the push is sent.
   */
  private async push(ref: string, newOid: string | null, expectedOld: string | null): Promise<void> {
    const url = this.remote!.url;
    // After a successful push isomorphic-git records the ref under refs/remotes/origin/, which
    // nothing here reads. An empty directory left there by an earlier delete (`x/` of `x/y`)
    // would make that write, and so the whole push, fail after the remote took it: start clean.
    await rm(path.join(this.gitdir, 'refs/remotes'), { recursive: true, force: true });
    let remoteOld: string | null = null;
    try {
      await this.network(`push ${ref} to`, (http) =>
        git.push({
          fs: gitFs,
          http,
          gitdir: this.gitdir,
          cache: this.cache,
          url,
          // An oid is taken as is, so no local ref is needed before the push succeeds.
          ref: newOid ?? ZERO_OID,
          remoteRef: ref,
          // Never forced: isomorphic-git then refuses non-fast-forward moves itself; a delete
          // skips that check anyway, with or without force.
          delete: newOid === null,
          headers: this.authHeaders(),
          // Called with the remote's value from the receive-pack advertisement, which is also the
          // old value the push sends: the remote refuses the update if the ref moved since.
          onPrePush: ({ remoteRef }) => {
            remoteOld = remoteRef.oid === ZERO_OID ? null : remoteRef.oid;
            return this.isAt(remoteOld, expectedOld);
          },
        }),
      );
    } catch (err) {
      switch (errorCode(err)) {
        case 'UserCanceledError':
          throw new GitConflictError(`${ref} is at ${oidOrNone(remoteOld)} on ${url}, expected ${oidOrNone(expectedOld)}`);
        case 'PushRejectedError': // not a fast-forward, or the tag exists
        case 'GitPushError': // the remote refused the ref update (e.g. it moved after the advertisement)
          throw new GitConflictError(`push of ${ref} to ${url} rejected: ${(err as Error).message}`);
      }
      throw err;
    }
  }

  /**
   * Runs one network operation with a deadline: past `timeoutMs` every request and response
   * stream is aborted. Errors become GitAuthError / GitUnreachableError / GitError with messages
   * that name the URL (never credentials). A remote that gave no answer in time is not asked
   * again for `timeoutMs` (see silentRemotes): meanwhile operations fail at once.
   */
  private async network<T>(what: string, op: (http: HttpClient) => Promise<T>): Promise<T> {
    const url = this.remote!.url;
    const silentAt = silentRemotes.get(url);
    if (silentAt !== undefined && Date.now() - silentAt < this.timeoutMs)
      throw new GitUnreachableError(`${what} ${url}: no answer within ${this.timeoutMs} ms (to a request ${Date.now() - silentAt} ms ago; asked again ${this.timeoutMs} ms after it)`);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('timeout')), this.timeoutMs);
    try {
      const result = await op(abortableHttp(nodeHttp, controller.signal, this.timeoutMs));
      silentRemotes.delete(url);
      return result;
    } catch (err) {
      if (controller.signal.aborted || (err as Error | undefined)?.message === SOCKET_TIMEOUT_MESSAGE) {
        silentRemotes.set(url, Date.now());
        throw new GitUnreachableError(`${what} ${url}: no answer within ${this.timeoutMs} ms`);
      }
      silentRemotes.delete(url); // it answered, if only with an error
      throw this.remoteError(what, err);
    } finally {
      clearTimeout(timer);
    }
  }

  private remoteError(what: string, err: unknown): unknown {
    if (err instanceof GitError) return err; // already decided (a refused update, a bad report)
    const e = err as { code?: string; message?: string; data?: { statusCode?: number; statusMessage?: string } };
    const where = `${what} ${this.remote!.url}`;
    if (e.code === 'HttpError') {
      const status = e.data?.statusCode;
      if (status === 401 || status === 403) {
        return new GitAuthError(`${where}: ${this.remote!.auth ? 'authentication failed' : 'authentication required'} (HTTP ${status})`);
      }
      return new GitUnreachableError(`${where}: HTTP ${status} ${e.data?.statusMessage ?? ''}`.trimEnd());
    }
    if ((e.code && NETWORK_CODES.has(e.code)) || e.message === 'socket hang up') {
      return new GitUnreachableError(`${where}: unreachable (${e.code ?? e.message})`);
    }
    if (e.code === 'SmartHttpError') return new GitError(`${where}: not a git smart-HTTP endpoint`);
    if (['UserCanceledError', 'PushRejectedError', 'GitPushError'].includes(e.code ?? '')) return err; // push decides
    return new GitError(`${where}: ${this.scrub(e.message ?? String(err))}`);
  }

  /** Removes every credential (and its Basic encoding) from a text. */
  private scrub(text: string): string {
    const auth = this.remote?.auth;
    const secrets = [auth?.password, auth?.token, this.authHeaders().Authorization?.replace(/^\w+ /, '')];
    for (const secret of secrets) if (secret) text = text.split(secret).join('***');
    return text;
  }

  /** A fresh headers object each call (isomorphic-git adds to it). */
  private authHeaders(): Record<string, string> {
    const auth = this.remote?.auth;
    if (auth?.token) return { Authorization: `Bearer ${auth.token}` };
    if (auth?.username || auth?.password) {
      return { Authorization: `Basic ${Buffer.from(`${auth.username ?? ''}:${auth.password ?? ''}`).toString('base64')}` };
    }
    return {};
  }

  /** Whether a ref holding `value` is at `expected`: the same oid, or an annotated tag of that commit (as listRefs shows it). */
  private async isAt(value: string | null, expected: string | null): Promise<boolean> {
    if (value === expected) return true;
    if (value === null || expected === null) return false;
    try {
      return (await this.peel(value)) === expected;
    } catch (err) {
      if (errorCode(err) === 'NotFoundError') return false; // a remote value this clone has not fetched
      throw err;
    }
  }

  private async assertNoNameClash(ref: string): Promise<void> {
    const namespace = ref.startsWith('refs/heads/') ? 'refs/heads/' : 'refs/tags/';
    for (const existing of (await this.readRefs(namespace)).keys()) {
      if (existing.startsWith(`${ref}/`) || ref.startsWith(`${existing}/`)) {
        throw new GitRefNameError(`${ref} clashes with the existing ref ${existing}`);
      }
    }
  }

  private async assertFastForward(ref: string, from: string | null, to: string): Promise<void> {
    try {
      this.object(to, 'commit');
    } catch (err) {
      const code = errorCode(err);
      if (code === 'NotFoundError' || code === 'ObjectTypeError') throw new GitError(`${to} is not a commit in ${this.gitdir}`);
      throw err;
    }
    if (from === null || from === to) return;
    if (!this.isDescendent(to, from)) {
      throw new GitConflictError(`${ref}: ${to} is not a fast-forward of ${from}`);
    }
  }

  /**
   * Sets a ref (as a loose file) or deletes it (loose file and packed-refs entry). Every file is
   * replaced atomically, as git does (write `<file>.lock`, rename it over the file), so neither
   * a concurrent reader nor a crash ever sees a half-written ref. (isomorphic-git's writeRef
   * and deleteRef truncate and rewrite in place.)
   */
  private async writeLocalRef(ref: string, oid: string | null): Promise<void> {
    const file = path.join(this.gitdir, ref);
    if (oid !== null) {
      await mkdir(path.dirname(file), { recursive: true });
      await replaceFile(file, `${oid}\n`);
      return;
    }
    // packed-refs first: a crash in between then leaves the ref as it was, not at an older packed value
    await this.removePackedRef(ref);
    await rm(file, { force: true });
    // An empty `refs/tags/a/v1/` would block a later `refs/tags/a/v1`.
    for (let dir = path.posix.dirname(ref); dir.split('/').length > 2; dir = path.posix.dirname(dir)) {
      try {
        await rmdir(path.join(this.gitdir, dir));
      } catch {
        break; // not empty (or already gone)
      }
    }
  }

  private async removePackedRef(ref: string): Promise<void> {
    const file = path.join(this.gitdir, 'packed-refs');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return;
      throw err;
    }
    const lines = text.split('\n');
    let dropping = false; // a `^peeled` line belongs to the ref line before it
    const kept = lines.filter((line) => {
      if (!line.startsWith('^')) dropping = line.slice(41) === ref && OID.test(line.slice(0, 40));
      return !dropping;
    });
    if (kept.length !== lines.length) await replaceFile(file, kept.join('\n'));
  }

  /** Local branches and tags, unpeeled. */
  private async readLocalRefs(): Promise<Map<string, string>> {
    return new Map([...(await this.readRefs('refs/heads/')), ...(await this.readRefs('refs/tags/'))]);
  }

  /**
   * Every ref whose name starts with `prefix` (a full ref name yields at most itself), from
   * packed-refs and loose files (loose ones win), without isomorphic-git's per-ref re-reading
   * of packed-refs. Records the peeled values packed-refs carries.
   */
  private async readRefs(prefix: string): Promise<Map<string, string>> {
    const refs = new Map<string, string>();
    let packed = '';
    try {
      packed = await readFile(path.join(this.gitdir, 'packed-refs'), 'utf8');
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
    }
    let last: string | undefined;
    for (const line of packed.split('\n')) {
      if (line.startsWith('^')) {
        if (last) this.remember(last, own(line.slice(1, 41)));
      } else if (OID.test(line.slice(0, 40)) && line[40] === ' ') {
        // own copies: a cut of the file's text would keep the whole file alive in the refs caches
        last = own(line.slice(0, 40));
        const name = line.slice(41);
        if (name.startsWith(prefix)) refs.set(own(name), last);
      }
    }

    const readLoose = async (name: string): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await readdir(path.join(this.gitdir, name), { withFileTypes: true });
      } catch (err) {
        const code = errorCode(err);
        if (code === 'ENOTDIR') return readLooseFile(name);
        if (code === 'ENOENT') return;
        throw err;
      }
      await Promise.all(entries.map((e) => (e.isDirectory() ? readLoose(`${name}/${e.name}`) : readLooseFile(`${name}/${e.name}`))));
    };
    const readLooseFile = async (name: string): Promise<void> => {
      if (!name.startsWith(prefix) || name.endsWith('.lock')) return;
      const content = (await readFile(path.join(this.gitdir, name), 'utf8').catch(() => '')).trim();
      if (OID.test(content)) refs.set(name, content);
      else if (content.startsWith('ref: ')) refs.set(name, await git.resolveRef({ fs: gitFs, gitdir: this.gitdir, ref: name }));
    };
    // `refs/tags/` is a directory; a full ref name is a file (or a directory of longer names).
    await readLoose(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
    return refs;
  }

  /** Whether the object is in this repository. */
  async hasObject(oid: string): Promise<boolean> {
    return this.objects.has(oid);
  }

  /** An object of this repository (GitObjectNotFoundError when absent; an 'ObjectTypeError' when not of type `want`). */
  private object(oid: string, want?: ObjectType): RawObject {
    const obj = this.objects.read(oid);
    if (want && obj.type !== want) throw new GitObjectFormatError(`${oid} is a ${obj.type}, not a ${want}`, 'ObjectTypeError');
    return obj;
  }

  /** Whether `ancestor` is reachable from commit `oid` through parents (not `oid` itself). */
  private isDescendent(oid: string, ancestor: string): boolean {
    const seen = new Set<string>();
    const queue = [...parseCommit(this.object(oid, 'commit').data).parent];
    while (queue.length) {
      const next = queue.pop()!;
      if (next === ancestor) return true;
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push(...parseCommit(this.object(next, 'commit').data).parent);
    }
    return false;
  }

  /** The commit an oid peels to (annotated tags followed). */
  private async peel(oid: string): Promise<string> {
    const known = this.peeled.get(oid);
    if (known) return known;
    const { type, data } = this.object(oid);
    const commit = type === 'tag' ? await this.peel(parseTag(data).object) : oid;
    if (type === 'commit') {
      if (this.peeledCommits.size >= PEELED_COMMITS_LIMIT) this.peeledCommits.clear();
      this.peeledCommits.set(oid, parseCommit(data));
    }
    this.remember(oid, commit);
    return commit;
  }

  private remember(oid: string, commit: string): void {
    if (this.peeled.size >= PEEL_MEMO_LIMIT) this.peeled.clear();
    this.peeled.set(oid, commit);
  }

  /** The entries of a tree (or of a commit's tree), through the tree cache. Shared: never modify the array. */
  private async readTree(oid: string): Promise<TreeEntry[]> {
    return (await this.readTreeObject(oid)).tree;
  }

  private async readTreeObject(oid: string): Promise<{ oid: string; tree: TreeEntry[] }> {
    const known = trees.get(oid);
    if (known) return known;
    // a commit or an annotated tag stands for its tree
    let treeOid = oid;
    let obj = this.object(oid);
    for (let hops = 0; obj.type !== 'tree'; hops++) {
      if (obj.type === 'blob' || hops > 10) throw new GitObjectFormatError(`${oid} is a ${obj.type}, not a tree`, 'ObjectTypeError');
      treeOid = obj.type === 'commit' ? parseCommit(obj.data).tree : parseTag(obj.data).object;
      obj = this.object(treeOid);
    }
    const entry = { oid: treeOid, tree: parseTree(obj.data) as TreeEntry[] };
    trees.set(oid, entry);
    if (treeOid !== oid) trees.set(treeOid, entry);
    return entry;
  }

  /**
   * Runs an object read; a NotFoundError is retried once with a fresh object cache. isomorphic-git
   * caches pack indexes by file name, and one loaded while a fetch was still writing it misses the
   * objects added after; a fresh cache reloads it. An object that is really missing fails again.
   */
  private async read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (errorCode(err) !== 'NotFoundError') throw err;
      this.cache = {};
      return fn();
    }
  }

  /** The tree at `parts` below a commit or tree; null when there is no directory there. */
  private async subtree(oid: string, parts: string[]): Promise<string | null> {
    let tree: string;
    try {
      tree = (await this.readTreeObject(oid)).oid;
    } catch (err) {
      const code = errorCode(err);
      if (code === 'NotFoundError' || code === 'ObjectTypeError') return null;
      throw err;
    }
    for (const part of parts) {
      const entry = (await this.readTree(tree)).find((e) => e.path === part);
      if (!entry || entry.type !== 'tree') return null;
      tree = entry.oid;
    }
    return tree;
  }

  /** Writes blobs and trees for `files` (paths relative to one directory) and returns the top tree. */
  private async writeFileTree(files: Map<string, Buffer>, written: string[]): Promise<string> {
    interface Dir {
      files: Map<string, Buffer>;
      dirs: Map<string, Dir>;
    }
    const root: Dir = { files: new Map(), dirs: new Map() };
    for (const [file, content] of files) {
      const parts = splitPath(file, 'file path');
      if (parts.length === 0) throw new GitError(`invalid file path ${JSON.stringify(file)}`);
      let dir = root;
      for (const part of parts.slice(0, -1)) {
        if (dir.files.has(part)) throw new GitError(`${file}: ${part} is both a file and a directory`);
        if (!dir.dirs.has(part)) dir.dirs.set(part, { files: new Map(), dirs: new Map() });
        dir = dir.dirs.get(part)!;
      }
      const name = parts[parts.length - 1];
      if (dir.dirs.has(name) || dir.files.has(name)) throw new GitError(`${file}: given twice, or as both a file and a directory`);
      dir.files.set(name, content);
    }
    const write = async (dir: Dir): Promise<string> => {
      const entries: TreeEntry[] = await Promise.all([
        ...[...dir.files].map(async ([name, content]) => {
          const oid = await git.writeBlob({ fs: gitFs, gitdir: this.gitdir, blob: content });
          written.push(oid);
          return { mode: FILE_MODE, path: name, type: 'blob' as const, oid };
        }),
        ...[...dir.dirs].map(async ([name, sub]) => ({ mode: TREE_MODE, path: name, type: 'tree' as const, oid: await write(sub) })),
      ]);
      const oid = await git.writeTree({ fs: gitFs, gitdir: this.gitdir, tree: entries });
      written.push(oid);
      return oid;
    };
    return write(root);
  }

  /**
   * Returns `tree` (null: empty) with the directory at `parts` replaced by `content` (null:
   * removed), rewriting only the trees along that path; null when the result is empty.
   */
  private async replaceSubtree(tree: string | null, parts: string[], content: string | null, written: string[]): Promise<string | null> {
    if (parts.length === 0) return content;
    const [name, ...rest] = parts;
    const entries = tree ? await this.readTree(tree) : [];
    const existing = entries.find((e) => e.path === name);
    if (existing && existing.type !== 'tree') throw new GitError(`${name} is a file, not a directory`);
    const replaced = await this.replaceSubtree(existing?.oid ?? null, rest, content, written);
    const others = entries.filter((e) => e !== existing);
    if (replaced) others.push({ mode: TREE_MODE, path: name, type: 'tree', oid: replaced });
    if (!others.length) return null;
    const oid = await git.writeTree({ fs: gitFs, gitdir: this.gitdir, tree: others });
    written.push(oid);
    return oid;
  }

  /**
   * Adds refs that exist neither loose nor packed to packed-refs in one atomic write (lock file
   * and rename): the fetch of a repository with thousands of tags writes one file, not one each.
   * Entries stay sorted by name; the header is dropped (its traits would promise peeled values the
   * new entries do not carry).
   */
  private async addPackedRefs(refs: [string, string][]): Promise<void> {
    const file = path.join(this.gitdir, 'packed-refs');
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
    }
    // each entry: its ref line and the `^peeled` line after it, if any
    const entries: { ref: string; lines: string[] }[] = [];
    for (const line of text.split('\n')) {
      if (line.startsWith('^') && entries.length) entries[entries.length - 1].lines.push(line);
      else if (OID.test(line.slice(0, 40)) && line[40] === ' ') entries.push({ ref: line.slice(41), lines: [line] });
    }
    for (const [ref, oid] of refs) entries.push({ ref, lines: [`${oid} ${ref}`] });
    entries.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
    await replaceFile(file, entries.flatMap((e) => e.lines).join('\n') + '\n');
  }
}

/** Replaces `file` with `content` atomically, through git's lock file name (which git and readRefs skip). */
async function replaceFile(file: string, content: string): Promise<void> {
  const lock = `${file}.lock`;
  await writeFile(lock, content);
  await rename(lock, file);
}

async function isGitDir(dir: string): Promise<boolean> {
  try {
    const [head, objects] = await Promise.all([stat(path.join(dir, 'HEAD')), stat(path.join(dir, 'objects'))]);
    return head.isFile() && objects.isDirectory();
  } catch {
    return false;
  }
}

interface Remote {
  /** without credentials */
  url: string;
  /** what requests send */
  auth?: GitAuth;
  /** the `user:password@` the URL carried */
  urlAuth?: GitAuth;
}

/** Checks the URL and moves any `user:password@` out of it into the auth. */
function parseRemote(raw: string, auth: GitAuth | undefined): Remote {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new GitError('remote URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GitError(`remote URL scheme ${url.protocol} is not supported (http or https)`);
  const embedded = url.username || url.password ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) } : undefined;
  url.username = '';
  url.password = '';
  return { url: url.toString().replace(/\/$/, ''), auth: auth ?? embedded, urlAuth: embedded };
}
