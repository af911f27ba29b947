// The EventRecorder: the Event it makes (as client-go's makeEvent), the store recorder writing
// through a real Event registry (SQLite store, watch cache), aggregation of repeats into a count,
// an expired Event written again, the per-object rate limit, the bounded queue that never blocks
// the caller, and retries of failed (not refused) writes.
import test from 'ava';
import pino from 'pino';
import { Writable } from 'node:stream';
import type { CoreEvent } from '../../src/api/core.ts';
import { eventResource } from '../../src/apiserver/registry/events.ts';
import { Registry } from '../../src/apiserver/registry/generic.ts';
import { makeEvent, SinkRecorder, storeEventRecorder, type EventSink } from '../../src/events/recorder.ts';
import { Cacher, CacherSet } from '../../src/storage/store/cacher.ts';
import { SqliteStore } from '../../src/storage/store/sqlite.ts';
import { poll } from '../helpers/poll.ts';

const until = (what: string, cond: () => boolean) => poll(what, async () => (cond() ? true : undefined));
const SYSTEM = { name: 'system:pkgserver', groups: ['system:authenticated', 'system:masters'] };

function logger() {
  const lines: any[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, cb) => (lines.push(JSON.parse(String(chunk))), cb()) }));
  return { log, lines };
}

async function eventRegistry(): Promise<Registry> {
  const store = SqliteStore.open(':memory:');
  const cachers = new CacherSet(store);
  const def = eventResource();
  const reg = new Registry(def, store, cachers.add(new Cacher(Registry.prefix(def), Registry.decode)));
  await cachers.start();
  return reg;
}

const repo = (name = 'catalog') => ({
  apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
  kind: 'Repository',
  metadata: { name, namespace: 'team-a', uid: `uid-${name}`, resourceVersion: '7', labels: { a: 'b' } },
  spec: { git: { url: '/x' } },
});

const stored = (reg: Registry) => reg.list('team-a', {}).items as CoreEvent[];

test('makeEvent: the Event client-go makes (involvedObject, source, reporting component, count 1, name with hex nanoseconds)', (t) => {
  const now = new Date('2025-03-04T05:06:07.891Z');
  const e = makeEvent(repo(), 'Warning', 'SyncFailed', 'no route', { component: 'pkgserver', host: 'node-1' }, now);
  t.regex(e.metadata.name!, /^catalog\.[0-9a-f]{16}$/);
  const { name: _n, ...meta } = e.metadata;
  t.deepEqual(
    { ...e, metadata: meta },
    {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { namespace: 'team-a' },
      involvedObject: { kind: 'Repository', namespace: 'team-a', name: 'catalog', uid: 'uid-catalog', apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', resourceVersion: '7' },
      reason: 'SyncFailed',
      message: 'no route',
      source: { component: 'pkgserver', host: 'node-1' },
      firstTimestamp: '2025-03-04T05:06:07Z',
      lastTimestamp: '2025-03-04T05:06:07Z',
      count: 1,
      type: 'Warning',
      reportingComponent: 'pkgserver',
      reportingInstance: 'node-1',
    },
  );
  // names are unique and increasing even within one millisecond
  const names = Array.from({ length: 50 }, () => makeEvent(repo(), 'Normal', 'R', 'm', { component: 'c', host: 'h' }).metadata.name!);
  t.is(new Set(names).size, 50);
  t.deepEqual([...names].sort(), names);
  // a cluster-scoped object's Events go to "default"
  t.is(makeEvent({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', uid: 'u' } }, 'Normal', 'R', 'm', { component: 'c', host: 'h' }).metadata.namespace, 'default');
});

test('the store recorder writes through the Event registry; repeats within 10 minutes count on one Event', async (t) => {
  const events = await eventRegistry();
  const rec = storeEventRecorder(events, { component: 'pkgserver', host: 'node-1', log: logger().log, user: SYSTEM });
  rec.event(repo(), 'Warning', 'SyncFailed', 'no route');
  await until('first event', () => stored(events).length === 1);
  const first = stored(events)[0];
  rec.event(repo(), 'Warning', 'SyncFailed', 'no route');
  rec.event(repo(), 'Warning', 'SyncFailed', 'no route');
  rec.event(repo(), 'Warning', 'SyncFailed', 'other message');
  rec.event(repo(), 'Normal', 'SyncFailed', 'no route');
  await until('three events, one with count 3', () => stored(events).length === 3 && stored(events).some((e) => e.count === 3));
  const all = stored(events);
  const counted = all.find((e) => e.metadata.name === first.metadata.name)!;
  t.is(counted.count, 3);
  t.is(counted.firstTimestamp, first.firstTimestamp);
  t.true(Date.parse(counted.lastTimestamp!) >= Date.parse(first.lastTimestamp!));
  t.is(counted.metadata.uid, first.metadata.uid);
  t.deepEqual(
    all.map((e) => [e.type, e.reason, e.message, e.count]).sort(),
    [
      ['Normal', 'SyncFailed', 'no route', 1],
      ['Warning', 'SyncFailed', 'no route', 3],
      ['Warning', 'SyncFailed', 'other message', 1],
    ],
  );
  // what the registry stored is the recorder's Event with the system fields
  t.deepEqual(counted.involvedObject, { kind: 'Repository', namespace: 'team-a', name: 'catalog', uid: 'uid-catalog', apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', resourceVersion: '7' });
  t.deepEqual(counted.source, { component: 'pkgserver', host: 'node-1' });
});

test('a repeat of an Event deleted meanwhile (TTL) writes it again with its name and the next count', async (t) => {
  const events = await eventRegistry();
  const rec = storeEventRecorder(events, { component: 'pkgserver', host: 'h', log: logger().log, user: SYSTEM });
  rec.event(repo(), 'Normal', 'Synced', 'ok');
  await until('event', () => stored(events).length === 1);
  const name = stored(events)[0].metadata.name!;
  await events.delete('team-a', name, { dryRun: false }, { user: SYSTEM, dryRun: false });
  rec.event(repo(), 'Normal', 'Synced', 'ok');
  await until('written again', () => stored(events).length === 1);
  t.is(stored(events)[0].metadata.name, name);
  t.is(stored(events)[0].count, 2);
});

test('rate limit per object: a burst, then nothing until the bucket refills; other objects are not affected', async (t) => {
  const events = await eventRegistry();
  const { log, lines } = logger();
  const rec = storeEventRecorder(events, { component: 'pkgserver', host: 'h', log, user: SYSTEM, burst: 3, refillMs: 3_600_000 });
  for (let i = 0; i < 5; i++) rec.event(repo('a'), 'Normal', `Reason${i}`, 'm');
  rec.event(repo('b'), 'Normal', 'Reason0', 'm');
  await until('four events', () => stored(events).length === 4);
  t.deepEqual(stored(events).map((e) => `${e.involvedObject.name}/${e.reason}`).sort(), ['a/Reason0', 'a/Reason1', 'a/Reason2', 'b/Reason0']);
  t.is(lines.filter((l) => l.msg === 'event dropped: too many events about this object').length, 2);
});

test('the queue is bounded and event() never waits: with the writer stuck, extra events are dropped', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const created: CoreEvent[] = [];
  const sink: EventSink = {
    async create(ev) {
      await gate;
      created.push(ev);
      return ev;
    },
    patch: () => Promise.reject(new Error('not expected')),
  };
  const { log, lines } = logger();
  const rec = new SinkRecorder(sink, { component: 'c', host: 'h', log, queueSize: 2 });
  // the first is taken by the writer at once, two wait, two are dropped
  for (let i = 0; i < 5; i++) rec.event(repo(), 'Normal', `R${i}`, 'm');
  t.is(lines.filter((l) => l.msg === 'event dropped: the event queue is full').length, 2);
  t.is(created.length, 0);
  release();
  await until('three written', () => created.length === 3);
  t.deepEqual(created.map((e) => e.reason), ['R0', 'R1', 'R2']);
});

test('a failed write (no API status) is retried; a refused one (a status code) is not; neither reaches the caller', async (t) => {
  const calls: string[] = [];
  let failures = 2;
  const sink: EventSink = {
    async create(ev) {
      calls.push(ev.reason!);
      if (ev.reason === 'Refused') throw Object.assign(new Error('events "x" is forbidden'), { code: 403 });
      if (failures-- > 0) throw new Error('connect ECONNREFUSED');
      return ev;
    },
    patch: () => Promise.reject(new Error('not expected')),
  };
  const { log, lines } = logger();
  const rec = new SinkRecorder(sink, { component: 'c', host: 'h', log, retryDelayMs: 5 });
  t.notThrows(() => rec.event(repo(), 'Normal', 'Refused', 'm'));
  t.notThrows(() => rec.event(repo(), 'Normal', 'Flaky', 'm'));
  await until('flaky written', () => calls.filter((c) => c === 'Flaky').length === 3);
  await until('log of the last retry', () => lines.filter((l) => l.msg === 'event not written; retrying').length === 2);
  t.deepEqual(calls, ['Refused', 'Flaky', 'Flaky', 'Flaky']);
  t.is(lines.filter((l) => l.msg === 'event refused by the API server (not retried)').length, 1);
  // an object without metadata is still no exception for the caller
  t.notThrows(() => rec.event({} as never, 'Normal', 'Odd', 'm'));
});
