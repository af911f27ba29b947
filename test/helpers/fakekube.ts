// A stand-in for kube-apiserver in tests (there is none on these machines): an HTTPS server that
// speaks exactly the parts of its API that pkgserver uses in a cluster, in kube's JSON shapes:
// TokenReview and SubjectAccessReview creation, get, list and watch of ConfigMaps and Secrets
// in a namespace (field selector `metadata.name` only), and core v1 Events as an EventRecorder
// writes them (create; merge or strategic merge patch). Also the legacy discovery documents
// (`/api`, `/api/v1`, `/apis`, `/apis/<group>`, `/apis/<group>/<version>`: the fake's own
// resources, the served versions of the CustomResourceDefinitions set with `setCRD`, and the
// group versions of aggregated APIServices set with `setAPIService`, 503 while unavailable), and
// get, list and watch of those CRDs and APIServices (cluster-scoped; `limit` is ignored, as
// kube's watch cache does, so a list is one page). Every request needs the kubeconfig's
// bearer token (401 otherwise) and is recorded. resourceVersions come from one global counter;
// watches from a resourceVersion replay the events after it from a short history, or answer an
// ERROR 410 event when it is older than the history.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { generateCA, issueServingCert } from '../../src/cli/pki.ts';

export interface FakeUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  /** the token's audiences (default: the API server's, `https://kubernetes.default.svc.cluster.local`) */
  audiences?: string[];
}

export interface SARDecision {
  allowed: boolean;
  denied?: boolean;
  reason?: string;
  evaluationError?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** the raw query string without `?` */
  query: string;
  /** the parsed JSON body of a POST or PATCH */
  body?: any;
  contentType?: string;
}

/** One resource of a discovery document (APIResource), as an aggregated API server would list it. */
export interface FakeAPIResource {
  /** the plural name; `plural/sub` for a subresource */
  name: string;
  kind: string;
  namespaced: boolean;
  verbs?: string[];
  shortNames?: string[];
}

/** The part of a CustomResourceDefinition's spec that discovery depends on. */
export interface FakeCRDSpec {
  group: string;
  names: { kind: string; plural: string; singular?: string; shortNames?: string[] };
  scope: 'Namespaced' | 'Cluster';
  versions: { name: string; served: boolean; storage?: boolean; subresources?: { status?: object; scale?: object } }[];
}

export interface FakeKube {
  /** https://127.0.0.1:PORT */
  url: string;
  /** PEM of the CA that signed the serving certificate */
  caCert: string;
  /** a kubeconfig (bearer token `token`) pointing at the server, in a temporary directory */
  kubeconfigPath: string;
  /** the kubeconfig's bearer token, required on every request */
  token: string;
  /** TokenReview: token → user; an unknown token is not authenticated */
  tokens: Map<string, FakeUser>;
  /** SubjectAccessReview decision (the request's spec in, the status out); replaceable */
  sar: (spec: any) => SARDecision;
  /** every request received, in order */
  requests: RecordedRequest[];
  setConfigMap(ns: string, name: string, data: Record<string, string>): void;
  deleteConfigMap(ns: string, name: string): void;
  /** `data` as plain strings; stored base64-encoded, as kube does */
  setSecret(ns: string, name: string, type: string, data: Record<string, string>): void;
  deleteSecret(ns: string, name: string): void;
  /**
   * Creates or replaces the CustomResourceDefinition `<plural>.<group>` (Established; an ADDED or
   * MODIFIED watch event); discovery serves its served versions at once.
   */
  setCRD(spec: FakeCRDSpec, labels?: Record<string, string>): void;
  deleteCRD(name: string): void;
  /**
   * Creates or replaces the APIService `<version>.<group>` of an aggregated API server: with
   * `resources`, it is Available and `/apis/<group>/<version>` lists them; without, it is not
   * Available and that path answers 503, as kube-aggregator does for a backend that is down.
   */
  setAPIService(group: string, version: string, resources?: FakeAPIResource[]): void;
  deleteAPIService(name: string): void;
  /** the Events written (created and patched), in creation order */
  events(): any[];
  deleteEvent(ns: string, name: string): void;
  /** answers the next `times` (default 1) requests whose path starts with `pathPrefix` with a Status of `code` */
  failNext(pathPrefix: string, code: number, times?: number): void;
  /** drops the failures failNext arranged that have not happened yet */
  clearFailures(): void;
  /** forgets the event history: a watch from any resourceVersion handed out so far gets ERROR 410 Expired */
  expireHistory(): void;
  /** ends every open watch stream (as an API server restart or a watch timeout does) */
  closeWatches(): void;
  /** open watch streams */
  watchCount(): number;
  close(): Promise<void>;
}

/** The audience of tokens that name none (kube-apiserver's default `--api-audiences`). */
export const API_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';

type Kind = 'configmaps' | 'secrets' | 'customresourcedefinitions' | 'apiservices';
const KINDS: Record<Kind, string> = { configmaps: 'ConfigMap', secrets: 'Secret', customresourcedefinitions: 'CustomResourceDefinition', apiservices: 'APIService' };
const API_VERSIONS: Record<Kind, string> = { configmaps: 'v1', secrets: 'v1', customresourcedefinitions: 'apiextensions.k8s.io/v1', apiservices: 'apiregistration.k8s.io/v1' };

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];
/** The fake's own resources in discovery, in kube's order of groups. */
const BUILTIN_DISCOVERY: { group: string; version: string; resources: FakeAPIResource[] }[] = [
  {
    group: '',
    version: 'v1',
    resources: [
      { name: 'configmaps', kind: 'ConfigMap', namespaced: true, verbs: ALL_VERBS, shortNames: ['cm'] },
      { name: 'events', kind: 'Event', namespaced: true, verbs: ALL_VERBS, shortNames: ['ev'] },
      { name: 'secrets', kind: 'Secret', namespaced: true, verbs: ALL_VERBS },
    ],
  },
  {
    group: 'apiregistration.k8s.io',
    version: 'v1',
    resources: [
      { name: 'apiservices', kind: 'APIService', namespaced: false, verbs: ALL_VERBS },
      { name: 'apiservices/status', kind: 'APIService', namespaced: false, verbs: STATUS_VERBS },
    ],
  },
  { group: 'authentication.k8s.io', version: 'v1', resources: [{ name: 'tokenreviews', kind: 'TokenReview', namespaced: false, verbs: ['create'] }] },
  { group: 'authorization.k8s.io', version: 'v1', resources: [{ name: 'subjectaccessreviews', kind: 'SubjectAccessReview', namespaced: false, verbs: ['create'] }] },
  {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    resources: [
      { name: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false, verbs: ALL_VERBS, shortNames: ['crd', 'crds'] },
      { name: 'customresourcedefinitions/status', kind: 'CustomResourceDefinition', namespaced: false, verbs: STATUS_VERBS },
    ],
  },
];

/** kube's version priority (GA, then beta, then alpha; higher numbers first; other names last, by name): negative when `a` comes first */
function compareVersions(a: string, b: string): number {
  const rank = (v: string): [number, number, number] | undefined => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    return m ? [m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2, Number(m[1]), Number(m[3] ?? 0)] : undefined;
  };
  const ra = rank(a);
  const rb = rank(b);
  if (ra && rb) return rb[0] - ra[0] || rb[1] - ra[1] || rb[2] - ra[2];
  if (ra || rb) return ra ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface KEvent {
  rv: number;
  kind: Kind;
  type: EventType;
  object: any;
}

interface Watcher {
  kind: Kind;
  ns: string;
  name?: string;
  res: ServerResponse;
}

const HISTORY = 100;

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function status(code: number, message: string, details?: Record<string, unknown>): any {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: REASONS[code] ?? '', ...(details && { details }), code };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `metadata.name=X` / `metadata.name==X` (and `metadata.namespace`, which must match the path); other fields → an error message */
function parseFieldSelector(sel: string | null, ns: string): { name?: string; error?: string } {
  let name: string | undefined;
  for (const term of (sel ?? '').split(',').filter(Boolean)) {
    const m = /^([^!=]+)(==|=)(.*)$/.exec(term);
    if (!m) return { error: `invalid selector: '${sel}'; can't understand '${term}'` };
    if (m[1] === 'metadata.name') name = m[3];
    else if (m[1] === 'metadata.namespace') {
      if (m[3] !== ns) return { name: '\0' }; // matches nothing
    } else return { error: `field label not supported: ${m[1]}` };
  }
  return { name };
}

export async function startFakeKube(): Promise<FakeKube> {
  const ca = generateCA(1);
  const serving = issueServingCert(ca, ['localhost'], ['127.0.0.1'], 1);
  const token = `fake-kube-${randomUUID()}`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fakekube-'));

  let rv = 1000;
  const objects = new Map<string, any>(); // `${kind}/${ns}/${name}` → object as stored
  let history: KEvent[] = [];
  /** the oldest resourceVersion a watch may start from */
  let oldestWatchable = rv;
  const watchers = new Set<Watcher>();
  const failures: { prefix: string; code: number; times: number }[] = [];
  const events = new Map<string, any>(); // `${ns}/${name}` → Event

  /** the backends of aggregated APIServices (by APIService name): their resources, undefined while unavailable */
  const aggregated = new Map<string, FakeAPIResource[] | undefined>();

  const matches = (w: Watcher, kind: Kind, obj: any) =>
    w.kind === kind && w.ns === (obj.metadata.namespace ?? '') && (w.name === undefined || w.name === obj.metadata.name);

  const writeEvent = (res: ServerResponse, type: string, object: any) => void (res.writableEnded || res.write(`${JSON.stringify({ type, object })}\n`));

  function record(kind: Kind, type: EventType, object: any): void {
    const e: KEvent = { rv: Number(object.metadata.resourceVersion), kind, type, object };
    history.push(e);
    if (history.length > HISTORY) oldestWatchable = history.shift()!.rv;
    for (const w of watchers) if (matches(w, kind, object)) writeEvent(w.res, type, object);
  }

  /** `ns` '' for a cluster-scoped object; `labels` replace the object's labels when given */
  function put(kind: Kind, ns: string, name: string, fields: Record<string, unknown>, labels?: Record<string, string>): void {
    const key = `${kind}/${ns}/${name}`;
    const old = objects.get(key);
    const metadata: any = old
      ? { ...old.metadata, resourceVersion: String(++rv) }
      : { name, ...(ns ? { namespace: ns } : {}), uid: randomUUID(), resourceVersion: String(++rv), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    if (labels) {
      if (Object.keys(labels).length) metadata.labels = { ...labels };
      else delete metadata.labels;
    }
    const obj = { kind: KINDS[kind], apiVersion: API_VERSIONS[kind], metadata, ...fields };
    objects.set(key, obj);
    record(kind, old ? 'MODIFIED' : 'ADDED', obj);
  }

  function remove(kind: Kind, ns: string, name: string): void {
    const key = `${kind}/${ns}/${name}`;
    const old = objects.get(key);
    if (!old) return;
    objects.delete(key);
    record(kind, 'DELETED', { ...old, metadata: { ...old.metadata, resourceVersion: String(++rv) } });
  }

  /** list items carry no kind and apiVersion, as in kube's typed lists */
  const asItem = ({ kind: _k, apiVersion: _a, ...rest }: any) => rest;

  function serveObjects(req: IncomingMessage, res: ServerResponse, kind: Kind, ns: string, name: string | undefined, q: URLSearchParams): void {
    if (req.method !== 'GET') return send(res, 405, status(405, `the server does not allow this method on the requested resource`));
    if (q.get('labelSelector')) return send(res, 400, status(400, 'labelSelector is not supported by the fake API server'));
    if (name !== undefined) {
      const obj = objects.get(`${kind}/${ns}/${name}`);
      if (!obj) return send(res, 404, status(404, `${kind} "${name}" not found`, { name, kind }));
      return send(res, 200, obj);
    }
    const sel = parseFieldSelector(q.get('fieldSelector'), ns);
    if (sel.error) return send(res, 400, status(400, sel.error));
    const selected = [...objects.values()].filter((o) => (o.metadata.namespace ?? '') === ns && (sel.name === undefined || o.metadata.name === sel.name) && o.kind === KINDS[kind]);
    if (q.get('watch') !== 'true' && q.get('watch') !== '1') {
      return send(res, 200, { kind: `${KINDS[kind]}List`, apiVersion: API_VERSIONS[kind], metadata: { resourceVersion: String(rv) }, items: selected.map(asItem) });
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const from = q.get('resourceVersion');
    const w: Watcher = { kind, ns, name: sel.name, res };
    if (!from || from === '0') {
      for (const o of selected) writeEvent(res, 'ADDED', o);
    } else if (!/^\d+$/.test(from)) {
      writeEvent(res, 'ERROR', status(400, `invalid resource version: ${from}`));
      return void res.end();
    } else if (Number(from) < oldestWatchable) {
      writeEvent(res, 'ERROR', status(410, `too old resource version: ${from} (${oldestWatchable})`));
      return void res.end();
    } else {
      for (const e of history) if (e.rv > Number(from) && matches(w, e.kind, e.object)) writeEvent(res, e.type, e.object);
    }
    watchers.add(w);
    const timeout = Number(q.get('timeoutSeconds'));
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      watchers.delete(w);
      clearTimeout(timer);
    });
  }

  /** Every group with its served versions (kube's priority order) and each version's resources (undefined: an unavailable aggregated API). */
  function discoveryGroups(): { name: string; versions: { version: string; resources: FakeAPIResource[] | undefined }[] }[] {
    const groups = new Map<string, Map<string, FakeAPIResource[] | undefined>>();
    const versionsOf = (g: string) => groups.get(g) ?? groups.set(g, new Map()).get(g)!;
    for (const b of BUILTIN_DISCOVERY) versionsOf(b.group).set(b.version, b.resources);
    const others: string[] = [];
    const crds = [...objects.values()].filter((o) => o.kind === 'CustomResourceDefinition').sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    for (const crd of crds) {
      const { group, names, scope, versions } = crd.spec as FakeCRDSpec;
      if (!groups.has(group)) others.push(group);
      const vs = versionsOf(group);
      for (const v of versions.filter((x) => x.served)) {
        const list = vs.get(v.name) ?? [];
        const namespaced = scope === 'Namespaced';
        list.push({ name: names.plural, kind: names.kind, namespaced, verbs: ALL_VERBS, ...(names.shortNames ? { shortNames: names.shortNames } : {}) });
        if (v.subresources?.status) list.push({ name: `${names.plural}/status`, kind: names.kind, namespaced, verbs: STATUS_VERBS });
        if (v.subresources?.scale) list.push({ name: `${names.plural}/scale`, kind: 'Scale', namespaced, verbs: STATUS_VERBS });
        vs.set(v.name, list);
      }
    }
    for (const svc of [...objects.values()].filter((o) => o.kind === 'APIService')) {
      const { group, version } = svc.spec;
      if (!groups.has(group)) others.push(group);
      versionsOf(group).set(version, aggregated.get(svc.metadata.name));
    }
    const order = [...BUILTIN_DISCOVERY.map((b) => b.group).filter((g, i, all) => all.indexOf(g) === i), ...[...new Set(others)].sort()];
    return order.map((name) => ({
      name,
      versions: [...groups.get(name)!.entries()].sort(([a], [b]) => compareVersions(a, b)).map(([version, resources]) => ({ version, resources })),
    }));
  }

  /** answers a discovery request; false when `p` is not a discovery path */
  function serveDiscovery(res: ServerResponse, p: string): boolean {
    const gv = (group: string, version: string) => ({ groupVersion: group ? `${group}/${version}` : version, version });
    const apiGroup = (g: ReturnType<typeof discoveryGroups>[number]) => ({
      name: g.name,
      versions: g.versions.map((v) => gv(g.name, v.version)),
      preferredVersion: gv(g.name, g.versions[0].version),
    });
    const resourceList = (group: string, version: string, resources: FakeAPIResource[]) => ({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: gv(group, version).groupVersion,
      resources: resources.map((r) => ({
        name: r.name,
        singularName: r.name.includes('/') ? '' : r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: r.verbs ?? ALL_VERBS,
        ...(r.shortNames ? { shortNames: r.shortNames } : {}),
      })),
    });
    let m: RegExpExecArray | null;
    if (p === '/api' || p === '/api/') {
      send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: url.slice('https://'.length) }] });
    } else if (p === '/api/v1') {
      send(res, 200, resourceList('', 'v1', BUILTIN_DISCOVERY[0].resources));
    } else if (p === '/apis' || p === '/apis/') {
      send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: discoveryGroups().filter((g) => g.name !== '').map(apiGroup) });
    } else if ((m = /^\/apis\/([^/]+)$/.exec(p))) {
      const g = discoveryGroups().find((x) => x.name === m![1] && x.name !== '');
      if (!g) return false;
      send(res, 200, { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g) });
    } else if ((m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(p))) {
      const g = discoveryGroups().find((x) => x.name === m![1] && x.name !== '');
      const v = g?.versions.find((x) => x.version === m![2]);
      if (!v) return false;
      if (!v.resources) send(res, 503, status(503, 'the server is currently unable to handle the request'));
      else send(res, 200, resourceList(g!.name, v.version, v.resources));
    } else return false;
    return true;
  }

  /** RFC 7386; for an Event's scalar fields a strategic merge patch does the same */
  const mergePatch = (target: any, patch: any): any => {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
    const out = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...target } : {};
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = mergePatch(out[k], v);
    }
    return out;
  };

  function serveEvents(req: IncomingMessage, res: ServerResponse, ns: string, name: string | undefined, body: any): void {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    if (req.method === 'POST' && name === undefined) {
      const n = body?.metadata?.name;
      if (!n) return send(res, 422, status(422, 'Event "" is invalid: metadata.name: Required value: name or generateName is required', { kind: 'Event' }));
      if (body.metadata.namespace && body.metadata.namespace !== ns) return send(res, 400, status(400, 'the namespace of the provided object does not match the namespace sent on the request'));
      if (events.has(`${ns}/${n}`)) return send(res, 409, status(409, `events "${n}" already exists`, { name: n, kind: 'events' }));
      const ev = { ...body, kind: 'Event', apiVersion: 'v1', metadata: { ...body.metadata, namespace: ns, uid: randomUUID(), resourceVersion: String(++rv), creationTimestamp: now } };
      events.set(`${ns}/${n}`, ev);
      return send(res, 201, ev);
    }
    if (req.method === 'PATCH' && name !== undefined) {
      const type = (req.headers['content-type'] ?? '').split(';')[0];
      if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json')
        return send(res, 415, status(415, `the fake API server takes merge and strategic merge patches of events, not ${type}`));
      const old = events.get(`${ns}/${name}`);
      if (!old) return send(res, 404, status(404, `events "${name}" not found`, { name, kind: 'events' }));
      const ev = mergePatch(old, body);
      ev.metadata = { ...old.metadata, resourceVersion: String(++rv) };
      events.set(`${ns}/${name}`, ev);
      return send(res, 200, ev);
    }
    send(res, 405, status(405, 'the server does not allow this method on the requested resource'));
  }

  function tokenReview(body: any): any {
    const spec = body?.spec ?? {};
    const user = typeof spec.token === 'string' ? fake.tokens.get(spec.token) : undefined;
    const wanted: string[] = spec.audiences ?? [];
    const has = user?.audiences ?? [API_AUDIENCE];
    const audiences = wanted.length ? wanted.filter((a) => has.includes(a)) : has;
    let st: any;
    if (!user) st = { user: {}, error: 'invalid bearer token' };
    else if (!audiences.length) st = { user: {}, error: 'invalid bearer token, token audiences is invalid for the target audiences' };
    else {
      const u: any = { username: user.username };
      if (user.uid) u.uid = user.uid;
      if (user.groups) u.groups = user.groups;
      if (user.extra) u.extra = user.extra;
      st = { authenticated: true, user: u, audiences };
    }
    return { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: st };
  }

  function subjectAccessReview(res: ServerResponse, body: any): void {
    const spec = body?.spec ?? {};
    const errs: string[] = [];
    if (!spec.resourceAttributes === !spec.nonResourceAttributes) errs.push(`spec: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified`);
    if (!spec.user && !spec.groups?.length) errs.push(`spec.user: Invalid value: "": at least one of user or group must be specified`);
    if (errs.length) {
      const msg = errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`;
      return send(res, 422, status(422, `SubjectAccessReview.authorization.k8s.io "" is invalid: ${msg}`, { group: 'authorization.k8s.io', kind: 'SubjectAccessReview' }));
    }
    const d = fake.sar(spec);
    const st: any = { allowed: d.allowed };
    if (d.denied) st.denied = true;
    if (d.reason) st.reason = d.reason;
    if (d.evaluationError) st.evaluationError = d.evaluationError;
    send(res, 201, { kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: st });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://fake');
    const entry: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: url.search.slice(1), ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}) };
    fake.requests.push(entry);
    const text = await readBody(req);
    if (text) {
      try {
        entry.body = JSON.parse(text);
      } catch {
        return send(res, 400, status(400, `the body of the request was in an unknown format - accepted media types include: application/json`));
      }
    }
    if (req.headers.authorization !== `Bearer ${token}`) return send(res, 401, status(401, 'Unauthorized'));
    const f = failures.find((x) => url.pathname.startsWith(x.prefix));
    if (f) {
      if (--f.times <= 0) failures.splice(failures.indexOf(f), 1);
      if (f.code === 429) res.setHeader('Retry-After', '1');
      return send(res, f.code, status(f.code, `injected failure ${f.code}`));
    }
    const p = url.pathname;
    if (p === '/apis/authentication.k8s.io/v1/tokenreviews' && req.method === 'POST') return send(res, 201, tokenReview(entry.body));
    if (p === '/apis/authorization.k8s.io/v1/subjectaccessreviews' && req.method === 'POST') return subjectAccessReview(res, entry.body);
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/(configmaps|secrets)(?:\/([^/]+))?$/.exec(p);
    if (m) return serveObjects(req, res, m[2] as Kind, decodeURIComponent(m[1]), m[3] === undefined ? undefined : decodeURIComponent(m[3]), url.searchParams);
    const e = /^\/api\/v1\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/.exec(p);
    if (e) return serveEvents(req, res, decodeURIComponent(e[1]), e[2] === undefined ? undefined : decodeURIComponent(e[2]), entry.body);
    const c = /^\/apis\/(?:apiextensions\.k8s\.io\/v1\/(customresourcedefinitions)|apiregistration\.k8s\.io\/v1\/(apiservices))(?:\/([^/]+))?$/.exec(p);
    if (c) return serveObjects(req, res, (c[1] ?? c[2]) as Kind, '', c[3] === undefined ? undefined : decodeURIComponent(c[3]), url.searchParams);
    if (req.method === 'GET' && serveDiscovery(res, p)) return;
    send(res, 404, status(404, 'the server could not find the requested resource', { causes: [{ reason: 'UnexpectedServerResponse', message: '404 page not found' }] }));
  }

  const server = https.createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) send(res, 500, status(500, String(e)));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const kubeconfigPath = path.join(dir, 'kubeconfig');
  await writeFile(
    kubeconfigPath,
    stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake', cluster: { server: url, 'certificate-authority-data': Buffer.from(ca.cert).toString('base64') } }],
        users: [{ name: 'fake', user: { token } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake' } }],
        'current-context': 'fake',
      },
      { lineWidth: 0 },
    ),
  );

  const fake: FakeKube = {
    url,
    caCert: ca.cert,
    kubeconfigPath,
    token,
    tokens: new Map(),
    sar: () => ({ allowed: false }),
    requests: [],
    setConfigMap: (ns, name, data) => put('configmaps', ns, name, { data: { ...data } }),
    deleteConfigMap: (ns, name) => remove('configmaps', ns, name),
    setSecret: (ns, name, type, data) =>
      put('secrets', ns, name, { type, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])) }),
    deleteSecret: (ns, name) => remove('secrets', ns, name),
    setCRD(spec, labels) {
      const { group, names, scope } = spec;
      const accepted = { kind: names.kind, listKind: `${names.kind}List`, plural: names.plural, singular: names.singular ?? names.kind.toLowerCase(), ...(names.shortNames ? { shortNames: names.shortNames } : {}) };
      const named = spec.versions.some((v) => v.storage);
      const versions = spec.versions.map((v, i) => ({ ...v, storage: named ? !!v.storage : i === 0 }));
      const conditions = [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found' },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' },
      ];
      put('customresourcedefinitions', '', `${names.plural}.${group}`, { spec: { group, names: accepted, scope, versions }, status: { acceptedNames: accepted, conditions, storedVersions: versions.filter((v) => v.storage).map((v) => v.name) } }, labels);
    },
    deleteCRD: (name) => remove('customresourcedefinitions', '', name),
    setAPIService(group, version, resources) {
      const name = `${version}.${group}`;
      aggregated.set(name, resources && resources.map((r) => ({ ...r })));
      const available = resources
        ? { type: 'Available', status: 'True', reason: 'Passed', message: 'all checks passed' }
        : { type: 'Available', status: 'False', reason: 'FailedDiscoveryCheck', message: `failing or missing response from https://10.96.0.10:443/apis/${group}/${version}` };
      put('apiservices', '', name, {
        spec: { group, version, service: { namespace: 'default', name: 'aggregated', port: 443 }, groupPriorityMinimum: 1000, versionPriority: 15 },
        status: { conditions: [available] },
      });
    },
    deleteAPIService(name) {
      aggregated.delete(name);
      remove('apiservices', '', name);
    },
    events: () => [...events.values()],
    deleteEvent: (ns, name) => void events.delete(`${ns}/${name}`),
    failNext(prefix, code, times = 1) {
      failures.push({ prefix, code, times });
    },
    clearFailures() {
      failures.length = 0;
    },
    expireHistory() {
      history = [];
      oldestWatchable = ++rv; // as if something else was written: every resourceVersion seen so far is too old
    },
    closeWatches() {
      for (const w of watchers) {
        watchers.delete(w); // no later event is written to an ended stream
        w.res.end();
      }
    },
    watchCount: () => watchers.size,
    async close() {
      for (const w of watchers) w.res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fake;
}

/** Fakes with a client-node KubeConfig for each, for a test file: `closeAll` closes every one made. */
export function fakeKubes(): { fake(): Promise<{ kube: FakeKube; kc: KubeConfig }>; closeAll(): Promise<void> } {
  const made: FakeKube[] = [];
  return {
    async fake() {
      const kube = await startFakeKube();
      made.push(kube);
      const kc = new KubeConfig();
      kc.loadFromFile(kube.kubeconfigPath);
      return { kube, kc };
    },
    closeAll: async () => void (await Promise.all(made.map((f) => f.close()))),
  };
}
