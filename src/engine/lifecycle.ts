// The lifecycle of a package revision (SPEC 3.3): which transitions exist, and what publishing
// requires (readiness gates True, a distinct approver where the repository asks for one). The
// permission to approve is the API's (src/apiserver/registry/packagerevisions.ts).
import { findCondition } from '../api/meta.ts';
import { GATE_APPROVE, type Lifecycle, type PackageRevision } from '../api/pkg.ts';
import { fieldErr, type FieldError } from '../api/fielderrors.ts';

/** Annotation the server keeps with the user who last proposed the revision. */
export const ANNOTATION_PROPOSED_BY = 'pkg.pkgserver.dev/proposed-by';

export type Transition = 'none' | 'propose' | 'reject' | 'approve' | 'proposeDeletion' | 'keep';

const TRANSITIONS: Record<Lifecycle, Partial<Record<Lifecycle, Transition>>> = {
  draft: { draft: 'none', proposed: 'propose' },
  proposed: { proposed: 'none', draft: 'reject', published: 'approve' },
  published: { published: 'none', deletionProposed: 'proposeDeletion' },
  deletionProposed: { deletionProposed: 'none', published: 'keep' },
};

export function transition(from: Lifecycle, to: Lifecycle): Transition | undefined {
  return TRANSITIONS[from]?.[to];
}

/** Validation of a lifecycle change; `approve` carries the gate and approver checks. */
export function lifecycleErrors(pr: PackageRevision, old: PackageRevision, user: string, requireDistinctApprover: boolean): FieldError[] {
  const from = old.spec.lifecycle;
  const to = pr.spec.lifecycle;
  const t = transition(from, to);
  if (!t) {
    const hint = from === 'draft' && to === 'published' ? 'propose first' : `allowed from ${from}: ${Object.keys(TRANSITIONS[from]).filter((l) => l !== from).join(', ') || 'none'}`;
    return [fieldErr.forbidden('spec.lifecycle', `cannot change the lifecycle from ${from} to ${to}: ${hint}`)];
  }
  if (t !== 'approve') return [];
  const errs: FieldError[] = [];
  const unmet = (pr.spec.readinessGates ?? [])
    .map((g) => g.conditionType)
    .filter((type) => type !== GATE_APPROVE && findCondition(pr.status?.conditions, type)?.status !== 'True');
  if (unmet.length)
    errs.push(fieldErr.forbidden('spec.lifecycle', `cannot publish while readiness gates are not True: ${unmet.map((u) => `condition "${u}" is ${findCondition(pr.status?.conditions, u)?.status ?? 'not set'}`).join('; ')}`));
  const proposer = old.metadata.annotations?.[ANNOTATION_PROPOSED_BY];
  if (requireDistinctApprover && proposer && proposer === user)
    errs.push(fieldErr.forbidden('spec.lifecycle', `repository ${pr.spec.packageRevID.repository} requires a distinct approver: user "${user}" proposed this revision`));
  return errs;
}
