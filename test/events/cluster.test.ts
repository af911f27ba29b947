// The cluster EventRecorder against the fake kube-apiserver: core v1 Events created with
// client-node, a repeat patched (strategic merge patch of count, lastTimestamp, message), an
// Event that is gone created again, and a refused write not retried.
import test from 'ava';
import pino from 'pino';
import { Writable } from 'node:stream';
import { clusterEventRecorder } from '../../src/events/cluster.ts';
import { fakeKubes } from '../helpers/fakekube.ts';
import { poll } from '../helpers/poll.ts';

const until = (what: string, cond: () => boolean) => poll(what, async () => (cond() ? true : undefined));

const kubes = fakeKubes();
test.after.always(() => kubes.closeAll());

function logger() {
  const lines: any[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, cb) => (lines.push(JSON.parse(String(chunk))), cb()) }));
  return { log, lines };
}

const repo = {
  apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
  kind: 'Repository',
  metadata: { name: 'catalog', namespace: 'team-a', uid: '0b9a2f5e-2c53-4c1b-9d35-2f8d5f6a7e01', resourceVersion: '42' },
  spec: {},
};

test('events are created in kube-apiserver; a repeat is a strategic merge patch of the same Event', async (t) => {
  const { kube, kc } = await kubes.fake();
  const { log } = logger();
  const rec = clusterEventRecorder(kc, { component: 'pkgserver', host: 'replica-1', log });
  rec.event(repo, 'Warning', 'SyncFailed', 'could not fetch');
  rec.event(repo, 'Warning', 'SyncFailed', 'could not fetch');
  rec.event(repo, 'Normal', 'Synced', 'up to date');
  await until('three event writes', () => kube.requests.filter((r) => r.path.includes('/events')).length === 3);
  const writes = kube.requests.filter((r) => r.path.includes('/events'));
  t.deepEqual(
    writes.map((r) => [r.method, r.path.replace(/\.[0-9a-f]{16}$/, '.HEX'), r.contentType]),
    [
      ['POST', '/api/v1/namespaces/team-a/events', 'application/json'],
      ['PATCH', '/api/v1/namespaces/team-a/events/catalog.HEX', 'application/strategic-merge-patch+json'],
      ['POST', '/api/v1/namespaces/team-a/events', 'application/json'],
    ],
  );
  t.deepEqual(Object.keys(writes[1].body).sort(), ['count', 'lastTimestamp', 'message']);
  t.is(writes[1].body.count, 2);

  const [failed, synced] = kube.events();
  t.regex(failed.metadata.name, /^catalog\.[0-9a-f]{16}$/);
  t.is(writes[1].path, `/api/v1/namespaces/team-a/events/${failed.metadata.name}`);
  t.deepEqual(failed.involvedObject, { kind: 'Repository', namespace: 'team-a', name: 'catalog', uid: repo.metadata.uid, apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', resourceVersion: '42' });
  t.is(failed.type, 'Warning');
  t.is(failed.reason, 'SyncFailed');
  t.is(failed.message, 'could not fetch');
  t.is(failed.count, 2);
  t.deepEqual(failed.source, { component: 'pkgserver', host: 'replica-1' });
  t.is(failed.reportingComponent, 'pkgserver');
  t.is(failed.reportingInstance, 'replica-1');
  t.true(Date.parse(failed.lastTimestamp) >= Date.parse(failed.firstTimestamp));
  t.is(synced.reason, 'Synced');
  t.is(synced.count, 1);
});

test('a repeat of an Event that is gone (expired) creates it again with its name and count', async (t) => {
  const { kube, kc } = await kubes.fake();
  const rec = clusterEventRecorder(kc, { component: 'pkgserver', host: 'h', log: logger().log });
  rec.event(repo, 'Normal', 'Synced', 'ok');
  await until('first event', () => kube.events().length === 1);
  const name = kube.events()[0].metadata.name;
  kube.deleteEvent('team-a', name);
  rec.event(repo, 'Normal', 'Synced', 'ok');
  await until('event written again', () => kube.events().length === 1);
  const methods = kube.requests.filter((r) => r.path.includes('/events')).map((r) => r.method);
  t.deepEqual(methods, ['POST', 'PATCH', 'POST']);
  t.is(kube.events()[0].metadata.name, name);
  t.is(kube.events()[0].count, 2);
});

test('a write the API server refuses is logged and not retried; the caller never sees it', async (t) => {
  const { kube, kc } = await kubes.fake();
  const { log, lines } = logger();
  const rec = clusterEventRecorder(kc, { component: 'pkgserver', host: 'h', log, retryDelayMs: 10 });
  kube.failNext('/api/v1/namespaces/team-a/events', 403);
  t.notThrows(() => rec.event(repo, 'Normal', 'Synced', 'ok'));
  await until('refusal logged', () => lines.some((l) => l.msg === 'event refused by the API server (not retried)'));
  rec.event(repo, 'Normal', 'Other', 'next');
  await until('next event', () => kube.events().length === 1);
  t.is(kube.events()[0].reason, 'Other');
  t.is(kube.requests.filter((r) => r.path.includes('/events')).length, 2);
  t.is(lines.find((l) => l.msg === 'event refused by the API server (not retried)').code, 403);
});
