// Assembles the server: store, API server, the four resources, the git backend and the
// controllers. `pkgserver serve` and the benchmarks build it through here.
import type { Logger } from 'pino';
import type { PackageVariant, Repository } from './api/config.ts';
import { LABEL_LATEST, type PackageRevision } from './api/pkg.ts';
import { conflict } from './apiserver/errors.ts';
import type { Registry } from './apiserver/registry/generic.ts';
import { packageVariantResource } from './apiserver/registry/packagevariants.ts';
import { packageRevisionResource, type PackageRevisionHooks } from './apiserver/registry/packagerevisions.ts';
import { PackageRevisionResourcesStorage, RESOURCES_SUBRESOURCE, type ResourcesContext } from './apiserver/registry/packagerevisionresources.ts';
import { repositoryResource } from './apiserver/registry/repositories.ts';
import type { RequestContext } from './apiserver/registry/types.ts';
import { APIServer, type ServerOptions } from './apiserver/server.ts';
import { RepositoryController } from './controllers/repository.ts';
import { asStatusError, PackageBackend } from './storage/git/backend.ts';
import type { Credentials } from './storage/git/credentials.ts';
import { compareRevisions } from './storage/git/layout.ts';

export interface AppOptions extends ServerOptions {
  dataDir: string;
  credentials: Credentials;
  gitTimeoutMs?: number;
  /** run the repository controller (sync) */
  controllers?: boolean;
  logger: Logger;
}

/** The identity the server's own writes use (controllers). */
export const SERVER_USER = { name: 'system:pkgserver', groups: ['system:authenticated', 'system:masters'] };

export interface App {
  server: APIServer;
  repositories: Registry;
  packageRevisions: Registry;
  packageVariants: Registry;
  backend: PackageBackend;
  controller?: RepositoryController;
  start(): ReturnType<APIServer['start']>;
  stop(): Promise<void>;
}

export function buildApp(opts: AppOptions): App {
  let controllersStarted = false;
  const server = new APIServer({
    ...opts,
    readyz: [
      ...(opts.readyz ?? []),
      {
        name: 'controllers',
        check: () => {
          if (opts.controllers !== false && !controllersStarted) throw new Error('the controllers have not started');
        },
      },
    ],
  });
  const log = opts.logger;
  let repositories: Registry;
  let packageRevisions: Registry;
  let packageVariants: Registry;
  repositories = server.addResource(repositoryResource((ns) => repositories.list(ns, {}).items));
  packageVariants = server.addResource(packageVariantResource());
  const repository = (ns: string, name: string): Repository | undefined => {
    try {
      return repositories.get(ns, name) as Repository;
    } catch {
      return undefined;
    }
  };
  const backend = new PackageBackend({
    dataDir: opts.dataDir,
    credentials: opts.credentials,
    repository,
    committer: { name: 'pkgserver', email: 'pkgserver@pkgserver.local' },
    timeoutMs: opts.gitTimeoutMs,
    log: (msg) => log.info({ component: 'git' }, msg),
  });
  const system: RequestContext = { user: SERVER_USER, dryRun: false };

  /** Published revisions of the same package, newest first. */
  const siblings = (pr: PackageRevision) => {
    const id = pr.spec.packageRevID;
    return (packageRevisions.list(pr.metadata.namespace, { fieldSelector: `spec.packageRevID.repository=${id.repository},spec.packageRevID.package=${id.package}` }).items as PackageRevision[])
      .filter((o) => o.spec.packageRevID.target === id.target && (o.spec.packageRevID.realm ?? '') === (id.realm ?? '') && o.metadata.name !== pr.metadata.name)
      .filter((o) => o.spec.lifecycle === 'published' || o.spec.lifecycle === 'deletionProposed')
      .sort((a, b) => compareRevisions(b.spec.packageRevID.revision!, a.spec.packageRevID.revision!));
  };
  const setLatest = async (pr: PackageRevision, latest: boolean) => {
    await packageRevisions.update(
      pr.metadata.namespace,
      pr.metadata.name!,
      (cur) => {
        const labels = { ...(cur.metadata.labels ?? {}) };
        if (latest) labels[LABEL_LATEST] = 'true';
        else delete labels[LABEL_LATEST];
        cur.metadata.labels = labels;
        return { obj: cur };
      },
      system,
    );
  };

  const hooks: PackageRevisionHooks = {
    lockKey: (ns, repo) => `${ns}/${repo}`,
    create: (pr, ctx) => backend.create(pr, ctx).catch(asStatusError),
    update: (next, old, ctx, sub) =>
      (sub === RESOURCES_SUBRESOURCE ? backend.writeResources(next, (ctx as ResourcesContext).resources, ctx) : backend.update(next, old, ctx, sub)).catch(asStatusError),
    delete: (pr, ctx) => backend.delete(pr, ctx).catch(asStatusError),
    checkUnused(pr) {
      const id = pr.spec.packageRevID;
      const ns = pr.metadata.namespace;
      const users = [
        ...(packageRevisions.list(ns, {}).items as PackageRevision[])
          .filter((o) => o.spec.upstream && o.spec.upstream.repository === id.repository && o.spec.upstream.package === id.package && (o.spec.upstream.realm ?? '') === (id.realm ?? '') && o.spec.upstream.revision === id.revision)
          .map((o) => `PackageRevision ${o.metadata.name}`),
        ...(packageVariants.list(ns, {}).items as PackageVariant[])
          .filter((v) => v.spec.upstream.repository === id.repository && v.spec.upstream.package === id.package && (v.spec.upstream.realm ?? '') === (id.realm ?? '') && v.spec.upstream.revision === id.revision)
          .map((v) => `PackageVariant ${v.metadata.name}`),
      ];
      if (users.length) throw conflict({ group: 'pkg.pkgserver.dev', resource: 'packagerevisions' }, pr.metadata.name!, `the revision is still used as an upstream by ${users.join(', ')}`);
    },
    async afterWrite(pr, old) {
      // the latest-revision label: on the newest published revision of each package only
      const published = pr && pr.spec.lifecycle === 'published' && old?.spec.lifecycle !== 'published' && old?.spec.lifecycle !== 'deletionProposed';
      if (published) {
        for (const s of siblings(pr)) if (s.metadata.labels?.[LABEL_LATEST]) await setLatest(s, false);
      } else if (!pr && old?.metadata.labels?.[LABEL_LATEST]) {
        const next = siblings(old)[0];
        if (next) await setLatest(next, true);
      }
    },
  };
  packageRevisions = server.addResource(packageRevisionResource({ repository: (ns, name) => { const r = repository(ns, name); return r && { deployment: r.spec.deployment, requireDistinctApprover: r.spec.approval.requireDistinctApprover }; } }, hooks));
  server.addStorage(new PackageRevisionResourcesStorage(packageRevisions, backend));

  const controller = opts.controllers === false ? undefined : new RepositoryController({ repositories, packageRevisions, backend, logger: log, context: system });
  return {
    server,
    repositories,
    packageRevisions,
    packageVariants,
    backend,
    controller,
    async start() {
      const addr = await server.start();
      controller?.start();
      controllersStarted = true;
      return addr;
    },
    async stop() {
      await controller?.stop();
      await server.stop();
    },
  };
}
