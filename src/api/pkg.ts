// pkg.pkgserver.dev/v1alpha1: PackageRevision and PackageRevisionResources (SPEC 3.2–3.4, 3.6).
import { readinessGatesSchema, upstreamSchema, type Upstream } from './config.ts';
import { conditionsSchema, objectMetaSchema, type Condition, type KObject } from './meta.ts';
import semver from 'semver';
import { anyObject, arr, obj, str, stringMap, type Schema } from './schema.ts';

export const PKG_GROUP = 'pkg.pkgserver.dev';
export const PKG_VERSION = 'v1alpha1';

/** Target of every revision in a catalog repository. */
export const CATALOG_TARGET = 'catalog';

export const LIFECYCLES = ['draft', 'proposed', 'published', 'deletionProposed'] as const;
export type Lifecycle = (typeof LIFECYCLES)[number];

export const LABEL_LATEST = 'pkg.pkgserver.dev/latest-revision';
export const GATE_APPROVE = 'pkg.pkgserver.dev/approve';

export interface PackageRevID {
  target: string;
  repository: string;
  realm?: string;
  package: string;
  workspace: string;
  revision?: string;
}

export const TASK_TYPES = ['init', 'clone', 'upgrade'] as const;

export interface Task {
  type: (typeof TASK_TYPES)[number];
}

export interface PackageRevisionSpec {
  packageRevID: PackageRevID;
  lifecycle: Lifecycle;
  updatePolicy: 'loose' | 'strict';
  tasks: Task[];
  upstream?: Upstream;
  readinessGates?: { conditionType: string }[];
  inputs?: Record<string, unknown>[];
}

export interface GitStatus {
  branch?: string;
  tag?: string;
  commit?: string;
}

export interface PackageRevisionStatus {
  conditions?: Condition[];
  publishedBy?: string;
  publishTimestamp?: string;
  dependencies?: Record<string, unknown>;
  git?: GitStatus;
  /** the newest published revision of spec.upstream's package, when it is newer than spec.upstream.revision */
  latestUpstreamRevision?: string;
}

export interface PackageRevision extends KObject {
  spec: PackageRevisionSpec;
  status?: PackageRevisionStatus;
}

export interface PackageRevisionResources extends KObject {
  spec: { packageRevID: PackageRevID; resources: Record<string, string> };
  status?: { conditions?: Condition[] };
}

const packageRevIDSchema = obj(
  'Identifies the revision: where the package lives and which workspace or revision this is.',
  {
    target: str(`Deployment target (a cluster); "${CATALOG_TARGET}" in catalog repositories. Immutable.`),
    repository: str('Name of the Repository (same namespace). Immutable.'),
    realm: str('Grouping path of "/"-separated DNS labels, may be empty. Immutable.'),
    package: str('Name of the package (a DNS label). Immutable.'),
    workspace: str('Workspace (a DNS label), unique per package. Immutable.'),
    revision: str('Revision ("v3"); empty until published, assigned by the server.'),
  },
  { required: ['target', 'repository', 'package', 'workspace'] },
);

export const packageRevisionSchema: Schema = obj(
  'PackageRevision is one revision of one package, with a lifecycle: draft → proposed → published → deletionProposed.',
  {
    apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
    kind: str('Kind is a string value representing the REST resource this object represents.'),
    metadata: objectMetaSchema,
    spec: obj(
      'PackageRevisionSpec is the desired state of the revision.',
      {
        packageRevID: packageRevIDSchema,
        lifecycle: str('Lifecycle: draft, proposed, published or deletionProposed. Publishing needs the approve permission.', {
          enum: [...LIFECYCLES],
          default: 'draft',
        }),
        updatePolicy: str('How PackageRevisionResources updates treat files absent from the update: loose keeps them, strict deletes them.', {
          enum: ['loose', 'strict'],
          default: 'loose',
        }),
        tasks: arr(
          'How the first content was made: exactly one task: init (a new package, or a copy of its latest published revision), clone (a copy of spec.upstream), or upgrade (the latest published revision moved to spec.upstream by a three-way merge). Immutable.',
          obj('A task.', { type: str('init, clone or upgrade.', { enum: [...TASK_TYPES] }) }, { required: ['type'] }),
        ),
        upstream: { ...upstreamSchema, description: 'The published catalog revision this revision was cloned from (clone task) or upgraded to (upgrade task). Immutable.' },
        readinessGates: readinessGatesSchema,
        inputs: arr('KRM objects of the package context, written to package-context.yaml.', anyObject('A KRM object.')),
      },
      { required: ['packageRevID'] },
    ),
    status: obj('PackageRevisionStatus is the observed state of the revision.', {
      conditions: conditionsSchema,
      publishedBy: str('The user who approved the revision.'),
      publishTimestamp: str('When the revision was published.', { format: 'date-time' }),
      dependencies: anyObject('Dependencies discovered in the package.'),
      latestUpstreamRevision: str('The newest published revision of the upstream package, when it is newer than spec.upstream.revision: an upgrade is available.'),
      git: obj('Where the revision is in git.', {
        branch: str('Draft or proposed branch.'),
        tag: str('Tag of a published revision.'),
        commit: str('Commit of the revision.'),
      }),
    }),
  },
  { required: ['spec'] },
);

export const packageRevisionResourcesSchema: Schema = obj(
  'PackageRevisionResources holds the files of a PackageRevision.',
  {
    apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
    kind: str('Kind is a string value representing the REST resource this object represents.'),
    metadata: objectMetaSchema,
    spec: obj(
      'The files of the revision.',
      {
        packageRevID: packageRevIDSchema,
        resources: stringMap('Files of the package: relative path → content.'),
      },
      {},
    ),
    status: obj('Status of the content.', { conditions: conditionsSchema }),
  },
  {},
);

/** `<target>.<repository>.<realm with "/" as ":">.<package>.<workspace>` (SPEC 3.6). */
export function packageRevisionName(id: Pick<PackageRevID, 'target' | 'repository' | 'realm' | 'package' | 'workspace'>): string {
  return [id.target, id.repository, (id.realm ?? '').replace(/\//g, ':'), id.package, id.workspace].join('.');
}

/** The workspace of a catalog revision found from a tag: the revision with "." as "-". */
export function workspaceForRevision(revision: string): string {
  return revision.replace(/\./g, '-');
}

// ---- revisions: v<N>, and tags made outside the server as v1.2 or v1.2.3 (ordered as semver)

const REVISION_RE = /^v(\d+)(\.\d+){0,2}$/;

export const isRevision = (s: string) => REVISION_RE.test(s);

/** Revisions ordered as semver ("v2" < "v10", "v1.2" < "v1.10"). */
export function compareRevisions(a: string, b: string): number {
  return semver.compare(semver.coerce(a)!, semver.coerce(b)!);
}

/** The major number of a revision ("v3.1.2" → 3). */
export const revisionMajor = (r: string) => Number(REVISION_RE.exec(r)?.[1] ?? 0);
