// Protocol tests: raw HTTPS against the real server, checking the request/response shapes
// kube-apiserver gives kubectl and client libraries (reference/k8s-protocol.md §1, §4; SPEC 3.7)
// for config.pkg.pkgserver.dev/v1alpha1 repositories and packagevariants.
//
// One shared server (bookmarks every second) serves most tests; each test works in its own
// namespace, so tests run concurrently. A second server with a tiny watch window
// (--watch-cache-size 2) serves the "too old" cases (410 Expired on continue and on watch); those
// tests are serial, as any write to repositories there moves the window for everyone.
import test, { type ExecutionContext } from 'ava';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { adminTLS, startServer, type ServerHandle } from './helpers/server.ts';
import { headerValues, HttpClient, type HttpResponse, type WatchEvent, type WatchStream } from './helpers/http.ts';
import { VERSION } from '../src/version.ts';

const GROUP = 'config.pkg.pkgserver.dev';
const VERSION_ = 'v1alpha1';
const GV = `${GROUP}/${VERSION_}`;
const repos = (ns?: string) => (ns ? `/apis/${GV}/namespaces/${ns}/repositories` : `/apis/${GV}/repositories`);
const variants = (ns?: string) => (ns ? `/apis/${GV}/namespaces/${ns}/packagevariants` : `/apis/${GV}/packagevariants`);

const ACCEPT_DISCOVERY_133 =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
const ACCEPT_DISCOVERY_127 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
const ACCEPT_TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const MERGE = 'application/merge-patch+json';
const JSONPATCH = 'application/json-patch+json';
const SMP = 'application/strategic-merge-patch+json';
const APPLY = 'application/apply-patch+yaml';

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const AGE = /^\d+s$/;
/** k8s.io/apimachinery's message for a name that is not a DNS-1123 subdomain. */
const notSubdomain = (v: string) =>
  `Invalid value: "${v}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`;

let server: ServerHandle;
let small: ServerHandle;
let api: HttpClient;
let smallApi: HttpClient;

test.before(async () => {
  [server, small] = await Promise.all([
    startServer({ args: ['--bookmark-interval', '1'] }),
    startServer({ args: ['--watch-cache-size', '2'] }),
  ]);
  api = new HttpClient(server.url, adminTLS(server));
  smallApi = new HttpClient(small.url, adminTLS(small));
});

test.after.always(async () => {
  await Promise.all([server?.stop(), small?.stop()]);
});

// ---------------------------------------------------------------- helpers

type Obj = Record<string, any>;

function repository(name: string, opts: { labels?: Record<string, string>; spec?: Obj; meta?: Obj; status?: Obj } = {}): Obj {
  return {
    apiVersion: GV,
    kind: 'Repository',
    metadata: { name, ...(opts.labels ? { labels: opts.labels } : {}), ...(opts.meta ?? {}) },
    spec: { git: { url: `https://git.example.com/org/${name}.git` }, ...(opts.spec ?? {}) },
    ...(opts.status ? { status: opts.status } : {}),
  };
}

function variant(name: string, spec: Obj = {}): Obj {
  return {
    apiVersion: GV,
    kind: 'PackageVariant',
    metadata: { name },
    spec: {
      upstream: { repository: 'catalog', realm: 'infra/net', package: 'nginx', revision: 'v2' },
      downstream: { target: 'cluster01', repository: 'deploy', realm: 'infra/net', package: 'nginx' },
      ...spec,
    },
  };
}

/** The defaulted spec of `repository(name)`. */
const defaultedSpec = (name: string, over: Obj = {}) => ({
  git: { url: `https://git.example.com/org/${name}.git`, ref: 'main', directory: '' },
  type: 'git',
  deployment: false,
  sync: { period: '60s' },
  approval: { requireDistinctApprover: false },
  ...over,
});

async function create(t: ExecutionContext, path: string, body: Obj): Promise<Obj> {
  const r = await api.post(path, body);
  t.is(r.status, 201, `create ${body.metadata?.name}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const mkRepo = (t: ExecutionContext, ns: string, name: string, opts?: Parameters<typeof repository>[1]) => create(t, repos(ns), repository(name, opts));

/** Asserts a metav1.Status error response. */
function isStatus(t: ExecutionContext, r: HttpResponse, code: number, reason: string, message?: string | RegExp): void {
  t.is(r.status, code, JSON.stringify(r.body));
  t.is(r.headers['content-type'], 'application/json');
  t.is(r.body?.kind, 'Status');
  t.is(r.body?.apiVersion, 'v1');
  t.is(r.body?.status, 'Failure');
  t.is(r.body?.code, code);
  t.is(r.body?.reason, reason);
  if (typeof message === 'string') t.is(r.body?.message, message);
  else if (message) t.regex(r.body?.message, message);
}

const names = (items: Obj[]) => items.map((o) => o.metadata.name);
const conflictMessage = (name: string) =>
  `Operation cannot be fulfilled on repositories.${GROUP} "${name}": the object has been modified; please apply your changes to the latest version and try again`;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms).unref())]);
}

async function watch(t: ExecutionContext, path: string, opts: { accept?: string; client?: HttpClient } = {}): Promise<WatchStream> {
  const w = await withTimeout((opts.client ?? api).stream(path, { headers: opts.accept ? { Accept: opts.accept } : {} }), 30_000, `watch ${path}`);
  t.teardown(() => w.close());
  return w;
}

/** type, name and resourceVersion of each event: the part of a watch stream most assertions care about. */
const summary = (events: WatchEvent[]) => events.map((e) => [e.type, e.object?.metadata?.name, e.object?.metadata?.resourceVersion]);

// ---------------------------------------------------------------- transport, health, version

test('authentication: no client certificate → 401 Status; health endpoints need none', async (t) => {
  for (const path of ['/apis', repos('anon'), '/openapi/v3', '/metrics']) {
    const r = await api.get(path, { anonymous: true });
    t.is(r.status, 401, path);
    t.deepEqual(r.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 }, path);
  }
  for (const path of ['/healthz', '/livez', '/readyz']) {
    const r = await api.get(path, { anonymous: true });
    t.is(r.status, 200, path);
    t.is(r.body, 'ok', path);
    t.regex(String(r.headers['content-type']), /^text\/plain/, path);
  }
});

test('/version reports the server version as JSON', async (t) => {
  const r = await api.get('/version');
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  const [major, minor] = VERSION.split('.');
  t.deepEqual(r.body, {
    major,
    minor,
    gitVersion: `v${VERSION}`,
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '',
    goVersion: `node${process.versions.node}`,
    compiler: 'tsx',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  });
});

test('a body over 3 MiB is 413 RequestEntityTooLarge and creates nothing', async (t) => {
  const body = JSON.stringify({ ...repository('big'), pad: 'x'.repeat(3 * 1024 * 1024) });
  const r = await api.post(repos('too-large'), body);
  isStatus(t, r, 413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
  isStatus(t, await api.get(`${repos('too-large')}/big`), 404, 'NotFound');
});

// ---------------------------------------------------------------- discovery

const responseKind = (kind: string) => ({ group: GROUP, version: VERSION_, kind });
const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const SUB_VERBS = ['get', 'patch', 'update'];
const DISCOVERY_GROUP = {
  metadata: { name: GROUP, creationTimestamp: null },
  versions: [
    {
      version: VERSION_,
      freshness: 'Current',
      resources: [
        {
          resource: 'repositories',
          responseKind: responseKind('Repository'),
          scope: 'Namespaced',
          singularResource: 'repository',
          verbs: VERBS,
          shortNames: ['repo'],
          categories: ['pkg'],
          subresources: [{ subresource: 'status', responseKind: responseKind('Repository'), verbs: SUB_VERBS }],
        },
        {
          resource: 'packagevariants',
          responseKind: responseKind('PackageVariant'),
          scope: 'Namespaced',
          singularResource: 'packagevariant',
          verbs: VERBS,
          shortNames: ['pv'],
          categories: ['pkg'],
          subresources: [{ subresource: 'status', responseKind: responseKind('PackageVariant'), verbs: SUB_VERBS }],
        },
      ],
    },
  ],
};

test('discovery: kubectl 1.33 Accept gets aggregated apidiscovery.k8s.io/v2 with the Content-Type echoed', async (t) => {
  const r = await api.get('/apis', { headers: { Accept: ACCEPT_DISCOVERY_133 } });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
  t.is(r.body.kind, 'APIGroupDiscoveryList');
  t.is(r.body.apiVersion, 'apidiscovery.k8s.io/v2');
  t.deepEqual(r.body.metadata, {});
  t.deepEqual(
    r.body.items.find((g: Obj) => g.metadata.name === GROUP),
    DISCOVERY_GROUP,
  );
});

test('discovery: kubectl 1.27 Accept (v2beta1 first) gets v2beta1', async (t) => {
  const r = await api.get('/apis', { headers: { Accept: ACCEPT_DISCOVERY_127 } });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList');
  t.is(r.body.kind, 'APIGroupDiscoveryList');
  t.is(r.body.apiVersion, 'apidiscovery.k8s.io/v2beta1');
  t.deepEqual(
    r.body.items.find((g: Obj) => g.metadata.name === GROUP),
    DISCOVERY_GROUP,
  );
});

test('discovery: plain application/json gets the legacy APIGroupList', async (t) => {
  const r = await api.get('/apis', { headers: { Accept: 'application/json' } });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  t.is(r.body.kind, 'APIGroupList');
  t.is(r.body.apiVersion, 'v1');
  const gv = { groupVersion: GV, version: VERSION_ };
  t.deepEqual(
    r.body.groups.find((g: Obj) => g.name === GROUP),
    { name: GROUP, versions: [gv], preferredVersion: gv },
  );
});

test('discovery: ETag and If-None-Match → 304, per representation', async (t) => {
  const v2 = await api.get('/apis', { headers: { Accept: ACCEPT_DISCOVERY_133 } });
  const v2beta1 = await api.get('/apis', { headers: { Accept: ACCEPT_DISCOVERY_127 } });
  const legacy = await api.get('/apis', { headers: { Accept: 'application/json' } });
  const tag = v2.headers.etag!;
  t.regex(tag, /^"[0-9a-f]{32}"$/);
  t.not(v2beta1.headers.etag, tag);
  t.not(legacy.headers.etag, tag);
  t.is(v2.headers.vary, 'Accept');

  const again = await api.get('/apis', { headers: { Accept: ACCEPT_DISCOVERY_133, 'If-None-Match': tag } });
  t.is(again.status, 304);
  t.is(again.raw.length, 0);
  t.is(again.headers.etag, tag);

  const stale = await api.get('/apis', { headers: { Accept: ACCEPT_DISCOVERY_133, 'If-None-Match': '"0000"' } });
  t.is(stale.status, 200);
  t.deepEqual(stale.body, v2.body);
  // the v2 tag does not match the v2beta1 document
  const other = await api.get('/apis', { headers: { Accept: ACCEPT_DISCOVERY_127, 'If-None-Match': tag } });
  t.is(other.status, 200);
  t.is(other.body.apiVersion, 'apidiscovery.k8s.io/v2beta1');
});

test('discovery: /api lists the core group (v1, events and namespaces: test/events.test.ts), /apis/G/V is an APIResourceList with status subresources, /apis/G an APIGroup', async (t) => {
  const core = await api.get('/api', { headers: { Accept: 'application/json' } });
  t.is(core.status, 200);
  t.is(core.body.kind, 'APIVersions');
  t.deepEqual(core.body.versions, ['v1']);

  const rl = await api.get(`/apis/${GV}`);
  t.is(rl.status, 200);
  t.is(rl.headers['content-type'], 'application/json');
  t.deepEqual(rl.body, {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: GV,
    resources: [
      { name: 'repositories', singularName: 'repository', namespaced: true, kind: 'Repository', verbs: VERBS, shortNames: ['repo'], categories: ['pkg'] },
      { name: 'repositories/status', singularName: '', namespaced: true, kind: 'Repository', verbs: SUB_VERBS },
      { name: 'packagevariants', singularName: 'packagevariant', namespaced: true, kind: 'PackageVariant', verbs: VERBS, shortNames: ['pv'], categories: ['pkg'] },
      { name: 'packagevariants/status', singularName: '', namespaced: true, kind: 'PackageVariant', verbs: SUB_VERBS },
    ],
  });

  const g = await api.get(`/apis/${GROUP}`);
  t.is(g.status, 200);
  const gv = { groupVersion: GV, version: VERSION_ };
  t.deepEqual(g.body, { kind: 'APIGroup', apiVersion: 'v1', name: GROUP, versions: [gv], preferredVersion: gv });

  isStatus(t, await api.get('/apis/nope.example.com'), 404, 'NotFound', 'the server could not find the requested resource');
  isStatus(t, await api.get('/apis/nope.example.com/v1'), 404, 'NotFound', 'the server could not find the requested resource');
  isStatus(t, await api.get(`/apis/${GROUP}/v9`), 404, 'NotFound', 'the server could not find the requested resource');
  isStatus(t, await api.get(`/apis/${GV}/namespaces/x/widgets`), 404, 'NotFound', 'the server could not find the requested resource');
  isStatus(t, await api.get(`${repos('x')}/a/bogus`), 404, 'NotFound', 'the server could not find the requested resource');
});

// ---------------------------------------------------------------- OpenAPI

test('OpenAPI v3: root lists the group-version with a hash; the document carries GVKs and PATCH details', async (t) => {
  const root = await api.get('/openapi/v3');
  t.is(root.status, 200);
  const entry = root.body.paths[`apis/${GV}`];
  t.regex(entry?.serverRelativeURL, new RegExp(`^/openapi/v3/apis/${GV.replace(/\./g, '\\.')}\\?hash=[0-9A-F]{128}$`));

  const doc = await api.get(entry.serverRelativeURL, { headers: { Accept: 'application/json' } });
  t.is(doc.status, 200);
  t.is(doc.headers['content-type'], 'application/json');
  t.is(doc.headers['cache-control'], 'public, immutable');
  // the hash is kube-apiserver's: uppercase SHA-512 of the served document
  t.is(createHash('sha512').update(doc.raw).digest('hex').toUpperCase(), entry.serverRelativeURL.split('hash=')[1]);
  t.is(doc.body.openapi, '3.0.0');

  const schemas = doc.body.components.schemas;
  for (const kind of ['Repository', 'PackageVariant']) {
    t.deepEqual(schemas[`dev.pkgserver.pkg.config.v1alpha1.${kind}`]['x-kubernetes-group-version-kind'], [responseKind(kind)], kind);
    t.deepEqual(schemas[`dev.pkgserver.pkg.config.v1alpha1.${kind}List`]['x-kubernetes-group-version-kind'], [responseKind(`${kind}List`)], kind);
  }
  t.deepEqual(schemas['dev.pkgserver.pkg.config.v1alpha1.Repository'].properties.spec.properties.type.enum, ['git']);

  const itemPaths = [
    ['repositories', 'Repository'],
    ['packagevariants', 'PackageVariant'],
  ].flatMap(([plural, kind]) => [
    [`/apis/${GV}/namespaces/{namespace}/${plural}/{name}`, kind],
    [`/apis/${GV}/namespaces/{namespace}/${plural}/{name}/status`, kind],
  ]);
  for (const [path, kind] of itemPaths) {
    const patch = doc.body.paths[path]?.patch;
    t.truthy(patch, path);
    t.deepEqual(patch['x-kubernetes-group-version-kind'], responseKind(kind), path);
    t.is(patch['x-kubernetes-action'], 'patch', path);
    const fv = patch.parameters.find((p: Obj) => p.name === 'fieldValidation');
    t.is(fv?.in, 'query', path);
    t.deepEqual(Object.keys(patch.requestBody.content), [JSONPATCH, MERGE, SMP, APPLY], path);
  }
  isStatus(t, await api.get('/openapi/v3/apis/nope.example.com/v1'), 404, 'NotFound');
});

test('OpenAPI v2: Swagger 2.0 JSON, and gnostic protobuf when asked as kubectl 1.27 does', async (t) => {
  const json = await api.get('/openapi/v2', { headers: { Accept: 'application/json' } });
  t.is(json.status, 200);
  t.is(json.headers['content-type'], 'application/json');
  t.is(json.body.swagger, '2.0');
  const item = json.body.paths[`/apis/${GV}/namespaces/{namespace}/repositories/{name}`];
  t.deepEqual(item.patch.consumes, [JSONPATCH, MERGE, SMP, APPLY]);
  t.deepEqual(item.patch['x-kubernetes-group-version-kind'], responseKind('Repository'));
  t.true(item.patch.parameters.some((p: Obj) => p.name === 'fieldValidation' && p.in === 'query'));
  t.deepEqual(json.body.definitions['dev.pkgserver.pkg.config.v1alpha1.Repository']['x-kubernetes-group-version-kind'], [responseKind('Repository')]);

  const pb = await api.get('/openapi/v2', { headers: { Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' } });
  t.is(pb.status, 200);
  t.is(pb.headers['content-type'], 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
  t.throws(() => JSON.parse(pb.raw.toString('utf8')));
  const root = new protobuf.Root();
  await root.load(fileURLToPath(new URL('../src/apiserver/openapi/OpenAPIv2.proto', import.meta.url)), { keepCase: true });
  const Document = root.lookupType('openapi.v2.Document');
  const decoded = Document.toObject(Document.decode(pb.raw), { longs: Number }) as Obj;
  t.is(decoded.swagger, '2.0');
  t.deepEqual(
    decoded.paths.path.map((p: Obj) => p.name),
    Object.keys(json.body.paths),
  );
});

// ---------------------------------------------------------------- create

test('create: 201 with system fields and defaults; status in the body is dropped', async (t) => {
  const ns = 'create-defaults';
  const before = Date.now();
  const r = await api.post(repos(ns), repository('r1', { status: { packageCount: 3 } }));
  t.is(r.status, 201);
  t.is(r.headers['content-type'], 'application/json');
  const o = r.body;
  t.is(o.apiVersion, GV);
  t.is(o.kind, 'Repository');
  t.is(o.metadata.name, 'r1');
  t.is(o.metadata.namespace, ns);
  t.regex(o.metadata.uid, UUID);
  t.regex(o.metadata.creationTimestamp, TIMESTAMP);
  t.true(Math.abs(Date.parse(o.metadata.creationTimestamp) - before) < 5000);
  t.is(o.metadata.generation, 1);
  t.is(typeof o.metadata.resourceVersion, 'string');
  t.regex(o.metadata.resourceVersion, /^[1-9]\d*$/);
  t.deepEqual(o.spec, defaultedSpec('r1'));
  t.false('status' in o);
  // the create is recorded as the request's manager (no fieldManager: its User-Agent's prefix)
  t.is(o.metadata.managedFields.length, 1);
  t.like(o.metadata.managedFields[0], { apiVersion: GV, fieldsType: 'FieldsV1', operation: 'Update' });

  const g = await api.get(`${repos(ns)}/r1`);
  t.is(g.status, 200);
  t.deepEqual(g.body, o);

  // a PackageVariant gets its own defaults
  const pv = await create(t, variants(ns), variant('v1'));
  t.is(pv.spec.adoptionPolicy, 'adoptNone');
  t.is(pv.spec.deletionPolicy, 'delete');
  t.is(pv.kind, 'PackageVariant');
  t.is(pv.metadata.generation, 1);
});

test('create: an existing name is 409 AlreadyExists with details', async (t) => {
  const ns = 'create-exists';
  await mkRepo(t, ns, 'dup');
  const r = await api.post(repos(ns), repository('dup', { spec: { git: { url: 'https://git.example.com/other.git' } } }));
  isStatus(t, r, 409, 'AlreadyExists', `repositories.${GROUP} "dup" already exists`);
  t.deepEqual(r.body.details, { name: 'dup', group: GROUP, kind: 'repositories' });
});

test('create: malformed requests are 400 BadRequest', async (t) => {
  const ns = 'create-bad';
  const mismatch = await api.post(repos(ns), repository('m', { meta: { namespace: 'elsewhere' } }));
  isStatus(t, mismatch, 400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');

  const kind = await api.post(repos(ns), { ...repository('k'), kind: 'PackageVariant' });
  isStatus(t, kind, 400, 'BadRequest', 'PackageVariant in version "v1alpha1" cannot be handled as a Repository: the kind must be Repository');

  const apiVersion = await api.post(repos(ns), { ...repository('v'), apiVersion: 'config.pkg.pkgserver.dev/v1' });
  isStatus(t, apiVersion, 400, 'BadRequest', 'the API version in the data (config.pkg.pkgserver.dev/v1) does not match the expected API version (config.pkg.pkgserver.dev/v1alpha1)');

  const json = await api.post(repos(ns), '{"metadata":');
  isStatus(t, json, 400, 'BadRequest', 'the request body could not be decoded: Unexpected end of JSON input');

  const list = await api.get(repos(ns));
  t.deepEqual(list.body.items, []);
});

test('create: a YAML body (Content-Type application/yaml) works', async (t) => {
  const ns = 'create-yaml';
  const yaml = `apiVersion: ${GV}
kind: Repository
metadata:
  name: from-yaml
  labels: {app: web}
spec:
  deployment: true
  git:
    url: https://git.example.com/org/from-yaml.git
    directory: packages
`;
  const r = await api.post(repos(ns), yaml, { contentType: 'application/yaml' });
  t.is(r.status, 201, JSON.stringify(r.body));
  t.is(r.headers['content-type'], 'application/json');
  t.deepEqual(r.body.metadata.labels, { app: 'web' });
  t.deepEqual(r.body.spec, defaultedSpec('from-yaml', { deployment: true, git: { url: 'https://git.example.com/org/from-yaml.git', ref: 'main', directory: 'packages' } }));
});

test('create: generateName makes a unique name from the prefix', async (t) => {
  const ns = 'create-generate';
  const body = (i: number) => {
    const o = repository('x', { spec: { git: { url: `https://git.example.com/org/gen-${i}.git` } } });
    o.metadata = { generateName: 'gen-' };
    return o;
  };
  const a = await create(t, repos(ns), body(1));
  const b = await create(t, repos(ns), body(2));
  t.regex(a.metadata.name, /^gen-[a-z0-9]{5}$/);
  t.regex(b.metadata.name, /^gen-[a-z0-9]{5}$/);
  t.not(a.metadata.name, b.metadata.name);
  t.is(a.metadata.generateName, 'gen-');
  t.is((await api.get(`${repos(ns)}/${a.metadata.name}`)).status, 200);
});

test('create: 422 Invalid lists every cause at once', async (t) => {
  const ns = 'create-invalid';
  const r = await api.post(repos(ns), {
    apiVersion: GV,
    kind: 'Repository',
    metadata: { name: 'Bad_Name', labels: { 'bad key': 'v' } },
    spec: { git: { url: 'ftp://example.com/x', ref: 'a..b' }, sync: { period: 'soon' } },
  });
  isStatus(t, r, 422, 'Invalid');
  const causes: Obj[] = r.body.details.causes;
  t.deepEqual(
    causes.map((c) => [c.field, c.reason]).sort(),
    [
      ['metadata.labels', 'FieldValueInvalid'],
      ['metadata.name', 'FieldValueInvalid'],
      ['spec.git.ref', 'FieldValueInvalid'],
      ['spec.git.url', 'FieldValueInvalid'],
      ['spec.sync.period', 'FieldValueInvalid'],
    ],
  );
  const prefix = `Repository.${GROUP} "Bad_Name" is invalid: [`;
  t.true(r.body.message.startsWith(prefix), r.body.message);
  t.is(r.body.message, `${prefix}${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}]`);
  t.is(r.body.details.name, 'Bad_Name');
  t.is(r.body.details.group, GROUP);
  t.is(r.body.details.kind, 'Repository');
  t.is(causes.find((c) => c.field === 'spec.sync.period')!.message, 'Invalid value: "soon": must be a duration of at least 1s and at most 24h, such as "30s", "5m" or "1h30m"');
  t.is(causes.find((c) => c.field === 'spec.git.ref')!.message, 'Invalid value: "a..b": must be a valid git branch name (git check-ref-format --branch): no control characters, space, ~ ^ : ? * [ \\, "..", "@{", empty segments, a segment starting with "." or ending with ".lock", a leading "-" or a trailing "."');
  t.is(causes.find((c) => c.field === 'metadata.name')!.message, notSubdomain('Bad_Name'));

  // schema errors (wrong type, unsupported value) are listed with the metadata errors
  const s = await api.post(repos(ns), {
    metadata: { name: 'Also_Bad' },
    spec: { type: 'svn', deployment: 'yes', git: { url: 'https://git.example.com/org/x.git' } },
  });
  isStatus(t, s, 422, 'Invalid');
  t.deepEqual(
    s.body.details.causes.map((c: Obj) => [c.field, c.reason, c.message]).sort(),
    [
      ['metadata.name', 'FieldValueInvalid', notSubdomain('Also_Bad')],
      ['spec.deployment', 'FieldValueTypeInvalid', 'Invalid value: "string": spec.deployment in body must be of type boolean: "string"'],
      ['spec.type', 'FieldValueNotSupported', 'Unsupported value: "svn": supported values: "git"'],
    ],
  );
  t.deepEqual((await api.get(repos(ns))).body.items, []);
});

test('create: bad metadata.labels alone is 422', async (t) => {
  const ns = 'create-labels';
  const r = await api.post(repos(ns), repository('l1', { labels: { app: 'not valid!' } }));
  isStatus(t, r, 422, 'Invalid');
  t.deepEqual(r.body.details.causes.map((c: Obj) => [c.field, c.reason]), [['metadata.labels', 'FieldValueInvalid']]);
  t.regex(r.body.message, /^Repository\.config\.pkg\.pkgserver\.dev "l1" is invalid: metadata\.labels: Invalid value: "not valid!": /);

  const pv = await api.post(variants(ns), variant('v1', { upstream: { repository: 'catalog', package: 'nginx', revision: 'not a range' } }));
  isStatus(t, pv, 422, 'Invalid', `PackageVariant.${GROUP} "v1" is invalid: spec.upstream.revision: Invalid value: "not a range": must be a revision ("v2"), a semver range (">=1.2 <2") or "*"`);
});

// ---------------------------------------------------------------- fieldValidation

function unknownFieldsBody(name: string): Obj {
  return { apiVersion: GV, kind: 'Repository', metadata: { name }, spec: { git: { url: `https://git.example.com/org/${name}.git`, y: 1 }, x: 2 } };
}

test('fieldValidation=Strict: 400 listing each unknown field, nothing created', async (t) => {
  const ns = 'fv-strict';
  const r = await api.post(`${repos(ns)}?fieldValidation=Strict`, unknownFieldsBody('s1'));
  isStatus(t, r, 400, 'BadRequest', 'Repository in version "v1alpha1" cannot be handled as a Repository: strict decoding error: unknown field "spec.git.y", unknown field "spec.x"');
  t.deepEqual(r.body.details.causes.map((c: Obj) => c.field), ['spec.git.y', 'spec.x']);
  isStatus(t, await api.get(`${repos(ns)}/s1`), 404, 'NotFound');
});

test('fieldValidation=Warn and the default: one Warning header per unknown field, fields dropped', async (t) => {
  const ns = 'fv-warn';
  for (const [name, query] of [
    ['w1', '?fieldValidation=Warn'],
    ['w2', ''],
  ]) {
    const r = await api.post(`${repos(ns)}${query}`, unknownFieldsBody(name));
    t.is(r.status, 201, name);
    t.deepEqual(headerValues(r, 'Warning'), ['299 - "unknown field \\"spec.git.y\\""', '299 - "unknown field \\"spec.x\\""'], name);
    t.deepEqual(r.body.spec, defaultedSpec(name), name);
    const g = await api.get(`${repos(ns)}/${name}`);
    t.false('x' in g.body.spec);
    t.false('y' in g.body.spec.git);
  }
  // updates and patches warn the same way
  const cur = (await api.get(`${repos(ns)}/w1`)).body;
  const put = await api.put(`${repos(ns)}/w1`, { ...cur, spec: { ...cur.spec, bogus: true } });
  t.is(put.status, 200);
  t.deepEqual(headerValues(put, 'Warning'), ['299 - "unknown field \\"spec.bogus\\""']);
  const patch = await api.patch(`${repos(ns)}/w1`, { spec: { other: 1 } }, MERGE);
  t.is(patch.status, 200);
  t.deepEqual(headerValues(patch, 'Warning'), ['299 - "unknown field \\"spec.other\\""']);
});

test('fieldValidation=Ignore drops unknown fields silently; an invalid value is rejected', async (t) => {
  const ns = 'fv-ignore';
  const r = await api.post(`${repos(ns)}?fieldValidation=Ignore`, unknownFieldsBody('i1'));
  t.is(r.status, 201);
  t.deepEqual(headerValues(r, 'Warning'), []);
  t.deepEqual(r.body.spec, defaultedSpec('i1'));

  // as kube-apiserver: validation.ValidateCreateOptions → 422 Invalid on CreateOptions.meta.k8s.io
  const bad = await api.post(`${repos(ns)}?fieldValidation=Bogus`, unknownFieldsBody('i2'));
  isStatus(t, bad, 422, 'Invalid', 'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus": supported values: "", "Ignore", "Strict", "Warn"');
  t.deepEqual(bad.body.details, {
    group: 'meta.k8s.io',
    kind: 'CreateOptions',
    causes: [{ reason: 'FieldValueNotSupported', message: 'Unsupported value: "Bogus": supported values: "", "Ignore", "Strict", "Warn"', field: 'fieldValidation' }],
  });
  isStatus(t, await api.get(`${repos(ns)}/i2`), 404, 'NotFound');
  const badPatch = await api.patch(`${repos(ns)}/i1?fieldValidation=strict`, { metadata: { labels: { a: 'b' } } }, MERGE);
  isStatus(t, badPatch, 422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": supported values: "", "Ignore", "Strict", "Warn"');
  t.is((await api.get(`${repos(ns)}/i1`)).body.metadata.labels, undefined);
});

// ---------------------------------------------------------------- update (PUT)

test('update: resourceVersion is required, a stale one is 409 Conflict, the name must match the URL', async (t) => {
  const ns = 'update-rv';
  const o = await mkRepo(t, ns, 'u1');
  const path = `${repos(ns)}/u1`;

  const { resourceVersion: _rv, ...meta } = o.metadata;
  const noRV = await api.put(path, { ...o, metadata: meta });
  isStatus(t, noRV, 422, 'Invalid', `Repository.${GROUP} "u1" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`);
  t.deepEqual(noRV.body.details, {
    name: 'u1',
    group: GROUP,
    kind: 'Repository',
    causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: 0x0: must be specified for an update', field: 'metadata.resourceVersion' }],
  });

  const first = await api.put(path, { ...o, metadata: { ...o.metadata, labels: { a: '1' } } });
  t.is(first.status, 200);
  const stale = await api.put(path, { ...o, metadata: { ...o.metadata, labels: { a: '2' } } });
  isStatus(t, stale, 409, 'Conflict', conflictMessage('u1'));
  t.deepEqual(stale.body.details, { name: 'u1', group: GROUP, kind: 'repositories' });
  t.deepEqual((await api.get(path)).body.metadata.labels, { a: '1' });

  const cur = first.body;
  const renamed = await api.put(path, { ...cur, metadata: { ...cur.metadata, name: 'u2' } });
  isStatus(t, renamed, 400, 'BadRequest', 'the name of the object (u2) does not match the name on the URL (u1)');

  isStatus(t, await api.put(`${repos(ns)}/missing`, { ...cur, metadata: { ...cur.metadata, name: 'missing' } }), 404, 'NotFound', `repositories.${GROUP} "missing" not found`);
});

test('update: generation bumps on spec changes only; a no-op keeps the resourceVersion', async (t) => {
  const ns = 'update-generation';
  const o = await mkRepo(t, ns, 'g1');
  const path = `${repos(ns)}/g1`;

  const labels = await api.put(path, { ...o, metadata: { ...o.metadata, labels: { team: 'a' } } });
  t.is(labels.status, 200);
  t.is(labels.body.metadata.generation, 1);
  t.not(labels.body.metadata.resourceVersion, o.metadata.resourceVersion);
  t.true(Number(labels.body.metadata.resourceVersion) > Number(o.metadata.resourceVersion));
  t.is(labels.body.metadata.uid, o.metadata.uid);
  t.is(labels.body.metadata.creationTimestamp, o.metadata.creationTimestamp);

  const spec = await api.put(path, { ...labels.body, spec: { ...labels.body.spec, deployment: true } });
  t.is(spec.status, 200);
  t.is(spec.body.metadata.generation, 2);
  t.is(spec.body.spec.deployment, true);

  const same = await api.put(path, spec.body);
  t.is(same.status, 200);
  t.is(same.body.metadata.resourceVersion, spec.body.metadata.resourceVersion);
  t.deepEqual(same.body, spec.body);
  t.is((await api.get(path)).body.metadata.resourceVersion, spec.body.metadata.resourceVersion);

  // system fields in the body are ignored
  const sys = await api.put(path, { ...spec.body, metadata: { ...spec.body.metadata, generation: 40, uid: spec.body.metadata.uid, creationTimestamp: '2001-01-01T00:00:00Z' } });
  t.is(sys.status, 200);
  t.is(sys.body.metadata.generation, 2);
  t.is(sys.body.metadata.creationTimestamp, o.metadata.creationTimestamp);
  t.is(sys.body.metadata.resourceVersion, spec.body.metadata.resourceVersion);
});

test('update: immutable spec.git.url and a missing spec are 422', async (t) => {
  const ns = 'update-immutable';
  const o = await mkRepo(t, ns, 'im');
  const path = `${repos(ns)}/im`;
  const url = 'https://git.example.com/org/elsewhere.git';
  const r = await api.put(path, { ...o, spec: { ...o.spec, git: { ...o.spec.git, url } } });
  isStatus(t, r, 422, 'Invalid', `Repository.${GROUP} "im" is invalid: spec.git.url: Invalid value: "${url}": field is immutable`);
  t.deepEqual(r.body.details.causes, [{ reason: 'FieldValueInvalid', message: `Invalid value: "${url}": field is immutable`, field: 'spec.git.url' }]);

  const p = await api.patch(path, { spec: { git: { ref: 'release' } } }, MERGE);
  isStatus(t, p, 422, 'Invalid', `Repository.${GROUP} "im" is invalid: spec.git.ref: Invalid value: "release": field is immutable`);

  const noSpec = await api.put(path, { apiVersion: GV, kind: 'Repository', metadata: { name: 'im', resourceVersion: o.metadata.resourceVersion } });
  isStatus(t, noSpec, 422, 'Invalid', `Repository.${GROUP} "im" is invalid: spec: Required value`);
  const nullSpec = await api.patch(path, { spec: null }, MERGE);
  isStatus(t, nullSpec, 422, 'Invalid', `Repository.${GROUP} "im" is invalid: spec: Required value`);
  t.deepEqual((await api.get(path)).body, o);

  const pv = await create(t, variants(ns), variant('v1'));
  const moved = await api.patch(`${variants(ns)}/v1`, { spec: { downstream: { target: 'cluster02' } } }, MERGE);
  isStatus(t, moved, 422, 'Invalid', `PackageVariant.${GROUP} "v1" is invalid: spec.downstream.target: Invalid value: "cluster02": field is immutable`);
  const noPVSpec = await api.put(`${variants(ns)}/v1`, { metadata: { name: 'v1', resourceVersion: pv.metadata.resourceVersion } });
  isStatus(t, noPVSpec, 422, 'Invalid', `PackageVariant.${GROUP} "v1" is invalid: spec: Required value`);
});

test('status subresource: PUT/PATCH change only status; main-resource writes ignore status', async (t) => {
  const ns = 'status-sub';
  const o = await mkRepo(t, ns, 's1');
  const path = `${repos(ns)}/s1`;

  const get = await api.get(`${path}/status`);
  t.is(get.status, 200);
  t.deepEqual(get.body, o);

  const ready = { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok', lastTransitionTime: '2024-01-01T00:00:00Z' };
  const put = await api.put(`${path}/status`, { ...o, metadata: { ...o.metadata, labels: { ignored: 'yes' } }, spec: { ...o.spec, deployment: true }, status: { packageCount: 4, conditions: [ready] } });
  t.is(put.status, 200, JSON.stringify(put.body));
  t.deepEqual(put.body.status, { packageCount: 4, conditions: [ready] });
  t.is(put.body.spec.deployment, false);
  t.is(put.body.metadata.labels, undefined);
  t.is(put.body.metadata.generation, 1);
  t.not(put.body.metadata.resourceVersion, o.metadata.resourceVersion);

  const patch = await api.patch(`${path}/status`, { spec: { deployment: true }, status: { revisionCount: 9 } }, MERGE);
  t.is(patch.status, 200);
  t.deepEqual(patch.body.status, { packageCount: 4, conditions: [ready], revisionCount: 9 });
  t.is(patch.body.spec.deployment, false);

  // strategic merge on status.conditions merges by type; as kube's normalizeElementOrder, items
  // of the patch that the live list lacks come first
  const synced = { type: 'Synced', status: 'False', reason: 'Pending' };
  const smp = await api.patch(`${path}/status`, { status: { conditions: [synced] } }, SMP);
  t.is(smp.status, 200);
  t.deepEqual(smp.body.status.conditions, [synced, ready]);
  const readyAgain = await api.patch(`${path}/status`, { status: { conditions: [{ type: 'Ready', message: 'still ok' }] } }, SMP);
  t.deepEqual(readyAgain.body.status.conditions, [synced, { ...ready, message: 'still ok' }]);
  const del = await api.patch(`${path}/status`, { status: { conditions: [{ type: 'Ready', $patch: 'delete' }] } }, SMP);
  t.is(del.status, 200);
  t.deepEqual(del.body.status.conditions, [synced]);

  const main = await api.patch(path, { status: { packageCount: 100 }, metadata: { labels: { a: 'b' } } }, MERGE);
  t.is(main.status, 200);
  t.is(main.body.status.packageCount, 4);
  t.deepEqual(main.body.metadata.labels, { a: 'b' });
  const mainPut = await api.put(path, { ...main.body, status: {} });
  t.is(mainPut.status, 200);
  t.deepEqual(mainPut.body.status, main.body.status);
  t.is(mainPut.body.metadata.resourceVersion, main.body.metadata.resourceVersion);
  t.deepEqual((await api.get(path)).body, main.body);
});

// ---------------------------------------------------------------- patch

test('patch: merge, JSON and strategic merge patches', async (t) => {
  const ns = 'patch-types';
  await mkRepo(t, ns, 'p1', { labels: { a: '1', b: '2' } });
  const path = `${repos(ns)}/p1`;

  const merge = await api.patch(path, { metadata: { labels: { b: null, c: '3' } }, spec: { sync: { period: '5m' } } }, MERGE);
  t.is(merge.status, 200);
  t.deepEqual(merge.body.metadata.labels, { a: '1', c: '3' });
  t.is(merge.body.spec.sync.period, '5m');
  t.is(merge.body.metadata.generation, 2);

  const json = await api.patch(
    path,
    [
      { op: 'test', path: '/spec/sync/period', value: '5m' },
      { op: 'replace', path: '/spec/deployment', value: true },
      { op: 'add', path: '/metadata/annotations', value: { note: 'x' } },
    ],
    JSONPATCH,
  );
  t.is(json.status, 200);
  t.is(json.body.spec.deployment, true);
  t.deepEqual(json.body.metadata.annotations, { note: 'x' });
  t.is(json.body.metadata.generation, 3);

  const failing = await api.patch(
    path,
    [
      { op: 'replace', path: '/spec/deployment', value: false },
      { op: 'test', path: '/spec/type', value: 'svn' },
    ],
    JSONPATCH,
  );
  isStatus(t, failing, 422, 'Invalid', 'the JSON patch does not apply: test operation failed (op "test" at "/spec/type")');
  t.deepEqual((await api.get(path)).body, json.body);

  const smp = await api.patch(path, { metadata: { labels: { d: '4' }, finalizers: ['example.com/a'] } }, SMP);
  t.is(smp.status, 200);
  t.deepEqual(smp.body.metadata.labels, { a: '1', c: '3', d: '4' });
  const smp2 = await api.patch(path, { metadata: { finalizers: ['example.com/b'] } }, SMP);
  t.deepEqual(smp2.body.metadata.finalizers, ['example.com/b', 'example.com/a']); // a set: merged, patch items first (kube's order)
  const dropLabels = await api.patch(path, { metadata: { labels: { $patch: 'delete' }, finalizers: null } }, SMP);
  t.is(dropLabels.status, 200);
  t.is(dropLabels.body.metadata.labels, undefined);
  t.is(dropLabels.body.metadata.finalizers, undefined);
  t.deepEqual(dropLabels.body.metadata.annotations, { note: 'x' });
  t.is(dropLabels.body.metadata.generation, 3);
});

test('patch: 415 for apply-patch+cbor and unknown types, with the accepted types listed', async (t) => {
  const ns = 'patch-415';
  const o = await mkRepo(t, ns, 'p1');
  const msg = `the body of the request was in an unknown format - accepted media types include: ${JSONPATCH}, ${MERGE}, ${SMP}, ${APPLY}`;
  for (const type of ['application/apply-patch+cbor', 'text/plain', 'application/json']) {
    const r = await api.patch(`${repos(ns)}/p1`, '{"metadata":{"labels":{"a":"b"}}}', type);
    isStatus(t, r, 415, 'UnsupportedMediaType', msg);
  }
  t.deepEqual((await api.get(`${repos(ns)}/p1`)).body, o);
});

test('patch: a patch that sets a stale metadata.resourceVersion is 409; the current one applies', async (t) => {
  const ns = 'patch-rv';
  const o = await mkRepo(t, ns, 'p1');
  const path = `${repos(ns)}/p1`;
  const moved = await api.patch(path, { metadata: { labels: { a: '1' } } }, MERGE);
  const stale = await api.patch(path, { metadata: { resourceVersion: o.metadata.resourceVersion, labels: { a: '2' } } }, MERGE);
  isStatus(t, stale, 409, 'Conflict', conflictMessage('p1'));
  const ok = await api.patch(path, { metadata: { resourceVersion: moved.body.metadata.resourceVersion, labels: { a: '3' } } }, MERGE);
  t.is(ok.status, 200);
  t.deepEqual(ok.body.metadata.labels, { a: '3' });
  isStatus(t, await api.patch(`${repos(ns)}/nope`, { metadata: { labels: { a: '1' } } }, MERGE), 404, 'NotFound', `repositories.${GROUP} "nope" not found`);
});

// ---------------------------------------------------------------- dry run

test('dryRun=All on create, PUT, PATCH and DELETE changes nothing', async (t) => {
  const ns = 'dry-run';
  const created = await api.post(`${repos(ns)}?dryRun=All`, repository('d0'));
  t.is(created.status, 201);
  t.is(created.body.metadata.name, 'd0');
  t.deepEqual(created.body.spec, defaultedSpec('d0'));
  t.false('resourceVersion' in created.body.metadata);
  isStatus(t, await api.get(`${repos(ns)}/d0`), 404, 'NotFound');

  const o = await mkRepo(t, ns, 'd1');
  const path = `${repos(ns)}/d1`;
  // a dry-run create of an existing name fails as the real one would
  isStatus(t, await api.post(`${repos(ns)}?dryRun=All`, repository('d1')), 409, 'AlreadyExists', `repositories.${GROUP} "d1" already exists`);

  const put = await api.put(`${path}?dryRun=All`, { ...o, spec: { ...o.spec, deployment: true } });
  t.is(put.status, 200);
  t.is(put.body.spec.deployment, true);
  t.is(put.body.metadata.generation, 2);
  const patch = await api.patch(`${path}?dryRun=All`, { metadata: { labels: { x: 'y' } } }, MERGE);
  t.is(patch.status, 200);
  t.deepEqual(patch.body.metadata.labels, { x: 'y' });
  const del = await api.delete(path, { dryRun: ['All'] });
  t.is(del.status, 200);
  t.is(del.body.metadata.name, 'd1');
  const delQuery = await api.delete(`${path}?dryRun=All`);
  t.is(delQuery.status, 200);

  const after = await api.get(path);
  t.is(after.status, 200);
  t.deepEqual(after.body, o);
  t.is(after.body.metadata.resourceVersion, o.metadata.resourceVersion);
  t.deepEqual(names((await api.get(repos(ns))).body.items), ['d1']);
});

test('dryRun: an invalid value is 422 on the options kind and changes nothing', async (t) => {
  const ns = 'dry-run-bad';
  const o = await mkRepo(t, ns, 'd1');
  const path = `${repos(ns)}/d1`;
  const msg = (kind: string, list: string) => `${kind}.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{${list}}: supported values: "All"`;

  isStatus(t, await api.post(`${repos(ns)}?dryRun=Foo`, repository('d2')), 422, 'Invalid', msg('CreateOptions', '"Foo"'));
  isStatus(t, await api.put(`${path}?dryRun=All&dryRun=x`, { ...o, metadata: { ...o.metadata, labels: { a: 'b' } } }), 422, 'Invalid', msg('UpdateOptions', '"All", "x"'));
  isStatus(t, await api.patch(`${path}?dryRun=true`, { metadata: { labels: { a: 'b' } } }, MERGE), 422, 'Invalid', msg('PatchOptions', '"true"'));
  const del = await api.delete(path, { dryRun: ['Server'] });
  isStatus(t, del, 422, 'Invalid', msg('DeleteOptions', '"Server"'));
  t.deepEqual(del.body.details, { group: 'meta.k8s.io', kind: 'DeleteOptions', causes: [{ reason: 'FieldValueNotSupported', message: 'Unsupported value: []string{"Server"}: supported values: "All"', field: 'dryRun' }] });

  t.deepEqual((await api.get(path)).body, o);
  isStatus(t, await api.get(`${repos(ns)}/d2`), 404, 'NotFound');
});

// ---------------------------------------------------------------- delete

test('delete: 200 with the object, then 404 NotFound with details', async (t) => {
  const ns = 'delete-plain';
  const o = await mkRepo(t, ns, 'x1');
  const path = `${repos(ns)}/x1`;
  const r = await api.delete(path, { propagationPolicy: 'Background' });
  t.is(r.status, 200);
  t.is(r.body.kind, 'Repository');
  t.is(r.body.metadata.uid, o.metadata.uid);
  t.deepEqual(r.body.spec, o.spec);
  t.true(Number(r.body.metadata.resourceVersion) > Number(o.metadata.resourceVersion));

  const gone = await api.get(path);
  isStatus(t, gone, 404, 'NotFound', `repositories.${GROUP} "x1" not found`);
  t.deepEqual(gone.body.details, { name: 'x1', group: GROUP, kind: 'repositories' });
  isStatus(t, await api.delete(path), 404, 'NotFound', `repositories.${GROUP} "x1" not found`);

  const pv = await create(t, variants(ns), variant('v1'));
  t.is((await api.delete(`${variants(ns)}/v1`)).status, 200);
  const pvGone = await api.get(`${variants(ns)}/v1`);
  isStatus(t, pvGone, 404, 'NotFound', `packagevariants.${GROUP} "v1" not found`);
  t.deepEqual(pvGone.body.details, { name: 'v1', group: GROUP, kind: 'packagevariants' });
  t.truthy(pv.metadata.uid);
});

test('delete: finalizers keep the object with a deletionTimestamp until the last one is removed', async (t) => {
  const ns = 'delete-finalizers';
  await mkRepo(t, ns, 'f1', { meta: { finalizers: ['example.com/hold', 'example.com/other'] } });
  const path = `${repos(ns)}/f1`;
  const listRV = (await api.get(repos(ns))).body.metadata.resourceVersion;
  const w = await watch(t, `${repos(ns)}?watch=true&resourceVersion=${listRV}`);

  // a dry run answers what the delete would do (a deletionTimestamp) and stores nothing
  const stored = (await api.get(path)).body.metadata.resourceVersion;
  const dry = await api.request('DELETE', path, { body: { dryRun: ['All'] } });
  t.is(dry.status, 200);
  t.regex(dry.body.metadata.deletionTimestamp, TIMESTAMP);
  const after = await api.get(path);
  t.is(after.body.metadata.deletionTimestamp, undefined);
  t.is(after.body.metadata.resourceVersion, stored, 'nothing was written');

  const del = await api.delete(path);
  t.is(del.status, 200);
  t.regex(del.body.metadata.deletionTimestamp, TIMESTAMP);
  t.deepEqual(del.body.metadata.finalizers, ['example.com/hold', 'example.com/other']);
  const held = await api.get(path);
  t.is(held.status, 200);
  t.is(held.body.metadata.deletionTimestamp, del.body.metadata.deletionTimestamp);

  // deleting again changes nothing
  const again = await api.delete(path);
  t.is(again.status, 200);
  t.is(again.body.metadata.resourceVersion, del.body.metadata.resourceVersion);

  const one = await api.patch(path, { metadata: { finalizers: ['example.com/other'] } }, MERGE);
  t.is(one.status, 200);
  t.deepEqual(one.body.metadata.finalizers, ['example.com/other']);
  t.is((await api.get(path)).status, 200);

  const last = await api.patch(path, { metadata: { finalizers: null } }, MERGE);
  t.is(last.status, 200);
  isStatus(t, await api.get(path), 404, 'NotFound');

  const events = await w.until((e) => e.type === 'DELETED');
  t.deepEqual(
    events.map((e) => e.type),
    ['MODIFIED', 'MODIFIED', 'DELETED'],
  );
  t.regex(events[0].object.metadata.deletionTimestamp, TIMESTAMP);
  t.is(events[2].object.metadata.name, 'f1');
  t.is(events[2].object.metadata.resourceVersion, last.body.metadata.resourceVersion);
});

test('delete: preconditions with a wrong uid or resourceVersion are 409', async (t) => {
  const ns = 'delete-preconditions';
  const o = await mkRepo(t, ns, 'p1');
  const path = `${repos(ns)}/p1`;
  const uid = await api.delete(path, { preconditions: { uid: 'not-the-uid' } });
  isStatus(t, uid, 409, 'Conflict', `Operation cannot be fulfilled on repositories.${GROUP} "p1": Precondition failed: UID in precondition: not-the-uid, UID in object meta: ${o.metadata.uid}`);
  t.deepEqual(uid.body.details, { name: 'p1', group: GROUP, kind: 'repositories' });
  const rv = await api.delete(path, { preconditions: { resourceVersion: '1' } });
  isStatus(t, rv, 409, 'Conflict', `Operation cannot be fulfilled on repositories.${GROUP} "p1": Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: ${o.metadata.resourceVersion}`);
  t.deepEqual((await api.get(path)).body, o);

  const ok = await api.delete(path, { preconditions: { uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion } });
  t.is(ok.status, 200);
  isStatus(t, await api.get(path), 404, 'NotFound');
});

// ---------------------------------------------------------------- list

test('list: RepositoryList whose items carry apiVersion and kind; PackageVariantList', async (t) => {
  const ns = 'list-kinds';
  const a = await mkRepo(t, ns, 'a');
  const b = await mkRepo(t, ns, 'b');
  const r = await api.get(repos(ns));
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  t.is(r.body.apiVersion, GV);
  t.is(r.body.kind, 'RepositoryList');
  t.regex(r.body.metadata.resourceVersion, /^\d+$/);
  t.true(Number(r.body.metadata.resourceVersion) >= Number(b.metadata.resourceVersion));
  t.false('continue' in r.body.metadata);
  t.false('remainingItemCount' in r.body.metadata);
  t.deepEqual(r.body.items, [a, b]);

  await create(t, variants(ns), variant('v1'));
  const pv = await api.get(variants(ns));
  t.is(pv.body.kind, 'PackageVariantList');
  t.deepEqual(
    pv.body.items.map((o: Obj) => [o.apiVersion, o.kind, o.metadata.name]),
    [[GV, 'PackageVariant', 'v1']],
  );
});

test('list: limit/continue pages in key order with remainingItemCount, from one consistent snapshot', async (t) => {
  const ns = 'list-paging';
  for (const n of ['a', 'b', 'c', 'd', 'e']) await mkRepo(t, ns, n);
  const p1 = await api.get(`${repos(ns)}?limit=2`);
  t.is(p1.status, 200);
  t.deepEqual(names(p1.body.items), ['a', 'b']);
  t.is(p1.body.metadata.remainingItemCount, 3);
  t.is(typeof p1.body.metadata.continue, 'string');
  const rv = p1.body.metadata.resourceVersion;

  // written between pages: not part of this list
  await mkRepo(t, ns, 'bb');
  await mkRepo(t, ns, 'f');
  await api.delete(`${repos(ns)}/d`);
  await api.patch(`${repos(ns)}/c`, { metadata: { labels: { late: 'yes' } } }, MERGE);

  const p2 = await api.get(`${repos(ns)}?limit=2&continue=${encodeURIComponent(p1.body.metadata.continue)}`);
  t.is(p2.status, 200);
  t.deepEqual(names(p2.body.items), ['c', 'd']);
  t.is(p2.body.items[0].metadata.labels, undefined);
  t.is(p2.body.metadata.remainingItemCount, 1);
  t.is(p2.body.metadata.resourceVersion, rv);

  const p3 = await api.get(`${repos(ns)}?limit=2&continue=${encodeURIComponent(p2.body.metadata.continue)}`);
  t.deepEqual(names(p3.body.items), ['e']);
  t.false('continue' in p3.body.metadata);
  t.false('remainingItemCount' in p3.body.metadata);
  t.is(p3.body.metadata.resourceVersion, rv);

  t.deepEqual(names((await api.get(repos(ns))).body.items), ['a', 'b', 'bb', 'c', 'e', 'f']);

  // with a selector there is no remainingItemCount
  const sel = await api.get(`${repos(ns)}?limit=1&labelSelector=${encodeURIComponent('!late')}`);
  t.deepEqual(names(sel.body.items), ['a']);
  t.is(typeof sel.body.metadata.continue, 'string');
  t.false('remainingItemCount' in sel.body.metadata);

  isStatus(t, await api.get(`${repos(ns)}?limit=2&continue=garbage`), 400, 'BadRequest', 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
});

test.serial('list: a continue token older than the watch window is 410 Expired with a token that continues', async (t) => {
  const ns = 'list-expired';
  const mk = async (n: string) => t.is((await smallApi.post(repos(ns), repository(n))).status, 201);
  for (const n of ['a', 'b', 'c']) await mk(n);
  const p1 = await smallApi.get(`${repos(ns)}?limit=1`);
  t.deepEqual(names(p1.body.items), ['a']);
  // more writes than the window (2 events) holds
  for (const n of ['d', 'e', 'f']) await mk(n);

  const expired = await smallApi.get(`${repos(ns)}?limit=2&continue=${encodeURIComponent(p1.body.metadata.continue)}`);
  isStatus(
    t,
    expired,
    410,
    'Expired',
    'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
  );
  const token = expired.body.metadata.continue;
  t.is(typeof token, 'string');
  t.not(token, p1.body.metadata.continue);

  const rest: string[] = [];
  let next: string | undefined = token;
  while (next) {
    const page = await smallApi.get(`${repos(ns)}?limit=2&continue=${encodeURIComponent(next)}`);
    t.is(page.status, 200);
    rest.push(...names(page.body.items));
    next = page.body.metadata.continue;
  }
  t.deepEqual(rest, ['b', 'c', 'd', 'e', 'f']);
});

test('list: label selectors with set syntax; an invalid one is 400', async (t) => {
  const ns = 'list-labels';
  await mkRepo(t, ns, 'a', { labels: { app: 'web', tier: 'fe' } });
  await mkRepo(t, ns, 'b', { labels: { app: 'db', tier: 'be' } });
  await mkRepo(t, ns, 'c', { labels: { app: 'web' } });
  await mkRepo(t, ns, 'd');
  const sel = async (s: string) => {
    const r = await api.get(`${repos(ns)}?labelSelector=${encodeURIComponent(s)}`);
    t.is(r.status, 200, s);
    return names(r.body.items);
  };
  t.deepEqual(await sel('app in (web,db)'), ['a', 'b', 'c']);
  t.deepEqual(await sel('app notin (web)'), ['b', 'd']);
  t.deepEqual(await sel('!tier'), ['c', 'd']);
  t.deepEqual(await sel('tier'), ['a', 'b']);
  t.deepEqual(await sel('app=web,tier'), ['a']);
  t.deepEqual(await sel('app==web,!tier'), ['c']);
  t.deepEqual(await sel('app!=web'), ['b', 'd']);
  t.deepEqual(await sel('app in (web), tier notin (fe)'), ['c']);
  t.deepEqual(await sel('app=nothing'), []);

  isStatus(t, await api.get(`${repos(ns)}?labelSelector=${encodeURIComponent('app in (web')}`), 400, 'BadRequest', "unable to parse requirement: found 'end of string', expected: ',' or ')'");
  isStatus(t, await api.get(`${repos(ns)}?labelSelector=${encodeURIComponent('app=we b')}`), 400, 'BadRequest', /^unable to parse requirement: /);
});

test('list: field selectors metadata.name, metadata.namespace, spec.deployment, with != ; unknown field → 400', async (t) => {
  const ns = 'list-fields';
  await mkRepo(t, ns, 'a', { spec: { deployment: true } });
  await mkRepo(t, ns, 'b');
  await mkRepo(t, ns, 'c', { spec: { deployment: true } });
  const sel = async (s: string, path = repos(ns)) => {
    const r = await api.get(`${path}?fieldSelector=${encodeURIComponent(s)}`);
    t.is(r.status, 200, s);
    return names(r.body.items);
  };
  t.deepEqual(await sel('metadata.name=b'), ['b']);
  t.deepEqual(await sel('metadata.name==c'), ['c']);
  t.deepEqual(await sel('metadata.name!=b'), ['a', 'c']);
  t.deepEqual(await sel('metadata.name=zzz'), []);
  t.deepEqual(await sel(`metadata.namespace=${ns}`), ['a', 'b', 'c']);
  t.deepEqual(await sel(`metadata.namespace=${ns},metadata.name=a`, repos()), ['a']);
  t.deepEqual(await sel('spec.deployment=true'), ['a', 'c']);
  t.deepEqual(await sel('spec.deployment!=true'), ['b']);
  t.deepEqual(await sel('spec.deployment=true,metadata.name!=a'), ['c']);
  t.deepEqual(await sel('spec.type=git,spec.git.ref=main'), ['a', 'b', 'c']);

  isStatus(t, await api.get(`${repos(ns)}?fieldSelector=${encodeURIComponent('spec.foo=x')}`), 400, 'BadRequest', 'field label not supported: spec.foo');
  isStatus(t, await api.get(`${variants(ns)}?fieldSelector=${encodeURIComponent('spec.deployment=true')}`), 400, 'BadRequest', 'field label not supported: spec.deployment');

  await create(t, variants(ns), variant('v1'));
  t.deepEqual(await sel('spec.downstream.target=cluster01', variants(ns)), ['v1']);
  t.deepEqual(await sel('spec.downstream.target!=cluster01', variants(ns)), []);
});

test('list: all namespaces, ordered by namespace then name', async (t) => {
  const mark = { suite: 'list-all-ns' };
  await mkRepo(t, 'list-all-b', 'x', { labels: mark });
  await mkRepo(t, 'list-all-a', 'y', { labels: mark });
  await mkRepo(t, 'list-all-a', 'x', { labels: mark });
  const r = await api.get(`${repos()}?labelSelector=suite%3Dlist-all-ns`);
  t.is(r.status, 200);
  t.is(r.body.kind, 'RepositoryList');
  t.deepEqual(
    r.body.items.map((o: Obj) => `${o.metadata.namespace}/${o.metadata.name}`),
    ['list-all-a/x', 'list-all-a/y', 'list-all-b/x'],
  );
  // a namespaced list sees its own namespace only
  t.deepEqual(names((await api.get(repos('list-all-b'))).body.items), ['x']);
});

test('list: resourceVersionMatch=Exact returns the state at that revision', async (t) => {
  const ns = 'list-exact';
  await mkRepo(t, ns, 'a', { labels: { v: '1' } });
  const v1 = await api.patch(`${repos(ns)}/a`, { metadata: { labels: { v: '2' } } }, MERGE);
  const rv = v1.body.metadata.resourceVersion;
  await api.patch(`${repos(ns)}/a`, { metadata: { labels: { v: '3' } } }, MERGE);
  await mkRepo(t, ns, 'b');

  const exact = await api.get(`${repos(ns)}?resourceVersion=${rv}&resourceVersionMatch=Exact`);
  t.is(exact.status, 200);
  t.is(exact.body.metadata.resourceVersion, rv);
  t.deepEqual(exact.body.items, [v1.body]);

  const now = await api.get(repos(ns));
  t.deepEqual(
    now.body.items.map((o: Obj) => [o.metadata.name, o.metadata.labels?.v]),
    [
      ['a', '3'],
      ['b', undefined],
    ],
  );

  const future = await api.get(`${repos(ns)}?resourceVersion=999999999&resourceVersionMatch=Exact`);
  isStatus(t, future, 504, 'Timeout', /^Timeout: Too large resource version: 999999999, current: \d+$/);
});

// ---------------------------------------------------------------- Table and metadata representations

const NAME_COLUMN = ['Name', 'string', 'name', 0];
const REPO_COLUMNS = [
  NAME_COLUMN,
  ['Deployment', 'boolean', '', 0],
  ['Type', 'string', '', 0],
  ['Address', 'string', '', 0],
  ['Ready', 'string', '', 0],
  ['Packages', 'integer', '', 0],
  ['Age', 'string', '', 0],
  ['Ref', 'string', '', 1],
  ['Directory', 'string', '', 1],
  ['Last-Sync', 'string', '', 1],
];
const PV_COLUMNS = [NAME_COLUMN, ['Upstream', 'string', '', 0], ['Downstream', 'string', '', 0], ['Ready', 'string', '', 0], ['Age', 'string', '', 0], ['Adoption', 'string', '', 1], ['Deletion', 'string', '', 1]];

function checkColumns(t: ExecutionContext, table: Obj, expected: unknown[][]): void {
  const defs: Obj[] = table.columnDefinitions;
  t.deepEqual(
    defs.map((c) => [c.name, c.type, c.format, c.priority]),
    expected,
  );
  for (const c of defs) t.true(typeof c.description === 'string' && c.description.length > 0, c.name);
}

/** Cells of a Repository row, with the age cells checked and replaced by "AGE". */
function repoCells(t: ExecutionContext, row: Obj): unknown[] {
  const cells = [...row.cells];
  t.regex(cells[6], AGE);
  cells[6] = 'AGE';
  return cells;
}

const partial = (o: Obj, version = 'v1') => ({ kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: o.metadata });

test('Table: kubectl get columns (SPEC 3.7), PartialObjectMetadata rows by default', async (t) => {
  const ns = 'table-list';
  const a = await mkRepo(t, ns, 'a', { labels: { app: 'web' } });
  await mkRepo(t, ns, 'b', { spec: { deployment: true, git: { url: 'https://git.example.com/org/b.git', ref: 'prod', directory: 'clusters' } } });
  const ready = { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok', lastTransitionTime: '2024-01-01T00:00:00Z' };
  const synced = await api.patch(`${repos(ns)}/b/status`, { status: { conditions: [ready], packageCount: 7, lastSyncTime: new Date(Date.now() - 5000).toISOString().replace(/\.\d+Z$/, 'Z') } }, MERGE);
  t.is(synced.status, 200);

  const r = await api.get(`${repos(ns)}?limit=500`, { headers: { Accept: ACCEPT_TABLE } });
  t.is(r.status, 200);
  t.is(r.headers['content-type'], 'application/json');
  t.is(r.body.kind, 'Table');
  t.is(r.body.apiVersion, 'meta.k8s.io/v1');
  t.regex(r.body.metadata.resourceVersion, /^\d+$/);
  checkColumns(t, r.body, REPO_COLUMNS);
  t.is(r.body.rows.length, 2);
  t.deepEqual(repoCells(t, r.body.rows[0]), ['a', false, 'git', 'https://git.example.com/org/a.git', 'Unknown', 0, 'AGE', 'main', '/', '<unknown>']);
  const bCells = repoCells(t, r.body.rows[1]);
  t.regex(String(bCells[9]), AGE);
  t.deepEqual(bCells.slice(0, 9), ['b', true, 'git', 'https://git.example.com/org/b.git', 'True', 7, 'AGE', 'prod', 'clusters']);
  t.deepEqual(r.body.rows[0].object, partial(a));
  t.deepEqual(r.body.rows[1].object, partial(synced.body));

  // paging metadata is carried by the Table
  const paged = await api.get(`${repos(ns)}?limit=1`, { headers: { Accept: ACCEPT_TABLE } });
  t.is(paged.body.rows.length, 1);
  t.is(paged.body.metadata.remainingItemCount, 1);
  t.is(typeof paged.body.metadata.continue, 'string');

  // PackageVariant columns
  await create(t, variants(ns), variant('v1'));
  const pv = await api.get(variants(ns), { headers: { Accept: ACCEPT_TABLE } });
  checkColumns(t, pv.body, PV_COLUMNS);
  const cells = [...pv.body.rows[0].cells];
  t.regex(cells[4], AGE);
  t.deepEqual(cells, ['v1', 'catalog/infra/net/nginx@v2', 'cluster01/deploy/infra/net/nginx', 'Unknown', cells[4], 'adoptNone', 'delete']);
});

test('Table: includeObject None and Object, v1beta1, single GET, subresource GET', async (t) => {
  const ns = 'table-options';
  const a = await mkRepo(t, ns, 'a');

  const none = await api.get(`${repos(ns)}?includeObject=None`, { headers: { Accept: ACCEPT_TABLE } });
  t.is(none.body.rows.length, 1);
  t.false('object' in none.body.rows[0]);
  const full = await api.get(`${repos(ns)}?includeObject=Object`, { headers: { Accept: ACCEPT_TABLE } });
  t.deepEqual(full.body.rows[0].object, a);
  isStatus(t, await api.get(`${repos(ns)}?includeObject=All`, { headers: { Accept: ACCEPT_TABLE } }), 400, 'BadRequest');

  const beta = await api.get(repos(ns), { headers: { Accept: 'application/json;as=Table;v=v1beta1;g=meta.k8s.io' } });
  t.is(beta.status, 200);
  t.is(beta.body.kind, 'Table');
  t.is(beta.body.apiVersion, 'meta.k8s.io/v1beta1');
  checkColumns(t, beta.body, REPO_COLUMNS);
  t.deepEqual(beta.body.rows[0].object, partial(a, 'v1beta1'));

  for (const path of [`${repos(ns)}/a`, `${repos(ns)}/a/status`]) {
    const one = await api.get(path, { headers: { Accept: ACCEPT_TABLE } });
    t.is(one.status, 200, path);
    t.is(one.body.kind, 'Table');
    t.deepEqual(one.body.metadata, { resourceVersion: a.metadata.resourceVersion });
    checkColumns(t, one.body, REPO_COLUMNS);
    t.is(one.body.rows.length, 1);
    t.deepEqual(repoCells(t, one.body.rows[0]), ['a', false, 'git', 'https://git.example.com/org/a.git', 'Unknown', 0, 'AGE', 'main', '/', '<unknown>']);
    t.deepEqual(one.body.rows[0].object, partial(a));
  }
  isStatus(t, await api.get(`${repos(ns)}/nope`, { headers: { Accept: ACCEPT_TABLE } }), 404, 'NotFound');
});

test('PartialObjectMetadata(List) for the metadata client; protobuf only → 406', async (t) => {
  const ns = 'meta-client';
  const a = await mkRepo(t, ns, 'a', { labels: { x: 'y' } });
  const b = await mkRepo(t, ns, 'b');
  const listAccept = 'application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
  const getAccept = 'application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

  const list = await api.get(repos(ns), { headers: { Accept: listAccept } });
  t.is(list.status, 200);
  t.is(list.body.kind, 'PartialObjectMetadataList');
  t.is(list.body.apiVersion, 'meta.k8s.io/v1');
  t.regex(list.body.metadata.resourceVersion, /^\d+$/);
  t.deepEqual(list.body.items, [partial(a), partial(b)]);

  const one = await api.get(`${repos(ns)}/a`, { headers: { Accept: getAccept } });
  t.is(one.status, 200);
  t.deepEqual(one.body, partial(a));

  // as kube-apiserver: the requested representation must fit the result
  isStatus(t, await api.get(`${repos(ns)}/a`, { headers: { Accept: listAccept } }), 406, 'NotAcceptable', 'you requested PartialObjectMetadataList, but the requested object is not a list (Repository)');
  isStatus(t, await api.get(repos(ns), { headers: { Accept: getAccept } }), 406, 'NotAcceptable', 'you requested PartialObjectMetadata, but the requested object is a list (RepositoryList)');

  const proto = await api.get(repos(ns), { headers: { Accept: 'application/vnd.kubernetes.protobuf' } });
  isStatus(t, proto, 406, 'NotAcceptable', /^only the following media types are accepted: application\/json, /);
  isStatus(t, await api.get(`${repos(ns)}/a`, { headers: { Accept: 'application/vnd.kubernetes.protobuf' } }), 406, 'NotAcceptable');
  // protobuf first with a JSON fallback is fine
  const fallback = await api.get(`${repos(ns)}/a`, { headers: { Accept: 'application/vnd.kubernetes.protobuf,application/json' } });
  t.is(fallback.status, 200);
  t.deepEqual(fallback.body, a);
});

// ---------------------------------------------------------------- watch

test('watch: headers arrive at once on a quiet resource; one JSON line per event', async (t) => {
  const ns = 'watch-quiet';
  const w = await watch(t, `${repos(ns)}?watch=true`);
  t.is(w.status, 200);
  t.is(w.headers['content-type'], 'application/json');
  t.is(w.headers['transfer-encoding'], 'chunked');
  t.deepEqual(await w.drain(300), []);
  t.deepEqual(w.lines, []);

  const a = await mkRepo(t, ns, 'a');
  const e = await w.next();
  t.deepEqual(e, { type: 'ADDED', object: a });
  t.is(w.lines.length, 1);
  t.is(w.pending, '');
});

test('watch: resourceVersion 0 or absent starts with ADDED for existing objects', async (t) => {
  const ns = 'watch-initial';
  const a = await mkRepo(t, ns, 'a');
  const b = await mkRepo(t, ns, 'b');
  for (const query of ['?watch=true&resourceVersion=0', '?watch=1']) {
    const w = await watch(t, `${repos(ns)}${query}`);
    t.deepEqual(await w.next(), { type: 'ADDED', object: a }, query);
    t.deepEqual(await w.next(), { type: 'ADDED', object: b }, query);
    t.deepEqual(await w.drain(200), [], query);
  }
  const w = await watch(t, `${repos(ns)}?watch=true`);
  t.deepEqual(summary(await w.until((e) => e.object.metadata.name === 'b')), [
    ['ADDED', 'a', a.metadata.resourceVersion],
    ['ADDED', 'b', b.metadata.resourceVersion],
  ]);
  const c = await mkRepo(t, ns, 'c');
  t.deepEqual(await w.next(), { type: 'ADDED', object: c });
});

test('watch: from a list resourceVersion only later events, MODIFIED and DELETED with the right objects', async (t) => {
  const ns = 'watch-from-rv';
  await mkRepo(t, ns, 'a');
  const list = await api.get(repos(ns));
  const w = await watch(t, `${repos(ns)}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`);
  t.deepEqual(await w.drain(200), []);

  const b = await mkRepo(t, ns, 'b');
  const mod = await api.patch(`${repos(ns)}/a`, { metadata: { labels: { x: '1' } } }, MERGE);
  const del = await api.delete(`${repos(ns)}/b`);
  const events = [await w.next(), await w.next(), await w.next()];
  t.deepEqual(events, [
    { type: 'ADDED', object: b },
    { type: 'MODIFIED', object: mod.body },
    { type: 'DELETED', object: del.body },
  ]);
  t.is(w.lines.length, 3);
  t.is(w.pending, '');
  t.deepEqual(await w.drain(200), []);

  // a second watch from the same revision replays the same events
  const replay = await watch(t, `${repos(ns)}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`);
  t.deepEqual([await replay.next(), await replay.next(), await replay.next()], events);
});

test('watch: labelSelector: leaving the selection is DELETED, entering it ADDED', async (t) => {
  const ns = 'watch-labels';
  await mkRepo(t, ns, 'a', { labels: { app: 'x' } });
  await mkRepo(t, ns, 'b', { labels: { app: 'y' } });
  const rv = (await api.get(repos(ns))).body.metadata.resourceVersion;
  const w = await watch(t, `${repos(ns)}?watch=true&labelSelector=app%3Dx&resourceVersion=${rv}`);

  const aOut = await api.patch(`${repos(ns)}/a`, { metadata: { labels: { app: 'z' } } }, MERGE);
  const bIn = await api.patch(`${repos(ns)}/b`, { metadata: { labels: { app: 'x' } } }, MERGE);
  const bMod = await api.patch(`${repos(ns)}/b`, { metadata: { labels: { more: 'yes' } } }, MERGE);
  await api.patch(`${repos(ns)}/a`, { metadata: { labels: { other: 'q' } } }, MERGE); // outside before and after
  const bDel = await api.delete(`${repos(ns)}/b`);

  const events = await w.until((e) => e.type === 'DELETED' && e.object.metadata.name === 'b');
  t.deepEqual(summary(events), [
    ['DELETED', 'a', aOut.body.metadata.resourceVersion],
    ['ADDED', 'b', bIn.body.metadata.resourceVersion],
    ['MODIFIED', 'b', bMod.body.metadata.resourceVersion],
    ['DELETED', 'b', bDel.body.metadata.resourceVersion],
  ]);
  // the DELETED for leaving carries the last state that matched
  t.deepEqual(events[0].object.metadata.labels, { app: 'x' });
  t.deepEqual(events[1].object, bIn.body);
  t.deepEqual(await w.drain(200), []);

  isStatus(t, await api.get(`${repos(ns)}?watch=true&labelSelector=${encodeURIComponent('app in (x')}`), 400, 'BadRequest', /^unable to parse requirement: /);
});

test('watch: fieldSelector metadata.name (kubectl delete/wait reflector)', async (t) => {
  const ns = 'watch-fields';
  const a = await mkRepo(t, ns, 'a');
  await mkRepo(t, ns, 'b');
  const w = await watch(t, `${repos(ns)}?watch=true&allowWatchBookmarks=false&fieldSelector=metadata.name%3Da&resourceVersion=0`);
  t.deepEqual(await w.next(), { type: 'ADDED', object: a });
  await api.patch(`${repos(ns)}/b`, { metadata: { labels: { x: '1' } } }, MERGE);
  const mod = await api.patch(`${repos(ns)}/a`, { metadata: { labels: { x: '1' } } }, MERGE);
  const del = await api.delete(`${repos(ns)}/a`);
  t.deepEqual(await w.next(), { type: 'MODIFIED', object: mod.body });
  t.deepEqual(await w.next(), { type: 'DELETED', object: del.body });
  t.deepEqual(await w.drain(200), []);
  isStatus(t, await api.get(`${repos(ns)}?watch=true&fieldSelector=spec.nope%3Dx`), 400, 'BadRequest', 'field label not supported: spec.nope');
});

test('watch: allowWatchBookmarks sends BOOKMARKs carrying only the resourceVersion', async (t) => {
  const ns = 'watch-bookmarks';
  await mkRepo(t, ns, 'a');
  const rv = (await api.get(repos(ns))).body.metadata.resourceVersion;
  const [w, plain] = await Promise.all([
    watch(t, `${repos(ns)}?watch=true&allowWatchBookmarks=true&resourceVersion=${rv}`),
    watch(t, `${repos(ns)}?watch=true&resourceVersion=${rv}`),
  ]);
  const e = await w.next(4000);
  t.is(e.type, 'BOOKMARK');
  t.deepEqual(Object.keys(e.object).sort(), ['apiVersion', 'kind', 'metadata']);
  t.is(e.object.apiVersion, GV);
  t.is(e.object.kind, 'Repository');
  t.deepEqual(Object.keys(e.object.metadata), ['resourceVersion']);
  t.regex(e.object.metadata.resourceVersion, /^\d+$/);
  t.true(Number(e.object.metadata.resourceVersion) >= Number(rv));
  t.is((await w.next(4000)).type, 'BOOKMARK'); // --bookmark-interval 1: again
  t.deepEqual(await plain.drain(100), []); // no bookmarks unless asked
});

test('watch: sendInitialEvents=true ends the initial ADDEDs with an initial-events-end bookmark', async (t) => {
  const ns = 'watch-initial-events';
  const a = await mkRepo(t, ns, 'a');
  const b = await mkRepo(t, ns, 'b');
  const w = await watch(t, `${repos(ns)}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&resourceVersion=`);
  t.deepEqual(await w.next(), { type: 'ADDED', object: a });
  t.deepEqual(await w.next(), { type: 'ADDED', object: b });
  const bm = await w.next();
  t.is(bm.type, 'BOOKMARK');
  t.deepEqual(bm.object.metadata.annotations, { 'k8s.io/initial-events-end': 'true' });
  t.deepEqual(Object.keys(bm.object.metadata).sort(), ['annotations', 'resourceVersion']);
  t.true(Number(bm.object.metadata.resourceVersion) >= Number(b.metadata.resourceVersion));
  t.is(bm.object.kind, 'Repository');
  t.is(bm.object.apiVersion, GV);
  const c = await mkRepo(t, ns, 'c');
  const later = await w.until((e) => e.type !== 'BOOKMARK'); // periodic bookmarks may come first
  t.deepEqual(later[later.length - 1], { type: 'ADDED', object: c });
});

test.serial('watch: a resourceVersion older than the window → 200 with one ERROR 410 Expired, then the end', async (t) => {
  const ns = 'watch-expired';
  const first = await smallApi.post(repos(ns), repository('a'));
  t.is(first.status, 201);
  for (const n of ['b', 'c', 'd']) t.is((await smallApi.post(repos(ns), repository(n))).status, 201);
  const rv = first.body.metadata.resourceVersion;
  const w = await watch(t, `${repos(ns)}?watch=true&resourceVersion=${rv}`, { client: smallApi });
  t.is(w.status, 200);
  const e = await w.next();
  t.is(e.type, 'ERROR');
  t.deepEqual(Object.keys(e.object).sort(), ['apiVersion', 'code', 'kind', 'message', 'metadata', 'reason', 'status']);
  t.is(e.object.kind, 'Status');
  t.is(e.object.apiVersion, 'v1');
  t.deepEqual(e.object.metadata, {});
  t.is(e.object.status, 'Failure');
  t.is(e.object.reason, 'Expired');
  t.is(e.object.code, 410);
  t.regex(e.object.message, new RegExp(`^too old resource version: ${rv} \\(\\d+\\)$`));
  await withTimeout(w.ended, 30_000, 'end of an expired watch');
  t.is(w.lines.length, 1);

  // the list's own revision is always watchable
  const listRV = (await smallApi.get(repos(ns))).body.metadata.resourceVersion;
  const ok = await watch(t, `${repos(ns)}?watch=true&resourceVersion=${listRV}`, { client: smallApi });
  t.deepEqual(await ok.drain(200), []);
  const e2 = await smallApi.post(repos(ns), repository('e'));
  t.deepEqual(await ok.next(), { type: 'ADDED', object: e2.body });
});

test('watch: timeoutSeconds=1 ends the stream', async (t) => {
  const ns = 'watch-timeout';
  const started = Date.now();
  const w = await watch(t, `${repos(ns)}?watch=true&timeoutSeconds=1`);
  t.is(w.status, 200);
  await withTimeout(w.ended, 30_000, 'end of the watch');
  const took = Date.now() - started;
  // ends after the second asked for, not at the server's own (minutes) watch timeout; a generous bound for a busy machine
  t.true(took >= 900 && took < 20_000, `took ${took} ms`);
  t.deepEqual(w.lines, []);
});

test('watch: with the Table Accept each event is a one-row Table; columnDefinitions only on the first', async (t) => {
  const ns = 'watch-table';
  await mkRepo(t, ns, 'a');
  const list = await api.get(repos(ns), { headers: { Accept: ACCEPT_TABLE } });
  t.is(list.body.kind, 'Table');
  const w = await watch(t, `${repos(ns)}?watch=true&resourceVersion=${list.body.metadata.resourceVersion}`, { accept: ACCEPT_TABLE });
  const b = await mkRepo(t, ns, 'b');
  const mod = await api.patch(`${repos(ns)}/a`, { spec: { deployment: true } }, MERGE);
  const del = await api.delete(`${repos(ns)}/b`);

  const events = [await w.next(), await w.next(), await w.next()];
  t.deepEqual(
    events.map((e) => e.type),
    ['ADDED', 'MODIFIED', 'DELETED'],
  );
  for (const [i, e] of events.entries()) {
    t.is(e.object.kind, 'Table');
    t.is(e.object.apiVersion, 'meta.k8s.io/v1');
    t.is(e.object.rows.length, 1);
    t.is('columnDefinitions' in e.object, i === 0, `event ${i}`);
  }
  checkColumns(t, events[0].object, REPO_COLUMNS);
  t.deepEqual(repoCells(t, events[0].object.rows[0]), ['b', false, 'git', 'https://git.example.com/org/b.git', 'Unknown', 0, 'AGE', 'main', '/', '<unknown>']);
  t.deepEqual(events[0].object.rows[0].object, partial(b));
  t.deepEqual(events[0].object.metadata, { resourceVersion: b.metadata.resourceVersion });
  t.deepEqual(repoCells(t, events[1].object.rows[0]).slice(0, 2), ['a', true]);
  t.deepEqual(events[1].object.rows[0].object, partial(mod.body));
  t.deepEqual(events[2].object.rows[0].object, partial(del.body));
});

test('watch: a resourceVersion far in the future is a 504 Timeout', async (t) => {
  const ns = 'watch-future';
  const r = await api.get(`${repos(ns)}?watch=true&resourceVersion=1000000000000`);
  isStatus(t, r, 504, 'Timeout', /^Timeout: Too large resource version: 1000000000000, current: \d+$/);
  t.deepEqual(r.body.details, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
  const l = await api.get(`${repos(ns)}?resourceVersion=1000000000000`);
  isStatus(t, l, 504, 'Timeout', /^Timeout: Too large resource version: 1000000000000, current: \d+$/);
});
