// Authorization: may this user do this (k8s.io/apiserver/pkg/authorization/authorizer).
import type { UserInfo } from '../registry/types.ts';

/** The request attributes an authorizer decides on, as kube's authorizer.AttributesRecord. */
export interface Attributes {
  user: UserInfo;
  /** get, list, watch, create, update, patch, delete, deletecollection, or a custom verb (approve, impersonate) */
  verb: string;
  /** true for /apis/G/V/[namespaces/NS/]RESOURCE[/NAME[/SUB]]; false for every other path */
  resourceRequest: boolean;
  // resource requests
  apiGroup?: string;
  apiVersion?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  // non-resource requests
  path?: string;
}

export type DecisionKind = 'allow' | 'deny' | 'noOpinion';

export interface Decision {
  decision: DecisionKind;
  /** why (shown after the 403 message when not empty, as kube does) */
  reason: string;
  /**
   * The authorizer could not decide (kube's err: the SubjectAccessReview call failed). A request
   * that is not allowed then gets 500 "Internal error occurred: <error>" instead of 403, as kube's
   * authorization filter answers.
   */
  error?: string;
}

export interface Authorizer {
  authorize(attrs: Attributes): Promise<Decision>;
}

/** One RBAC-shaped rule (rbac.authorization.k8s.io/v1 PolicyRule). */
export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** What a user may do in a namespace (SelfSubjectRulesReview). */
export interface RulesResult {
  resourceRules: { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[] }[];
  nonResourceRules: { verbs: string[]; nonResourceURLs?: string[] }[];
  incomplete: boolean;
  evaluationError?: string;
}

/** An authorizer that can also list the rules that apply to a user (standalone RBAC). */
export interface RuleResolver {
  rulesFor(user: UserInfo, namespace: string): RulesResult;
}

/**
 * kube's Forbidden message for denied attributes (k8s.io/apiserver/pkg/endpoints/handlers/
 * responsewriters.forbiddenMessage), without the "<resource> is forbidden: " prefix.
 */
export function forbiddenMessage(a: Attributes): string {
  const user = a.user.name;
  if (!a.resourceRequest) return `User "${user}" cannot ${a.verb} path "${a.path}"`;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (a.namespace) return `User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup ?? ''}" in the namespace "${a.namespace}"`;
  return `User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup ?? ''}" at the cluster scope`;
}
