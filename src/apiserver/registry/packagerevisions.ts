// The PackageRevision resource: names, immutable fields, the lifecycle state machine with
// approval (SPEC 3.2, 3.3, 3.6). Its git side effects are the PackageService's (src/storage/git).
import { findCondition, type KObject } from '../../api/meta.ts';
import { labelField, realmField, revisionSegmentErrors } from '../../api/names.ts';
import {
  CATALOG_TARGET,
  LABEL_LATEST,
  LIFECYCLES,
  isRevision,
  packageRevisionName,
  packageRevisionSchema,
  PKG_GROUP,
  PKG_VERSION,
  type PackageRevision,
} from '../../api/pkg.ts';
import { conflict, fieldErr, forbidden, invalid, StatusError, type FieldError } from '../errors.ts';
import { RESOURCES_SUBRESOURCE, unavailableStatus, type ResourcesContext } from './packagerevisionresources.ts';
import type { Registry } from './generic.ts';
import type { PackageEngine } from '../../engine/engine.ts';
import { PackageConflictError, PackageExistsError, PackageInvalidError, PackageUnavailableError } from '../../engine/errors.ts';
import { dependencyBlockers, latestLabelChanges, publishedSiblings, upstreamUsers } from '../../engine/rules.ts';
import type { PackageVariant, Repository } from '../../api/config.ts';
import type { EventRecorder } from '../../events/recorder.ts';
import { ANNOTATION_PROPOSED_BY, lifecycleErrors, transition } from '../../engine/lifecycle.ts';

export { ANNOTATION_PROPOSED_BY, lifecycleErrors, transition };
import { statusSubresource } from './status.ts';
import type { RequestContext, ResourceDef, SubresourceStrategy } from './types.ts';
import { forbiddenMessage } from '../authz/types.ts';

function idErrors(pr: PackageRevision): FieldError[] {
  const id = pr.spec.packageRevID;
  return [
    ...labelField('spec.packageRevID.target', id.target),
    ...labelField('spec.packageRevID.repository', id.repository),
    ...realmField('spec.packageRevID.realm', id.realm),
    ...labelField('spec.packageRevID.package', id.package),
    ...labelField('spec.packageRevID.workspace', id.workspace),
    ...revisionSegmentErrors('spec.packageRevID.realm', 'spec.packageRevID.package', id.realm, id.package),
  ];
}

/** What the PackageRevision strategy needs to know about repositories. */
export interface RepositoryLookup {
  /** the Repository's deployment flag and approval policy, or undefined if it does not exist */
  repository(namespace: string, name: string): { deployment: boolean; requireDistinctApprover: boolean } | undefined;
}

function validateCreate(pr: PackageRevision, repos: RepositoryLookup): FieldError[] {
  const errs = idErrors(pr);
  const id = pr.spec.packageRevID;
  const expected = packageRevisionName(id);
  if (pr.metadata.name !== expected && errs.length === 0)
    errs.push(fieldErr.invalid('metadata.name', pr.metadata.name, `must be "${expected}", derived from spec.packageRevID as <target>.<repository>.<realm with "/" as ":">.<package>.<workspace>`));
  if (pr.spec.lifecycle !== 'draft') errs.push(fieldErr.forbidden('spec.lifecycle', `a PackageRevision is created as a draft; "${pr.spec.lifecycle}" is reached through the lifecycle`));
  if (id.revision) errs.push(fieldErr.forbidden('spec.packageRevID.revision', 'the revision is assigned by the server when the revision is published'));
  const tasks = pr.spec.tasks ?? [];
  if (tasks.length !== 1) errs.push(fieldErr.invalid('spec.tasks', tasks.map((t) => t.type), 'exactly one task is required: init, clone or upgrade'));
  else if (tasks[0].type === 'clone' && !pr.spec.upstream) errs.push(fieldErr.required('spec.upstream', 'a clone task copies spec.upstream'));
  else if (tasks[0].type === 'upgrade' && !pr.spec.upstream) errs.push(fieldErr.required('spec.upstream', 'an upgrade task moves the package to spec.upstream'));
  else if (tasks[0].type === 'init' && pr.spec.upstream) errs.push(fieldErr.forbidden('spec.upstream', 'an init task starts a new package; use a clone task to copy an upstream'));
  if (pr.spec.upstream) {
    errs.push(...labelField('spec.upstream.repository', pr.spec.upstream.repository), ...realmField('spec.upstream.realm', pr.spec.upstream.realm), ...labelField('spec.upstream.package', pr.spec.upstream.package));
    if (pr.spec.upstream.revision && !isRevision(pr.spec.upstream.revision)) errs.push(fieldErr.invalid('spec.upstream.revision', pr.spec.upstream.revision, 'must be a published revision such as "v2", or empty for the latest'));
  }
  const repo = repos.repository(pr.metadata.namespace!, id.repository);
  if (!repo) errs.push(fieldErr.invalid('spec.packageRevID.repository', id.repository, `Repository "${id.repository}" does not exist in namespace "${pr.metadata.namespace}"`));
  else if (repo.deployment && id.target === CATALOG_TARGET) errs.push(fieldErr.invalid('spec.packageRevID.target', id.target, `"${CATALOG_TARGET}" is the target of catalog repositories; ${id.repository} is a deployment repository`));
  else if (!repo.deployment && id.target !== CATALOG_TARGET) errs.push(fieldErr.invalid('spec.packageRevID.target', id.target, `must be "${CATALOG_TARGET}" in the catalog repository ${id.repository}`));
  return errs;
}


/**
 * Approval is a permission of its own (SPEC 3.3): publishing needs the custom verb `approve` on
 * packagerevisions, or `update` on packagerevisions/approval, whichever way the lifecycle is
 * written. Checked before any other rule, so a user without it learns nothing else; 403 as kube.
 */
async function checkApprover(pr: PackageRevision, old: PackageRevision, ctx: RequestContext): Promise<void> {
  if (!ctx.authorize || transition(old.spec.lifecycle, pr.spec.lifecycle) !== 'approve') return;
  const target = { apiGroup: PKG_GROUP, resource: 'packagerevisions', namespace: old.metadata.namespace, name: old.metadata.name };
  if ((await ctx.authorize({ ...target, verb: 'approve' })) || (await ctx.authorize({ ...target, verb: 'update', subresource: 'approval' }))) return;
  throw forbidden({ group: PKG_GROUP, resource: 'packagerevisions' }, old.metadata.name!, forbiddenMessage({ ...target, user: ctx.user, verb: 'approve', resourceRequest: true }));
}

function validateUpdate(pr: PackageRevision, old: PackageRevision, user: string, repos: RepositoryLookup): FieldError[] {
  const errs: FieldError[] = [];
  const n = pr.spec.packageRevID;
  const o = old.spec.packageRevID;
  for (const f of ['target', 'repository', 'realm', 'package', 'workspace'] as const)
    if ((n[f] ?? '') !== (o[f] ?? '')) errs.push(fieldErr.immutable(`spec.packageRevID.${f}`, n[f]));
  if ((n.revision ?? '') !== (o.revision ?? '')) errs.push(fieldErr.forbidden('spec.packageRevID.revision', 'the revision is assigned by the server when the revision is published'));
  if (JSON.stringify(pr.spec.tasks) !== JSON.stringify(old.spec.tasks)) errs.push(fieldErr.immutable('spec.tasks', pr.spec.tasks));
  if (JSON.stringify(pr.spec.upstream ?? null) !== JSON.stringify(old.spec.upstream ?? null)) errs.push(fieldErr.immutable('spec.upstream', pr.spec.upstream));
  const editable = old.spec.lifecycle === 'draft' || old.spec.lifecycle === 'proposed';
  if (!editable)
    for (const f of ['readinessGates', 'inputs', 'updatePolicy'] as const)
      if (JSON.stringify(pr.spec[f] ?? null) !== JSON.stringify(old.spec[f] ?? null))
        errs.push(fieldErr.forbidden(`spec.${f}`, `may only change while the revision is draft or proposed; it is ${old.spec.lifecycle}`));
  const repo = repos.repository(pr.metadata.namespace!, n.repository);
  errs.push(...lifecycleErrors(pr, old, user, repo?.requireDistinctApprover ?? false));
  return errs;
}

/** The approval subresource changes spec.lifecycle only. */
const approvalSubresource = (repos: RepositoryLookup): SubresourceStrategy => ({
  writes: [['spec', 'lifecycle']],
  prepareForUpdate(obj, old) {
    const next = structuredClone(old) as PackageRevision;
    const lifecycle = (obj as PackageRevision).spec?.lifecycle;
    if (lifecycle) next.spec.lifecycle = lifecycle;
    return next;
  },
  async validateUpdate(obj, old, ctx) {
    const errs: FieldError[] = [];
    const pr = obj as PackageRevision;
    if (!LIFECYCLES.includes(pr.spec.lifecycle)) return errs; // the schema reports it
    await checkApprover(pr, old as PackageRevision, ctx);
    const repo = repos.repository(pr.metadata.namespace!, pr.spec.packageRevID.repository);
    return lifecycleErrors(pr, old as PackageRevision, ctx.user.name, repo?.requireDistinctApprover ?? false);
  },
});

const id = (o: KObject) => (o as PackageRevision).spec?.packageRevID ?? ({} as PackageRevision['spec']['packageRevID']);

/** What the PackageRevision resource works with. */
export interface PackageRevisionDeps {
  engine: PackageEngine;
  /** the Repository, or undefined when it does not exist */
  repository(namespace: string, name: string): Repository | undefined;
  /** the PackageVariants of a namespace (the upstream-in-use check) */
  variants(namespace: string): PackageVariant[];
  /** this resource's own registry (siblings, the latest label), once it exists */
  registry(): Registry;
  /** the server's own identity, for follow-up writes (the latest label) */
  system: RequestContext;
  /** lifecycle changes become Events on the revision */
  recorder: EventRecorder;
}

const LIFECYCLE_EVENTS: Partial<Record<string, string>> = { propose: 'Proposed', reject: 'Rejected', approve: 'Published', proposeDeletion: 'DeletionProposed', keep: 'DeletionRejected' };

const GR = { group: PKG_GROUP, resource: 'packagerevisions' };

/** A package engine error as the API reports it. */
export function packageErrorStatus(e: unknown): never {
  if (e instanceof PackageInvalidError) throw invalid(e.kind, PKG_GROUP, e.objectName, e.errors);
  if (e instanceof PackageExistsError) throw new StatusError(409, 'AlreadyExists', e.message);
  if (e instanceof PackageConflictError) throw new StatusError(409, 'Conflict', e.message);
  if (e instanceof PackageUnavailableError) throw unavailableStatus(e);
  throw e;
}

export function packageRevisionResource(deps: PackageRevisionDeps): ResourceDef {
  const { engine } = deps;
  const repos: RepositoryLookup = {
    repository(ns, name) {
      const r = deps.repository(ns, name);
      return r && { deployment: r.spec.deployment, requireDistinctApprover: r.spec.approval.requireDistinctApprover };
    },
  };
  const revisions = (ns: string) => deps.registry().list(ns, {}).items as PackageRevision[];
  const setLatest = (pr: PackageRevision, latest: boolean) =>
    deps.registry().update(
      pr.metadata.namespace,
      pr.metadata.name!,
      (cur) => {
        const labels = { ...(cur.metadata.labels ?? {}) };
        if (latest) labels[LABEL_LATEST] = 'true';
        else delete labels[LABEL_LATEST];
        cur.metadata.labels = labels;
        return { obj: cur };
      },
      deps.system,
    );
  return {
    group: PKG_GROUP,
    version: PKG_VERSION,
    kind: 'PackageRevision',
    listKind: 'PackageRevisionList',
    plural: 'packagerevisions',
    singular: 'packagerevision',
    shortNames: ['pkgrev', 'pr'],
    categories: ['pkg'],
    namespaced: true,
    schema: packageRevisionSchema,
    subresources: {
      status: statusSubresource,
      approval: approvalSubresource(repos),
      // PackageRevisionResources writes go through here: same lock, same resourceVersion
      [RESOURCES_SUBRESOURCE]: { internal: true, prepareForUpdate: (_obj, old) => structuredClone(old) },
    },
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    description: 'PackageRevision is one revision of one package.',
    columns: [
      { name: 'Repository', type: 'string', description: 'Repository', priority: 0, cell: (o) => id(o).repository },
      { name: 'Target', type: 'string', description: 'Deployment target', priority: 0, cell: (o) => id(o).target },
      { name: 'Realm', type: 'string', description: 'Realm', priority: 0, cell: (o) => id(o).realm || '' },
      { name: 'Package', type: 'string', description: 'Package', priority: 0, cell: (o) => id(o).package },
      { name: 'Workspace', type: 'string', description: 'Workspace', priority: 0, cell: (o) => id(o).workspace },
      { name: 'Revision', type: 'string', description: 'Revision', priority: 0, cell: (o) => id(o).revision || '' },
      { name: 'Lifecycle', type: 'string', description: 'Lifecycle', priority: 0, cell: (o) => (o as PackageRevision).spec?.lifecycle },
      { name: 'Ready', type: 'string', description: 'Ready condition', priority: 0, cell: (o) => findCondition(o.status?.conditions, 'Ready')?.status ?? 'Unknown' },
      { name: 'Latest', type: 'boolean', description: 'Latest published revision of the package', priority: 0, cell: (o) => o.metadata.labels?.[LABEL_LATEST] === 'true' },
      { name: 'Age', type: 'date', description: 'CreationTimestamp', priority: 0, cell: (o) => o.metadata.creationTimestamp },
      {
        name: 'Upstream',
        type: 'string',
        description: 'Upstream revision',
        priority: 1,
        cell: (o) => {
          const u = (o as PackageRevision).spec?.upstream;
          return u ? `${[u.repository, u.realm, u.package].filter(Boolean).join('/')}@${u.revision || 'latest'}` : '';
        },
      },
      { name: 'Upgrade', type: 'string', description: 'A newer published upstream revision, when there is one', priority: 1, cell: (o) => (o as PackageRevision).status?.latestUpstreamRevision ?? '' },
      { name: 'PublishedBy', type: 'string', description: 'Approver', priority: 1, cell: (o) => (o as PackageRevision).status?.publishedBy ?? '' },
    ],
    // the sync lists a repository's revisions, a publish its package's
    indexedFields: ['spec.packageRevID.repository', 'spec.packageRevID.package'],
    fieldSelectors: {
      'spec.packageRevID.target': (o) => id(o).target ?? '',
      'spec.packageRevID.repository': (o) => id(o).repository ?? '',
      'spec.packageRevID.realm': (o) => id(o).realm ?? '',
      'spec.packageRevID.package': (o) => id(o).package ?? '',
      'spec.packageRevID.workspace': (o) => id(o).workspace ?? '',
      'spec.packageRevID.revision': (o) => id(o).revision ?? '',
      'spec.lifecycle': (o) => (o as PackageRevision).spec?.lifecycle ?? '',
    },
    strategy: {
      validateName: () => [], // checked against spec.packageRevID in validate
      allowGenerateName: false,
      prepareForUpdate(obj, old, ctx) {
        // the server keeps the proposer; clients cannot set it
        const pr = obj as PackageRevision;
        const ann = { ...(pr.metadata.annotations ?? {}) };
        const prev = old.metadata.annotations?.[ANNOTATION_PROPOSED_BY];
        if (prev) ann[ANNOTATION_PROPOSED_BY] = prev;
        else delete ann[ANNOTATION_PROPOSED_BY];
        if (transition((old as PackageRevision).spec.lifecycle, pr.spec?.lifecycle) === 'propose') ann[ANNOTATION_PROPOSED_BY] = ctx.user.name;
        pr.metadata.annotations = ann;
      },
      validate(obj) {
        const pr = obj as PackageRevision;
        const errs = validateCreate(pr, repos);
        if (pr.metadata.generateName && !pr.metadata.name)
          errs.unshift(fieldErr.forbidden('metadata.generateName', `not supported for PackageRevision; the name is derived from spec.packageRevID: "${packageRevisionName(pr.spec.packageRevID)}"`));
        return errs;
      },
      async validateUpdate(obj, old, ctx) {
        await checkApprover(obj as PackageRevision, old as PackageRevision, ctx);
        return validateUpdate(obj as PackageRevision, old as PackageRevision, ctx.user.name, repos);
      },
      validateDelete(obj) {
        const pr = obj as PackageRevision;
        if (pr.spec.lifecycle === 'published')
          throw forbidden({ group: PKG_GROUP, resource: 'packagerevisions' }, pr.metadata.name!, 'a published revision cannot be deleted: propose deletion first (spec.lifecycle: deletionProposed)');
        if (pr.spec.lifecycle !== 'deletionProposed') return;
        const all = revisions(pr.metadata.namespace!);
        // every reason at once: the deployed packages using it and the catalog packages needing it
        const users = upstreamUsers(pr, all, deps.variants(pr.metadata.namespace!));
        const needed = dependencyBlockers(pr, all);
        const why = [
          ...(users.length ? [`the revision is still used as an upstream by ${users.join(', ')}`] : []),
          ...(needed.length ? [`it is the last published revision that satisfies the dependencies of ${needed.join(', ')} (publish another revision that does first)`] : []),
        ];
        if (why.length) throw conflict(GR, pr.metadata.name!, why.join('; '));
      },
      // every write of one repository's revisions runs alone: the git work and the repository sync
      lockKey: (ns, name) => `${ns}/${name.split('.')[1] ?? ''}`,
      beforeCreate: (obj, ctx) => engine.create(obj as PackageRevision, ctx).catch(packageErrorStatus),
      beforeUpdate: (obj, old, ctx, sub) =>
        (sub === RESOURCES_SUBRESOURCE ? engine.writeResources(obj as PackageRevision, (ctx as ResourcesContext).resources, ctx) : engine.update(obj as PackageRevision, old as PackageRevision, ctx, sub)).catch(packageErrorStatus),
      beforeDelete: (obj, ctx) => engine.delete(obj as PackageRevision, ctx).catch(packageErrorStatus),
      async afterWrite(obj, old, ctx) {
        const pr = obj as PackageRevision | undefined;
        const before = old as PackageRevision | undefined;
        if (pr && !before) deps.recorder.event(pr, 'Normal', 'Created', `draft created by ${ctx.user.name} (${pr.spec.tasks[0]?.type} task)`);
        const change = pr && before ? LIFECYCLE_EVENTS[transition(before.spec.lifecycle, pr.spec.lifecycle) ?? 'none'] : undefined;
        if (change) deps.recorder.event(pr!, 'Normal', change, `${change === 'Published' ? `published as ${pr!.spec.packageRevID.revision}` : `lifecycle ${before!.spec.lifecycle} → ${pr!.spec.lifecycle}`} by ${ctx.user.name}`);
        const any = (pr ?? before)!;
        const id = any.spec.packageRevID;
        const samePackage = () => deps.registry().list(any.metadata.namespace, { fieldSelector: `spec.packageRevID.repository=${id.repository},spec.packageRevID.package=${id.package}` }).items as PackageRevision[];
        for (const c of latestLabelChanges(pr, before, () => publishedSiblings(any, samePackage()))) await setLatest(c.revision, c.latest);
      },
    },
  };
}
