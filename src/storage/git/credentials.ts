// Where the git credentials a Repository names (spec.git.credentials) come from: standalone, a
// YAML file; in a cluster, Secrets (src/kube/secrets.ts implements the same interface).
import { readFile, stat } from 'node:fs/promises';
import YAML from 'yaml';
import type { GitAuth } from './repo.ts';

export interface Credentials {
  /** basic auth or bearer token for a Repository's spec.git.credentials */
  lookup(namespace: string, name: string): Promise<GitAuth | undefined>;
}

/**
 * The standalone credentials file: YAML `{ "<namespace>/<name>" | "<name>": {username, password} | {token} }`.
 * A Repository gets the entry of its own namespace, else a global one (a bare name), never another
 * namespace's.
 * Read again whenever it changes (inode, size or mtime), so fixed or rotated credentials apply without a restart.
 */
export function credentialsFile(file: string | undefined): Credentials {
  let cache: { stamp: string; entries: Promise<Record<string, GitAuth>> } | undefined;
  return {
    async lookup(namespace, name) {
      // the Repository's own namespace only: a name with a "/" would reach another namespace's entry
      if (!file || name.includes('/')) return undefined;
      const st = await stat(file);
      const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (cache?.stamp !== stamp) cache = { stamp, entries: readFile(file, 'utf8').then((t) => (YAML.parse(t) ?? {}) as Record<string, GitAuth>) };
      const all = await cache.entries;
      const own = (key: string) => (Object.hasOwn(all, key) ? all[key] : undefined);
      return own(`${namespace}/${name}`) ?? own(name);
    },
  };
}

