// The core v1 Event and Namespace resources on a real registry (SQLite store, watch cache):
// kube's legacy Event validation, the events table and field selectors, the Namespace strategy
// and its deletion rules.
import test from 'ava';
import type { CoreEvent } from '../../src/api/core.ts';
import type { KObject } from '../../src/api/meta.ts';
import { StatusError } from '../../src/apiserver/errors.ts';
import { eventResource } from '../../src/apiserver/registry/events.ts';
import { Registry } from '../../src/apiserver/registry/generic.ts';
import { namespaceResource, type NamespaceOptions } from '../../src/apiserver/registry/namespaces.ts';
import type { ResourceDef } from '../../src/apiserver/registry/types.ts';
import { table } from '../../src/apiserver/table.ts';
import { Cacher, CacherSet } from '../../src/storage/store/cacher.ts';
import { SqliteStore } from '../../src/storage/store/sqlite.ts';

const ctx = { user: { name: 'admin', groups: ['system:masters'] }, dryRun: false };

async function registry(def: ResourceDef): Promise<Registry> {
  const store = SqliteStore.open(':memory:');
  const cachers = new CacherSet(store);
  const reg = new Registry(def, store, cachers.add(new Cacher(Registry.prefix(def), Registry.decode)));
  await cachers.start();
  return reg;
}

async function status(p: Promise<unknown>): Promise<{ code: number; reason: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StatusError) return { code: e.code, reason: e.reason, message: e.message };
    throw e;
  }
  throw new Error('expected a StatusError');
}

const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

function event(name: string, over: Partial<CoreEvent> = {}): CoreEvent {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name, namespace: 'team-a' },
    involvedObject: { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', namespace: 'team-a', name: 'catalog', uid: 'u1' },
    reason: 'SyncFailed',
    message: ' could not fetch \n',
    type: 'Warning',
    source: { component: 'pkgserver', host: 'node-1' },
    firstTimestamp: ago(300),
    lastTimestamp: ago(30),
    count: 4,
    ...over,
  };
}

test('Event validation: kube legacy rules (namespace of the involved object; new-style events need reporting fields)', async (t) => {
  const events = await registry(eventResource());
  t.like(await status(events.create('team-a', event('a', { involvedObject: { kind: 'Repository', name: 'x', namespace: 'team-b' } }), ctx)), {
    code: 422,
    message: 'Event "a" is invalid: involvedObject.namespace: Invalid value: "team-b": does not match event.namespace',
  });
  // a cluster-scoped object's events belong in "default"
  t.like(await status(events.create('team-a', event('b', { involvedObject: { kind: 'Namespace', name: 'x' } }), ctx)), { code: 422 });
  await events.create('default', { ...event('c', { involvedObject: { kind: 'Namespace', name: 'x' } }), metadata: { name: 'c', namespace: 'default' } }, ctx);
  t.like(await status(events.create('team-a', event('d', { eventTime: '2025-01-01T00:00:00.000000Z' }), ctx)), {
    code: 422,
    message: 'Event "d" is invalid: [reportingComponent: Required value, reportingInstance: Required value, action: Required value]',
  });
  await events.create('team-a', event('e', { eventTime: '2025-01-01T00:00:00.000000Z', reportingComponent: 'pkgserver', reportingInstance: 'node-1', action: 'Sync' }), ctx);
  t.like(await status(events.create('team-a', { ...event('f'), involvedObject: undefined } as never, ctx)), { code: 422, message: 'Event "f" is invalid: involvedObject: Required value' });
});

/** Seconds of an age as kube's HumanDuration prints it ("30s", "5m1s", "10m", "3h"). */
function seconds(age: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(age);
  if (!m || age === '') throw new Error(`not an age: ${age}`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

test('events table: kube-apiserver columns (no leading Name), cells as its printer makes them', async (t) => {
  const def = eventResource();
  const tbl = table([event('catalog.1')], def.columns, { include: 'None', version: 'v1', headers: true }) as any;
  t.deepEqual(
    tbl.columnDefinitions.map((c: any) => [c.name, c.priority, c.format]),
    [
      ['Last Seen', 0, ''],
      ['Type', 0, ''],
      ['Reason', 0, ''],
      ['Object', 0, ''],
      ['Subobject', 1, ''],
      ['Source', 1, ''],
      ['Message', 0, ''],
      ['First Seen', 1, ''],
      ['Count', 1, ''],
      ['Name', 1, 'name'],
    ],
  );
  // ages as kube's HumanDuration prints them; a busy machine may take a few seconds between making
  // the event and printing it, so an age may be up to 5 s more than the one made
  const near = (cells: unknown[], want: unknown[], at: number[]) =>
    cells.length === want.length && cells.every((c, i) => (at.includes(i) ? seconds(String(c)) >= (want[i] as number) && seconds(String(c)) <= (want[i] as number) + 5 : c === want[i]));
  const row = tbl.rows[0].cells;
  t.true(near(row, [30, 'Warning', 'SyncFailed', 'repository/catalog', '', 'pkgserver, node-1', 'could not fetch', 300, 4, 'catalog.1'], [0, 7]), JSON.stringify(row));
  // new-style fields: a series, eventTime, the reporting controller as the source, no count → 1
  const series = event('s', { source: undefined, count: undefined, firstTimestamp: null, lastTimestamp: null, eventTime: ago(600), series: { count: 7, lastObservedTime: ago(60) }, reportingComponent: 'ctl', reportingInstance: '' });
  const srow = (table([series], def.columns, { include: 'None', version: 'v1', headers: false }) as any).rows[0].cells;
  t.true(near(srow, [60, 'Warning', 'SyncFailed', 'repository/catalog', '', 'ctl', 'could not fetch', 600, 7, 's'], [0, 7]), JSON.stringify(srow));
  const single = event('n', { count: undefined, lastTimestamp: undefined, involvedObject: { kind: 'Namespace' } });
  const nrow = (table([single], def.columns, { include: 'None', version: 'v1', headers: false }) as any).rows[0].cells.slice(0, 4);
  t.true(near(nrow, [300, 'Warning', 'SyncFailed', 'namespace'], [0]), JSON.stringify(nrow));
  // the printed forms themselves
  t.deepEqual(['30s', '5m', '5m1s', '10m', '61s'].map(seconds), [30, 300, 301, 600, 61]);
});

test('events field selectors: the ones kubectl describe and kubectl events send', async (t) => {
  const events = await registry(eventResource());
  await events.create('team-a', event('a'), ctx);
  await events.create('team-a', event('b', { type: 'Normal', reason: 'Synced', involvedObject: { apiVersion: 'v1', kind: 'Repository', namespace: 'team-a', name: 'other', uid: 'u2' } }), ctx);
  await events.create('team-a', event('c', { source: {}, reportingComponent: 'ctl', involvedObject: { apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'PackageVariant', namespace: 'team-a', name: 'catalog', uid: 'u3', fieldPath: 'spec.x', resourceVersion: '9' } }), ctx);
  const names = (fieldSelector: string) => events.list('team-a', { fieldSelector }).items.map((o: KObject) => o.metadata.name);
  t.deepEqual(names('involvedObject.name=catalog,involvedObject.namespace=team-a,involvedObject.kind=Repository,involvedObject.uid=u1'), ['a']);
  t.deepEqual(names('involvedObject.kind=Repository,involvedObject.apiVersion=config.pkg.pkgserver.dev/v1alpha1,involvedObject.name=catalog'), ['a']);
  t.deepEqual(names('involvedObject.name=catalog'), ['a', 'c']);
  t.deepEqual(names('involvedObject.fieldPath=spec.x,involvedObject.resourceVersion=9'), ['c']);
  t.deepEqual(names('type=Normal'), ['b']);
  t.deepEqual(names('reason!=SyncFailed'), ['b']);
  t.deepEqual(names('source=pkgserver'), ['a', 'b']);
  t.deepEqual(names('source=ctl,reportingComponent=ctl'), ['c']);
  t.like(await status(Promise.resolve().then(() => names('spec.x=y'))), { code: 400 });
});

test('Namespace: phase Active, the kubernetes finalizer, the name label; DNS-1123 label names; finalizers kept on update', async (t) => {
  const nsOpts: NamespaceOptions = { contents: () => [] };
  const namespaces = await registry(namespaceResource(nsOpts));
  const created = await namespaces.create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { x: 'y' } }, spec: {}, status: { phase: 'Terminating' } }, ctx);
  t.deepEqual(created.metadata.labels, { x: 'y', 'kubernetes.io/metadata.name': 'team-a' });
  t.deepEqual(created.spec, { finalizers: ['kubernetes'] });
  t.deepEqual(created.status, { phase: 'Active' });
  t.like(await status(namespaces.create(undefined, { metadata: { name: 'team.a' } }, ctx)), {
    code: 422,
    message: `Namespace "team.a" is invalid: metadata.name: Invalid value: "team.a": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
  });
  const updated = await namespaces.update(undefined, 'team-a', (cur) => ({ obj: { ...cur, spec: { finalizers: [] }, metadata: { ...cur.metadata, labels: {} } } }), ctx);
  t.deepEqual(updated.spec, { finalizers: ['kubernetes'] });
  t.deepEqual(updated.metadata.labels, { 'kubernetes.io/metadata.name': 'team-a' });
});

test('Namespace deletion: default is forbidden, a namespace with objects is a 409 naming them, an empty one goes', async (t) => {
  let contents: { kind: string; count: number }[] = [{ kind: 'Repository', count: 1 }, { kind: 'PackageRevision', count: 3 }];
  const deleted: string[] = [];
  const namespaces = await registry(namespaceResource({ contents: () => contents, deleted: async (ns) => void deleted.push(ns) }));
  await namespaces.create(undefined, { metadata: { name: 'default' } }, ctx);
  await namespaces.create(undefined, { metadata: { name: 'team-a' } }, ctx);
  t.like(await status(namespaces.delete(undefined, 'default', { dryRun: false }, ctx)), { code: 403, reason: 'Forbidden', message: 'namespaces "default" is forbidden: this namespace may not be deleted' });
  t.like(await status(namespaces.delete(undefined, 'team-a', { dryRun: false }, ctx)), {
    code: 409,
    reason: 'Conflict',
    message: 'Operation cannot be fulfilled on namespaces "team-a": the namespace is not empty; it still holds Repository (1), PackageRevision (3); delete them first',
  });
  // a dry run answers as the delete would
  t.like(await status(namespaces.delete(undefined, 'team-a', { dryRun: true }, { ...ctx, dryRun: true })), { code: 409 });
  t.deepEqual(deleted, []);
  contents = [];
  const r = await namespaces.delete(undefined, 'team-a', { dryRun: false }, ctx);
  t.true(r.deleted);
  t.deepEqual(deleted, ['team-a']);
  t.like(await status(Promise.resolve().then(() => namespaces.get(undefined, 'team-a'))), { code: 404, message: 'namespaces "team-a" not found' });
});

test('Namespace from Kubernetes protobuf (kubectl ≥ 1.32 create namespace): metadata and spec.finalizers', (t) => {
  const varint = (n: number) => {
    const out: number[] = [];
    for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
    return Buffer.from([...out, n]);
  };
  const field = (num: number, payload: Buffer) => Buffer.concat([varint(num * 8 + 2), varint(payload.length), payload]);
  const str = (num: number, s: string) => field(num, Buffer.from(s));
  const meta = Buffer.concat([str(1, 'team-p'), field(11, Buffer.concat([str(1, 'tier'), str(2, 'gold')]))]);
  const status = str(1, 'Terminating');
  const raw = Buffer.concat([field(1, meta), field(2, str(1, 'example.com/hold')), field(3, status)]);
  const def = namespaceResource({ contents: () => [] });
  t.deepEqual(def.fromProtobuf!(raw), { metadata: { name: 'team-p', labels: { tier: 'gold' } }, spec: { finalizers: ['example.com/hold'] } });
  t.deepEqual(def.fromProtobuf!(field(1, str(1, 'bare'))), { metadata: { name: 'bare' }, spec: {} });
  t.throws(() => def.fromProtobuf!(Buffer.from([0x0a, 0x05, 0x01])), { message: 'field 1: length 5 beyond the end of the data' });
});
