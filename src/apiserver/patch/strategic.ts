/**
 * Strategic merge patch (`application/strategic-merge-patch+json`), server side.
 *
 * This is a port of the apply half of k8s.io/apimachinery/pkg/util/strategicpatch
 * (`StrategicMergeMapPatch` with `MergeParallelList` and `IgnoreUnmatchedNulls`,
 * which is how kube-apiserver applies these patches). Function names mirror
 * upstream's where the structure is the same, so the two can be compared.
 *
 * Upstream reads merge metadata from Go struct tags; here it comes from inline
 * JSON-Schema nodes:
 * - `x-kubernetes-patch-strategy` ("merge", "replace", optionally combined with
 *   "retainKeys") and `x-kubernetes-patch-merge-key`, as in the OpenAPI that
 *   kube-apiserver publishes;
 * - failing an explicit strategy, `x-kubernetes-list-type: map` merges by the
 *   first of `x-kubernetes-list-map-keys`, and `x-kubernetes-list-type: set`
 *   merges primitives as a set;
 * - any other list is atomic (the patch list replaces it), and fields the schema
 *   does not describe are merged as maps / replaced as lists.
 *
 * Deliberate differences from upstream are marked "Deviation:" below.
 */

/**
 * The parts of an inline (OpenAPI v3 / structural, no `$ref`) JSON-Schema node
 * that patching reads. The extensions are listed rather than covered by an
 * index signature so that schema interfaces (src/api/schema.ts) are assignable.
 */
export interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  'x-kubernetes-patch-strategy'?: unknown;
  'x-kubernetes-patch-merge-key'?: unknown;
  'x-kubernetes-list-type'?: unknown;
  'x-kubernetes-list-map-keys'?: unknown;
}

/** The patch cannot be applied; the message is meant for the client (400/422). */
export class PatchError extends Error {
  override name = 'PatchError';
}

type JsonObject = Record<string, unknown>;
type ElementKind = 'map' | 'string' | 'number' | 'boolean';

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ELEMENT_ORDER = '$setElementOrder';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList';

/** Returned by `sanitize` for a value that must be left out of the result. */
const DROP: unique symbol = Symbol('drop');

/**
 * Applies a strategic merge patch to `original` and returns the patched object.
 * Neither argument is modified, and the result shares no objects with them.
 * Throws PatchError when the patch is malformed or does not fit the object.
 */
export function applyStrategicMergePatch(original: unknown, patch: unknown, schema: SchemaNode | undefined): unknown {
  if (!isObject(patch)) {
    throw new PatchError(`a strategic merge patch must be a JSON object, not ${describeType(patch)}`);
  }
  if (original !== null && original !== undefined && !isObject(original)) {
    throw new TypeError(`cannot patch ${describeType(original)}: only JSON objects can be patched`);
  }
  // All merging below happens in place on this private copy, as upstream does on its input.
  const working: JsonObject = original == null ? {} : structuredClone(original);
  return mergeMap(working, patch, schema, '');
}

/**
 * Merges `patch` into `original` (which this module owns and may modify) and
 * returns the merged map. `path` names the map in error messages.
 */
function mergeMap(original: JsonObject, patch: JsonObject, schema: SchemaNode | undefined, path: string): JsonObject {
  // Upstream deletes each patch key once it is handled; this map plays that role
  // without touching the caller's patch.
  const entries = new Map(Object.entries(patch));

  if (entries.has(DIRECTIVE)) {
    const directive = entries.get(DIRECTIVE);
    entries.delete(DIRECTIVE);
    if (directive === 'replace') return sanitizeEntries(entries, path);
    if (directive === 'delete') return {};
    // Deviation: upstream rejects "$patch: merge"; here it spells out the default.
    if (directive !== 'merge') fail(path, unknownPatchType(directive, patch));
  }

  applyRetainKeysDirective(original, entries, path);
  mergePatchIntoOriginal(original, entries, schema, path);

  for (const [patchKey, patchValue] of entries) {
    const isDeleteList = patchKey.startsWith(DELETE_FROM_PRIMITIVE_LIST);
    const key = isDeleteList ? directiveTarget(patchKey, DELETE_FROM_PRIMITIVE_LIST, path) : patchKey;
    const fieldPath = joinField(path, key);

    // null removes the field (also for "$deleteFromPrimitiveList/<field>": null, as upstream).
    if (patchValue === null) {
      delete original[key];
      continue;
    }
    if (!Object.hasOwn(original, key) || kindOf(original[key]) !== kindOf(patchValue)) {
      // Nothing to merge with: take the patch value. A deletion list never adds anything.
      if (isDeleteList) continue;
      const value = sanitize(patchValue, fieldPath);
      // a directive map ({"$patch": "replace"}) in place of a list or a scalar: upstream stores
      // the map itself, which then fails to decode; it must not silently remove the field
      if (value === DROP && Object.hasOwn(original, key)) fail(fieldPath, `cannot replace a ${kindOf(original[key])} with the directive map ${preview(patchValue)}`);
      assign(original, key, value);
      continue;
    }

    const current = original[key];
    const fieldSchemaNode = fieldSchema(schema, key);
    if (Array.isArray(current) && Array.isArray(patchValue)) {
      const meta = listMeta(fieldSchemaNode);
      setKey(original, key, mergeSliceHandler(current, patchValue, meta, isDeleteList, fieldPath).merged);
    } else if (isObject(current) && isObject(patchValue)) {
      const merged = patchStrategy(fieldSchemaNode) === 'replace'
        ? sanitize(patchValue, fieldPath)
        : mergeMap(current, patchValue, fieldSchemaNode, fieldPath);
      assign(original, key, merged);
    } else {
      setKey(original, key, patchValue);
    }
  }
  return original;
}

/**
 * `$retainKeys: [...]` clears every field of `original` that is not listed; the
 * patch itself may only set listed fields. Upstream honours the directive
 * wherever it appears, whatever the schema's strategy, and so does this.
 */
function applyRetainKeysDirective(original: JsonObject, entries: Map<string, unknown>, path: string): void {
  if (!entries.has(RETAIN_KEYS)) return;
  const retainKeys = entries.get(RETAIN_KEYS);
  entries.delete(RETAIN_KEYS);
  if (!Array.isArray(retainKeys)) {
    fail(path, `invalid patch format of retainKeys: ${RETAIN_KEYS} must be a list, not ${describeType(retainKeys)}`);
  }
  const retained = new Set<unknown>(retainKeys);
  for (const [key, value] of entries) {
    if (value === null || key.startsWith(DELETE_FROM_PRIMITIVE_LIST) || key.startsWith(SET_ELEMENT_ORDER)) continue;
    if (!retained.has(key)) {
      fail(path, `invalid patch format of retainKeys: the patch sets "${key}", which is not listed in ${RETAIN_KEYS}`);
    }
  }
  for (const key of Object.keys(original)) {
    if (!retained.has(key)) delete original[key];
  }
}

/**
 * Handles every `$setElementOrder/<field>` together with the `<field>` list it
 * orders: the list is merged, then ordered by the directive (listed items first
 * in that order, unlisted server items kept where they were relative to them).
 * Both keys are removed from `entries`.
 */
function mergePatchIntoOriginal(
  original: JsonObject, entries: Map<string, unknown>, schema: SchemaNode | undefined, path: string,
): void {
  for (const [directiveKey, order] of [...entries]) {
    if (!directiveKey.startsWith(SET_ELEMENT_ORDER)) continue;
    entries.delete(directiveKey);
    if (!Array.isArray(order)) fail(path, `${directiveKey} must be a list, not ${describeType(order)}`);
    const key = directiveTarget(directiveKey, SET_ELEMENT_ORDER, path);
    const fieldPath = joinField(path, key);

    const live = listField(Object.hasOwn(original, key), original[key], fieldPath);
    const patchList = listField(entries.has(key), entries.get(key), fieldPath);
    const meta = listMeta(fieldSchema(schema, key));
    validatePatchWithSetOrderList(patchList ?? [], order, meta.mergeKey, fieldPath);

    let merged: MergedList;
    if (live && patchList) merged = mergeSliceHandler(live, patchList, meta, false, fieldPath);
    else if (live) merged = { merged: live, liveOrder: live };
    else if (patchList) merged = { merged: sanitizeList(patchList, fieldPath), liveOrder: [] };
    else continue;

    const kind = sliceElementType([live ?? [], patchList ?? []], fieldPath);
    if (kind === 'map' && !meta.mergeKey) {
      fail(fieldPath, `${SET_ELEMENT_ORDER} can only order a list of maps that has a merge key`);
    }
    const [listed, unlisted] = partitionByPresence(merged.merged, order, kind, meta.mergeKey, fieldPath);
    setKey(original, key,
      normalizeElementOrder(listed, unlisted, order, merged.liveOrder, kind, meta.mergeKey, fieldPath));
    entries.delete(key);
  }
}

/**
 * The patch list must list its (non-directive) items in the same relative order
 * as `$setElementOrder`, and only items that `$setElementOrder` names.
 */
function validatePatchWithSetOrderList(patchList: unknown[], order: unknown[], mergeKey: string, path: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  const candidates = mergeKey
    ? patchList.filter((entry) => !(isObject(entry) && entry[DIRECTIVE] === 'delete'))
    : patchList;
  let patchIndex = 0;
  let orderIndex = 0;
  while (patchIndex < candidates.length && orderIndex < order.length) {
    const entry = candidates[patchIndex];
    if (isObject(entry) && Object.hasOwn(entry, DIRECTIVE)) {
      patchIndex++;
      continue;
    }
    const same = mergeKey
      ? mergeKeyValue(entry, mergeKey, path) === mergeKeyValue(order[orderIndex], mergeKey, path)
      : entry === order[orderIndex];
    if (same) patchIndex++;
    orderIndex++;
  }
  if (patchIndex < candidates.length) {
    fail(path, `the order in patch list ${preview(patchList)} doesn't match ${SET_ELEMENT_ORDER} list ${preview(order)}`);
  }
}

interface ListMeta {
  /** "merge" to merge the lists; anything else replaces the live list. */
  strategy: string;
  /** Field identifying the items of a list of maps; "" for primitives. */
  mergeKey: string;
  items: SchemaNode | undefined;
}

interface MergedList {
  merged: unknown[];
  /**
   * The live list as upstream's `$setElementOrder` handling sees it after the
   * merge; see `mergeSliceOfMaps` for why this is not simply the live list.
   */
  liveOrder: unknown[];
}

function mergeSliceHandler(
  live: unknown[], patch: unknown[], meta: ListMeta, isDeleteList: boolean, path: string,
): MergedList {
  // Deletion lists apply whatever the field's strategy is.
  if (meta.strategy !== 'merge' && !isDeleteList) return { merged: sanitizeList(patch, path), liveOrder: live };
  if (live.length === 0 && patch.length === 0) return { merged: [], liveOrder: live };

  const kind = sliceElementType([live, patch], path);
  if (kind === 'map') return mergeSliceOfMaps(live as JsonObject[], patch as JsonObject[], meta, path);

  if (isDeleteList) {
    const doomed = new Set(patch);
    return { merged: live.filter((value) => !doomed.has(value)), liveOrder: live };
  }
  const union = [...new Set([...live, ...patch])];
  const [listed, unlisted] = partitionByPresence(union, patch, kind, '', path);
  return { merged: normalizeElementOrder(listed, unlisted, patch, live, kind, '', path), liveOrder: live };
}

/**
 * Merges two lists of maps by merge key. Patch items may carry `$patch`:
 * "delete" (remove every live item with that key), "replace" (a marker: the
 * list becomes the patch's other items) or "merge" (an explicit default).
 */
function mergeSliceOfMaps(live: JsonObject[], patch: JsonObject[], meta: ListMeta, path: string): MergedList {
  const { mergeKey } = meta;
  if (!mergeKey) fail(path, 'cannot merge lists of maps without a merge key');

  let survivors = live;
  let replace = false;
  const additions: Array<[entry: JsonObject, index: number]> = [];
  patch.forEach((entry, index) => {
    if (!Object.hasOwn(entry, DIRECTIVE)) {
      additions.push([entry, index]);
      return;
    }
    switch (entry[DIRECTIVE]) {
      case 'delete': {
        const doomed = mergeKeyValue(entry, mergeKey, joinIndex(path, index));
        survivors = survivors.filter((item) => !(Object.hasOwn(item, mergeKey) && item[mergeKey] === doomed));
        break;
      }
      case 'replace':
        replace = true;
        break;
      case 'merge':
        // Deviation: upstream rejects "$patch: merge" in lists. Here it is a
        // no-op marker, or an ordinary item when it carries the merge key.
        if (Object.hasOwn(entry, mergeKey)) additions.push([withoutDirective(entry), index]);
        break;
      default:
        fail(joinIndex(path, index), unknownPatchType(entry[DIRECTIVE], entry));
    }
  });

  const base = replace
    ? additions.map(([entry, index]) => sanitizeEntries(Object.entries(entry), joinIndex(path, index)))
    : survivors;
  const toMerge = replace ? [] : additions;

  const list = base.slice();
  const appended: JsonObject[] = [];
  for (const [entry, index] of toMerge) {
    const itemPath = joinIndex(path, index);
    const key = mergeKeyValue(entry, mergeKey, itemPath);
    const at = list.findIndex((item) => Object.hasOwn(item, mergeKey) && item[mergeKey] === key);
    if (at >= 0) {
      list[at] = mergeMap(list[at], entry, meta.items, itemPath);
    } else {
      const added = sanitizeEntries(Object.entries(entry), itemPath);
      list.push(added);
      appended.push(added);
    }
  }

  const patchItems = toMerge.map(([entry]) => entry);
  const [listed, unlisted] = partitionByPresence(list, patchItems, 'map', mergeKey, path);
  return {
    merged: normalizeElementOrder(listed, unlisted, patchItems, base, 'map', mergeKey, path),
    // Upstream deletes items from the live Go slice in place and then appends
    // new items to the shortened slice, which reuses the freed tail of the same
    // backing array. The `$setElementOrder` code later reads that array through
    // the original slice header, so it sees the survivors followed by as many
    // new items as were deleted. Upstream's expected results ("add map and delete
    // map from merging list") depend on this, so it is reproduced here.
    liveOrder: replace ? survivors : [...survivors, ...appended].slice(0, live.length),
  };
}

/**
 * Orders a merged list: `listed` items (those the patch or `$setElementOrder`
 * names) in `listedOrder`, the other items in live order, interleaved so that
 * each unlisted item stays before the listed items that followed it live.
 */
function normalizeElementOrder(
  listed: unknown[], unlisted: unknown[], listedOrder: unknown[], liveOrder: unknown[],
  kind: ElementKind, mergeKey: string, path: string,
): unknown[] {
  return mergeSortedSlice(
    normalizeSliceOrder(unlisted, liveOrder, kind, mergeKey, path),
    normalizeSliceOrder(listed, listedOrder, kind, mergeKey, path),
    liveOrder, kind, mergeKey, path,
  );
}

/**
 * Stable sort of `toSort` by position in `order`.
 * Deviation: items missing from `order` go last. Upstream's comparator is not
 * a consistent ordering for them; that only happens for malformed patches (an
 * empty `$setElementOrder` list next to a non-empty patch list).
 */
function normalizeSliceOrder(
  toSort: unknown[], order: unknown[], kind: ElementKind, mergeKey: string, path: string,
): unknown[] {
  const positions = positionsOf(order, kind, mergeKey, path);
  return toSort
    .map((value, index) => ({ value, index, rank: positions.get(elementKey(value, kind, mergeKey, path)) ?? Infinity }))
    .sort((a, b) => (a.rank === b.rank ? a.index - b.index : a.rank - b.rank))
    .map(({ value }) => value);
}

/**
 * Merges two sorted lists by live position. An unlisted item is emitted before
 * the next listed item only when both are in the live list and it came first
 * there; new items therefore come before the remaining unlisted items (so,
 * without `$setElementOrder`, added items end up in front, as upstream).
 */
function mergeSortedSlice(
  unlisted: unknown[], listed: unknown[], liveOrder: unknown[], kind: ElementKind, mergeKey: string, path: string,
): unknown[] {
  const positions = positionsOf(liveOrder, kind, mergeKey, path);
  const result: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < unlisted.length || j < listed.length) {
    if (j >= listed.length) {
      result.push(unlisted[i++]);
    } else if (i >= unlisted.length) {
      result.push(listed[j++]);
    } else {
      const left = positions.get(elementKey(unlisted[i], kind, mergeKey, path));
      const right = positions.get(elementKey(listed[j], kind, mergeKey, path));
      if (left !== undefined && right !== undefined && left < right) result.push(unlisted[i++]);
      else result.push(listed[j++]);
    }
  }
  return result;
}

/** Splits `list` into the items `by` names (by merge key, or value) and the rest. */
function partitionByPresence(
  list: unknown[], by: unknown[], kind: ElementKind, mergeKey: string, path: string,
): [listed: unknown[], unlisted: unknown[]] {
  const names = new Set(by.map((value) => elementKey(value, kind, mergeKey, path)));
  const listed: unknown[] = [];
  const unlisted: unknown[] = [];
  for (const value of list) (names.has(elementKey(value, kind, mergeKey, path)) ? listed : unlisted).push(value);
  return [listed, unlisted];
}

/** First position of each element key in `list`. */
function positionsOf(list: unknown[], kind: ElementKind, mergeKey: string, path: string): Map<unknown, number> {
  const positions = new Map<unknown, number>();
  list.forEach((value, index) => {
    const key = elementKey(value, kind, mergeKey, path);
    if (!positions.has(key)) positions.set(key, index);
  });
  return positions;
}

/** What identifies a list element: its merge-key value for maps, itself otherwise. */
function elementKey(value: unknown, kind: ElementKind, mergeKey: string, path: string): unknown {
  return kind === 'map' ? mergeKeyValue(value, mergeKey, path) : value;
}

function mergeKeyValue(value: unknown, mergeKey: string, path: string): unknown {
  if (!isObject(value)) fail(path, `expected a map in a list merged by "${mergeKey}", but received ${describeType(value)}`);
  if (!Object.hasOwn(value, mergeKey)) fail(path, `map: ${preview(value)} does not contain declared merge key: ${mergeKey}`);
  return value[mergeKey];
}

/**
 * The common element kind of the given lists. Lists of lists, null elements and
 * mixed kinds cannot be merged.
 * Deviation: all JSON numbers are one kind (Go tells int64 from float64).
 */
function sliceElementType(lists: unknown[][], path: string): ElementKind {
  let kind: ElementKind | undefined;
  for (const list of lists) {
    for (const value of list) {
      const valueKind = kindOf(value);
      if (valueKind === 'list') fail(path, 'lists of lists are not supported');
      if (valueKind === 'null') fail(path, 'list elements must not be null');
      if (kind !== undefined && kind !== valueKind) fail(path, 'list element types are not identical');
      kind = valueKind;
    }
  }
  if (kind === undefined) fail(path, 'cannot merge or order lists that have no elements');
  return kind;
}

/**
 * Prepares a patch value that is copied into the result rather than merged,
 * like upstream's removeDirectives and discardNullValuesFromPatch: maps that
 * carry `$patch` are dropped and null map values are discarded (null list
 * elements stay).
 * Deviation: upstream does this only when the field is new; here it also
 * applies to atomic lists, `$patch: replace` contents and new list items, and
 * it also strips `$retainKeys`, `$setElementOrder/…` and
 * `$deleteFromPrimitiveList/…` keys, so no directive reaches the result
 * (upstream leaves those to the typed decoder to discard). Unknown `$patch`
 * values are rejected rather than silently dropped.
 */
function sanitize(value: unknown, path: string): unknown {
  if (Array.isArray(value)) return sanitizeList(value, path);
  if (!isObject(value)) return value;
  if (Object.hasOwn(value, DIRECTIVE)) {
    const directive = value[DIRECTIVE];
    if (directive !== 'replace' && directive !== 'delete' && directive !== 'merge') {
      fail(path, unknownPatchType(directive, value));
    }
    return DROP;
  }
  return sanitizeEntries(Object.entries(value), path);
}

function sanitizeList(list: unknown[], path: string): unknown[] {
  const result: unknown[] = [];
  list.forEach((value, index) => {
    const clean = sanitize(value, joinIndex(path, index));
    if (clean !== DROP) result.push(clean);
  });
  return result;
}

function sanitizeEntries(entries: Iterable<[string, unknown]>, path: string): JsonObject {
  const result: JsonObject = {};
  for (const [key, value] of entries) {
    if (value === null || isDirectiveKey(key)) continue;
    const clean = sanitize(value, joinField(path, key));
    if (clean !== DROP) setKey(result, key, clean);
  }
  return result;
}

function isDirectiveKey(key: string): boolean {
  return key === RETAIN_KEYS || key.startsWith(SET_ELEMENT_ORDER) || key.startsWith(DELETE_FROM_PRIMITIVE_LIST);
}

/** The field a "<prefix>/<field>" directive key refers to. */
function directiveTarget(key: string, prefix: string, path: string): string {
  const slash = key.indexOf('/');
  if (slash < 0 || key.slice(0, slash) !== prefix) {
    fail(path, `invalid patch format of ${prefix}: expected "${prefix}/<field>", got "${key}"`);
  }
  return key.slice(slash + 1);
}

/** The value of a field that must be a list when present; undefined when absent. */
function listField(present: boolean, value: unknown, path: string): unknown[] | undefined {
  if (!present) return undefined;
  if (!Array.isArray(value)) fail(path, `expected a list, but received ${describeType(value)}`);
  return value;
}

function listMeta(node: SchemaNode | undefined): ListMeta {
  const listType = node?.['x-kubernetes-list-type'];
  const mapKeys = node?.['x-kubernetes-list-map-keys'];
  const explicitKey = node?.['x-kubernetes-patch-merge-key'];
  const strategy = patchStrategy(node) || (listType === 'map' || listType === 'set' ? 'merge' : '');
  let mergeKey = '';
  if (typeof explicitKey === 'string') mergeKey = explicitKey;
  else if (listType === 'map' && Array.isArray(mapKeys) && typeof mapKeys[0] === 'string') mergeKey = mapKeys[0];
  return { strategy, mergeKey, items: node?.items };
}

/** The strategy in `x-kubernetes-patch-strategy` besides "retainKeys", or "". */
function patchStrategy(node: SchemaNode | undefined): string {
  const raw = node?.['x-kubernetes-patch-strategy'];
  if (typeof raw !== 'string') return '';
  return raw.split(',').map((part) => part.trim()).find((part) => part !== '' && part !== 'retainKeys') ?? '';
}

function fieldSchema(node: SchemaNode | undefined, key: string): SchemaNode | undefined {
  if (node?.properties && Object.hasOwn(node.properties, key)) return node.properties[key];
  return typeof node?.additionalProperties === 'object' ? node.additionalProperties : undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): ElementKind | 'list' | 'null' {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'list';
  if (typeof value === 'object') return 'map';
  return typeof value as 'string' | 'number' | 'boolean';
}

function describeType(value: unknown): string {
  if (value === undefined) return 'nothing';
  const kind = kindOf(value);
  return kind === 'null' ? 'null' : `a ${kind}`;
}

function withoutDirective(entry: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(entry).filter(([key]) => key !== DIRECTIVE));
}

/**
 * Sets an own data property; plain assignment would treat a "__proto__" key
 * from the patch as the prototype setter.
 */
function setKey(target: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

function assign(target: JsonObject, key: string, value: unknown): void {
  if (value === DROP) delete target[key];
  else setKey(target, key, value);
}

function unknownPatchType(directive: unknown, map: JsonObject): string {
  return `unknown patch type: ${preview(directive)} in map: ${preview(map)}`;
}

function joinField(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function joinIndex(path: string, index: number): string {
  return `${path}[${index}]`;
}

/** Compact JSON for error messages, cut short for large values. */
function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function fail(path: string, message: string): never {
  throw new PatchError(path ? `${path}: ${message}` : message);
}
