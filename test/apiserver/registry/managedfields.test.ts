// The registry's part of managedFields: the reset fields of a subresource from the schema, and
// the shape cache of creates (objects of one shape share the computed entry): cached and computed
// entries are the same, and objects of different field sets never share a shape.
import test from 'ava';
import type { KObject } from '../../../src/api/meta.ts';
import { packageRevisionSchema } from '../../../src/api/pkg.ts';
import { packageVariantSchema } from '../../../src/api/config.ts';
import { fromOpenAPI, update, type OpenAPISchema } from '../../../src/apiserver/apply/index.ts';
import { recordManagedFields, resetFieldsFor, shapeOf } from '../../../src/apiserver/registry/generic.ts';

const prType = fromOpenAPI(packageRevisionSchema as OpenAPISchema);
const storage = { applyType: () => prType, resetFields: () => [['status']] };

const pr = (o: { pkg?: string; gates?: string[]; labels?: Record<string, string>; conditions?: { type: string; message: string }[]; lifecycle?: string; inputs?: unknown[] } = {}): KObject =>
  ({
    apiVersion: 'pkg.pkgserver.dev/v1alpha1',
    kind: 'PackageRevision',
    metadata: { name: `c1.r..${o.pkg ?? 'p'}.v1`, namespace: 'default', uid: 'u', ...(o.labels ? { labels: o.labels } : {}) },
    spec: {
      packageRevID: { target: 'c1', repository: 'r', realm: '', package: o.pkg ?? 'p', workspace: 'v1' },
      lifecycle: o.lifecycle ?? 'draft',
      tasks: [{ type: 'init' }],
      ...(o.gates ? { readinessGates: o.gates.map((conditionType) => ({ conditionType })) } : {}),
      ...(o.inputs ? { inputs: o.inputs } : {}),
    },
    status: { conditions: (o.conditions ?? []).map((c) => ({ ...c, status: 'True', reason: 'R', lastTransitionTime: '2026-01-01T00:00:00Z' })) },
  }) as KObject;

test('the reset fields of a subresource: every field but those it writes; of metadata the writable ones', (t) => {
  t.deepEqual(resetFieldsFor(packageRevisionSchema, [['spec', 'lifecycle']]), [
    ['metadata', 'labels'],
    ['metadata', 'annotations'],
    ['metadata', 'finalizers'],
    ['metadata', 'ownerReferences'],
    ['spec', 'packageRevID'],
    ['spec', 'updatePolicy'],
    ['spec', 'tasks'],
    ['spec', 'upstream'],
    ['spec', 'readinessGates'],
    ['spec', 'inputs'],
    ['status'],
  ]);
  t.deepEqual(resetFieldsFor(packageVariantSchema, [['status']]), [['metadata', 'labels'], ['metadata', 'annotations'], ['metadata', 'finalizers'], ['metadata', 'ownerReferences'], ['spec']]);
});

test('shapes: scalar values do not count; keys, map-list keys, set values and null do', (t) => {
  const s = (o: KObject) => shapeOf(o, prType);
  t.is(s(pr({ pkg: 'a', lifecycle: 'draft' })), s(pr({ pkg: 'b', lifecycle: 'published' })));
  t.is(s(pr({ conditions: [{ type: 'Ready', message: 'x' }] })), s(pr({ conditions: [{ type: 'Ready', message: 'y' }] })));
  t.is(s(pr({ inputs: [{ a: 1 }] })), s(pr({ inputs: [{ b: 2 }, { c: 3 }] })), 'an atomic list is one field');
  t.not(s(pr({ conditions: [{ type: 'Ready', message: 'x' }] })), s(pr({ conditions: [{ type: 'Stalled', message: 'x' }] })));
  t.not(s(pr({ gates: ['a'] })), s(pr({ gates: ['b'] })));
  t.not(s(pr({ labels: { a: '1' } })), s(pr({ labels: { b: '1' } })));
  t.not(s(pr({ labels: {} })), s(pr({})));
  t.not(s(pr({ inputs: [] })), s(pr({ inputs: [{ a: 1 }] })));
});

test('a cached create entry is the computed one, with the time of its own write', (t) => {
  const cache = new Map();
  const objs = [
    pr({ pkg: 'a', gates: ['x'], conditions: [{ type: 'Ready', message: '1' }], labels: { l: '1' } }),
    pr({ pkg: 'b', gates: ['x'], conditions: [{ type: 'Ready', message: '2' }], labels: { l: '2' } }),
    pr({ pkg: 'c', gates: ['y'], conditions: [{ type: 'Ready', message: '2' }], labels: { l: '2' } }),
    pr({ pkg: 'd', gates: ['x'], conditions: [], inputs: [{ a: 1 }] }),
    pr({ pkg: 'e', gates: ['x'], conditions: [], inputs: [{ b: 1 }] }),
  ];
  for (const o of objs) {
    const expected = update(undefined, o, [], 'sync', { type: prType, resetFields: [['status']] }).managedFields;
    const got = structuredClone(o);
    recordManagedFields(storage, got, undefined, 'sync', undefined, cache);
    const strip = (es: unknown) => (es as { time?: string }[]).map(({ time: _t, ...e }) => e);
    t.deepEqual(strip(got.metadata.managedFields), strip(expected), o.metadata.name);
    t.regex((got.metadata.managedFields as { time: string }[])[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  }
  t.is(cache.size, 3, 'a, b share a shape; c has another gate; d, e share one (inputs is atomic)');
});
