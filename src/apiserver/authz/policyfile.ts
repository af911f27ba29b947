// The standalone policy file (--authorization-policy-file): ordinary rbac.authorization.k8s.io/v1
// ClusterRole, Role, ClusterRoleBinding and RoleBinding documents (multi-document YAML or a v1
// List; no aggregation), validated as kube validates RBAC objects plus what a file needs (no
// unknown fields, no duplicates, no binding of another namespace's Role), followed while the
// server runs. Also the default policy written on first start and the example roles of the docs.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { parseAllDocuments } from 'yaml';
import { fieldErr, type FieldError } from '../errors.ts';
import { followFile } from '../../util/filewatch.ts';
import type { Dynamic } from '../authn/types.ts';
import type { PolicyRule } from './types.ts';
import { RBAC_GROUP, type ClusterRole, type ClusterRoleBinding, type PolicyDocuments, type Role, type RoleBinding, type RoleRef, type Subject } from './rbac.ts';

const RBAC_V1 = `${RBAC_GROUP}/v1`;
const KINDS = ['ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding'] as const;
type Kind = (typeof KINDS)[number];

const OBJECT_META_FIELDS = new Set([
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp',
  'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
]);
const TOP_FIELDS: Record<Kind, string[]> = {
  ClusterRole: ['apiVersion', 'kind', 'metadata', 'rules', 'aggregationRule'],
  Role: ['apiVersion', 'kind', 'metadata', 'rules'],
  ClusterRoleBinding: ['apiVersion', 'kind', 'metadata', 'roleRef', 'subjects'],
  RoleBinding: ['apiVersion', 'kind', 'metadata', 'roleRef', 'subjects'],
};
const RULE_FIELDS = ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'] as const;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** path.IsValidPathSegmentName, the only rule kube applies to RBAC object names */
function pathSegmentErrors(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  const out: string[] = [];
  for (const c of ['/', '%']) if (name.includes(c)) out.push(`may not contain '${c}'`);
  return out;
}

/** One document's checks: field errors are collected, as kube reports all of them at once. */
class Checker {
  readonly errs: string[] = [];

  add(e: FieldError): void {
    this.errs.push(`${e.field}: ${e.message}`);
  }

  unknownFields(o: Obj, known: readonly string[] | Set<string>, prefix: string): void {
    const has = (k: string) => (known instanceof Set ? known.has(k) : known.includes(k));
    for (const k of Object.keys(o)) if (!has(k)) this.errs.push(`unknown field "${prefix}${k}"`);
  }

  string(o: Obj, key: string, field: string): string {
    const v = o[key];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') {
      this.add(fieldErr.typeInvalid(field, v, 'must be a string'));
      return '';
    }
    return v;
  }

  strings(o: Obj, key: string, field: string): string[] | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      this.add(fieldErr.typeInvalid(field, v, 'must be a list of strings'));
      return undefined;
    }
    return v as string[];
  }

  list(o: Obj, key: string, field: string): Obj[] {
    const v = o[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every(isObj)) {
      this.add(fieldErr.typeInvalid(field, v, 'must be a list of objects'));
      return [];
    }
    return v;
  }

  object(o: Obj, key: string, field: string): Obj | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (!isObj(v)) {
      this.add(fieldErr.typeInvalid(field, v, 'must be an object'));
      return undefined;
    }
    return v;
  }
}

type Parsed =
  | { kind: 'ClusterRole'; doc: ClusterRole }
  | { kind: 'Role'; doc: Role }
  | { kind: 'ClusterRoleBinding'; doc: ClusterRoleBinding }
  | { kind: 'RoleBinding'; doc: RoleBinding };

function checkMetadata(c: Checker, o: Obj, namespaced: boolean): { name: string; namespace?: string } {
  const meta = c.object(o, 'metadata', 'metadata');
  if (!meta) {
    c.add(fieldErr.required('metadata.name', 'name is required'));
    return { name: '' };
  }
  c.unknownFields(meta, OBJECT_META_FIELDS, 'metadata.');
  const name = c.string(meta, 'name', 'metadata.name');
  if (!name) c.add(fieldErr.required('metadata.name', 'name is required'));
  for (const msg of pathSegmentErrors(name)) c.add(fieldErr.invalid('metadata.name', name, msg));
  const namespace = c.string(meta, 'namespace', 'metadata.namespace');
  if (namespaced) {
    if (!namespace) c.add(fieldErr.required('metadata.namespace', ''));
    else if (namespace.length > 63 || !DNS1123_LABEL.test(namespace)) c.add(fieldErr.invalid('metadata.namespace', namespace, DNS1123_LABEL_MSG));
    return { name, namespace };
  }
  if (namespace) c.add(fieldErr.forbidden('metadata.namespace', 'not allowed on this type'));
  return { name };
}

/** validatePolicyRule of pkg/apis/rbac/validation */
function checkRules(c: Checker, o: Obj, namespaced: boolean): PolicyRule[] {
  return c.list(o, 'rules', 'rules').map((r, i) => {
    const f = `rules[${i}]`;
    c.unknownFields(r, RULE_FIELDS, `${f}.`);
    const rule: PolicyRule = { verbs: c.strings(r, 'verbs', `${f}.verbs`) ?? [] };
    for (const k of ['apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'] as const) {
      const v = c.strings(r, k, `${f}.${k}`);
      if (v !== undefined) rule[k] = v;
    }
    if (!rule.verbs.length) c.add(fieldErr.required(`${f}.verbs`, 'verbs must contain at least one value'));
    if (rule.nonResourceURLs?.length) {
      if (namespaced) c.add(fieldErr.invalid(`${f}.nonResourceURLs`, rule.nonResourceURLs, 'namespaced rules cannot apply to non-resource URLs'));
      if (rule.apiGroups?.length || rule.resources?.length || rule.resourceNames?.length)
        c.add(fieldErr.invalid(`${f}.nonResourceURLs`, rule.nonResourceURLs, 'rules cannot apply to both regular resources and non-resource URLs'));
      return rule;
    }
    if (!rule.apiGroups?.length) c.add(fieldErr.required(`${f}.apiGroups`, 'resource rules must supply at least one api group'));
    if (!rule.resources?.length) c.add(fieldErr.required(`${f}.resources`, 'resource rules must supply at least one resource'));
    if (rule.resourceNames?.length && (rule.resources?.length ?? 0) > 1)
      c.add(fieldErr.required(`${f}.resourceNames`, 'resource names cannot apply to multiple resources'));
    return rule;
  });
}

/** ValidateRoleBinding / ValidateClusterRoleBinding, with the v1 defaults of roleRef and subjects */
function checkBinding(c: Checker, o: Obj, namespaced: boolean): { roleRef: RoleRef; subjects: Subject[] } {
  const ref = c.object(o, 'roleRef', 'roleRef');
  const roleRef: RoleRef = { apiGroup: RBAC_GROUP, kind: '', name: '' };
  if (!ref) c.add(fieldErr.required('roleRef', ''));
  else {
    c.unknownFields(ref, ['apiGroup', 'kind', 'name'], 'roleRef.');
    roleRef.apiGroup = c.string(ref, 'apiGroup', 'roleRef.apiGroup') || RBAC_GROUP;
    roleRef.kind = c.string(ref, 'kind', 'roleRef.kind');
    roleRef.name = c.string(ref, 'name', 'roleRef.name');
    if (roleRef.apiGroup !== RBAC_GROUP) c.add(fieldErr.notSupported('roleRef.apiGroup', roleRef.apiGroup, [RBAC_GROUP]));
    const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
    if (!kinds.includes(roleRef.kind)) c.add(fieldErr.notSupported('roleRef.kind', roleRef.kind, kinds));
    if (!roleRef.name) c.add(fieldErr.required('roleRef.name', ''));
    for (const msg of pathSegmentErrors(roleRef.name)) c.add(fieldErr.invalid('roleRef.name', roleRef.name, msg));
  }
  const subjects = c.list(o, 'subjects', 'subjects').map((s, i): Subject => {
    const f = `subjects[${i}]`;
    c.unknownFields(s, ['kind', 'name', 'apiGroup', 'namespace'], `${f}.`);
    const kind = c.string(s, 'kind', `${f}.kind`);
    const name = c.string(s, 'name', `${f}.name`);
    const namespace = c.string(s, 'namespace', `${f}.namespace`);
    let apiGroup = c.string(s, 'apiGroup', `${f}.apiGroup`);
    if (!name) c.add(fieldErr.required(`${f}.name`, ''));
    switch (kind) {
      case 'ServiceAccount':
        if (name && (name.length > 253 || !DNS1123_SUBDOMAIN.test(name))) c.add(fieldErr.invalid(`${f}.name`, name, DNS1123_SUBDOMAIN_MSG));
        if (apiGroup) c.add(fieldErr.notSupported(`${f}.apiGroup`, apiGroup, ['']));
        if (!namespaced && !namespace) c.add(fieldErr.required(`${f}.namespace`, ''));
        break;
      case 'User':
      case 'Group':
        apiGroup ||= RBAC_GROUP;
        if (apiGroup !== RBAC_GROUP) c.add(fieldErr.notSupported(`${f}.apiGroup`, apiGroup, [RBAC_GROUP]));
        break;
      default:
        c.add(fieldErr.notSupported(`${f}.kind`, kind, ['ServiceAccount', 'User', 'Group']));
    }
    return { kind, name, ...(apiGroup ? { apiGroup } : {}), ...(namespace ? { namespace } : {}) };
  });
  return { roleRef, subjects };
}

function checkDocument(c: Checker, o: Obj): Parsed | undefined {
  const kind = c.string(o, 'kind', 'kind');
  if (!(KINDS as readonly string[]).includes(kind)) {
    c.add(kind ? fieldErr.notSupported('kind', kind, KINDS) : fieldErr.required('kind', ''));
    return undefined;
  }
  const k = kind as Kind;
  const apiVersion = c.string(o, 'apiVersion', 'apiVersion');
  if (apiVersion !== RBAC_V1) c.add(apiVersion ? fieldErr.notSupported('apiVersion', apiVersion, [RBAC_V1]) : fieldErr.required('apiVersion', ''));
  c.unknownFields(o, TOP_FIELDS[k], '');
  const namespaced = k === 'Role' || k === 'RoleBinding';
  const metadata = checkMetadata(c, o, namespaced);
  const base = { apiVersion: RBAC_V1 as typeof RBAC_V1 };
  switch (k) {
    case 'ClusterRole':
      if (o.aggregationRule !== undefined && o.aggregationRule !== null)
        c.add(fieldErr.forbidden('aggregationRule', 'aggregated ClusterRoles are not supported in the policy file; list the rules'));
      return { kind: k, doc: { ...base, kind: k, metadata, rules: checkRules(c, o, false) } };
    case 'Role':
      return { kind: k, doc: { ...base, kind: k, metadata: { ...metadata, namespace: metadata.namespace ?? '' }, rules: checkRules(c, o, true) } };
    case 'ClusterRoleBinding':
      return { kind: k, doc: { ...base, kind: k, metadata, ...checkBinding(c, o, false) } };
    case 'RoleBinding':
      return { kind: k, doc: { ...base, kind: k, metadata: { ...metadata, namespace: metadata.namespace ?? '' }, ...checkBinding(c, o, true) } };
  }
}

const label = (p: Parsed) => `${p.kind} "${p.doc.metadata.name}"${p.doc.metadata.namespace ? ` in namespace "${p.doc.metadata.namespace}"` : ''}`;

/**
 * Parses and validates policy text. Throws an Error whose message is "invalid policy file:" and
 * then every problem on a line of its own, as
 * `<source>: document <n>[, items[<i>]] (<Kind> "<name>"): <field>: <what>` (n counts the YAML
 * documents from 1).
 */
export function parsePolicy(text: string, source: string): PolicyDocuments {
  const problems: string[] = [];
  const found: { at: string; where: string; parsed: Parsed }[] = [];
  const visit = (value: unknown, where: string) => {
    if (!isObj(value)) {
      problems.push(`${source}: ${where}: must be an object (a ClusterRole, Role, ClusterRoleBinding or RoleBinding)`);
      return;
    }
    const c = new Checker();
    const parsed = checkDocument(c, value);
    const what = parsed ? ` (${label(parsed)})` : '';
    for (const e of c.errs) problems.push(`${source}: ${where}${what}: ${e}`);
    if (parsed && !c.errs.length) found.push({ at: where, where: `${where}${what}`, parsed });
  };
  parseAllDocuments(text).forEach((doc, i) => {
    const where = `document ${i + 1}`;
    if (doc.errors.length) {
      // the first line of the message says what and where ("... at line 6, column 1:"); the rest quotes the text
      for (const e of doc.errors) problems.push(`${source}: ${where}: ${e.message.split('\n')[0].replace(/:$/, '')}`);
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      problems.push(`${source}: ${where}: ${(e as Error).message}`); // too many aliases
      return;
    }
    if (value === null || value === undefined) return; // an empty document
    if (isObj(value) && value.kind === 'List') {
      const c = new Checker();
      if (value.apiVersion !== 'v1') c.add(fieldErr.notSupported('apiVersion', value.apiVersion, ['v1']));
      c.unknownFields(value, ['apiVersion', 'kind', 'metadata', 'items'], '');
      for (const e of c.errs) problems.push(`${source}: ${where} (List): ${e}`);
      if (!Array.isArray(value.items)) problems.push(`${source}: ${where} (List): items: Required value`);
      else value.items.forEach((item, j) => visit(item, `${where}, items[${j}]`));
      return;
    }
    visit(value, where);
  });

  const policy: PolicyDocuments = { clusterRoles: [], roles: [], clusterRoleBindings: [], roleBindings: [] };
  const seen = new Map<string, string>();
  for (const { at, where, parsed } of found) {
    const key = `${parsed.kind}/${parsed.doc.metadata.namespace ?? ''}/${parsed.doc.metadata.name}`;
    const first = seen.get(key);
    if (first) {
      problems.push(`${source}: ${where}: metadata.name: Duplicate value: "${parsed.doc.metadata.name}": also defined in ${first}`);
      continue;
    }
    seen.set(key, at);
    if (parsed.kind === 'ClusterRole') policy.clusterRoles.push(parsed.doc);
    else if (parsed.kind === 'Role') policy.roles.push(parsed.doc);
    else if (parsed.kind === 'ClusterRoleBinding') policy.clusterRoleBindings.push(parsed.doc);
    else policy.roleBindings.push(parsed.doc);
  }
  // a RoleBinding's Role is always looked up in the binding's own namespace
  for (const { where, parsed } of found) {
    if (parsed.kind !== 'RoleBinding' || parsed.doc.roleRef.kind !== 'Role') continue;
    const { namespace } = parsed.doc.metadata;
    const { name } = parsed.doc.roleRef;
    if (policy.roles.some((r) => r.metadata.namespace === namespace && r.metadata.name === name)) continue;
    const elsewhere = policy.roles.filter((r) => r.metadata.name === name).map((r) => `"${r.metadata.namespace}"`);
    if (elsewhere.length)
      problems.push(
        `${source}: ${where}: roleRef.name: Invalid value: "${name}": a RoleBinding can only bind a Role of its own namespace "${namespace}"; Role "${name}" is in namespace ${elsewhere.join(', ')} (bind a ClusterRole instead, or move the Role)`,
      );
  }
  if (problems.length) throw new Error(`invalid policy file:\n${problems.join('\n')}`);
  return policy;
}

/** Reads and validates a policy file (see parsePolicy for the errors). */
export function loadPolicyFile(path: string): PolicyDocuments {
  return parsePolicy(readFileSync(path, 'utf8'), path);
}

/**
 * Follows a policy file: the first read throws like loadPolicyFile; later a changed file (also
 * one replaced by a rename) is re-read, and a version that does not load keeps the previous
 * policy and is logged once.
 */
export function watchPolicyFile(path: string, log: Logger, opts: { intervalMs?: number } = {}): Dynamic<PolicyDocuments> & { stop(): void } {
  return followFile(path, {
    parse: (text) => parsePolicy(text, path),
    intervalMs: opts.intervalMs,
    onError: (err) => log.error({ file: path, err: err.message }, 'policy file not reloaded; the previous policy stays in force'),
    onReload: (p) =>
      log.info(
        { file: path, clusterRoles: p.clusterRoles.length, roles: p.roles.length, clusterRoleBindings: p.clusterRoleBindings.length, roleBindings: p.roleBindings.length },
        'policy file reloaded',
      ),
  });
}

/**
 * Writes DEFAULT_POLICY and, unbound, the EXAMPLE_ROLES to `path` (mode 0600) unless a file is
 * there; true when it wrote.
 */
export function writeDefaultPolicy(path: string): boolean {
  mkdirSync(dirname(path), { recursive: true });
  try {
    writeFileSync(path, `${DEFAULT_POLICY}\n---\n${EXAMPLE_ROLES}`, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

const PKG = 'pkg.pkgserver.dev';
const CFG = 'config.pkg.pkgserver.dev';
const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete'];
const rule = (group: string, resources: string[], verbs: string[]): PolicyRule => ({ apiGroups: [group], resources, verbs });

/** The example roles' rules: each role has the rules of the one before it, and its own. */
const VIEWER: PolicyRule[] = [
  rule(PKG, ['packagerevisions', 'packagerevisionresources', 'packageapis'], READ),
  rule(CFG, ['repositories', 'packagevariants'], READ),
  rule(PKG, ['packagerevisions/status'], ['get']),
  rule(CFG, ['repositories/status', 'packagevariants/status'], ['get']),
  rule('', ['events', 'namespaces'], READ),
  rule('', ['limitranges', 'resourcequotas'], ['list']),
];
const EDITOR: PolicyRule[] = [...VIEWER, rule(PKG, ['packagerevisions'], WRITE), rule(PKG, ['packagerevisionresources'], ['update', 'patch']), rule(CFG, ['packagevariants'], WRITE)];
const APPROVER: PolicyRule[] = [...EDITOR, rule(PKG, ['packagerevisions'], ['approve']), rule(PKG, ['packagerevisions/approval'], ['get', 'update', 'patch'])];
const REPOSITORY_ADMIN: PolicyRule[] = [rule(CFG, ['repositories'], [...READ, ...WRITE]), rule(CFG, ['repositories/status'], ['get'])];

const list = (xs: string[]) => `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;
const clusterRole = (comment: string, name: string, rules: PolicyRule[]) =>
  `${comment}\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: ${name}\nrules:\n${rules
    .map((r) => `- apiGroups: ${list(r.apiGroups!)}\n  resources: ${list(r.resources!)}\n  verbs: ${list(r.verbs)}\n`)
    .join('')}`;

const BASE_POLICY = `# pkgserver authorization policy (--authorization-policy-file), written on first start.
#
# Ordinary Kubernetes RBAC documents (rbac.authorization.k8s.io/v1 ClusterRole, Role,
# ClusterRoleBinding, RoleBinding), evaluated as kube-apiserver's RBAC authorizer evaluates them.
# The server re-reads this file when it changes; a version with an error is logged and ignored
# (the previous policy stays in force). Users and groups come from authentication: a client
# certificate's CN and O, a token's user, or the front proxy's X-Remote-User / X-Remote-Group.
# Every authenticated user is in the group system:authenticated.
#
# The example roles for pkgserver (viewer, editor, approver, repository admin) are at the end of
# this file, bound to nobody (docs/security.md explains them); bind them as you need, for example:
#
#   apiVersion: rbac.authorization.k8s.io/v1
#   kind: RoleBinding
#   metadata: {name: team-a-editors, namespace: team-a}
#   roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pkgserver-editor}
#   subjects:
#   - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: team-a}

# Everything, everywhere: kube's cluster-admin.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cluster-admin
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
- nonResourceURLs: ["*"]
  verbs: ["*"]
---
# The admin client certificate that \`pkgserver serve\` and \`pkgserver certs\` generate is in the
# group system:masters (O=system:masters).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: cluster-admin
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: system:masters
---
# Discovery, OpenAPI, health and version: what kubectl reads before anything else (kube's
# system:discovery).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:discovery
rules:
- nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/", "/openapi", "/openapi/*"]
  verbs: ["get"]
---
# Asking what one may do, and who one is: kubectl auth can-i [--list], kubectl auth whoami
# (kube's system:basic-user).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:basic-user
rules:
- apiGroups: ["authorization.k8s.io"]
  resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]
  verbs: ["create"]
- apiGroups: ["authentication.k8s.io"]
  resources: ["selfsubjectreviews"]
  verbs: ["create"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:discovery
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:discovery
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: system:authenticated
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:basic-user
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:basic-user
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: system:authenticated
`;

const userBinding = (comment: string, name: string, user: string) =>
  `${comment}${comment ? '\n' : ''}apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: ${name}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: ${name}\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: ${user}\n`;
const controller = (name: string) => `system:pkgserver:controller:${name}`;

/** The roles of the controllers that act for users (each bound to its own user). */
const CONTROLLER_ROLES = [
  clusterRole(
    `# The server's controllers act as users of their own (system:pkgserver:controller:<name>, group
# system:pkgserver:controllers), through this policy like anyone else. To narrow one to some
# namespaces, replace its ClusterRoleBinding by RoleBindings of the same ClusterRole in those
# namespaces (docs/security.md); without the rights its objects say Forbidden.
#
# packagevariant: makes and follows the downstream drafts of PackageVariants.`,
    'system:pkgserver:packagevariant-controller',
    [rule(PKG, ['packagerevisions'], [...READ, ...WRITE]), rule(CFG, ['packagevariants', 'repositories'], READ), rule(CFG, ['packagevariants'], ['update', 'patch']), rule(CFG, ['packagevariants/status'], ['update', 'patch'])],
  ),
  userBinding('', 'system:pkgserver:packagevariant-controller', controller('packagevariant')),
  clusterRole(
    `# approval: proposes revisions with the readiness gate pkg.pkgserver.dev/approve and says on
# the gate's condition what it waits for ...`,
    'system:pkgserver:approval-controller',
    [rule(PKG, ['packagerevisions'], [...READ, 'update', 'patch']), rule(PKG, ['packagerevisions/status'], ['update', 'patch'])],
  ),
  userBinding('', 'system:pkgserver:approval-controller', controller('approval')),
  clusterRole(
    `# ... and publishes them where it may approve: everywhere by default. To allow auto-approval in
# some namespaces only, replace this ClusterRoleBinding by RoleBindings of system:pkgserver:auto-approve
# in those namespaces; elsewhere the gate's condition says Forbidden and nothing is published.`,
    'system:pkgserver:auto-approve',
    [rule(PKG, ['packagerevisions'], ['approve'])],
  ),
  userBinding('', 'system:pkgserver:auto-approve', controller('approval')),
  clusterRole('# upgrades: shows in status.latestUpstreamRevision that a newer upstream revision is published.', 'system:pkgserver:upgrades-controller', [
    rule(PKG, ['packagerevisions'], READ),
    rule(PKG, ['packagerevisions/status'], ['update', 'patch']),
  ]),
  userBinding('', 'system:pkgserver:upgrades-controller', controller('upgrades')),
  clusterRole(
    '# discovery: records which package provides which API (packageapis) and what each published catalog\n# revision depends on (status.dependencies, status.dependents).',
    'system:pkgserver:discovery-controller',
    [rule(PKG, ['packagerevisions'], READ), rule(PKG, ['packagerevisions/status'], ['update', 'patch']), rule(PKG, ['packageapis'], [...READ, 'create', 'update', 'patch', 'delete'])],
  ),
  userBinding('', 'system:pkgserver:discovery-controller', controller('discovery')),
  clusterRole(
    '# scheduler: deploys the dependencies of revisions with the gate pkg.pkgserver.dev/schedule, as\n# PackageVariants on the same target, and says on the gate\'s condition what it waits for.',
    'system:pkgserver:scheduler-controller',
    [rule(PKG, ['packagerevisions'], READ), rule(PKG, ['packagerevisions/status'], ['update', 'patch']), rule(CFG, ['packagevariants'], [...READ, 'create'])],
  ),
  userBinding('', 'system:pkgserver:scheduler-controller', controller('scheduler')),
];

export const DEFAULT_POLICY = `${BASE_POLICY}---\n${CONTROLLER_ROLES.join('---\n')}`;

export const EXAMPLE_ROLES = `# Example ClusterRoles for pkgserver. Bind them with a RoleBinding to grant them in one
# namespace, or with a ClusterRoleBinding to grant them in every namespace.
#
# Publishing a PackageRevision (spec.lifecycle: proposed -> published) needs the verb "approve"
# on packagerevisions, or "update" on packagerevisions/approval; "update"/"patch" on
# packagerevisions alone lets a user edit, propose and reject, not publish. Writes through
# /status belong to the server's controllers and are granted to nobody here.

${[
  clusterRole(
    '# Read everything, with the Events (kubectl describe, kubectl events) and the namespaces kubectl\n# looks up. kubectl describe namespace also lists resourcequotas and limitranges: not served\n# (404), which kubectl accepts; without the right to list them it fails instead.',
    'pkgserver-viewer',
    VIEWER,
  ),
  clusterRole('# The viewer\'s rights, and create, edit, propose, reject and delete package revisions, their\n# files and package variants. Not approve, not the approval or status subresources.', 'pkgserver-editor', EDITOR),
  clusterRole('# The editor\'s rights, and publishing: the verb "approve" on packagerevisions and writes through\n# packagerevisions/approval.', 'pkgserver-approver', APPROVER),
  clusterRole('# Register, change and remove repositories (which remotes the server reads and writes).', 'pkgserver-repository-admin', REPOSITORY_ADMIN),
].join('---\n')}`;
