// Field selectors indexed in the watch cache (ResourceDef.indexedFields): a list with field=value
// on an indexed field gives exactly what the unindexed scan gives (same items, order, paging and
// resourceVersion) and follows creates, updates that move an object between values, and deletes;
// the index is built for objects already loaded at start.
import test from 'ava';
import type { KObject } from '../../../src/api/meta.ts';
import { str } from '../../../src/api/schema.ts';
import { widgetDef } from '../../helpers/widgets.ts';
import { Registry } from '../../../src/apiserver/registry/generic.ts';
import type { RequestContext, ResourceDef } from '../../../src/apiserver/registry/types.ts';
import { Cacher, CacherSet } from '../../../src/storage/store/cacher.ts';
import { SqliteStore } from '../../../src/storage/store/sqlite.ts';

const CTX: RequestContext = { user: { name: 'system:test', groups: ['system:masters'] }, dryRun: false };

const def = (indexed: boolean): ResourceDef =>
  widgetDef(
    { color: str('color'), size: str('size') },
    {
      verbs: ['create', 'get', 'list', 'watch', 'update', 'delete'],
      fieldSelectors: { 'spec.color': (o) => String((o.spec as { color?: string })?.color ?? ''), 'spec.size': (o) => String((o.spec as { size?: string })?.size ?? '') },
      ...(indexed ? { indexedFields: ['spec.color'] } : {}),
    },
  );

const widget = (ns: string, name: string, color: string, size = 's'): KObject => ({ apiVersion: 'example.dev/v1', kind: 'Widget', metadata: { name, namespace: ns }, spec: { color, size } });

test('an indexed field selector lists what the scan lists, through creates, moves and deletes, and after a restart', async (t) => {
  const store = SqliteStore.open(':memory:');
  t.teardown(() => store.close());
  const open = async () => {
    const set = new CacherSet(store);
    const [di, ds] = [def(true), def(false)];
    const cacher = set.add(new Cacher(Registry.prefix(di), Registry.decode));
    const indexed = new Registry(di, store, cacher);
    const scanned = new Registry(ds, store, set.add(new Cacher(Registry.prefix(ds), Registry.decode)));
    await set.start();
    return { indexed, scanned, cacher, stop: () => set.stop() };
  };
  let { indexed, scanned, cacher, stop } = await open();
  const colors = ['red', 'blue', 'green'];
  for (let i = 0; i < 60; i++) await indexed.create(i % 2 ? 'a' : 'b', widget(i % 2 ? 'a' : 'b', `w${String(i).padStart(2, '0')}`, colors[i % 3], i % 4 ? 's' : 'l'), CTX);
  const same = (label: string) => {
    // the index itself holds exactly the objects of each value
    for (const c of [...colors, 'none']) {
      const want = scanned.list(undefined, { fieldSelector: `spec.color=${c}` }).items.map((o) => `/registry/example.dev/widgets/${o.metadata.namespace}/${o.metadata.name}`);
      t.deepEqual(cacher.byIndex('spec.color', c), want, `${label}: index of ${c}`);
    }
    for (const ns of ['a', 'b', undefined])
      for (const fieldSelector of ['spec.color=red', 'spec.color=blue,spec.size=l', 'spec.size=l,spec.color=green', 'spec.color=none', 'spec.color!=red'])
        for (const limit of [undefined, 4]) {
          const opts = { fieldSelector, limit };
          const x = indexed.list(ns, opts);
          const y = scanned.list(ns, opts);
          t.deepEqual(x.items.map((o) => o.metadata.name), y.items.map((o) => o.metadata.name), `${label}: ${ns} ${fieldSelector} ${limit}`);
          t.is(x.resourceVersion, y.resourceVersion);
          t.is(x.continue !== undefined, y.continue !== undefined);
          if (x.continue) t.deepEqual(indexed.list(ns, { ...opts, continue: x.continue }).items.map((o) => o.metadata.name), scanned.list(ns, { ...opts, continue: y.continue }).items.map((o) => o.metadata.name));
        }
  };
  same('created');
  t.is(indexed.list(undefined, { fieldSelector: 'spec.color=red' }).items.length, 20);
  // moves between values, and deletes
  for (let i = 0; i < 60; i += 7) {
    const ns = i % 2 ? 'a' : 'b';
    await indexed.update(ns, `w${String(i).padStart(2, '0')}`, (cur) => ({ obj: { ...cur, spec: { ...(cur.spec as object), color: 'red' } } }), CTX);
  }
  for (let i = 0; i < 60; i += 11) await indexed.delete(i % 2 ? 'a' : 'b', `w${String(i).padStart(2, '0')}`, { dryRun: false }, CTX);
  same('changed');
  // a new start builds the index from the store
  stop();
  ({ indexed, scanned, cacher, stop } = await open());
  same('reloaded');
  stop();
});
