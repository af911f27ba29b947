// The core v1 resources of the standalone server (SPEC 7), end to end with the real server
// process and kubectl 1.27, 1.29 and 1.33: /api discovery (APIVersions, aggregated v2 and
// v2beta1), OpenAPI for api/v1, `kubectl api-resources`, namespaces (create, get, describe,
// delete; implicit creation; a non-empty one refused; default kept), the NotFound message after
// kubectl's namespace lookup, Events created through the API in describe / events / get with
// field selectors, what the example viewer role may read, and the Event TTL.
import test from 'ava';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { HttpClient } from './helpers/http.ts';
import { Kubectl } from './helpers/kubectl.ts';
import { poll } from './helpers/poll.ts';
import { adminTLS, startServer, tempDir, type ServerHandle } from './helpers/server.ts';
import { policy, userOf, type TestUser } from './helpers/users.ts';

const VERSIONS = ['1.27', '1.29', '1.33'] as const;
const CFG = 'config.pkg.pkgserver.dev/v1alpha1';
const ACCEPT_V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
const ACCEPT_V2BETA1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';

let server: ServerHandle;
let shortTTL: ServerHandle;
let api: HttpClient;
let viewer: TestUser;

test.before(async () => {
  const file = path.join(tempDir('events-policy-'), 'policy.yaml');
  writeFileSync(file, policy([{ user: 'viewer', role: 'pkgserver-viewer', namespace: 'view-ns' }]));
  [server, shortTTL] = await Promise.all([startServer({ args: ['--authorization-policy-file', file] }), startServer({ args: ['--event-ttl', '2s'] })]);
  api = new HttpClient(server.url, adminTLS(server));
  viewer = userOf(server, 'viewer');
});
test.after.always(async () => {
  await Promise.all([server?.stop(), shortTTL?.stop()]);
});

const repository = (ns: string, name: string) =>
  `apiVersion: ${CFG}\nkind: Repository\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: {git: {url: https://git.example.com/${ns}-${name}.git}}\n`;

/** An Event as the recorder writes it. */
const eventYAML = (ns: string, name: string, o: { uid: string; reason: string; type: string; message: string; count: number; last?: string }) => {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return `apiVersion: v1
kind: Event
metadata: {name: ${name}, namespace: ${ns}}
involvedObject: {apiVersion: ${CFG}, kind: Repository, namespace: ${ns}, name: catalog, uid: ${o.uid}}
reason: ${o.reason}
message: "${o.message}"
type: ${o.type}
source: {component: pkgserver, host: node-1}
firstTimestamp: "${now}"
lastTimestamp: "${o.last ?? now}"
count: ${o.count}
reportingComponent: pkgserver
reportingInstance: node-1
`;
};

test('/api: APIVersions, aggregated discovery with the core group (no name), /api/v1; /apis without it', async (t) => {
  const legacy = await api.get('/api', { headers: { Accept: 'application/json' } });
  t.is(legacy.status, 200);
  t.is(legacy.headers['content-type'], 'application/json');
  t.deepEqual(legacy.body, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: new URL(server.url).host }] });

  for (const [accept, version] of [[ACCEPT_V2, 'v2'], [ACCEPT_V2BETA1, 'v2beta1']] as const) {
    const agg = await api.get('/api', { headers: { Accept: accept } });
    t.is(agg.status, 200);
    t.is(agg.headers['content-type'], `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`);
    t.regex(agg.headers.etag!, /^"[0-9a-f]{32}"$/);
    t.is(agg.body.apiVersion, `apidiscovery.k8s.io/${version}`);
    t.is(agg.body.items.length, 1);
    const core = agg.body.items[0];
    t.deepEqual(core.metadata, { creationTimestamp: null });
    t.deepEqual(core.versions.map((v: any) => v.version), ['v1']);
    t.deepEqual(
      core.versions[0].resources.map((r: any) => [r.resource, r.scope, r.shortNames, r.responseKind, r.subresources.map((s: any) => s.subresource)]),
      [
        ['events', 'Namespaced', ['ev'], { group: '', version: 'v1', kind: 'Event' }, []],
        ['namespaces', 'Cluster', ['ns'], { group: '', version: 'v1', kind: 'Namespace' }, ['status']],
      ],
    );
    const again = await api.get('/api', { headers: { Accept: accept, 'If-None-Match': agg.headers.etag! } });
    t.is(again.status, 304);
    // the named groups stay below /apis, without the core group
    const apis = await api.get('/apis', { headers: { Accept: accept } });
    t.false(apis.body.items.some((g: any) => !g.metadata.name));
  }
  const apisLegacy = await api.get('/apis', { headers: { Accept: 'application/json' } });
  t.false(apisLegacy.body.groups.some((g: any) => g.name === ''));

  const rl = await api.get('/api/v1');
  t.is(rl.status, 200);
  t.deepEqual(rl.body.groupVersion, 'v1');
  t.deepEqual(
    rl.body.resources.map((r: any) => [r.name, r.namespaced, r.kind, r.shortNames ?? null]),
    [
      ['events', true, 'Event', ['ev']],
      ['namespaces', false, 'Namespace', ['ns']],
      ['namespaces/status', false, 'Namespace', null],
    ],
  );
  t.is((await api.get('/api/v2')).status, 404);
  t.is((await api.get('/api/v1/namespaces/x/pods')).status, 404);
});

test('OpenAPI: the api/v1 document and the v2 definitions carry kube\'s names for Event and Namespace', async (t) => {
  const root = await api.get('/openapi/v3');
  const entry = root.body.paths['api/v1'];
  t.regex(entry.serverRelativeURL, /^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]{128}$/);
  const doc = await api.get(entry.serverRelativeURL);
  t.is(doc.status, 200);
  t.deepEqual(doc.body.components.schemas['io.k8s.api.core.v1.Event']['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'Event' }]);
  t.deepEqual(doc.body.components.schemas['io.k8s.api.core.v1.Namespace']['x-kubernetes-group-version-kind'], [{ group: '', version: 'v1', kind: 'Namespace' }]);
  const patch = doc.body.paths['/api/v1/namespaces/{name}'].patch;
  t.deepEqual(patch['x-kubernetes-group-version-kind'], { group: '', version: 'v1', kind: 'Namespace' });
  t.truthy(patch.parameters.find((p: any) => p.name === 'fieldValidation'));
  t.deepEqual(patch.tags, ['core_v1']);
  t.truthy(doc.body.paths['/api/v1/namespaces/{namespace}/events/{name}']);
  t.truthy(doc.body.paths['/api/v1/events']);
  const v2 = await api.get('/openapi/v2', { headers: { Accept: 'application/json' } });
  t.truthy(v2.body.definitions['io.k8s.api.core.v1.Event']);
  t.truthy(v2.body.definitions['io.k8s.api.core.v1.NamespaceList']);
  t.truthy(v2.body.paths['/api/v1/namespaces/{namespace}/events']);
});

for (const v of VERSIONS) {
  test(`kubectl ${v}: api-resources lists our kinds and events, namespaces`, async (t) => {
    const out = await new Kubectl(v, server.kubeconfig).ok(['api-resources', '--no-headers']);
    const rows = out.trimEnd().split('\n').map((l) => l.split(/\s+/));
    t.deepEqual(rows.slice(0, 2), [
      ['events', 'ev', 'v1', 'true', 'Event'],
      ['namespaces', 'ns', 'v1', 'false', 'Namespace'],
    ]);
    t.true(rows.some((r) => r.join(' ') === `repositories repo ${CFG} true Repository`), out);
    t.true(rows.some((r) => r.join(' ') === 'packagerevisions pkgrev,pr pkg.pkgserver.dev/v1alpha1 true PackageRevision'), out);
  });

  test(`kubectl ${v}: create, get, describe and delete a namespace; non-empty refused; default kept`, async (t) => {
    const k = new Kubectl(v, server.kubeconfig);
    const ns = `ns-${v.replace('.', '-')}`;
    t.is(await k.ok(['create', 'namespace', ns]), `namespace/${ns} created\n`);
    t.regex(await k.ok(['get', 'ns', ns]), new RegExp(`^NAME\\s+STATUS\\s+AGE\\n${ns}\\s+Active\\s+\\d+s\\n$`));
    t.regex(await k.ok(['get', 'ns', '--no-headers']), /^default\s+Active\s/m);
    const described = await k.ok(['describe', 'ns', ns]);
    t.regex(described, new RegExp(`^Name:\\s+${ns}\\nLabels:\\s+kubernetes.io/metadata.name=${ns}\\nAnnotations:\\s+<none>\\nStatus:\\s+Active\\n`));
    t.is(await k.ok(['get', 'ns', ns, '-o', 'jsonpath={.spec.finalizers}']), '["kubernetes"]');

    // a namespaced create in a namespace that does not exist creates it
    const implicit = `${ns}-implicit`;
    await k.ok(['apply', '-f', '-'], { input: repository(implicit, 'catalog') });
    t.regex(await k.ok(['get', 'ns', implicit, '--no-headers']), new RegExp(`^${implicit}\\s+Active\\s`));
    const refused = await k.run(['delete', 'ns', implicit]);
    t.is(refused.code, 1);
    t.is(refused.stderr, `Error from server (Conflict): Operation cannot be fulfilled on namespaces "${implicit}": the namespace is not empty; it still holds Repository (1); delete them first\n`);
    await k.ok(['delete', 'repository', 'catalog', '-n', implicit]);
    t.is(await k.ok(['delete', 'ns', implicit]), `namespace "${implicit}" deleted\n`);

    t.is(await k.ok(['delete', 'namespace', ns]), `namespace "${ns}" deleted\n`);
    const gone = await k.run(['get', 'ns', ns]);
    t.is(gone.stderr, `Error from server (NotFound): namespaces "${ns}" not found\n`);
    const def = await k.run(['delete', 'ns', 'default']);
    t.is(def.stderr, 'Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted\n');
  });

  test(`kubectl ${v}: get of a missing object names it when the namespace exists, else the namespace`, async (t) => {
    const k = new Kubectl(v, server.kubeconfig);
    const ns = `nf-${v.replace('.', '-')}`;
    // kubectl looks up the namespace after a 404 (cli-runtime Info.Get) and reports it if it is missing
    const noNamespace = await k.run(['-n', ns, 'get', 'pkgrev', 'nosuch']);
    t.is(noNamespace.stderr, `Error from server (NotFound): namespaces "${ns}" not found\n`);
    await k.ok(['create', 'ns', ns]);
    const missing = await k.run(['-n', ns, 'get', 'pkgrev', 'nosuch']);
    t.is(missing.code, 1);
    t.is(missing.stderr, 'Error from server (NotFound): packagerevisions.pkg.pkgserver.dev "nosuch" not found\n');
    const inDefault = await k.run(['get', 'repo', 'nosuch']);
    t.is(inDefault.stderr, 'Error from server (NotFound): repositories.config.pkg.pkgserver.dev "nosuch" not found\n');
  });

  test(`kubectl ${v}: Events of an object in describe, kubectl events and get events --field-selector`, async (t) => {
    const k = new Kubectl(v, server.kubeconfig);
    const ns = `ev-${v.replace('.', '-')}`;
    await k.ok(['apply', '-f', '-'], { input: repository(ns, 'catalog') + '---\n' + repository(ns, 'other') });
    const uid = await k.ok(['get', 'repo', 'catalog', '-n', ns, '-o', 'jsonpath={.metadata.uid}']);
    await k.ok(['create', '-f', '-'], { input: eventYAML(ns, 'catalog.17f0a0b0c0d0e0f1', { uid, reason: 'SyncFailed', type: 'Warning', message: 'could not fetch', count: 3 }) });
    await k.ok(['create', '-f', '-'], { input: eventYAML(ns, 'catalog.17f0a0b0c0d0e0f2', { uid, reason: 'Synced', type: 'Normal', message: 'up to date', count: 1 }) });
    // an Event of another object with the same name: not the catalog's (another uid)
    await k.ok(['create', '-f', '-'], { input: eventYAML(ns, 'catalog.17f0a0b0c0d0e0f3', { uid: 'another-uid', reason: 'Stale', type: 'Normal', message: 'not mine', count: 1 }) });

    const described = await k.ok(['describe', 'repo', 'catalog', '-n', ns]);
    const cells = described.slice(described.indexOf('Events:')).trimEnd().split('\n').slice(1).map((l) => l.trim().split(/\s{2,}/));
    t.deepEqual(cells[0], ['Type', 'Reason', 'Age', 'From', 'Message']);
    t.deepEqual(cells.slice(2).map((c) => [c[0], c[1], c[3], c[4]]), [
      ['Warning', 'SyncFailed', 'pkgserver', 'could not fetch'],
      ['Normal', 'Synced', 'pkgserver', 'up to date'],
    ], described);
    t.regex(cells[2][2], /^\d+s \(x3 over \d+s\)$/);
    t.regex((await k.ok(['describe', 'repo', 'other', '-n', ns])), /\nEvents:\s+<none>\n$/);

    const events = await k.ok(['events', '-n', ns, '--types', 'Warning']);
    t.regex(events, /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n\d+s \(x3 over \d+s\)\s+Warning\s+SyncFailed\s+Repository\/catalog\s+could not fetch\n$/, events);
    const got = await k.ok(['get', 'events', '-n', ns, '--field-selector', `involvedObject.name=catalog,involvedObject.uid=${uid}`, '--sort-by', '.reason']);
    t.regex(got, /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n\d+s\s+Warning\s+SyncFailed\s+repository\/catalog\s+could not fetch\n\d+s\s+Normal\s+Synced\s+repository\/catalog\s+up to date\n$/, got);
    t.is(await k.ok(['get', 'ev', '-n', ns, '--field-selector', 'reason=Stale', '-o', 'name']), 'event/catalog.17f0a0b0c0d0e0f3\n');
  });
}

test('the example viewer role reads namespaces and Events in its namespace (describe, events, the namespace lookup)', async (t) => {
  const admin = new Kubectl('1.33', server.kubeconfig);
  await admin.ok(['apply', '-f', '-'], { input: repository('view-ns', 'catalog') });
  const uid = await admin.ok(['get', 'repo', 'catalog', '-n', 'view-ns', '-o', 'jsonpath={.metadata.uid}']);
  await admin.ok(['create', '-f', '-'], { input: eventYAML('view-ns', 'catalog.17f0a0b0c0d0e0f1', { uid, reason: 'Synced', type: 'Normal', message: 'up to date', count: 1 }) });
  for (const v of VERSIONS) {
    const k = new Kubectl(v, viewer.kubeconfig);
    t.regex(await k.ok(['describe', 'ns', 'view-ns']), /^Name:\s+view-ns\n[\s\S]*Status:\s+Active\n/, v);
    t.regex(await k.ok(['describe', 'repo', 'catalog', '-n', 'view-ns']), /Normal\s+Synced\s+\d+s\s+pkgserver\s+up to date\n$/, v);
    t.regex(await k.ok(['events', '-n', 'view-ns']), /Normal\s+Synced\s+Repository\/catalog\s+up to date\n$/, v);
    t.is((await k.run(['-n', 'view-ns', 'get', 'pkgrev', 'nosuch'])).stderr, 'Error from server (NotFound): packagerevisions.pkg.pkgserver.dev "nosuch" not found\n', v);
    const denied = await k.run(['create', 'ns', 'mine']);
    t.regex(denied.stderr, /^Error from server \(Forbidden\): namespaces is forbidden: User "viewer" cannot create resource "namespaces" in API group "" at the cluster scope/, v);
  }
});

test('Events expire after --event-ttl (from their last occurrence); a later one stays', async (t) => {
  const h = new HttpClient(shortTTL.url, adminTLS(shortTTL));
  const now = new Date();
  const ev = (name: string, last: Date) => ({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name },
    involvedObject: { kind: 'Repository', namespace: 'ttl', name: 'catalog' },
    reason: 'Synced',
    message: 'ok',
    type: 'Normal',
    firstTimestamp: now.toISOString(),
    lastTimestamp: last.toISOString(),
    count: 1,
  });
  t.is((await h.post('/api/v1/namespaces/ttl/events', ev('old', now))).status, 201);
  t.is((await h.post('/api/v1/namespaces/ttl/events', ev('recent', new Date(now.getTime() + 3_600_000)))).status, 201);
  await poll('the expired event to be deleted', async () => ((await h.get('/api/v1/namespaces/ttl/events/old')).status === 404 ? true : undefined));
  t.is((await h.get('/api/v1/namespaces/ttl/events/recent')).status, 200);
  // the namespace was created with the first Event in it
  t.is((await h.get('/api/v1/namespaces/ttl')).status, 200);
});
