// The Repository resource: validation (URL forms, immutable location, one Repository per
// url+ref+directory in a namespace), printer columns and field selectors.
import { CONFIG_GROUP, CONFIG_VERSION, repositorySchema, type Repository } from '../../api/config.ts';
import { findCondition, type KObject } from '../../api/meta.ts';
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

function validateURL(url: string): FieldError[] {
  if (/^https?:\/\/[^/\s]+\/\S+$/.test(url)) {
    if (/^https?:\/\/[^/@]*@/.test(url)) return [fieldErr.invalid('spec.git.url', '<redacted>', 'credentials may not be embedded in the URL; use spec.git.credentials')];
    return [];
  }
  const path = url.startsWith('file://') ? url.slice('file://'.length) : url;
  if (path.startsWith('/') && !path.split('/').includes('..')) return [];
  return [fieldErr.invalid('spec.git.url', url, 'must be an https:// (or http://) URL of a git repository, or an absolute path or file:// URL of a local bare repository')];
}

/** `peers(ns)` lists the Repositories of a namespace (for the uniqueness check). */
export function repositoryResource(peers: (ns: string) => Iterable<KObject>): ResourceDef {
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
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
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
      // writes in one namespace see each other: the url+ref+directory uniqueness check holds
      lockKey: (ns) => `repositories/${ns}`,
      validate(o) {
        const r = o as Repository;
        const errs: FieldError[] = [...validateURL(r.spec.git.url), ...branchField('spec.git.ref', r.spec.git.ref), ...directoryField('spec.git.directory', r.spec.git.directory)];
        if (r.spec.git.credentials) {
          const e = dns1123SubdomainError('spec.git.credentials', r.spec.git.credentials);
          if (e) errs.push(e);
        }
        const period = parseDuration(r.spec.sync.period);
        if (period === undefined || period < 1)
          errs.push(fieldErr.invalid('spec.sync.period', r.spec.sync.period, 'must be a duration of at least 1s, such as "30s", "5m" or "1h30m"'));
        const mine = `${normalizeRepoURL(r.spec.git.url)}\u0000${r.spec.git.ref}\u0000${r.spec.git.directory}`;
        for (const p of peers(r.metadata.namespace!)) {
          const q = p as Repository;
          if (q.metadata.name === r.metadata.name) continue;
          if (`${normalizeRepoURL(q.spec.git.url)}\u0000${q.spec.git.ref}\u0000${q.spec.git.directory}` === mine)
            errs.push(fieldErr.duplicate('spec.git.url', r.spec.git.url, `Repository "${q.metadata.name}" already serves this url, ref "${r.spec.git.ref}" and directory "${r.spec.git.directory}"`));
        }
        return errs;
      },
      validateUpdate(o, old, ctx) {
        const errs: FieldError[] = [...(this.validate!(o, ctx) as FieldError[])];
        const n = o as Repository;
        const p = old as Repository;
        if (n.spec.type !== p.spec.type) errs.push(fieldErr.immutable('spec.type', n.spec.type));
        for (const f of ['url', 'ref', 'directory'] as const)
          if (n.spec.git?.[f] !== p.spec.git?.[f]) errs.push(fieldErr.immutable(`spec.git.${f}`, n.spec.git?.[f]));
        return errs;
      },
    },
  };
}
