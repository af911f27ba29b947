// The API client of `kubectl pkg`: the kubeconfig loaded as kubectl loads it (--kubeconfig, else
// KUBECONFIG, else ~/.kube/config; --context; the namespace of the context), and plain HTTPS
// requests with its credentials. It talks only to the API server, never to git.
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { CATALOG_TARGET, LABEL_LATEST, compareRevisions, packageRevisionName, type PackageRevID, type PackageRevision, type PackageRevisionResources } from '../../api/pkg.ts';

export const PKG = 'pkg.pkgserver.dev/v1alpha1';
export const CONFIG = 'config.pkg.pkgserver.dev/v1alpha1';

const GROUP_OF: Record<string, string> = {
  packagerevisions: PKG,
  packagerevisionresources: PKG,
  packageapis: PKG,
  repositories: CONFIG,
  packagevariants: CONFIG,
};

/** A failed request: the server's metav1.Status, when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
  /** kubectl's wording: `Error from server (Conflict): ...` */
  display(): string {
    return `Error from server (${this.reason || this.code}): ${this.message}`;
  }
}

/** An error of the command itself (bad arguments, a refusal made before asking the server). */
export class UserError extends Error {}

export interface ClientOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export interface List<T> {
  items: T[];
  metadata: { resourceVersion?: string };
}

export class ApiClient {
  private constructor(
    private readonly kc: KubeConfig,
    readonly server: string,
    readonly namespace: string,
  ) {}

  static async fromKubeconfig(o: ClientOptions = {}): Promise<ApiClient> {
    // only the kubeconfig module of client-node: the whole library takes twice as long to load,
    // and every kubectl pkg command pays for it
    const { KubeConfig: KC } = (await import('@kubernetes/client-node/dist/config.js')) as { KubeConfig: typeof KubeConfig };
    const kc = new KC();
    try {
      if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
      else kc.loadFromDefault();
      if (o.context) {
        if (!kc.getContextObject(o.context)) throw new UserError(`context "${o.context}" does not exist`);
        kc.setCurrentContext(o.context);
      }
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`cannot load the kubeconfig ${o.kubeconfig ?? process.env.KUBECONFIG ?? "~/.kube/config"}: ${(e as Error).message}`);
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new UserError('no cluster in the kubeconfig: set --kubeconfig, KUBECONFIG or --context');
    const ctxNs = kc.getContextObject(kc.getCurrentContext())?.namespace;
    return new ApiClient(kc, cluster.server.replace(/\/$/, ''), o.namespace ?? ctxNs ?? 'default');
  }

  /** The URL path of a resource: all namespaces when ns is undefined. */
  path(resource: string, ns?: string, name?: string, sub?: string): string {
    const gv = GROUP_OF[resource];
    if (!gv) throw new Error(`unknown resource ${resource}`);
    return `/apis/${gv}${ns !== undefined ? `/namespaces/${encodeURIComponent(ns)}` : ''}/${resource}${name ? `/${encodeURIComponent(name)}` : ''}${sub ? `/${sub}` : ''}`;
  }

  async request(method: string, p: string, body?: unknown, o: { contentType?: string; accept?: string } = {}): Promise<any> {
    const url = new URL(this.server + p);
    const opts: https.RequestOptions = { method, hostname: url.hostname, port: url.port, path: url.pathname + url.search, headers: {} };
    await this.kc.applyToHTTPSOptions(opts);
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    opts.headers = {
      ...(opts.headers as Record<string, string>),
      Accept: o.accept ?? 'application/json',
      'User-Agent': 'kubectl-pkg',
      ...(payload ? { 'Content-Type': o.contentType ?? 'application/json', 'Content-Length': String(payload.length) } : {}),
    };
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', (e) => reject(new UserError(`cannot reach the server ${this.server}: ${e.message}`)));
      req.end(payload);
    });
    let json: any;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = undefined;
    }
    if (status >= 200 && status < 300) return json;
    if (json?.kind === 'Status') throw new ApiError(status, json.reason ?? '', json.message ?? text);
    throw new ApiError(status, String(status), text.trim() || `the server answered ${status}`);
  }

  // ---- the package kinds

  getRevision(name: string, ns = this.namespace): Promise<PackageRevision> {
    return this.request('GET', this.path('packagerevisions', ns, name));
  }

  getResources(name: string, ns = this.namespace): Promise<PackageRevisionResources> {
    return this.request('GET', this.path('packagerevisionresources', ns, name));
  }

  async listRevisions(ns: string | undefined = this.namespace, labelSelector?: string): Promise<PackageRevision[]> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    return ((await this.request('GET', this.path('packagerevisions', ns) + q)) as List<PackageRevision>).items;
  }

  createRevision(ns: string, spec: PackageRevision['spec'], extra: Partial<PackageRevision['metadata']> = {}): Promise<PackageRevision> {
    return this.request('POST', this.path('packagerevisions', ns), {
      apiVersion: PKG,
      kind: 'PackageRevision',
      metadata: { ...extra, name: packageRevisionName(spec.packageRevID), namespace: ns },
      spec,
    });
  }

  /** A merge patch of spec.lifecycle, through the main resource or the approval subresource. */
  setLifecycle(name: string, lifecycle: string, o: { ns?: string; subresource?: boolean; resourceVersion?: string } = {}): Promise<PackageRevision> {
    const body: Record<string, unknown> = { spec: { lifecycle } };
    if (o.resourceVersion) body.metadata = { resourceVersion: o.resourceVersion };
    return this.request('PATCH', this.path('packagerevisions', o.ns ?? this.namespace, name, o.subresource ? 'approval' : undefined), body, { contentType: 'application/merge-patch+json' });
  }

  /**
   * The revision `name`, waiting (up to `ms`, with progress on `note`) while its repository is
   * still syncing: a catalog revision may not be listed yet right after the Repository is created.
   */
  async getRevisionWaitingForSync(name: string, note: (s: string) => void, ms = 120_000): Promise<PackageRevision> {
    const deadline = Date.now() + ms;
    let last = '';
    for (;;) {
      try {
        return await this.getRevision(name);
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404) || Date.now() > deadline) throw e;
        const repo = name.split('.')[1];
        const r = await this.request('GET', this.path('repositories', this.namespace, repo)).catch(() => undefined);
        const conds = (r?.status?.conditions ?? []) as { type: string; status: string; message?: string }[];
        const syncing = conds.find((c) => c.type === 'Reconciling' && c.status === 'True');
        const ready = conds.find((c) => c.type === 'Ready');
        if (!r) throw e; // no such repository
        if (!syncing && ready) {
          // synced (the revision does not exist), or failing: say why rather than wait
          if (ready.status !== 'True') throw new ApiError(e.code, e.reason, `${e.message} (repository ${repo} is not ready: ${ready.message ?? ready.status})`);
          throw e;
        }
        const msg = `waiting for repository ${repo} to sync${syncing?.message ? ` (${syncing.message})` : ''}...`;
        if (msg !== last) note(msg);
        last = msg;
        await new Promise((res) => setTimeout(res, 500));
      }
    }
  }

  /** The published catalog revision an upstream reference names (its revision, or the newest). */
  async findUpstream(ns: string, up: { repository: string; realm?: string; package: string; revision?: string }): Promise<PackageRevision | undefined> {
    const all = (await this.listRevisions(ns)).filter(
      (r) => r.spec.packageRevID.target === CATALOG_TARGET && r.spec.packageRevID.repository === up.repository && (r.spec.packageRevID.realm ?? '') === (up.realm ?? '') && r.spec.packageRevID.package === up.package && r.spec.lifecycle === 'published',
    );
    if (up.revision) return all.find((r) => r.spec.packageRevID.revision === up.revision);
    return newest(all);
  }
}

/** The newest published revision among `revs` (by revision number), or undefined. */
export function newest(revs: PackageRevision[]): PackageRevision | undefined {
  const pub = revs.filter((r) => r.spec.lifecycle === 'published' && r.spec.packageRevID.revision);
  pub.sort((a, b) => compareRevisions(a.spec.packageRevID.revision!, b.spec.packageRevID.revision!));
  return pub.at(-1);
}

/** Same package (target, repository, realm, package). */
export const samePackage = (a: PackageRevID, b: PackageRevID) => a.target === b.target && a.repository === b.repository && (a.realm ?? '') === (b.realm ?? '') && a.package === b.package;

export const isLatest = (r: PackageRevision) => r.metadata.labels?.[LABEL_LATEST] === 'true';

/** `<target>.<repo>.<realm, / as :>.<package>.<workspace>` → the packageRevID, or a UserError. */
export function parseRevisionName(name: string): PackageRevID {
  const parts = name.split('.');
  if (parts.length !== 5 || [0, 1, 3, 4].some((i) => !parts[i]))
    throw new UserError(`"${name}" is not a revision name: <target>.<repository>.<realm with / as :>.<package>.<workspace>, e.g. cluster01.deploy.apps.shop.ws1`);
  const [target, repository, realm, pkg, workspace] = parts;
  return { target, repository, realm: realm.replace(/:/g, '/'), package: pkg, workspace };
}

/** A short description of a revision: `repo/realm/package@rev` or `…@workspace (lifecycle)`. */
export function describeRev(r: PackageRevision): string {
  const id = r.spec.packageRevID;
  const where = [id.repository, id.realm, id.package].filter(Boolean).join('/');
  return `${id.target === CATALOG_TARGET ? '' : `${id.target}:`}${where}@${id.revision ?? id.workspace}`;
}
