// Field paths and field sets as server-side apply tracks them, and their FieldsV1 form.
//
// A path is a list of path elements: `f:<name>` (a field of a map or struct), `k:{"key":"v"}`
// (the item of an associative list with keys, keys sorted by name), `v:<json>` (the item of a set)
// and `i:<n>` (a list index, never produced for the list types we track). A FieldSet is a tree of
// path elements in which a node may be a member (the path itself is owned) and may have children.
// FieldsV1 is its JSON form, as kube-apiserver writes it in metadata.managedFields: one key per path
// element, in kube's order, `{}` for a member without children and `".": {}` for a member that
// also has children. Element order, key encoding and the `.spec.x[name="a"]` text of a path all
// follow sigs.k8s.io/structured-merge-diff (fieldpath), so the encoding round-trips kube's.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export type PathElement =
  | { kind: 'field'; name: string }
  | { kind: 'key'; fields: [string, Json][] }
  | { kind: 'value'; value: Json }
  | { kind: 'index'; index: number };

export type Path = PathElement[];

/** FieldsV1 as it appears in a ManagedFieldsEntry (a JSON object of nested objects). */
export type FieldsV1 = { [k: string]: FieldsV1 };

// ---- comparison, in structured-merge-diff's order ----

/** Compares two strings by their UTF-8 bytes, as Go does. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const len = Math.min(a.length, b.length);
  for (let i = 0; i < len; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort after the rest of the BMP in UTF-8.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

function rank(v: Json): number {
  if (typeof v === 'number') return 0;
  if (typeof v === 'string') return 1;
  if (typeof v === 'boolean') return 2;
  if (Array.isArray(v)) return 3;
  if (v !== null && typeof v === 'object') return 4;
  return 5; // null sorts last
}

/** Orders JSON values: numbers, strings, booleans, lists, maps, null (value.Compare). */
export function compareValues(a: Json, b: Json): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 1:
      return compareStrings(a as string, b as string);
    case 2:
      return a === b ? 0 : a ? 1 : -1;
    case 3: {
      const x = a as Json[];
      const y = b as Json[];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compareValues(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length < 0 ? -1 : x.length > y.length ? 1 : 0;
    }
    case 4: {
      const x = Object.keys(a as object).sort(compareStrings);
      const y = Object.keys(b as object).sort(compareStrings);
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        let c = compareStrings(x[i], y[i]);
        if (c !== 0) return c;
        c = compareValues((a as Record<string, Json>)[x[i]], (b as Record<string, Json>)[y[i]]);
        if (c !== 0) return c;
      }
      return x.length < y.length ? -1 : x.length > y.length ? 1 : 0;
    }
    default:
      return 0;
  }
}

const KIND_ORDER = { field: 0, key: 1, value: 2, index: 3 } as const;

export function compareElements(a: PathElement, b: PathElement): number {
  if (a.kind !== b.kind) return KIND_ORDER[a.kind] < KIND_ORDER[b.kind] ? -1 : 1;
  switch (a.kind) {
    case 'field':
      return compareStrings(a.name, (b as typeof a).name);
    case 'key': {
      const x = a.fields;
      const y = (b as typeof a).fields;
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        let c = compareStrings(x[i][0], y[i][0]);
        if (c !== 0) return c;
        c = compareValues(x[i][1], y[i][1]);
        if (c !== 0) return c;
      }
      return x.length < y.length ? -1 : x.length > y.length ? 1 : 0;
    }
    case 'value':
      return compareValues(a.value, (b as typeof a).value);
    case 'index':
      return a.index < (b as typeof a).index ? -1 : a.index > (b as typeof a).index ? 1 : 0;
  }
}

// ---- JSON text as Go's encoding/json writes it (sorted map keys, HTML characters escaped) ----

function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function goNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  // Go formats float64 like strconv 'g' with the shortest repr; exponents with two digits at least.
  const s = String(n);
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Canonical JSON text of a value: map keys sorted, as Go's encoder writes a map. */
export function goJSON(v: Json): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return goString(v);
  if (typeof v === 'number') return goNumber(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(goJSON).join(',')}]`;
  const keys = Object.keys(v).sort(compareStrings);
  return `{${keys.map((k) => `${goString(k)}:${goJSON(v[k])}`).join(',')}}`;
}

// ---- path elements: their FieldsV1 key and their text ----

export const field = (name: string): PathElement => ({ kind: 'field', name });
export const value = (v: Json): PathElement => ({ kind: 'value', value: v });
export const index = (i: number): PathElement => ({ kind: 'index', index: i });
/** A key element; the fields are sorted by name, as kube does. */
export function key(fields: Record<string, Json> | [string, Json][]): PathElement {
  const list = (Array.isArray(fields) ? [...fields] : Object.entries(fields)).sort((a, b) => compareStrings(a[0], b[0]));
  return { kind: 'key', fields: list };
}

/** The FieldsV1 key of a path element: `f:name`, `k:{...}`, `v:...`, `i:N`. */
export function serializeElement(pe: PathElement): string {
  switch (pe.kind) {
    case 'field':
      return `f:${pe.name}`;
    case 'key':
      return `k:{${pe.fields.map(([n, v]) => `${goString(n)}:${goJSON(v)}`).join(',')}}`;
    case 'value':
      return `v:${goJSON(pe.value)}`;
    case 'index':
      return `i:${pe.index}`;
  }
}

export class FieldsV1Error extends Error {}

/** Parses a FieldsV1 key; undefined for an unknown element type (kube skips those). */
export function deserializeElement(s: string): PathElement | undefined {
  if (s.length < 2) throw new FieldsV1Error(`key must be 2 characters long: ${JSON.stringify(s)}`);
  if (s[1] !== ':') throw new FieldsV1Error(`missing colon: ${s}`);
  const rest = s.slice(2);
  const parse = (): Json => {
    try {
      return JSON.parse(rest) as Json;
    } catch (e) {
      throw new FieldsV1Error(`parsing key as path element: ${(e as Error).message}`);
    }
  };
  switch (s[0]) {
    case 'f':
      return field(rest);
    case 'v':
      return value(parse());
    case 'k': {
      const v = parse();
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FieldsV1Error(`parsing key as path element: not an object: ${s}`);
      return key(v);
    }
    case 'i': {
      if (!/^-?\d+$/.test(rest)) throw new FieldsV1Error(`parsing key as path element: invalid index: ${s}`);
      return index(Number(rest));
    }
    default:
      return undefined;
  }
}

function valueText(v: Json): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(valueText).join(',')}]`;
  return Object.keys(v).map((k) => `${k}=${valueText(v[k])}`).join('');
}

/** A path element as kube prints it: `.name`, `[k="v",n=1]`, `[="v"]`, `[3]`. */
export function elementString(pe: PathElement): string {
  switch (pe.kind) {
    case 'field':
      return `.${pe.name}`;
    case 'key':
      return `[${pe.fields.map(([n, v]) => `${n}=${valueText(v)}`).join(',')}]`;
    case 'value':
      return `[=${valueText(pe.value)}]`;
    case 'index':
      return `[${pe.index}]`;
  }
}

/** A path as kube prints it in conflicts, e.g. `.spec.containers[name="a"].image`. */
export function pathString(path: Path): string {
  return path.map(elementString).join('');
}

// ---- field sets ----

interface Child {
  pe: PathElement;
  set: FieldSet;
}

/** A set of field paths (a tree). Members and children are keyed by the element's FieldsV1 key. */
export class FieldSet {
  readonly members = new Map<string, PathElement>();
  readonly children = new Map<string, Child>();

  static of(...paths: Path[]): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.insert(p);
    return s;
  }

  empty(): boolean {
    return this.members.size === 0 && this.children.size === 0;
  }

  insert(path: Path): this {
    if (path.length === 0) return this;
    let node: FieldSet = this;
    for (let i = 0; i < path.length - 1; i++) node = node.descend(path[i]);
    node.members.set(serializeElement(path[path.length - 1]), path[path.length - 1]);
    return this;
  }

  /** The child set under pe, created if missing. */
  descend(pe: PathElement): FieldSet {
    const k = serializeElement(pe);
    let c = this.children.get(k);
    if (!c) {
      c = { pe, set: new FieldSet() };
      this.children.set(k, c);
    }
    return c.set;
  }

  has(path: Path): boolean {
    let node: FieldSet | undefined = this;
    for (let i = 0; i < path.length - 1 && node; i++) node = node.children.get(serializeElement(path[i]))?.set;
    return !!node && path.length > 0 && node.members.has(serializeElement(path[path.length - 1]));
  }

  /** The paths under pe (without pe), empty when none. */
  withPrefix(pe: PathElement): FieldSet {
    return this.children.get(serializeElement(pe))?.set ?? new FieldSet();
  }

  hasMember(pe: PathElement): boolean {
    return this.members.has(serializeElement(pe));
  }

  clone(): FieldSet {
    const s = new FieldSet();
    for (const [k, pe] of this.members) s.members.set(k, pe);
    for (const [k, c] of this.children) s.children.set(k, { pe: c.pe, set: c.set.clone() });
    return s;
  }

  union(other: FieldSet): FieldSet {
    const s = this.clone();
    for (const [k, pe] of other.members) s.members.set(k, pe);
    for (const [k, c] of other.children) {
      const mine = s.children.get(k);
      s.children.set(k, { pe: c.pe, set: mine ? mine.set.union(c.set) : c.set.clone() });
    }
    return s;
  }

  intersection(other: FieldSet): FieldSet {
    const s = new FieldSet();
    for (const [k, pe] of this.members) if (other.members.has(k)) s.members.set(k, pe);
    for (const [k, c] of this.children) {
      const o = other.children.get(k);
      if (!o) continue;
      const i = c.set.intersection(o.set);
      if (!i.empty()) s.children.set(k, { pe: c.pe, set: i });
    }
    return s;
  }

  /** The paths of this set that are not in other (path by path; other's members do not cover their children). */
  difference(other: FieldSet): FieldSet {
    const s = new FieldSet();
    for (const [k, pe] of this.members) if (!other.members.has(k)) s.members.set(k, pe);
    for (const [k, c] of this.children) {
      const o = other.children.get(k);
      const d = o ? c.set.difference(o.set) : c.set.clone();
      if (!d.empty()) s.children.set(k, { pe: c.pe, set: d });
    }
    return s;
  }

  /** Like difference, but a member of other also removes every path under it. */
  recursiveDifference(other: FieldSet): FieldSet {
    const s = new FieldSet();
    for (const [k, pe] of this.members) if (!other.members.has(k)) s.members.set(k, pe);
    for (const [k, c] of this.children) {
      if (other.members.has(k)) continue;
      const o = other.children.get(k);
      const d = o ? c.set.recursiveDifference(o.set) : c.set.clone();
      if (!d.empty()) s.children.set(k, { pe: c.pe, set: d });
    }
    return s;
  }

  equals(other: FieldSet): boolean {
    if (this.members.size !== other.members.size || this.children.size !== other.children.size) return false;
    for (const k of this.members.keys()) if (!other.members.has(k)) return false;
    for (const [k, c] of this.children) {
      const o = other.children.get(k);
      if (!o || !c.set.equals(o.set)) return false;
    }
    return true;
  }

  size(): number {
    let n = this.members.size;
    for (const c of this.children.values()) n += c.set.size();
    return n;
  }

  /** Every member path, in kube's order: at each level the members first, then the children, each sorted. */
  paths(prefix: Path = []): Path[] {
    const out: Path[] = [];
    for (const pe of [...this.members.values()].sort(compareElements)) out.push([...prefix, pe]);
    for (const c of [...this.children.values()].sort((a, b) => compareElements(a.pe, b.pe))) out.push(...c.set.paths([...prefix, c.pe]));
    return out;
  }

  /** The FieldsV1 object (keys in kube's order). */
  toFieldsV1(): FieldsV1 {
    return this.emit(false);
  }

  private emit(includeSelf: boolean): FieldsV1 {
    const out: FieldsV1 = {};
    if (includeSelf && !this.empty()) out['.'] = {};
    const keys = new Map<string, PathElement>();
    for (const [k, pe] of this.members) keys.set(k, pe);
    for (const [k, c] of this.children) keys.set(k, c.pe);
    for (const [k] of [...keys].sort((a, b) => compareElements(a[1], b[1]))) {
      const c = this.children.get(k);
      out[k] = c ? c.set.emit(this.members.has(k)) : {};
    }
    return out;
  }

  /** The FieldsV1 JSON text, as kube writes it. */
  toJSON(): string {
    const enc = (f: FieldsV1): string => `{${Object.keys(f).map((k) => `${goString(k)}:${enc(f[k])}`).join(',')}}`;
    return enc(this.toFieldsV1());
  }

  /** Reads FieldsV1 (an object or its JSON text). Throws FieldsV1Error on malformed input. */
  static fromFieldsV1(input: unknown): FieldSet {
    const obj = typeof input === 'string' ? parseJSON(input) : input;
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new FieldsV1Error('FieldsV1 must be a JSON object');
    return read(obj as Record<string, unknown>).set ?? new FieldSet();
  }

  toString(): string {
    return this.paths().map(pathString).join('\n');
  }
}

function parseJSON(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch (e) {
    throw new FieldsV1Error(`invalid FieldsV1 JSON: ${(e as Error).message}`);
  }
}

function read(obj: Record<string, unknown>): { set?: FieldSet; isMember: boolean } {
  let set: FieldSet | undefined;
  let isMember = false;
  for (const [k, v] of Object.entries(obj)) {
    if (k === '.') {
      isMember = true;
      continue;
    }
    const pe = deserializeElement(k);
    if (!pe) continue;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new FieldsV1Error(`FieldsV1 value for ${JSON.stringify(k)} must be an object`);
    const sub = read(v as Record<string, unknown>);
    if (sub.isMember) (set ??= new FieldSet()).members.set(serializeElement(pe), pe);
    if (sub.set && !sub.set.empty()) {
      set ??= new FieldSet();
      const existing = set.children.get(serializeElement(pe));
      set.children.set(serializeElement(pe), { pe, set: existing ? existing.set.union(sub.set) : sub.set });
    }
  }
  if (!set) isMember = true;
  return { set, isMember };
}
