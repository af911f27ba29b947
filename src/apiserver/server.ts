// The HTTPS API server: filters (authentication, authorization, logging, metrics) in front of
// discovery, OpenAPI and one set of REST handlers per registered resource.
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import client from 'prom-client';
import { aggregatedDiscovery, apiGroup, apiGroupList, apiResourceList, etag, wantsAggregated } from './discovery.ts';
import { badRequest, internalError, methodNotSupported, requestEntityTooLarge, StatusError, unauthorized, forbidden } from './errors.ts';
import { dryRun, ResourceHandlers, send, sendStatus, type HandlerOptions, type OptionsKind, type RequestInfo } from './handlers.ts';
import { documentHash, groupVersions, openAPIv2, openAPIv3 } from './openapi/builder.ts';
import { encodeOpenAPIv2, OPENAPI_V2_PROTO_CONTENT_TYPE, wantsOpenAPIv2Proto } from './openapi/v2proto.ts';
import { Registry, type RESTStorage } from './registry/generic.ts';
import type { RequestContext, ResourceDef, UserInfo } from './registry/types.ts';
import { allowAuthenticated, ClientCertAuthenticator, type Authenticator, type Authorizer } from './auth.ts';
import { Cacher, CacherSet } from '../storage/store/cacher.ts';
import type { Store } from '../storage/store/interface.ts';
import { VERSION } from '../version.ts';

export interface ServerOptions {
  bindAddress: string;
  port: number;
  tls: { cert: string; key: string; clientCA: string };
  store: Store;
  logger: Logger;
  authenticator?: Authenticator;
  authorizer?: Authorizer;
  maxRequestBytes?: number;
  watchCacheCapacity?: number;
  handler?: Partial<Omit<HandlerOptions, 'openWatches'>>;
}

interface Served {
  reg: RESTStorage;
  handlers: ResourceHandlers;
}

const KUBE_VERBS: Record<string, string> = { GET: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
/** The options a write's query parameters (dryRun, fieldValidation) belong to; reads have none. */
const OPTIONS_KINDS: Record<string, OptionsKind> = { POST: 'CreateOptions', PUT: 'UpdateOptions', PATCH: 'PatchOptions', DELETE: 'DeleteOptions' };

export class APIServer {
  readonly resources: ResourceDef[] = [];
  private readonly served = new Map<string, Served>(); // "group/version/plural"
  private readonly cachers: CacherSet;
  private server?: https.Server;
  private ready = false;
  private readonly metrics = new client.Registry();
  private readonly requestTotal: client.Counter;
  private readonly requestDuration: client.Histogram;
  private openapiCache?: { v2?: Record<string, unknown>; v2pb?: Uint8Array; v3: Map<string, { doc: Record<string, unknown>; hash: string }> };
  private readonly handlerOptions: HandlerOptions;

  constructor(private readonly opts: ServerOptions) {
    this.cachers = new CacherSet(opts.store);
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
  }

  /** Registers a resource; returns its registry (controllers write through it). */
  addResource(def: ResourceDef): Registry {
    const cacher = this.cachers.add(new Cacher(Registry.prefix(def), Registry.decode, this.opts.watchCacheCapacity));
    const reg = new Registry(def, this.opts.store, cacher);
    this.resources.push(def);
    this.served.set(`${def.group}/${def.version}/${def.plural}`, { reg, handlers: new ResourceHandlers(reg, this.handlerOptions) });
    this.openapiCache = undefined;
    return reg;
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
    const app = this.app();
    this.server = https.createServer(
      { cert: this.opts.tls.cert, key: this.opts.tls.key, ca: this.opts.tls.clientCA, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
      app,
    );
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
  }

  private app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.disable('etag');
    app.set('query parser', false);
    const authn = this.opts.authenticator ?? new ClientCertAuthenticator();
    const authz = this.opts.authorizer ?? allowAuthenticated;
    const log = this.opts.logger;
    const limit = this.opts.maxRequestBytes ?? 3 * 1024 * 1024;

    // health: no authentication, as kube-apiserver
    for (const p of ['/healthz', '/livez']) app.get(p, (_req, res) => void res.type('text/plain').send('ok'));
    app.get('/readyz', (_req, res) => void (this.ready ? res.type('text/plain').send('ok') : res.status(503).type('text/plain').send('not ready')));
    app.get('/version', (_req, res) => send(res, 200, VERSION_INFO));

    // authentication
    app.use((req: Request, res: Response, next: NextFunction) => {
      const user = authn.authenticate(req);
      if (!user) return sendStatus(res, unauthorized());
      res.locals.user = user;
      res.locals.start = process.hrtime.bigint();
      const path = req.path;
      log.debug({ user: user.name, method: req.method, url: req.originalUrl }, 'request started');
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - (res.locals.start as bigint)) / 1e6;
        log.info({ user: user.name, method: req.method, path, code: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
      });
      next();
    });

    // body: raw bytes, decoded per Content-Type by the handlers
    app.use(express.raw({ type: () => true, limit }));

    app.get('/metrics', async (_req, res) => {
      res.type(this.metrics.contentType).send(await this.metrics.metrics());
    });
    app.get('/api', (_req, res) => sendStatus(res, new StatusError(404, 'NotFound', 'the server could not find the requested resource')));
    app.get('/apis', (req, res) => this.discovery(req, res));
    app.get('/openapi/v2', (req, res) => this.openapiV2(req, res));
    app.get('/openapi/v3', (_req, res) => {
      const paths: Record<string, { serverRelativeURL: string }> = {};
      for (const [k, v] of this.openapi().v3) paths[`apis/${k}`] = { serverRelativeURL: `/openapi/v3/apis/${k}?hash=${v.hash}` };
      send(res, 200, { paths });
    });
    app.get('/openapi/v3/apis/:group/:version', (req, res) => {
      const e = this.openapi().v3.get(`${req.params.group}/${req.params.version}`);
      if (!e) return sendStatus(res, new StatusError(404, 'NotFound', 'the server could not find the requested resource'));
      res.setHeader('Cache-Control', req.query && new URL(req.originalUrl, 'https://x').searchParams.has('hash') ? 'public, immutable' : 'no-cache, private');
      res.setHeader('Etag', `"${e.hash}"`);
      send(res, 200, e.doc);
    });
    app.use('/apis', (req, res, next) => {
      this.resourceRequest(req, res, authz).catch(next);
    });
    app.use((req: Request, res: Response) => sendStatus(res, new StatusError(404, 'NotFound', 'the server could not find the requested resource')));

    // errors: a Status for the client, the detail (never a stack to the client) in the log
    app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
      let status: StatusError;
      if (err instanceof StatusError) status = err;
      else if ((err as { type?: string }).type === 'entity.too.large') status = requestEntityTooLarge(limit);
      else {
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

  private discovery(req: Request, res: Response): void {
    const agg = wantsAggregated(req.headers.accept);
    const body = agg ? aggregatedDiscovery(this.resources, agg) : apiGroupList(this.resources);
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
        v3.set(`${g.group}/${g.version}`, { doc, hash: documentHash(doc) });
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

  /** /apis/G/V[/namespaces/NS]/RESOURCE[/NAME[/SUB]] and the discovery documents below /apis. */
  private async resourceRequest(req: Request, res: Response, authz: Authorizer): Promise<void> {
    const url = new URL(req.originalUrl, 'https://localhost');
    const segs = url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent); // after "apis"
    const [group, version, ...rest] = segs;
    const user = res.locals.user as UserInfo;
    const started = process.hrtime.bigint();

    if (req.method === 'GET' && segs.length === 1) {
      const g = apiGroup(this.resources, group);
      return g ? send(res, 200, g) : sendStatus(res, new StatusError(404, 'NotFound', 'the server could not find the requested resource'));
    }
    if (req.method === 'GET' && segs.length === 2) {
      const l = apiResourceList(this.resources, group, version);
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

    // verb, as RBAC sees it
    let verb = KUBE_VERBS[req.method];
    if (!verb) throw methodNotSupported(reg.gr, req.method);
    if (req.method === 'GET' && !name) verb = q.get('watch') === 'true' || q.get('watch') === '1' ? 'watch' : 'list';
    if (req.method === 'DELETE' && !name) verb = 'deletecollection';

    const labels = { verb: verb === 'get' || verb === 'list' || verb === 'watch' ? verb.toUpperCase() : req.method, dry_run: q.get('dryRun') ?? '', group, version, resource: plural, subresource: subresource ?? '', scope: name ? 'resource' : namespace ? 'namespace' : 'cluster', component: 'apiserver' };
    res.on('finish', () => {
      this.requestTotal.inc({ ...labels, code: String(res.statusCode) });
      if (verb !== 'watch') this.requestDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    });

    const decision = await authz.authorize({ user, verb, group, version, resource: plural, subresource, namespace, name });
    if (!decision.allowed)
      throw forbidden(
        reg.gr,
        name ?? '',
        `User "${user.name}" cannot ${verb} resource "${plural}${subresource ? `/${subresource}` : ''}" in API group "${group}"${namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope'}${decision.reason ? `: ${decision.reason}` : ''}`,
      );

    if (def.namespaced && !namespace && (name || req.method !== 'GET')) throw methodNotSupported(reg.gr, req.method === 'POST' ? 'create' : verb);
    const optionsKind = OPTIONS_KINDS[req.method];
    const ctx: RequestContext = { user, dryRun: optionsKind ? dryRun(q.getAll('dryRun'), optionsKind) : false };

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
        if (!name) return handlers.deleteCollection();
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

