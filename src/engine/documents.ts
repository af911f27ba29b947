// The KRM documents of a package, as the package-discovery controller and the publish-time safety
// check see them: every resource the package would put on a cluster (group, version, kind, name,
// namespace), the APIs it provides (CustomResourceDefinitions, APIServices), the APIs its Roles
// and ClusterRoles ask for, and the packages it depends on (PackageVariant and PackageDependency
// upstreams). Pure: files in, a typed summary out, and never an exception: whatever does not parse
// or does not have the expected shape is a problem (file and message), and the rest still counts.
import YAML from 'yaml';

export interface CRDVersion {
  name: string;
  served: boolean;
  storage: boolean;
  /** spec.versions[].schema.openAPIV3Schema, as is */
  schema?: Record<string, unknown>;
}

export interface ProvidedCRD {
  /** metadata.name */
  name: string;
  group: string;
  kind: string;
  plural: string;
  scope: 'Namespaced' | 'Cluster';
  versions: CRDVersion[];
  file: string;
}

export interface ProvidedAPIService {
  group: string;
  version: string;
  file: string;
}

export interface DocumentRef {
  /** '' for the core group */
  group: string;
  version: string;
  kind: string;
  name?: string;
  namespace?: string;
  file: string;
}

export interface RBACRuleRef {
  group: string;
  /** subresource stripped: "pods/log" -> "pods" */
  resource: string;
  /** "ClusterRole/name" or "Role/name" */
  role: string;
  file: string;
}

export interface UpstreamRef {
  repository: string;
  realm?: string;
  package: string;
  /** the constraint as written, '*' when absent or empty */
  revision: string;
  via: 'PackageVariant' | 'PackageDependency';
  name: string;
  file: string;
}

export interface PackageDocuments {
  crds: ProvidedCRD[];
  apiServices: ProvidedAPIService[];
  documents: DocumentRef[];
  rbacRules: RBACRuleRef[];
  upstreams: UpstreamRef[];
  problems: { file: string; message: string }[];
}

type Obj = Record<string, unknown>;

const LOCAL_CONFIG = 'config.kubernetes.io/local-config';
/** Groups of tool configuration (kpt, kustomize, KRM functions), never applied to a cluster; their subdomains too (fn.kpt.dev). */
const TOOL_GROUPS = ['kpt.dev', 'kustomize.config.k8s.io', 'config.kubernetes.io'];
const KUSTOMIZATION_NAMES = new Set(['kustomization.yaml', 'kustomization.yml', 'Kustomization']);
const CRD_GROUP = 'apiextensions.k8s.io';
const APISERVICE_GROUP = 'apiregistration.k8s.io';
const RBAC_GROUP = 'rbac.authorization.k8s.io';
const VARIANT_GROUP = 'config.pkg.pkgserver.dev';
const DEPENDENCY_GROUP = 'claim.pkg.pkgserver.dev';

/**
 * The documents of a package's files (path to content): the `.yaml`/`.yml` files at any depth but
 * kustomization files, in path order, each document in file order.
 */
export function packageDocuments(files: Record<string, string>): PackageDocuments {
  const out: PackageDocuments = { crds: [], apiServices: [], documents: [], rbacRules: [], upstreams: [], problems: [] };
  const paths = Object.keys(files).filter(isManifestPath).sort(byCodeUnits);
  for (const file of paths) {
    const content: unknown = files[file];
    if (typeof content !== 'string') {
      out.problems.push({ file, message: 'the file content is not text' });
      continue;
    }
    for (const doc of fileDocuments(content)) {
      if ('problem' in doc) out.problems.push({ file, message: doc.problem });
      else readDocument(doc.value, doc.line, file, out);
    }
  }
  return out;
}

/** "apps/v1" -> {group: 'apps', version: 'v1'}; "v1" -> {group: '', version: 'v1'}; undefined when malformed */
export function parseAPIVersion(apiVersion: string): { group: string; version: string } | undefined {
  if (typeof apiVersion !== 'string') return undefined;
  const m = /^(?:([^/\s]+)\/)?([^/\s]+)$/.exec(apiVersion);
  if (!m) return undefined;
  return { group: m[1] ?? '', version: m[2] };
}

// ---- files ----

function isManifestPath(p: string): boolean {
  const base = p.slice(p.lastIndexOf('/') + 1);
  return (p.endsWith('.yaml') || p.endsWith('.yml')) && !KUSTOMIZATION_NAMES.has(base);
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

type ParsedDocument = { value: unknown; line: number } | { problem: string };

/** Each document of a YAML stream as plain data with the line it starts at, or why it does not parse. */
function fileDocuments(content: string): ParsedDocument[] {
  const lines = new YAML.LineCounter();
  let docs: YAML.Document[];
  try {
    docs = YAML.parseAllDocuments(content, { lineCounter: lines, logLevel: 'silent' }) as YAML.Document[];
  } catch (e) {
    return [{ problem: `YAML does not parse: ${firstLine(e)}` }];
  }
  return docs.map((doc) => {
    const start = doc.contents?.range?.[0] ?? doc.range?.[0] ?? 0;
    const line = lines.linePos(start).line;
    const err = doc.errors[0];
    if (err) {
      const { line: l, col } = lines.linePos(err.pos[0]);
      return { problem: `YAML does not parse at line ${l}, column ${col}: ${firstLine(err).replace(/ at line \d+, column \d+:$/, '')}` };
    }
    try {
      return { value: doc.toJS({ maxAliasCount: 100 }), line };
    } catch (e) {
      return { problem: `YAML document at line ${line} cannot be read: ${firstLine(e)}` };
    }
  });
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0];
}

// ---- plain data ----

/** A plain mapping (what YAML mappings become), not an array, Set, Map or Buffer. */
function asObj(v: unknown): Obj | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null ? (v as Obj) : undefined;
}

/** An own field of a mapping (never an inherited one such as "constructor"). */
function get(v: unknown, key: string): unknown {
  const o = asObj(v);
  return o && Object.hasOwn(o, key) ? o[key] : undefined;
}

/** A non-empty string field. */
function nonEmpty(v: unknown, key: string): string | undefined {
  const s = get(v, key);
  return typeof s === 'string' && s !== '' ? s : undefined;
}

// ---- documents ----

interface Doc {
  body: Obj;
  group: string;
  version: string;
  kind: string;
  name?: string;
  file: string;
  line: number;
  out: PackageDocuments;
}

function readDocument(value: unknown, line: number, file: string, out: PackageDocuments): void {
  const body = asObj(value);
  if (!body) return;
  const apiVersion = nonEmpty(body, 'apiVersion');
  const kind = nonEmpty(body, 'kind');
  if (apiVersion === undefined || kind === undefined) return;
  const gv = parseAPIVersion(apiVersion);
  if (!gv) {
    out.problems.push({ file, message: `line ${line}: apiVersion ${JSON.stringify(apiVersion)} of ${kind} is not "<group>/<version>" or "<version>"` });
    return;
  }
  const metadata = get(body, 'metadata');
  if (get(get(metadata, 'annotations'), LOCAL_CONFIG) === 'true') return;
  if (TOOL_GROUPS.some((g) => gv.group === g || gv.group.endsWith(`.${g}`))) return;
  const name = nonEmpty(metadata, 'name');
  const namespace = nonEmpty(metadata, 'namespace');
  const doc: Doc = { body, ...gv, kind, name, file, line, out };

  if (gv.group === VARIANT_GROUP && kind === 'PackageVariant') return readUpstream(doc, 'PackageVariant');
  if (gv.group === DEPENDENCY_GROUP && kind === 'PackageDependency') return readUpstream(doc, 'PackageDependency');

  out.documents.push({ group: gv.group, version: gv.version, kind, ...(name !== undefined && { name }), ...(namespace !== undefined && { namespace }), file });

  if (gv.group === CRD_GROUP && (gv.version === 'v1' || gv.version === 'v1beta1') && kind === 'CustomResourceDefinition') readCRD(doc);
  else if (gv.group === APISERVICE_GROUP && (gv.version === 'v1' || gv.version === 'v1beta1') && kind === 'APIService') readAPIService(doc);
  else if (gv.group === RBAC_GROUP && gv.version === 'v1' && (kind === 'Role' || kind === 'ClusterRole')) readRole(doc);
}

function problem(doc: Doc, what: string): void {
  const subject = doc.name === undefined ? doc.kind : `${doc.kind} ${doc.name}`;
  doc.out.problems.push({ file: doc.file, message: `line ${doc.line}: ${subject}: ${what}` });
}

// ---- CustomResourceDefinition ----

function readCRD(doc: Doc): void {
  const spec = get(doc.body, 'spec');
  if (!asObj(spec)) return problem(doc, 'spec must be a mapping');
  const names = get(spec, 'names');
  const group = nonEmpty(spec, 'group');
  const kind = nonEmpty(names, 'kind');
  const plural = nonEmpty(names, 'plural');
  const scope = get(spec, 'scope') ?? 'Namespaced';
  if (doc.name === undefined) problem(doc, 'metadata.name must be a non-empty string');
  if (group === undefined) problem(doc, 'spec.group must be a non-empty string');
  if (kind === undefined) problem(doc, 'spec.names.kind must be a non-empty string');
  if (plural === undefined) problem(doc, 'spec.names.plural must be a non-empty string');
  if (scope !== 'Namespaced' && scope !== 'Cluster') problem(doc, 'spec.scope must be "Namespaced" or "Cluster"');
  const versions = crdVersions(doc, spec);
  if (versions.length === 0) problem(doc, 'spec.versions must list at least one version');
  if (doc.name === undefined || group === undefined || kind === undefined || plural === undefined || (scope !== 'Namespaced' && scope !== 'Cluster') || versions.length === 0) return;
  if (doc.out.crds.some((c) => c.name === doc.name)) return problem(doc, 'defined more than once in the package; the first definition counts');
  doc.out.crds.push({ name: doc.name, group, kind, plural, scope, versions, file: doc.file });
}

/**
 * The versions of a CRD: spec.versions[] (v1 and v1beta1), or v1beta1's single spec.version; a
 * version's schema is its schema.openAPIV3Schema or, in v1beta1, spec.validation.openAPIV3Schema.
 */
function crdVersions(doc: Doc, spec: unknown): CRDVersion[] {
  const beta = doc.version === 'v1beta1';
  const shared = beta ? asObj(get(get(spec, 'validation'), 'openAPIV3Schema')) : undefined;
  const list = get(spec, 'versions');
  const out: CRDVersion[] = [];
  if (beta && list === undefined) {
    const single = get(spec, 'version');
    if (single === undefined) return out;
    if (typeof single !== 'string' || single === '') {
      problem(doc, 'spec.version must be a non-empty string');
      return out;
    }
    const v: CRDVersion = { name: single, served: true, storage: true };
    if (shared) v.schema = shared;
    return [v];
  }
  if (list === undefined) return out;
  if (!Array.isArray(list)) {
    problem(doc, 'spec.versions must be a list');
    return out;
  }
  list.forEach((item, i) => {
    const field = `spec.versions[${i}]`;
    if (!asObj(item)) return problem(doc, `${field} must be a mapping`);
    const name = nonEmpty(item, 'name');
    if (name === undefined) return problem(doc, `${field}.name must be a non-empty string`);
    if (out.some((v) => v.name === name)) return problem(doc, `${field}: version ${name} is listed more than once`);
    const v: CRDVersion = { name, served: get(item, 'served') === true, storage: get(item, 'storage') === true };
    const schema = asObj(get(get(item, 'schema'), 'openAPIV3Schema')) ?? shared;
    if (schema) v.schema = schema;
    out.push(v);
  });
  return out;
}

// ---- APIService ----

function readAPIService(doc: Doc): void {
  const spec = get(doc.body, 'spec');
  const group = nonEmpty(spec, 'group');
  const version = nonEmpty(spec, 'version');
  if (group === undefined) problem(doc, 'spec.group must be a non-empty string');
  if (version === undefined) problem(doc, 'spec.version must be a non-empty string');
  if (group !== undefined && version !== undefined) doc.out.apiServices.push({ group, version, file: doc.file });
}

// ---- Role and ClusterRole ----

function readRole(doc: Doc): void {
  if (doc.name === undefined) return problem(doc, 'metadata.name must be a non-empty string');
  const role = `${doc.kind}/${doc.name}`;
  const rules = get(doc.body, 'rules');
  if (rules === undefined || rules === null) return;
  if (!Array.isArray(rules)) return problem(doc, 'rules must be a list');
  const seen = new Set<string>();
  rules.forEach((rule, i) => {
    const field = `rules[${i}]`;
    if (!asObj(rule)) return problem(doc, `${field} must be a mapping`);
    const groups = stringList(doc, rule, 'apiGroups', field);
    const resources = stringList(doc, rule, 'resources', field);
    if (!groups || !resources) return;
    for (const group of groups) {
      if (group === '*') continue;
      for (const r of resources) {
        const resource = r.split('/')[0];
        if (resource === '' || resource === '*') continue;
        const key = JSON.stringify([group, resource]);
        if (seen.has(key)) continue;
        seen.add(key);
        doc.out.rbacRules.push({ group, resource, role, file: doc.file });
      }
    }
  });
}

/** A list of strings (absent: empty), or undefined after reporting a problem. */
function stringList(doc: Doc, rule: unknown, key: string, field: string): string[] | undefined {
  const v = get(rule, key);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
    problem(doc, `${field}.${key} must be a list of strings`);
    return undefined;
  }
  return v as string[];
}

// ---- PackageVariant and PackageDependency ----

function readUpstream(doc: Doc, via: UpstreamRef['via']): void {
  const upstream = get(get(doc.body, 'spec'), 'upstream');
  if (!asObj(upstream)) return problem(doc, 'spec.upstream must be a mapping');
  const repository = nonEmpty(upstream, 'repository');
  const pkg = nonEmpty(upstream, 'package');
  const realm = get(upstream, 'realm');
  const revision = get(upstream, 'revision');
  let ok = true;
  const bad = (what: string) => {
    problem(doc, what);
    ok = false;
  };
  if (repository === undefined) bad('spec.upstream.repository must be a non-empty string');
  if (pkg === undefined) bad('spec.upstream.package must be a non-empty string');
  if (realm !== undefined && realm !== null && typeof realm !== 'string') bad('spec.upstream.realm must be a string');
  if (revision !== undefined && revision !== null && typeof revision !== 'string') bad('spec.upstream.revision must be a string (quote a version such as "1.10")');
  if (!ok) return;
  doc.out.upstreams.push({
    repository: repository!,
    ...(typeof realm === 'string' && realm !== '' && { realm }),
    package: pkg!,
    revision: typeof revision === 'string' && revision !== '' ? revision : '*',
    via,
    name: doc.name ?? '',
    file: doc.file,
  });
}
