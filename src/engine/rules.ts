// Package rules that look at several revisions at once: which revision carries the
// latest-revision label, who still uses a revision as an upstream, and which published packages
// need a revision to stay installable. Pure functions over the
// revisions the caller lists; the API's registry applies their answers.
import { CATALOG_TARGET, compareRevisions, LABEL_LATEST, satisfiesRevision, type PackageRevision } from '../api/pkg.ts';
import type { PackageVariant, Upstream } from '../api/config.ts';

const samePackage = (a: PackageRevision, b: PackageRevision) => {
  const x = a.spec.packageRevID;
  const y = b.spec.packageRevID;
  return x.repository === y.repository && x.target === y.target && (x.realm ?? '') === (y.realm ?? '') && x.package === y.package;
};

/** The published (or deletion-proposed) revisions of `pr`'s package other than `pr`, newest first. */
export function publishedSiblings(pr: PackageRevision, all: PackageRevision[]): PackageRevision[] {
  return all
    .filter((o) => o.metadata.name !== pr.metadata.name && samePackage(o, pr) && (o.spec.lifecycle === 'published' || o.spec.lifecycle === 'deletionProposed'))
    .sort((a, b) => compareRevisions(b.spec.packageRevID.revision!, a.spec.packageRevID.revision!));
}

/**
 * The latest-revision label after a write of `pr` (undefined: deleted) that was `old` before:
 * a new publish takes the label from its siblings; deleting the labelled revision hands it to the
 * newest remaining one. Returns the siblings (asked for only when needed) whose label changes.
 */
export function latestLabelChanges(pr: PackageRevision | undefined, old: PackageRevision | undefined, siblings: () => PackageRevision[]): { revision: PackageRevision; latest: boolean }[] {
  const published = pr && pr.spec.lifecycle === 'published' && old?.spec.lifecycle !== 'published' && old?.spec.lifecycle !== 'deletionProposed';
  if (published) return siblings().filter((s) => s.metadata.labels?.[LABEL_LATEST]).map((revision) => ({ revision, latest: false }));
  const next = !pr && old?.metadata.labels?.[LABEL_LATEST] ? siblings()[0] : undefined;
  return next ? [{ revision: next, latest: true }] : [];
}

const isUpstreamOf = (up: Upstream | undefined, pr: PackageRevision) => {
  const id = pr.spec.packageRevID;
  return !!up && up.repository === id.repository && up.package === id.package && (up.realm ?? '') === (id.realm ?? '') && up.revision === id.revision;
};

/** The PackageRevisions and PackageVariants that name `pr` as their upstream ("Kind name" each). */
export function upstreamUsers(pr: PackageRevision, revisions: PackageRevision[], variants: PackageVariant[]): string[] {
  return [
    ...revisions.filter((o) => isUpstreamOf(o.spec.upstream, pr)).map((o) => `PackageRevision ${o.metadata.name}`),
    ...variants.filter((v) => isUpstreamOf(v.spec.upstream, pr)).map((v) => `PackageVariant ${v.metadata.name}`),
  ];
}

/**
 * The published catalog revisions of other packages whose dependency (status.dependencies) only
 * `pr` still satisfies among its package's published revisions: deleting it would leave them
 * uninstallable ("Kind name (needs package constraint)" each). Revisions proposed for deletion
 * count neither as dependents nor as what satisfies them.
 */
export function dependencyBlockers(pr: PackageRevision, revisions: PackageRevision[]): string[] {
  const id = pr.spec.packageRevID;
  if (id.target !== CATALOG_TARGET || !id.revision) return [];
  const same = (r: { repository: string; realm?: string; package: string }) => r.repository === id.repository && (r.realm ?? '') === (id.realm ?? '') && r.package === id.package;
  const others = revisions.filter((o) => o.metadata.name !== pr.metadata.name && o.spec.lifecycle === 'published' && o.spec.packageRevID.target === CATALOG_TARGET && same(o.spec.packageRevID)).map((o) => o.spec.packageRevID.revision!);
  const out: string[] = [];
  for (const q of revisions) {
    if (q.spec.lifecycle !== 'published' || q.spec.packageRevID.target !== CATALOG_TARGET || same(q.spec.packageRevID)) continue;
    for (const d of q.status?.dependencies?.packages ?? [])
      if (same(d) && satisfiesRevision(id.revision, d.revision) && !others.some((r) => satisfiesRevision(r, d.revision)))
        out.push(`PackageRevision ${q.metadata.name} (needs ${[d.repository, d.realm, d.package].filter(Boolean).join('/')} ${d.revision})`);
  }
  return out;
}
