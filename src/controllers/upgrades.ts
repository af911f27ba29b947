// Upgrade discovery: a PackageRevision made from an upstream (clone, upgrade) shows in
// status.latestUpstreamRevision (and the wide column Upgrade) the newest published revision of
// that upstream package when it is newer than the one it was made from, as `porchctl rpkg upgrade
// --discover` and Profiles let users find upgrades. A catalog publish reaches only the revisions
// indexed by its package.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { CATALOG_TARGET, compareRevisions, type PackageRevision } from '../api/pkg.ts';
import { Controller, indexKeys, type ObjectKey, type Result } from './runtime/controller.ts';
import type { Client } from './runtime/client.ts';
import type { Informer } from './runtime/informer.ts';

const UPSTREAM_INDEX = 'upstream';
const PACKAGE_INDEX = 'package-of-catalog';

const catalogKey = (ns: string | undefined, repository: string, realm: string | undefined, pkg: string) => `${ns}/${repository}/${realm ?? ''}/${pkg}`;

export interface UpgradesControllerOptions {
  client: Client;
  revisions: Informer;
  logger: Logger;
  metrics?: Registry;
}

export function upgradesController(o: UpgradesControllerOptions): Controller {
  o.revisions.addIndex(UPSTREAM_INDEX, (obj) => {
    const up = (obj as PackageRevision).spec.upstream;
    return up ? [catalogKey(obj.metadata.namespace, up.repository, up.realm, up.package)] : [];
  });
  o.revisions.addIndex(PACKAGE_INDEX, (obj) => {
    const id = (obj as PackageRevision).spec.packageRevID;
    return id.target === CATALOG_TARGET ? [catalogKey(obj.metadata.namespace, id.repository, id.realm, id.package)] : [];
  });
  const controller = new Controller({ name: 'upgrades', reconciler: new UpgradesReconciler(o), workers: 2, baseDelayMs: 500, maxDelayMs: 60_000, logger: o.logger, metrics: o.metrics });
  const users = indexKeys(o.revisions, UPSTREAM_INDEX, (obj) => {
    const id = (obj as PackageRevision).spec.packageRevID;
    return id.target === CATALOG_TARGET ? [catalogKey(obj.metadata.namespace, id.repository, id.realm, id.package)] : [];
  });
  controller.watches(o.revisions, (type, obj, old) => {
    const own = (obj as PackageRevision).spec.upstream && type !== 'DELETED' ? [{ namespace: obj.metadata.namespace ?? '', name: obj.metadata.name! }] : [];
    return [...own, ...users(type, obj, old)];
  });
  return controller;
}

class UpgradesReconciler {
  constructor(private readonly o: UpgradesControllerOptions) {}

  async reconcile(key: ObjectKey): Promise<Result | void> {
    const pr = this.o.revisions.get(key.namespace, key.name) as PackageRevision | undefined;
    const up = pr?.spec.upstream;
    if (!pr || !up?.revision) return;
    const newest = (this.o.revisions.byIndex(PACKAGE_INDEX, catalogKey(key.namespace, up.repository, up.realm, up.package)) as PackageRevision[])
      .filter((p) => p.spec.lifecycle === 'published' && p.spec.packageRevID.revision)
      .map((p) => p.spec.packageRevID.revision!)
      .sort(compareRevisions)
      .at(-1);
    const want = newest && compareRevisions(newest, up.revision) > 0 ? newest : undefined;
    if ((pr.status?.latestUpstreamRevision ?? undefined) === want) return;
    await this.o.client
      .update(
        'packagerevisions',
        key.namespace,
        key.name,
        (cur) => {
          const status = { ...(cur.status ?? {}) };
          if (want) status.latestUpstreamRevision = want;
          else delete status.latestUpstreamRevision;
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
