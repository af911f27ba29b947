// Server-side apply and field ownership (src/apiserver/apply), table-driven after
// sigs.k8s.io/structured-merge-diff's merge tests: each case runs a sequence of applies and
// updates on one object and checks the object and every managedFields entry (FieldsV1), or the
// conflict error, worded as kube-apiserver words it.
import test from 'ava';
import {
  apply,
  update,
  atomicList,
  mapList,
  mapOf,
  scalar,
  setList,
  struct,
  ApplyConflictError,
  ApplyInvalidError,
  FieldSet,
  LAST_APPLIED,
  type FieldsV1,
  type ManagedFieldsEntry,
  type TypeNode,
} from '../../../src/apiserver/apply/index.ts';

type Obj = { [k: string]: unknown };

type Step =
  | { apply: string; object: Obj; force?: boolean; subresource?: string }
  | { update: string; object: Obj; subresource?: string };

interface Case {
  type?: TypeNode;
  steps: Step[];
  /** The object after the last step (without metadata.managedFields). */
  object?: Obj;
  /** [manager, operation, fieldsV1, subresource?] in kube's order. */
  managed?: [string, 'Apply' | 'Update', FieldsV1, string?][];
  /** The last step fails with this message; the object and managedFields stay as they were. */
  conflict?: string;
  resetFields?: string[][];
}

const structType = struct({ struct: struct({ name: scalar, value: scalar }) });
const leafType = struct({ numeric: scalar, string: scalar, bool: scalar });
const setType = struct({ list: setList() });
const assocType = struct({ list: mapList(['name'], struct({ name: scalar, value: scalar, other: scalar })) });
const twoKeyType = struct({ ports: mapList(['port', 'protocol'], struct({ port: scalar, protocol: scalar, targetPort: scalar })) });
const listOfLists = struct({ listOfLists: mapList(['name'], struct({ name: scalar, value: setList() })) });
const nestedType = struct({
  outer: mapList(['name'], struct({ name: scalar, inner: mapList(['id'], struct({ id: scalar, v: scalar })), tags: setList() })),
});
const atomicListType = struct({ list: atomicList(), other: scalar });
const mapsType = struct({
  labels: mapOf(scalar),
  selector: mapOf(scalar, { atomic: true }),
  ref: struct({ a: scalar, b: scalar }, { atomic: true }),
  spec: struct({ x: scalar, y: scalar, sub: struct({ p: scalar, q: scalar }) }),
});
const kindType = struct({
  apiVersion: scalar,
  kind: scalar,
  metadata: struct({
    name: scalar,
    namespace: scalar,
    uid: scalar,
    resourceVersion: scalar,
    generation: scalar,
    creationTimestamp: scalar,
    labels: mapOf(scalar),
    annotations: mapOf(scalar),
    finalizers: setList(),
    managedFields: atomicList(),
  }),
  spec: struct({ replicas: scalar, x: scalar, sub: struct({ p: scalar }) }),
  status: struct({ phase: scalar, conditions: mapList(['type'], struct({ type: scalar, status: scalar })) }),
});

const K = (o: Record<string, unknown>) => `k:${JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1))))}`;
const V = (v: unknown) => `v:${JSON.stringify(v)}`;
const meta = { apiVersion: 'v1', kind: 'Thing', metadata: { name: 'n', namespace: 'default' } };

const cases: Record<string, Case> = {
  // ---- scalars ----
  'leaf: apply twice': {
    type: leafType,
    steps: [
      { apply: 'default', object: { numeric: 1, string: 'string' } },
      { apply: 'default', object: { numeric: 2, string: 'string', bool: false } },
    ],
    object: { numeric: 2, string: 'string', bool: false },
    managed: [['default', 'Apply', { 'f:bool': {}, 'f:numeric': {}, 'f:string': {} }]],
  },
  'leaf: apply, update, apply without conflict': {
    type: leafType,
    steps: [
      { apply: 'default', object: { numeric: 1, string: 'string' } },
      { update: 'controller', object: { numeric: 1, string: 'string', bool: true } },
      { apply: 'default', object: { numeric: 2, string: 'string' } },
    ],
    object: { numeric: 2, string: 'string', bool: true },
    managed: [
      ['default', 'Apply', { 'f:numeric': {}, 'f:string': {} }],
      ['controller', 'Update', { 'f:bool': {} }],
    ],
  },
  'leaf: a field an updater changed conflicts': {
    type: leafType,
    steps: [
      { apply: 'default', object: { numeric: 1 } },
      { update: 'controller', object: { numeric: 2 } },
      { apply: 'default', object: { numeric: 3 } },
    ],
    conflict: 'Apply failed with 1 conflict: conflict with "controller" using v1: .numeric',
    object: { numeric: 2 },
    managed: [['controller', 'Update', { 'f:numeric': {} }]],
  },
  'leaf: force takes the field over': {
    type: leafType,
    steps: [
      { apply: 'default', object: { numeric: 1 } },
      { update: 'controller', object: { numeric: 2, bool: true } },
      { apply: 'default', object: { numeric: 3 }, force: true },
    ],
    object: { numeric: 3, bool: true },
    managed: [
      ['default', 'Apply', { 'f:numeric': {} }],
      ['controller', 'Update', { 'f:bool': {} }],
    ],
  },
  'leaf: a field another applier owns conflicts': {
    type: leafType,
    steps: [
      { apply: 'a', object: { numeric: 1 } },
      { apply: 'b', object: { numeric: 2 } },
    ],
    conflict: 'Apply failed with 1 conflict: conflict with "a": .numeric',
    object: { numeric: 1 },
    managed: [['a', 'Apply', { 'f:numeric': {} }]],
  },
  'leaf: several conflicts are grouped by manager': {
    type: leafType,
    steps: [
      { apply: 'a', object: { numeric: 1, string: 'x' } },
      { update: 'c', object: { numeric: 1, string: 'x', bool: true } },
      { apply: 'b', object: { numeric: 2, string: 'y', bool: false } },
    ],
    conflict: 'Apply failed with 3 conflicts: conflicts with "a":\n- .numeric\n- .string\nconflicts with "c" using v1:\n- .bool',
  },
  // kube sorts the managers of the message by their identifier (the entry's JSON without fields and
  // time), not by how they are printed: `..."apiVersion":"v1","subresource":"scale"}` comes before
  // `..."apiVersion":"v1"}`, and `"operation":"Apply",...` before `"operation":"Update"`
  'leaf: conflicts are grouped in the order of kube\'s manager identifiers (subresource)': {
    type: leafType,
    steps: [
      { update: 'm', object: { numeric: 1 } },
      { update: 'm', object: { numeric: 1, string: 'x' }, subresource: 'scale' },
      { apply: 'b', object: { numeric: 2, string: 'y' } },
    ],
    conflict: 'Apply failed with 2 conflicts: conflicts with "m" with subresource "scale" using v1:\n- .string\nconflicts with "m" using v1:\n- .numeric',
  },
  'leaf: conflicts are grouped in the order of kube\'s manager identifiers (Apply through a subresource, Update)': {
    type: leafType,
    steps: [
      { apply: 'a', object: { bool: true }, subresource: 'scale' },
      { update: 'a', object: { bool: true, numeric: 1 } },
      { apply: 'b', object: { bool: false, numeric: 2 } },
    ],
    conflict: 'Apply failed with 2 conflicts: conflicts with "a" with subresource "scale":\n- .bool\nconflicts with "a" using v1:\n- .numeric',
  },
  'leaf: the same value applied by two appliers is shared': {
    type: leafType,
    steps: [
      { apply: 'a', object: { numeric: 1 } },
      { apply: 'b', object: { numeric: 1 } },
    ],
    object: { numeric: 1 },
    // b changed nothing, so its entry has no time and sorts first (kube sorts by time)
    managed: [
      ['b', 'Apply', { 'f:numeric': {} }],
      ['a', 'Apply', { 'f:numeric': {} }],
    ],
  },
  'leaf: a shared field stays when one applier stops applying it': {
    type: leafType,
    steps: [
      { apply: 'a', object: { numeric: 1 } },
      { apply: 'b', object: { numeric: 1 } },
      { apply: 'a', object: { string: 's' } },
    ],
    object: { numeric: 1, string: 's' },
    managed: [
      ['b', 'Apply', { 'f:numeric': {} }],
      ['a', 'Apply', { 'f:string': {} }],
    ],
  },
  'leaf: a field the applier alone owned is removed when it stops applying it': {
    type: leafType,
    steps: [
      { apply: 'a', object: { numeric: 1, string: 's' } },
      { apply: 'a', object: { string: 's' } },
    ],
    object: { string: 's' },
    managed: [['a', 'Apply', { 'f:string': {} }]],
  },
  'leaf: a field an updater took is kept when the applier drops it': {
    type: leafType,
    steps: [
      { apply: 'a', object: { numeric: 1, string: 's' } },
      { update: 'c', object: { numeric: 2, string: 's' } },
      { apply: 'a', object: { string: 's' } },
    ],
    object: { numeric: 2, string: 's' },
    managed: [
      ['a', 'Apply', { 'f:string': {} }],
      ['c', 'Update', { 'f:numeric': {} }],
    ],
  },
  'leaf: an unowned field is not removed': {
    type: leafType,
    steps: [
      { update: 'c', object: { numeric: 1, bool: true } },
      { update: 'c', object: { numeric: 1 } },
      { apply: 'a', object: { string: 's' } },
      { apply: 'a', object: {} },
    ],
    object: { numeric: 1 },
    managed: [['c', 'Update', { 'f:numeric': {} }]],
  },

  // ---- sets ----
  'set: apply twice': {
    type: setType,
    steps: [
      { apply: 'default', object: { list: ['a', 'c'] } },
      { apply: 'default', object: { list: ['a', 'b', 'c', 'd'] } },
    ],
    object: { list: ['a', 'b', 'c', 'd'] },
    managed: [['default', 'Apply', { 'f:list': { [V('a')]: {}, [V('b')]: {}, [V('c')]: {}, [V('d')]: {} } }]],
  },
  'set: apply, update, apply without overlap keeps both orders': {
    type: setType,
    steps: [
      { apply: 'default', object: { list: ['a', 'c'] } },
      { update: 'controller', object: { list: ['a', 'b', 'c', 'd'] } },
      { apply: 'default', object: { list: ['a', 'aprime', 'c', 'cprime'] } },
    ],
    object: { list: ['a', 'b', 'aprime', 'c', 'd', 'cprime'] },
    managed: [
      ['default', 'Apply', { 'f:list': { [V('a')]: {}, [V('aprime')]: {}, [V('c')]: {}, [V('cprime')]: {} } }],
      ['controller', 'Update', { 'f:list': { [V('b')]: {}, [V('d')]: {} } }],
    ],
  },
  'set: an item applied and updated is shared': {
    type: setType,
    steps: [
      { apply: 'default', object: { list: ['a', 'c'] } },
      { update: 'controller', object: { list: ['a', 'b', 'c', 'd'] } },
      { apply: 'default', object: { list: ['a', 'b', 'c'] } },
    ],
    object: { list: ['a', 'b', 'c', 'd'] },
    managed: [
      ['default', 'Apply', { 'f:list': { [V('a')]: {}, [V('b')]: {}, [V('c')]: {} } }],
      ['controller', 'Update', { 'f:list': { [V('b')]: {}, [V('d')]: {} } }],
    ],
  },
  'set: the applier reorders': {
    type: setType,
    steps: [
      { apply: 'default', object: { list: ['a', 'b', 'c', 'd'] } },
      { apply: 'default', object: { list: ['a', 'd', 'c', 'b'] } },
    ],
    object: { list: ['a', 'd', 'c', 'b'] },
    managed: [['default', 'Apply', { 'f:list': { [V('a')]: {}, [V('b')]: {}, [V('c')]: {}, [V('d')]: {} } }]],
  },
  'set: a reorder by an updater owns nothing; the applier puts its order back': {
    type: setType,
    steps: [
      { apply: 'default', object: { list: ['a', 'b', 'c', 'd'] } },
      { update: 'controller', object: { list: ['a', 'd', 'c', 'b'] } },
      { apply: 'default', object: { list: ['a', 'b', 'c', 'd'] } },
    ],
    object: { list: ['a', 'b', 'c', 'd'] },
    managed: [['default', 'Apply', { 'f:list': { [V('a')]: {}, [V('b')]: {}, [V('c')]: {}, [V('d')]: {} } }]],
  },
  'set: items no longer applied are removed': {
    type: setType,
    steps: [
      { apply: 'default', object: { list: ['a', 'b', 'c', 'd'] } },
      { apply: 'default', object: { list: ['a', 'c'] } },
    ],
    object: { list: ['a', 'c'] },
    managed: [['default', 'Apply', { 'f:list': { [V('a')]: {}, [V('c')]: {} } }]],
  },
  'set: numbers and strings are different items': {
    type: setType,
    steps: [{ apply: 'default', object: { list: [1, '1', true] } }],
    object: { list: [1, '1', true] },
    managed: [['default', 'Apply', { 'f:list': { 'v:1': {}, 'v:"1"': {}, 'v:true': {} } }]],
  },

  // ---- associative lists (map) ----
  'map list: items merge by key, their fields owned one by one': {
    type: assocType,
    steps: [
      { apply: 'default', object: { list: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] } },
      { update: 'controller', object: { list: [{ name: 'a', value: '1', other: 'x' }, { name: 'b', value: '2' }] } },
      { apply: 'default', object: { list: [{ name: 'a', value: '1' }] } },
    ],
    object: { list: [{ name: 'a', value: '1', other: 'x' }] },
    managed: [
      ['default', 'Apply', { 'f:list': { [K({ name: 'a' })]: { '.': {}, 'f:name': {}, 'f:value': {} } } }],
      ['controller', 'Update', { 'f:list': { [K({ name: 'a' })]: { 'f:other': {} } } }],
    ],
  },
  'map list: a field of an item conflicts': {
    type: assocType,
    steps: [
      { apply: 'default', object: { list: [{ name: 'a', value: '1' }] } },
      { apply: 'other', object: { list: [{ name: 'a', value: '2' }] } },
    ],
    conflict: 'Apply failed with 1 conflict: conflict with "default": .list[name="a"].value',
  },
  'map list: a new item from a second applier is added after the others': {
    type: assocType,
    steps: [
      { apply: 'one', object: { list: [{ name: 'a', value: '1' }] } },
      { apply: 'two', object: { list: [{ name: 'b', value: '2' }] } },
    ],
    object: { list: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] },
    managed: [
      ['one', 'Apply', { 'f:list': { [K({ name: 'a' })]: { '.': {}, 'f:name': {}, 'f:value': {} } } }],
      ['two', 'Apply', { 'f:list': { [K({ name: 'b' })]: { '.': {}, 'f:name': {}, 'f:value': {} } } }],
    ],
  },
  'map list: an item another applier applies too stays, without the fields only the first owned': {
    type: assocType,
    steps: [
      { apply: 'a', object: { list: [{ name: 'x', value: '1' }] } },
      { apply: 'b', object: { list: [{ name: 'x' }] } },
      { apply: 'a', object: {} },
    ],
    object: { list: [{ name: 'x' }] },
    managed: [['b', 'Apply', { 'f:list': { [K({ name: 'x' })]: { '.': {}, 'f:name': {} } } }]],
  },
  'map list with two keys: conflict path names both': {
    type: twoKeyType,
    steps: [
      { apply: 'a', object: { ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] } },
      { apply: 'b', object: { ports: [{ port: 80, protocol: 'TCP', targetPort: 9090 }] } },
    ],
    conflict: 'Apply failed with 1 conflict: conflict with "a": .ports[port=80,protocol="TCP"].targetPort',
  },
  'map list with two keys: items differing in one key are different items': {
    type: twoKeyType,
    steps: [
      { apply: 'a', object: { ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] } },
      { apply: 'b', object: { ports: [{ protocol: 'UDP', port: 80, targetPort: 9090 }] } },
    ],
    object: {
      ports: [
        { port: 80, protocol: 'TCP', targetPort: 8080 },
        { port: 80, protocol: 'UDP', targetPort: 9090 },
      ],
    },
    managed: [
      ['a', 'Apply', { 'f:ports': { 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:port': {}, 'f:protocol': {}, 'f:targetPort': {} } } }],
      ['b', 'Apply', { 'f:ports': { 'k:{"port":80,"protocol":"UDP"}': { '.': {}, 'f:port': {}, 'f:protocol': {}, 'f:targetPort': {} } } }],
    ],
  },

  // ---- nested lists (structured-merge-diff's multiple appliers cases) ----
  'nested: remove one item, keep one with a dangling sub-item': {
    type: listOfLists,
    steps: [
      { apply: 'apply-one', object: { listOfLists: [{ name: 'a' }, { name: 'b', value: ['c'] }] } },
      { apply: 'apply-two', object: { listOfLists: [{ name: 'b', value: ['d'] }] } },
      { update: 'controller', object: { listOfLists: [{ name: 'a' }, { name: 'b', value: ['c', 'd', 'e'] }] } },
      { apply: 'apply-one', object: { listOfLists: [{ name: 'a' }] } },
    ],
    object: { listOfLists: [{ name: 'a' }, { name: 'b', value: ['d', 'e'] }] },
    managed: [
      ['apply-two', 'Apply', { 'f:listOfLists': { [K({ name: 'b' })]: { '.': {}, 'f:name': {}, 'f:value': { [V('d')]: {} } } } }],
      ['apply-one', 'Apply', { 'f:listOfLists': { [K({ name: 'a' })]: { '.': {}, 'f:name': {} } } }],
      ['controller', 'Update', { 'f:listOfLists': { [K({ name: 'b' })]: { 'f:value': { [V('e')]: {} } } } }],
    ],
  },
  'nested: an item the applier alone owned goes with the sub-items others own': {
    type: listOfLists,
    steps: [
      { apply: 'apply-one', object: { listOfLists: [{ name: 'a' }, { name: 'b', value: ['c'] }] } },
      { apply: 'apply-two', object: { listOfLists: [{ name: 'a', value: ['b'] }] } },
      { update: 'controller', object: { listOfLists: [{ name: 'a', value: ['b'] }, { name: 'b', value: ['c', 'd'] }] } },
      { apply: 'apply-one', object: { listOfLists: [{ name: 'a' }] } },
    ],
    object: { listOfLists: [{ name: 'a', value: ['b'] }] },
    managed: [
      ['apply-two', 'Apply', { 'f:listOfLists': { [K({ name: 'a' })]: { '.': {}, 'f:name': {}, 'f:value': { [V('b')]: {} } } } }],
      ['apply-one', 'Apply', { 'f:listOfLists': { [K({ name: 'a' })]: { '.': {}, 'f:name': {} } } }],
    ],
  },
  'nested: map lists and sets inside map list items': {
    type: nestedType,
    steps: [
      { apply: 'a', object: { outer: [{ name: 'o', inner: [{ id: 1, v: 'x' }, { id: 2, v: 'y' }], tags: ['t1', 't2'] }] } },
      { apply: 'a', object: { outer: [{ name: 'o', inner: [{ id: 2, v: 'z' }], tags: ['t2'] }] } },
    ],
    object: { outer: [{ name: 'o', inner: [{ id: 2, v: 'z' }], tags: ['t2'] }] },
    managed: [
      [
        'a',
        'Apply',
        { 'f:outer': { [K({ name: 'o' })]: { '.': {}, 'f:inner': { 'k:{"id":2}': { '.': {}, 'f:id': {}, 'f:v': {} } }, 'f:name': {}, 'f:tags': { [V('t2')]: {} } } } },
      ],
    ],
  },
  'nested: an inner item field conflicts with its path': {
    type: nestedType,
    steps: [
      { apply: 'a', object: { outer: [{ name: 'o', inner: [{ id: 1, v: 'x' }] }] } },
      { update: 'ctl', object: { outer: [{ name: 'o', inner: [{ id: 1, v: 'y' }] }] } },
      { apply: 'a', object: { outer: [{ name: 'o', inner: [{ id: 1, v: 'x' }] }] } },
    ],
    conflict: 'Apply failed with 1 conflict: conflict with "ctl" using v1: .outer[name="o"].inner[id=1].v',
  },

  // ---- structs emptied or nulled (structured-merge-diff's nested cases) ----
  'struct: applying nothing removes everything the applier owned': {
    type: structType,
    steps: [
      { apply: 'default', object: { struct: { name: 'a', value: 1 } } },
      { apply: 'default', object: {} },
    ],
    object: {},
    managed: [],
  },
  'struct: applying nothing keeps the fields an updater added': {
    type: structType,
    steps: [
      { apply: 'default', object: { struct: { name: 'a' } } },
      { update: 'controller', object: { struct: { name: 'a', value: 1 } } },
      { apply: 'default', object: {} },
    ],
    object: { struct: { value: 1 } },
    managed: [['controller', 'Update', { 'f:struct': { 'f:value': {} } }]],
  },
  'struct: an empty struct applied over a live one keeps what others own': {
    type: structType,
    steps: [
      { apply: 'default', object: { struct: { name: 'a' } } },
      { update: 'controller', object: { struct: { name: 'a', value: 1 } } },
      { apply: 'default', object: { struct: {} } },
    ],
    object: { struct: { value: 1 } },
    managed: [
      ['default', 'Apply', { 'f:struct': {} }],
      ['controller', 'Update', { 'f:struct': { 'f:value': {} } }],
    ],
  },
  'struct: a null struct applied over a live one merges as an empty one': {
    type: structType,
    steps: [
      { apply: 'default', object: { struct: { name: 'a' } } },
      { update: 'controller', object: { struct: { name: 'a', value: 1 } } },
      { apply: 'default', object: { struct: null } },
    ],
    object: { struct: { value: 1 } },
    managed: [
      ['default', 'Apply', { 'f:struct': {} }],
      ['controller', 'Update', { 'f:struct': { 'f:value': {} } }],
    ],
  },
  'struct: a field an updater took over is not removed': {
    type: structType,
    steps: [
      { apply: 'default', object: { struct: { name: 'a' } } },
      { update: 'controller', object: { struct: { name: 'b', value: 1 } } },
      { apply: 'default', object: { struct: null } },
    ],
    object: { struct: { name: 'b', value: 1 } },
    managed: [
      ['default', 'Apply', { 'f:struct': {} }],
      ['controller', 'Update', { 'f:struct': { 'f:name': {}, 'f:value': {} } }],
    ],
  },
  'map list: a null list applied keeps the live items': {
    type: assocType,
    steps: [
      { update: 'controller', object: { list: [{ name: 'a' }] } },
      { apply: 'default', object: { list: null } },
    ],
    object: { list: [{ name: 'a' }] },
    managed: [
      ['default', 'Apply', { 'f:list': {} }],
      ['controller', 'Update', { 'f:list': { '.': {}, [K({ name: 'a' })]: { '.': {}, 'f:name': {} } } }],
    ],
  },

  // ---- atomic lists ----
  'atomic list: owned as a whole; an updater that changes it takes it': {
    type: atomicListType,
    steps: [
      { apply: 'a', object: { list: [1, 2] } },
      { update: 'c', object: { list: [1, 2, 3] } },
      { apply: 'a', object: { list: [1, 2], other: 'o' } },
    ],
    conflict: 'Apply failed with 1 conflict: conflict with "c" using v1: .list',
    object: { list: [1, 2, 3] },
    managed: [['c', 'Update', { 'f:list': {} }]],
  },
  'atomic list: replaced whole, removed when no longer applied': {
    type: atomicListType,
    steps: [
      { apply: 'a', object: { list: [{ x: 1 }, { x: 2 }], other: 'o' } },
      { apply: 'a', object: { list: [{ x: 3 }], other: 'o' } },
      { apply: 'a', object: { other: 'o' } },
    ],
    object: { other: 'o' },
    managed: [['a', 'Apply', { 'f:other': {} }]],
  },

  // ---- maps ----
  'granular map: keys owned one by one, a dropped key removed': {
    type: mapsType,
    steps: [
      { apply: 'a', object: { labels: { x: '1', y: '2' } } },
      { apply: 'b', object: { labels: { z: '3' } } },
      { apply: 'a', object: { labels: { x: '1' } } },
    ],
    object: { labels: { x: '1', z: '3' } },
    managed: [
      ['b', 'Apply', { 'f:labels': { 'f:z': {} } }],
      ['a', 'Apply', { 'f:labels': { 'f:x': {} } }],
    ],
  },
  'atomic map: one field; another applier conflicts on the whole map': {
    type: mapsType,
    steps: [
      { apply: 'a', object: { selector: { x: '1' } } },
      { apply: 'b', object: { selector: { y: '2' } } },
    ],
    conflict: 'Apply failed with 1 conflict: conflict with "a": .selector',
  },
  'atomic map: force replaces it whole': {
    type: mapsType,
    steps: [
      { apply: 'a', object: { selector: { x: '1' }, ref: { a: 1, b: 2 } } },
      { apply: 'b', object: { selector: { y: '2' } }, force: true },
    ],
    object: { selector: { y: '2' }, ref: { a: 1, b: 2 } },
    managed: [
      ['a', 'Apply', { 'f:ref': {} }],
      ['b', 'Apply', { 'f:selector': {} }],
    ],
  },
  'struct: declared fields have no "."; a struct no longer applied is removed': {
    type: mapsType,
    steps: [
      { apply: 'a', object: { spec: { x: 1, sub: { p: 1, q: 2 } } } },
      { apply: 'a', object: { spec: { x: 1 } } },
    ],
    object: { spec: { x: 1 } },
    managed: [['a', 'Apply', { 'f:spec': { 'f:x': {} } }]],
  },
  'struct: an empty map applied is owned as a field': {
    type: mapsType,
    steps: [{ apply: 'a', object: { labels: {}, spec: { sub: {} } } }],
    object: { labels: {}, spec: { sub: {} } },
    managed: [['a', 'Apply', { 'f:labels': {}, 'f:spec': { 'f:sub': {} } }]],
  },
  'untyped (deduced): maps granular with "." on every map, lists atomic': {
    steps: [
      { apply: 'a', object: { spec: { x: { y: 1 } }, list: [1, 2] } },
      { apply: 'b', object: { spec: { x: { z: 2 } } } },
    ],
    object: { spec: { x: { y: 1, z: 2 } }, list: [1, 2] },
    managed: [
      ['a', 'Apply', { 'f:list': {}, 'f:spec': { '.': {}, 'f:x': { '.': {}, 'f:y': {} } } }],
      ['b', 'Apply', { 'f:spec': { '.': {}, 'f:x': { '.': {}, 'f:z': {} } } }],
    ],
  },
  'null in the configuration: the field is owned and left out': {
    type: leafType,
    steps: [
      { apply: 'a', object: { numeric: 1, string: 's' } },
      { apply: 'a', object: { numeric: null, string: 's' } },
    ],
    object: { string: 's' },
    managed: [['a', 'Apply', { 'f:numeric': {}, 'f:string': {} }]],
  },

  // ---- update, and update then apply ----
  'update: a create records every field, "." on the maps it adds, never the metadata kube skips': {
    type: kindType,
    steps: [{ update: 'kubectl-create', object: { ...meta, metadata: { ...meta.metadata, uid: 'u', resourceVersion: '1', labels: { app: 'x' } }, spec: { replicas: 1, sub: { p: 2 } } } }],
    object: { ...meta, metadata: { ...meta.metadata, uid: 'u', resourceVersion: '1', labels: { app: 'x' } }, spec: { replicas: 1, sub: { p: 2 } } },
    managed: [['kubectl-create', 'Update', { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { '.': {}, 'f:replicas': {}, 'f:sub': { '.': {}, 'f:p': {} } } }]],
  },
  'update then apply: the same value is shared, another value conflicts': {
    type: kindType,
    steps: [
      { update: 'kubectl-create', object: { ...meta, spec: { replicas: 1 } } },
      { apply: 'kubectl', object: { ...meta, spec: { replicas: 1, x: 'a' } } },
      { apply: 'kubectl', object: { ...meta, spec: { replicas: 2, x: 'a' } } },
    ],
    conflict: 'Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .spec.replicas',
    object: { ...meta, spec: { replicas: 1, x: 'a' } },
    managed: [
      ['kubectl', 'Apply', { 'f:spec': { 'f:replicas': {}, 'f:x': {} } }],
      ['kubectl-create', 'Update', { 'f:spec': { '.': {}, 'f:replicas': {} } }],
    ],
  },
  'update: takes a changed field from the applier, no conflict': {
    type: kindType,
    steps: [
      { apply: 'kubectl', object: { ...meta, spec: { replicas: 1, x: 'a' } } },
      { update: 'kubectl-edit', object: { ...meta, spec: { replicas: 3, x: 'a' } } },
    ],
    object: { ...meta, spec: { replicas: 3, x: 'a' } },
    managed: [
      ['kubectl', 'Apply', { 'f:spec': { 'f:x': {} } }],
      ['kubectl-edit', 'Update', { 'f:spec': { 'f:replicas': {} } }],
    ],
  },
  'update: a removed field leaves every owner': {
    type: kindType,
    steps: [
      { apply: 'kubectl', object: { ...meta, spec: { replicas: 1, x: 'a' } } },
      { update: 'kubectl-edit', object: { ...meta, spec: { replicas: 1 } } },
    ],
    object: { ...meta, spec: { replicas: 1 } },
    managed: [['kubectl', 'Apply', { 'f:spec': { 'f:replicas': {} } }]],
  },
  'update: a write that changes only untracked metadata adds no entry': {
    type: kindType,
    steps: [
      { apply: 'kubectl', object: { ...meta, spec: { replicas: 1 } } },
      { update: 'other', object: { ...meta, metadata: { ...meta.metadata, resourceVersion: '7', generation: 2 }, spec: { replicas: 1 } } },
    ],
    object: { ...meta, metadata: { ...meta.metadata, resourceVersion: '7', generation: 2 }, spec: { replicas: 1 } },
    managed: [['kubectl', 'Apply', { 'f:spec': { 'f:replicas': {} } }]],
  },
  'update: the same manager accumulates its fields in one entry': {
    type: kindType,
    steps: [
      { update: 'ctl', object: { ...meta, spec: { replicas: 1 } } },
      { update: 'ctl', object: { ...meta, spec: { replicas: 1, x: 'b' } } },
    ],
    object: { ...meta, spec: { replicas: 1, x: 'b' } },
    managed: [['ctl', 'Update', { 'f:spec': { '.': {}, 'f:replicas': {}, 'f:x': {} } }]],
  },
  'one manager name, Apply and Update entries are different managers': {
    type: kindType,
    steps: [
      { update: 'kubectl', object: { ...meta, spec: { replicas: 1 } } },
      { apply: 'kubectl', object: { ...meta, spec: { replicas: 2 } } },
    ],
    conflict: 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .spec.replicas',
  },

  // ---- metadata, reset fields, subresources ----
  'apply: name, namespace and the like are not tracked; labels and finalizers are': {
    type: kindType,
    steps: [{ apply: 'kubectl', object: { ...meta, metadata: { ...meta.metadata, labels: { a: '1' }, finalizers: ['f1'] }, spec: { x: 'a' } } }],
    object: { ...meta, metadata: { ...meta.metadata, labels: { a: '1' }, finalizers: ['f1'] }, spec: { x: 'a' } },
    managed: [['kubectl', 'Apply', { 'f:metadata': { 'f:finalizers': { [V('f1')]: {} }, 'f:labels': { 'f:a': {} } }, 'f:spec': { 'f:x': {} } }]],
  },
  'apply on the main resource ignores status': {
    type: kindType,
    resetFields: undefined,
    steps: [
      { update: 'controller', object: { ...meta, status: { phase: 'Ready' } }, subresource: 'status' },
      { apply: 'kubectl', object: { ...meta, spec: { x: 'a' }, status: { phase: 'Broken' } } },
    ],
    object: { ...meta, spec: { x: 'a' }, status: { phase: 'Ready' } },
    managed: [
      ['kubectl', 'Apply', { 'f:spec': { 'f:x': {} } }],
      ['controller', 'Update', { 'f:status': { '.': {}, 'f:phase': {} } }, 'status'],
    ],
  },
  'apply on the status subresource owns status only, with subresource in its entry': {
    type: kindType,
    resetFields: undefined,
    steps: [
      { apply: 'kubectl', object: { ...meta, spec: { x: 'a' } } },
      { apply: 'ctl', object: { ...meta, spec: { x: 'b' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } }, subresource: 'status' },
      { apply: 'other', object: { ...meta, status: { conditions: [{ type: 'Ready', status: 'False' }] } }, subresource: 'status' },
    ],
    conflict: 'Apply failed with 1 conflict: conflict with "ctl" with subresource "status": .status.conditions[type="Ready"].status',
    object: { ...meta, spec: { x: 'a' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    managed: [
      ['kubectl', 'Apply', { 'f:spec': { 'f:x': {} } }],
      ['ctl', 'Apply', { 'f:status': { 'f:conditions': { [K({ type: 'Ready' })]: { '.': {}, 'f:status': {}, 'f:type': {} } } } }, 'status'],
    ],
  },
};

// ---- the runner ----

const stripMF = (o: Obj): Obj => {
  const m = o.metadata as Obj | undefined;
  if (!m) return o;
  const { managedFields: _, ...rest } = m;
  return Object.keys(rest).length ? { ...o, metadata: rest } : (({ metadata: __, ...r }) => r)(o);
};

const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, i));

function run(c: Case) {
  let object: Obj | undefined;
  let managedFields: ManagedFieldsEntry[] = [];
  let error: unknown;
  c.steps.forEach((s, i) => {
    const opts = { type: c.type, apiVersion: 'v1', now: at(i), subresource: s.subresource, resetFields: 'resetFields' in c ? c.resetFields : [] };
    try {
      const r =
        'apply' in s
          ? apply(object, managedFields, s.object, s.apply, { ...opts, force: s.force })
          : update(object, s.object, managedFields, s.update, opts);
      object = r.object;
      managedFields = r.managedFields;
    } catch (e) {
      if (i !== c.steps.length - 1) throw e;
      error = e;
    }
  });
  return { object, managedFields, error };
}

for (const [name, c] of Object.entries(cases)) {
  test(name, (t) => {
    const r = run(c);
    if (c.conflict) {
      t.true(r.error instanceof ApplyConflictError, String(r.error));
      t.is((r.error as Error).message, c.conflict);
    } else if (r.error) throw r.error;
    if (c.object) t.deepEqual(stripMF(r.object!), c.object);
    if (c.managed) {
      t.deepEqual(
        r.managedFields.map((e) => [e.manager, e.operation, e.fieldsV1, ...(e.subresource ? [e.subresource] : [])]),
        c.managed,
      );
      for (const e of r.managedFields) {
        t.is(e.fieldsType, 'FieldsV1');
        t.is(e.apiVersion, 'v1');
        // no time when an apply claimed fields without changing the object (as kube)
        if (e.time !== undefined || e.operation === 'Update') t.regex(e.time!, /^2026-01-01T00:\d\d:00Z$/);
        // written in kube's key order
        t.is(JSON.stringify(e.fieldsV1), FieldSet.fromFieldsV1(e.fieldsV1!).toJSON());
      }
      if (r.object) t.deepEqual((r.object.metadata as Obj | undefined)?.managedFields ?? [], r.managedFields);
    }
  });
}

// ---- the rest: conflict causes, no-op applies, times, the cap, refusals ----

test('a conflict carries one FieldManagerConflict cause per field, as kube fills metav1.Status', (t) => {
  const r = run(cases['leaf: several conflicts are grouped by manager']);
  const e = r.error as ApplyConflictError;
  t.is(e.code, 409);
  t.is(e.reason, 'Conflict');
  t.deepEqual(e.causes, [
    { reason: 'FieldManagerConflict', message: 'conflict with "a"', field: '.numeric' },
    { reason: 'FieldManagerConflict', message: 'conflict with "a"', field: '.string' },
    { reason: 'FieldManagerConflict', message: 'conflict with "c" using v1', field: '.bool' },
  ]);
  t.deepEqual(e.conflicts[2], { manager: '"c" using v1', field: '.bool' });
});

test('the same apply twice changes nothing: same object, same managedFields and times', (t) => {
  const cfg = { ...meta, spec: { replicas: 1, x: 'a' } };
  const r1 = apply(undefined, [], cfg, 'kubectl', { type: kindType, now: at(1) });
  t.true(r1.changed);
  t.is(r1.managedFields[0].time, '2026-01-01T00:01:00Z');
  const r2 = apply(r1.object, r1.managedFields, cfg, 'kubectl', { type: kindType, now: at(5) });
  t.false(r2.changed);
  t.deepEqual(r2.object, r1.object);
  t.deepEqual(r2.managedFields, r1.managedFields);
  // a second applier claiming the same value changes ownership only: a write, same fields; as in
  // kube its entry gets no time, since the object did not change
  const r3 = apply(r2.object, r2.managedFields, cfg, 'flux', { type: kindType, now: at(6) });
  t.true(r3.changed);
  t.deepEqual(stripMF(r3.object), stripMF(r1.object));
  t.deepEqual(r3.managedFields.map((e) => [e.manager, e.time]), [
    ['flux', undefined],
    ['kubectl', '2026-01-01T00:01:00Z'],
  ]);
  // and an applier that changes nothing but drops a field it shares keeps its old time
  const r4 = apply(r3.object, r3.managedFields, { ...cfg, spec: { replicas: 1 } }, 'kubectl', { type: kindType, now: at(7) });
  t.true(r4.changed);
  t.deepEqual(r4.managedFields.map((e) => [e.manager, e.time, e.fieldsV1]), [
    ['flux', undefined, { 'f:spec': { 'f:replicas': {}, 'f:x': {} } }],
    ['kubectl', '2026-01-01T00:01:00Z', { 'f:spec': { 'f:replicas': {} } }],
  ]);
});

test('an update that changes nothing is not a change, and keeps the entries and times', (t) => {
  const obj = { ...meta, spec: { replicas: 1 } };
  const r1 = update(undefined, obj, [], 'kubectl-create', { type: kindType, now: at(1) });
  const r2 = update(r1.object, { ...obj }, r1.managedFields, 'kubectl-edit', { type: kindType, now: at(2) });
  t.false(r2.changed);
  t.deepEqual(r2.managedFields, r1.managedFields);
});

test('managedFields are sorted: Apply first, then by time, manager, apiVersion', (t) => {
  let mf: ManagedFieldsEntry[] = [];
  let obj: Obj | undefined;
  const steps: [string, 'a' | 'u', Obj][] = [
    ['zeta', 'u', { ...meta, spec: { x: '1' } }],
    ['alpha', 'u', { ...meta, spec: { x: '1', replicas: 2 } }],
    ['kubectl', 'a', { ...meta, metadata: { ...meta.metadata, labels: { l: '1' } } }],
    ['beta', 'a', { ...meta, metadata: { ...meta.metadata, annotations: { n: '1' } } }],
  ];
  steps.forEach(([m, op, o], i) => {
    const opts = { type: kindType, now: at(10 - i) };
    const r = op === 'a' ? apply(obj as never, mf, o as never, m, opts) : update(obj as never, o as never, mf, m, opts);
    obj = r.object;
    mf = r.managedFields;
  });
  t.deepEqual(mf.map((e) => `${e.operation} ${e.manager} ${e.time}`), [
    'Apply beta 2026-01-01T00:07:00Z',
    'Apply kubectl 2026-01-01T00:08:00Z',
    'Update alpha 2026-01-01T00:09:00Z',
    'Update zeta 2026-01-01T00:10:00Z',
  ]);
});

test('more than 10 Update managers: the oldest are merged into ancient-changes', (t) => {
  let obj: Obj = { ...meta, spec: {} };
  let mf: ManagedFieldsEntry[] = [];
  for (let i = 0; i < 12; i++) {
    const next = { ...obj, metadata: { ...(obj.metadata as Obj), labels: { ...((obj.metadata as Obj).labels as Obj), [`l${i}`]: 'x' } } };
    const r = update(obj as never, next as never, mf, `m${String(i).padStart(2, '0')}`, { type: kindType, now: at(i) });
    obj = r.object;
    mf = r.managedFields;
  }
  t.is(mf.length, 10);
  const ancient = mf.find((e) => e.manager === 'ancient-changes')!;
  t.truthy(ancient);
  t.is(ancient.operation, 'Update');
  // m00 created the labels map, hence its "."
  t.deepEqual(ancient.fieldsV1, { 'f:metadata': { 'f:labels': { '.': {}, 'f:l0': {}, 'f:l1': {}, 'f:l2': {} } } });
  t.is(ancient.time, '2026-01-01T00:02:00Z');
  t.false(mf.some((e) => ['m00', 'm01', 'm02'].includes(e.manager!)));
});

test('apply creates: live undefined gives the object and one Apply entry', (t) => {
  const r = apply(undefined, undefined, { ...meta, spec: { replicas: 1 } }, 'kubectl', { type: kindType, now: at(0) });
  t.true(r.changed);
  t.deepEqual(r.object, {
    ...meta,
    metadata: {
      ...meta.metadata,
      managedFields: [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } }],
    },
    spec: { replicas: 1 },
  } as never);
});

test('refused configurations: managedFields set, duplicate keys, items without keys, non-scalar set items', (t) => {
  const mf = { ...meta, metadata: { ...meta.metadata, managedFields: [{ manager: 'x', operation: 'Apply' }] } };
  t.notThrows(() => apply(undefined, [], { ...meta, metadata: { ...meta.metadata, managedFields: [] } }, 'kubectl', { type: kindType }));
  t.throws(() => apply(undefined, [], mf as never, 'kubectl', { type: kindType }), { instanceOf: ApplyInvalidError, message: 'metadata.managedFields must be nil' });
  t.throws(() => apply(undefined, [], { list: [{ name: 'a' }, { name: 'a' }] }, 'kubectl', { type: assocType }), {
    instanceOf: ApplyInvalidError,
    message: 'failed to create typed patch object (; /, Kind=): .list: duplicate entries for key [name="a"]',
  });
  t.throws(() => apply(undefined, [], { list: [{ value: 'a' }] }, 'kubectl', { type: assocType }), {
    instanceOf: ApplyInvalidError,
    message: 'failed to create typed patch object (; /, Kind=): .list: element 0: associative list with keys has an element that omits all key fields ["name"] (and doesn\'t have default values for any key fields)',
  });
  t.throws(() => apply(undefined, [], { list: [{ a: 1 }] }, 'kubectl', { type: setType }), { instanceOf: ApplyInvalidError, message: /element 0: associative list without keys has an element that's a map type/ });
  t.throws(() => apply(undefined, [], {}, '', {}), { instanceOf: ApplyInvalidError });
  // kube's wording, with the object and its kind, and every error
  const dup = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default' }, list: [{ name: 'a' }, { name: 'a' }], items: [{ a: 1 }] };
  const e = t.throws(() => apply(undefined, [], dup, 'kubectl', { type: struct({ list: mapList(['name'], struct({ name: scalar })), items: setList() }) }), { instanceOf: ApplyInvalidError });
  t.is(
    e!.message,
    'failed to create typed patch object (default/web; apps/v1, Kind=Deployment): errors:\n  .list: duplicate entries for key [name="a"]\n  .items: element 0: associative list without keys has an element that\'s a map type',
  );
  t.is(e!.errors.length, 2);
  t.throws(() => apply(undefined, [{ manager: 'x', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: 'nope' as never }], {}, 'kubectl', {}), { instanceOf: ApplyInvalidError });
});

test('a live list with duplicate items is still compared and merged', (t) => {
  const live = { list: [{ name: 'a', value: '1' }, { name: 'a', value: '2' }, { name: 'b' }] };
  const r1 = update(undefined, live, [], 'ctl', { type: assocType, now: at(0), apiVersion: 'v1' });
  t.deepEqual(r1.managedFields[0].fieldsV1, { 'f:list': { '.': {}, [K({ name: 'a' })]: {}, [K({ name: 'b' })]: { '.': {}, 'f:name': {} } } });
  const r2 = apply(r1.object, r1.managedFields, { list: [{ name: 'c' }] }, 'kubectl', { type: assocType, now: at(1), apiVersion: 'v1' });
  t.throws(() => update(undefined, live, [], 'ctl', { type: assocType }), { instanceOf: ApplyInvalidError, message: 'apiVersion must be set' });
  // stored entries kube could not read are refused on apply, as kube does
  t.throws(() => apply(r1.object, [{ manager: 'x', operation: 'Update', fieldsV1: {} }], { list: [] }, 'kubectl', { type: assocType, apiVersion: 'v1' }), {
    instanceOf: ApplyInvalidError,
    message: 'failed to decode managed fields: apiVersion must not be empty',
  });
  t.deepEqual(stripMF(r2.object), { list: [{ name: 'a', value: '1' }, { name: 'a', value: '2' }, { name: 'b' }, { name: 'c' }] });
});

test('update: managedFields sent in the new object replace the stored ones; [{}] clears them; unreadable ones are ignored', (t) => {
  const obj = { ...meta, spec: { replicas: 1 } };
  const r1 = update(undefined, obj, [], 'kubectl-create', { type: kindType, now: at(1) });
  // the client rewrites managedFields (kubectl edit of metadata.managedFields)
  const rewritten = [{ manager: 'someone', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:replicas': {} } } }];
  const next = { ...obj, metadata: { ...obj.metadata, managedFields: rewritten }, spec: { replicas: 1, x: 'a' } };
  const r2 = update(r1.object, next, r1.managedFields, 'kubectl-edit', { type: kindType, now: at(2) });
  t.deepEqual(r2.managedFields.map((e) => [e.manager, e.fieldsV1]), [
    ['someone', { 'f:spec': { 'f:replicas': {} } }],
    ['kubectl-edit', { 'f:spec': { 'f:x': {} } }],
  ]);
  // [{}] clears every entry
  const r3 = update(r2.object, { ...r2.object, metadata: { ...(r2.object.metadata as Obj), managedFields: [{}] } }, r2.managedFields, 'kubectl-edit', { type: kindType });
  t.deepEqual(r3.managedFields, []);
  t.is((r3.object.metadata as Obj).managedFields, undefined);
  t.true(r3.changed);
  // an unreadable list sent is ignored: the stored entries are used
  const r4 = update(r2.object, { ...r2.object, metadata: { ...(r2.object.metadata as Obj), managedFields: [{ fieldsV1: { bad: {} } }] } }, r2.managedFields, 'kubectl-edit', { type: kindType });
  t.deepEqual(r4.managedFields, r2.managedFields);
  t.false(r4.changed);
});

test('inputs are never changed: frozen live objects, configurations and managedFields work', (t) => {
  const freeze = <T>(o: T): T => {
    if (o && typeof o === 'object') {
      for (const v of Object.values(o)) freeze(v);
      Object.freeze(o);
    }
    return o;
  };
  const cfg1 = freeze({ ...meta, metadata: { ...meta.metadata, labels: { a: '1', b: '2' } }, spec: { replicas: 1, sub: { p: 1 } } });
  const r1 = apply(undefined, [], cfg1, 'kubectl', { type: kindType, now: at(1) });
  const live = freeze(r1.object);
  const before = JSON.stringify(live);
  const r2 = apply(live, freeze(r1.managedFields), freeze({ ...meta, metadata: { ...meta.metadata, labels: { a: '1' } }, spec: { replicas: 2 } }), 'kubectl', { type: kindType, now: at(2) });
  const r3 = update(live, freeze({ ...live, spec: { replicas: 5 } }), r1.managedFields, 'kubectl-edit', { type: kindType, now: at(3) });
  t.is(JSON.stringify(live), before);
  t.deepEqual(stripMF(r2.object), { ...meta, metadata: { ...meta.metadata, labels: { a: '1' } }, spec: { replicas: 2 } });
  t.deepEqual((r3.object.spec as Obj).replicas, 5);
  // the results can be changed by the caller
  (r2.object.metadata as Obj).resourceVersion = '9';
  (r2.object.spec as Obj).replicas = 3;
  t.is(JSON.stringify(live), before);
});

test('an object stored without managedFields: its fields go to before-first-apply on the first apply; updates do not track it', (t) => {
  const stored = { ...meta, metadata: { ...meta.metadata, uid: 'u-1', resourceVersion: '3' }, spec: { replicas: 1, x: 'a' }, status: { phase: 'Ready' } };
  // an update of an untracked object stays untracked (kube tracks from a create or an apply on)
  const u = update(stored, { ...stored, spec: { replicas: 2, x: 'a' } }, [], 'kubectl-edit', { type: kindType, now: at(1) });
  t.deepEqual(u.managedFields, []);
  t.true(u.changed);
  t.false('managedFields' in (u.object.metadata as Obj));
  // the first apply: the existing spec fields belong to before-first-apply (status is reset, not owned)
  const err = t.throws(() => apply(stored, [], { ...meta, spec: { replicas: 5 } }, 'kubectl', { type: kindType, now: at(2) }), { instanceOf: ApplyConflictError });
  t.is(err!.message, 'Apply failed with 1 conflict: conflict with "before-first-apply" using v1: .spec.replicas');
  const r = apply(stored, [], { ...meta, spec: { replicas: 1 } }, 'kubectl', { type: kindType, now: at(2) });
  t.true(r.changed);
  t.deepEqual(r.managedFields.map((e) => [e.manager, e.operation, e.time, e.fieldsV1]), [
    ['kubectl', 'Apply', undefined, { 'f:spec': { 'f:replicas': {} } }],
    ['before-first-apply', 'Update', '2026-01-01T00:02:00Z', { 'f:spec': { '.': {}, 'f:replicas': {}, 'f:x': {} } }],
  ]);
  // dropping replicas later keeps it: before-first-apply still owns it
  const r2 = apply(r.object, r.managedFields, { ...meta, spec: { x: 'a' } }, 'kubectl', { type: kindType, now: at(3) });
  t.deepEqual((r2.object.spec as Obj), { replicas: 1, x: 'a' });
  // a create through update is tracked
  t.is(update(undefined, stored, [], 'kubectl-create', { type: kindType }).managedFields.length, 1);
});

test('moving from client-side apply: kubectl takes over what its last-applied annotation applied, and keeps the annotation in step', (t) => {
  // kubectl apply (client-side) created the object: an Update by kubectl-client-side-apply and the annotation
  const first = { ...meta, spec: { replicas: 1, x: 'a' } };
  const created = { ...meta, metadata: { ...meta.metadata, annotations: { [LAST_APPLIED]: `${JSON.stringify(first)}\n` } }, spec: first.spec };
  const r0 = update(undefined, created, [], 'kubectl-client-side-apply', { type: kindType, now: at(0) });
  // another server-side applier conflicts with the client-side apply fields
  const e = t.throws(() => apply(r0.object, r0.managedFields, { ...meta, spec: { replicas: 2, x: 'a' } }, 'flux', { type: kindType }), { instanceOf: ApplyConflictError });
  t.is(e!.message, 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .spec.replicas');
  // kubectl apply --server-side: no conflict, replicas taken over, x shared, the annotation rewritten
  const cfg = { ...meta, spec: { replicas: 2, x: 'a' } };
  const r1 = apply(r0.object, r0.managedFields, cfg, 'kubectl', { type: kindType, now: at(1) });
  t.deepEqual(r1.object.spec, { replicas: 2, x: 'a' });
  t.is(((r1.object.metadata as Obj).annotations as Obj)[LAST_APPLIED], '{"apiVersion":"v1","kind":"Thing","metadata":{"name":"n","namespace":"default"},"spec":{"replicas":2,"x":"a"}}\n');
  t.deepEqual(r1.managedFields.map((m) => [m.manager, m.fieldsV1]), [
    ['kubectl', { 'f:spec': { 'f:replicas': {}, 'f:x': {} } }],
    ['kubectl-client-side-apply', { 'f:metadata': { 'f:annotations': { '.': {}, [`f:${LAST_APPLIED}`]: {} } }, 'f:spec': { '.': {}, 'f:x': {} } }],
  ]);
  // the same server-side apply again: nothing to write
  t.false(apply(r1.object, r1.managedFields, cfg, 'kubectl', { type: kindType, now: at(2) }).changed);
  // a value someone else changed since the client-side apply is still a conflict
  const r2 = update(r0.object, { ...r0.object, spec: { replicas: 3, x: 'a' } }, r0.managedFields, 'kubectl-edit', { type: kindType, now: at(3) });
  const e2 = t.throws(() => apply(r2.object, r2.managedFields, cfg, 'kubectl', { type: kindType }), { instanceOf: ApplyConflictError });
  t.is(e2!.message, 'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .spec.replicas');
  // other managers do not touch the annotation
  const r3 = apply(r0.object, r0.managedFields, { ...meta, spec: { x: 'a' } }, 'flux', { type: kindType });
  t.is(((r3.object.metadata as Obj).annotations as Obj)[LAST_APPLIED], `${JSON.stringify(first)}\n`);
});
