// Helpers for tests that drive the real server through @kubernetes/client-node 1.4: typed
// CustomObjectsApi calls for Repositories, an informer that records every callback, and the
// server's request log.
import * as k8s from '@kubernetes/client-node';
import net from 'node:net';
import type { ServerHandle } from './server.ts';

export const GROUP = 'config.pkg.pkgserver.dev';
export const VERSION = 'v1alpha1';
export const PLURAL = 'repositories';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const reposPath = (ns: string) => `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${PLURAL}`;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A port that was free a moment ago (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export interface Repo extends k8s.KubernetesObject {
  metadata: k8s.V1ObjectMeta & { name: string; namespace: string; uid: string; resourceVersion: string };
  spec: { git: { url: string; ref?: string; directory?: string }; deployment?: boolean; [k: string]: unknown };
}

export interface RepoList {
  metadata: { resourceVersion: string };
  items: Repo[];
}

export function kubeConfig(h: ServerHandle): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(h.kubeconfig);
  return kc;
}

/** The Repository calls of CustomObjectsApi, typed. */
export class Repos {
  readonly api: k8s.CustomObjectsApi;
  constructor(readonly kc: k8s.KubeConfig) {
    this.api = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  create(ns: string, name: string, url = `https://git.example.com/${ns}/${name}.git`, labels?: Record<string, string>): Promise<Repo> {
    return this.api.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL,
      namespace: ns,
      body: { apiVersion: API_VERSION, kind: 'Repository', metadata: { name, ...(labels ? { labels } : {}) }, spec: { git: { url } } },
    });
  }

  get(ns: string, name: string): Promise<Repo> {
    return this.api.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name });
  }

  list(ns: string): Promise<RepoList> {
    return this.api.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns });
  }

  /** application/merge-patch+json */
  mergePatch(ns: string, name: string, patch: object): Promise<Repo> {
    return this.api.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name, body: patch },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }

  replace(ns: string, name: string, body: Repo): Promise<Repo> {
    return this.api.replaceNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name, body });
  }

  delete(ns: string, name: string): Promise<Repo> {
    return this.api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name });
  }
}

export type EventType = 'add' | 'update' | 'delete';

export interface Recorded {
  type: EventType;
  name: string;
  uid: string;
  rv: string;
  obj: Repo;
}

export interface RecorderOptions {
  /**
   * client-node 1.4 stops an informer for good when a watch fails with anything but 410
   * (connection refused, a reset connection, a 5xx): it only fires the `error` callbacks. A real
   * controller restarts it from its error handler after a short delay; with this set, so does the
   * recorder (every `retryMs` while `reconnect` is true).
   */
  restartOnError?: boolean;
  retryMs?: number;
}

/** An informer on the Repositories of one namespace that records what it is told. */
export class Recorder {
  readonly informer: k8s.Informer<Repo> & k8s.ObjectCache<Repo>;
  readonly events: Recorded[] = [];
  readonly errors: unknown[] = [];
  /** resourceVersion of every list the informer made through its listFn */
  readonly lists: string[] = [];
  connects = 0;
  /** while false, a restart after an error waits (the test holds the informer off the server) */
  reconnect = true;
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;

  constructor(
    kc: k8s.KubeConfig,
    repos: Repos,
    readonly ns: string,
    private readonly opts: RecorderOptions = {},
  ) {
    this.informer = k8s.makeInformer<Repo>(kc, reposPath(ns), async () => {
      const l = await repos.list(ns);
      this.lists.push(l.metadata.resourceVersion);
      return l as unknown as k8s.KubernetesListObject<Repo>;
    });
    const rec = (type: EventType) => (o: Repo) => this.events.push({ type, name: o.metadata.name, uid: o.metadata.uid, rv: o.metadata.resourceVersion, obj: o });
    this.informer.on('add', rec('add'));
    this.informer.on('update', rec('update'));
    this.informer.on('delete', rec('delete'));
    this.informer.on('connect', () => void this.connects++);
    this.informer.on('error', (err) => {
      this.errors.push(err);
      if (!this.stopping && this.opts.restartOnError) this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    if (this.restartTimer) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      if (!this.reconnect) return this.scheduleRestart();
      // a failure fires `error` again, which schedules the next attempt
      void this.informer.start();
    }, this.opts.retryMs ?? 100);
  }

  start(): Promise<void> {
    this.stopping = false;
    return this.informer.start();
  }

  /** Stops the informer and waits for client-node's "aborted" error callback, so a later start() is not hit by it. */
  async pause(): Promise<void> {
    const n = this.errors.length;
    this.stopping = true;
    await this.informer.stop();
    await waitFor(() => this.errors.length > n, 'the informer to report its aborted watch');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    await this.informer.stop();
  }

  /** The latest resourceVersion the informer has (what it resumes from). */
  get resourceVersion(): string {
    return (this.informer as unknown as { latestResourceVersion(): string }).latestResourceVersion();
  }

  brief(from = 0): [EventType, string, string][] {
    return this.events.slice(from).map((e) => [e.type, e.name, e.rv]);
  }

  /** The informer's cache, sorted by name (the server lists in key order). */
  cache(): Repo[] {
    return [...this.informer.list(this.ns)].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  }
}

interface LogLine {
  msg?: string;
  method?: string;
  url?: string;
  path?: string;
  code?: number;
}

function parseLogs(h: ServerHandle): LogLine[] {
  const out: LogLine[] = [];
  for (const l of h.logs) {
    try {
      out.push(JSON.parse(l));
    } catch {
      // not JSON
    }
  }
  return out;
}

/** URLs of the requests the server started (its debug "request started" lines) for one collection path. */
export function startedRequests(h: ServerHandle, path: string): { lists: string[]; watches: string[] } {
  const urls = parseLogs(h)
    .filter((l) => l.msg === 'request started' && l.method === 'GET' && l.url !== undefined && (l.url === path || l.url.startsWith(`${path}?`)))
    .map((l) => l.url!);
  const isWatch = (u: string) => /[?&]watch=(true|1)(&|$)/.test(u);
  return { lists: urls.filter((u) => !isWatch(u)), watches: urls.filter(isWatch) };
}

/** The server's "request" lines (one per finished request). */
export function finishedRequests(h: ServerHandle): { method: string; path: string; code: number }[] {
  return parseLogs(h)
    .filter((l) => l.msg === 'request')
    .map((l) => ({ method: l.method!, path: l.path!, code: l.code! }));
}

export function byName<T extends { metadata?: { name?: string } }>(items: T[]): T[] {
  return [...items].sort((a, b) => ((a.metadata?.name ?? '') < (b.metadata?.name ?? '') ? -1 : 1));
}
