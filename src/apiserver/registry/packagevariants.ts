// The PackageVariant resource: validation of upstream/downstream references and package context,
// printer columns and field selectors. The controller that acts on it comes later.
import { CONFIG_GROUP, CONFIG_VERSION, packageVariantSchema, type PackageVariant } from '../../api/config.ts';
import { validRevisionConstraint } from '../../api/pkg.ts';
import { findCondition, type KObject } from '../../api/meta.ts';
import { labelField, realmField, revisionSegmentErrors } from '../../api/names.ts';
import { fieldErr, type FieldError } from '../errors.ts';
import { validateObjectMeta } from '../validation.ts';
import { statusSubresource } from './status.ts';
import type { ResourceDef } from './types.ts';

const path = (...parts: (string | undefined)[]) => parts.filter(Boolean).join('/');

export { validRevisionConstraint };

function validate(o: KObject): FieldError[] {
  const pv = o as PackageVariant;
  const { upstream: up, downstream: down, packageContext: ctx } = pv.spec;
  const errs: FieldError[] = [
    ...labelField('spec.upstream.repository', up.repository),
    ...realmField('spec.upstream.realm', up.realm),
    ...labelField('spec.upstream.package', up.package),
    ...labelField('spec.downstream.target', down.target),
    ...labelField('spec.downstream.repository', down.repository),
    ...realmField('spec.downstream.realm', down.realm),
    ...labelField('spec.downstream.package', down.package),
    ...revisionSegmentErrors('spec.downstream.realm', 'spec.downstream.package', down.realm, down.package),
  ];
  if (up.revision !== undefined && !validRevisionConstraint(up.revision))
    errs.push(fieldErr.invalid('spec.upstream.revision', up.revision, 'must be a revision ("v2"), a semver range (">=1.2 <2") or "*"'));
  (ctx?.inputs ?? []).forEach((input, i) => {
    for (const f of ['apiVersion', 'kind'] as const) if (typeof input[f] !== 'string' || !input[f]) errs.push(fieldErr.required(`spec.packageContext.inputs[${i}].${f}`));
    const meta = input.metadata as { name?: unknown } | undefined;
    if (typeof meta?.name !== 'string' || !meta.name) errs.push(fieldErr.required(`spec.packageContext.inputs[${i}].metadata.name`));
  });
  // labels and annotations land on PackageRevisions: the ObjectMeta rules apply to them
  for (const e of validateObjectMeta({ name: 'x', labels: ctx?.labels, annotations: ctx?.annotations }, false, () => []))
    errs.push({ ...e, field: e.field.replace(/^metadata\./, 'spec.packageContext.') });
  return errs;
}

export function packageVariantResource(): ResourceDef {
  return {
    group: CONFIG_GROUP,
    version: CONFIG_VERSION,
    kind: 'PackageVariant',
    listKind: 'PackageVariantList',
    plural: 'packagevariants',
    singular: 'packagevariant',
    shortNames: ['pv'],
    categories: ['pkg'],
    namespaced: true,
    schema: packageVariantSchema,
    subresources: { status: statusSubresource },
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    description: 'PackageVariant turns a catalog package revision into a deployment package.',
    columns: [
      { name: 'Upstream', type: 'string', description: 'Upstream package revision', priority: 0, cell: (o) => { const u = o.spec?.upstream ?? {}; return `${path(u.repository, u.realm, u.package)}@${u.revision || '*'}`; } },
      { name: 'Downstream', type: 'string', description: 'Downstream package', priority: 0, cell: (o) => { const d = o.spec?.downstream ?? {}; return path(d.target, d.repository, d.realm, d.package); } },
      { name: 'Ready', type: 'string', description: 'Ready condition', priority: 0, cell: (o) => findCondition(o.status?.conditions, 'Ready')?.status ?? 'Unknown' },
      { name: 'Age', type: 'date', description: 'CreationTimestamp', priority: 0, cell: (o) => o.metadata.creationTimestamp },
      { name: 'Adoption', type: 'string', description: 'Adoption policy', priority: 1, cell: (o) => o.spec?.adoptionPolicy },
      { name: 'Deletion', type: 'string', description: 'Deletion policy', priority: 1, cell: (o) => o.spec?.deletionPolicy },
    ],
    fieldSelectors: {
      'spec.upstream.repository': (o) => o.spec?.upstream?.repository ?? '',
      'spec.upstream.package': (o) => o.spec?.upstream?.package ?? '',
      'spec.downstream.target': (o) => o.spec?.downstream?.target ?? '',
      'spec.downstream.repository': (o) => o.spec?.downstream?.repository ?? '',
      'spec.downstream.package': (o) => o.spec?.downstream?.package ?? '',
    },
    strategy: {
      validate,
      validateUpdate(o, old) {
        const errs: FieldError[] = validate(o);
        const n = (o as PackageVariant).spec.downstream;
        const p = (old as PackageVariant).spec.downstream;
        for (const f of ['target', 'repository', 'realm', 'package'] as const)
          if ((n[f] ?? '') !== (p[f] ?? '')) errs.push(fieldErr.immutable(`spec.downstream.${f}`, n[f]));
        return errs;
      },
    },
  };
}
