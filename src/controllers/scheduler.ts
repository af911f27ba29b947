// Dependency scheduling (SPEC 5.4): a deployment PackageRevision with the readiness gate
// pkg.pkgserver.dev/schedule and an upstream gets its dependencies deployed first. From the
// upstream catalog revision's status.dependencies (the discovery controller's), recursively
// through the whole graph, each package dependency is placed on the same target and deployment
// repository: a package already there (a revision, or a PackageVariant making one) is reused when
// its upstream revision satisfies every constraint on it; otherwise a PackageVariant is created
// (upstream = the newest published revision satisfying every constraint), dependencies before
// their dependents. A cycle is refused naming it (a → b → c → a); constraints no revision meets
// together are reported with their requesters. The gate turns True when every dependency has a
// published revision on the target. The variants carry the approve gate when the root does, so
// the approval controller publishes them as it will publish the root.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CONFIG_GROUP, CONFIG_VERSION, type PackageVariant } from '../api/config.ts';
import { findCondition } from '../api/meta.ts';
import {
  CATALOG_TARGET,
  compareRevisions,
  CONDITION_DEPENDENCIES,
  GATE_APPROVE,
  GATE_SCHEDULE,
  satisfiesRevision,
  type PackageRef,
  type PackageRevision,
} from '../api/pkg.ts';
import { refString } from '../engine/dependencies.ts';
import { writeCondition } from './conditions.ts';
import { Controller, isForbidden, type ObjectKey, type Result } from './runtime/controller.ts';
import type { Client } from './runtime/client.ts';
import type { Informer } from './runtime/informer.ts';

export interface SchedulerControllerOptions {
  client: Client;
  revisions: Informer;
  variants: Informer;
  logger: Logger;
  metrics?: Registry;
}

/** Labels the PackageVariants the scheduler makes. */
export const LABEL_SCHEDULED = 'pkg.pkgserver.dev/scheduled';

const hasGate = (pr: PackageRevision, gate: string) => (pr.spec.readinessGates ?? []).some((g) => g.conditionType === gate);
const isRoot = (pr: PackageRevision | undefined): pr is PackageRevision =>
  !!pr && pr.spec.packageRevID.target !== CATALOG_TARGET && !!pr.spec.upstream && hasGate(pr, GATE_SCHEDULE) && !pr.metadata.deletionTimestamp;
const isPublished = (pr: PackageRevision) => pr.spec.lifecycle === 'published' || pr.spec.lifecycle === 'deletionProposed';

const pkgKey = (ns: string | undefined, r: PackageRef) => `${ns ?? ''}/${r.repository}/${r.realm ?? ''}/${r.package}`;
const placeKey = (ns: string | undefined, target: string, repository: string, realm: string | undefined, pkg: string) => `${ns ?? ''}/${target}/${repository}/${realm ?? ''}/${pkg}`;
const siteKey = (ns: string | undefined, target: string, repository: string) => `${ns ?? ''}/${target}/${repository}`;

// indexes (prefixed: the informers are shared)
const CATALOG = 'scheduler-catalog'; // catalog revisions by package
const PLACED = 'scheduler-placed'; // deployment revisions by target/repository/realm/package
const SITE_ROOTS = 'scheduler-site-roots'; // roots by target/repository
const VARIANT_PLACE = 'scheduler-variant-place'; // variants by downstream target/repository/realm/package
const NS_ROOTS = 'scheduler-ns-roots'; // roots by namespace

/** The name of the variant that deploys a dependency on a site: `<target>.<repository>.<realm segments>.<package>`. */
export function dependencyVariantName(target: string, repository: string, dep: PackageRef): string {
  return [target, repository, ...(dep.realm ? dep.realm.split('/') : []), dep.package].join('.');
}

export function schedulerController(o: SchedulerControllerOptions): Controller {
  const { revisions, variants } = o;
  revisions.addIndex(CATALOG, (obj) => {
    const id = (obj as PackageRevision).spec.packageRevID;
    return id.target === CATALOG_TARGET ? [pkgKey(obj.metadata.namespace, id)] : [];
  });
  revisions.addIndex(PLACED, (obj) => {
    const id = (obj as PackageRevision).spec.packageRevID;
    return id.target !== CATALOG_TARGET ? [placeKey(obj.metadata.namespace, id.target, id.repository, id.realm, id.package)] : [];
  });
  revisions.addIndex(SITE_ROOTS, (obj) => {
    const pr = obj as PackageRevision;
    return isRoot(pr) ? [siteKey(obj.metadata.namespace, pr.spec.packageRevID.target, pr.spec.packageRevID.repository)] : [];
  });
  revisions.addIndex(NS_ROOTS, (obj) => (isRoot(obj as PackageRevision) ? [obj.metadata.namespace ?? ''] : []));
  variants.addIndex(VARIANT_PLACE, (obj) => {
    const d = (obj as PackageVariant).spec.downstream;
    return [placeKey(obj.metadata.namespace, d.target, d.repository, d.realm, d.package)];
  });

  const controller = new Controller({ name: 'scheduler', reconciler: new SchedulerReconciler(o), workers: 2, baseDelayMs: 500, maxDelayMs: 60_000, logger: o.logger, metrics: o.metrics });
  const keys = (prs: PackageRevision[]): ObjectKey[] => prs.map((p) => ({ namespace: p.metadata.namespace ?? '', name: p.metadata.name! }));
  controller.watches(revisions, (type, obj, old) => {
    const pr = obj as PackageRevision;
    const id = pr.spec.packageRevID;
    if (id.target === CATALOG_TARGET) {
      // a catalog revision whose dependencies or lifecycle changed: every root of the namespace
      const was = old as PackageRevision | undefined;
      const changed = !was || type === 'DELETED' || was.spec.lifecycle !== pr.spec.lifecycle || JSON.stringify(was.status?.dependencies) !== JSON.stringify(pr.status?.dependencies) || findCondition(was.status?.conditions, CONDITION_DEPENDENCIES)?.status !== findCondition(pr.status?.conditions, CONDITION_DEPENDENCIES)?.status;
      return changed ? keys(revisions.byIndex(NS_ROOTS, obj.metadata.namespace ?? '') as PackageRevision[]) : [];
    }
    // a revision on a site: itself when a root, and the roots of that site
    const own = type !== 'DELETED' && isRoot(pr) ? keys([pr]) : [];
    return [...own, ...keys(revisions.byIndex(SITE_ROOTS, siteKey(obj.metadata.namespace, id.target, id.repository)) as PackageRevision[])];
  });
  controller.watches(variants, (_type, obj) => {
    const d = (obj as PackageVariant).spec.downstream;
    return keys(revisions.byIndex(SITE_ROOTS, siteKey(obj.metadata.namespace, d.target, d.repository)) as PackageRevision[]);
  });
  return controller;
}

/** One package of the plan: where it comes from and whether it is on the site already. */
interface Node {
  ref: PackageRef;
  /** constraints on it, with who asks */
  wants: { constraint: string; by: string }[];
  /** the catalog revision chosen (or the one the site already has) */
  revision?: string;
  /** already on the site: a revision, or a variant making one */
  present?: { revision?: string; published: boolean; via: string };
}

class Problem extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

class SchedulerReconciler {
  constructor(private readonly o: SchedulerControllerOptions) {}

  async reconcile(key: ObjectKey): Promise<Result | void> {
    const root = this.o.revisions.get(key.namespace, key.name) as PackageRevision | undefined;
    if (!isRoot(root) || isPublished(root)) return;
    const ns = key.namespace;
    const { target, repository } = root.spec.packageRevID;
    let order: Node[];
    try {
      order = this.plan(root);
    } catch (e) {
      if (!(e instanceof Problem)) throw e;
      await this.gate(root, 'False', e.reason, e.message);
      return;
    }
    // dependencies first: a variant for each package the site does not have
    const made: string[] = [];
    for (const n of order) {
      if (n.present) continue;
      const name = dependencyVariantName(target, repository, n.ref);
      const pv: PackageVariant = {
        apiVersion: `${CONFIG_GROUP}/${CONFIG_VERSION}`,
        kind: 'PackageVariant',
        metadata: { name, namespace: ns, labels: { [LABEL_SCHEDULED]: 'true' }, annotations: { 'pkg.pkgserver.dev/scheduled-for': root.metadata.name! } },
        spec: {
          upstream: { repository: n.ref.repository, ...(n.ref.realm ? { realm: n.ref.realm } : {}), package: n.ref.package, revision: n.revision! },
          downstream: { target, repository, ...(n.ref.realm ? { realm: n.ref.realm } : {}), package: n.ref.package },
          packageContext: hasGate(root, GATE_APPROVE) ? { readinessGates: [{ conditionType: GATE_APPROVE }] } : {},
          adoptionPolicy: 'adoptNone',
          deletionPolicy: 'delete',
        },
      } as PackageVariant;
      try {
        await this.o.client.create('packagevariants', ns, pv);
        made.push(`${name} (${refString(n.ref)} ${n.revision})`);
      } catch (e) {
        if ((e as { code?: number }).code === 409) continue; // made meanwhile
        if (isForbidden(e)) {
          await this.gate(root, 'False', 'Forbidden', (e as Error).message);
          return;
        }
        throw e;
      }
    }
    const waiting = order.filter((n) => !n.present?.published).map((n) => `${refString(n.ref)} ${n.present ? `(${n.present.via}, not published yet)` : `(variant made, ${n.revision})`}`);
    if (order.length === 0) return this.gate(root, 'True', 'NoDependencies', 'the package has no package dependencies');
    if (waiting.length === 0)
      return this.gate(root, 'True', 'DependenciesPublished', `every dependency is published on ${target}: ${order.map((n) => `${refString(n.ref)} ${n.present?.revision ?? n.revision}`).join(', ')}`);
    return this.gate(root, 'False', 'Scheduled', `${made.length ? `created ${made.join(', ')}; ` : ''}waiting for ${waiting.join(', ')}`);
  }

  /**
   * The dependency graph of the root's upstream, in the order to deploy it (dependencies before
   * their dependents), each package with its revision. Constraints only grow while the graph is
   * walked, so choosing again until nothing changes settles it.
   */
  private plan(root: PackageRevision): Node[] {
    const ns = root.metadata.namespace;
    const { target, repository } = root.spec.packageRevID;
    const up = root.spec.upstream!;
    const top: PackageRef = { repository: up.repository, ...(up.realm ? { realm: up.realm } : {}), package: up.package };
    const topRevision = up.revision!;
    let nodes = new Map<string, Node>();
    for (let round = 0; round < 20; round++) {
      const before = JSON.stringify([...nodes.values()].map((n) => [n.wants, n.revision]));
      const next = new Map<string, Node>();
      const order: Node[] = [];
      const visit = (ref: PackageRef, revision: string, path: string[]) => {
        const catalogRev = this.catalogRevision(ns, ref, revision);
        const deps = catalogRev.status!.dependencies!.packages;
        for (const d of deps) {
          const key = pkgKey(ns, d);
          const label = refString(d);
          if (path.includes(label)) throw new Problem('Cycle', `dependency cycle: ${[...path.slice(path.indexOf(label)), label].join(' → ')}`);
          let node = next.get(key);
          const by = `${refString(ref)} ${revision}`;
          if (!node) {
            node = { ref: { repository: d.repository, ...(d.realm ? { realm: d.realm } : {}), package: d.package }, wants: [] };
            next.set(key, node);
          }
          if (!node.wants.some((w) => w.constraint === d.revision && w.by === by)) node.wants.push({ constraint: d.revision, by });
          if (node.revision) continue; // chosen in this round already (and visited)
          this.choose(node, ns, target, repository, nodes.get(key));
          visit(node.ref, node.revision!, [...path, label]);
          order.push(node);
        }
      };
      visit(top, topRevision, [refString(top)]);
      nodes = next;
      if (JSON.stringify([...nodes.values()].map((n) => [n.wants, n.revision])) === before) return order;
    }
    throw new Problem('Unresolvable', 'the dependency graph did not settle after 20 rounds');
  }

  /** The published catalog revision of a package, with resolved dependencies (or a Problem saying what is missing). */
  private catalogRevision(ns: string | undefined, ref: PackageRef, revision: string): PackageRevision {
    const pr = (this.o.revisions.byIndex(CATALOG, pkgKey(ns, ref)) as PackageRevision[]).find((p) => p.spec.packageRevID.revision === revision && isPublished(p));
    if (!pr) throw new Problem('Waiting', `${refString(ref)} ${revision} is not a published catalog revision`);
    const cond = findCondition(pr.status?.conditions, CONDITION_DEPENDENCIES);
    if (!pr.status?.dependencies || !cond) throw new Problem('Waiting', `the dependencies of ${refString(ref)} ${revision} are not discovered yet`);
    if (cond.status !== 'True') throw new Problem('Unresolved', `the dependencies of ${refString(ref)} ${revision} are unresolved: ${cond.message}`);
    return pr;
  }

  /** Picks the node's revision: the site's, when it satisfies every constraint; else the newest published that does. */
  private choose(node: Node, ns: string | undefined, target: string, repository: string, previous: Node | undefined): void {
    const constraints = [...node.wants, ...(previous?.wants ?? [])];
    const ok = (rev: string) => constraints.every((w) => satisfiesRevision(rev, w.constraint));
    const place = placeKey(ns, target, repository, node.ref.realm, node.ref.package);
    const onSite = (this.o.revisions.byIndex(PLACED, place) as PackageRevision[]).filter((p) => !p.metadata.deletionTimestamp);
    const variant = this.o.variants.byIndex(VARIANT_PLACE, place)[0] as PackageVariant | undefined;
    const describeWants = () => constraints.map((w) => `"${w.constraint}" (by ${w.by})`).filter((x, i, a) => a.indexOf(x) === i).join(', ');
    if (onSite.length || variant) {
      // what the site has: the newest published revision's upstream, else a draft's, else the variant's
      const published = onSite.filter(isPublished).sort((a, b) => compareRevisions(b.spec.packageRevID.revision!, a.spec.packageRevID.revision!));
      const best = published[0] ?? onSite[0];
      const rev = best?.spec.upstream?.revision ?? variant?.spec.upstream.revision;
      if (rev && !ok(rev)) throw new Problem('Conflict', `${target} has ${refString(node.ref)} from ${rev}, which does not satisfy ${describeWants()}`);
      node.revision = rev ?? pickLatest(this.published(ns, node.ref), ok);
      node.present = { revision: rev, published: published.length > 0, via: best ? best.metadata.name! : `PackageVariant ${variant!.metadata.name}` };
      return;
    }
    const rev = pickLatest(this.published(ns, node.ref), ok);
    if (!rev) {
      const all = this.published(ns, node.ref);
      throw new Problem(
        node.wants.length + (previous?.wants.length ?? 0) > 1 ? 'Conflict' : 'Unresolvable',
        all.length ? `no published revision of ${refString(node.ref)} satisfies ${describeWants()} (published: ${all.join(', ')})` : `${refString(node.ref)} has no published revision (wanted ${describeWants()})`,
      );
    }
    node.revision = rev;
  }

  private published(ns: string | undefined, ref: PackageRef): string[] {
    return (this.o.revisions.byIndex(CATALOG, pkgKey(ns, ref)) as PackageRevision[]).filter(isPublished).map((p) => p.spec.packageRevID.revision!).sort(compareRevisions);
  }

  /** Sets the schedule gate's condition through the status subresource, when it changed. */
  private gate(pr: PackageRevision, status: 'True' | 'False', reason: string, message: string): Promise<void> {
    return writeCondition(this.o.client, 'packagerevisions', pr, { type: GATE_SCHEDULE, status, reason, message }, { ignoreNotFound: true });
  }


}

const pickLatest = (revisions: string[], ok: (r: string) => boolean) => [...revisions].reverse().find(ok);
