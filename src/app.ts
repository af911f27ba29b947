// Assembles the server: store, API server, the four resources, the package engine and the
// controllers. `pkgserver serve` and the benchmarks build it through here.
import type { Logger } from 'pino';
import type { PackageVariant, Repository } from './api/config.ts';
import type { Registry } from './apiserver/registry/generic.ts';
import { packageVariantResource } from './apiserver/registry/packagevariants.ts';
import { packageRevisionResource } from './apiserver/registry/packagerevisions.ts';
import { PackageRevisionResourcesStorage } from './apiserver/registry/packagerevisionresources.ts';
import { repositoryResource } from './apiserver/registry/repositories.ts';
import type { RequestContext } from './apiserver/registry/types.ts';
import { APIServer, type ServerOptions } from './apiserver/server.ts';
import { RepositoryController } from './controllers/repository.ts';
import { PackageEngine } from './engine/engine.ts';
import type { Credentials } from './storage/git/credentials.ts';

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
  engine: PackageEngine;
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
  const engine = new PackageEngine({
    dataDir: opts.dataDir,
    credentials: opts.credentials,
    repository,
    committer: { name: 'pkgserver', email: 'pkgserver@pkgserver.local' },
    timeoutMs: opts.gitTimeoutMs,
    log: (msg) => log.info({ component: 'git' }, msg),
  });
  const system: RequestContext = { user: SERVER_USER, dryRun: false };
  packageRevisions = server.addResource(
    packageRevisionResource({ engine, repository, variants: (ns) => packageVariants.list(ns, {}).items as PackageVariant[], registry: () => packageRevisions, system }),
  );
  server.addStorage(new PackageRevisionResourcesStorage(packageRevisions, engine));

  const controller = opts.controllers === false ? undefined : new RepositoryController({ repositories, packageRevisions, engine, logger: log, context: system });
  return {
    server,
    repositories,
    packageRevisions,
    packageVariants,
    engine,
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
