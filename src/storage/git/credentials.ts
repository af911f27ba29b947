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
 * Read again whenever it changes (inode, size or mtime), so fixed or rotated credentials apply without a restart.
 */
export function credentialsFile(file: string | undefined): Credentials {
  let cache: { stamp: string; entries: Promise<Record<string, GitAuth>> } | undefined;
  return {
    async lookup(namespace, name) {
      if (!file) return undefined;
      const st = await stat(file);
      const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (cache?.stamp !== stamp) cache = { stamp, entries: readFile(file, 'utf8').then((t) => (YAML.parse(t) ?? {}) as Record<string, GitAuth>) };
      const all = await cache.entries;
      return all[`${namespace}/${name}`] ?? all[name];
    },
  };
}

