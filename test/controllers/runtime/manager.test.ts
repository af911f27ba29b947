// The manager: informers started and synced before any controller runs, shared informers, the
// leader election hook (controllers run only while leading, and start again from the informers'
// state when leadership comes back), and stop() waiting for running reconciles.
import test from 'ava';
import { Controller, type ObjectKey } from '../../../src/controllers/runtime/controller.ts';
import { Manager, type LeaderCallbacks, type LeaderElector } from '../../../src/controllers/runtime/manager.ts';
import { poll } from '../../helpers/poll.ts';
import { env, gate } from './env.ts';

/** A leader elector the test drives: lead() and lose() stand for a Lease gained and lost. */
class TestElector implements LeaderElector {
  private callbacks?: LeaderCallbacks;
  stopped = false;
  run(callbacks: LeaderCallbacks): void {
    this.callbacks = callbacks;
  }
  lead(): void {
    this.callbacks!.onStartedLeading();
  }
  lose(): void {
    this.callbacks!.onStoppedLeading();
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

test('manager: controllers start only after every informer has synced', async (t) => {
  const e = await env(t);
  for (let i = 0; i < 20; i++) await e.put(e.gadgets, 'a', `g${i}`, {});
  for (let i = 0; i < 5; i++) await e.put(e.widgets, 'a', `w${i}`, {});
  const m = new Manager({ logger: e.logger });
  const widgets = m.informer(e.widgets);
  // read in reconcile only: started by the manager because it was made through it
  const gadgets = m.informer(e.gadgets);
  t.is(m.informer(e.gadgets), gadgets);
  const seen: { key: string; gadgets: number; synced: boolean }[] = [];
  const c = new Controller({
    name: 'ordered',
    logger: e.logger,
    reconciler: {
      async reconcile(key: ObjectKey) {
        seen.push({ key: key.name, gadgets: gadgets.list('a').length, synced: widgets.hasSynced() && gadgets.hasSynced() });
      },
    },
  }).watches(widgets);
  m.add(c);
  t.false(gadgets.hasSynced());
  await m.start();
  t.teardown(() => m.stop());
  await poll('five reconciles', async () => (seen.length === 5 ? true : undefined));
  t.deepEqual(
    seen.sort((a, b) => a.key.localeCompare(b.key)),
    ['w0', 'w1', 'w2', 'w3', 'w4'].map((key) => ({ key, gadgets: 20, synced: true })),
  );
  t.true(m.isLeading());
  t.throws(() => m.add(c), { message: 'controller ordered added after the manager started' });
});

test('manager: controllers run only while leading, and resume from the informers when leading again', async (t) => {
  const e = await env(t);
  await e.put(e.widgets, 'a', 'w1', {});
  const elector = new TestElector();
  const m = new Manager({ logger: e.logger, leaderElector: elector });
  let phase = 'follower';
  const seen: string[] = [];
  const c = new Controller({
    name: 'led',
    logger: e.logger,
    reconciler: {
      async reconcile(key) {
        seen.push(`${phase} ${key.name}`);
      },
    },
  }).watches(m.informer(e.widgets));
  m.add(c);
  await m.start();
  t.teardown(() => m.stop());
  // synced, not leading: nothing runs (events included)
  await e.put(e.widgets, 'a', 'w2', {});
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.deepEqual(seen, []);
  t.false(c.isRunning());

  phase = 'leader';
  elector.lead();
  await poll('both reconciled', async () => (seen.length === 2 ? true : undefined));
  t.deepEqual(seen.sort(), ['leader w1', 'leader w2']);
  t.true(m.isLeading());

  elector.lose();
  await poll('controllers stopped', async () => (!c.isRunning() ? true : undefined));
  phase = 'follower';
  t.false(m.isLeading());
  await e.put(e.widgets, 'a', 'w3', {});
  await e.setSpec(e.widgets, 'a', 'w1', { color: 'red' });
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.is(seen.length, 2);

  // leading again: every object is reconciled, the one made meanwhile too
  phase = 'leader again';
  elector.lead();
  await poll('three reconciled', async () => (seen.length === 5 ? true : undefined));
  t.deepEqual(seen.slice(2).sort(), ['leader again w1', 'leader again w2', 'leader again w3']);

  await m.stop();
  t.true(elector.stopped);
  t.false(c.isRunning());
});

test('manager: stop() waits for running reconciles before giving up leadership', async (t) => {
  const e = await env(t);
  await e.put(e.widgets, 'a', 'w1', {});
  const elector = new TestElector();
  const m = new Manager({ logger: e.logger, leaderElector: elector });
  const hold = gate();
  let running = false;
  let finished = false;
  m.add(
    new Controller({
      name: 'slow',
      logger: e.logger,
      reconciler: {
        async reconcile() {
          running = true;
          await hold.promise;
          finished = true;
        },
      },
    }).watches(m.informer(e.widgets)),
  );
  await m.start();
  elector.lead();
  await poll('the reconcile running', async () => (running ? true : undefined));
  let stopped = false;
  const stopping = m.stop().then(() => (stopped = true));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  t.false(stopped);
  t.false(elector.stopped);
  hold.open();
  await stopping;
  t.true(finished);
  t.true(elector.stopped);
});

test('manager: the default elector leads at once', async (t) => {
  const e = await env(t);
  await e.put(e.widgets, 'a', 'w1', {});
  const m = new Manager({ logger: e.logger });
  const seen: string[] = [];
  m.add(new Controller({ name: 'solo', logger: e.logger, reconciler: { reconcile: async (k) => void seen.push(k.name) } }).watches(m.informer(e.widgets)));
  await m.start();
  t.teardown(() => m.stop());
  await poll('reconciled', async () => (seen.length === 1 ? true : undefined));
  t.deepEqual(seen, ['w1']);
  t.deepEqual(
    e.logs.filter((l) => l.controller === 'manager').map((l) => l.msg),
    ['started leading: starting the controllers'],
  );
});
