// instrumentStore: the wrapped store passes the whole store conformance suite (it changes nothing),
// and each call is counted under its backend and operation.
import test from 'ava';
import { SqliteStore } from '../../../src/storage/store/sqlite.ts';
import { instrumentStore, storeRequestDuration } from '../../../src/storage/store/instrumented.ts';
import { storeConformance } from '../../helpers/store-conformance.ts';

storeConformance(test, 'instrumented sqlite', async () => instrumentStore(SqliteStore.open(':memory:'), 'sqlite'));

const count = async (backend: string, operation: string) =>
  (await storeRequestDuration.get()).values.find((v) => v.metricName === 'pkgserver_store_request_duration_seconds_count' && v.labels.backend === backend && v.labels.operation === operation)?.value ?? 0;

test('every operation is timed under its backend and operation; errors too', async (t) => {
  const store = instrumentStore(SqliteStore.open(':memory:'), 'test-backend');
  t.teardown(() => store.close());
  const before = { create: await count('test-backend', 'create'), get: await count('test-backend', 'get'), update: await count('test-backend', 'update') };
  const kv = await store.create('a', Buffer.from('1'));
  await store.get('a');
  await store.get('b');
  await t.throwsAsync(store.update('a', Buffer.from('2'), kv.modRevision + 5));
  t.is(await count('test-backend', 'create'), before.create + 1);
  t.is(await count('test-backend', 'get'), before.get + 2);
  t.is(await count('test-backend', 'update'), before.update + 1);
  // subscribe is not a request: events still flow through the wrapper
  const seen: string[] = [];
  const off = store.subscribe((ev) => seen.push(`${ev.type} ${ev.key}`));
  await store.delete('a');
  off();
  t.deepEqual(seen, ['DELETE a']);
});

test("a backend's optional operations (etcd's) and the subscription's gap callback pass through; absent ones stay absent", async (t) => {
  const inner = SqliteStore.open(':memory:');
  t.teardown(() => inner.close());
  t.is(instrumentStore(inner, 'sqlite').requestProgress, undefined);
  t.is(instrumentStore(inner, 'sqlite').createIndexed, undefined);
  const calls: string[] = [];
  let gapCallback: unknown;
  const remote = Object.assign(Object.create(inner) as typeof inner, {
    requestProgress: async (ms: number) => (calls.push(`progress ${ms}`), 7),
    createIndexed: async (key: string, value: Buffer, indexKeys: string[]) => (calls.push(`createIndexed ${key} ${indexKeys.join(',')}`), inner.create(key, value)),
    deleteIndexed: async (key: string, rev: number, indexKeys: string[]) => (calls.push(`deleteIndexed ${key} ${indexKeys.join(',')}`), inner.delete(key, rev)),
    subscribe: (listener: Parameters<typeof inner.subscribe>[0], onGap?: (err: unknown) => void) => ((gapCallback = onGap), inner.subscribe(listener)),
  });
  const store = instrumentStore(remote, 'test-remote');
  t.is(await store.requestProgress!(5), 7);
  const kv = await store.createIndexed!('a', Buffer.from('1'), ['/index/a']);
  await store.deleteIndexed!('a', kv.modRevision, ['/index/a']);
  const onGap = () => undefined;
  store.subscribe(() => undefined, onGap)();
  t.is(gapCallback, onGap);
  t.deepEqual(calls, ['progress 5', 'createIndexed a /index/a', 'deleteIndexed a /index/a']);
  t.is(await count('test-remote', 'createIndexed'), 1);
});
