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
/** The readiness gate that asks for the package's dependencies to be deployed first (SPEC 5.4). */
export const GATE_SCHEDULE = 'pkg.pkgserver.dev/schedule';
/** The condition of a catalog revision's dependency discovery (SPEC 5.3). */
export const CONDITION_DEPENDENCIES = 'pkg.pkgserver.dev/dependencies';
/** Publishes a revision whose CustomResourceDefinitions break the previous revision's (docs/dependencies.md). */
export const ANNOTATION_ALLOW_BREAKING_CRDS = 'pkg.pkgserver.dev/allow-breaking-crd-changes';

/** A package of the catalog: repository, realm and package name (same namespace). */
export interface PackageRef {
  repository: string;
  realm?: string;
  package: string;
}

/** A dependency on another catalog package, with the revisions that satisfy it. */
export interface PackageDependency extends PackageRef {
  /** a revision constraint: "*", "v2", a semver range (">=1.2 <2"), or revisions joined by "||" */
  revision: string;
  /** what asks for it: "cert-manager.io/Certificate", "PackageDependency cm", "PackageVariant x" */
  for: string[];
}

/** An API served by the cluster itself. */
export interface CoreDependency {
  group: string;
  version: string;
  kind: string;
}

/** What discovery found in a published catalog revision (status.dependencies). */
export interface Dependencies {
  /** the git tree of the package these were computed from */
  tree?: string;
  packages: PackageDependency[];
  core: CoreDependency[];
  /** GroupKinds nothing provides ("group/Kind"; "Kind" for the core group): they block the revision */
  missing?: string[];
  /** resources RBAC rules name that nothing serves ("group/resource"): warnings, resolved again when a package provides them */
  missingResources?: string[];
  errors?: string[];
  warnings?: string[];
}

/** A published revision of another package that depends on this one (status.dependents). */
export interface Dependent extends PackageRef {
  name: string;
  revision: string;
  constraint: string;
}

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
  dependencies?: Dependencies;
  /** published revisions of other packages whose dependencies this revision satisfies */
  dependents?: Dependent[];
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

const packageRefProps = {
  repository: str('Catalog Repository (same namespace).'),
  realm: str('Realm of the package.'),
  package: str('Name of the package.'),
};

const dependenciesSchema = obj('What the package of a published catalog revision needs (found by the discovery controller from its documents).', {
  tree: str('The git tree of the package these were computed from.'),
  packages: arr(
    'Other catalog packages it needs, with the revisions that will do.',
    obj('A package dependency.', {
      ...packageRefProps,
      revision: str('Constraint on the revision: "*", "v2", a semver range (">=1.2 <2"), or revisions joined by "||".'),
      for: arr('What asks for it: the APIs used from it ("group/Kind"), or the PackageDependency / PackageVariant documents naming it.', { type: 'string' }),
    }),
  ),
  core: arr(
    'APIs of the cluster itself that it uses.',
    obj('A core API.', { group: str('API group ("" for the core group).'), version: str('Version ("*": any, from an RBAC rule).'), kind: str('Kind.') }),
  ),
  missing: arr('APIs used that nothing provides ("group/Kind"): the revision waits for a package that provides them.', { type: 'string' }),
  missingResources: arr('Resources named by RBAC rules that nothing serves ("group/resource"; a warning): resolved again when a package provides them.', { type: 'string' }),
  errors: arr('What makes the dependencies unresolvable.', { type: 'string' }),
  warnings: arr('What could not be checked (an RBAC rule on an unknown resource).', { type: 'string' }),
});

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
      dependencies: dependenciesSchema,
      dependents: arr(
        'Published revisions of other catalog packages whose dependencies this revision satisfies (the reverse of their status.dependencies).',
        obj('A dependent revision.', {
          name: str('Name of the dependent PackageRevision.'),
          repository: str('Its repository.'),
          realm: str('Its realm.'),
          package: str('Its package.'),
          revision: str('Its revision.'),
          constraint: str('The constraint it puts on this package.'),
        }),
      ),
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

/** "", "*", "v3", "v1.2.3", or a semver range (">=1.2 <2", "^1", "v1 || v3"). */
export function validRevisionConstraint(rev: string): boolean {
  if (rev === '' || rev === '*') return true;
  if (/^v\d+(\.\d+){0,2}$/.test(rev)) return true;
  return semver.validRange(semverRange(rev)) !== null;
}

/** A constraint as a semver range: the "v" of each version dropped. */
const semverRange = (c: string) => c.replace(/(^|[\s<>=~^|])v(\d)/g, '$1$2');

/** Whether a revision satisfies a constraint: "*" or empty (any), an exact revision (or several joined by "||"), or a semver range. */
export function satisfiesRevision(revision: string, constraint: string | undefined): boolean {
  if (!constraint || constraint === '*') return true;
  if (isRevision(constraint)) return revision === constraint;
  // revisions joined by "||" (what dependency discovery writes): each exact, as a single one is
  const alternatives = constraint.split('||').map((s) => s.trim());
  if (alternatives.every(isRevision)) return alternatives.includes(revision);
  const v = semver.coerce(revision);
  return v !== null && semver.validRange(semverRange(constraint)) !== null && semver.satisfies(v, semverRange(constraint));
}

/** The newest published revision that satisfies a constraint (see satisfiesRevision). */
export function pickRevision(published: string[], wanted: string | undefined): string | undefined {
  return [...published].sort(compareRevisions).reverse().find((r) => satisfiesRevision(r, wanted));
}
