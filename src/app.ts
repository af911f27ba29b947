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
import os from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { coreResources } from './core.ts';
import type { clusterEventRecorder } from './events/cluster.ts';
import type { clusterLeaseLock } from './kube/leaselock.ts';
import { apiLeaseLock, LeaseLeaderElector, type LeaseElectorOptions } from './controllers/runtime/leaderelection.ts';
import { leaseResource } from './apiserver/registry/leases.ts';
import { repositoryController } from './controllers/repository.ts';
import { packageVariantController } from './controllers/packagevariant.ts';
import { approvalController } from './controllers/approval.ts';
import { upgradesController } from './controllers/upgrades.ts';
import { discoveryControllers, rediscoverAll } from './controllers/discovery.ts';
import { schedulerController } from './controllers/scheduler.ts';
import { packageAPIResource } from './apiserver/registry/packageapis.ts';
import { apiIndex, KUBERNETES_APIS, type APIIndex, type ServedAPI } from './api/coreapis.ts';
import type { LiveAPIs } from './kube/apidiscovery.ts';
import { garbageCollector } from './controllers/gc.ts';
import { Client } from './controllers/runtime/client.ts';
import { alwaysLeader, Manager } from './controllers/runtime/manager.ts';
import type { UserInfo } from './apiserver/registry/types.ts';
import { documentReads, PackageEngine } from './engine/engine.ts';
import { gitFileReads } from './storage/git/repo.ts';
import { storeRequestDuration } from './storage/store/instrumented.ts';
import type { Credentials } from './storage/git/credentials.ts';
import { RevisionAllocator, StoreLocks } from './storage/store/coordination.ts';
import { isRemote } from './storage/store/interface.ts';

export interface AppOptions extends ServerOptions {
  dataDir: string;
  credentials: Credentials;
  gitTimeoutMs?: number;
  /** run the controllers (repository sync, packagevariant, approval, upgrades, discovery, scheduler, garbage collector) */
  controllers?: boolean;
  logger: Logger;
  /** --local-repository-root: where Repositories may point on the local disk */
  localRepositoryRoots?: string[];
  /** how long Events are kept (standalone; kube-apiserver's --event-ttl) */
  eventTTLMs?: number;
  /** in a cluster: Events are recorded there (standalone the server serves them itself) */
  kubeConfig?: KubeConfig;
  /** the modules that talk to the cluster (required with kubeConfig: `await clusterModules()`) */
  cluster?: ClusterModules;
  /**
   * --leader-elect: the controllers run only while this replica holds the Lease (in kube-apiserver
   * in a cluster; standalone, the server's own Lease resource in its store). Absent: always lead.
   */
  leaderElection?: LeaderElectionOptions;
}

export interface LeaderElectionOptions extends Omit<LeaseElectorOptions, 'logger' | 'metrics' | 'now'> {
  namespace: string;
  name: string;
}

/** The identity of the server's own writes (the repository sync, the garbage collector, Events). */
export const SERVER_USER = { name: 'system:pkgserver', groups: ['system:authenticated', 'system:masters'] };

/** The group of the controllers that act for users; RBAC decides what they may do (docs/security.md). */
export const CONTROLLERS_GROUP = 'system:pkgserver:controllers';

/** The user a controller writes as: `system:pkgserver:controller:<name>`. */
export const controllerUser = (name: string): UserInfo => ({ name: `system:pkgserver:controller:${name}`, groups: [CONTROLLERS_GROUP, 'system:authenticated'] });

export interface App {
  server: APIServer;
  repositories: Registry;
  packageRevisions: Registry;
  packageVariants: Registry;
  engine: PackageEngine;
  manager?: Manager;
  start(): ReturnType<APIServer['start']>;
  stop(): Promise<void>;
}

/** What the server needs in a cluster; loaded on demand, so a standalone start does not import @kubernetes/client-node. */
export interface ClusterModules {
  clusterEventRecorder: typeof clusterEventRecorder;
  clusterLeaseLock: typeof clusterLeaseLock;
  LiveAPIs: typeof LiveAPIs;
}

export async function clusterModules(): Promise<ClusterModules> {
  const [{ clusterEventRecorder }, { LiveAPIs }, { clusterLeaseLock }] = await Promise.all([import('./events/cluster.ts'), import('./kube/apidiscovery.ts'), import('./kube/leaselock.ts')]);
  return { clusterEventRecorder, LiveAPIs, clusterLeaseLock };
}

export function buildApp(opts: AppOptions): App {
  if (opts.kubeConfig && !opts.cluster) throw new Error('buildApp: a kubeConfig needs the cluster modules (clusterModules())');
  let controllersStarted = false;
  let elector: LeaseLeaderElector | undefined;
  // several replicas on one remote store (etcd): write locks, git locks and revision numbers in the store
  const coordination =
    isRemote(opts.store)
      ? { locks: new StoreLocks(opts.store, { log: (msg) => opts.logger.info({ component: 'locks' }, msg) }), revisions: new RevisionAllocator(opts.store) }
      : undefined;
  const server = new APIServer({
    ...opts,
    storeLocks: coordination?.locks,
    readyz: [
      ...(opts.readyz ?? []),
      {
        name: 'controllers',
        check: () => {
          if (opts.controllers !== false && !controllersStarted) throw new Error('the controllers have not started');
        },
      },
      // client-go's leader election healthz: a leader that stopped renewing
      ...(opts.leaderElection && opts.controllers !== false ? [{ name: 'leader-election', check: () => elector?.check() }] : []),
    ],
  });
  const log = opts.logger;
  server.metricsRegistry.registerMetric(gitFileReads);
  server.metricsRegistry.registerMetric(documentReads);
  server.metricsRegistry.registerMetric(storeRequestDuration);
  // standalone the server serves Events and Namespaces itself; in a cluster Events go there
  const core = opts.kubeConfig ? undefined : coreResources(server, { user: SERVER_USER, log, eventTTLMs: opts.eventTTLMs });
  const recorder = core?.recorder ?? opts.cluster!.clusterEventRecorder(opts.kubeConfig!, { component: 'pkgserver', host: os.hostname(), log });
  let repositories: Registry;
  let packageRevisions: Registry;
  let packageVariants: Registry;
  const localRepositories = { roots: opts.localRepositoryRoots ?? [], dataDir: opts.dataDir };
  repositories = server.addResource(repositoryResource((ns) => repositories.list(ns, {}).items, localRepositories));
  packageVariants = server.addResource(packageVariantResource());
  const repository = (ns: string, name: string): Repository | undefined => {
    try {
      return repositories.get(ns, name) as Repository;
    } catch {
      return undefined;
    }
  };
  const engine = new PackageEngine({
    coordination,
    dataDir: opts.dataDir,
    localRepositories,
    credentials: opts.credentials,
    repository,
    committer: { name: 'pkgserver', email: 'pkgserver@pkgserver.local' },
    timeoutMs: opts.gitTimeoutMs,
    log: (msg) => log.info({ component: 'git' }, msg),
    debug: (msg) => log.debug({ component: 'engine' }, msg),
  });
  const system: RequestContext = { user: SERVER_USER, dryRun: false, fieldManager: 'pkgserver' };
  packageRevisions = server.addResource(
    packageRevisionResource({ engine, repository, variants: (ns) => packageVariants.list(ns, {}).items as PackageVariant[], registry: () => packageRevisions, system, recorder }),
  );
  server.addStorage(new PackageRevisionResourcesStorage(packageRevisions, engine));
  const packageAPIs = server.addResource(packageAPIResource());
  // standalone, the leader Lease is this server's own resource (in a cluster, kube-apiserver's)
  if (opts.leaderElection && !opts.kubeConfig) server.addResource(leaseResource());
  // the APIs "the cluster" serves, standalone: Kubernetes' built-in ones and this server's own; in a
  // cluster (with the controllers, their only user): kube-apiserver's live discovery, plus this
  // server's own whether or not its APIService is registered yet
  const ownAPIs = (): ServedAPI[] =>
    server.registries().map((r) => ({ group: r.def.group, kind: r.def.kind, resource: r.def.plural, versions: [r.def.version], namespaced: r.def.namespaced }));
  const liveAPIs =
    opts.kubeConfig && opts.controllers !== false ? new opts.cluster!.LiveAPIs({ kubeConfig: opts.kubeConfig, own: ownAPIs(), logger: log.child({ module: 'apidiscovery' }) }) : undefined;
  const coreAPIs: APIIndex = liveAPIs ?? apiIndex([...KUBERNETES_APIS, ...ownAPIs()]);

  const manager = opts.controllers === false ? undefined : controllers();
  function controllers(): Manager {
    const metrics = server.metricsRegistry;
    const storage = (plural: string) => server.registries().find((r) => r.def.plural === plural);
    const client = (user: UserInfo) => new Client({ registries: storage, authorizer: opts.authorizer, user });
    const le = opts.leaderElection;
    if (le) {
      const lock = opts.kubeConfig
        ? opts.cluster!.clusterLeaseLock(opts.kubeConfig, le.namespace, le.name)
        : apiLeaseLock(client({ name: 'system:pkgserver:controller:leader-election', groups: ['system:masters', 'system:authenticated'] }), le.namespace, le.name);
      elector = new LeaseLeaderElector(lock, { ...le, logger: log, metrics });
    }
    const m = new Manager({ logger: log, leaderElector: elector ?? alwaysLeader });
    const revisions = m.informer(packageRevisions);
    const variants = m.informer(packageVariants);
    const repos = m.informer(repositories);
    m.add(repositoryController({ repositories, packageRevisions, repositoryInformer: repos, revisionInformer: revisions, engine, recorder, logger: log, context: { ...system, fieldManager: 'pkgserver-repository-controller' }, metrics }));
    m.add(packageVariantController({ client: client(controllerUser('packagevariant')), variants, revisions, repositories: repos, recorder, logger: log, metrics }));
    m.add(approvalController({ client: client(controllerUser('approval')), revisions, recorder, logger: log, metrics }));
    m.add(upgradesController({ client: client(controllerUser('upgrades')), revisions, logger: log, metrics }));
    const discovery = discoveryControllers({ client: client(controllerUser('discovery')), revisions, packageAPIs: m.informer(packageAPIs), repositories: repos, engine, core: coreAPIs, logger: log, metrics });
    for (const c of discovery) m.add(c);
    // the cluster's APIs changed: every published catalog revision's dependencies are resolved again
    liveAPIs?.onChange(() => rediscoverAll(discovery.find((c) => c.name === 'discovery')!, revisions));
    m.add(schedulerController({ client: client(controllerUser('scheduler')), revisions, variants, logger: log, metrics }));
    m.add(garbageCollector({ client: client({ name: 'system:pkgserver:controller:garbage-collector', groups: ['system:masters', 'system:authenticated'] }), informers: new Map(server.registries().map((r) => [r.def.plural, m.informer(r)])), logger: log, metrics }));
    return m;
  }
  return {
    server,
    repositories,
    packageRevisions,
    packageVariants,
    engine,
    manager,
    async start() {
      const addr = await server.start();
      await core?.start();
      await liveAPIs?.start(); // never rejects: the built-in list stands in until the cluster answers
      await manager?.start(); // informers need the loaded watch caches
      controllersStarted = true;
      return addr;
    },
    async stop() {
      await manager?.stop();
      await liveAPIs?.stop();
      core?.stop();
      await server.stop();
      coordination?.locks.close();
    },
  };
}
