// The informer over a real Registry and watch cache: initial sync, events with the previous
// state, secondary indexes kept right under add/update/delete (also when an object moves between
// index values), replay to late handlers, frozen objects, selectors.
import test from 'ava';
import type { KObject } from '../../../src/api/meta.ts';
import { Informer, type EventType } from '../../../src/controllers/runtime/informer.ts';
import { env } from './env.ts';

const names = (objs: KObject[]) => objs.map((o) => o.metadata.name).sort();

test('informer: lists on start, has synced, and serves get and list by namespace', async (t) => {
  const e = await env(t);
  await e.put(e.widgets, 'a', 'w1', { color: 'red' });
  await e.put(e.widgets, 'a', 'w2', { color: 'blue' });
  await e.put(e.widgets, 'b', 'w3', { color: 'red' });
  const inf = new Informer(e.widgets, { logger: e.logger });
  t.false(inf.hasSynced());
  const synced = inf.waitForSync();
  inf.start();
  await synced;
  t.true(inf.hasSynced());
  t.deepEqual(names(inf.list()), ['w1', 'w2', 'w3']);
  t.deepEqual(names(inf.list('a')), ['w1', 'w2']);
  t.deepEqual(names(inf.list('b')), ['w3']);
  t.deepEqual(inf.list('c'), []);
  t.is(inf.get('a', 'w2')?.spec.color, 'blue');
  t.is(inf.get('b', 'w2'), undefined);
  inf.stop();
});

test('informer: handlers see ADDED, MODIFIED with the old state, and DELETED; the store follows at once', async (t) => {
  const e = await env(t);
  const inf = new Informer(e.widgets);
  inf.start();
  const seen: [EventType, string, string | undefined, string | undefined][] = [];
  inf.addHandler((type, obj, old) => seen.push([type, obj.metadata.name!, obj.spec.color, old?.spec.color]));
  await e.put(e.widgets, 'a', 'w1', { color: 'red' });
  t.is(inf.get('a', 'w1')?.spec.color, 'red');
  await e.setSpec(e.widgets, 'a', 'w1', { color: 'green' });
  t.is(inf.get('a', 'w1')?.spec.color, 'green');
  await e.remove(e.widgets, 'a', 'w1');
  t.is(inf.get('a', 'w1'), undefined);
  t.deepEqual(seen, [
    ['ADDED', 'w1', 'red', undefined],
    ['MODIFIED', 'w1', 'green', 'red'],
    ['DELETED', 'w1', 'green', 'green'],
  ]);
  inf.stop();
});

test('informer: a handler added later is told about the existing objects as ADDED', async (t) => {
  const e = await env(t);
  await e.put(e.widgets, 'a', 'w1', {});
  await e.put(e.widgets, 'a', 'w2', {});
  const inf = new Informer(e.widgets);
  inf.start();
  const seen: string[] = [];
  const remove = inf.addHandler((type, obj) => seen.push(`${type} ${obj.metadata.name}`));
  t.deepEqual(seen.sort(), ['ADDED w1', 'ADDED w2']);
  remove();
  await e.put(e.widgets, 'a', 'w3', {});
  t.deepEqual(seen.sort(), ['ADDED w1', 'ADDED w2']);
  inf.stop();
});

test('informer: secondary indexes follow add, update (moving between values), and delete', async (t) => {
  const e = await env(t);
  await e.put(e.widgets, 'a', 'w1', { color: 'red', refs: ['g1', 'g2'] });
  const inf = new Informer(e.widgets);
  inf.start();
  // an index added after start is built from the objects already there
  inf.addIndex('color', (o) => (o.spec.color ? [o.spec.color] : []));
  inf.addIndex('gadget', (o) => (o.spec.refs ?? []).map((r: string) => `${o.metadata.namespace}/${r}`));
  await e.put(e.widgets, 'a', 'w2', { color: 'red', refs: ['g2'] });
  await e.put(e.widgets, 'b', 'w3', { color: 'blue', refs: ['g2'] });
  t.deepEqual(names(inf.byIndex('color', 'red')), ['w1', 'w2']);
  t.deepEqual(names(inf.byIndex('color', 'blue')), ['w3']);
  t.deepEqual(names(inf.byIndex('gadget', 'a/g1')), ['w1']);
  t.deepEqual(names(inf.byIndex('gadget', 'a/g2')), ['w1', 'w2']);
  t.deepEqual(names(inf.byIndex('gadget', 'b/g2')), ['w3']);

  // w1 moves from red to blue and drops g2 for g3
  await e.setSpec(e.widgets, 'a', 'w1', { color: 'blue', refs: ['g1', 'g3'] });
  t.deepEqual(names(inf.byIndex('color', 'red')), ['w2']);
  t.deepEqual(names(inf.byIndex('color', 'blue')), ['w1', 'w3']);
  t.deepEqual(names(inf.byIndex('gadget', 'a/g2')), ['w2']);
  t.deepEqual(names(inf.byIndex('gadget', 'a/g3')), ['w1']);
  // and loses its colour: out of the colour index
  await e.setSpec(e.widgets, 'a', 'w1', { refs: ['g1'] });
  t.deepEqual(names(inf.byIndex('color', 'blue')), ['w3']);

  await e.remove(e.widgets, 'a', 'w2');
  t.deepEqual(inf.byIndex('color', 'red'), []);
  t.deepEqual(inf.byIndex('gadget', 'a/g2'), []);
  await e.remove(e.widgets, 'b', 'w3');
  t.deepEqual(inf.byIndex('color', 'blue'), []);
  t.deepEqual(inf.list('b'), []);
  t.deepEqual(names(inf.list()), ['w1']);
  t.throws(() => inf.byIndex('nosuch', 'x'), { message: 'informer for widgets: no index named "nosuch"' });
  inf.stop();
});

test('informer: objects handed out are frozen and never change (the watch cache\'s own frozen objects, not copies)', async (t) => {
  const e = await env(t);
  await e.put(e.widgets, 'a', 'w1', { color: 'red', refs: ['g1'] });
  const inf = new Informer(e.widgets);
  inf.start();
  const first = inf.get('a', 'w1')!;
  t.true(Object.isFrozen(first) && Object.isFrozen(first.metadata) && Object.isFrozen(first.spec.refs));
  t.throws(() => {
    first.spec.color = 'blue';
  }, { instanceOf: TypeError });
  // the watch cache's object itself (no copy per informer): frozen there, so nothing can change it
  t.is(first, e.widgets.get('a', 'w1'));
  t.true(Object.isFrozen(e.widgets.get('a', 'w1')!.spec));
  await e.setSpec(e.widgets, 'a', 'w1', { color: 'green' });
  t.is(first.spec.color, 'red');
  t.deepEqual(first.spec.refs, ['g1']);
  t.is(inf.get('a', 'w1')!.spec.color, 'green');
  inf.stop();
});

test('informer: a label selector keeps only matching objects; one that stops matching is DELETED', async (t) => {
  const e = await env(t);
  await e.widgets.create('a', { metadata: { name: 'w1', labels: { team: 'x' } }, spec: {} }, e.system);
  await e.widgets.create('a', { metadata: { name: 'w2', labels: { team: 'y' } }, spec: {} }, e.system);
  const inf = new Informer(e.widgets, { labelSelector: 'team=x' });
  inf.start();
  const seen: string[] = [];
  inf.addHandler((type, obj) => seen.push(`${type} ${obj.metadata.name}`));
  t.deepEqual(names(inf.list()), ['w1']);
  await e.widgets.update('a', 'w1', (cur) => ({ obj: { ...cur, metadata: { ...cur.metadata, labels: { team: 'y' } } } }), e.system);
  t.deepEqual(inf.list(), []);
  t.deepEqual(seen, ['ADDED w1', 'DELETED w1']);
  inf.stop();
});

test('informer: a failing handler or index function is logged and does not stop the others', async (t) => {
  const e = await env(t);
  const inf = new Informer(e.widgets, { logger: e.logger });
  inf.start();
  inf.addIndex('bad', () => {
    throw new Error('boom');
  });
  inf.addHandler(() => {
    throw new Error('handler boom');
  });
  const seen: string[] = [];
  inf.addHandler((type, obj) => seen.push(`${type} ${obj.metadata.name}`));
  await e.put(e.widgets, 'a', 'w1', {});
  t.deepEqual(seen, ['ADDED w1']);
  t.is(inf.get('a', 'w1')?.metadata.name, 'w1');
  t.deepEqual(
    e.logs.filter((l) => l.resource === 'widgets').map((l) => [l.msg, l.err]),
    [
      ['informer index function failed', 'boom'],
      ['informer event handler failed', 'handler boom'],
    ],
  );
  inf.stop();
});
