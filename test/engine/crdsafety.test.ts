// Breaking changes between two revisions' CustomResourceDefinitions: CRDs removed, scope and kind,
// served and storage versions, and every narrowing of a version's openAPIV3Schema; widening
// changes are no break.
import test from 'ava';
import { crdBreaks } from '../../src/engine/crdsafety.ts';
import { packageDocuments, type CRDVersion, type ProvidedCRD } from '../../src/engine/documents.ts';

type Schema = Record<string, unknown>;

const W = 'CustomResourceDefinition widgets.example.com';
const WV1 = `${W}, version v1`;

const crd = (versions: CRDVersion[], over: Partial<ProvidedCRD> = {}): ProvidedCRD => ({
  name: 'widgets.example.com',
  group: 'example.com',
  kind: 'Widget',
  plural: 'widgets',
  scope: 'Namespaced',
  versions,
  file: 'crds/widgets.yaml',
  ...over,
});
const version = (name: string, served: boolean, storage: boolean, schema?: Schema): CRDVersion => ({ name, served, storage, ...(schema && { schema }) });
/** A root schema whose spec has these properties (and `extra` fields of spec's own schema). */
const withSpec = (properties: Schema, extra: Schema = {}): Schema => ({ type: 'object', properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, spec: { type: 'object', properties, ...extra } } });
/** The breaks between two schemas of version v1 of the widgets CRD. */
const schemaBreaks = (before: Schema, after: Schema) => crdBreaks([crd([version('v1', true, true, before)])], [crd([version('v1', true, true, after)])]);
const brk = (path: string, message: string) => ({ crd: 'widgets.example.com', version: 'v1', path, message: `${WV1}: ${message}` });

test('no change, and a CRD only in the later revision, are no break', (t) => {
  const schema = withSpec({ size: { type: 'integer' } });
  t.deepEqual(crdBreaks([crd([version('v1', true, true, schema)])], [crd([version('v1', true, true, structuredClone(schema))])]), []);
  t.deepEqual(crdBreaks([], [crd([version('v1', true, true)])]), []);
  t.deepEqual(crdBreaks([], []), []);
});

test('a CRD removed is a break; CRDs in name order', (t) => {
  const gadgets = crd([version('v1', true, true)], { name: 'gadgets.example.com', kind: 'Gadget', plural: 'gadgets' });
  const apples = crd([version('v1', true, true)], { name: 'apples.example.com', kind: 'Apple', plural: 'apples' });
  t.deepEqual(crdBreaks([gadgets, crd([version('v1', true, true)]), apples], [crd([version('v1', true, true)])]), [
    { crd: 'apples.example.com', message: 'CustomResourceDefinition apples.example.com is removed' },
    { crd: 'gadgets.example.com', message: 'CustomResourceDefinition gadgets.example.com is removed' },
  ]);
});

test('scope changed', (t) => {
  t.deepEqual(crdBreaks([crd([version('v1', true, true)])], [crd([version('v1', true, true)], { scope: 'Cluster' })]), [
    { crd: 'widgets.example.com', message: `${W}: scope changed from Namespaced to Cluster` },
  ]);
  t.deepEqual(crdBreaks([crd([version('v1', true, true)], { scope: 'Cluster' })], [crd([version('v1', true, true)])]), [
    { crd: 'widgets.example.com', message: `${W}: scope changed from Cluster to Namespaced` },
  ]);
});

test('kind changed', (t) => {
  t.deepEqual(crdBreaks([crd([version('v1', true, true)])], [crd([version('v1', true, true)], { kind: 'Widgit' })]), [
    { crd: 'widgets.example.com', message: `${W}: kind changed from Widget to Widgit` },
  ]);
});

test('a served version no longer served', (t) => {
  t.deepEqual(crdBreaks([crd([version('v1beta1', true, false), version('v1', true, true)])], [crd([version('v1beta1', false, false), version('v1', true, true)])]), [
    { crd: 'widgets.example.com', version: 'v1beta1', message: `${W}: version v1beta1 is no longer served` },
  ]);
});

test('a served version removed; the storage version removed', (t) => {
  t.deepEqual(crdBreaks([crd([version('v1beta1', true, false), version('v1', true, true)])], [crd([version('v1', true, true)])]), [
    { crd: 'widgets.example.com', version: 'v1beta1', message: `${W}: version v1beta1 is removed while it was served` },
  ]);
  t.deepEqual(crdBreaks([crd([version('v1alpha1', false, true), version('v1', true, false)])], [crd([version('v1', true, true)])]), [
    { crd: 'widgets.example.com', version: 'v1alpha1', message: `${W}: version v1alpha1 is removed, but it was the storage version; keep it listed (it may stop being served) until the objects stored as v1alpha1 are migrated` },
  ]);
  t.deepEqual(crdBreaks([crd([version('v1', true, true)])], [crd([version('v2', true, true)])]), [
    { crd: 'widgets.example.com', version: 'v1', message: `${W}: version v1 is removed, but it was the storage version; keep it listed (it may stop being served) until the objects stored as v1 are migrated` },
  ], 'a served storage version removed is one break');
});

test('versions: no break for a version added, an unserved non-storage version removed, the storage version moved, a version served again', (t) => {
  t.deepEqual(crdBreaks([crd([version('v1', true, true)])], [crd([version('v1', true, true), version('v2', true, false)])]), []);
  t.deepEqual(crdBreaks([crd([version('v1alpha1', false, false), version('v1', true, true)])], [crd([version('v1', true, true)])]), []);
  t.deepEqual(crdBreaks([crd([version('v1beta1', true, true), version('v1', true, false)])], [crd([version('v1beta1', true, false), version('v1', true, true)])]), []);
  t.deepEqual(crdBreaks([crd([version('v1beta1', false, false), version('v1', true, true)])], [crd([version('v1beta1', true, false), version('v1', true, true)])]), []);
});

test('a field removed, at any depth, in list items and map values', (t) => {
  const before = withSpec({
    legacy: { type: 'string' },
    template: { type: 'object', properties: { image: { type: 'string' }, pull: { type: 'string' } } },
    ports: { type: 'array', items: { type: 'object', properties: { port: { type: 'integer' }, name: { type: 'string' } } } },
    labels: { type: 'object', additionalProperties: { type: 'object', properties: { value: { type: 'string' } } } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
  });
  const after = withSpec({
    template: { type: 'object', properties: { image: { type: 'string' } } },
    ports: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } },
    labels: { type: 'object', additionalProperties: { type: 'object', properties: {} } },
    annotations: { type: 'object' },
  });
  t.deepEqual(schemaBreaks(before, after), [
    brk('spec.legacy', 'field spec.legacy removed'),
    brk('spec.template.pull', 'field spec.template.pull removed'),
    brk('spec.ports[*].port', 'field spec.ports[*].port removed'),
    brk('spec.labels[*].value', 'field spec.labels[*].value removed'),
    brk('spec.annotations[*]', 'field spec.annotations[*] removed'),
  ]);
});

test('a field removed where unknown fields are kept is no break', (t) => {
  t.deepEqual(schemaBreaks(withSpec({ legacy: { type: 'string' } }, { 'x-kubernetes-preserve-unknown-fields': true }), withSpec({}, { 'x-kubernetes-preserve-unknown-fields': true })), []);
});

test('a type changed; nothing under it is compared then', (t) => {
  t.deepEqual(schemaBreaks(withSpec({ size: { type: 'integer' } }), withSpec({ size: { type: 'string' } })), [brk('spec.size', 'field spec.size changed type from integer to string')]);
  t.deepEqual(
    schemaBreaks(withSpec({ config: { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] } }), withSpec({ config: { type: 'string', enum: ['x'] } })),
    [brk('spec.config', 'field spec.config changed type from object to string')],
  );
  t.deepEqual(schemaBreaks(withSpec({ size: { type: 'integer' } }), withSpec({ size: { type: 'number' } })), [brk('spec.size', 'field spec.size changed type from integer to number')]);
  t.deepEqual(schemaBreaks(withSpec({ size: {} }), withSpec({ size: { type: 'integer' } })), [brk('spec.size', 'field spec.size changed type from any to integer')], 'a type where any was allowed');
  t.deepEqual(
    schemaBreaks(withSpec({ port: { 'x-kubernetes-int-or-string': true } }), withSpec({ port: { type: 'integer' } })),
    [brk('spec.port', 'field spec.port changed type from int-or-string to integer')],
  );
});

test('a type removed, or widened to int-or-string, is no break', (t) => {
  t.deepEqual(schemaBreaks(withSpec({ size: { type: 'integer' } }), withSpec({ size: { 'x-kubernetes-preserve-unknown-fields': true } })), []);
  t.deepEqual(schemaBreaks(withSpec({ port: { type: 'integer' }, name: { type: 'string' } }), withSpec({ port: { 'x-kubernetes-int-or-string': true }, name: { 'x-kubernetes-int-or-string': true } })), []);
});

test('an enum narrowed, or added where there was none', (t) => {
  t.deepEqual(schemaBreaks(withSpec({ mode: { type: 'string', enum: ['Fast', 'Slow', 'Off'] } }), withSpec({ mode: { type: 'string', enum: ['Slow'] } })), [
    brk('spec.mode', 'field spec.mode: enum narrowed, no longer allows "Fast", "Off"'),
  ]);
  t.deepEqual(schemaBreaks(withSpec({ mode: { type: 'string' } }), withSpec({ mode: { type: 'string', enum: ['Fast', 'Slow'] } })), [
    brk('spec.mode', 'field spec.mode: enum added, now only allows "Fast", "Slow"'),
  ]);
  t.deepEqual(schemaBreaks(withSpec({ level: { type: 'integer', enum: [1, 2, 2, 3] } }), withSpec({ level: { type: 'integer', enum: ['1', 3] } })), [
    brk('spec.level', 'field spec.level: enum narrowed, no longer allows 1, 2'),
  ], 'values compared with their type; each lost value once');
});

test('an enum widened, reordered or removed is no break', (t) => {
  t.deepEqual(schemaBreaks(withSpec({ mode: { type: 'string', enum: ['Fast'] } }), withSpec({ mode: { type: 'string', enum: ['Slow', 'Fast'] } })), []);
  t.deepEqual(schemaBreaks(withSpec({ mode: { type: 'string', enum: ['Fast', 'Slow'] } }), withSpec({ mode: { type: 'string' } })), []);
  t.deepEqual(schemaBreaks(withSpec({ shape: { type: 'object', enum: [{ a: 1, b: 2 }] } }), withSpec({ shape: { type: 'object', enum: [{ b: 2, a: 1 }] } })), [], 'objects compared by value');
});

test('a new required field, only at objects that existed before', (t) => {
  t.deepEqual(schemaBreaks(withSpec({ owner: { type: 'string' } }), withSpec({ owner: { type: 'string' } }, { required: ['owner'] })), [brk('spec.owner', 'new required field spec.owner')]);
  t.deepEqual(
    schemaBreaks(withSpec({ a: { type: 'string' } }, { required: ['a'] }), withSpec({ a: { type: 'string' }, team: { type: 'string' } }, { required: ['a', 'team'] })),
    [brk('spec.team', 'new required field spec.team')],
    'a new property that is required at once',
  );
  t.deepEqual(
    schemaBreaks(withSpec({}), withSpec({ tls: { type: 'object', properties: { cert: { type: 'string' } }, required: ['cert'] } })),
    [],
    'required fields of a newly added (optional) object are no break',
  );
  t.deepEqual(schemaBreaks(withSpec({ a: { type: 'string' } }, { required: ['a'] }), withSpec({ a: { type: 'string' } })), [], 'no longer required');
  t.deepEqual(
    schemaBreaks({ type: 'object', properties: { spec: { type: 'object' } } }, { type: 'object', properties: { spec: { type: 'object' } }, required: ['spec'] }),
    [brk('spec', 'new required field spec')],
    'at the root',
  );
});

test('a default changed, added or removed', (t) => {
  t.deepEqual(schemaBreaks(withSpec({ replicas: { type: 'integer', default: 1 } }), withSpec({ replicas: { type: 'integer', default: 3 } })), [
    brk('spec.replicas', 'field spec.replicas default changed from 1 to 3'),
  ]);
  t.deepEqual(schemaBreaks(withSpec({ replicas: { type: 'integer' } }), withSpec({ replicas: { type: 'integer', default: 1 } })), [
    brk('spec.replicas', 'field spec.replicas now defaults to 1 (it had no default)'),
  ]);
  t.deepEqual(schemaBreaks(withSpec({ mode: { type: 'string', default: 'Fast' } }), withSpec({ mode: { type: 'string' } })), [
    brk('spec.mode', 'field spec.mode no longer defaults to "Fast"'),
  ]);
  t.deepEqual(schemaBreaks(withSpec({ opts: { type: 'object', default: { a: 1, b: [1, 2] } } }), withSpec({ opts: { type: 'object', default: { b: [1, 2], a: 1 } } })), [], 'same default, keys reordered');
  t.deepEqual(schemaBreaks(withSpec({ opts: { type: 'object', default: { list: 'x'.repeat(100) } } }), withSpec({ opts: { type: 'object', default: {} } })), [
    brk('spec.opts', `field spec.opts default changed from {"list":"${'x'.repeat(48)}... to {}`),
  ], 'long values cut');
});

test('x-kubernetes-preserve-unknown-fields removed narrows; added is no break', (t) => {
  t.deepEqual(schemaBreaks(withSpec({ config: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } }), withSpec({ config: { type: 'object', properties: { a: { type: 'string' } } } })), [
    brk('spec.config', 'field spec.config no longer keeps unknown fields (x-kubernetes-preserve-unknown-fields: true removed), so fields it kept before are dropped'),
  ]);
  t.deepEqual(schemaBreaks({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, { type: 'object' }), [
    brk('', 'the schema root no longer keeps unknown fields (x-kubernetes-preserve-unknown-fields: true removed), so fields it kept before are dropped'),
  ]);
  t.deepEqual(schemaBreaks(withSpec({ config: { type: 'object' } }), withSpec({ config: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } })), []);
});

test('no break: an optional field added, descriptions and formats changed', (t) => {
  t.deepEqual(schemaBreaks(withSpec({ size: { type: 'integer' } }), withSpec({ size: { type: 'integer' }, color: { type: 'string' }, extra: { type: 'object', properties: { x: { type: 'string' } } } })), []);
  t.deepEqual(
    schemaBreaks(
      { ...withSpec({ size: { type: 'integer', description: 'How big.', format: 'int32' } }), description: 'A widget.' },
      { ...withSpec({ size: { type: 'integer', description: 'How big the widget is, in units.', format: 'int64' } }), description: 'A widget, at last.' },
    ),
    [],
  );
  t.deepEqual(schemaBreaks(withSpec({ when: { type: 'string', format: 'date-time' } }), withSpec({ when: { type: 'string' } })), []);
});

test('a schema added to a version that had none is one break; a schema removed is none', (t) => {
  const schema = withSpec({ size: { type: 'integer' } }, { required: ['size'] });
  t.deepEqual(crdBreaks([crd([version('v1', true, true)])], [crd([version('v1', true, true, schema)])]), [
    { crd: 'widgets.example.com', version: 'v1', message: `${WV1}: schema added to a version that had none` },
  ]);
  t.deepEqual(crdBreaks([crd([version('v1', true, true, schema)])], [crd([version('v1', true, true)])]), []);
});

test('paths: odd property names quoted, lists and maps as [*]', (t) => {
  t.deepEqual(
    schemaBreaks(
      withSpec({ 'app.kubernetes.io/name': { type: 'string' }, matrix: { type: 'array', items: { type: 'array', items: { type: 'integer' } } } }),
      withSpec({ matrix: { type: 'array', items: { type: 'array', items: { type: 'string' } } } }),
    ),
    [
      brk('spec["app.kubernetes.io/name"]', 'field spec["app.kubernetes.io/name"] removed'),
      brk('spec.matrix[*][*]', 'field spec.matrix[*][*] changed type from integer to string'),
    ],
  );
});

test('a realistic evolution: every break, in order', (t) => {
  const v1beta1 = withSpec({ size: { type: 'integer' }, legacy: { type: 'string' } });
  const beforeV1 = withSpec({
    size: { type: 'integer', description: 'Size.' },
    mode: { type: 'string', enum: ['Fast', 'Slow'], default: 'Fast' },
    replicas: { type: 'integer', default: 1 },
    ports: { type: 'array', items: { type: 'object', properties: { port: { type: 'integer' }, protocol: { type: 'string' } } } },
    selector: { type: 'object', additionalProperties: { type: 'string' } },
    config: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    owner: { type: 'string' },
  });
  const afterV1 = withSpec(
    {
      size: { type: 'string', description: 'Size, such as "10Gi".' },
      mode: { type: 'string', enum: ['Slow', 'Balanced'], default: 'Slow' },
      replicas: { type: 'integer', default: 3, minimum: 0 },
      ports: { type: 'array', items: { type: 'object', properties: { port: { type: 'string' } }, required: ['port'] } },
      selector: { type: 'object', additionalProperties: { type: 'string', enum: ['a'] } },
      config: { type: 'object', properties: { debug: { type: 'boolean' } } },
      owner: { type: 'string' },
      paused: { type: 'boolean' },
    },
    { required: ['owner'] },
  );
  const before = [
    crd([version('v1beta1', true, false, v1beta1), version('v1', true, true, beforeV1)]),
    crd([version('v1', true, true)], { name: 'gadgets.example.com', kind: 'Gadget', plural: 'gadgets' }),
  ];
  const after = [crd([version('v1beta1', false, false, v1beta1), version('v1', true, true, afterV1), version('v2', true, false)], { scope: 'Cluster' })];
  t.deepEqual(crdBreaks(before, after), [
    { crd: 'gadgets.example.com', message: 'CustomResourceDefinition gadgets.example.com is removed' },
    { crd: 'widgets.example.com', message: `${W}: scope changed from Namespaced to Cluster` },
    { crd: 'widgets.example.com', version: 'v1beta1', message: `${W}: version v1beta1 is no longer served` },
    brk('spec.owner', 'new required field spec.owner'),
    brk('spec.size', 'field spec.size changed type from integer to string'),
    brk('spec.mode', 'field spec.mode: enum narrowed, no longer allows "Fast"'),
    brk('spec.mode', 'field spec.mode default changed from "Fast" to "Slow"'),
    brk('spec.replicas', 'field spec.replicas default changed from 1 to 3'),
    brk('spec.ports[*].port', 'new required field spec.ports[*].port'),
    brk('spec.ports[*].port', 'field spec.ports[*].port changed type from integer to string'),
    brk('spec.ports[*].protocol', 'field spec.ports[*].protocol removed'),
    brk('spec.selector[*]', 'field spec.selector[*]: enum added, now only allows "a"'),
    brk('spec.config', 'field spec.config no longer keeps unknown fields (x-kubernetes-preserve-unknown-fields: true removed), so fields it kept before are dropped'),
  ]);
});

test('CRDs read from YAML: breaks between two revisions of a package', (t) => {
  const crdYAML = (served: string, sizeType: string) => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: ${served}
    storage: false
    schema: {openAPIV3Schema: {type: object}}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: ${sizeType}}
`;
  const before = packageDocuments({ 'crd.yaml': crdYAML('true', 'integer') }).crds;
  const after = packageDocuments({ 'crd.yaml': crdYAML('false', 'string') }).crds;
  t.deepEqual(crdBreaks(before, after), [
    { crd: 'widgets.example.com', version: 'v1beta1', message: `${W}: version v1beta1 is no longer served` },
    brk('spec.size', 'field spec.size changed type from integer to string'),
  ]);
  t.deepEqual(crdBreaks(before, before), []);
});

test('odd schemas never throw: wrong types, a schema inside itself, very deep schemas', (t) => {
  const odd = { type: 5, properties: 'x', required: 'spec', enum: 'x', items: [1], additionalProperties: false };
  t.deepEqual(schemaBreaks(odd, { ...odd, required: ['a', 5], enum: [1] }), [
    brk('', 'the schema root: enum added, now only allows 1'),
    brk('a', 'new required field a'),
  ]);
  const self: Schema = { type: 'object', properties: {} };
  (self.properties as Schema).self = self;
  (self.properties as Schema).other = { type: 'object', properties: { back: self } };
  const loop = { type: 'object', default: {} as Schema };
  loop.default.loop = loop.default;
  t.deepEqual(schemaBreaks(self, { type: 'object', properties: { self: { type: 'object' }, other: { type: 'string' } } }), [brk('other', 'field other changed type from object to string')]);
  t.deepEqual(schemaBreaks(loop, { type: 'object', default: { loop: 1 } }), [brk('', 'the schema root default changed from {"loop":"<cycle or too deep>"} to {"loop":1}')], 'a value inside itself shown with a marker');
  let deep: Schema = { type: 'string' };
  let deepAfter: Schema = { type: 'integer' };
  for (let i = 0; i < 5000; i++) {
    deep = { type: 'object', properties: { a: deep } };
    deepAfter = { type: 'object', properties: { a: deepAfter } };
  }
  t.deepEqual(schemaBreaks(deep, deepAfter), [], 'walked to a depth of 128 only');
  t.notThrows(() => crdBreaks([crd([version('v1', true, true, { default: 10n, enum: [{ a: 1n }] })])], [crd([version('v1', true, true, { default: 11n, enum: [] })])]));
});
