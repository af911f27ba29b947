// The controller over real informers and Registries: an event enqueues only the keys it maps to
// (own key, index, owner references), bursts are de-duplicated, one key is never reconciled by two
// workers at once, errors back off exponentially (a 403 waits the longest delay), requeueAfter
// is honoured, stop() waits for running reconciles, and the metrics count it all.
import test from 'ava';
import client from 'prom-client';
import { forbidden } from '../../../src/apiserver/errors.ts';
import { Controller, indexKeys, ownerKeys, type ObjectKey, type Reconciler, type Result } from '../../../src/controllers/runtime/controller.ts';
import { Informer } from '../../../src/controllers/runtime/informer.ts';
import { poll } from '../../helpers/poll.ts';
import { env, gate, GROUP } from './env.ts';

/** Counts reconciles per "namespace/name" and runs `body` for each. */
class Counting implements Reconciler {
  readonly counts = new Map<string, number>();
  readonly order: string[] = [];
  constructor(private readonly body: (key: ObjectKey, n: number) => Promise<Result | void> = async () => {}) {}
  async reconcile(key: ObjectKey): Promise<Result | void> {
    const k = `${key.namespace}/${key.name}`;
    const n = (this.counts.get(k) ?? 0) + 1;
    this.counts.set(k, n);
    this.order.push(k);
    return this.body(key, n);
  }
  count(k: string): number {
    return this.counts.get(k) ?? 0;
  }
  reset(): void {
    this.counts.clear();
    this.order.length = 0;
  }
}

/** Waits until the reconciler has seen `key` `n` times. */
const reconciled = (r: Counting, key: string, n = 1) => poll(`${n} reconcile(s) of ${key}`, async () => (r.count(key) >= n ? true : undefined));

const metricValues = async (reg: client.Registry, name: string) =>
  Object.fromEntries((await reg.getSingleMetric(name)!.get()).values.map((v) => [Object.values(v.labels).join(','), v.value]));

test('controller: a gadget event reconciles only the widgets whose index names it', async (t) => {
  const e = await env(t);
  for (let i = 0; i < 10; i++) await e.put(e.widgets, 'a', `w${i}`, { refs: [`g${i % 5}`] });
  for (let i = 0; i < 5; i++) await e.put(e.gadgets, 'a', `g${i}`, { color: 'red' });
  const widgets = new Informer(e.widgets);
  const gadgets = new Informer(e.gadgets);
  widgets.addIndex('gadget', (o) => (o.spec.refs ?? []).map((r: string) => `${o.metadata.namespace}/${r}`));
  widgets.start();
  gadgets.start();
  const r = new Counting();
  const c = new Controller({ name: 'widgets', reconciler: r, logger: e.logger })
    .watches(widgets)
    .watches(gadgets, indexKeys(widgets, 'gadget', (g) => [`${g.metadata.namespace}/${g.metadata.name}`]));
  c.start();
  t.teardown(() => c.stop());
  // the start: every widget once (the gadgets' replays name the same keys, still queued)
  c.enqueue({ namespace: 'a', name: 'sentinel' });
  await reconciled(r, 'a/sentinel');
  t.deepEqual([...r.counts.values()], Array(11).fill(1));
  r.reset();

  // g2 changes: w2 and w7 only
  await e.setSpec(e.gadgets, 'a', 'g2', { color: 'blue' });
  await reconciled(r, 'a/w2');
  await reconciled(r, 'a/w7');
  // one worker, first in first out: once a later key has run, everything queued before it has too
  c.enqueue({ namespace: 'a', name: 'sentinel' });
  await reconciled(r, 'a/sentinel');
  t.deepEqual(Object.fromEntries(r.counts), { 'a/w2': 1, 'a/w7': 1, 'a/sentinel': 1 });

  // w3 moves from g3 to g4: it is reconciled (its own event); then a g3 event reaches w8 only
  r.reset();
  await e.setSpec(e.widgets, 'a', 'w3', { refs: ['g4'] });
  await reconciled(r, 'a/w3');
  r.reset();
  await e.setSpec(e.gadgets, 'a', 'g3', { color: 'green' });
  await reconciled(r, 'a/w8');
  c.enqueue({ namespace: 'a', name: 'sentinel' });
  await reconciled(r, 'a/sentinel');
  t.deepEqual(Object.fromEntries(r.counts), { 'a/w8': 1, 'a/sentinel': 1 });
});

test('controller: an owned object event reconciles its owners of the given kind only', async (t) => {
  const e = await env(t);
  const owner = (name: string, kind = 'Widget', controller = true) => ({ apiVersion: `${GROUP}/v1`, kind, name, uid: `uid-${name}`, controller });
  await e.gadgets.create('a', { metadata: { name: 'g1', ownerReferences: [owner('w1'), owner('w2', 'Widget', false), owner('x', 'Other', false)] }, spec: {} }, e.system);
  const gadgets = new Informer(e.gadgets);
  gadgets.start();
  const r = new Counting();
  const c = new Controller({ name: 'owners', reconciler: r, logger: e.logger }).watches(gadgets, ownerKeys(GROUP, 'Widget', { controllerOnly: true }));
  c.start();
  t.teardown(() => c.stop());
  await reconciled(r, 'a/w1');
  // the owner changes: the old owner and the new one are reconciled
  r.reset();
  await e.gadgets.update('a', 'g1', (cur) => ({ obj: { ...cur, metadata: { ...cur.metadata, ownerReferences: [owner('w3')] } } }), e.system);
  await reconciled(r, 'a/w1');
  await reconciled(r, 'a/w3');
  c.enqueue({ namespace: 'a', name: 'sentinel' });
  await reconciled(r, 'a/sentinel');
  t.deepEqual(Object.fromEntries(r.counts), { 'a/w1': 1, 'a/w3': 1, 'a/sentinel': 1 });
});

test('controller: a burst of events for one key gives one reconcile; a key re-added while running runs once more', async (t) => {
  const e = await env(t);
  const metrics = new client.Registry();
  await e.put(e.widgets, 'a', 'blocker', {});
  await e.put(e.widgets, 'a', 'x', { color: '0' });
  const widgets = new Informer(e.widgets);
  widgets.start();
  const hold = gate();
  let blocked = false;
  const r = new Counting(async (key, n) => {
    if (key.name === 'blocker' && n === 1) {
      blocked = true;
      await hold.promise;
    }
  });
  const c = new Controller({ name: 'burst', reconciler: r, logger: e.logger, metrics }).watches(widgets);
  // the initial replay queues blocker then x: blocker holds the only worker
  c.start();
  t.teardown(() => c.stop());
  await poll('blocker running', async () => (blocked ? true : undefined));
  for (let i = 1; i <= 10; i++) await e.setSpec(e.widgets, 'a', 'x', { color: String(i) });
  for (let i = 1; i <= 3; i++) await e.setSpec(e.widgets, 'a', 'blocker', { color: String(i) });
  t.deepEqual(await metricValues(metrics, 'workqueue_depth'), { burst: 1 });
  hold.open();
  await reconciled(r, 'a/blocker', 2);
  c.enqueue({ namespace: 'a', name: 'sentinel' });
  await reconciled(r, 'a/sentinel');
  t.deepEqual(r.order, ['a/blocker', 'a/x', 'a/blocker', 'a/sentinel']);
  // adds: blocker, x, blocker (while running), sentinel
  t.deepEqual(await metricValues(metrics, 'workqueue_adds_total'), { burst: 4 });
  t.deepEqual(await metricValues(metrics, 'controller_runtime_reconcile_total'), { 'burst,success': 4, 'burst,error': 0, 'burst,requeue': 0, 'burst,requeue_after': 0 });
});

test('controller: one key is never reconciled by two workers at once', async (t) => {
  const e = await env(t);
  const keys = ['k0', 'k1', 'k2', 'k3'];
  const active = new Set<string>();
  let overlap = 0;
  let peak = 0;
  const holds = [gate(), gate()];
  const r = new Counting(async (key, n) => {
    if (active.has(key.name)) overlap++;
    active.add(key.name);
    peak = Math.max(peak, active.size);
    await holds[n - 1].promise;
    active.delete(key.name);
  });
  const c = new Controller({ name: 'parallel', reconciler: r, workers: 4, logger: e.logger });
  c.start();
  t.teardown(() => c.stop());
  for (const k of keys) c.enqueue({ namespace: 'a', name: k });
  await poll('four reconciles running', async () => (active.size === 4 ? true : undefined));
  // every key again, many times, while all four run
  for (let i = 0; i < 5; i++) for (const k of keys) c.enqueue({ namespace: 'a', name: k });
  holds[0].open();
  await poll('the second round running', async () => (keys.every((k) => r.count(`a/${k}`) === 2) && active.size === 4 ? true : undefined));
  holds[1].open();
  await poll('all done', async () => (active.size === 0 ? true : undefined));
  t.is(overlap, 0);
  t.is(peak, 4);
  t.deepEqual(Object.fromEntries(r.counts), { 'a/k0': 2, 'a/k1': 2, 'a/k2': 2, 'a/k3': 2 });
});

test('controller: errors are retried with exponential backoff, logged with the key, and counted', async (t) => {
  const e = await env(t);
  const metrics = new client.Registry();
  const times: number[] = [];
  const r = new Counting(async (_key, n) => {
    times.push(Date.now());
    if (n <= 3) throw new Error(`attempt ${n} failed`);
  });
  const c = new Controller({ name: 'flaky', reconciler: r, baseDelayMs: 40, maxDelayMs: 10_000, logger: e.logger, metrics });
  c.start();
  t.teardown(() => c.stop());
  c.enqueue({ namespace: 'a', name: 'w1' });
  await reconciled(r, 'a/w1', 4);
  // 40, 80, 160 ms at least (timers may fire a millisecond early by Date.now's rounding)
  const gaps = times.slice(1).map((x, i) => x - times[i]);
  t.true(gaps[0] >= 39 && gaps[1] >= 79 && gaps[2] >= 159, `gaps ${gaps}`);
  t.deepEqual(
    e.logs.filter((l) => l.msg === 'Reconciler error').map((l) => [l.controller, l.namespace, l.name, l.err, l.retryInMs, l.level]),
    [
      ['flaky', 'a', 'w1', 'attempt 1 failed', 40, 50],
      ['flaky', 'a', 'w1', 'attempt 2 failed', 80, 50],
      ['flaky', 'a', 'w1', 'attempt 3 failed', 160, 50],
    ],
  );
  await poll('the success counted', async () => ((await metricValues(metrics, 'controller_runtime_reconcile_total'))['flaky,success'] === 1 ? true : undefined));
  t.deepEqual(await metricValues(metrics, 'controller_runtime_reconcile_total'), { 'flaky,success': 1, 'flaky,error': 3, 'flaky,requeue': 0, 'flaky,requeue_after': 0 });
  t.deepEqual(await metricValues(metrics, 'controller_runtime_reconcile_errors_total'), { flaky: 3 });
  t.deepEqual(await metricValues(metrics, 'workqueue_retries_total'), { flaky: 3 });
  t.deepEqual(await metricValues(metrics, 'workqueue_adds_total'), { flaky: 4 });
});

test('controller: a 403 is retried only after the longest delay; another error after the first', async (t) => {
  const e = await env(t);
  const r = new Counting(async (key) => {
    if (key.name === 'denied') throw forbidden({ group: GROUP, resource: 'widgets' }, key.name, 'User "ctrl" cannot update resource "widgets"');
    throw new Error('transient');
  });
  const c = new Controller({ name: 'denied', reconciler: r, baseDelayMs: 25, maxDelayMs: 600_000, logger: e.logger });
  c.start();
  t.teardown(() => c.stop());
  c.enqueue({ namespace: 'a', name: 'denied' });
  c.enqueue({ namespace: 'a', name: 'other' });
  await poll('both failed', async () => (e.logs.filter((l) => l.msg === 'Reconciler error').length >= 2 ? true : undefined));
  const first = (name: string) => e.logs.find((l) => l.msg === 'Reconciler error' && l.name === name)!;
  t.is(first('denied').retryInMs, 600_000);
  t.is(first('denied').err, 'widgets.test.pkgserver.dev "denied" is forbidden: User "ctrl" cannot update resource "widgets"');
  t.is(first('other').retryInMs, 25);
  // an event still reconciles a denied key at once (level-triggered: the policy may have changed)
  c.enqueue({ namespace: 'a', name: 'denied' });
  await reconciled(r, 'a/denied', 2);
});

test('controller: requeueAfter runs the key again after the delay and is counted', async (t) => {
  const e = await env(t);
  const metrics = new client.Registry();
  const times: number[] = [];
  const r = new Counting(async (_key, n) => {
    times.push(Date.now());
    return n === 1 ? { requeueAfter: 120 } : undefined;
  });
  const c = new Controller({ name: 'periodic', reconciler: r, logger: e.logger, metrics });
  c.start();
  t.teardown(() => c.stop());
  c.enqueue({ namespace: 'a', name: 'w1' });
  await reconciled(r, 'a/w1', 2);
  t.true(times[1] - times[0] >= 119, `gap ${times[1] - times[0]}`);
  await poll('the second reconcile counted', async () => ((await metricValues(metrics, 'controller_runtime_reconcile_total'))['periodic,success'] === 1 ? true : undefined));
  t.deepEqual(await metricValues(metrics, 'controller_runtime_reconcile_total'), { 'periodic,success': 1, 'periodic,error': 0, 'periodic,requeue': 0, 'periodic,requeue_after': 1 });
  t.deepEqual(await metricValues(metrics, 'workqueue_retries_total'), { periodic: 1 });
});

test('controller: stop() waits for running reconciles, and a stopped controller hears no events', async (t) => {
  const e = await env(t);
  const widgets = new Informer(e.widgets);
  widgets.start();
  const hold = gate();
  let running = false;
  let finished = false;
  const r = new Counting(async (key) => {
    if (key.name !== 'slow') return;
    running = true;
    await hold.promise;
    finished = true;
  });
  const c = new Controller({ name: 'stopper', reconciler: r, logger: e.logger }).watches(widgets);
  c.start();
  await e.put(e.widgets, 'a', 'slow', {});
  await poll('slow running', async () => (running ? true : undefined));
  let stopped = false;
  const stopping = c.stop().then(() => (stopped = true));
  // a few turns of the event loop: stop() is still waiting
  for (let i = 0; i < 20; i++) await new Promise((res) => setImmediate(res));
  t.false(stopped);
  t.true(c.isRunning());
  hold.open();
  await stopping;
  t.true(finished);
  t.false(c.isRunning());
  await e.put(e.widgets, 'a', 'later', {});
  c.enqueue({ namespace: 'a', name: 'later' });
  for (let i = 0; i < 20; i++) await new Promise((res) => setImmediate(res));
  t.is(r.count('a/later'), 0);
});
