// PackageAPI (pkg.pkgserver.dev/v1alpha1): the catalog's map of which package provides which API
// (SPEC 5.3), kept by the discovery controller and served read-only, so that people and programs
// browse the catalog with kubectl: "which package provides cert-manager.io/Certificate, in which
// revisions and versions". One object per provided API and namespace: a CustomResourceDefinition's
// GroupKind (named like the CRD, `<plural>.<group>`) or an APIService's group (named `<group>`,
// kind "*": every kind of that aggregated group).
import { objectMetaSchema, type KObject } from './meta.ts';
import { PKG_GROUP, PKG_VERSION, type PackageRef } from './pkg.ts';
import { arr, obj, str, type Schema } from './schema.ts';

export { PKG_GROUP, PKG_VERSION };

/** The kind of a PackageAPI that stands for every kind of an aggregated group (APIService). */
export const ALL_KINDS = '*';

export interface PackageAPIProvider extends PackageRef {
  /** the API versions it serves, each with the published revisions serving it (ordered) */
  versions: { version: string; revisions: string[] }[];
}

export interface PackageAPISpec {
  group: string;
  kind: string;
  /** the plural resource name ("" for an APIService's group) */
  resource: string;
  scope?: 'Namespaced' | 'Cluster';
  providers: PackageAPIProvider[];
}

export interface PackageAPI extends KObject {
  spec: PackageAPISpec;
}

/** `<plural>.<group>` (like the CRD's own name), or `<group>` for every kind of an APIService's group. */
export function packageAPIName(group: string, resource: string): string {
  return resource ? `${resource}.${group}` : group;
}

export const packageAPISchema: Schema = obj(
  'PackageAPI says which catalog packages provide an API (a CustomResourceDefinition\'s kind, or every kind of an APIService\'s group), in which versions and revisions. Kept by the server; read-only.',
  {
    apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
    kind: str('Kind is a string value representing the REST resource this object represents.'),
    metadata: objectMetaSchema,
    spec: obj('The API and its providers.', {
      group: str('API group.'),
      kind: str('Kind ("*": every kind of the group, provided by an APIService).'),
      resource: str('Plural resource name ("" for an APIService).'),
      scope: str('Namespaced or Cluster (from the CustomResourceDefinition).'),
      providers: arr(
        'The catalog packages that provide it.',
        obj('A providing package.', {
          repository: str('Catalog Repository (same namespace).'),
          realm: str('Realm of the package.'),
          package: str('Name of the package.'),
          versions: arr(
            'API versions served, each with the published revisions of the package serving it.',
            obj('An API version.', { version: str('API version.'), revisions: arr('Published revisions serving it (oldest first).', { type: 'string' }) }),
          ),
        }),
      ),
    }),
  },
  {},
);
