// config.pkg.pkgserver.dev/v1alpha1: Repository and PackageVariant (SPEC 3.5).
import { conditionsSchema, objectMetaSchema, type Condition, type KObject } from './meta.ts';
import { anyObject, arr, bool, int, obj, str, stringMap, type Schema } from './schema.ts';

export const CONFIG_GROUP = 'config.pkg.pkgserver.dev';
export const CONFIG_VERSION = 'v1alpha1';

// ---------------------------------------------------------------- Repository

export interface RepositorySpec {
  type: 'git';
  deployment: boolean;
  git: { url: string; ref: string; directory: string; credentials?: string };
  sync: { period: string };
  approval: { requireDistinctApprover: boolean };
}

export interface RepositoryStatus {
  conditions?: Condition[];
  lastSyncTime?: string;
  packageCount?: number;
  revisionCount?: number;
  headCommit?: string;
}

export interface Repository extends KObject {
  spec: RepositorySpec;
  status?: RepositoryStatus;
}

const kindSchema = (description: string, spec: Schema, status: Schema): Schema =>
  obj(
    description,
    {
      apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
      kind: str('Kind is a string value representing the REST resource this object represents.'),
      metadata: objectMetaSchema,
      spec,
      status,
    },
    { required: ['spec'] },
  );

export const repositorySchema: Schema = kindSchema(
  'Repository registers a git repository that holds packages: a catalog of blueprints, or a deployment repository whose packages GitOps reconcilers apply to clusters.',
  obj(
    'RepositorySpec describes the git repository and how the server keeps it in sync.',
    {
      type: str('Type of the repository. Only "git" is supported.', { enum: ['git'], default: 'git' }),
      deployment: bool('Deployment repositories hold packages per deployment target (cluster); catalog repositories (false) hold blueprints.', { default: false }),
      git: obj(
        'Git repository location and credentials.',
        {
          url: str('URL of the repository: https://host/path.git, or an absolute path or file:// URL of a local bare repository. Immutable.', { minLength: 1 }),
          ref: str('Branch that holds the published packages. Immutable.', { default: 'main' }),
          directory: str('Directory inside the repository that holds the packages ("" for the root). Immutable.', { default: '' }),
          credentials: str('Name of the credentials (a Secret in a cluster, an entry of the credentials file in standalone): basic auth or a bearer token.'),
        },
        { required: ['url'], default: {} },
      ),
      sync: obj('How often the repository is synchronised.', { period: str('Polling interval as a duration ("60s", "5m", "1h").', { default: '60s' }) }, { default: {} }),
      approval: obj(
        'Approval policy for publishing packages of this repository.',
        { requireDistinctApprover: bool('The user who last proposed a revision may not approve it.', { default: false }) },
        { default: {} },
      ),
    },
    { required: ['git'] },
  ),
  obj('RepositoryStatus is the observed state of the repository.', {
    conditions: conditionsSchema,
    lastSyncTime: str('When the repository was last synchronised.', { format: 'date-time' }),
    packageCount: int('Number of packages in the repository.'),
    revisionCount: int('Number of package revisions in the repository.'),
    headCommit: str('Commit at the head of spec.git.ref at the last sync.'),
  }),
);

// ---------------------------------------------------------------- PackageVariant

export interface Upstream {
  repository: string;
  realm?: string;
  package: string;
  revision?: string;
}

export interface Downstream {
  target: string;
  repository: string;
  realm?: string;
  package: string;
}

export interface PackageVariantSpec {
  upstream: Upstream;
  downstream: Downstream;
  packageContext?: {
    inputs?: Record<string, unknown>[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    readinessGates?: { conditionType: string }[];
  };
  adoptionPolicy: 'adoptNone' | 'adoptExisting';
  deletionPolicy: 'delete' | 'orphan';
}

export interface PackageVariant extends KObject {
  spec: PackageVariantSpec;
  status?: { conditions?: Condition[]; downstream?: { name: string; lifecycle: string; revision?: string }[] };
}

export const upstreamSchema = obj(
  'A published revision of a catalog package.',
  {
    repository: str('Name of the catalog Repository (same namespace).'),
    realm: str('Realm of the package: a "/"-separated path of DNS labels, may be empty.'),
    package: str('Name of the package (a DNS label).'),
    revision: str('Revision: "v2", a semver range (">=1.2 <2"), or "*" or empty for the latest.'),
  },
  { required: ['repository', 'package'] },
);

export const readinessGatesSchema = arr(
  'Conditions that must be True before the revision can be published.',
  obj('A readiness gate.', { conditionType: str('Type of the condition that must be True.') }, { required: ['conditionType'] }),
  { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['conditionType'], 'x-kubernetes-patch-merge-key': 'conditionType', 'x-kubernetes-patch-strategy': 'merge' },
);

export const packageVariantSchema: Schema = kindSchema(
  'PackageVariant makes and keeps a downstream (deployment) package from an upstream catalog package revision.',
  obj(
    'PackageVariantSpec names the upstream revision, the downstream package and the context to apply.',
    {
      upstream: upstreamSchema,
      downstream: obj(
        'The downstream package. Immutable.',
        {
          target: str('Deployment target (cluster) of the downstream package (a DNS label).'),
          repository: str('Name of the deployment Repository (same namespace).'),
          realm: str('Realm of the downstream package, may be empty.'),
          package: str('Name of the downstream package (a DNS label).'),
        },
        { required: ['target', 'repository', 'package'] },
      ),
      packageContext: obj('Context applied to the downstream package.', {
        inputs: arr('KRM objects written into the package context.', anyObject('A KRM object.')),
        labels: stringMap('Labels set on the downstream PackageRevisions.'),
        annotations: stringMap('Annotations set on the downstream PackageRevisions.'),
        readinessGates: readinessGatesSchema,
      }),
      adoptionPolicy: str('adoptExisting: take over an existing downstream package; adoptNone: only packages this variant created.', {
        enum: ['adoptNone', 'adoptExisting'],
        default: 'adoptNone',
      }),
      deletionPolicy: str('delete: remove the downstream revisions with the variant; orphan: leave them.', { enum: ['delete', 'orphan'], default: 'delete' }),
    },
    { required: ['upstream', 'downstream'] },
  ),
  obj('PackageVariantStatus is the observed state of the variant.', {
    conditions: conditionsSchema,
    downstream: arr(
      'The downstream PackageRevisions of this variant.',
      obj('A downstream PackageRevision.', { name: str('Name of the PackageRevision.'), lifecycle: str('Its lifecycle.'), revision: str('Its revision, once published.') }),
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] },
    ),
  }),
);
