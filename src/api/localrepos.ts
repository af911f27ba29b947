// Where a Repository may point on the server's own disk (repository isolation): a local path
// (`/abs` or `file:///abs`) only under a root the operator allowed (--local-repository-root),
// never inside or above the server's data directory (its mirrors of other namespaces' remotes
// live there), never in the kernel's /proc, /sys or /dev. Paths are compared after resolving ".",
// "..", duplicate slashes and every symbolic link, component by component. The Repository
// validation applies these rules, and the engine again when it opens a local repository.
import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/** Where local (on-disk) repositories may be: under a root the operator configured, never in the data directory. */
export interface LocalRepositoryPolicy {
  /** --local-repository-root (absolute paths); none: local repositories are refused */
  roots: string[];
  /** the server's data directory (its mirrors of remotes live there) */
  dataDir: string;
}

/** Linux's bound on symbolic links followed while resolving one path (ELOOP beyond). */
const MAX_LINKS = 40;

const SPECIAL_TREES = ['/proc', '/sys', '/dev'];

/** The path a local repository URL names (`/abs` or `file:///abs`, taken literally), or undefined for any other form. */
export function localPath(url: string): string | undefined {
  const p = url.startsWith('file://') ? url.slice('file://'.length) : url;
  return p.startsWith('/') ? p : undefined;
}

/**
 * `p` made absolute with ".", ".." and duplicate slashes removed and every symbolic link on the
 * way resolved, dangling ones included (what is missing is kept as written, like `realpath -m`);
 * undefined after too many links (a loop).
 */
export function canonicalPath(p: string): string | undefined {
  const todo = path.resolve(p).split('/').filter(Boolean);
  let done = '/';
  let links = 0;
  while (todo.length) {
    const c = todo.shift()!;
    if (c === '.') continue;
    if (c === '..') {
      done = path.dirname(done);
      continue;
    }
    const next = path.join(done, c);
    let target: string | undefined;
    try {
      if (lstatSync(next).isSymbolicLink()) target = readlinkSync(next);
    } catch {
      // missing or unreadable: kept as written
    }
    if (target === undefined) {
      done = next;
      continue;
    }
    if (++links > MAX_LINKS) return undefined;
    todo.unshift(...target.split('/').filter(Boolean));
    if (target.startsWith('/')) done = '/';
  }
  return done;
}

/** `p` is `dir` or below it (whole components: /tmp/rootx is not under /tmp/root). */
export function isWithin(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * Why the local path `p` may not be used as a repository (the rule, worded to follow the field
 * name), or undefined when it may. Says nothing of what is on the disk beyond the rule.
 */
export function localPathError(p: string, policy: LocalRepositoryPolicy): string | undefined {
  if (policy.roots.length === 0)
    return 'local repositories are not allowed on this server: the server must be started with --local-repository-root to allow the directories they may be in';
  // the kernel's trees, as written and as resolved: /proc/self/cwd resolves to wherever the server
  // runs, which may well be under a root
  const special = (q: string) => SPECIAL_TREES.some((s) => isWithin(q, s));
  if (special(path.resolve(p))) return 'must not be under /proc, /sys or /dev';
  const real = canonicalPath(p);
  if (real === undefined) return 'must not have a loop of symbolic links';
  if (!policy.roots.some((r) => isWithin(real, canonicalPath(r) ?? path.resolve(r))))
    return 'must be under a directory the server allows for local repositories (--local-repository-root)';
  const data = canonicalPath(policy.dataDir) ?? path.resolve(policy.dataDir);
  if (isWithin(real, data) || isWithin(data, real)) return "must not be inside (or contain) the server's data directory";
  if (special(real)) return 'must not be under /proc, /sys or /dev';
  return undefined;
}
