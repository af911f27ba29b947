// Strategic merge patch application. Most cases are ported from upstream's
// k8s.io/apimachinery/pkg/util/strategicpatch/patch_test.go: "two-way" cases
// apply the TwoWay patch to Original (expecting Modified/TwoWayResult),
// "three-way" cases apply the ThreeWay patch to Current (expecting Result).
import test from 'ava';
import { applyStrategicMergePatch, PatchError, type SchemaNode } from '../src/apiserver/patch/strategic.ts';

// Upstream's MergeItem test struct (and its OpenAPI twin) as a schema.
const str: SchemaNode = { type: 'string' };
const int: SchemaNode = { type: 'integer' };
const mergeItem: SchemaNode = { type: 'object' };
const mergingListOf = (items: SchemaNode, strategy = 'merge'): SchemaNode => ({
  type: 'array',
  items,
  'x-kubernetes-patch-strategy': strategy,
  'x-kubernetes-patch-merge-key': 'name',
});
const mergingIntList: SchemaNode = { type: 'array', items: int, 'x-kubernetes-patch-strategy': 'merge' };
const simpleMap: SchemaNode = { type: 'object', additionalProperties: str };
mergeItem.properties = {
  name: str,
  value: str,
  other: str,
  mergingList: mergingListOf(mergeItem),
  nonMergingList: { type: 'array', items: mergeItem },
  mergingIntList,
  nonMergingIntList: { type: 'array', items: int },
  mergeItemPtr: mergingListOf(mergeItem),
  simpleMap,
  replacingItem: { type: 'object', 'x-kubernetes-patch-strategy': 'replace' },
  retainKeysMap: {
    type: 'object',
    'x-kubernetes-patch-strategy': 'retainKeys',
    properties: {
      name: str,
      value: str,
      other: str,
      simpleMap,
      mergingIntList,
      mergingList: mergingListOf(mergeItem),
      nonMergingList: { type: 'array', items: mergeItem },
    },
  },
  retainKeysMergingList: mergingListOf(mergeItem, 'merge,retainKeys'),
};

interface Case {
  title: string;
  original: unknown;
  patch: unknown;
  expected: unknown;
}

const upstreamCases: Case[] = [
  // ---- lists of maps merged by key ----
  {
    title: 'merge lists of maps (three-way)',
    original: { mergingList: [{ name: 1, other: 'a' }, { name: 2, value: 2, other: 'b' }] },
    patch: {
      '$setElementOrder/mergingList': [{ name: 4 }, { name: 1 }, { name: 2 }, { name: 3 }],
      mergingList: [{ name: 4, value: 4 }, { name: 3, value: 3 }],
    },
    expected: {
      mergingList: [{ name: 4, value: 4 }, { name: 1, other: 'a' }, { name: 2, value: 2, other: 'b' }, { name: 3, value: 3 }],
    },
  },
  {
    title: 'add field to map in merging list with conflict (three-way)',
    original: { mergingList: [{ name: 1, other: 'a' }, { name: 3, value: 2, other: 'b' }] },
    patch: {
      '$setElementOrder/mergingList': [{ name: 1 }, { name: 2 }],
      mergingList: [{ name: 1, value: 1 }, { name: 2, value: 2 }],
    },
    expected: { mergingList: [{ name: 1, value: 1, other: 'a' }, { name: 2, value: 2 }, { name: 3, value: 2, other: 'b' }] },
  },
  {
    title: 'preserve the order from the patch in a merging list',
    original: { mergingList: [{ name: 1 }, { name: 2, value: 'b' }, { name: 3 }] },
    patch: { mergingList: [{ name: 3, value: 'c' }, { name: 1, value: 'a' }, { name: 2, other: 'x' }] },
    expected: { mergingList: [{ name: 3, value: 'c' }, { name: 1, value: 'a' }, { name: 2, value: 'b', other: 'x' }] },
  },
  {
    title: 'preserve the order from the patch in a merging list 2',
    original: { mergingList: [{ name: 1 }, { name: 2, value: 'b' }, { name: 3 }] },
    patch: { mergingList: [{ name: 3, value: 'c' }, { name: 1, value: 'a' }] },
    expected: { mergingList: [{ name: 2, value: 'b' }, { name: 3, value: 'c' }, { name: 1, value: 'a' }] },
  },
  {
    title: 'add field to map in merging list nested in merging list (three-way)',
    original: {
      mergingList: [{ name: 1, other: 'a', mergingList: [{ name: 1 }, { name: 2, value: 2 }] }, { name: 2, other: 'b' }],
    },
    patch: {
      '$setElementOrder/mergingList': [{ name: 1 }, { name: 2 }],
      mergingList: [{ '$setElementOrder/mergingList': [{ name: 1 }, { name: 2 }], name: 1, mergingList: [{ name: 1, value: 1 }] }],
    },
    expected: {
      mergingList: [
        { name: 1, other: 'a', mergingList: [{ name: 1, value: 1 }, { name: 2, value: 2 }] },
        { name: 2, other: 'b' },
      ],
    },
  },
  {
    title: 'nested patch merge with empty list (two-way)',
    original: { name: 'hi' },
    patch: { mergingList: [{ name: 'hello' }, { $patch: 'delete', name: 'doesntexist' }] },
    expected: { name: 'hi', mergingList: [{ name: 'hello' }] },
  },
  {
    title: 'nested patch merge with empty list (three-way)',
    original: { name: 'hi', mergingList: [{ name: 'hello2' }] },
    patch: {
      '$setElementOrder/mergingList': [{ name: 'hello' }, { name: 'doesntexist' }],
      mergingList: [{ name: 'hello' }, { $patch: 'delete', name: 'doesntexist' }],
    },
    expected: { name: 'hi', mergingList: [{ name: 'hello' }, { name: 'hello2' }] },
  },

  // ---- $patch: delete in lists ----
  {
    title: 'delete all duplicate entries in a merging list',
    original: { mergingList: [{ name: 1 }, { name: 1 }, { name: 2, value: 'a' }, { name: 3 }, { name: 3 }] },
    patch: { mergingList: [{ name: 1, $patch: 'delete' }, { name: 3, $patch: 'delete' }] },
    expected: { mergingList: [{ name: 2, value: 'a' }] },
  },
  {
    title: 'delete all maps from merging list',
    original: { mergingList: [{ name: 1 }, { name: 2 }] },
    patch: { mergingList: [{ name: 1, $patch: 'delete' }, { name: 2, $patch: 'delete' }] },
    expected: { mergingList: [] },
  },
  {
    title: 'delete map from merging list (three-way)',
    original: { mergingList: [{ name: 1 }, { name: 2, other: 'b' }] },
    patch: { '$setElementOrder/mergingList': [{ name: 2 }], mergingList: [{ name: 1, $patch: 'delete' }] },
    expected: { mergingList: [{ name: 2, other: 'b' }] },
  },
  {
    title: 'delete missing map from merging list with conflict (three-way)',
    original: { mergingList: [{ name: 3, other: 'a' }] },
    patch: { '$setElementOrder/mergingList': [{ name: 2 }], mergingList: [{ name: 2 }, { name: 1, $patch: 'delete' }] },
    expected: { mergingList: [{ name: 2 }, { name: 3, other: 'a' }] },
  },
  {
    // Upstream's result here depends on Go slice aliasing (see mergeSliceOfMaps).
    title: 'add map and delete map from merging list (three-way)',
    original: { mergingList: [{ name: 1 }, { name: 2, other: 'b' }, { name: 4, other: 'c' }] },
    patch: { '$setElementOrder/mergingList': [{ name: 2 }, { name: 3 }], mergingList: [{ name: 3 }, { name: 1, $patch: 'delete' }] },
    expected: { mergingList: [{ name: 2, other: 'b' }, { name: 4, other: 'c' }, { name: 3 }] },
  },
  {
    title: 'add map and delete map from merging list with conflict (three-way)',
    original: { mergingList: [{ name: 1, other: 'a' }, { name: 4, other: 'c' }] },
    patch: {
      '$setElementOrder/mergingList': [{ name: 2 }, { name: 3 }],
      mergingList: [{ name: 2 }, { name: 3 }, { name: 1, $patch: 'delete' }],
    },
    expected: { mergingList: [{ name: 4, other: 'c' }, { name: 2 }, { name: 3 }] },
  },

  // ---- $patch: replace / delete on maps and lists ----
  {
    title: 'delete all items from merging list',
    original: { mergingList: [{ name: 1 }, { name: 2 }] },
    patch: { mergingList: [{ $patch: 'replace' }] },
    expected: { mergingList: [] },
  },
  {
    title: 'delete all keys from map',
    original: { name: 1, value: 1 },
    patch: { $patch: 'replace' },
    expected: {},
  },
  {
    title: 'add key and delete all keys from map',
    original: { name: 1, value: 1 },
    patch: { other: 'a', $patch: 'replace' },
    expected: { other: 'a' },
  },
  {
    title: 'delete map from nested map',
    original: { simpleMap: { key1: 1, key2: 1 } },
    patch: { simpleMap: { $patch: 'delete' } },
    expected: { simpleMap: {} },
  },
  {
    title: 'replace RawExtension field, rest unchanched (three-way)',
    original: {
      name: 'my-object',
      value: 'some-value',
      other: 'current-other',
      mergingList: [{ name: 1 }, { name: 2 }, { name: 3 }],
      replacingItem: { Some: 'Generic', Yaml: 'Inside', The: 'RawExtension', Field: 'Period' },
    },
    patch: { replacingItem: { Newly: 'Modified', Yaml: 'Inside', The: 'RawExtension' } },
    expected: {
      name: 'my-object',
      value: 'some-value',
      other: 'current-other',
      mergingList: [{ name: 1 }, { name: 2 }, { name: 3 }],
      replacingItem: { Newly: 'Modified', Yaml: 'Inside', The: 'RawExtension' },
    },
  },

  // ---- $setElementOrder ----
  {
    title: 'set elements order in a list with server-only items 2 (three-way)',
    original: {
      mergingList: [{ name: 1, other: 'a' }, { name: 2, value: 2 }, { name: 9 }, { name: 3, value: 3 }, { name: 4, value: 4 }],
    },
    patch: { '$setElementOrder/mergingList': [{ name: 2 }, { name: 1 }, { name: 4 }, { name: 3 }] },
    expected: {
      mergingList: [{ name: 2, value: 2 }, { name: 1, other: 'a' }, { name: 9 }, { name: 4, value: 4 }, { name: 3, value: 3 }],
    },
  },
  {
    title: 'set elements order in a int list with server-only items 3 (three-way)',
    original: { mergingIntList: [1, 2, 7, 9, 8, 3, 4] },
    patch: { '$setElementOrder/mergingIntList': [2, 1, 4, 3] },
    expected: { mergingIntList: [2, 1, 7, 9, 8, 4, 3] },
  },
  {
    title: '$setElementOrder contains item that is not present in the list to be merged',
    original: { mergingList: [{ name: 1 }, { name: 3 }] },
    patch: {
      '$setElementOrder/mergingList': [{ name: 3 }, { name: 2 }, { name: 1 }],
      mergingList: [{ name: 3, value: 3 }, { name: 1, value: 1 }],
    },
    expected: { mergingList: [{ name: 3, value: 3 }, { name: 1, value: 1 }] },
  },
  {
    title: 'behavior of set element order for a merging list with duplicate (two-way)',
    original: { mergingList: [{ name: 1 }, { name: 2, value: 'dup1' }, { name: 3 }, { name: 2, value: 'dup2' }, { name: 4 }] },
    patch: { '$setElementOrder/mergingList': [{ name: 2 }, { name: 1 }, { name: 4 }, { name: 3 }, { name: 2 }] },
    expected: { mergingList: [{ name: 2, value: 'dup1' }, { name: 2, value: 'dup2' }, { name: 1 }, { name: 4 }, { name: 3 }] },
  },
  {
    title: 'add an item in a list of primitives and preserve order (three-way)',
    original: { mergingIntList: [1, 4, 2] },
    patch: { '$setElementOrder/mergingIntList': [3, 1, 2], mergingIntList: [3] },
    expected: { mergingIntList: [3, 1, 4, 2] },
  },
  {
    title: 'delete and reorder in one list, reorder in another',
    original: {
      mergingList: [{ name: 'a', value: 'a' }, { name: 'b', value: 'b' }],
      mergeItemPtr: [{ name: 'c', value: 'c' }, { name: 'd', value: 'd' }],
    },
    patch: {
      '$setElementOrder/mergingList': [{ name: 'b' }],
      '$setElementOrder/mergeItemPtr': [{ name: 'd' }, { name: 'c' }],
      mergingList: [{ $patch: 'delete', name: 'a' }],
    },
    expected: {
      mergingList: [{ name: 'b', value: 'b' }],
      mergeItemPtr: [{ name: 'd', value: 'd' }, { name: 'c', value: 'c' }],
    },
  },

  // ---- $deleteFromPrimitiveList ----
  {
    title: 'delete items in lists of scalars (three-way)',
    original: { mergingIntList: [1, 2, 3, 4] },
    patch: { '$setElementOrder/mergingIntList': [1, 2], '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { mergingIntList: [1, 2, 4] },
  },
  {
    title: 'delete all duplicate items in lists of scalars (three-way)',
    original: { mergingIntList: [1, 2, 3, 3, 4] },
    patch: { '$setElementOrder/mergingIntList': [1, 2], '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { mergingIntList: [1, 2, 4] },
  },
  {
    title: 'add and delete an item in a int list and preserve order (three-way)',
    original: { mergingIntList: [1, 2, 3] },
    patch: {
      '$setElementOrder/mergingIntList': [4, 2, 1],
      mergingIntList: [4],
      '$deleteFromPrimitiveList/mergingIntList': [3],
    },
    expected: { mergingIntList: [4, 2, 1] },
  },
  {
    title: '$deleteFromPrimitiveList of nonexistent item in primitive list should not add the item to the list',
    original: { mergingIntList: [1, 2] },
    patch: { '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { mergingIntList: [1, 2] },
  },
  {
    title: '$deleteFromPrimitiveList on nonexistent primitive list should not add the primitive list',
    original: { foo: ['bar'] },
    patch: { '$deleteFromPrimitiveList/mergingIntList': [3] },
    expected: { foo: ['bar'] },
  },
  {
    title: '$deleteFromPrimitiveList should delete item from a list without merge patch strategy',
    original: { nonMergingIntList: [1, 2, 3] },
    patch: { '$deleteFromPrimitiveList/nonMergingIntList': [2] },
    expected: { nonMergingIntList: [1, 3] },
  },

  // ---- $retainKeys ----
  {
    title: 'retainKeys map adds a field and clear a field (three-way)',
    original: { retainKeysMap: { name: 'foo', other: 'a' } },
    patch: { retainKeysMap: { $retainKeys: ['name', 'value'], value: 'bar' } },
    expected: { retainKeysMap: { name: 'foo', value: 'bar' } },
  },
  {
    title: 'retainKeys map should clear defaulted field with conflict (discriminated union) (three-way)',
    original: { retainKeysMap: { name: 'type1', value: 'foo' } },
    patch: { retainKeysMap: { $retainKeys: ['name', 'other'], name: 'type2', other: 'bar' } },
    expected: { retainKeysMap: { name: 'type2', other: 'bar' } },
  },
  {
    title: 'retainKeys map deletes nested merging list (three-way)',
    original: { retainKeysMap: { name: 'foo', mergingList: [{ name: 'a' }, { name: 'b' }] } },
    patch: { retainKeysMap: { $retainKeys: ['name', 'value'], value: 'bar', mergingList: null } },
    expected: { retainKeysMap: { name: 'foo', value: 'bar' } },
  },
  {
    title: 'retainKeys map adds an item in nested merging int list (three-way)',
    original: { retainKeysMap: { name: 'foo', mergingIntList: [1, 2, 3] } },
    patch: {
      retainKeysMap: {
        '$setElementOrder/mergingIntList': [1, 2, 4],
        $retainKeys: ['mergingIntList', 'name'],
        mergingIntList: [4],
      },
    },
    expected: { retainKeysMap: { name: 'foo', mergingIntList: [1, 2, 4, 3] } },
  },
  {
    title: 'retainKeys list of maps clears a field (three-way)',
    original: { retainKeysMergingList: [{ name: 'bar' }, { name: 'foo', value: 'a', other: 'x' }] },
    patch: {
      '$setElementOrder/retainKeysMergingList': [{ name: 'bar' }, { name: 'foo' }],
      retainKeysMergingList: [{ $retainKeys: ['name', 'value'], name: 'foo' }],
    },
    expected: { retainKeysMergingList: [{ name: 'bar' }, { name: 'foo', value: 'a' }] },
  },
  {
    title: 'retainKeys map can delete a field when no retainKeys directive present',
    original: { retainKeysMap: { name: 'foo', value: 'a' } },
    patch: { retainKeysMap: { value: null } },
    expected: { retainKeysMap: { name: 'foo' } },
  },

  // ---- primitive lists with merge strategy (set union) ----
  {
    title: 'unique scalars when merging lists',
    original: { mergingIntList: [1, 2] },
    patch: { mergingIntList: [2, 3] },
    expected: { mergingIntList: [1, 2, 3] },
  },
  {
    title: 'preserve the order from the patch in a merging int list',
    original: { mergingIntList: [1, 2, 3] },
    patch: { mergingIntList: [3, 1] },
    expected: { mergingIntList: [2, 3, 1] },
  },
  {
    title: 'merge lists of scalars (three-way)',
    original: { mergingIntList: [1, 2, 4] },
    patch: { '$setElementOrder/mergingIntList': [1, 2, 3], mergingIntList: [3] },
    expected: { mergingIntList: [1, 2, 3, 4] },
  },

  // ---- atomic lists ----
  {
    title: 'replace list of scalars',
    original: { nonMergingIntList: [1, 2] },
    patch: { nonMergingIntList: [2, 3] },
    expected: { nonMergingIntList: [2, 3] },
  },
  {
    title: 'replace non merging list nested in merging list (three-way)',
    original: {
      mergingList: [{ name: 1, other: 'a', nonMergingList: [{ name: 1 }, { name: 2, value: 2 }] }, { name: 2, other: 'b' }],
    },
    patch: {
      '$setElementOrder/mergingList': [{ name: 1 }, { name: 2 }],
      mergingList: [{ name: 1, nonMergingList: [{ name: 1, value: 1 }] }],
    },
    expected: {
      mergingList: [{ name: 1, other: 'a', nonMergingList: [{ name: 1, value: 1 }] }, { name: 2, other: 'b' }],
    },
  },

  // ---- null deletes a key ----
  {
    title: 'add field and delete field from map (three-way)',
    original: { name: 1, other: 'a' },
    patch: { name: null, value: 1 },
    expected: { value: 1, other: 'a' },
  },
  {
    title: 'delete all fields from map',
    original: { name: 1, value: 1 },
    patch: { name: null, value: null },
    expected: {},
  },
  {
    title: 'defined null values should propagate overwrite current fields (with conflict) (three-way)',
    original: { name: 'a', other: 'a' },
    patch: { name: 1, value: 1, other: null },
    expected: { name: 1, value: 1 },
  },

  // ---- nested maps ----
  {
    title: 'delete field from nested map (three-way)',
    original: { simpleMap: { key1: 1, key2: 1, other: 'a' } },
    patch: { simpleMap: { key2: null } },
    expected: { simpleMap: { key1: 1, other: 'a' } },
  },
  {
    title: 'retainKeys map adds a field in a nested map (three-way)',
    original: { retainKeysMap: { name: 'foo', value: 'bar', simpleMap: { key1: 'a', key3: 'c' } } },
    patch: { retainKeysMap: { $retainKeys: ['name', 'simpleMap', 'value'], simpleMap: { key2: 'b' } } },
    expected: { retainKeysMap: { name: 'foo', value: 'bar', simpleMap: { key1: 'a', key2: 'b', key3: 'c' } } },
  },

  // ---- fields the schema does not describe (TestUnknownField) ----
  {
    title: 'unknown field: discard nulls in nested and adds not nulls',
    original: { array: [1, 2, 3], complex: { nested: true }, name: 'foo', scalar: true },
    patch: { complex_nullable: { key: { keynotnull: 'value', keynull: null } } },
    expected: {
      array: [1, 2, 3], complex: { nested: true }, complex_nullable: { key: { keynotnull: 'value' } }, name: 'foo', scalar: true,
    },
  },
  {
    title: 'unknown field: filter nulls from nested slices',
    original: {},
    patch: { complex_nullable: [{ inner_one: { key_one: 'foo', key_two: null } }] },
    expected: { complex_nullable: [{ inner_one: { key_one: 'foo' } }] },
  },
  {
    title: 'unknown field: not filter nulls from non-associative slice',
    original: {},
    patch: { complex_nullable: ['key1', null, 'key2'] },
    expected: { complex_nullable: ['key1', null, 'key2'] },
  },
  {
    title: 'unknown field: nested null values in original are preserved',
    original: { complex: { key: null }, thing: null },
    patch: { nested: { value: 5 } },
    expected: { complex: { key: null }, nested: { value: 5 }, thing: null },
  },
  {
    title: 'unknown field: removed only (three-way)',
    original: { name: 'foo', scalar: true, complex: { nested: true }, array: [1, 2, 3] },
    patch: { complex: null, scalar: null },
    expected: { array: [1, 2, 3], name: 'foo' },
  },
];

for (const c of upstreamCases) {
  test(`upstream: ${c.title}`, (t) => {
    t.deepEqual(applyStrategicMergePatch(c.original, c.patch, mergeItem), c.expected);
  });
}

const upstreamErrors: Array<{ title: string; original: unknown; patch: unknown; message: RegExp }> = [
  {
    title: 'missing merge key should error out',
    original: { mergingList: [{ name: 1, value: 'a' }] },
    patch: { mergingList: [{ value: 'b' }] },
    message: /^mergingList\[0\]: map: \{"value":"b"\} does not contain declared merge key: name$/,
  },
  {
    title: 'should check if order in $setElementOrder and patch list match',
    original: { mergingList: [{ name: 1 }, { name: 3 }, { name: 2 }] },
    patch: {
      '$setElementOrder/mergingList': [{ name: 1 }, { name: 2 }, { name: 3 }],
      mergingList: [{ name: 3, value: 3 }, { name: 1, value: 1 }],
    },
    message: /^mergingList: the order in patch list .* doesn't match \$setElementOrder list/,
  },
  {
    title: 'should check if order in $setElementOrder and patch int list match',
    original: { mergingIntList: [1, 3, 2] },
    patch: { '$setElementOrder/mergingIntList': [1, 2, 3], mergingIntList: [3, 1] },
    message: /doesn't match \$setElementOrder list/,
  },
  {
    title: 'patch fields must be listed in $retainKeys',
    original: { retainKeysMap: { name: 'foo' } },
    patch: { retainKeysMap: { $retainKeys: ['name'], value: 'bar' } },
    message: /^retainKeysMap: invalid patch format of retainKeys: .*"value"/,
  },
];

for (const c of upstreamErrors) {
  test(`upstream error: ${c.title}`, (t) => {
    t.throws(() => applyStrategicMergePatch(c.original, c.patch, mergeItem), { instanceOf: PatchError, message: c.message });
  });
}

test('items added without $setElementOrder go before the existing ones, as upstream merges them', (t) => {
  // Upstream's mergeSortedSlice only lets a live item precede a patch item that
  // the live list also contains, so new items are emitted first.
  t.deepEqual(
    applyStrategicMergePatch({ mergingList: [{ name: 'a' }, { name: 'b' }] }, { mergingList: [{ name: 'c' }] }, mergeItem),
    { mergingList: [{ name: 'c' }, { name: 'a' }, { name: 'b' }] },
  );
});

test('a {"$patch": "replace"} list element replaces the list with the other elements', (t) => {
  t.deepEqual(
    applyStrategicMergePatch(
      { mergingList: [{ name: 1, value: 'a' }, { name: 2 }] },
      { mergingList: [{ name: 3 }, { $patch: 'replace' }, { name: 1 }] },
      mergeItem,
    ),
    { mergingList: [{ name: 3 }, { name: 1 }] },
  );
});

test('"$patch": "merge" spells out the default, on maps and in lists', (t) => {
  t.deepEqual(
    applyStrategicMergePatch(
      { simpleMap: { key1: 'a' }, mergingList: [{ name: 1 }, { name: 2 }] },
      {
        simpleMap: { $patch: 'merge', key2: 'b' },
        mergingList: [{ $patch: 'merge' }, { name: 2, $patch: 'merge', value: 'x' }],
      },
      mergeItem,
    ),
    { simpleMap: { key1: 'a', key2: 'b' }, mergingList: [{ name: 1 }, { name: 2, value: 'x' }] },
  );
});

test('fields the schema does not describe: lists are replaced, maps merged', (t) => {
  t.deepEqual(
    applyStrategicMergePatch(
      { array: [{ name: 1 }, { name: 2 }], complex: { a: 1, deep: { b: 2 } } },
      { array: [{ name: 3 }], complex: { deep: { c: 3 } } },
      mergeItem,
    ),
    { array: [{ name: 3 }], complex: { a: 1, deep: { b: 2, c: 3 } } },
  );
});

test('list-type map merges by its first key, list-type set as a set, atomic and explicit strategies replace', (t) => {
  const schema: SchemaNode = {
    type: 'object',
    properties: {
      ports: {
        type: 'array',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['port', 'protocol'],
        items: { type: 'object', properties: { port: int, protocol: str, name: str } },
      },
      tags: { type: 'array', 'x-kubernetes-list-type': 'set', items: str },
      args: { type: 'array', 'x-kubernetes-list-type': 'atomic', items: str },
      pinned: {
        type: 'array',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['name'],
        'x-kubernetes-patch-strategy': 'replace',
        items: { type: 'object', properties: { name: str, value: str } },
      },
    },
  };
  const original = {
    ports: [{ port: 80, protocol: 'TCP', name: 'http' }],
    tags: ['a', 'b'],
    args: ['--x', '--y'],
    pinned: [{ name: 'one', value: '1' }],
  };
  const patch = {
    ports: [{ port: 80, name: 'web' }],
    tags: ['c', 'a'],
    args: ['--z'],
    pinned: [{ name: 'two' }],
  };
  t.deepEqual(applyStrategicMergePatch(original, patch, schema), {
    ports: [{ port: 80, protocol: 'TCP', name: 'web' }],
    tags: ['c', 'a', 'b'],
    args: ['--z'],
    pinned: [{ name: 'two' }],
  });
});

test('no directive reaches the result, even inside values copied from the patch', (t) => {
  const patch = {
    mergingList: [{
      name: 'a',
      $retainKeys: ['name', 'mergingList'],
      '$setElementOrder/mergingList': [{ name: 'x' }],
      mergingList: [{ name: 'x' }, { name: 'y', $patch: 'delete' }],
      simpleMap: { $patch: 'replace', k: 'v' },
    }],
    nonMergingList: [{ name: 'b', '$deleteFromPrimitiveList/mergingIntList': [1] }, { $patch: 'replace' }],
  };
  const result = applyStrategicMergePatch({ mergingList: [{ name: 'z' }], nonMergingList: [] }, patch, mergeItem);
  t.deepEqual(result, {
    mergingList: [{ name: 'a', mergingList: [{ name: 'x' }] }, { name: 'z' }],
    nonMergingList: [{ name: 'b' }],
  });
  t.false(JSON.stringify(result).includes('$'));
});

test('a "__proto__" key in the patch becomes a plain field', (t) => {
  const patch = JSON.parse('{"simpleMap": {"__proto__": {"polluted": true}}}') as unknown;
  const result = applyStrategicMergePatch({ simpleMap: { a: 'b' } }, patch, mergeItem) as { simpleMap: object };
  t.is(Object.getPrototypeOf(result.simpleMap), Object.prototype);
  t.deepEqual(Object.getOwnPropertyDescriptor(result.simpleMap, '__proto__')?.value, { polluted: true });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

test('inputs are never modified and the result shares no objects with them', (t) => {
  const original = deepFreeze({
    simpleMap: { key1: 'a' },
    mergingList: [{ name: 1, value: 'x' }, { name: 2 }, { name: 3 }],
    mergingIntList: [1, 2],
    retainKeysMap: { name: 'n', other: 'o' },
  });
  const patch = deepFreeze({
    simpleMap: { key2: 'b' },
    mergingList: [{ name: 1, value: 'y' }, { name: 2, $patch: 'delete' }, { name: 4, nonMergingList: [{ name: 5 }] }],
    '$deleteFromPrimitiveList/mergingIntList': [1],
    retainKeysMap: { $retainKeys: ['name'] },
    nonMergingList: [{ name: 6 }],
  });
  const result = applyStrategicMergePatch(original, patch, mergeItem) as typeof original & typeof patch;
  t.deepEqual(result, {
    simpleMap: { key1: 'a', key2: 'b' },
    mergingList: [{ name: 1, value: 'y' }, { name: 4, nonMergingList: [{ name: 5 }] }, { name: 3 }],
    mergingIntList: [2],
    retainKeysMap: { name: 'n' },
    nonMergingList: [{ name: 6 }],
  });
  t.not(result.simpleMap, original.simpleMap);
  t.not(result.mergingList[2], original.mergingList[2]);
  t.not(result.nonMergingList[0], patch.nonMergingList[0]);
  t.false(Object.isFrozen(result.mergingList[0]));
});

test('errors name the offending directive or field', (t) => {
  const fails = (original: unknown, patch: unknown, message: RegExp) =>
    t.throws(() => applyStrategicMergePatch(original, patch, mergeItem), { instanceOf: PatchError, message });

  fails({}, [], /^a strategic merge patch must be a JSON object, not a list$/);
  fails({}, 'x', /must be a JSON object, not a string/);
  fails({}, null, /must be a JSON object, not null/);
  fails({ simpleMap: {} }, { simpleMap: { $patch: 'bogus' } }, /^simpleMap: unknown patch type: "bogus"/);
  fails({ mergingList: [{ name: 1 }] }, { mergingList: [{ name: 1, $patch: 'remove' }] }, /^mergingList\[0\]: unknown patch type: "remove"/);
  fails({}, { simpleMap: { nested: { $patch: 'oops' } } }, /^simpleMap\.nested: unknown patch type: "oops"/);
  fails({ mergingList: [{ name: 1 }] }, { mergingList: [{ $patch: 'delete' }] }, /^mergingList\[0\]: .*does not contain declared merge key: name/);
  fails({}, { '$setElementOrder': [] }, /^invalid patch format of \$setElementOrder/);
  fails({}, { '$deleteFromPrimitiveListX/mergingIntList': [1] }, /^invalid patch format of \$deleteFromPrimitiveList/);
  fails({ mergingIntList: [1] }, { mergingIntList: [[2]] }, /^mergingIntList: lists of lists are not supported$/);
  fails({ mergingIntList: [1] }, { mergingIntList: ['2'] }, /^mergingIntList: list element types are not identical$/);
  fails({ mergingList: {} }, { '$setElementOrder/mergingList': [{ name: 1 }] }, /^mergingList: expected a list, but received a map$/);
});

// ---- the shape pkgserver actually patches ----

const packageSchema: SchemaNode = {
  type: 'object',
  properties: {
    metadata: {
      type: 'object',
      properties: {
        name: str,
        finalizers: { type: 'array', items: str, 'x-kubernetes-patch-strategy': 'merge' },
        ownerReferences: {
          type: 'array',
          'x-kubernetes-patch-strategy': 'merge',
          'x-kubernetes-patch-merge-key': 'uid',
          items: { type: 'object', properties: { uid: str, name: str } },
        },
      },
    },
    spec: {
      type: 'object',
      properties: {
        lifecycle: str,
        readinessGates: {
          type: 'array',
          'x-kubernetes-patch-strategy': 'merge',
          'x-kubernetes-patch-merge-key': 'conditionType',
          items: { type: 'object', properties: { conditionType: str } },
        },
      },
    },
    status: {
      type: 'object',
      properties: {
        conditions: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['type'],
          items: { type: 'object', properties: { type: str, status: str, reason: str, message: str } },
        },
      },
    },
  },
};

const storedRevision = {
  apiVersion: 'pkg.example.dev/v1alpha1',
  kind: 'PackageRevision',
  metadata: {
    name: 'blueprint-v1',
    finalizers: ['pkg.example.dev/existing'],
    ownerReferences: [{ uid: 'u1', name: 'owner-1' }],
  },
  spec: { lifecycle: 'Draft', readinessGates: [{ conditionType: 'Ready' }] },
  status: {
    conditions: [
      { type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting' },
      { type: 'Rendered', status: 'True' },
    ],
  },
};

test('pkgserver object: kubectl patch adds finalizers, owners, gates and conditions', (t) => {
  const patch = {
    metadata: { finalizers: ['pkg.example.dev/cleanup'], ownerReferences: [{ uid: 'u2', name: 'owner-2' }] },
    spec: { readinessGates: [{ conditionType: 'Approved' }] },
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Done' }, { type: 'Published', status: 'True' }] },
  };
  t.deepEqual(applyStrategicMergePatch(storedRevision, patch, packageSchema), {
    apiVersion: 'pkg.example.dev/v1alpha1',
    kind: 'PackageRevision',
    metadata: {
      name: 'blueprint-v1',
      finalizers: ['pkg.example.dev/cleanup', 'pkg.example.dev/existing'],
      ownerReferences: [{ uid: 'u2', name: 'owner-2' }, { uid: 'u1', name: 'owner-1' }],
    },
    spec: { lifecycle: 'Draft', readinessGates: [{ conditionType: 'Approved' }, { conditionType: 'Ready' }] },
    status: {
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Done', message: 'waiting' },
        { type: 'Published', status: 'True' },
        { type: 'Rendered', status: 'True' },
      ],
    },
  });
});

test('pkgserver object: removing a finalizer and a gate, reordering conditions as kubectl apply does', (t) => {
  const patch = {
    metadata: { '$deleteFromPrimitiveList/finalizers': ['pkg.example.dev/existing'] },
    spec: { readinessGates: [{ conditionType: 'Ready', $patch: 'delete' }] },
    status: {
      '$setElementOrder/conditions': [{ type: 'Rendered' }, { type: 'Ready' }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
  t.deepEqual(applyStrategicMergePatch(storedRevision, patch, packageSchema), {
    apiVersion: 'pkg.example.dev/v1alpha1',
    kind: 'PackageRevision',
    metadata: { name: 'blueprint-v1', finalizers: [], ownerReferences: [{ uid: 'u1', name: 'owner-1' }] },
    spec: { lifecycle: 'Draft', readinessGates: [] },
    status: {
      conditions: [
        { type: 'Rendered', status: 'True' },
        { type: 'Ready', status: 'True', reason: 'Pending', message: 'waiting' },
      ],
    },
  });
});

test('pkgserver object: a readiness gate without its merge key is rejected', (t) => {
  t.throws(
    () => applyStrategicMergePatch(storedRevision, { spec: { readinessGates: [{ name: 'Ready' }] } }, packageSchema),
    { instanceOf: PatchError, message: /^spec\.readinessGates\[0\]: map: .* does not contain declared merge key: conditionType$/ },
  );
});
