// The work queue's delayed adds: a delay past setTimeout's 2^31-1 ms (Node fires those at once)
// waits in steps; a delayed add is counted once as a retry; a sooner add replaces a later one.
import test from 'ava';
import client from 'prom-client';
import { WorkQueue } from '../../../src/controllers/runtime/queue.ts';
import { poll } from '../../helpers/poll.ts';

const retries = async (register: client.Registry) => (await register.getSingleMetric('workqueue_retries_total')!.get()).values.find((v) => v.labels.name === 'q')?.value;

test('a delay longer than 2^31-1 ms does not fire at once (Node would fire it after 1 ms)', async (t) => {
  const register = new client.Registry();
  const ran: string[] = [];
  const q = new WorkQueue(async (key) => void ran.push(key), { workers: 1, baseDelayMs: 10, maxDelayMs: 1000, metrics: { register, name: 'q' } });
  t.teardown(() => q.stop());
  q.addAfter('far', 2 ** 31 + 5_000);
  q.addAfter('near', 30);
  await poll('the near key ran', async () => (ran.includes('near') ? true : undefined));
  // the near one ran after the far one was scheduled: had the far timer fired at once, it would be first
  t.deepEqual(ran, ['near']);
  t.is(await retries(register), 2, 'each delayed add counted once');
  // a sooner add of the far key replaces its timer
  q.addAfter('far', 1);
  await poll('the far key ran', async () => (ran.includes('far') ? true : undefined));
  t.deepEqual(ran, ['near', 'far']);
});
