// The HTTPS API server: the filter chain of k8s.io/apiserver (authentication, audit,
// impersonation, in-flight limits, authorization) in front of discovery, OpenAPI, the self
// reviews and one set of REST handlers per registered resource: the legacy core group ("")
// below /api/v1, every other group below /apis/G/V.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import client from 'prom-client';
import { aggregatedDiscovery, apiGroup, apiGroupList, apiResourceList, apiVersions, etag, servedBelow, wantsAggregated } from './discovery.ts';
import { badRequest, forbidden, forbiddenPath, internalError, methodNotSupported, requestEntityTooLarge, StatusError, tooManyRequests, unauthorized } from './errors.ts';
import { dryRun, ResourceHandlers, send, sendStatus, type HandlerOptions, type OptionsKind, type RequestInfo } from './handlers.ts';
import { documentHash, groupVersions, openAPIv2, openAPIv3, openAPIv3Path } from './openapi/builder.ts';
import { encodeOpenAPIv2, OPENAPI_V2_PROTO_CONTENT_TYPE, wantsOpenAPIv2Proto } from './openapi/v2proto.ts';
import { Registry, type RESTStorage } from './registry/generic.ts';
import type { RequestContext, ResourceDef, UserInfo } from './registry/types.ts';
import type { Dynamic } from './authn/types.ts';
import type { AuthenticatorChain } from './authn/chain.ts';
import { impersonate, ImpersonationBadRequest, ImpersonationForbidden } from './authn/impersonation.ts';
import { forbiddenMessage, type Attributes, type Authorizer, type RuleResolver } from './authz/types.ts';
import { requestAttributes } from './authz/attributes.ts';
import { AUDIT_ID_HEADER, auditEvent, auditIDFrom, sourceIPs, type AuditLog, type AuditRequestInfo } from './audit.ts';
import { HealthChecks, type HealthCheck } from './health.ts';
import type { VirtualResource } from './selfreview.ts';
import { Cacher, CacherSet, LAG_WAIT_MS } from '../storage/store/cacher.ts';
import type { StoreLocks } from '../storage/store/coordination.ts';
import type { Store } from '../storage/store/interface.ts';
import { VERSION } from '../version.ts';

/** The serving certificate and key, and every CA whose client certificates the TLS layer asks for. */
export interface ServingTLS {
  cert: string;
  key: string;
  clientCAs: string[];
}

export interface ServerOptions {
  bindAddress: string;
  port: number;
  /** followed: a change is applied to new connections at once */
  tls: Dynamic<ServingTLS>;
  store: Store;
  /** several replicas: write lock keys are also locks in the store (RegistryOptions.storeLocks) */
  storeLocks?: StoreLocks;
  logger: Logger;
  authenticator: AuthenticatorChain;
  authorizer: Authorizer;
  /** the rules behind the authorizer, when it can list them (SelfSubjectRulesReview) */
  rules?: RuleResolver;
  /** create-only resources served beside the API groups (the self reviews, standalone) */
  virtualResources?: VirtualResource[];
  audit?: AuditLog;
  /** kube's --max-requests-inflight / --max-mutating-requests-inflight (0: no limit) */
  maxRequestsInflight?: number;
  maxMutatingRequestsInflight?: number;
  /** named checks of /livez and /readyz besides ping and the server's own */
  livez?: HealthCheck[];
  readyz?: HealthCheck[];
  maxRequestBytes?: number;
  /** bound on a stored object's encoded size (after decoding, defaulting and patching) */
  maxObjectBytes?: number;
  watchCacheCapacity?: number;
  handler?: Partial<Omit<HandlerOptions, 'openWatches'>>;
}

interface Served {
  reg: RESTStorage;
  handlers: ResourceHandlers;
}

/**
 * Runs before an object is created in a namespace (never for dry runs), e.g. to make sure the
 * namespace exists. A StatusError it throws fails the create.
 */
export type NamespaceHook = (namespace: string, ctx: RequestContext) => Promise<void>;

/** The options a write's query parameters (dryRun, fieldValidation) belong to; reads have none. */
const OPTIONS_KINDS: Record<string, OptionsKind> = { POST: 'CreateOptions', PUT: 'UpdateOptions', PATCH: 'PatchOptions', DELETE: 'DeleteOptions' };
const READ_ONLY_VERBS = new Set(['get', 'list', 'watch', 'head', 'options']);
/** requests that stay open and are not counted by the in-flight limits (kube's long-running check) */
const LONG_RUNNING_VERBS = new Set(['watch']);
const SYSTEM_MASTERS = 'system:masters';

/** What the filters learned about a request, kept in res.locals. */
interface RequestState {
  auditID: string;
  received: Date;
  /** taken when the request arrives: the socket may be gone when the response completes */
  sourceIPs: string[];
  user?: UserInfo;
  impersonatedUser?: UserInfo;
  attrs?: Attributes;
  annotations: Record<string, string>;
}

export class APIServer {
  readonly resources: ResourceDef[] = [];
  private readonly served = new Map<string, Served>(); // "group/version/plural"
  private readonly registered: Registry[] = [];
  private namespaceHook?: NamespaceHook;
  private readonly cachers: CacherSet;
  private server?: https.Server;
  private ready = false;
  private cachersStarted = false;
  private readonly metrics = new client.Registry();
  private readonly requestTotal: client.Counter;
  private readonly requestDuration: client.Histogram;
  private readonly cacheWait: client.Histogram;
  /** the `resource` label of each cached resource, by its cacher's key prefix */
  private readonly cachedResources = new Map<string, string>();
  private openapiCache?: { v2?: Record<string, unknown>; v2pb?: Uint8Array; v3: Map<string, { doc: Record<string, unknown>; hash: string }> };
  private readonly handlerOptions: HandlerOptions;
  private readonly inflight = { readOnly: 0, mutating: 0 };
  private stopTLS?: () => void;

  constructor(private readonly opts: ServerOptions) {
    this.cachers = new CacherSet(opts.store, (err) => opts.logger.warn({ component: 'watch-cache', err: (err as Error).message }, 'watch cache: a gap in the store subscription (reloading) or a failed progress request'));
    this.handlerOptions = { bookmarkIntervalMs: 60_000, maxWatchSeconds: 1800, watchBufferLimit: 16 << 20, ...opts.handler, openWatches: new Set() };
    client.collectDefaultMetrics({ register: this.metrics });
    const labelNames = ['verb', 'dry_run', 'group', 'version', 'resource', 'subresource', 'scope', 'component'];
    this.requestTotal = new client.Counter({ name: 'apiserver_request_total', help: 'Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.', labelNames: [...labelNames, 'code'], registers: [this.metrics] });
    this.requestDuration = new client.Histogram({
      name: 'apiserver_request_duration_seconds',
      help: 'Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.',
      labelNames,
      buckets: [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60],
      registers: [this.metrics],
    });
    // the watch cache on a remote store (etcd): how far it is behind, and how long reads waited for it
    this.cacheWait = new client.Histogram({
      name: 'pkgserver_watch_cache_wait_seconds',
      help: 'How long reads on a remote store (etcd) waited for the watch cache to reach the revision they need (a consistent read, a resourceVersion or continue token newer than the cache), by resource and result: reached, or timeout (504 after 3 s).',
      labelNames: ['resource', 'result'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5],
      registers: [this.metrics],
    });
    const cachers = this.cachers;
    const cachedResources = this.cachedResources;
    new client.Gauge({
      name: 'pkgserver_watch_cache_lag_revisions',
      help: "How many revisions the watch cache of a resource is behind the remote store (etcd): the store's current revision minus the cache's, measured at each scrape after up to 1 s for the cache to catch up (a progress notification). Only on a remote store.",
      labelNames: ['resource'],
      registers: [this.metrics],
      async collect() {
        this.reset();
        let lags: { prefix: string; revisions: number }[];
        let timer: NodeJS.Timeout | undefined;
        try {
          // bounded, so that a scrape answers even when etcd does not
          const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the cache lag took too long')), 2 * LAG_WAIT_MS)));
          lags = await Promise.race([cachers.lag(LAG_WAIT_MS), late]);
        } catch {
          return; // the store cannot be reached: no value rather than a failed scrape
        } finally {
          clearTimeout(timer);
        }
        for (const { prefix, revisions } of lags) this.set({ resource: cachedResources.get(prefix) ?? prefix }, revisions);
      },
    });
  }

  /** Registers a resource; returns its registry (controllers write through it). */
  addResource(def: ResourceDef): Registry {
    const cacher = this.cachers.add(new Cacher(Registry.prefix(def), Registry.decode, this.opts.watchCacheCapacity));
    // kube's resource label: the plural, group-qualified outside the core group
    const resource = def.group ? `${def.plural}.${def.group}` : def.plural;
    this.cachedResources.set(cacher.prefix, resource);
    const reg = new Registry(def, this.opts.store, cacher, {
      beforeNamespacedCreate: (ns, ctx) => this.namespaceHook?.(ns, ctx) ?? Promise.resolve(),
      maxObjectBytes: this.opts.maxObjectBytes,
      storeLocks: this.opts.storeLocks,
      onCacheWait: (seconds, result) => this.cacheWait.observe({ resource, result }, seconds),
    });
    this.registered.push(reg);
    this.resources.push(def);
    this.served.set(`${def.group}/${def.version}/${def.plural}`, { reg, handlers: new ResourceHandlers(reg, this.handlerOptions) });
    this.openapiCache = undefined;
    return reg;
  }

  /** The registries of the resources added with addResource (not the views of addStorage). */
  registries(): readonly Registry[] {
    return this.registered;
  }

  /** The Prometheus registry /metrics serves (the controllers add theirs). */
  get metricsRegistry(): client.Registry {
    return this.metrics;
  }

  /** Sets the hook every registry runs before a namespaced create (see NamespaceHook). */
  setNamespaceHook(hook: NamespaceHook): void {
    this.namespaceHook = hook;
  }

  /** Serves a resource from a storage of its own (e.g. a view over another resource). */
  addStorage(storage: RESTStorage): void {
    const def = storage.def;
    this.resources.push(def);
    this.served.set(`${def.group}/${def.version}/${def.plural}`, { reg: storage, handlers: new ResourceHandlers(storage, this.handlerOptions) });
    this.openapiCache = undefined;
  }

  async start(): Promise<AddressInfo> {
    await this.cachers.start();
    this.cachersStarted = true;
    const app = this.app();
    const secure = (t: ServingTLS) => ({ cert: t.cert, key: t.key, ca: t.clientCAs.length ? t.clientCAs : undefined });
    this.server = https.createServer({ ...secure(this.opts.tls.current()), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, app);
    // a new serving certificate or client CA applies to the next TLS handshake
    this.stopTLS = this.opts.tls.onChange((t) => {
      try {
        this.server?.setSecureContext({ ...secure(t), minVersion: 'TLSv1.2' });
        this.opts.logger.info('serving certificate and client CAs reloaded');
      } catch (err) {
        this.opts.logger.error({ err: (err as Error).message }, 'new TLS material not usable; keeping the old');
      }
    });
    this.server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port, this.opts.bindAddress, () => resolve());
    });
    this.ready = true;
    return this.server.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    this.ready = false;
    this.stopTLS?.();
    // end every watch stream cleanly (a clean end of stream tells clients to re-watch elsewhere)
    for (const close of [...this.handlerOptions.openWatches]) close();
    this.cachers.stop();
    if (this.server) {
      const s = this.server;
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    }
    await this.opts.audit?.close();
  }

  /** Every resource in discovery: the registered ones and the create-only virtual ones. */
  private discoverable(): ResourceDef[] {
    const virtual = (this.opts.virtualResources ?? []).map(
      (v): ResourceDef => ({ ...v, listKind: '', shortNames: [], categories: [], schema: {}, subresources: {}, verbs: [...v.verbs], columns: [], fieldSelectors: {}, strategy: {}, description: '' }),
    );
    return [...this.resources, ...virtual];
  }

  private app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.disable('etag');
    app.set('query parser', false);
    const log = this.opts.logger;
    const limit = this.opts.maxRequestBytes ?? 3 * 1024 * 1024;

    // a path that does not decode (e.g. "%ZZ") is a bad request, as Go's URL parsing makes it
    app.use((req: Request, res: Response, next: NextFunction) => {
      try {
        decodeURIComponent(new URL(req.originalUrl, 'https://localhost').pathname);
      } catch {
        return sendStatus(res, badRequest('the request path could not be decoded'));
      }
      next();
    });

    // every response carries its audit ID, as kube-apiserver's
    app.use((req: Request, res: Response, next: NextFunction) => {
      const state: RequestState = { auditID: auditIDFrom(req.headers['audit-id']), received: new Date(), sourceIPs: sourceIPs(header(req, 'x-forwarded-for'), header(req, 'x-real-ip'), req.socket.remoteAddress), annotations: {} };
      res.locals.state = state;
      res.setHeader(AUDIT_ID_HEADER, state.auditID);
      next();
    });

    // health: no authentication, as kube-apiserver; /version too (kube's system:public-info-viewer)
    const store = this.opts.store;
    const common = [{ name: 'store', check: async () => void (await store.currentRevision()) }];
    const health = {
      healthz: new HealthChecks('healthz', [...common, ...(this.opts.livez ?? [])], log),
      livez: new HealthChecks('livez', [...common, ...(this.opts.livez ?? [])], log),
      readyz: new HealthChecks(
        'readyz',
        [
          ...common,
          { name: 'watch-cache', check: () => { if (!this.cachersStarted) throw new Error('the watch cache is not loaded'); } },
          { name: 'shutdown', check: () => { if (!this.ready) throw new Error('the server is not serving (starting or shutting down)'); } },
          ...(this.opts.readyz ?? []),
        ],
        log,
      ),
    };
    app.get(/^\/(healthz|livez|readyz)(\/.*)?$/, async (req: Request, res: Response) => {
      const url = new URL(req.originalUrl, 'https://localhost');
      const which = url.pathname.split('/')[1] as keyof typeof health;
      const r = await health[which].handle(url.pathname, url.searchParams);
      res.status(r.code).setHeader('Content-Type', r.contentType);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.end(r.body);
    });
    app.get('/version', (_req, res) => send(res, 200, VERSION_INFO));

    app.use((req: Request, res: Response, next: NextFunction) => {
      this.filters(req, res).then((ok) => (ok ? next() : undefined), next);
    });

    // body: raw bytes, decoded per Content-Type by the handlers
    // no Content-Encoding is decoded (kube-apiserver decodes none either): a compressed body is 415,
    // so no inflating of a small body into a huge one
    app.use(express.raw({ type: () => true, limit, inflate: false }));

    app.get('/metrics', async (_req, res) => {
      res.type(this.metrics.contentType).send(await this.metrics.metrics());
    });
    app.get('/api', (req, res) => this.discovery(req, res, 'api'));
    app.get('/apis', (req, res) => this.discovery(req, res, 'apis'));
    app.get('/openapi/v2', (req, res) => this.openapiV2(req, res));
    app.get('/openapi/v3', (_req, res) => {
      const paths: Record<string, { serverRelativeURL: string }> = {};
      for (const [k, v] of this.openapi().v3) paths[k] = { serverRelativeURL: `/openapi/v3/${k}?hash=${v.hash}` };
      send(res, 200, { paths });
    });
    const openapiV3 = (req: Request, res: Response, group: string, version: string) => {
      const e = this.openapi().v3.get(openAPIv3Path({ group, version }));
      if (!e) return sendStatus(res, new StatusError(404, 'NotFound', 'the server could not find the requested resource'));
      res.setHeader('Cache-Control', req.query && new URL(req.originalUrl, 'https://x').searchParams.has('hash') ? 'public, immutable' : 'no-cache, private');
      res.setHeader('Etag', `"${e.hash}"`);
      send(res, 200, e.doc);
    };
    app.get('/openapi/v3/apis/:group/:version', (req, res) => openapiV3(req, res, req.params.group, req.params.version));
    app.get('/openapi/v3/api/:version', (req, res) => openapiV3(req, res, '', req.params.version));
    for (const v of this.opts.virtualResources ?? []) {
      app.post(`/apis/${v.group}/${v.version}/${v.plural}`, (req: Request, res: Response, next: NextFunction) => {
        const user = res.locals.user as UserInfo; // after impersonation
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        v.create(body, req.headers['content-type'] ?? 'application/json', { user, authorizer: this.opts.authorizer, rules: this.opts.rules })
          .then((o) => send(res, 201, o))
          .catch(next);
      });
    }
    app.use('/api', (req, res, next) => {
      this.resourceRequest(req, res, 'api').catch(next);
    });
    app.use('/apis', (req, res, next) => {
      this.resourceRequest(req, res, 'apis').catch(next);
    });
    app.use((req: Request, res: Response) => sendStatus(res, new StatusError(404, 'NotFound', 'the server could not find the requested resource')));

    // errors: a Status for the client, the detail (never a stack to the client) in the log
    app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
      let status: StatusError;
      const bodyErr = err as { type?: string; status?: number; message?: string };
      if (err instanceof StatusError) status = err;
      else if (bodyErr.type === 'entity.too.large') status = requestEntityTooLarge(limit);
      else if (bodyErr.type === 'encoding.unsupported') status = new StatusError(415, 'UnsupportedMediaType', `the request body's Content-Encoding "${req.headers['content-encoding']}" is not supported: send it uncompressed`);
      else if (typeof bodyErr.status === 'number' && bodyErr.status >= 400 && bodyErr.status < 500) {
        // the body could not be read: aborted, or not what its Content-Encoding says (e.g. not gzip)
        status = badRequest(`the request body could not be read: ${bodyErr.message ?? bodyErr.type ?? 'invalid body'}`);
      } else {
        log.error({ err, method: req.method, path: req.originalUrl.split('?')[0] }, 'unhandled error');
        status = internalError();
      }
      if (res.headersSent) {
        res.end();
        return;
      }
      sendStatus(res, status);
    });
    return app;
  }

  /**
   * kube's handler chain before the handlers: authentication, audit, impersonation, in-flight
   * limits, authorization. Answers the request itself (and returns false) when one refuses it.
   */
  private async filters(req: Request, res: Response): Promise<boolean> {
    const state = res.locals.state as RequestState;
    const log = this.opts.logger;
    const url = new URL(req.originalUrl, 'https://localhost');
    const started = process.hrtime.bigint();
    const refuse = (err: StatusError) => {
      sendStatus(res, err);
      return false;
    };

    // authentication
    const { result: authenticated, errors } = await this.opts.authenticator.authenticateRequest(req);
    this.audit(req, res);
    if (!authenticated) {
      if (errors.length) log.info({ path: url.pathname, errors: errors.map((e) => e.message) }, 'authentication failed');
      log.info({ method: req.method, path: url.pathname, code: 401 }, 'request');
      return refuse(unauthorized());
    }
    for (const h of authenticated.consumedHeaders ?? []) delete req.headers[h.toLowerCase()];
    state.user = authenticated.user;
    let user = authenticated.user;
    log.debug({ user: user.name, method: req.method, url: req.originalUrl }, 'request started');
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info({ user: state.user?.name, ...(state.impersonatedUser ? { as: state.impersonatedUser.name } : {}), method: req.method, path: url.pathname, code: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });

    // impersonation (kubectl --as): each asserted attribute needs the impersonate verb
    try {
      const imp = await impersonate(req, user, this.opts.authorizer);
      if (imp.impersonatedUser) {
        state.impersonatedUser = imp.impersonatedUser;
        user = imp.impersonatedUser;
      }
    } catch (err) {
      if (err instanceof ImpersonationForbidden) {
        state.annotations['authorization.k8s.io/decision'] = 'forbid';
        return refuse(new StatusError(403, 'Forbidden', err.message, err.details));
      }
      if (err instanceof ImpersonationBadRequest) return refuse(badRequest(err.message));
      if (err instanceof StatusError) return refuse(err);
      throw err;
    }

    let attrs: Attributes;
    try {
      attrs = requestAttributes(req.method, url, user);
    } catch {
      // a path kube cannot read as a request (e.g. /apis/G/V/watch with nothing after it)
      return refuse(new StatusError(404, 'NotFound', 'the server could not find the requested resource'));
    }
    state.attrs = attrs;

    // in-flight limits: long-running requests are not counted, system:masters is never refused
    if (!LONG_RUNNING_VERBS.has(attrs.verb)) {
      const kind = READ_ONLY_VERBS.has(attrs.verb) ? 'readOnly' : 'mutating';
      const max = (kind === 'readOnly' ? this.opts.maxRequestsInflight : this.opts.maxMutatingRequestsInflight) ?? 0;
      if (max > 0 && this.inflight[kind] >= max && !user.groups.includes(SYSTEM_MASTERS)) {
        res.setHeader('Retry-After', '1');
        return refuse(tooManyRequests(1));
      }
      this.inflight[kind]++;
      let released = false;
      const release = () => {
        if (!released) this.inflight[kind]--;
        released = true;
      };
      res.on('close', release);
      res.on('finish', release);
    }

    // authorization
    const decision = await this.opts.authorizer.authorize(attrs);
    state.annotations['authorization.k8s.io/decision'] = decision.decision === 'allow' ? 'allow' : 'forbid';
    if (decision.reason) state.annotations['authorization.k8s.io/reason'] = decision.reason;
    if (decision.decision !== 'allow' && decision.error) {
      // the authorizer could not decide (SubjectAccessReview failed): kube answers 500
      log.error({ err: decision.error, user: user.name, path: url.pathname }, 'authorization failed');
      return refuse(internalError('the authorizer could not decide; see the server log'));
    }
    if (decision.decision !== 'allow') {
      const why = decision.reason ? `${forbiddenMessage(attrs)}: ${decision.reason}` : forbiddenMessage(attrs);
      return refuse(attrs.resourceRequest ? forbidden({ group: attrs.apiGroup ?? '', resource: attrs.resource ?? '' }, attrs.name ?? '', why) : forbiddenPath(why));
    }
    res.locals.user = user;
    return true;
  }

  /** Writes the request's audit events: ResponseStarted for watches, ResponseComplete for all. */
  private audit(req: Request, res: Response): void {
    const audit = this.opts.audit;
    if (!audit) return;
    const state = res.locals.state as RequestState;
    const info = (): AuditRequestInfo => {
      const a = state.attrs;
      return {
        auditID: state.auditID,
        requestURI: req.originalUrl,
        verb: a?.verb ?? req.method.toLowerCase(),
        user: state.user ?? { name: '', groups: [] },
        impersonatedUser: state.impersonatedUser,
        sourceIPs: state.sourceIPs,
        userAgent: req.headers['user-agent'],
        objectRef: a?.resourceRequest ? { resource: a.resource, namespace: a.namespace, name: a.name, apiGroup: a.apiGroup, apiVersion: a.apiVersion, subresource: a.subresource } : undefined,
        requestReceived: state.received,
      };
    };
    {
      // a watch's ResponseStarted: when its headers go out
      const writeHead = res.writeHead;
      let started = false;
      res.writeHead = function (this: Response, ...args: unknown[]) {
        if (!started && state.attrs?.verb === 'watch') {
          started = true;
          audit.write(auditEvent('ResponseStarted', info(), { code: (args[0] as number) ?? res.statusCode, annotations: state.annotations }));
        }
        return (writeHead as (...a: unknown[]) => Response).apply(this, args);
      } as typeof res.writeHead;
    }
    let done = false;
    const complete = () => {
      if (done) return;
      done = true;
      const body = res.locals.statusBody as { status?: string; reason?: string; message?: string } | undefined;
      audit.write(auditEvent('ResponseComplete', info(), { code: res.statusCode, status: body, annotations: state.annotations }));
    };
    res.on('finish', complete);
    res.on('close', complete);
  }
  /** /api and /apis: aggregated discovery when the Accept asks for it, else APIVersions / APIGroupList. */
  private discovery(req: Request, res: Response, prefix: 'api' | 'apis'): void {
    const agg = wantsAggregated(req.headers.accept);
    const all = this.discoverable();
    const local = `${req.socket.localAddress?.includes(':') ? `[${req.socket.localAddress}]` : req.socket.localAddress}:${req.socket.localPort}`;
    const body = agg ? aggregatedDiscovery(servedBelow(all, prefix), agg) : prefix === 'api' ? apiVersions(all, local) : apiGroupList(all);
    const tag = etag(body);
    res.setHeader('ETag', tag);
    res.setHeader('Vary', 'Accept');
    if (req.headers['if-none-match'] === tag) {
      res.status(304).end();
      return;
    }
    if (agg) {
      const json = JSON.stringify(body);
      res.status(200).setHeader('Content-Type', `application/json;g=apidiscovery.k8s.io;v=${agg};as=APIGroupDiscoveryList`);
      res.end(json);
    } else send(res, 200, body);
  }

  private openapi() {
    if (!this.openapiCache) {
      const v3 = new Map<string, { doc: Record<string, unknown>; hash: string }>();
      for (const g of groupVersions(this.resources)) {
        const doc = openAPIv3(this.resources, g, VERSION);
        v3.set(openAPIv3Path(g), { doc, hash: documentHash(doc) });
      }
      this.openapiCache = { v3 };
    }
    return this.openapiCache;
  }

  private openapiV2(req: Request, res: Response): void {
    const c = this.openapi();
    c.v2 ??= openAPIv2(this.resources, VERSION);
    const tag = etag(c.v2);
    res.setHeader('ETag', tag);
    res.setHeader('Vary', 'Accept');
    if (req.headers['if-none-match'] === tag) {
      res.status(304).end();
      return;
    }
    if (wantsOpenAPIv2Proto(req.headers.accept)) {
      c.v2pb ??= encodeOpenAPIv2(c.v2);
      res.status(200).setHeader('Content-Type', OPENAPI_V2_PROTO_CONTENT_TYPE);
      res.end(Buffer.from(c.v2pb));
      return;
    }
    send(res, 200, c.v2);
  }

  /**
   * /apis/G/V[/namespaces/NS]/RESOURCE[/NAME[/SUB]], /api/V/... (the core group) and the discovery
   * documents below them.
   */
  private async resourceRequest(req: Request, res: Response, prefix: 'api' | 'apis'): Promise<void> {
    const url = new URL(req.originalUrl, 'https://localhost');
    const segs = url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent); // after "api" or "apis"
    const [group, version, ...rest] = prefix === 'api' ? ['', ...segs] : segs;
    const user = res.locals.user as UserInfo;
    const started = process.hrtime.bigint();

    if (req.method === 'GET' && prefix === 'apis' && segs.length === 1) {
      const g = apiGroup(this.discoverable(), group);
      return g ? send(res, 200, g) : sendStatus(res, new StatusError(404, 'NotFound', 'the server could not find the requested resource'));
    }
    if (req.method === 'GET' && version !== undefined && rest.length === 0) {
      const l = apiResourceList(this.discoverable(), group, version);
      return l ? send(res, 200, l) : sendStatus(res, new StatusError(404, 'NotFound', 'the server could not find the requested resource'));
    }

    let namespace: string | undefined;
    let tail = rest;
    if (tail[0] === 'namespaces' && tail.length >= 3) {
      namespace = tail[1];
      tail = tail.slice(2);
    }
    const [plural, name, subresource, ...extra] = tail;
    const served = plural ? this.served.get(`${group}/${version}/${plural}`) : undefined;
    if (!served || extra.length > 0 || (subresource && (!served.reg.def.subresources[subresource] || served.reg.def.subresources[subresource].internal))) {
      throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    }
    const { reg, handlers } = served;
    const def = reg.def;
    const q = url.searchParams;
    const info: RequestInfo = { namespace, name, subresource, query: q };
    const verb = (res.locals.state as RequestState).attrs!.verb; // as the authorizer saw it
    if (!OPTIONS_KINDS[req.method] && req.method !== 'GET') throw methodNotSupported(reg.gr, req.method);

    const labels = { verb: verb === 'get' || verb === 'list' || verb === 'watch' ? verb.toUpperCase() : req.method, dry_run: q.get('dryRun') ?? '', group, version, resource: plural, subresource: subresource ?? '', scope: name ? 'resource' : namespace ? 'namespace' : 'cluster', component: 'apiserver' };
    res.on('finish', () => {
      this.requestTotal.inc({ ...labels, code: String(res.statusCode) });
      if (verb !== 'watch') this.requestDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    });

    if (def.namespaced && !namespace && (name || req.method !== 'GET')) throw methodNotSupported(reg.gr, req.method === 'POST' ? 'create' : verb);
    // a verb the resource does not serve (a read-only resource's writes) is 405, as for kube's
    // storages that do not implement it
    const METHOD_VERBS: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
    const methodVerb = METHOD_VERBS[req.method];
    if (methodVerb && !subresource && (name || methodVerb === 'create') && !def.verbs.includes(methodVerb)) throw methodNotSupported(reg.gr, methodVerb);
    if (req.method === 'DELETE' && !name && !def.verbs.includes('deletecollection')) throw methodNotSupported(reg.gr, 'deletecollection');
    const optionsKind = OPTIONS_KINDS[req.method];
    const authorizer = this.opts.authorizer;
    const ctx: RequestContext = {
      user,
      dryRun: optionsKind ? dryRun(q.getAll('dryRun'), optionsKind) : false,
      fieldManager: q.get('fieldManager') || managerFromUserAgent(header(req, 'user-agent') ?? ''),
      authorize: async (a) => (await authorizer.authorize({ ...a, user, apiVersion: version, resourceRequest: true })).decision === 'allow',
    };

    switch (req.method) {
      case 'GET':
        return name ? handlers.get(req, res, info) : handlers.list(req, res, info);
      case 'POST':
        if (name) throw methodNotSupported(reg.gr, 'create');
        return handlers.create(req, res, info, ctx);
      case 'PUT':
        if (!name) throw methodNotSupported(reg.gr, 'update');
        return handlers.update(req, res, info, ctx);
      case 'PATCH':
        if (!name) throw methodNotSupported(reg.gr, 'patch');
        return handlers.patch(req, res, info, ctx);
      case 'DELETE':
        if (!name) return handlers.deleteCollection(req, res, info, ctx);
        if (subresource) throw methodNotSupported(reg.gr, 'delete');
        return handlers.delete(req, res, info, ctx);
      default:
        throw badRequest(`unsupported method ${req.method}`);
    }
  }
}

const VERSION_INFO = (() => {
  const [major, minor] = VERSION.split('.');
  return {
    major,
    minor,
    gitVersion: `v${VERSION}`,
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '',
    goVersion: `node${process.versions.node}`,
    compiler: 'tsx',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
})();


/**
 * kube's default field manager (managerOrUserAgent): the User-Agent up to its first '/', without
 * unprintable characters, at most 128 bytes ("kubectl/v1.33.0 (linux/amd64) …" → "kubectl").
 */
export function managerFromUserAgent(ua: string): string {
  let out = '';
  for (const ch of ua.split('/')[0]) {
    if (/[\p{C}]/u.test(ch) || (/\p{Z}/u.test(ch) && ch !== ' ')) continue;
    if (Buffer.byteLength(out + ch) > 128) break;
    out += ch;
  }
  return out;
}

const header = (req: Request, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
};
