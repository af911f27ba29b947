// setCondition and hasCondition (src/api/meta.ts): apimachinery's meta.SetStatusCondition rules.
import test from 'ava';
import { hasCondition, setCondition, type Condition } from '../../src/api/meta.ts';

const READY: Condition = { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok', lastTransitionTime: '2020-01-01T00:00:00Z' };

test('a new condition is added with a transition time and the generation; the others are kept', (t) => {
  const out = setCondition([READY], { type: 'x', status: 'False', reason: 'Waiting', message: 'for y' }, 3);
  t.deepEqual(out[0], READY);
  t.like(out[1], { type: 'x', status: 'False', reason: 'Waiting', message: 'for y', observedGeneration: 3 });
  t.regex(out[1].lastTransitionTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test('the transition time stays while the status stays, and moves when it changes', (t) => {
  t.is(setCondition([READY], { type: 'Ready', status: 'True', reason: 'Other', message: 'still' })[0].lastTransitionTime, READY.lastTransitionTime);
  t.not(setCondition([READY], { type: 'Ready', status: 'False', reason: 'Broken', message: 'no' })[0].lastTransitionTime, READY.lastTransitionTime);
  t.false('observedGeneration' in setCondition([READY], { type: 'Ready', status: 'True' })[0]);
});

test('hasCondition compares type, status, reason and message', (t) => {
  t.true(hasCondition([READY], { type: 'Ready', status: 'True', reason: 'Synced', message: 'ok' }));
  t.false(hasCondition([READY], { type: 'Ready', status: 'True', reason: 'Synced', message: 'other' }));
  t.false(hasCondition([READY], { type: 'Ready', status: 'False', reason: 'Synced', message: 'ok' }));
  t.false(hasCondition(undefined, { type: 'Ready', status: 'True' }));
});
