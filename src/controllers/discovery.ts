// Package discovery (SPEC 5.3): for every published catalog revision, which APIs its package
// provides and what it needs. Two controllers on the runtime:
//
// * discovery (a key per PackageRevision): reads the revision's documents through the engine
//   (cached by the package's git tree, in memory and in the data directory, so a restart reads no
//   package file when nothing changed), records the APIs it provides in the PackageAPI objects
//   (src/api/catalog.ts), resolves its dependencies (src/engine/dependencies.ts) against those
//   objects and the APIs the cluster serves, and writes status.dependencies, the condition
//   pkg.pkgserver.dev/dependencies and status.dependents (the published revisions of other
//   packages whose dependencies this revision satisfies). Indexes make an event reach only the
//   revisions it concerns: a PackageAPI change → the revisions needing that GroupKind; a
//   revision's dependencies → the revisions of the packages it names (their dependents); a
//   package's new or removed revision → the revisions depending on that package.
// * packageapis (a key per PackageAPI): drops the revisions that are no longer published from a
//   PackageAPI, and the object when no revision provides it any more.
//
// Both write through the API as their own user (system:pkgserver:controller:discovery).
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ALL_KINDS, packageAPIName, PKG_GROUP, PKG_VERSION, type PackageAPI, type PackageAPIProvider, type PackageAPISpec } from '../api/catalog.ts';
import type { APIIndex } from '../api/coreapis.ts';
import { findCondition, hasCondition, setCondition, type Condition, type KObject } from '../api/meta.ts';
import { CATALOG_TARGET, compareRevisions, CONDITION_DEPENDENCIES, satisfiesRevision, type Dependencies, type Dependent, type PackageRef, type PackageRevision } from '../api/pkg.ts';
import type { PackageEngine } from '../engine/engine.ts';
import { PackageUnavailableError } from '../engine/errors.ts';
import { resolveDependencies, type CatalogLookup } from '../engine/dependencies.ts';
import type { PackageDocuments } from '../engine/documents.ts';
import { Controller, indexKeys, type MapFunc, type ObjectKey, type Result } from './runtime/controller.ts';
import type { Client } from './runtime/client.ts';
import type { Informer } from './runtime/informer.ts';
import { RECONCILING } from './repository.ts';

export interface DiscoveryControllerOptions {
  client: Client;
  revisions: Informer;
  packageAPIs: Informer;
  /**
   * The Repositories: while any of them is in a long sync (Reconciling=True: a first sync, or one
   * that brings many revisions), revisions wait, so that the syncs (every revision listed) do not
   * share the CPU with the reading of every revision's files; the end of the last such sync
   * enqueues them.
   */
  repositories?: Informer;
  engine: PackageEngine;
  /** the APIs the cluster serves (built-in list standalone, live discovery in a cluster) */
  core: APIIndex;
  logger: Logger;
  metrics?: Registry;
}

/** A published (or deletionProposed: still installable) revision of a catalog repository. */
export const isCatalogPublished = (pr: KObject | undefined): pr is PackageRevision => {
  const p = pr as PackageRevision | undefined;
  return !!p && p.spec.packageRevID.target === CATALOG_TARGET && (p.spec.lifecycle === 'published' || p.spec.lifecycle === 'deletionProposed') && !!p.spec.packageRevID.revision;
};

export const refKey = (ns: string | undefined, r: PackageRef) => `${ns ?? ''}/${r.repository}/${r.realm ?? ''}/${r.package}`;
const refOf = (pr: PackageRevision): PackageRef => {
  const id = pr.spec.packageRevID;
  return { repository: id.repository, ...(id.realm ? { realm: id.realm } : {}), package: id.package };
};
const keyOf = (o: KObject): ObjectKey => ({ namespace: o.metadata.namespace ?? '', name: o.metadata.name! });

/** "group/Kind" or "Kind" (core group) → [group, kind]; undefined for what is not a GroupKind ("PackageDependency x"). */
function parseGK(s: string): [string, string] | undefined {
  if (s.includes(' ')) return undefined;
  const i = s.lastIndexOf('/');
  return i < 0 ? ['', s] : [s.slice(0, i), s.slice(i + 1)];
}

// indexes of the revisions informer
const PACKAGE = 'discovery-package'; // a catalog revision by its package
const DEPENDS_ON = 'discovery-depends-on'; // a revision by the packages its dependencies name
const NEEDS = 'discovery-needs'; // a revision by the GroupKinds it needs ("ns/group/Kind" and "ns/group/*") and the resources its RBAC rules miss ("ns/group/resources:<plural>")
// indexes of the PackageAPI informer
const API_GK = 'discovery-gk'; // "ns/group/kind"
const API_GR = 'discovery-gr'; // "ns/group/resource"
const API_PROVIDER = 'discovery-provider'; // by providing package

const dependenciesOf = (o: KObject) => (o as PackageRevision).status?.dependencies;
const resourceNeed = (ns: string | undefined, group: string, resource: string) => `${ns ?? ''}/${group}/resources:${resource}`;

function needs(o: KObject): string[] {
  const d = dependenciesOf(o);
  if (!d) return [];
  const out = new Set<string>();
  for (const s of [...(d.missing ?? []), ...d.packages.flatMap((p) => p.for)]) {
    const gk = parseGK(s);
    if (gk) out.add(`${o.metadata.namespace}/${gk[0]}/${gk[1]}`).add(`${o.metadata.namespace}/${gk[0]}/${ALL_KINDS}`);
  }
  for (const gr of d.missingResources ?? []) {
    const i = gr.lastIndexOf('/');
    out.add(resourceNeed(o.metadata.namespace, gr.slice(0, i), gr.slice(i + 1))).add(`${o.metadata.namespace}/${gr.slice(0, i)}/${ALL_KINDS}`);
  }
  return [...out];
}

export function discoveryControllers(o: DiscoveryControllerOptions): Controller[] {
  const { revisions, packageAPIs } = o;
  revisions.addIndex(PACKAGE, (obj) => (isCatalogPublished(obj) ? [refKey(obj.metadata.namespace, refOf(obj))] : []));
  revisions.addIndex(DEPENDS_ON, (obj) => (isCatalogPublished(obj) ? (dependenciesOf(obj)?.packages ?? []).map((p) => refKey(obj.metadata.namespace, p)) : []));
  revisions.addIndex(NEEDS, (obj) => (isCatalogPublished(obj) ? needs(obj) : []));
  packageAPIs.addIndex(API_GK, (obj) => [`${obj.metadata.namespace}/${(obj as PackageAPI).spec.group}/${(obj as PackageAPI).spec.kind}`]);
  packageAPIs.addIndex(API_GR, (obj) => ((obj as PackageAPI).spec.resource ? [`${obj.metadata.namespace}/${(obj as PackageAPI).spec.group}/${(obj as PackageAPI).spec.resource}`] : []));
  packageAPIs.addIndex(API_PROVIDER, (obj) => (obj as PackageAPI).spec.providers.map((p) => refKey(obj.metadata.namespace, p)));

  const reconciler = new DiscoveryReconciler(o);
  const discovery = new Controller({ name: 'discovery', reconciler, workers: 4, baseDelayMs: 500, maxDelayMs: 60_000, logger: o.logger, metrics: o.metrics });
  // a catalog revision itself
  // (not its own status writes: only what changes the result — the content, the lifecycle, a
  // deletion — or a status that lost the condition)
  const own: MapFunc = (type, obj, old) => {
    if (type === 'DELETED' || !isCatalogPublished(obj)) return [];
    if (type === 'MODIFIED' && old) {
      const [n, o] = [obj as PackageRevision, old as PackageRevision];
      const same = n.status?.git?.commit === o.status?.git?.commit && n.spec.lifecycle === o.spec.lifecycle && !!n.metadata.deletionTimestamp === !!o.metadata.deletionTimestamp;
      if (same && findCondition(n.status?.conditions, CONDITION_DEPENDENCIES)) return [];
    }
    return [keyOf(obj)];
  };
  // the revisions of the packages its dependencies name (their status.dependents), when those change
  const named = indexKeys(revisions, PACKAGE, (obj) => (dependenciesOf(obj)?.packages ?? []).map((p) => refKey(obj.metadata.namespace, p)));
  const namedMap: MapFunc = (type, obj, old) => (type === 'MODIFIED' && JSON.stringify(dependenciesOf(obj)?.packages) === JSON.stringify(old && dependenciesOf(old)?.packages) ? [] : named(type, obj, old));
  // the revisions depending on a package, when its set of published revisions changes
  const dependents = indexKeys(revisions, DEPENDS_ON, (obj) => (obj.spec && (obj as PackageRevision).spec.packageRevID.target === CATALOG_TARGET ? [refKey(obj.metadata.namespace, refOf(obj as PackageRevision))] : []));
  const dependentsMap: MapFunc = (type, obj, old) => (type === 'MODIFIED' && isCatalogPublished(obj) === isCatalogPublished(old) ? [] : dependents(type, obj, old));
  discovery.watches(revisions, (type, obj, old) => [...own(type, obj, old), ...namedMap(type, obj, old), ...dependentsMap(type, obj, old)]);
  // a provided API appears, changes or goes: the revisions needing its kind or its resource
  discovery.watches(
    packageAPIs,
    indexKeys(revisions, NEEDS, (obj) => {
      const { group, kind, resource } = (obj as PackageAPI).spec;
      return [`${obj.metadata.namespace}/${group}/${kind}`, ...(resource ? [resourceNeed(obj.metadata.namespace, group, resource)] : [])];
    }),
  );

  // the last long sync ended (or its Repository went): the revisions that waited
  if (o.repositories && reconciler.gate) discovery.watches(o.repositories, (type, obj, old) => reconciler.gate!.released(type, obj, old));

  const cleaner = new Controller({ name: 'packageapis', reconciler: new PackageAPICleaner(o), workers: 1, baseDelayMs: 500, maxDelayMs: 60_000, logger: o.logger, metrics: o.metrics });
  cleaner.watches(packageAPIs);
  // a catalog revision leaving the published ones (deleted): the PackageAPIs of its package
  cleaner.watches(
    revisions,
    indexKeys(packageAPIs, API_PROVIDER, (obj) => ((obj as PackageRevision).spec?.packageRevID?.target === CATALOG_TARGET ? [refKey(obj.metadata.namespace, refOf(obj as PackageRevision))] : [])),
  );
  return [discovery, cleaner];
}

/** Whether a Repository is in a long sync (its Reconciling condition is True). */
const syncing = (repo: KObject | undefined) => findCondition((repo?.status as { conditions?: Condition[] } | undefined)?.conditions, RECONCILING)?.status === 'True';

/**
 * Keys wait while any Repository is in a long sync; the end of the last one (its Reconciling
 * condition gone, or the Repository deleted) releases them all, once.
 */
export class LongSyncGate {
  private readonly waiting = new Map<string, ObjectKey>();

  constructor(readonly repositories: Pick<Informer, 'list'>) {}

  /** True (and the key is kept) when some repository is in a long sync. */
  hold(key: ObjectKey): boolean {
    if (!this.repositories.list().some(syncing)) return false;
    this.waiting.set(`${key.namespace}/${key.name}`, key);
    return true;
  }

  /** A Repository event (after the informer applied it): the keys to enqueue now. */
  released(type: string, obj: KObject, old?: KObject): ObjectKey[] {
    const ended = type === 'DELETED' ? syncing(obj) : type === 'MODIFIED' && !!old && syncing(old) && !syncing(obj);
    if (!ended || this.repositories.list().some(syncing)) return [];
    const keys = [...this.waiting.values()];
    this.waiting.clear();
    return keys;
  }
}

/** Enqueues every published catalog revision (the cluster's APIs changed). */
export function rediscoverAll(discovery: Controller, revisions: Informer): void {
  for (const pr of revisions.list()) if (isCatalogPublished(pr)) discovery.enqueue(keyOf(pr));
}

class DiscoveryReconciler {
  /** revisions wait while a repository is in a long sync */
  readonly gate?: LongSyncGate;

  constructor(private readonly o: DiscoveryControllerOptions) {
    if (o.repositories) this.gate = new LongSyncGate(o.repositories);
  }

  async reconcile(key: ObjectKey): Promise<Result | void> {
    const pr = this.o.revisions.get(key.namespace, key.name);
    if (!isCatalogPublished(pr) || pr.metadata.deletionTimestamp || !pr.status?.git?.commit) return;
    if (this.gate?.hold(key)) return; // enqueued again when the last long sync ends
    let found: { tree: string; documents: PackageDocuments };
    try {
      found = await this.o.engine.documents(pr);
    } catch (e) {
      if (!(e instanceof PackageUnavailableError)) throw e;
      await this.write(pr, pr.status.dependencies, pr.status.dependents, { status: 'False', reason: 'Unavailable', message: e.message });
      return { requeueAfter: 30_000 };
    }
    const ns = key.namespace;
    await this.provide(pr, found.documents);
    const deps: Dependencies = { tree: found.tree, ...resolveDependencies(refOf(pr), found.documents, this.lookup(ns), this.o.core) };
    const blocked = (deps.errors?.length ?? 0) > 0;
    const condition = blocked
      ? { status: 'False' as const, reason: deps.missing?.length ? 'MissingAPIs' : 'Unresolved', message: deps.errors!.join('; ') }
      : {
          status: 'True' as const,
          reason: 'Resolved',
          message: `${deps.packages.length} package ${deps.packages.length === 1 ? 'dependency' : 'dependencies'}, ${deps.core.length} core ${deps.core.length === 1 ? 'API' : 'APIs'}${deps.warnings?.length ? `; ${deps.warnings.length} ${deps.warnings.length === 1 ? 'warning' : 'warnings'}` : ''}`,
        };
    await this.write(pr, deps, this.dependents(pr), condition);
  }

  /** The catalog as the resolver sees it: the namespace's PackageAPIs and published revisions. */
  private lookup(ns: string): CatalogLookup {
    const { packageAPIs, revisions } = this.o;
    const one = (index: string, value: string) => (packageAPIs.byIndex(index, value)[0] as PackageAPI | undefined)?.spec;
    return {
      api: (group, kind) => one(API_GK, `${ns}/${group}/${kind}`),
      group: (group) => one(API_GK, `${ns}/${group}/${ALL_KINDS}`),
      resource: (group, resource) => one(API_GR, `${ns}/${group}/${resource}`),
      revisions: (ref) => (revisions.byIndex(PACKAGE, refKey(ns, ref)) as PackageRevision[]).map((p) => p.spec.packageRevID.revision!),
    };
  }

  /** The published revisions of other packages whose dependencies this revision satisfies. */
  private dependents(pr: PackageRevision): Dependent[] {
    const ns = pr.metadata.namespace;
    const self = refOf(pr);
    const rev = pr.spec.packageRevID.revision!;
    const out: Dependent[] = [];
    for (const q of this.o.revisions.byIndex(DEPENDS_ON, refKey(ns, self)) as PackageRevision[]) {
      if (q.metadata.name === pr.metadata.name) continue;
      for (const d of q.status?.dependencies?.packages ?? [])
        if (refKey(ns, d) === refKey(ns, self) && satisfiesRevision(rev, d.revision))
          out.push({ name: q.metadata.name!, ...refOf(q), revision: q.spec.packageRevID.revision!, constraint: d.revision });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name) || a.constraint.localeCompare(b.constraint));
  }

  /** Records the APIs the revision provides in the namespace's PackageAPIs. */
  private async provide(pr: PackageRevision, docs: PackageDocuments): Promise<void> {
    const rev = pr.spec.packageRevID.revision!;
    const wanted: (Omit<PackageAPISpec, 'providers'> & { versions: string[] })[] = [
      ...docs.crds.map((c) => ({ group: c.group, kind: c.kind, resource: c.plural, scope: c.scope, versions: c.versions.filter((v) => v.served).map((v) => v.name) })),
      ...docs.apiServices.map((a) => ({ group: a.group, kind: ALL_KINDS, resource: '', versions: [a.version] })),
    ];
    for (const w of wanted) {
      const name = packageAPIName(w.group, w.resource);
      const ns = pr.metadata.namespace!;
      const current = this.o.packageAPIs.get(ns, name) as PackageAPI | undefined;
      if (current && w.versions.every((v) => provider(current.spec, refOf(pr))?.versions.find((x) => x.version === v)?.revisions.includes(rev))) continue;
      const add = (spec: PackageAPISpec): PackageAPISpec => {
        const providers = spec.providers.map((p) => ({ ...p, versions: p.versions.map((v) => ({ ...v, revisions: [...v.revisions] })) }));
        let p = providers.find((x) => refKey(ns, x) === refKey(ns, refOf(pr)));
        if (!p) providers.push((p = { ...refOf(pr), versions: [] }));
        for (const v of w.versions) {
          let entry = p.versions.find((x) => x.version === v);
          if (!entry) p.versions.push((entry = { version: v, revisions: [] }));
          if (!entry.revisions.includes(rev)) entry.revisions = [...entry.revisions, rev].sort(compareRevisions);
        }
        p.versions.sort((a, b) => a.version.localeCompare(b.version));
        providers.sort((a, b) => refKey(ns, a).localeCompare(refKey(ns, b)));
        return { group: w.group, kind: w.kind, resource: w.resource, ...(w.scope ? { scope: w.scope } : {}), providers };
      };
      if (!current) {
        try {
          await this.o.client.create('packageapis', ns, { apiVersion: `${PKG_GROUP}/${PKG_VERSION}`, kind: 'PackageAPI', metadata: { name, namespace: ns }, spec: add({ ...w, providers: [] }) });
          continue;
        } catch (e) {
          if ((e as { code?: number }).code !== 409) throw e;
          // made meanwhile (another revision of the same package): update it below
        }
      }
      await this.o.client.update('packageapis', ns, name, (cur) => ({ obj: { ...cur, spec: add((cur as PackageAPI).spec) } }));
    }
  }

  /** Writes the dependencies, the dependents and the condition through the status subresource, when they changed. */
  private async write(pr: PackageRevision, deps: Dependencies | undefined, dependents: Dependent[] | undefined, value: Pick<Condition, 'status' | 'reason' | 'message'>): Promise<void> {
    const c = { type: CONDITION_DEPENDENCIES, ...value };
    const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
    const dependentsOrNone = dependents?.length ? dependents : undefined;
    if (hasCondition(pr.status?.conditions, c) && same(pr.status?.dependencies, deps) && same(pr.status?.dependents, dependentsOrNone)) return;
    await this.o.client
      .update(
        'packagerevisions',
        pr.metadata.namespace,
        pr.metadata.name!,
        (cur) => {
          const status = { ...(cur.status ?? {}) } as NonNullable<PackageRevision['status']>;
          if (deps) status.dependencies = deps;
          else delete status.dependencies;
          if (dependentsOrNone) status.dependents = dependentsOrNone;
          else delete status.dependents;
          status.conditions = setCondition(status.conditions, c, cur.metadata.generation);
          cur.status = status;
          return { obj: cur };
        },
        'status',
      )
      .catch((e) => {
        if ((e as { code?: number }).code !== 404) throw e;
      });
  }

}

const provider = (spec: PackageAPISpec, ref: PackageRef): PackageAPIProvider | undefined =>
  spec.providers.find((p) => p.repository === ref.repository && (p.realm ?? '') === (ref.realm ?? '') && p.package === ref.package);

class PackageAPICleaner {
  constructor(private readonly o: DiscoveryControllerOptions) {}

  async reconcile(key: ObjectKey): Promise<Result | void> {
    const api = this.o.packageAPIs.get(key.namespace, key.name) as PackageAPI | undefined;
    if (!api) return;
    const published = (p: PackageRef) =>
      new Set((this.o.revisions.byIndex(PACKAGE, refKey(key.namespace, p)) as PackageRevision[]).map((r) => r.spec.packageRevID.revision!));
    const keep = (spec: PackageAPISpec): PackageAPIProvider[] =>
      spec.providers
        .map((p) => {
          const revs = published(p);
          return { ...p, versions: p.versions.map((v) => ({ ...v, revisions: v.revisions.filter((r) => revs.has(r)) })).filter((v) => v.revisions.length > 0) };
        })
        .filter((p) => p.versions.length > 0);
    const providers = keep(api.spec);
    if (JSON.stringify(providers) === JSON.stringify(api.spec.providers)) return;
    if (providers.length === 0) {
      await this.o.client.delete('packageapis', key.namespace, key.name, { preconditions: { resourceVersion: api.metadata.resourceVersion } }).catch((e) => {
        const code = (e as { code?: number }).code;
        if (code === 409) return; // changed meanwhile: its event runs this again
        if (code !== 404) throw e;
      });
      return;
    }
    await this.o.client.update('packageapis', key.namespace, key.name, (cur) => ({ obj: { ...cur, spec: { ...(cur as PackageAPI).spec, providers: keep((cur as PackageAPI).spec) } } }));
  }
}
