// Registry.decode: frozen objects whose managedFields field sets are shared between objects that
// carry the same one (memory: a sync's 10,000 revisions carry a handful of distinct sets).
import test from 'ava';
import { Registry } from '../../../src/apiserver/registry/generic.ts';

const stored = (name: string, fields: object) =>
  Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'Thing', metadata: { name, managedFields: [{ manager: 'm', operation: 'Update', apiVersion: 'v1', time: `2026-11-26T00:00:0${name.length}Z`, fieldsType: 'FieldsV1', fieldsV1: fields }] }, spec: { a: name } }));

test('equal FieldsV1 trees are one frozen object; different ones are not; the rest of the object is its own', (t) => {
  const f = { 'f:spec': { 'f:a': {} }, 'f:metadata': { 'f:labels': { 'f:x': {} } } };
  const a = Registry.decode(stored('a', f), 1) as any;
  const b = Registry.decode(stored('bb', JSON.parse(JSON.stringify(f))), 2) as any;
  const c = Registry.decode(stored('c', { 'f:spec': { 'f:b': {} } }), 3) as any;
  t.is(a.metadata.managedFields[0].fieldsV1, b.metadata.managedFields[0].fieldsV1);
  t.not(a.metadata.managedFields[0].fieldsV1, c.metadata.managedFields[0].fieldsV1);
  t.deepEqual(a.metadata.managedFields[0].fieldsV1, f);
  t.true(Object.isFrozen(a.metadata.managedFields[0].fieldsV1));
  t.true(Object.isFrozen(a.metadata.managedFields[0].fieldsV1['f:spec']));
  t.not(a.metadata.managedFields[0], b.metadata.managedFields[0], 'entries (their times) stay per object');
  t.is(a.metadata.resourceVersion, '1');
  t.is(b.spec.a, 'bb');
});
