// Registry.createMany, the batched create (one store transaction for many objects), against a
// real Registry over SQLite with its watch cache:
//
// * each object gets its own resourceVersion, and a watcher sees one ADDED event per object, in
//   the order given, all before createMany resolves;
// * admission is create's: system fields, defaults, the strategy's preparation and validation,
//   the namespace hook and afterWrite; an invalid object or an existing name refuses that object
//   only, and the others are stored;
// * a batch the store refuses (a name created by someone else meanwhile) leaves the store as it
//   was, then the objects are created one by one, and only the taken name is refused; on etcd,
//   whose createMany is not atomic, the objects before the taken name stay created and are
//   reported as created (the same results and events);
// * the write lock of each object's lockKey is held while the batch is written;
// * with a beforeCreate hook (side effects outside the store) the objects go one by one.
import test, { type ExecutionContext } from 'ava';
import type { KObject } from '../../../src/api/meta.ts';
import { str } from '../../../src/api/schema.ts';
import { widgetDef } from '../../helpers/widgets.ts';
import { StatusError } from '../../../src/apiserver/errors.ts';
import { Registry } from '../../../src/apiserver/registry/generic.ts';
import type { RequestContext, ResourceDef, Strategy } from '../../../src/apiserver/registry/types.ts';
import { Cacher, CacherSet } from '../../../src/storage/store/cacher.ts';
import { KeyExistsError } from '../../../src/storage/store/interface.ts';
import type { Store } from '../../../src/storage/store/interface.ts';
import { SqliteStore } from '../../../src/storage/store/sqlite.ts';
import { EtcdStore } from '../../../src/storage/store/etcd.ts';
import { startEtcd, type EtcdHandle } from '../../helpers/etcd.ts';

const NS = 'ns';
const CTX: RequestContext = { user: { name: 'system:test', groups: ['system:masters'] }, dryRun: false };

const def = (strategy: Strategy): ResourceDef => widgetDef({ size: str('size', { default: 'small' }) }, { strategy });

const widget = (name: string, spec: Record<string, unknown> = {}): KObject => ({ apiVersion: 'example.dev/v1', kind: 'Widget', metadata: { name, namespace: NS }, spec });

async function env(t: ExecutionContext, strategy: Strategy = {}, opts: { beforeNamespacedCreate?: (ns: string) => Promise<void>; store?: Store } = {}) {
  const store = opts.store ?? SqliteStore.open(':memory:');
  const cachers = new CacherSet(store);
  const d = def(strategy);
  const reg = new Registry(d, store, cachers.add(new Cacher(Registry.prefix(d), Registry.decode)), { beforeNamespacedCreate: opts.beforeNamespacedCreate });
  await cachers.start();
  t.teardown(async () => {
    cachers.stop();
    await store.close();
  });
  const events: string[] = [];
  reg.watch(NS, { resourceVersion: '0', sendInitialEvents: false }, { send: (type, o) => void events.push(`${type} ${o.metadata.name}@${o.metadata.resourceVersion}`) });
  return { store, reg, events };
}

const names = (rs: Awaited<ReturnType<Registry['createMany']>>) => rs.map((r) => ('obj' in r ? r.obj.metadata.name : `error ${r.error instanceof StatusError ? r.error.reason : (r.error as Error).message}`));

test('createMany: one resourceVersion and one ADDED event per object, in order, before it resolves', async (t) => {
  const { store, reg, events } = await env(t);
  await reg.create(NS, widget('first'), CTX);
  const before = await store.currentRevision();
  let eventsAtResolve = -1;
  const results = await reg.createMany(NS, ['c', 'a', 'b'].map((n) => widget(n)), CTX).then((r) => {
    eventsAtResolve = events.length;
    return r;
  });
  t.deepEqual(names(results), ['c', 'a', 'b']);
  const rvs = results.map((r) => ('obj' in r ? Number(r.obj.metadata.resourceVersion) : 0));
  t.deepEqual(rvs, [before + 1, before + 2, before + 3]);
  t.is(eventsAtResolve, 4);
  t.deepEqual(events, [`ADDED first@${before}`, `ADDED c@${before + 1}`, `ADDED a@${before + 2}`, `ADDED b@${before + 3}`]);
  // stored as create stores: system fields, defaults, and readable through the cache
  for (const r of results) {
    if (!('obj' in r)) continue;
    const got = reg.get(NS, r.obj.metadata.name!);
    t.deepEqual(got, r.obj);
    t.truthy(got.metadata.uid);
    t.truthy(got.metadata.creationTimestamp);
    t.is(got.metadata.generation, 1);
    t.is((got.spec as { size: string }).size, 'small');
  }
  t.is(new Set(results.map((r) => ('obj' in r ? r.obj.metadata.uid : ''))).size, 3);
  t.deepEqual(reg.list(NS, {}).items.map((o) => o.metadata.name), ['a', 'b', 'c', 'first']);
});

test('createMany: an invalid object or a taken name refuses that object only', async (t) => {
  const validated: string[] = [];
  const { store, reg, events } = await env(t, {
    validate: (o) => {
      validated.push(o.metadata.name!);
      return (o.spec as { size: string }).size === 'huge' ? [{ type: 'FieldValueInvalid', field: 'spec.size', message: 'too big', value: 'huge' } as never] : [];
    },
  });
  await reg.create(NS, widget('taken'), CTX);
  const before = await store.currentRevision();
  const results = await reg.createMany(NS, [widget('a'), widget('bad', { size: 'huge' }), widget('taken'), widget('Not_A_Name'), widget('b'), widget('a')], CTX);
  t.deepEqual(names(results), ['a', 'error Invalid', 'error AlreadyExists', 'error Invalid', 'b', 'error AlreadyExists']);
  t.deepEqual(validated, ['taken', 'a', 'bad', 'taken', 'Not_A_Name', 'b', 'a']);
  t.is(await store.currentRevision(), before + 2);
  t.deepEqual(events.slice(1), [`ADDED a@${before + 1}`, `ADDED b@${before + 2}`]);
  t.deepEqual(reg.list(NS, {}).items.map((o) => o.metadata.name), ['a', 'b', 'taken']);
});

let etcd: EtcdHandle | undefined;
test.after.always(() => etcd?.stop());

for (const backend of ['sqlite', 'etcd'] as const)
test(`createMany: a batch the store refuses ${backend === 'sqlite' ? 'writes nothing' : 'keeps what it wrote (etcd)'}; then each object alone, only the taken name refused`, async (t) => {
  let etcdStore: Store | undefined;
  if (backend === 'etcd') {
    etcd ??= await startEtcd();
    etcdStore = await EtcdStore.open({ endpoints: [etcd.endpoint], prefix: '/createmany-test/' });
  }
  const { store, reg, events } = await env(t, {}, { store: etcdStore });
  const before = await store.currentRevision();
  // someone creates "b" after the batch checked its names and before the batch is written
  const createMany = store.createMany.bind(store);
  let refusals = 0;
  store.createMany = async (entries) => {
    await store.create(Registry.prefix(def({})) + `${NS}/b`, Buffer.from(JSON.stringify(widget('b'))));
    try {
      return await createMany(entries);
    } catch (e) {
      if (e instanceof KeyExistsError) refusals++;
      throw e;
    }
  };
  const results = await reg.createMany(NS, [widget('a'), widget('b'), widget('c')], CTX);
  t.is(refusals, 1);
  t.deepEqual(names(results), ['a', 'error AlreadyExists', 'c']);
  // SQLite: the refused batch left no trace, revisions go on one by one after the other writer's;
  // etcd: "a" was written by the batch before it stopped at "b", and is reported, not created again
  t.deepEqual(events, [`ADDED b@${before + 1}`, `ADDED a@${before + 2}`, `ADDED c@${before + 3}`]);
  t.is(await store.currentRevision(), before + 3);
});

test('createMany: a store failure fails the call and leaves the store as it was', async (t) => {
  const { store, reg, events } = await env(t);
  await reg.create(NS, widget('first'), CTX);
  const before = await store.currentRevision();
  store.createMany = async () => {
    throw new Error('disk full');
  };
  await t.throwsAsync(reg.createMany(NS, [widget('a'), widget('b')], CTX), { message: 'disk full' });
  t.is(await store.currentRevision(), before);
  t.deepEqual(events, [`ADDED first@${before}`]);
  t.deepEqual(reg.list(NS, {}).items.map((o) => o.metadata.name), ['first']);
});

test('createMany: the namespace hook once per namespace, afterWrite per object, lock keys held', async (t) => {
  const hooked: string[] = [];
  const after: string[] = [];
  let reg!: Registry;
  const strategy: Strategy = {
    lockKey: (ns, name) => `${ns}/${name.slice(0, 1)}`,
    afterWrite: async (o) => void after.push(o!.metadata.name!),
  };
  const e = await env(t, strategy, { beforeNamespacedCreate: async (ns) => void hooked.push(ns) });
  reg = e.reg;
  // a write under lock key ns/a, asked for after the batch, waits until the batch is stored
  const seenUnderLock: string[][] = [];
  const batch = reg.createMany(NS, [widget('a1'), widget('b1'), widget('a2')], CTX);
  const underLock = (k: string) => reg.withLockKey(`${NS}/${k}`, async () => void seenUnderLock.push(reg.list(NS, {}).items.map((o) => o.metadata.name!)));
  await Promise.all([batch, underLock('a')]);
  t.deepEqual(seenUnderLock, [['a1', 'a2', 'b1']]);
  t.deepEqual(hooked, [NS]);
  t.deepEqual(after, ['a1', 'b1', 'a2']);

  // mirror writes (a controller recording what exists elsewhere) run no afterWrite
  after.length = 0;
  await reg.createMany(NS, [widget('c1')], { ...CTX, mirror: true });
  t.deepEqual(after, []);
});

test('createMany: with a beforeCreate hook or a dry run, objects go one by one through create', async (t) => {
  const sideEffects: string[] = [];
  const { store, reg, events } = await env(t, {
    beforeCreate: async (o) => {
      if (o.metadata.name === 'fails') throw new Error('side effect failed');
      sideEffects.push(o.metadata.name!);
    },
  });
  const before = await store.currentRevision();
  const dry = await reg.createMany(NS, [widget('d1')], { ...CTX, dryRun: true });
  t.deepEqual(names(dry), ['d1']);
  t.is(await store.currentRevision(), before);
  const results = await reg.createMany(NS, [widget('a'), widget('fails'), widget('b')], CTX);
  t.deepEqual(names(results), ['a', 'error side effect failed', 'b']);
  t.deepEqual(sideEffects, ['a', 'b']);
  t.deepEqual(events, [`ADDED a@${before + 1}`, `ADDED b@${before + 2}`]);
});
