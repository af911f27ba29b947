// The PackageAPI resource (src/api/catalog.ts): read-only for users (get, list, watch), written by
// the discovery controller through the in-process client. Columns and field selectors for
// browsing the catalog: `kubectl get packageapis --field-selector spec.group=cert-manager.io`.
import { packageAPISchema, PKG_GROUP, PKG_VERSION, type PackageAPI } from '../../api/catalog.ts';
import { compareRevisions } from '../../api/pkg.ts';
import type { KObject } from '../../api/meta.ts';
import type { ResourceDef } from './types.ts';

const spec = (o: KObject) => (o as PackageAPI).spec ?? { providers: [] };
const path = (...parts: (string | undefined)[]) => parts.filter(Boolean).join('/');
const unique = (xs: string[]) => [...new Set(xs)];

export function packageAPIResource(): ResourceDef {
  return {
    group: PKG_GROUP,
    version: PKG_VERSION,
    kind: 'PackageAPI',
    listKind: 'PackageAPIList',
    plural: 'packageapis',
    singular: 'packageapi',
    shortNames: ['papi'],
    categories: ['pkg'],
    namespaced: true,
    schema: packageAPISchema,
    subresources: {},
    verbs: ['get', 'list', 'watch'],
    description: 'PackageAPI says which catalog packages provide an API, in which versions and revisions (read-only).',
    columns: [
      { name: 'Group', type: 'string', description: 'API group', priority: 0, cell: (o) => spec(o).group },
      { name: 'Kind', type: 'string', description: 'Kind ("*": every kind of the group)', priority: 0, cell: (o) => spec(o).kind },
      { name: 'Versions', type: 'string', description: 'API versions served', priority: 0, cell: (o) => unique((spec(o).providers ?? []).flatMap((p) => (p.versions ?? []).map((v) => v.version))).join(',') },
      { name: 'Package', type: 'string', description: 'Providing packages (repository/realm/package)', priority: 0, cell: (o) => (spec(o).providers ?? []).map((p) => path(p.repository, p.realm, p.package)).join(',') },
      {
        name: 'Revisions',
        type: 'string',
        description: 'Published revisions providing it',
        priority: 0,
        cell: (o) => unique((spec(o).providers ?? []).flatMap((p) => (p.versions ?? []).flatMap((v) => v.revisions ?? []))).sort(compareRevisions).join(','),
      },
      { name: 'Resource', type: 'string', description: 'Plural resource name', priority: 1, cell: (o) => spec(o).resource },
      { name: 'Scope', type: 'string', description: 'Namespaced or Cluster', priority: 1, cell: (o) => spec(o).scope },
    ],
    fieldSelectors: {
      'spec.group': (o) => spec(o).group ?? '',
      'spec.kind': (o) => spec(o).kind ?? '',
      'spec.resource': (o) => spec(o).resource ?? '',
    },
    strategy: {},
  };
}
