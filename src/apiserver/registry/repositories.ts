// The Repository resource: validation (URL forms, local paths only where the operator allows them
// and never in the data directory, a branch name, a clean directory, credentials of the
// Repository's own namespace, immutable location, one Repository per url+ref+directory in a
// namespace), printer columns and field selectors.
import { createHash } from 'node:crypto';
import { CONFIG_GROUP, CONFIG_VERSION, repositorySchema, type Repository } from '../../api/config.ts';
import { findCondition, type KObject } from '../../api/meta.ts';
import { localPath, localPathError, type LocalRepositoryPolicy } from '../../api/localrepos.ts';
import { branchField, directoryField, parseDuration } from '../../api/names.ts';
import { fieldErr, type FieldError } from '../errors.ts';
import { dns1123SubdomainError } from '../validation.ts';
import { statusSubresource } from './status.ts';
import type { ResourceDef } from './types.ts';

/** The same repository written differently compares equal: scheme/host case, trailing "/" or ".git". */
export function normalizeRepoURL(url: string): string {
  let u = url.trim();
  if (u.startsWith('file://')) u = u.slice('file://'.length);
  else {
    const m = /^([a-z]+):\/\/([^/]*)(.*)$/i.exec(u);
    if (m) u = `${m[1].toLowerCase()}://${m[2].toLowerCase()}${m[3]}`;
  }
  return u.replace(/\/+$/, '').replace(/\.git$/, '');
}

/** What makes two Repositories of a namespace the same: url (normalised), ref and directory. */
const locationOf = (r: Repository) => `${normalizeRepoURL(r.spec.git.url)}\u0000${r.spec.git.ref}\u0000${r.spec.git.directory}`;

/**
 * The store key that holds a namespace's url+ref+directory (several replicas: created in the same
 * transaction as the Repository, so two creates on two replicas cannot both succeed).
 */
export const repositoryIndexKey = (r: Repository) => `/pkgserver-index/repositories/${r.metadata.namespace}/${createHash('sha256').update(locationOf(r)).digest('hex')}`;

const URL_FORMS = 'must be an https:// (or http://) URL of a git repository, or an absolute path or file:// URL of a local bare repository';

/**
 * spec.git.url: an http(s) URL with a host and a path and no credentials, or a local path that
 * `local` allows (src/api/localrepos.ts); `local` undefined skips where a local path points (an
 * update: the URL is immutable and was checked when the Repository was created).
 */
export function validateURL(url: string, local: LocalRepositoryPolicy | undefined): FieldError[] {
  const bad = (value: unknown, why: string) => [fieldErr.invalid('spec.git.url', value, why)];
  if (/[\x00-\x1f\x7f]/.test(url)) return bad(url, 'must not contain NUL or control characters');
  if (/^https?:\/\//.test(url)) {
    if (/^https?:\/\/[^/]*@/.test(url)) return bad('<redacted>', 'credentials may not be embedded in the URL; use spec.git.credentials');
    let host = '';
    try {
      host = new URL(url).hostname;
    } catch {
      // not a URL: refused below
    }
    return host && /^https?:\/\/[^/\s\\]+\/[^\s\\]+$/.test(url) ? [] : bad(url, URL_FORMS);
  }
  const p = localPath(url);
  if (p === undefined) return bad(url, URL_FORMS);
  const why = local && localPathError(p, local);
  return why ? bad(url, why) : [];
}

/** spec.git.credentials: a name in the Repository's own namespace (a Secret, or an entry of the credentials file). */
function credentialsField(value: string | undefined): FieldError[] {
  if (!value) return [];
  if (value.includes('/'))
    return [fieldErr.invalid('spec.git.credentials', value, "must be the name of credentials in the Repository's own namespace, without a namespace (\"/\" is not allowed)")];
  const e = dns1123SubdomainError('spec.git.credentials', value);
  return e ? [e] : [];
}

/** A sync at least once a day (a longer period is a mistake; a sync can also be triggered). */
const MAX_SYNC_PERIOD_SECONDS = 24 * 3600;

/** `peers(ns)` lists the Repositories of a namespace (for the uniqueness check). */
export function repositoryResource(peers: (ns: string) => Iterable<KObject>, local: LocalRepositoryPolicy = { roots: [], dataDir: '' }): ResourceDef {
  return {
    group: CONFIG_GROUP,
    version: CONFIG_VERSION,
    kind: 'Repository',
    listKind: 'RepositoryList',
    plural: 'repositories',
    singular: 'repository',
    shortNames: ['repo'],
    categories: ['pkg'],
    namespaced: true,
    schema: repositorySchema,
    subresources: { status: statusSubresource },
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    description: 'Repository registers a git catalog or deployment repository.',
    columns: [
      { name: 'Deployment', type: 'boolean', description: 'Deployment repository (true) or catalog (false)', priority: 0, cell: (o) => Boolean(o.spec?.deployment) },
      { name: 'Type', type: 'string', description: 'Repository type', priority: 0, cell: (o) => o.spec?.type },
      { name: 'Address', type: 'string', description: 'Git URL', priority: 0, cell: (o) => o.spec?.git?.url },
      { name: 'Ready', type: 'string', description: 'Ready condition', priority: 0, cell: (o) => findCondition(o.status?.conditions, 'Ready')?.status ?? 'Unknown' },
      { name: 'Packages', type: 'integer', description: 'Number of packages', priority: 0, cell: (o) => o.status?.packageCount ?? 0 },
      { name: 'Age', type: 'date', description: 'CreationTimestamp', priority: 0, cell: (o) => o.metadata.creationTimestamp },
      { name: 'Ref', type: 'string', description: 'Branch holding published packages', priority: 1, cell: (o) => o.spec?.git?.ref },
      { name: 'Directory', type: 'string', description: 'Directory holding the packages', priority: 1, cell: (o) => o.spec?.git?.directory || '/' },
      { name: 'Last-Sync', type: 'date', description: 'Last synchronisation', priority: 1, cell: (o) => o.status?.lastSyncTime },
    ],
    fieldSelectors: {
      'spec.type': (o) => o.spec?.type ?? '',
      'spec.deployment': (o) => String(Boolean(o.spec?.deployment)),
      'spec.git.url': (o) => o.spec?.git?.url ?? '',
      'spec.git.ref': (o) => o.spec?.git?.ref ?? '',
    },
    strategy: {
      // writes in one namespace see each other: the url+ref+directory uniqueness check holds (in
      // this process; across replicas on etcd the index key below enforces it)
      lockKey: (ns) => `repositories/${ns}`,
      indexKeys: (o) => [repositoryIndexKey(o as Repository)],
      indexConflict: (o) => {
        const r = o as Repository;
        return [fieldErr.duplicate('spec.git.url', r.spec.git.url, `another Repository already serves this url, ref "${r.spec.git.ref}" and directory "${r.spec.git.directory}"`)];
      },
      validate: (o) => validateSpec(o as Repository, local),
      validateUpdate(o, old) {
        const n = o as Repository;
        const p = old as Repository;
        const errs = validateSpec(n, n.spec.git?.url === p.spec.git?.url ? undefined : local);
        if (n.spec.type !== p.spec.type) errs.push(fieldErr.immutable('spec.type', n.spec.type));
        for (const f of ['url', 'ref', 'directory'] as const)
          if (n.spec.git?.[f] !== p.spec.git?.[f]) errs.push(fieldErr.immutable(`spec.git.${f}`, n.spec.git?.[f]));
        return errs;
      },
    },
  };

  function validateSpec(r: Repository, local: LocalRepositoryPolicy | undefined): FieldError[] {
    const errs: FieldError[] = [
      ...validateURL(r.spec.git.url, local),
      ...branchField('spec.git.ref', r.spec.git.ref),
      ...directoryField('spec.git.directory', r.spec.git.directory),
      ...credentialsField(r.spec.git.credentials),
    ];
    const period = parseDuration(r.spec.sync.period);
    if (period === undefined || period < 1 || period > MAX_SYNC_PERIOD_SECONDS)
      errs.push(fieldErr.invalid('spec.sync.period', r.spec.sync.period, 'must be a duration of at least 1s and at most 24h, such as "30s", "5m" or "1h30m"'));
    const mine = locationOf(r);
    for (const p of peers(r.metadata.namespace!)) {
      const q = p as Repository;
      if (q.metadata.name === r.metadata.name) continue;
      if (locationOf(q) === mine)
        errs.push(fieldErr.duplicate('spec.git.url', r.spec.git.url, `Repository "${q.metadata.name}" already serves this url, ref "${r.spec.git.ref}" and directory "${r.spec.git.directory}"`));
    }
    return errs;
  }
}
