// LiveAPIs (src/kube/apidiscovery.ts) against the fake kube-apiserver of test/helpers/fakekube.ts,
// through the real @kubernetes/client-node 1.4: the index built from the discovery documents
// (kinds, plurals, versions preferred first, scope, subresources skipped, the server's own APIs
// added), a CRD's watch event making its kind appear with one change callback, an event that
// changes nothing calling nobody, an aggregated API that goes down keeping its kinds, the watches
// resumed after they end, fail or expire, and the built-in list while the cluster does not answer.
import test from 'ava';
import { pino } from 'pino';
import type { ServedAPI } from '../../src/api/coreapis.ts';
import { LiveAPIs, type LiveAPIsOptions } from '../../src/kube/apidiscovery.ts';
import { fakeKubes, type FakeCRDSpec, type FakeKube } from '../helpers/fakekube.ts';
import { poll } from '../helpers/poll.ts';

const { fake, closeAll } = fakeKubes();
test.after.always(closeAll);

const WIDGETS: FakeCRDSpec = {
  group: 'example.com',
  names: { kind: 'Widget', plural: 'widgets', shortNames: ['wd'] },
  scope: 'Namespaced',
  versions: [
    { name: 'v1beta1', served: true, subresources: { status: {} } },
    { name: 'v1', served: true, storage: true, subresources: { status: {}, scale: {} } },
    { name: 'v1alpha1', served: false },
  ],
};
const GADGETS: FakeCRDSpec = { group: 'example.com', names: { kind: 'Gadget', plural: 'gadgets' }, scope: 'Cluster', versions: [{ name: 'v1beta1', served: true }] };
const GIZMOS: FakeCRDSpec = { group: 'gizmo.example.org', names: { kind: 'Gizmo', plural: 'gizmos' }, scope: 'Namespaced', versions: [{ name: 'v2', served: true }] };
const METRICS = [
  { name: 'nodes', kind: 'NodeMetrics', namespaced: false, verbs: ['get', 'list'] },
  { name: 'pods', kind: 'PodMetrics', namespaced: true, verbs: ['get', 'list'] },
];

/** the server's own APIs, as src/app.ts passes them */
const OWN: ServedAPI[] = [
  { group: 'pkg.pkgserver.dev', kind: 'PackageRevision', resource: 'packagerevisions', versions: ['v1alpha1'], namespaced: true },
  { group: 'config.pkg.pkgserver.dev', kind: 'PackageVariant', resource: 'packagevariants', versions: ['v1alpha1'], namespaced: true },
];

const a = (group: string, kind: string, resource: string, versions: string[], namespaced: boolean): ServedAPI => ({ group, kind, resource, versions, namespaced });

/** what the fake of `setup` serves, in discovery's order, then the own API it does not serve */
const EXPECTED: ServedAPI[] = [
  a('', 'ConfigMap', 'configmaps', ['v1'], true),
  a('', 'Event', 'events', ['v1'], true),
  a('', 'Secret', 'secrets', ['v1'], true),
  a('apiregistration.k8s.io', 'APIService', 'apiservices', ['v1'], false),
  a('authentication.k8s.io', 'TokenReview', 'tokenreviews', ['v1'], false),
  a('authorization.k8s.io', 'SubjectAccessReview', 'subjectaccessreviews', ['v1'], false),
  a('apiextensions.k8s.io', 'CustomResourceDefinition', 'customresourcedefinitions', ['v1'], false),
  a('example.com', 'Gadget', 'gadgets', ['v1beta1'], false),
  a('example.com', 'Widget', 'widgets', ['v1', 'v1beta1'], true),
  a('metrics.example.io', 'NodeMetrics', 'nodes', ['v1beta1'], false),
  a('metrics.example.io', 'PodMetrics', 'pods', ['v1beta1'], true),
  a('pkg.pkgserver.dev', 'PackageRevision', 'packagerevisions', ['v1alpha1'], true),
  a('config.pkg.pkgserver.dev', 'PackageVariant', 'packagevariants', ['v1alpha1'], true),
];

const plain = (x: unknown) => JSON.parse(JSON.stringify(x));

interface Setup {
  kube: FakeKube;
  live: LiveAPIs;
  logs: string[];
  /** the lists each change callback received, in order */
  changes: { apis: readonly ServedAPI[]; previous: readonly ServedAPI[] }[];
}

/** A fake with two CRDs and two aggregated APIs, and a LiveAPIs on it (not started) with short timers. */
async function setup(t: { teardown(fn: () => unknown): void }, opts: Partial<LiveAPIsOptions> = {}): Promise<Setup> {
  const { kube, kc } = await fake();
  kube.setCRD(WIDGETS);
  kube.setCRD(GADGETS);
  kube.setAPIService('metrics.example.io', 'v1beta1', METRICS);
  kube.setAPIService('pkg.pkgserver.dev', 'v1alpha1', [
    { name: 'packagerevisions', kind: 'PackageRevision', namespaced: true },
    { name: 'packagerevisions/approval', kind: 'PackageRevision', namespaced: true },
  ]);
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => void logs.push(l) });
  const live = new LiveAPIs({ kubeConfig: kc, own: OWN, logger, debounceMs: 50, settleMs: 300, ...opts });
  const changes: Setup['changes'] = [];
  live.onChange((apis, previous) => changes.push({ apis, previous }));
  t.teardown(() => live.stop());
  return { kube, live, logs, changes };
}

/** waits until `n` more reads than `before` have finished (an event's debounced read and its settling read: 2) */
const readsAfter = (live: LiveAPIs, before: number, n = 2) => poll(`${n} reads of discovery`, async () => (live.stats().reads >= before + n ? true : undefined));

/** waits until both watches (CRDs and APIServices) are open and `n` watch requests have been made in all */
const watching = (kube: FakeKube, n: number) =>
  poll(`${n} watch requests, 2 open`, async () => (kube.requests.filter((r) => r.query.includes('watch=true')).length >= n && kube.watchCount() === 2 ? true : undefined));

test('the first read builds the index from the discovery documents', async (t) => {
  const { kube, live, logs, changes } = await setup(t);
  // before: the built-in list and the server's own APIs
  t.false(live.live);
  t.is(live.api('apps', 'Deployment')?.versions[0], 'v1');
  t.is(live.kind('config.pkg.pkgserver.dev', 'packagevariants'), 'PackageVariant');
  t.is(live.api('example.com', 'Widget'), undefined);

  t.true(await live.start());
  t.true(live.live);
  t.deepEqual(plain(live.all()), EXPECTED);
  // lookups
  t.is(live.kind('example.com', 'widgets'), 'Widget');
  t.is(live.kind('', 'configmaps'), 'ConfigMap');
  t.deepEqual(live.api('example.com', 'Widget')?.versions, ['v1', 'v1beta1']);
  t.false(live.api('example.com', 'Gadget')!.namespaced);
  t.true(live.api('', 'Secret')!.namespaced);
  // subresources are not kinds; a served version's kind comes from discovery, not the built-in list
  t.is(live.kind('example.com', 'widgets/status'), undefined);
  t.is(live.api('example.com', 'Scale'), undefined);
  t.is(live.kind('pkg.pkgserver.dev', 'packagerevisions/approval'), undefined);
  t.is(live.api('apps', 'Deployment'), undefined);
  // the own API the cluster also serves is there once
  t.is(live.all().filter((x) => x.kind === 'PackageRevision').length, 1);

  // what was read: the three documents and each group version once; the two lists for the watches
  const gets = kube.requests.filter((r) => r.method === 'GET' && !r.query.includes('watch=true')).map((r) => `${r.path}${r.query ? `?${r.query}` : ''}`);
  t.deepEqual(gets.filter((p) => !p.includes('?')).sort(), [
    '/api',
    '/api/v1',
    '/apis',
    '/apis/apiextensions.k8s.io/v1',
    '/apis/apiregistration.k8s.io/v1',
    '/apis/authentication.k8s.io/v1',
    '/apis/authorization.k8s.io/v1',
    '/apis/example.com/v1',
    '/apis/example.com/v1beta1',
    '/apis/metrics.example.io/v1beta1',
    '/apis/pkg.pkgserver.dev/v1alpha1',
  ]);
  t.deepEqual(gets.filter((p) => p.includes('?')).sort(), ['/apis/apiextensions.k8s.io/v1/customresourcedefinitions?limit=1', '/apis/apiregistration.k8s.io/v1/apiservices?limit=1']);
  await watching(kube, 2);
  const watches = kube.requests.filter((r) => r.query.includes('watch=true'));
  t.deepEqual(watches.map((r) => r.path).sort(), ['/apis/apiextensions.k8s.io/v1/customresourcedefinitions', '/apis/apiregistration.k8s.io/v1/apiservices']);
  for (const w of watches) t.regex(new URLSearchParams(w.query).get('resourceVersion') ?? '', /^\d+$/);

  // one change: from the built-in list to the cluster's
  t.is(changes.length, 1);
  t.is(changes[0].previous.find((x) => x.group === 'apps' && x.kind === 'Deployment')?.resource, 'deployments');
  t.deepEqual(plain(changes[0].apis), EXPECTED);
  t.deepEqual(live.stats(), { reads: 1, failures: 0, changes: 1 });
  t.true(logs.some((l) => l.includes('read the APIs the cluster serves')));
  t.false(logs.some((l) => l.includes(kube.token)));
});

test('a new CRD appears after its watch event, with one change callback; the discovery is not polled', async (t) => {
  const { kube, live, changes } = await setup(t);
  await live.start();
  await watching(kube, 2);
  const before = live.stats();
  changes.length = 0;

  kube.setCRD(GIZMOS);
  await poll('Gizmo served', async () => live.api('gizmo.example.org', 'Gizmo'));
  await readsAfter(live, before.reads);
  t.deepEqual(plain(live.api('gizmo.example.org', 'Gizmo')), a('gizmo.example.org', 'Gizmo', 'gizmos', ['v2'], true));
  t.is(live.kind('gizmo.example.org', 'gizmos'), 'Gizmo');
  t.is(changes.length, 1);
  t.is(changes[0].previous.find((x) => x.kind === 'Gizmo'), undefined);
  t.is(changes[0].apis.length, EXPECTED.length + 1);
  // two reads for the event (debounced, then settled), none other
  t.deepEqual(live.stats(), { reads: before.reads + 2, failures: 0, changes: before.changes + 1 });

  // a new version of a kind, and a CRD deleted
  kube.setCRD({ ...GADGETS, versions: [{ name: 'v1', served: true }, ...GADGETS.versions] });
  await poll('Gadget v1', async () => (live.api('example.com', 'Gadget')?.versions.join() === 'v1,v1beta1' ? true : undefined));
  kube.deleteCRD('gizmos.gizmo.example.org');
  await poll('Gizmo gone', async () => (live.api('gizmo.example.org', 'Gizmo') ? undefined : true));
  await readsAfter(live, live.stats().reads, 1);
  t.is(live.kind('gizmo.example.org', 'gizmos'), undefined);
  t.is(changes.length, 3);
});

test('an event that changes nothing calls no listener; an aggregated API that goes down keeps its kinds', async (t) => {
  const { kube, live, logs, changes } = await setup(t);
  await live.start();
  await watching(kube, 2);
  changes.length = 0;

  // a label on a CRD: an event, two reads, the same list
  let before = live.stats().reads;
  kube.setCRD(WIDGETS, { team: 'a' });
  await readsAfter(live, before);
  t.is(changes.length, 0);
  t.deepEqual(plain(live.all()), EXPECTED);

  // the metrics server goes down: its group version answers 503; its kinds stay, logged once
  before = live.stats().reads;
  kube.setAPIService('metrics.example.io', 'v1beta1');
  await readsAfter(live, before);
  t.is(changes.length, 0);
  t.is(live.kind('metrics.example.io', 'pods'), 'PodMetrics');
  t.true(kube.requests.some((r) => r.path === '/apis/metrics.example.io/v1beta1'));
  const warned = logs.filter((l) => l.includes('did not answer'));
  t.is(warned.length, 1);
  t.regex(warned[0], /metrics\.example\.io\/v1beta1: HTTP 503: the server is currently unable to handle the request/);

  // back up: nothing changed, and it says so
  before = live.stats().reads;
  kube.setAPIService('metrics.example.io', 'v1beta1', METRICS);
  await readsAfter(live, before);
  t.is(changes.length, 0);
  t.true(logs.some((l) => l.includes('every group version of the cluster answers discovery again')));

  // the APIService deleted: its kinds go, with one callback
  kube.deleteAPIService('v1beta1.metrics.example.io');
  await poll('metrics gone', async () => (live.api('metrics.example.io', 'PodMetrics') ? undefined : true));
  t.is(changes.length, 1);
  const kept = new Set(changes[0].apis.map((x) => `${x.group}/${x.kind}`));
  t.deepEqual(
    changes[0].previous.filter((x) => !kept.has(`${x.group}/${x.kind}`)).map((x) => x.kind),
    ['NodeMetrics', 'PodMetrics'],
  );
  t.false(logs.some((l) => l.includes(kube.token)));
});

test('a broken watch reconnects: ended, failed and expired', async (t) => {
  const { kube, live, logs } = await setup(t);
  await live.start();
  await watching(kube, 2);
  const watchRequests = () => kube.requests.filter((r) => r.query.includes('watch=true')).length;

  // ended by the server (a restart, a timeout): resumed from the last resourceVersion
  kube.closeWatches();
  await watching(kube, 4);
  kube.setCRD(GIZMOS);
  await poll('Gizmo served', async () => live.api('gizmo.example.org', 'Gizmo'));

  // refused once: retried after a backoff
  const crdWatch = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  const n = watchRequests();
  kube.failNext(crdWatch, 500);
  kube.closeWatches();
  await watching(kube, n + 3); // the failed CRD watch, then one of each
  t.true(logs.some((l) => l.includes('watching customresourcedefinitions failed: HTTP 500')));
  const reads = live.stats().reads;
  kube.deleteCRD('gizmos.gizmo.example.org');
  await poll('Gizmo gone', async () => (live.api('gizmo.example.org', 'Gizmo') ? undefined : true));
  await readsAfter(live, reads); // settled: no read is due any more

  // expired while away (410): listed again, which reads discovery again
  const lists = () => kube.requests.filter((r) => r.path === crdWatch && r.query === 'limit=1').length;
  const listsBefore = lists();
  kube.closeWatches();
  kube.setCRD({ ...GIZMOS, names: { kind: 'Doohickey', plural: 'doohickeys' } });
  kube.expireHistory();
  await poll('Doohickey served', async () => live.api('gizmo.example.org', 'Doohickey'));
  t.true(lists() > listsBefore);
  t.true(logs.some((l) => l.includes('watch expired, listing again')));
  await watching(kube, watchRequests());
});

test('while the cluster does not answer: the built-in list, an error logged, and the live list once it answers', async (t) => {
  const { kube, live, logs, changes } = await setup(t, { firstReadTimeoutMs: 1500 });
  kube.failNext('/api/v1', 503, 1000);
  t.false(await live.start());
  t.false(live.live);
  t.is(live.api('apps', 'Deployment')?.resource, 'deployments');
  t.is(live.kind('config.pkg.pkgserver.dev', 'packagevariants'), 'PackageVariant');
  t.is(changes.length, 0);
  const error = logs.find((l) => l.includes('"level":50'));
  t.truthy(error);
  t.regex(error!, /unable to read the cluster's API discovery: HTTP 503: injected failure 503; using the built-in list of Kubernetes APIs until a read succeeds/);
  t.true(live.stats().failures >= 1);

  kube.clearFailures();
  await poll('live', async () => (live.live ? true : undefined));
  t.deepEqual(plain(live.all()), EXPECTED);
  t.is(changes.length, 1);
  t.false(logs.some((l) => l.includes(kube.token)));
});

test('stop ends the watches and makes no more requests', async (t) => {
  const { kube, live } = await setup(t);
  await live.start();
  await watching(kube, 2);
  await live.stop();
  await poll('no watch open', async () => (kube.watchCount() === 0 ? true : undefined));
  const requests = kube.requests.length;
  kube.closeWatches();
  kube.expireHistory();
  kube.setCRD(GIZMOS);
  t.is(live.api('gizmo.example.org', 'Gizmo'), undefined);
  t.is(kube.requests.length, requests);
});
