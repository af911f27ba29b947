// What a catalog package depends on (SPEC 5.3), resolved from its documents (./documents.ts)
// against the catalog's map of provided APIs and the APIs the cluster serves. Pure: the discovery
// controller gives it the lookups and stores the result in status.dependencies.
//
// For every resource document (a kind the package does not provide itself):
//   provided by a catalog package  → a package dependency, constrained to the revisions that serve
//                                    the document's version ("*" when all of them do)
//   served by the cluster          → a core dependency (an error when that version is not served)
//   neither                        → missing: the revision waits for a package that provides it
// RBAC rules (apiGroup × resource) resolve through the resource's kind; an unknown one is a
// warning. PackageVariant and PackageDependency documents are package dependencies on their
// upstream with its revision constraint.
import type { PackageAPISpec } from '../api/catalog.ts';
import type { APIIndex } from '../api/coreapis.ts';
import { satisfiesRevision, validRevisionConstraint, type CoreDependency, type Dependencies, type PackageDependency, type PackageRef } from '../api/pkg.ts';
import type { PackageDocuments } from './documents.ts';

export interface CatalogLookup {
  /** the package-provided API of a GroupKind */
  api(group: string, kind: string): PackageAPISpec | undefined;
  /** the package-provided API of a group's every kind (an APIService) */
  group(group: string): PackageAPISpec | undefined;
  /** the package-provided API of a GroupResource (a CRD's plural) */
  resource(group: string, resource: string): PackageAPISpec | undefined;
  /** the published revisions of a package, to tell "every revision" ("*") from some */
  revisions(ref: PackageRef): string[];
}

export const gkString = (group: string, kind: string) => (group ? `${group}/${kind}` : kind);
export const refString = (r: PackageRef) => [r.repository, r.realm, r.package].filter(Boolean).join('/');
const sameRef = (a: PackageRef, b: PackageRef) => a.repository === b.repository && (a.realm ?? '') === (b.realm ?? '') && a.package === b.package;
const gvString = (group: string, version: string) => (group ? `${group}/${version}` : version);

export function resolveDependencies(self: PackageRef, docs: PackageDocuments, catalog: CatalogLookup, core: APIIndex): Dependencies {
  const packages = new Map<string, PackageDependency>();
  const coreDeps = new Map<string, CoreDependency>();
  const missing = new Set<string>();
  const missingResources = new Set<string>();
  const errors: string[] = docs.problems.map((p) => `${p.file}: ${p.message}`);
  const warnings: string[] = [];

  const ownKinds = new Set(docs.crds.map((c) => gkString(c.group, c.kind)));
  const ownResources = new Set(docs.crds.map((c) => `${c.group}/${c.plural}`));
  const ownGroups = new Set(docs.apiServices.map((a) => a.group));

  const addPackage = (ref: PackageRef, revision: string, why: string) => {
    if (sameRef(ref, self)) return;
    const key = `${refString(ref)}@${revision}`;
    const dep = packages.get(key) ?? { repository: ref.repository, ...(ref.realm ? { realm: ref.realm } : {}), package: ref.package, revision, for: [] };
    if (!dep.for.includes(why)) dep.for.push(why);
    packages.set(key, dep);
  };
  // a kind once: a document's version replaces an RBAC rule's "*" (any version), which adds nothing next to one
  const addCore = (group: string, version: string, kind: string) => {
    const any = `${group}/${kind}/*`;
    if (version === '*' && [...coreDeps.values()].some((c) => c.group === group && c.kind === kind)) return;
    coreDeps.delete(any);
    coreDeps.set(`${group}/${kind}/${version}`, { group, version, kind });
  };

  /** Whether a package other than this one provides the API (this one alone, in other revisions, does not count). */
  const byOthers = (api: PackageAPISpec) => api.providers.some((p) => !sameRef(p, self));
  /** The single providing package of a package-provided API, or an error. */
  const provider = (api: PackageAPISpec, what: string) => {
    const others = api.providers.filter((p) => !sameRef(p, self));
    if (others.length > 1) {
      errors.push(`${what} is provided by several packages: ${others.map(refString).join(', ')}; keep it in one`);
      return undefined;
    }
    return others[0];
  };

  for (const d of docs.documents) {
    const gk = gkString(d.group, d.kind);
    if (ownKinds.has(gk) || ownGroups.has(d.group)) continue;
    const where = `${d.file}${d.name ? ` (${d.kind} ${d.name})` : ''}`;
    const api = catalog.api(d.group, d.kind) ?? catalog.group(d.group);
    if (api && byOthers(api)) {
      const p = provider(api, gk);
      if (!p) continue;
      const serving = p.versions.find((v) => v.version === d.version);
      if (!serving) {
        errors.push(`${where}: ${gvString(d.group, d.version)} ${d.kind}: package ${refString(p)} does not serve version ${d.version} (it serves ${p.versions.map((v) => v.version).join(', ') || 'none'})`);
        continue;
      }
      const all = catalog.revisions(p);
      const revision = serving.revisions.length > 0 && all.every((r) => serving.revisions.includes(r)) ? '*' : serving.revisions.join(' || ');
      addPackage(p, revision, gk);
      continue;
    }
    const served = core.api(d.group, d.kind);
    if (served) {
      if (served.versions.includes(d.version)) addCore(d.group, d.version, d.kind);
      else errors.push(`${where}: the cluster does not serve ${gvString(d.group, d.version)} ${d.kind} (it serves ${served.versions.map((v) => gvString(d.group, v)).join(', ')})`);
      continue;
    }
    missing.add(gk);
    errors.push(`${where}: no package provides ${gk} and the cluster does not serve it`);
  }

  for (const r of docs.rbacRules) {
    if (ownResources.has(`${r.group}/${r.resource}`) || ownGroups.has(r.group)) continue;
    const api = catalog.resource(r.group, r.resource) ?? catalog.group(r.group);
    if (api && byOthers(api)) {
      const p = provider(api, gkString(r.group, api.kind));
      if (p) addPackage(p, '*', gkString(r.group, api.kind === '*' ? r.resource : api.kind));
      continue;
    }
    const kind = core.kind(r.group, r.resource);
    if (kind) addCore(r.group, '*', kind);
    else {
      missingResources.add(`${r.group}/${r.resource}`);
      warnings.push(`${r.file}: a rule of ${r.role} names resource "${r.resource}" of group "${r.group}", which no package provides and the cluster does not serve`);
    }
  }

  for (const u of docs.upstreams) {
    const what = `${u.via} ${u.name}`;
    if (!validRevisionConstraint(u.revision)) {
      errors.push(`${u.file}: ${what}: the revision "${u.revision}" is not a revision, a semver range or "*"`);
      continue;
    }
    addPackage({ repository: u.repository, realm: u.realm, package: u.package }, u.revision || '*', what);
  }

  // a dependency no published revision satisfies: the package cannot be installed (yet)
  for (const dep of packages.values())
    if (!catalog.revisions(dep).some((r) => satisfiesRevision(r, dep.revision)))
      errors.push(`${dep.for.join(', ')}: no published revision of ${refString(dep)} satisfies "${dep.revision}"`);

  const byRef = (a: PackageDependency, b: PackageDependency) => refString(a).localeCompare(refString(b)) || a.revision.localeCompare(b.revision);
  const out: Dependencies = {
    packages: [...packages.values()].sort(byRef),
    core: [...coreDeps.values()].sort((a, b) => a.group.localeCompare(b.group) || a.kind.localeCompare(b.kind) || a.version.localeCompare(b.version)),
  };
  if (missing.size) out.missing = [...missing].sort();
  if (missingResources.size) out.missingResources = [...missingResources].sort();
  if (errors.length) out.errors = errors;
  if (warnings.length) out.warnings = warnings;
  return out;
}
