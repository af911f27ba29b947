// The RBAC authorizer over a set of rbac.authorization.k8s.io/v1 documents, with kube's semantics
// (kubernetes plugin/pkg/auth/authorizer/rbac and pkg/registry/rbac/validation): ClusterRoleBindings
// grant their ClusterRole everywhere, RoleBindings grant a Role of their namespace or a ClusterRole
// in their namespace only; rules only add permissions, so RBAC allows or has no opinion, never
// denies. A binding whose role is missing grants nothing and is reported as an evaluation error.
import type { Dynamic } from '../authn/types.ts';
import type { UserInfo } from '../registry/types.ts';
import type { Attributes, Authorizer, Decision, PolicyRule, RuleResolver, RulesResult } from './types.ts';

export const RBAC_GROUP = 'rbac.authorization.k8s.io';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface ClusterRole {
  apiVersion?: 'rbac.authorization.k8s.io/v1';
  kind?: 'ClusterRole';
  metadata: ObjectMeta;
  rules?: PolicyRule[];
}

export interface Role {
  apiVersion?: 'rbac.authorization.k8s.io/v1';
  kind?: 'Role';
  metadata: ObjectMeta & { namespace: string };
  rules?: PolicyRule[];
}

export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

export interface Subject {
  /** User, Group or ServiceAccount; any other kind never applies */
  kind: string;
  name: string;
  apiGroup?: string;
  /** ServiceAccount only; defaults to the RoleBinding's namespace */
  namespace?: string;
}

export interface ClusterRoleBinding {
  apiVersion?: 'rbac.authorization.k8s.io/v1';
  kind?: 'ClusterRoleBinding';
  metadata: ObjectMeta;
  roleRef: RoleRef;
  subjects?: Subject[];
}

export interface RoleBinding {
  apiVersion?: 'rbac.authorization.k8s.io/v1';
  kind?: 'RoleBinding';
  metadata: ObjectMeta & { namespace: string };
  roleRef: RoleRef;
  subjects?: Subject[];
}

export interface PolicyDocuments {
  clusterRoles: ClusterRole[];
  roles: Role[];
  clusterRoleBindings: ClusterRoleBinding[];
  roleBindings: RoleBinding[];
}

// ---- rule matching (pkg/apis/rbac/v1/evaluation_helpers.go) ----

const verbMatches = (rule: PolicyRule, verb: string) => rule.verbs.some((v) => v === '*' || v === verb);

const apiGroupMatches = (rule: PolicyRule, group: string) => (rule.apiGroups ?? []).some((g) => g === '*' || g === group);

function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (subresource && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) return true;
  }
  return false;
}

/** A rule with resourceNames only matches a request that names one of them. */
const resourceNameMatches = (rule: PolicyRule, name: string) => !rule.resourceNames?.length || rule.resourceNames.includes(name);

const nonResourceURLMatches = (rule: PolicyRule, url: string) =>
  (rule.nonResourceURLs ?? []).some((u) => u === '*' || u === url || (u.endsWith('*') && url.startsWith(u.replace(/\*+$/, ''))));

/** Whether one rule allows the request (rbac.RuleAllows). */
export function ruleAllows(a: Attributes, rule: PolicyRule): boolean {
  if (a.resourceRequest) {
    const sub = a.subresource ?? '';
    const combined = sub ? `${a.resource ?? ''}/${sub}` : (a.resource ?? '');
    return verbMatches(rule, a.verb) && apiGroupMatches(rule, a.apiGroup ?? '') && resourceMatches(rule, combined, sub) && resourceNameMatches(rule, a.name ?? '');
  }
  return verbMatches(rule, a.verb) && nonResourceURLMatches(rule, a.path ?? '');
}

// ---- rule resolution (pkg/registry/rbac/validation/rule.go) ----

const SA_PREFIX = 'system:serviceaccount:';

function appliesToUser(user: UserInfo, s: Subject, bindingNamespace: string): boolean {
  switch (s.kind) {
    case 'User':
      return user.name === s.name;
    case 'Group':
      return user.groups.includes(s.name);
    case 'ServiceAccount': {
      const ns = s.namespace || bindingNamespace;
      return ns !== '' && user.name === `${SA_PREFIX}${ns}:${s.name}`;
    }
    default:
      return false;
  }
}

const q = (s: string) => JSON.stringify(s);

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${q(`${s.name}/${s.namespace || bindingNamespace}`)}`;
  return `${s.kind} ${q(s.name)}`;
}

/** apierrors.NewNotFound as the listers report a missing role */
const notFound = (resource: 'clusterrole' | 'role', name: string) => `${resource}.${RBAC_GROUP} ${q(name)} not found`;

/** utilerrors.NewAggregate(...).Error(): one message as is, several de-duplicated in brackets */
function aggregate(errors: string[]): string {
  const unique = [...new Set(errors)];
  return unique.length === 1 ? unique[0] : `[${unique.join(', ')}]`;
}

interface Index {
  clusterRoles: Map<string, ClusterRole>;
  roles: Map<string, Role>;
  roleBindings: Map<string, RoleBinding[]>;
  clusterRoleBindings: ClusterRoleBinding[];
}

function buildIndex(p: PolicyDocuments): Index {
  const clusterRoles = new Map<string, ClusterRole>();
  for (const r of p.clusterRoles) if (!clusterRoles.has(r.metadata.name)) clusterRoles.set(r.metadata.name, r);
  const roles = new Map<string, Role>();
  for (const r of p.roles) {
    const key = `${r.metadata.namespace}/${r.metadata.name}`;
    if (!roles.has(key)) roles.set(key, r);
  }
  const roleBindings = new Map<string, RoleBinding[]>();
  for (const b of p.roleBindings) {
    const list = roleBindings.get(b.metadata.namespace) ?? [];
    list.push(b);
    roleBindings.set(b.metadata.namespace, list);
  }
  return { clusterRoles, roles, roleBindings, clusterRoleBindings: p.clusterRoleBindings };
}

/** Called with each rule that applies (and where it comes from) or each resolution error; false stops. */
type Visitor = (source: string | undefined, rule: PolicyRule | undefined, err: string | undefined) => boolean;

export class RBACAuthorizer implements Authorizer, RuleResolver {
  private indexed?: { docs: PolicyDocuments; index: Index };

  constructor(private readonly policy: Dynamic<PolicyDocuments>) {}

  async authorize(a: Attributes): Promise<Decision> {
    let allowedBy: string | undefined;
    const errors: string[] = [];
    this.visitRulesFor(a.user, a.namespace ?? '', (source, rule, err) => {
      if (rule && ruleAllows(a, rule)) {
        allowedBy = source;
        return false;
      }
      if (err) errors.push(err);
      return true;
    });
    if (allowedBy !== undefined) return { decision: 'allow', reason: `RBAC: allowed by ${allowedBy}` };
    return { decision: 'noOpinion', reason: errors.length ? `RBAC: ${aggregate(errors)}` : '' };
  }

  /**
   * Every rule that applies to the user in the namespace, as kube's RBAC RulesFor and the
   * SelfSubjectRulesReview storage present them: each rule with resources is a resource rule,
   * each rule with nonResourceURLs a non-resource rule, in binding order, not de-duplicated.
   */
  rulesFor(user: UserInfo, namespace: string): RulesResult {
    const resourceRules: RulesResult['resourceRules'] = [];
    const nonResourceRules: RulesResult['nonResourceRules'] = [];
    const errors: string[] = [];
    this.visitRulesFor(user, namespace, (_source, rule, err) => {
      if (rule?.resources?.length) {
        resourceRules.push({
          verbs: [...rule.verbs],
          ...(rule.apiGroups?.length ? { apiGroups: [...rule.apiGroups] } : {}),
          resources: [...rule.resources],
          ...(rule.resourceNames?.length ? { resourceNames: [...rule.resourceNames] } : {}),
        });
      }
      if (rule?.nonResourceURLs?.length) nonResourceRules.push({ verbs: [...rule.verbs], nonResourceURLs: [...rule.nonResourceURLs] });
      if (err) errors.push(err);
      return true;
    });
    return { resourceRules, nonResourceRules, incomplete: false, ...(errors.length ? { evaluationError: aggregate(errors) } : {}) };
  }

  private index(): Index {
    const docs = this.policy.current();
    if (this.indexed?.docs !== docs) this.indexed = { docs, index: buildIndex(docs) };
    return this.indexed.index;
  }

  /** DefaultRuleResolver.VisitRulesFor: ClusterRoleBindings, then the namespace's RoleBindings. */
  private visitRulesFor(user: UserInfo, namespace: string, visit: Visitor): void {
    const ix = this.index();
    for (const b of ix.clusterRoleBindings) {
      const subject = (b.subjects ?? []).find((s) => appliesToUser(user, s, ''));
      if (!subject) continue;
      const { rules, err } = this.roleRules(ix, b.roleRef, '');
      if (err) {
        if (!visit(undefined, undefined, err)) return;
        continue;
      }
      const source = `ClusterRoleBinding ${q(b.metadata.name)} of ${b.roleRef.kind} ${q(b.roleRef.name)} to ${describeSubject(subject, '')}`;
      for (const rule of rules) if (!visit(source, rule, undefined)) return;
    }
    if (!namespace) return;
    for (const b of ix.roleBindings.get(namespace) ?? []) {
      const subject = (b.subjects ?? []).find((s) => appliesToUser(user, s, namespace));
      if (!subject) continue;
      const { rules, err } = this.roleRules(ix, b.roleRef, namespace);
      if (err) {
        if (!visit(undefined, undefined, err)) return;
        continue;
      }
      const source = `RoleBinding ${q(`${b.metadata.name}/${namespace}`)} of ${b.roleRef.kind} ${q(b.roleRef.name)} to ${describeSubject(subject, namespace)}`;
      for (const rule of rules) if (!visit(source, rule, undefined)) return;
    }
  }

  /** GetRoleReferenceRules: a Role is looked up in the binding's namespace. */
  private roleRules(ix: Index, ref: RoleRef, bindingNamespace: string): { rules: PolicyRule[]; err?: string } {
    switch (ref.kind) {
      case 'Role': {
        const role = bindingNamespace ? ix.roles.get(`${bindingNamespace}/${ref.name}`) : undefined;
        return role ? { rules: role.rules ?? [] } : { rules: [], err: notFound('role', ref.name) };
      }
      case 'ClusterRole': {
        const role = ix.clusterRoles.get(ref.name);
        return role ? { rules: role.rules ?? [] } : { rules: [], err: notFound('clusterrole', ref.name) };
      }
      default:
        return { rules: [], err: `unsupported role reference kind: ${q(ref.kind)}` };
    }
  }
}
