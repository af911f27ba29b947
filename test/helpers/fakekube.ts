// A stand-in for kube-apiserver in tests (there is none on these machines): an HTTPS server that
// speaks exactly the parts of its API that pkgserver uses in a cluster, in kube's JSON shapes:
// TokenReview and SubjectAccessReview creation, get, list and watch of ConfigMaps and Secrets
// in a namespace (field selector `metadata.name` only), and core v1 Events as an EventRecorder
// writes them (create; merge or strategic merge patch). Every request needs the kubeconfig's
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

type Kind = 'configmaps' | 'secrets';
const KINDS: Record<Kind, string> = { configmaps: 'ConfigMap', secrets: 'Secret' };

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

  const matches = (w: Watcher, kind: Kind, obj: any) =>
    w.kind === kind && w.ns === obj.metadata.namespace && (w.name === undefined || w.name === obj.metadata.name);

  const writeEvent = (res: ServerResponse, type: string, object: any) => res.write(`${JSON.stringify({ type, object })}\n`);

  function record(kind: Kind, type: EventType, object: any): void {
    const e: KEvent = { rv: Number(object.metadata.resourceVersion), kind, type, object };
    history.push(e);
    if (history.length > HISTORY) oldestWatchable = history.shift()!.rv;
    for (const w of watchers) if (matches(w, kind, object)) writeEvent(w.res, type, object);
  }

  function put(kind: Kind, ns: string, name: string, fields: Record<string, unknown>): void {
    const key = `${kind}/${ns}/${name}`;
    const old = objects.get(key);
    const metadata = old
      ? { ...old.metadata, resourceVersion: String(++rv) }
      : { name, namespace: ns, uid: randomUUID(), resourceVersion: String(++rv), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
    const obj = { kind: KINDS[kind], apiVersion: 'v1', metadata, ...fields };
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
    const selected = [...objects.values()].filter((o) => o.metadata.namespace === ns && (sel.name === undefined || o.metadata.name === sel.name) && o.kind === KINDS[kind]);
    if (q.get('watch') !== 'true' && q.get('watch') !== '1') {
      return send(res, 200, { kind: `${KINDS[kind]}List`, apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items: selected.map(asItem) });
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
      for (const w of watchers) w.res.end();
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
