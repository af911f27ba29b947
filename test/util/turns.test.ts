// Turns: jobs that share a bounded resource take it step by step, in FIFO order, so a long job
// does not starve the short ones that arrive after it.
import test from 'ava';
import { Turns } from '../../src/util/turns.ts';

const tick = () => new Promise((r) => setImmediate(r));

test('Turns: at most `slots` steps at once, and jobs alternate step by step', async (t) => {
  const turns = new Turns(1);
  const order: string[] = [];
  let running = 0;
  let most = 0;
  const job = async (name: string, steps: number) => {
    const j = turns.job();
    try {
      for (let i = 0; i < steps; i++) {
        await j.next();
        running++;
        most = Math.max(most, running);
        order.push(`${name}${i}`);
        await tick();
        running--;
      }
    } finally {
      j.done();
    }
  };
  // a long job first, then two short ones: they get their steps between the long job's steps
  await Promise.all([job('L', 5), job('a', 2), job('b', 1)]);
  t.is(most, 1);
  t.deepEqual(order, ['L0', 'a0', 'b0', 'L1', 'a1', 'L2', 'L3', 'L4']);
  t.is(turns.queued, 0);
});

test('Turns: several slots; done() gives the turn back, also after a failure; bad sizes refused', async (t) => {
  const turns = new Turns(2);
  let running = 0;
  let most = 0;
  const job = async (fail: boolean) => {
    const j = turns.job();
    try {
      await j.next();
      running++;
      most = Math.max(most, running);
      await tick();
      running--;
      if (fail) throw new Error('failed');
    } finally {
      j.done();
      j.done(); // twice is harmless
    }
  };
  const results = await Promise.allSettled([job(true), job(false), job(true), job(false), job(false)]);
  t.is(results.filter((r) => r.status === 'rejected').length, 2);
  t.is(most, 2);
  // every turn was given back: two jobs can hold one at once again
  const a = turns.job();
  const b = turns.job();
  await a.next();
  await b.next();
  t.is(turns.queued, 0);
  a.done();
  b.done();
  t.throws(() => new Turns(0), { instanceOf: RangeError });
});
