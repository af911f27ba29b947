// src/util/strings.ts: own() copies, and the bounded Interner.
import test from 'ava';
import { Interner, own } from '../../src/util/strings.ts';

test('own returns an equal string, for short, long and non-ASCII input', (t) => {
  const text = 'a'.repeat(100) + 'é€😀' + 'b'.repeat(100);
  for (const s of ['', 'short', text.slice(50, 120), text.slice(90, 110)]) t.is(own(s), s);
});

test('the interner keeps one entry per short string, skips long ones, and starts over when full', (t) => {
  const i = new Interner(3, 10);
  t.is(i.intern('apiVersion'), 'apiVersion');
  t.is(i.intern('apiVersion'), 'apiVersion');
  t.is(i.size, 1);
  t.is(i.intern('this one is longer than ten'), 'this one is longer than ten');
  t.is(i.intern('x'), 'x');
  t.is(i.size, 1, 'too long and too short strings are not kept');
  i.intern('bb');
  i.intern('cc');
  t.is(i.size, 3);
  i.intern('dd');
  t.is(i.size, 1, 'full: a new table with the new string');
  t.is(i.intern('apiVersion'), 'apiVersion');
  t.is(i.size, 2);
});
