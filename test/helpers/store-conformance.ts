// Conformance tests every Store backend must pass (SPEC 4.1). A backend's test file calls
// storeConformance(test, 'name', makeStore); makeStore must return a fresh, empty store for each
// test. Revisions are asserted relative to the store's revision when the test starts, so a
// backend whose fresh store does not begin at revision 0 passes too. Tests that assert exact
// revisions need that nobody else writes to the backend meanwhile: a backend shared between tests
// (one etcd) passes `test.serial`.
//
// Capabilities that differ between backends are options, so that each backend is held to what it
// promises: `atomicCreateMany: false` (etcd) checks that createMany stops at the first existing key
// and reports the keys it wrote, instead of writing nothing.

import type { ExecutionContext, TestFn } from 'ava';
import {
  KeyExistsError,
  KeyNotFoundError,
  RevisionCompactedError,
  RevisionConflictError,
  type Store,
  type StoreEvent,
} from '../../src/storage/store/interface.ts';

const buf = (s: string) => Buffer.from(s);

export interface ConformanceOptions {
  /** createMany writes nothing when a key exists (default true) */
  atomicCreateMany?: boolean;
  /**
   * writes issued together, without waiting for each other, are committed in the order they were
   * issued (default true: SQLite writes synchronously; etcd applies concurrent requests in any order)
   */
  issueOrder?: boolean;
}

export function storeConformance(
  test: TestFn | TestFn['serial'],
  name: string,
  makeStore: () => Promise<Store>,
  opts: ConformanceOptions = {},
): void {
  const atomicCreateMany = opts.atomicCreateMany ?? true;
  const issueOrder = opts.issueOrder ?? true;
  /** A fresh store, closed when the test ends, and its revision at the start. */
  async function setup(t: ExecutionContext): Promise<{ store: Store; base: number }> {
    const store = await makeStore();
    t.teardown(() => store.close());
    return { store, base: await store.currentRevision() };
  }

  /** Creates `keys` (in the given order) with the key itself as value. */
  async function createAll(store: Store, keys: string[]): Promise<void> {
    for (const key of keys) await store.create(key, buf(key));
  }

  async function listKeys(store: Store, prefix: string): Promise<string[]> {
    return (await store.list(prefix)).items.map((kv) => kv.key);
  }

  test(`${name}: a fresh store is empty`, async (t) => {
    const { store, base } = await setup(t);
    t.is(await store.get('a'), null);
    t.deepEqual(await store.list(''), { items: [], revision: base, more: false });
    t.deepEqual(await store.history('', base), []);
    t.true((await store.compactedRevision()) <= base);
  });

  test(`${name}: create stores the value at the next revision`, async (t) => {
    const { store, base } = await setup(t);
    const bytes = Buffer.from([0, 1, 0x7f, 0x80, 0xff]);
    const kv = await store.create('a', bytes);
    t.deepEqual(kv, { key: 'a', value: bytes, modRevision: base + 1, createRevision: base + 1 });
    t.deepEqual(await store.get('a'), kv);
    t.is(await store.currentRevision(), base + 1);

    // An empty value is a value, not an absent key.
    await store.create('empty', Buffer.alloc(0));
    const empty = await store.get('empty');
    t.deepEqual(empty?.value, Buffer.alloc(0));
    t.is(empty?.modRevision, base + 2);
  });

  test(`${name}: create of an existing key throws KeyExistsError`, async (t) => {
    const { store, base } = await setup(t);
    await store.create('a', buf('1'));
    const err = await t.throwsAsync(store.create('a', buf('2')), { instanceOf: KeyExistsError });
    t.is(err?.key, 'a');
    t.deepEqual((await store.get('a'))?.value, buf('1'));
    t.is(await store.currentRevision(), base + 1, 'a refused write takes no revision');
  });

  test(`${name}: update replaces the value and keeps createRevision`, async (t) => {
    const { store, base } = await setup(t);
    const created = await store.create('a', buf('1'));
    const updated = await store.update('a', buf('2'), created.modRevision);
    t.deepEqual(updated, {
      key: 'a',
      value: buf('2'),
      modRevision: base + 2,
      createRevision: base + 1,
    });
    t.deepEqual(await store.get('a'), updated);
  });

  test(`${name}: update checks the key and its revision`, async (t) => {
    const { store, base } = await setup(t);
    const v1 = await store.create('a', buf('1'));
    await store.update('a', buf('2'), v1.modRevision);

    const conflict = await t.throwsAsync(store.update('a', buf('3'), v1.modRevision), {
      instanceOf: RevisionConflictError,
    });
    t.like(conflict, { key: 'a', expected: base + 1, actual: base + 2 });
    // A revision from the future conflicts too.
    await t.throwsAsync(store.update('a', buf('3'), base + 5), {
      instanceOf: RevisionConflictError,
    });

    const missing = await t.throwsAsync(store.update('b', buf('1'), base + 1), {
      instanceOf: KeyNotFoundError,
    });
    t.is(missing?.key, 'b');

    t.deepEqual((await store.get('a'))?.value, buf('2'));
    t.is(await store.currentRevision(), base + 2);
  });

  test(`${name}: delete removes the key and returns its last value`, async (t) => {
    const { store, base } = await setup(t);
    await store.create('a', buf('1'));
    const v2 = await store.update('a', buf('2'), base + 1);
    const deleted = await store.delete('a');
    t.deepEqual(deleted, { prev: v2, revision: base + 3 });
    t.is(await store.get('a'), null);
    t.deepEqual(await listKeys(store, ''), []);
    t.is(await store.currentRevision(), base + 3);

    const missing = await t.throwsAsync(store.delete('a'), { instanceOf: KeyNotFoundError });
    t.is(missing?.key, 'a');
    t.is(await store.currentRevision(), base + 3);
  });

  test(`${name}: delete with an expected revision is compare-and-swap`, async (t) => {
    const { store, base } = await setup(t);
    const v1 = await store.create('a', buf('1'));
    const v2 = await store.update('a', buf('2'), v1.modRevision);

    const conflict = await t.throwsAsync(store.delete('a', v1.modRevision), {
      instanceOf: RevisionConflictError,
    });
    t.like(conflict, { key: 'a', expected: base + 1, actual: base + 2 });
    t.deepEqual(await store.get('a'), v2);

    t.deepEqual(await store.delete('a', v2.modRevision), { prev: v2, revision: base + 3 });
    await t.throwsAsync(store.delete('a', v2.modRevision), { instanceOf: KeyNotFoundError });
  });

  test(`${name}: a key created again after delete gets a new createRevision`, async (t) => {
    const { store, base } = await setup(t);
    await store.create('a', buf('1'));
    await store.delete('a');
    const again = await store.create('a', buf('2'));
    t.deepEqual(again, {
      key: 'a',
      value: buf('2'),
      modRevision: base + 3,
      createRevision: base + 3,
    });
  });

  test(`${name}: the revision increases by exactly one per write across keys`, async (t) => {
    const { store, base } = await setup(t);
    const revisions = [
      (await store.create('x', buf('1'))).modRevision,
      (await store.create('y', buf('1'))).modRevision,
      (await store.update('x', buf('2'), base + 1)).modRevision,
      (await store.delete('y')).revision,
      (await store.create('z/1', buf('1'))).modRevision,
      (await store.update('z/1', buf('2'), base + 5)).modRevision,
    ];
    t.deepEqual(revisions, [1, 2, 3, 4, 5, 6].map((n) => base + n));
    t.is(await store.currentRevision(), base + 6);
    t.is((await store.list('')).revision, base + 6);
  });

  test(`${name}: list returns exactly the keys under a prefix, in key order`, async (t) => {
    const { store, base } = await setup(t);
    await createAll(store, ['a/y/z', 'a0', 'b/1', 'a/x', 'a', 'a.', 'a/', 'ab']);
    const list = await store.list('a/');
    t.deepEqual(
      list.items.map((kv) => [kv.key, kv.value.toString(), kv.modRevision, kv.createRevision]),
      [
        ['a/', 'a/', base + 7, base + 7],
        ['a/x', 'a/x', base + 4, base + 4],
        ['a/y/z', 'a/y/z', base + 1, base + 1],
      ],
    );
    t.is(list.revision, base + 8);
    t.false(list.more);
    t.deepEqual(await listKeys(store, ''), ['a', 'a.', 'a/', 'a/x', 'a/y/z', 'a0', 'ab', 'b/1']);
    t.deepEqual(await listKeys(store, 'a/x'), ['a/x']);
    t.deepEqual(await listKeys(store, 'c'), []);
  });

  test(`${name}: list treats % and _ in a prefix literally`, async (t) => {
    const { store } = await setup(t);
    await createAll(store, ['p%/1', 'pa/1', 'p_/1', 'pb/1', 'p%x', 'p\\/1', 'p[a]/1']);
    t.deepEqual(await listKeys(store, 'p%/'), ['p%/1']);
    t.deepEqual(await listKeys(store, 'p_/'), ['p_/1']);
    t.deepEqual(await listKeys(store, 'p%'), ['p%/1', 'p%x']);
    t.deepEqual(await listKeys(store, 'p\\/'), ['p\\/1']);
    t.deepEqual(await listKeys(store, 'p[a]'), ['p[a]/1']);
  });

  test(`${name}: list orders keys by their UTF-8 bytes`, async (t) => {
    const { store } = await setup(t);
    // UTF-16 order (JavaScript's) would put the emoji, a surrogate pair, before U+FF21.
    await createAll(store, ['u/\u{1F600}', 'u/\uFF21', 'u/z', 'u/\u00E9']);
    t.deepEqual(await listKeys(store, 'u/'), ['u/z', 'u/\u00E9', 'u/\uFF21', 'u/\u{1F600}']);
  });

  test(`${name}: list handles prefixes ending in the largest code points`, async (t) => {
    const { store } = await setup(t);
    await createAll(store, ['v\u{10FFFF}', 'v\u{10FFFF}x', 'w', 'v\uD7FF/a', 'v\uE000']);
    t.deepEqual(await listKeys(store, 'v\u{10FFFF}'), ['v\u{10FFFF}', 'v\u{10FFFF}x']);
    // The code point after U+D7FF in UTF-8 is U+E000 (surrogates are not encodable).
    t.deepEqual(await listKeys(store, 'v\uD7FF'), ['v\uD7FF/a']);
  });

  test(`${name}: list pages with startKey and limit`, async (t) => {
    const { store, base } = await setup(t);
    await createAll(store, ['pg0', 'pg/3', 'pg/1', 'ph', 'pg/5', 'pg/2', 'pg/4', 'pf/9']);
    const page = async (startKey: string | undefined, limit: number) => {
      const res = await store.list('pg/', { startKey, limit });
      t.is(res.revision, base + 8);
      return [res.items.map((kv) => kv.key), res.more];
    };
    t.deepEqual(await page(undefined, 2), [['pg/1', 'pg/2'], true]);
    // Continuing after the last key of a page, the way the apiserver does: lastKey + "\0".
    t.deepEqual(await page('pg/2\0', 2), [['pg/3', 'pg/4'], true]);
    t.deepEqual(await page('pg/4\0', 2), [['pg/5'], false]);
    // startKey is inclusive; a limit that exactly fits is not "more".
    t.deepEqual(await page('pg/3', 3), [['pg/3', 'pg/4', 'pg/5'], false]);
    // A startKey before the prefix stays within the prefix; one after it yields nothing.
    t.deepEqual(await page('a', 0), [['pg/1', 'pg/2', 'pg/3', 'pg/4', 'pg/5'], false]);
    t.deepEqual(await page('pz', 10), [[], false]);
  });

  test(`${name}: history replays events after a revision, DELETEs with prev`, async (t) => {
    const { store, base } = await setup(t);
    await store.create('h/a', buf('1'));
    await store.update('h/a', buf('2'), base + 1);
    await store.create('other/x', buf('x'));
    await store.create('h/b', buf('b'));
    await store.delete('h/a');

    const put1: StoreEvent = {
      type: 'PUT',
      key: 'h/a',
      revision: base + 1,
      value: buf('1'),
      createRevision: base + 1,
    };
    const put2: StoreEvent = {
      type: 'PUT',
      key: 'h/a',
      revision: base + 2,
      value: buf('2'),
      prev: buf('1'),
      prevRevision: base + 1,
      createRevision: base + 1,
    };
    const other: StoreEvent = {
      type: 'PUT',
      key: 'other/x',
      revision: base + 3,
      value: buf('x'),
      createRevision: base + 3,
    };
    const putB: StoreEvent = {
      type: 'PUT',
      key: 'h/b',
      revision: base + 4,
      value: buf('b'),
      createRevision: base + 4,
    };
    const del: StoreEvent = {
      type: 'DELETE',
      key: 'h/a',
      revision: base + 5,
      prev: buf('2'),
      prevRevision: base + 2,
      createRevision: base + 1,
    };
    t.deepEqual(await store.history('h/', base), [put1, put2, putB, del]);
    t.deepEqual(await store.history('', base), [put1, put2, other, putB, del]);
    t.deepEqual(await store.history('h/', base + 2), [putB, del]);
    t.deepEqual(await store.history('h/', base, 2), [put1, put2]);
    t.deepEqual(await store.history('h/', base, 2, { newest: true }), [putB, del]);
    t.deepEqual(await store.history('', base, 3, { newest: true }), [other, putB, del]);
    t.deepEqual(await store.history('h/', base + 2, 10, { newest: true }), [putB, del]);
    t.deepEqual(await store.history('h/', base + 1, 1), [put2]);
    t.deepEqual(await store.history('h/', base + 5), []);
    t.deepEqual(await store.history('h', base + 3), [putB, del]);
    t.deepEqual(await store.history('other/', base), [other]);
  });

  test(`${name}: compact drops old history and history below it throws`, async (t) => {
    const { store, base } = await setup(t);
    const keys = Array.from({ length: 10 }, (_, i) => `c/${i}`);
    await createAll(store, keys);
    await store.compact(4);
    t.is(await store.compactedRevision(), base + 6);
    t.is(await store.currentRevision(), base + 10);

    const kept = await store.history('c/', base + 6);
    t.deepEqual(
      kept.map((ev) => ev.revision),
      [7, 8, 9, 10].map((n) => base + n),
    );
    const err = await t.throwsAsync(store.history('c/', base + 5), {
      instanceOf: RevisionCompactedError,
    });
    t.like(err, { requested: base + 5, compacted: base + 6 });

    // Compaction never moves backwards, and leaves the current state alone.
    await store.compact(100);
    t.is(await store.compactedRevision(), base + 6);
    t.deepEqual(await listKeys(store, 'c/'), keys);
    t.is((await store.get('c/0'))?.modRevision, base + 1);
  });

  test(`${name}: the revision never decreases after compacting and deleting all`, async (t) => {
    const { store, base } = await setup(t);
    await createAll(store, ['d/1', 'd/2', 'd/3']);
    for (const key of ['d/1', 'd/2', 'd/3']) await store.delete(key);
    await store.compact(0);

    t.is(await store.currentRevision(), base + 6);
    t.is(await store.compactedRevision(), base + 6);
    t.deepEqual(await store.list(''), { items: [], revision: base + 6, more: false });
    t.deepEqual(await store.history('', base + 6), []);
    await t.throwsAsync(store.history('', base + 5), { instanceOf: RevisionCompactedError });

    const next = await store.create('d/1', buf('again'));
    t.is(next.modRevision, base + 7);
    t.is(next.createRevision, base + 7);
  });

  test(`${name}: subscribe delivers every event in order before the write resolves`, async (t) => {
    const { store, base } = await setup(t);
    const seen: StoreEvent[] = [];
    store.subscribe((ev) => seen.push(ev));

    // For each write, as it resolves: its revision if its event was delivered by then, else -1.
    const seenAtResolve: number[] = [];
    const note = (revision: number) =>
      seenAtResolve.push(seen.find((ev) => ev.revision === revision)?.revision ?? -1);
    if (issueOrder) {
      // Issued together, without waiting in between.
      await Promise.all([
        store.create('s/a', buf('1')).then((kv) => note(kv.modRevision)),
        store.create('s/b', buf('1')).then((kv) => note(kv.modRevision)),
        store.update('s/a', buf('2'), base + 1).then((kv) => note(kv.modRevision)),
        store.delete('s/b').then((res) => note(res.revision)),
      ]);
      t.deepEqual(
        seen.map((ev) => [ev.type, ev.key, ev.revision]),
        [
          ['PUT', 's/a', base + 1],
          ['PUT', 's/b', base + 2],
          ['PUT', 's/a', base + 3],
          ['DELETE', 's/b', base + 4],
        ],
      );
      // When each write resolved, its event had already been delivered.
      t.deepEqual(seenAtResolve, [1, 2, 3, 4].map((n) => base + n));
    } else {
      // Issued together on independent keys: committed in some order, delivered in that order.
      await Promise.all(['s/a', 's/b', 's/c', 's/d'].map((key) => store.create(key, buf('1')).then((kv) => note(kv.modRevision))));
      t.deepEqual(seen.map((ev) => ev.revision), [1, 2, 3, 4].map((n) => base + n));
      t.deepEqual(seen.map((ev) => ev.key).sort(), ['s/a', 's/b', 's/c', 's/d']);
      t.true(seen.every((ev) => ev.type === 'PUT'));
      // When each write resolved, its event had already been delivered.
      t.deepEqual([...seenAtResolve].sort((a, b) => a - b), [1, 2, 3, 4].map((n) => base + n));
      // and then one after the other, as above
      const kv = await store.update('s/a', buf('2'), (await store.get('s/a'))!.modRevision);
      t.is(seen.at(-1)?.revision, kv.modRevision);
      const del = await store.delete('s/b');
      t.deepEqual([seen.at(-1)?.type, seen.at(-1)?.revision], ['DELETE', del.revision]);
    }
    // Subscribers see the same events history replays.
    t.deepEqual(seen, await store.history('s/', base));
  });

  test(`${name}: events of writes made by a listener stay in revision order`, async (t) => {
    const { store, base } = await setup(t);
    let echo: Promise<unknown> | undefined;
    store.subscribe((ev) => {
      if (ev.key === 'r/trigger') echo = store.create('r/echo', buf('1'));
    });
    const seen: string[] = [];
    store.subscribe((ev) => seen.push(`${ev.key}@${ev.revision - base}`));

    await store.create('r/trigger', buf('1'));
    await echo;
    t.deepEqual(seen, ['r/trigger@1', 'r/echo@2']);
  });

  test(`${name}: unsubscribe stops delivery`, async (t) => {
    const { store } = await setup(t);
    const seen: string[] = [];
    const other: string[] = [];
    const unsubscribe = store.subscribe((ev) => seen.push(ev.key));
    // The same function subscribed twice is two subscriptions.
    const record = (ev: StoreEvent) => other.push(ev.key);
    const unsubscribeOther = store.subscribe(record);
    store.subscribe(record);

    await store.create('u/1', buf('1'));
    unsubscribe();
    unsubscribe();
    unsubscribeOther();
    await store.create('u/2', buf('1'));
    t.deepEqual(seen, ['u/1']);
    t.deepEqual(other, ['u/1', 'u/1', 'u/2']);
  });

  test(`${name}: a throwing listener breaks neither the write nor other listeners`, async (t) => {
    const { store, base } = await setup(t);
    store.subscribe(() => {
      throw new Error('listener failure');
    });
    const seen: number[] = [];
    store.subscribe((ev) => seen.push(ev.revision));

    const kv = await store.create('t/1', buf('1'));
    t.is(kv.modRevision, base + 1);
    await store.update('t/1', buf('2'), kv.modRevision);
    t.deepEqual(seen, [base + 1, base + 2]);
    t.deepEqual((await store.get('t/1'))?.value, buf('2'));
  });

  test(`${name}: refused writes deliver no events`, async (t) => {
    const { store, base } = await setup(t);
    await store.create('f/1', buf('1'));
    const seen: StoreEvent[] = [];
    store.subscribe((ev) => seen.push(ev));

    await t.throwsAsync(store.create('f/1', buf('2')), { instanceOf: KeyExistsError });
    await t.throwsAsync(store.update('f/1', buf('2'), base + 9), {
      instanceOf: RevisionConflictError,
    });
    await t.throwsAsync(store.update('f/2', buf('2'), base + 1), { instanceOf: KeyNotFoundError });
    await t.throwsAsync(store.delete('f/1', base + 9), { instanceOf: RevisionConflictError });
    await t.throwsAsync(store.delete('f/2'), { instanceOf: KeyNotFoundError });

    t.deepEqual(seen, []);
    t.is(await store.currentRevision(), base + 1);
    t.deepEqual(await store.history('', base), [
      { type: 'PUT', key: 'f/1', revision: base + 1, value: buf('1'), createRevision: base + 1 },
    ]);
  });

  test(`${name}: createMany gives each key its own revision and event, in order, before it resolves`, async (t) => {
    const { store, base } = await setup(t);
    await store.create('m/0', buf('0'));
    const seen: StoreEvent[] = [];
    store.subscribe((ev) => seen.push(ev));
    let seenAtResolve = -1;
    const kvs = await store.createMany(['m/3', 'm/1', 'm/2'].map((key) => ({ key, value: buf(key) }))).then((r) => {
      seenAtResolve = seen.length;
      return r;
    });
    t.deepEqual(
      kvs.map((kv) => [kv.key, kv.value.toString(), kv.modRevision, kv.createRevision]),
      [
        ['m/3', 'm/3', base + 2, base + 2],
        ['m/1', 'm/1', base + 3, base + 3],
        ['m/2', 'm/2', base + 4, base + 4],
      ],
    );
    t.is(seenAtResolve, 3);
    t.deepEqual(
      seen.map((ev) => [ev.type, ev.key, ev.revision, ev.prev]),
      [
        ['PUT', 'm/3', base + 2, undefined],
        ['PUT', 'm/1', base + 3, undefined],
        ['PUT', 'm/2', base + 4, undefined],
      ],
    );
    t.is(await store.currentRevision(), base + 4);
    t.deepEqual(await store.get('m/1'), kvs[1]);
    t.deepEqual(seen, await store.history('m/', base + 1));
    t.deepEqual(await store.createMany([]), []);
    t.is(await store.currentRevision(), base + 4);
    // the revision goes on from the batch
    t.is((await store.create('m/4', buf('4'))).modRevision, base + 5);
  });

  if (!atomicCreateMany) {
    test(`${name}: createMany stops at the first existing key and reports what it wrote`, async (t) => {
      const { store, base } = await setup(t);
      await store.create('y/3', buf('old'));
      const seen: StoreEvent[] = [];
      store.subscribe((ev) => seen.push(ev));

      const err = (await t.throwsAsync(store.createMany(['y/1', 'y/2', 'y/3', 'y/4'].map((key) => ({ key, value: buf('new') }))), { instanceOf: KeyExistsError })) as KeyExistsError;
      t.is(err.key, 'y/3');
      t.deepEqual(
        err.created.map((kv) => [kv.key, kv.value.toString(), kv.modRevision, kv.createRevision]),
        [
          ['y/1', 'new', base + 2, base + 2],
          ['y/2', 'new', base + 3, base + 3],
        ],
      );
      // the written keys' events were delivered by the time it rejected; nothing after y/3
      t.deepEqual(seen.map((ev) => [ev.type, ev.key, ev.revision]), [
        ['PUT', 'y/1', base + 2],
        ['PUT', 'y/2', base + 3],
      ]);
      t.deepEqual(await listKeys(store, 'y/'), ['y/1', 'y/2', 'y/3']);
      t.deepEqual((await store.get('y/3'))?.value, buf('old'));
      t.is(await store.currentRevision(), base + 3);
      t.deepEqual(seen, await store.history('y/', base + 1));
    });
  }

  test(`${name}: createMany writes nothing when ${atomicCreateMany ? 'one key exists or ' : ''}a key is given twice`, async (t) => {
    const { store, base } = await setup(t);
    await store.create('x/2', buf('old'));
    const seen: StoreEvent[] = [];
    store.subscribe((ev) => seen.push(ev));

    // the existing key comes first, so even a non-atomic createMany writes nothing
    const existing = await t.throwsAsync(store.createMany([...(atomicCreateMany ? ['x/1'] : []), 'x/2', 'x/3'].map((key) => ({ key, value: buf('new') }))), { instanceOf: KeyExistsError });
    t.is((existing as KeyExistsError).key, 'x/2');
    const twice = await t.throwsAsync(store.createMany(['x/4', 'x/5', 'x/4'].map((key) => ({ key, value: buf('new') }))), { instanceOf: KeyExistsError });
    t.is((twice as KeyExistsError).key, 'x/4');

    t.deepEqual(seen, []);
    t.is(await store.currentRevision(), base + 1);
    t.deepEqual(await listKeys(store, 'x/'), ['x/2']);
    t.deepEqual((await store.get('x/2'))?.value, buf('old'));
    t.deepEqual(await store.history('', base + 1), []);
    // and the store goes on from where it was
    t.is((await store.createMany([{ key: 'x/1', value: buf('1') }]))[0].modRevision, base + 2);
  });
}
