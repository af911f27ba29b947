// The tasks that make a draft's first content (SPEC 3.2, 5.5): `init` (a new package, or a copy
// of the package's latest published revision), `clone` (a published catalog revision, with the
// Kptfile's upstream and upstreamLock set so `kpt pkg update` works), and `upgrade` (a three-way
// merge of the old upstream, the new upstream and the package's latest published revision, kpt's
// resource-merge: local edits kept, upstream changes applied, fields changed on both sides
// reported as conflicts in the condition `pkg.pkgserver.dev/upgrade`).
import YAML from 'yaml';
import type { Repository } from '../api/config.ts';
import { timestamp, type Condition } from '../api/meta.ts';
import { CATALOG_TARGET, type PackageRevision } from '../api/pkg.ts';
import { fieldErr, type FieldError } from '../api/fielderrors.ts';
import type { PackageRepo } from '../storage/git/packages.ts';
import { packageKey, type PackageKey } from '../storage/git/layout.ts';
import { fromFiles, KPTFILE, kptfileWithUpstream, newKptfile, toFiles, type Files } from './content.ts';
import { PackageInvalidError } from './errors.ts';
import { mergePackages } from './merge3.ts';

/** The condition an upgrade task leaves on its draft. */
export const UPGRADE_CONDITION = 'pkg.pkgserver.dev/upgrade';

export interface TaskEnv {
  /** the revision's own repository (opened, locked by the caller) */
  repo: PackageRepo;
  /** a Repository object by name, in the revision's namespace */
  repository(name: string): Repository | undefined;
  /** opens a Repository's git repository */
  open(r: Repository): Promise<PackageRepo>;
}

export interface TaskResult {
  files: Files;
  /** conditions the new draft starts with */
  conditions?: Condition[];
}

type Published = { revision: string; commit: string; tag: string };

const invalid = (pr: PackageRevision, e: FieldError): never => {
  throw new PackageInvalidError('PackageRevision', pr.metadata.name!, [e]);
};

/** The published revisions of the catalog package spec.upstream names, and its repository. */
async function upstreamPackage(env: TaskEnv, pr: PackageRevision): Promise<{ repoObj: Repository; repo: PackageRepo; key: PackageKey; published: Published[] }> {
  const up = pr.spec.upstream!;
  const repoObj = env.repository(up.repository);
  if (!repoObj) return invalid(pr, fieldErr.invalid('spec.upstream.repository', up.repository, `Repository "${up.repository}" does not exist in namespace "${pr.metadata.namespace}"`));
  if (repoObj.spec.deployment) return invalid(pr, fieldErr.invalid('spec.upstream.repository', up.repository, 'the upstream must be in a catalog repository'));
  const repo = await env.open(repoObj);
  const key: PackageKey = { target: CATALOG_TARGET, realm: up.realm ?? '', package: up.package };
  const published = await repo.withLock(() => repo.published(key));
  return { repoObj, repo, key, published };
}

/** The revision spec.upstream.revision names (the latest when empty); sets it when it was empty. */
function chooseUpstream(pr: PackageRevision, published: Published[]): Published {
  const up = pr.spec.upstream!;
  const chosen = up.revision ? published.find((p) => p.revision === up.revision) : published.at(-1);
  if (!chosen)
    return invalid(
      pr,
      fieldErr.invalid('spec.upstream', `${[up.repository, up.realm, up.package].filter(Boolean).join('/')}@${up.revision || 'latest'}`, `no such published revision; published: ${published.map((p) => p.revision).join(', ') || 'none'}`),
    );
  up.revision = chosen.revision;
  return chosen;
}

/** A new package, or a copy of the package's latest published revision. */
export async function initTask(env: TaskEnv, pr: PackageRevision): Promise<TaskResult> {
  const latest = (await env.repo.published(packageKey(pr.spec.packageRevID))).at(-1);
  return { files: latest ? await env.repo.files(latest.commit, packageKey(pr.spec.packageRevID)) : new Map([[KPTFILE, Buffer.from(newKptfile(pr.spec.packageRevID.package))]]) };
}

/** A copy of a published catalog revision, its Kptfile pointing at it. */
export async function cloneTask(env: TaskEnv, pr: PackageRevision): Promise<TaskResult> {
  const up = await upstreamPackage(env, pr);
  const chosen = chooseUpstream(pr, up.published);
  const files = await up.repo.files(chosen.commit, up.key);
  files.set(KPTFILE, Buffer.from(kptfileWithUpstream(files.get(KPTFILE)?.toString('utf8'), pr.spec.packageRevID.package, { repo: up.repoObj.spec.git.url, directory: up.repo.layout.packagePath(up.key), ref: chosen.tag, commit: chosen.commit })));
  return { files };
}

/** The revision (vN) a Kptfile's upstreamLock points at (its ref is the upstream's tag P/vN). */
function lockedRevision(kptfile: string | undefined): string | undefined {
  if (!kptfile) return undefined;
  const ref = (YAML.parse(kptfile) as { upstreamLock?: { git?: { ref?: string } } } | null)?.upstreamLock?.git?.ref;
  return ref?.split('/').pop() || undefined;
}

/**
 * The package's latest published revision, moved from the upstream revision it was made from
 * (its Kptfile's upstreamLock) to spec.upstream's revision by a three-way merge.
 */
export async function upgradeTask(env: TaskEnv, pr: PackageRevision): Promise<TaskResult> {
  const key = packageKey(pr.spec.packageRevID);
  const local = (await env.repo.published(key)).at(-1);
  if (!local) return invalid(pr, fieldErr.invalid('spec.tasks', 'upgrade', 'an upgrade starts from a published revision of the package; it has none (use a clone task)'));
  const localFiles = await env.repo.files(local.commit, key);
  const oldRevision = lockedRevision(localFiles.get(KPTFILE)?.toString('utf8'));
  if (!oldRevision) return invalid(pr, fieldErr.invalid('spec.tasks', 'upgrade', `revision ${local.revision} of the package has no upstreamLock in its Kptfile: it was not cloned from an upstream`));
  const up = await upstreamPackage(env, pr);
  const old = up.published.find((p) => p.revision === oldRevision);
  if (!old) return invalid(pr, fieldErr.invalid('spec.upstream', `${pr.spec.upstream!.package}@${oldRevision}`, `the upstream revision ${local.revision} was made from is no longer published`));
  const next = chooseUpstream(pr, up.published);
  const [oldFiles, newFiles] = await Promise.all([up.repo.files(old.commit, up.key), up.repo.files(next.commit, up.key)]);
  const text = (f: Files) => new Map(Object.entries(fromFiles(f)));
  const merged = mergePackages(text(oldFiles), text(newFiles), text(localFiles));
  const files = toFiles(Object.fromEntries(merged.files));
  files.set(KPTFILE, Buffer.from(kptfileWithUpstream(files.get(KPTFILE)?.toString('utf8'), pr.spec.packageRevID.package, { repo: up.repoObj.spec.git.url, directory: up.repo.layout.packagePath(up.key), ref: next.tag, commit: next.commit })));
  const conflicts = merged.conflicts.map((c) => [c.file, c.resource, c.field].filter(Boolean).join(' '));
  const condition: Condition = conflicts.length
    ? { type: UPGRADE_CONDITION, status: 'False', reason: 'Conflict', message: `upgraded ${local.revision} from upstream ${oldRevision} to ${next.revision}; changed on both sides (the upstream value was taken): ${conflicts.join('; ')}`, lastTransitionTime: timestamp() }
    : { type: UPGRADE_CONDITION, status: 'True', reason: 'Merged', message: `upgraded ${local.revision} from upstream ${oldRevision} to ${next.revision} without conflicts`, lastTransitionTime: timestamp() };
  return { files, conditions: [condition] };
}

export const TASKS = { init: initTask, clone: cloneTask, upgrade: upgradeTask } as const;
