// Operations on JSON values along a TypeNode, as structured-merge-diff's typed package does them:
// merge (the applied configuration over the live object), the set of fields a value sets,
// comparison of two values (fields added, modified, removed), removal of a set of fields, and
// the widening of a set so that struct fields with owned children count as owned themselves.

import {
  elementString,
  FieldSet,
  field,
  key,
  pathString,
  serializeElement,
  value as valueElement,
  type Json,
  type Path,
  type PathElement,
} from './fieldpath.ts';
import { deduced, fieldType, isDeclaredField, type ListType, type MapType, type TypeNode } from './schema.ts';

export type JsonObject = { [k: string]: Json };

const deducedMap: MapType = { kind: 'map', fields: new Map(), elementType: deduced, atomic: false };
const deducedList: ListType = { kind: 'list', elementType: deduced, listType: 'atomic', keys: [] };

export const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

type Atom = { t: 'leaf' } | { t: 'map'; node: MapType } | { t: 'list'; node: ListType };

/**
 * How a value is handled under a type: granular map, granular list, or a leaf (scalar, atomic,
 * mismatched). null under a granular map or list type is that container, empty (as kube reads it).
 */
function atomOf(t: TypeNode, v: Json | undefined): Atom {
  if (v === undefined) return { t: 'leaf' };
  if (v === null) {
    if (t.kind === 'deduced') return { t: 'map', node: deducedMap };
    if (t.kind === 'map' && !t.atomic) return { t: 'map', node: t };
    if (t.kind === 'list' && t.listType !== 'atomic') return { t: 'list', node: t };
    return { t: 'leaf' };
  }
  if (t.kind === 'deduced') {
    if (isObject(v)) return { t: 'map', node: deducedMap };
    return { t: 'leaf' };
  }
  if (t.kind === 'map' && isObject(v)) return t.atomic ? { t: 'leaf' } : { t: 'map', node: t };
  if (t.kind === 'list' && Array.isArray(v)) return t.listType === 'atomic' ? { t: 'leaf' } : { t: 'list', node: t };
  return { t: 'leaf' };
}

const isEmptyContainer = (v: Json | undefined) => v === undefined || v === null || (Array.isArray(v) ? v.length === 0 : isObject(v) && Object.keys(v).length === 0);

export function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

// ---- list items and their path elements ----

function itemElement(t: ListType, item: Json): PathElement | string {
  if (t.listType === 'map') {
    if (item === null) return 'associative list with keys may not have a null element';
    if (!isObject(item)) return 'associative list with keys may not have non-map elements';
    const fields: [string, Json][] = [];
    for (const k of t.keys) {
      if (Object.prototype.hasOwnProperty.call(item, k)) fields.push([k, item[k]]);
      else if (t.keyDefaults && k in t.keyDefaults) fields.push([k, t.keyDefaults[k]]);
    }
    if (t.keys.length > 0 && fields.length === 0) {
      return `associative list with keys has an element that omits all key fields [${t.keys.map((k) => JSON.stringify(k)).join(' ')}] (and doesn't have default values for any key fields)`;
    }
    return key(fields);
  }
  if (isObject(item)) return "associative list without keys has an element that's a map type";
  if (Array.isArray(item)) return 'not supported: associative list with lists as elements';
  if (item === null) return "associative list without keys has an element that's an explicit null";
  return valueElement(item);
}

interface Indexed {
  pes: PathElement[];
  ids: string[];
  /** First value by element id; null when the element is duplicated (as kube indexes the live side). */
  observed: Map<string, Json>;
  counts: Map<string, number>;
}

/** Indexes list items by element; errors (with their path) go to errs, or make it return undefined when errs is absent. */
function indexItems(list: Json[], t: ListType, path: Path, errs: string[] | undefined, allowDuplicates: boolean): Indexed | undefined {
  const idx: Indexed = { pes: [], ids: [], observed: new Map(), counts: new Map() };
  const prefix = path.length ? `${pathString(path)}: ` : '';
  let failed = false;
  list.forEach((item, i) => {
    const pe = itemElement(t, item);
    if (typeof pe === 'string') {
      failed = true;
      errs?.push(`${prefix}element ${i}: ${pe}`);
      return;
    }
    const id = serializeElement(pe);
    if (idx.observed.has(id)) {
      if (!allowDuplicates) {
        failed = true;
        errs?.push(`${prefix}duplicate entries for key ${elementString(pe)}`);
        return;
      }
      idx.observed.set(id, null);
    } else idx.observed.set(id, item);
    idx.counts.set(id, (idx.counts.get(id) ?? 0) + 1);
    idx.pes.push(pe);
    idx.ids.push(id);
  });
  return failed ? undefined : idx;
}

/** Checks that a value can be typed (associative list items have their keys, no duplicates); returns the errors. */
export function validate(v: Json | undefined, t: TypeNode, path: Path = []): string[] {
  const errs: string[] = [];
  const walk = (v: Json | undefined, t: TypeNode, path: Path) => {
    const a = atomOf(t, v);
    if (a.t === 'map' && isObject(v)) {
      for (const [k, child] of Object.entries(v)) walk(child, fieldType(a.node, k), [...path, field(k)]);
    } else if (a.t === 'list' && Array.isArray(v)) {
      const idx = indexItems(v as Json[], a.node, path, errs, false);
      if (idx) idx.pes.forEach((pe, i) => walk((v as Json[])[i], a.node.elementType, [...path, pe]));
    }
  };
  walk(v, t, path);
  return errs;
}

// ---- merge ----

/** Merges rhs (an applied configuration) over lhs (the live object). Values are not copied: treat them as immutable. */
export function merge(lhs: Json | undefined, rhs: Json | undefined, t: TypeNode): Json | undefined {
  if (rhs === undefined) return lhs;
  if (lhs === undefined) return rhs;
  const a = atomOf(t, rhs);
  const al = atomOf(t, lhs);
  if (a.t === 'leaf' || al.t !== a.t) return rhs;
  if (isEmptyContainer(lhs) && isEmptyContainer(rhs)) return rhs;
  if (a.t === 'map') {
    const l = isObject(lhs) ? lhs : {};
    const r = isObject(rhs) ? rhs : {};
    const out: JsonObject = {};
    for (const k of Object.keys(l)) {
      const m = merge(l[k], Object.prototype.hasOwnProperty.call(r, k) ? r[k] : undefined, fieldType(a.node, k));
      if (m !== undefined) out[k] = m;
    }
    for (const k of Object.keys(r)) {
      if (Object.prototype.hasOwnProperty.call(l, k)) continue;
      const m = merge(undefined, r[k], fieldType(a.node, k));
      if (m !== undefined) out[k] = m;
    }
    return out;
  }
  return mergeList(Array.isArray(lhs) ? lhs : [], Array.isArray(rhs) ? rhs : [], a.node);
}

function mergeList(l: Json[], r: Json[], t: ListType): Json[] {
  const ri = indexItems(r, t, [], undefined, false);
  const li = indexItems(l, t, [], undefined, true);
  if (!ri || !li) return r; // validated before; a live list that cannot be indexed is replaced
  const shared = ri.ids.filter((id) => li.observed.has(id));
  let si = 0;
  const merged = new Set<string>();
  const out: Json[] = [];
  const push = (lv: Json | undefined, rv: Json | undefined) => {
    const m = merge(lv, rv, t.elementType);
    if (m !== undefined) out.push(m);
  };
  let i = 0;
  let j = 0;
  while (i < li.ids.length || j < ri.ids.length) {
    if (i < li.ids.length && j < ri.ids.length) {
      const id = li.ids[i];
      if (id === ri.ids[j]) {
        merged.add(id);
        push(li.observed.get(id), ri.observed.get(id));
        i++;
        j++;
        si++;
        continue;
      }
      if (ri.observed.has(id) && si < shared.length && shared[si] !== id) {
        i++;
        continue;
      }
    }
    if (i < li.ids.length) {
      const id = li.ids[i];
      if (!ri.observed.has(id)) {
        push(l[i], undefined);
        i++;
        continue;
      } else if (merged.has(id)) i++;
    }
    if (j < ri.ids.length) {
      const id = ri.ids[j];
      merged.add(id);
      push(li.observed.get(id), ri.observed.get(id));
      j++;
      if (si < shared.length && shared[si] === id) si++;
    }
  }
  return out;
}

// ---- the set of fields a value sets ----

/** The fields a value sets (ToFieldSet): leaves, atomic values, list items, undeclared map keys, empty maps and nulls. */
export function toFieldSet(v: Json | undefined, t: TypeNode): FieldSet {
  const set = new FieldSet();
  const walk = (v: Json, t: TypeNode, path: Path) => {
    const a = atomOf(t, v);
    if (a.t === 'leaf') {
      // A scalar, an atomic map or list, or null. An empty granular list sets nothing (as in kube).
      if (!(Array.isArray(v) && t.kind === 'list' && t.listType !== 'atomic')) {
        if (path.length) set.insert(path);
      }
      return;
    }
    if (a.t === 'map') {
      if (!isObject(v)) return; // null: its parent owns it
      for (const [k, child] of Object.entries(v)) {
        const p = [...path, field(k)];
        walk(child, fieldType(a.node, k), p);
        if (child === null || (isObject(child) && Object.keys(child).length === 0) || !isDeclaredField(a.node, k)) set.insert(p);
      }
      return;
    }
    if (!Array.isArray(v)) return; // null: its parent owns it
    const list = v;
    const idx = indexItems(list, a.node, path, undefined, true);
    if (!idx) {
      if (path.length) set.insert(path);
      return;
    }
    idx.pes.forEach((pe, i) => {
      const p = [...path, pe];
      if ((idx.counts.get(idx.ids[i]) ?? 0) > 1) set.insert(p);
      else {
        walk(list[i], a.node.elementType, p);
        set.insert(p);
      }
    });
  };
  if (v !== undefined) walk(v, t, []);
  return set;
}

// ---- comparison ----

export interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/** What changed from lhs to rhs, field by field. */
export function compare(lhs: Json | undefined, rhs: Json | undefined, t: TypeNode): Comparison {
  const c: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  const leaf = (l: Json | undefined, r: Json | undefined, path: Path) => {
    if (!path.length) return;
    if (l === undefined) c.added.insert(path);
    else if (r === undefined) c.removed.insert(path);
    else if (!deepEqual(l, r)) c.modified.insert(path);
  };
  const walk = (l: Json | undefined, r: Json | undefined, t: TypeNode, path: Path) => {
    const al = atomOf(t, l);
    const ar = atomOf(t, r);
    if (l !== undefined && r !== undefined && al.t !== ar.t) {
      // The value changed kind (a map became a string): kube walks each side as its own kind, so
      // the old children are removed, the new ones added, and the field itself is modified.
      if (al.t !== 'leaf' && !isEmptyContainer(l)) children(al, l, undefined, path);
      if (ar.t !== 'leaf' && !isEmptyContainer(r)) children(ar, undefined, r, path);
      leaf(l, r, path);
      return;
    }
    const a = r === undefined ? al : ar;
    if (a.t === 'leaf' || (isEmptyContainer(l) && isEmptyContainer(r))) {
      leaf(l, r, path);
      return;
    }
    children(a, l, r, path);
    if (path.length) {
      if (l === undefined) c.added.insert(path);
      else if (r === undefined) c.removed.insert(path);
    }
  };
  const children = (a: Atom, l: Json | undefined, r: Json | undefined, path: Path) => {
    if (a.t === 'map') {
      const lm = isObject(l) ? l : {};
      const rm = isObject(r) ? r : {};
      const keys = new Set([...Object.keys(lm), ...Object.keys(rm)]);
      for (const k of keys) {
        walk(Object.prototype.hasOwnProperty.call(lm, k) ? lm[k] : undefined, Object.prototype.hasOwnProperty.call(rm, k) ? rm[k] : undefined, fieldType(a.node, k), [...path, field(k)]);
      }
      return;
    }
    if (a.t !== 'list') return;
    const la = Array.isArray(l) ? l : [];
    const ra = Array.isArray(r) ? r : [];
    const li = indexItems(la, a.node, path, undefined, true);
    const ri = indexItems(ra, a.node, path, undefined, true);
    if (!li || !ri) {
      leaf(l, r, path);
      return;
    }
    const group = (list: Json[], idx: Indexed) => {
      const g = new Map<string, { pe: PathElement; values: Json[] }>();
      idx.ids.forEach((id, i) => {
        const e = g.get(id);
        if (e) e.values.push(list[i]);
        else g.set(id, { pe: idx.pes[i], values: [list[i]] });
      });
      return g;
    };
    const lg = group(la, li);
    const rg = group(ra, ri);
    const ids = [...lg.keys(), ...[...rg.keys()].filter((id) => !lg.has(id))];
    for (const id of ids) {
      const lv = lg.get(id)?.values ?? [];
      const rv = rg.get(id)?.values ?? [];
      const pe = (lg.get(id) ?? rg.get(id))!.pe;
      const p = [...path, pe];
      if (lv.length <= 1 && rv.length <= 1) walk(lv[0], rv[0], a.node.elementType, p);
      else if (lv.length >= 2 && rv.length >= 2) {
        if (!(lv.length === rv.length && lv.every((x, i) => deepEqual(x, rv[i])))) c.modified.insert(p);
      } else if (lv.length >= 2) {
        if (rv.length) walk(undefined, rv[0], a.node.elementType, p);
        c.removed.insert(p);
      } else {
        if (lv.length) walk(lv[0], undefined, a.node.elementType, p);
        c.added.insert(p);
      }
    }
  };
  walk(lhs, rhs, t, []);
  return c;
}

// ---- removal ----

/** The value without the fields of the set (a member removes the whole field or item). Returns undefined when nothing is left. */
export function removeItems(v: Json | undefined, set: FieldSet, t: TypeNode): Json | undefined {
  if (v === undefined || set.empty()) return v;
  const a = atomOf(t, v);
  if (a.t === 'leaf' || isEmptyContainer(v)) return v;
  if (a.t === 'map') {
    const out: JsonObject = {};
    for (const [k, child] of Object.entries(v as JsonObject)) {
      const pe = field(k);
      if (set.hasMember(pe)) continue;
      const sub = set.withPrefix(pe);
      // A field whose children all go stays as null, as in structured-merge-diff: whoever owns the
      // field itself still does (dropNulls takes the null out of what is stored).
      out[k] = sub.empty() ? child : (removeItems(child, sub, fieldType(a.node, k)) ?? null);
    }
    return Object.keys(out).length ? out : undefined;
  }
  const out: Json[] = [];
  for (const item of v as Json[]) {
    const pe = itemElement(a.node, item);
    if (typeof pe === 'string') {
      out.push(item);
      continue;
    }
    if (set.hasMember(pe)) continue;
    const sub = set.withPrefix(pe);
    if (sub.empty()) out.push(item);
    else {
      const r = removeItems(item, sub, a.node.elementType);
      if (r !== undefined) out.push(r);
    }
  }
  return out.length ? out : undefined;
}

/** Adds as members the declared (struct) fields that have children in the set (EnsureNamedFieldsAreMembers). */
export function ensureNamedFieldsAreMembers(set: FieldSet, t: TypeNode): FieldSet {
  const out = new FieldSet();
  for (const [k, pe] of set.members) out.members.set(k, pe);
  for (const [k, c] of set.children) {
    let ct: TypeNode = deduced;
    if (c.pe.kind === 'field' && t.kind === 'map') {
      ct = fieldType(t, c.pe.name);
      if (t.fields.has(c.pe.name)) out.members.set(k, c.pe);
    } else if (c.pe.kind === 'key' && t.kind === 'list') ct = t.elementType;
    out.children.set(k, { pe: c.pe, set: ensureNamedFieldsAreMembers(c.set, ct) });
  }
  return out;
}

/** Drops null map values, except for fields declared nullable (kube prunes non-nullable nulls of custom resources). */
export function dropNulls(v: Json | undefined, t: TypeNode): Json | undefined {
  if (Array.isArray(v)) {
    const et = t.kind === 'list' ? t.elementType : deduced;
    return v.map((x) => dropNulls(x, et) as Json);
  }
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, child] of Object.entries(v)) {
    if (child === null && !(t.kind === 'map' && t.nullable?.has(k))) continue;
    out[k] = dropNulls(child, fieldType(t, k)) as Json;
  }
  return out;
}
