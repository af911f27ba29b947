import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RevisionCompactedError, type StoreEvent } from '../src/storage/store/interface.ts';
import { SqliteStore } from '../src/storage/store/sqlite.ts';
import { storeConformance } from './helpers/store-conformance.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const writerScript = fileURLToPath(new URL('./fixtures/store-writer.ts', import.meta.url));

const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'pkgserver-store-'));
test.after.always(() => rmSync(tmpDir, { recursive: true, force: true }));
let files = 0;
const tempFile = () => path.join(tmpDir, `store-${++files}.db`);

storeConformance(test, 'sqlite file', async () => SqliteStore.open(tempFile()));
storeConformance(test, 'sqlite :memory:', async () => SqliteStore.open(':memory:'));

const buf = (s: string) => Buffer.from(s);

test('sqlite: the database is in WAL mode', async (t) => {
  const file = tempFile();
  const store = SqliteStore.open(file);
  t.teardown(() => store.close());
  await store.create('a', buf('1'));
  t.true(existsSync(`${file}-wal`));
});

test('sqlite: open rejects invalid options', (t) => {
  t.throws(() => SqliteStore.open(':memory:', { compactEvery: 0 }), { instanceOf: RangeError });
  t.throws(() => SqliteStore.open(':memory:', { historyLimit: -1 }), { instanceOf: RangeError });
  t.throws(() => SqliteStore.open(':memory:', { historyLimit: 1.5 }), { instanceOf: RangeError });
});

test('sqlite: state, revisions and compaction survive close and reopen', async (t) => {
  const file = tempFile();
  const first = SqliteStore.open(file);
  await first.create('a', buf('1')); // 1
  await first.create('b', buf('b')); // 2
  await first.update('a', buf('2'), 1); // 3
  await first.create('c', buf('c')); // 4
  await first.delete('c'); // 5
  await first.compact(2);
  await first.close();

  const second = SqliteStore.open(file);
  t.deepEqual(await second.get('a'), {
    key: 'a',
    value: buf('2'),
    modRevision: 3,
    createRevision: 1,
  });
  t.deepEqual(await second.get('b'), {
    key: 'b',
    value: buf('b'),
    modRevision: 2,
    createRevision: 2,
  });
  t.is(await second.get('c'), null);
  t.is(await second.currentRevision(), 5);
  t.is(await second.compactedRevision(), 3);
  t.deepEqual(await second.history('', 3), [
    { type: 'PUT', key: 'c', revision: 4, value: buf('c'), createRevision: 4 },
    { type: 'DELETE', key: 'c', revision: 5, prev: buf('c'), prevRevision: 4, createRevision: 4 },
  ]);
  t.is((await second.create('d', buf('d'))).modRevision, 6);

  // With every key deleted and all history compacted, only meta remembers the revision.
  for (const key of ['a', 'b', 'd']) await second.delete(key); // 7, 8, 9
  await second.compact(0);
  await second.close();

  const third = SqliteStore.open(file);
  t.teardown(() => third.close());
  t.is(await third.currentRevision(), 9);
  t.is(await third.compactedRevision(), 9);
  t.deepEqual(await third.list(''), { items: [], revision: 9, more: false });
  t.is((await third.create('a', buf('again'))).modRevision, 10);
});

test('sqlite: compacts automatically every compactEvery writes down to historyLimit', async (t) => {
  const store = SqliteStore.open(tempFile(), { historyLimit: 5, compactEvery: 10 });
  t.teardown(() => store.close());
  const write = async (from: number, to: number) => {
    for (let i = from; i <= to; i++) await store.create(`k/${i}`, buf(String(i)));
  };

  await write(1, 9);
  t.is(await store.compactedRevision(), 0);
  await write(10, 10);
  t.is(await store.compactedRevision(), 5);
  t.deepEqual(
    (await store.history('', 5)).map((ev) => ev.revision),
    [6, 7, 8, 9, 10],
  );
  await write(11, 25);
  t.is(await store.compactedRevision(), 15);
  t.is((await store.history('', 15)).length, 10);
  await t.throwsAsync(store.history('', 14), { instanceOf: RevisionCompactedError });
});

test('sqlite: a createMany batch keeps the compaction schedule and survives reopening', async (t) => {
  const file = tempFile();
  const store = SqliteStore.open(file, { historyLimit: 5, compactEvery: 10 });
  const seen: number[] = [];
  store.subscribe((ev) => seen.push(ev.revision));
  // revisions 1..23 in one batch: compacted at 10 (to 5) and at 20 (to 15), as single writes would
  const kvs = await store.createMany(Array.from({ length: 23 }, (_, i) => ({ key: `b/${String(i + 1).padStart(2, '0')}`, value: buf(String(i + 1)) })));
  t.deepEqual(kvs.map((kv) => kv.modRevision), Array.from({ length: 23 }, (_, i) => i + 1));
  t.deepEqual(seen, Array.from({ length: 23 }, (_, i) => i + 1));
  t.is(await store.compactedRevision(), 15);
  t.deepEqual((await store.history('', 15)).map((ev) => ev.revision), [16, 17, 18, 19, 20, 21, 22, 23]);
  await store.close();

  const again = SqliteStore.open(file, { historyLimit: 5, compactEvery: 10 });
  t.teardown(() => again.close());
  t.is(await again.currentRevision(), 23);
  t.is((await again.list('b/')).items.length, 23);
  t.deepEqual((await again.get('b/07'))?.value, buf('7'));
});

test('sqlite: listener exceptions go to onListenerError', async (t) => {
  const reported: Array<[unknown, StoreEvent]> = [];
  const store = SqliteStore.open(':memory:', {
    onListenerError: (err, ev) => reported.push([err, ev]),
  });
  t.teardown(() => store.close());
  const failure = new Error('listener failure');
  store.subscribe(() => {
    throw failure;
  });

  const kv = await store.create('a', buf('1'));
  t.is(reported.length, 1);
  t.is(reported[0]![0], failure);
  t.like(reported[0]![1], { type: 'PUT', key: 'a', revision: kv.modRevision });
});

test('sqlite: every write acknowledged before kill -9 survives', async (t) => {
  const file = tempFile();
  const child = spawn(process.execPath, ['--import', 'tsx', writerScript, file], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  const acknowledged = new Map<string, number>();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    // Only complete lines count; a line cut by the kill was not fully acknowledged.
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      const [key, revision] = line.split(' ');
      acknowledged.set(key!, Number(revision));
    }
    if (acknowledged.size >= 200 && child.signalCode === null) child.kill('SIGKILL');
  });
  // 'close' comes after the process exited and its stdout was read to the end.
  const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('close', (_code, sig) => resolve(sig)),
  );
  t.is(signal, 'SIGKILL', `the writer was expected to be killed; stderr:\n${stderr}`);
  t.true(acknowledged.size >= 200, `only ${acknowledged.size} writes were acknowledged`);

  const store = SqliteStore.open(file);
  t.teardown(() => store.close());
  const lost: string[] = [];
  for (const [key, revision] of acknowledged) {
    const kv = await store.get(key);
    const intact =
      kv?.modRevision === revision && kv.createRevision === revision && kv.value.equals(buf(key));
    if (!intact) {
      const found = kv ? `${kv.value}@${kv.modRevision}/${kv.createRevision}` : 'nothing';
      lost.push(`${key}@${revision}: found ${found}`);
    }
  }
  t.deepEqual(lost, []);

  const newest = Math.max(...acknowledged.values());
  t.true((await store.currentRevision()) >= newest);
  const next = await store.create('after-crash', buf('1'));
  t.true(next.modRevision > newest, `next revision ${next.modRevision} <= ${newest}`);
});
