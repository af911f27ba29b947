// Three-way merge of KRM packages for the upgrade task (SPEC 5.5), with kpt's resource-merge
// semantics (kyaml merge3 and kpt's resource merge): resources matched by group/kind/namespace/name
// across files, fields merged key by key, lists merged by their merge key or replaced whole, the
// local (downstream) document edited in place so that its comments and layout survive, and every
// field changed on both sides reported as a conflict.
import YAML, { type ToStringOptions } from 'yaml';

export interface MergeConflict {
  file: string;
  /** group/kind/namespace/name; empty for a file that holds no resources. */
  resource: string;
  /** Dotted field path, list items as [key=value]; empty for a whole resource or file. */
  field: string;
  message: string;
}

export interface PackageMergeResult {
  files: Map<string, string>;
  conflicts: MergeConflict[];
}

type Doc = YAML.Document;
type Val = YAML.Node | null | undefined; // undefined: absent; null: a pair without a value node
type Outcome = 'keep' | 'remove' | YAML.Node;
type Segment = string | { label: string };

interface Ctx {
  o?: Doc;
  u?: Doc;
  l: Doc;
  conflicts: { field: string; message: string }[];
  touched: boolean;
}

const ABSENT = Symbol('absent');

const MSG = {
  both: 'changed upstream and locally to different values; the upstream value was taken',
  removedUpstream: 'removed upstream but changed locally; the local value was kept',
  deletedLocally: 'deleted locally but changed upstream; the upstream value was taken',
  resDeletedUpstream: 'deleted upstream but changed locally; the local resource was kept',
  resDeletedLocally: 'deleted locally but changed upstream; it stays deleted',
  fileBoth: 'changed upstream and locally; the local file was kept',
  fileDeletedUpstream: 'deleted upstream but changed locally; the local file was kept',
  fileDeletedLocally: 'deleted locally but changed upstream; it stays deleted',
  fileAddedBoth: 'added upstream and locally with different content; the local file was kept',
};

// ---- values ----

function js(n: Val, doc: Doc | undefined): unknown {
  if (n === undefined) return ABSENT;
  if (n === null) return null;
  return withoutAliases(n, doc).toJS(doc ?? new YAML.Document());
}

const hasAlias = (n: YAML.Node) => {
  let found = false;
  YAML.visit(n, {
    Alias: () => {
      found = true;
      return YAML.visit.BREAK;
    },
  });
  return found;
};

/** The values of a document's aliases, read before the merge edits it (an edit may remove an anchored node). */
const aliasValues = new WeakMap<YAML.Alias, unknown>();

function readAliases(d: Doc | undefined): void {
  if (!d) return;
  YAML.visit(d, {
    Alias(_, a) {
      if (!aliasValues.has(a)) aliasValues.set(a, js(a, d));
    },
  });
}

/**
 * A node with every alias replaced by what it points to: yaml's toJS of a part of a document
 * knows only the anchors inside that part (a list item whose alias points into another item would
 * not convert). Package content is bounded with its aliases counted (src/engine/content.ts).
 */
function withoutAliases(n: YAML.Node, doc: Doc | undefined): YAML.Node {
  if (!hasAlias(n)) return n;
  const target = (a: YAML.Alias): YAML.Node | undefined => {
    if (aliasValues.has(a)) return (doc ?? new YAML.Document()).createNode(aliasValues.get(a)) as YAML.Node;
    const t = doc ? a.resolve(doc) : undefined;
    return t ? (withoutAliases(t, doc).clone() as YAML.Node) : undefined;
  };
  if (YAML.isAlias(n)) return target(n) ?? n;
  const copy = n.clone() as YAML.Node;
  YAML.visit(copy, { Alias: (_, a) => target(a) });
  return copy;
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => same(x, bb[i]));
  }
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function keyOf(k: unknown): string {
  return String(YAML.isScalar(k) ? k.value : k);
}

function pairOf(m: YAML.YAMLMap | undefined, key: string): YAML.Pair | undefined {
  return m?.items.find((p) => keyOf(p.key) === key);
}

function field(m: Val, key: string): Val {
  if (!YAML.isMap(m)) return undefined;
  const p = pairOf(m, key);
  return p === undefined ? undefined : (p.value as Val);
}

function str(m: Val, key: string): string | undefined {
  const v = field(m, key);
  return YAML.isScalar(v) && v.value !== null && typeof v.value !== 'object' ? String(v.value) : undefined;
}

function pathString(path: Segment[]): string {
  let s = '';
  for (const seg of path) {
    if (typeof seg !== 'string') s += seg.label;
    else if (/[.[\]]/.test(seg) || seg === '') s += `[${JSON.stringify(seg)}]`;
    else s += (s === '' ? '' : '.') + seg;
  }
  return s;
}

/** A copy of an upstream node for the local document (aliases resolved, as they cannot cross documents). */
function adopt(n: YAML.Node, from: Doc | undefined, to: Doc): YAML.Node {
  return hasAlias(n) ? to.createNode(js(n, from)) : (n.clone() as YAML.Node);
}

// ---- list merge keys (kyaml uses the OpenAPI patch merge keys; these are the built-in ones) ----

type Keys = { keys: string[] } | { set: true } | { fn: true };

const BY_FIELD: Record<string, string[][]> = {
  containers: [['name']], initContainers: [['name']], ephemeralContainers: [['name']], env: [['name']],
  volumes: [['name']], imagePullSecrets: [['name']], schedulingGates: [['name']], resourceClaims: [['name']],
  secrets: [['name']], webhooks: [['name']], matchConditions: [['name']], variables: [['name']],
  ports: [['containerPort', 'protocol'], ['port', 'protocol']],
  volumeMounts: [['mountPath']], volumeDevices: [['devicePath']],
  hostAliases: [['ip']], podIPs: [['ip']], hostIPs: [['ip']],
  conditions: [['type']], addresses: [['type']],
  topologySpreadConstraints: [['topologyKey', 'whenUnsatisfiable']],
  ownerReferences: [['uid']],
};
const SETS = new Set(['finalizers', 'podCIDRs']);
const DEFAULTS: Record<string, string> = { protocol: 'TCP' };

/** Kptfile functions without names are matched by image (without tag) or exec, as kpt does. */
function fnId(item: YAML.YAMLMap): string | undefined {
  const exec = str(item, 'exec');
  if (exec !== undefined) return `exec:${exec}`;
  const image = str(item, 'image');
  return image === undefined ? undefined : `image:${image.replace(/@.*$/, '').replace(/:[^/:]*$/, '')}`;
}

function itemId(item: unknown, k: Keys): string | undefined {
  if ('set' in k) return YAML.isScalar(item) && item.value !== null && typeof item.value !== 'object' ? String(item.value) : undefined;
  if (!YAML.isMap(item)) return undefined;
  if ('fn' in k) return fnId(item);
  if (str(item, k.keys[0]) === undefined) return undefined;
  return k.keys.map((key) => str(item, key) ?? DEFAULTS[key] ?? '').join('\u0000');
}

function itemLabel(item: YAML.Node, k: Keys): string {
  if ('set' in k) return `[${itemId(item, k)}]`;
  if ('fn' in k) return `[${(itemId(item, k) ?? '').replace(':', '=')}]`;
  return `[${k.keys.filter((key) => str(item, key) !== undefined).map((key) => `${key}=${str(item, key)}`).join(',')}]`;
}

/** The merge key of a list, or undefined when the list is atomic: every item of every side must carry it, once. */
function listKeys(name: string | undefined, seqs: YAML.YAMLSeq[], inKptfilePipeline: boolean): Keys | undefined {
  const items = seqs.flatMap((s) => s.items);
  const fits = (k: Keys) => seqs.every((s) => {
    const ids = s.items.map((it) => itemId(it, k));
    return ids.every((id) => id !== undefined) && new Set(ids).size === ids.length;
  });
  const candidates: Keys[] = [];
  if (name !== undefined && SETS.has(name)) candidates.push({ set: true });
  for (const keys of name !== undefined ? BY_FIELD[name] ?? [] : []) candidates.push({ keys });
  candidates.push({ keys: ['name'] }); // kyaml's inferred merge key
  if (inKptfilePipeline && items.every((it) => str(it as Val, 'name') === undefined)) candidates.push({ fn: true });
  return candidates.find(fits);
}

// ---- the three-way merge of one value ----

function takeUpdated(o: Val, u: Val, l: Val, ctx: Ctx): Outcome {
  if (u === undefined || u === null || (YAML.isScalar(u) && u.value === null)) return 'remove'; // an explicit null clears, as in kyaml
  const n = adopt(u, ctx.u, ctx.l);
  if (l) {
    // comments edited locally stay local; otherwise the upstream ones come with the value
    if (l.comment !== (o ?? undefined)?.comment) n.comment = l.comment;
    if (l.commentBefore !== (o ?? undefined)?.commentBefore) n.commentBefore = l.commentBefore;
    n.spaceBefore = l.spaceBefore;
    // the local style of the value is kept (kyaml's FieldSetter keeps the existing node's style)
    if (YAML.isScalar(l) && YAML.isScalar(n) && typeof l.value === 'string' && typeof n.value === 'string') n.type = l.type;
    if ((YAML.isMap(l) && YAML.isMap(n)) || (YAML.isSeq(l) && YAML.isSeq(n))) n.flow = l.flow;
  }
  return n;
}

function conflict(path: Segment[], message: string, ctx: Ctx): void {
  ctx.conflicts.push({ field: pathString(path), message });
}

function mergeValue(path: Segment[], o: Val, u: Val, l: Val, ctx: Ctx, element = false): Outcome {
  const O = js(o, ctx.o), U = js(u, ctx.u);
  if (same(U, O)) return 'keep'; // not changed upstream: the local value, whatever it is
  const isMapOrAbsent = (n: Val) => n === undefined || YAML.isMap(n);
  if (YAML.isMap(l) && (YAML.isMap(u) || (u === undefined && !element)) && isMapOrAbsent(o)) {
    const had = l.items.length;
    mergeMap(path, o as YAML.YAMLMap | undefined, u as YAML.YAMLMap | undefined, l, ctx);
    return u === undefined && had > 0 && l.items.length === 0 ? 'remove' : 'keep';
  }
  if (l === undefined && YAML.isMap(u) && YAML.isMap(o) && !element) {
    // the map was deleted locally and changed upstream: kyaml recreates it with the upstream changes only
    const fresh = ctx.l.createNode({}) as YAML.YAMLMap;
    mergeMap(path, o, u, fresh, ctx);
    return fresh.items.length === 0 ? 'keep' : fresh;
  }
  if (YAML.isSeq(l) && (u === undefined || YAML.isSeq(u)) && (o === undefined || YAML.isSeq(o))) {
    const seqs = [o, u, l].filter((s): s is YAML.YAMLSeq => YAML.isSeq(s));
    const name = [...path].reverse().find((s): s is string => typeof s === 'string');
    const keys = listKeys(name, seqs, isKptfile(ctx.l) && path.length === 2 && path[0] === 'pipeline');
    if (keys) return mergeList(path, o as YAML.YAMLSeq | undefined, u as YAML.YAMLSeq | undefined, l, keys, ctx);
  }
  const L = js(l, ctx.l);
  if (same(L, O)) return takeUpdated(o, u, l, ctx); // changed upstream only
  if (same(U, L)) return 'keep'; // the same change on both sides
  if (u === undefined) {
    conflict(path, MSG.removedUpstream, ctx);
    return 'keep';
  }
  conflict(path, l === undefined ? MSG.deletedLocally : MSG.both, ctx);
  return takeUpdated(o, u, l, ctx);
}

function mergeMap(path: Segment[], o: YAML.YAMLMap | undefined, u: YAML.YAMLMap | undefined, l: YAML.YAMLMap, ctx: Ctx): void {
  const keys = new Set(l.items.map((p) => keyOf(p.key)));
  for (const key of [...keys]) {
    const pair = pairOf(l, key)!;
    const out = mergeValue([...path, key], field(o, key), field(u, key), pair.value as Val, ctx);
    if (out === 'remove') {
      l.items.splice(l.items.indexOf(pair), 1);
      ctx.touched = true;
    } else if (out !== 'keep') {
      pair.value = out;
      ctx.touched = true;
    }
  }
  for (const up of u?.items ?? []) {
    const key = keyOf(up.key);
    if (keys.has(key)) continue;
    keys.add(key);
    const out = mergeValue([...path, key], field(o, key), up.value as Val, undefined, ctx);
    if (out === 'keep' || out === 'remove') continue;
    const k = YAML.isNode(up.key) ? adopt(up.key, ctx.u, ctx.l) : up.key;
    if (l.items.length === 0) l.flow = u!.flow; // `{}` locally: take the upstream layout
    l.items.push(new YAML.Pair(k, out));
    ctx.touched = true;
  }
}

function mergeList(path: Segment[], o: YAML.YAMLSeq | undefined, u: YAML.YAMLSeq | undefined, l: YAML.YAMLSeq, k: Keys, ctx: Ctx): Outcome {
  const index = (s: YAML.YAMLSeq | undefined) => new Map((s?.items ?? []).map((it) => [itemId(it, k)!, it as YAML.Node]));
  const oi = index(o), ui = index(u), li = index(l);
  const had = l.items.length;
  for (const item of [...l.items]) {
    const id = itemId(item, k)!;
    const out = mergeValue([...path, { label: itemLabel(item as YAML.Node, k) }], oi.get(id), ui.get(id), item as YAML.Node, ctx, true);
    if (out === 'keep') continue;
    const at = l.items.indexOf(item);
    if (out === 'remove') l.items.splice(at, 1);
    else l.items[at] = out;
    ctx.touched = true;
  }
  for (const [id, item] of ui) {
    if (li.has(id)) continue;
    const out = mergeValue([...path, { label: itemLabel(item, k) }], oi.get(id), item, undefined, ctx, true);
    if (out === 'keep' || out === 'remove') continue;
    if (l.items.length === 0) l.flow = u!.flow;
    l.items.push(out);
    ctx.touched = true;
  }
  return u === undefined && had > 0 && l.items.length === 0 ? 'remove' : 'keep';
}

// ---- resources ----

function isKptfile(doc: Doc | undefined): boolean {
  const c = doc?.contents;
  return str(c, 'kind') === 'Kptfile' && (str(c, 'apiVersion') ?? '').startsWith('kpt.dev/');
}

function isResource(doc: Doc): boolean {
  return YAML.isMap(doc.contents) && str(doc.contents, 'apiVersion') !== undefined && str(doc.contents, 'kind') !== undefined;
}

/** group/kind/namespace/name; namespace and name from a `kpt-merge: ns/name` comment on metadata when there is one. */
function resourceId(doc: Doc): string {
  const c = doc.contents;
  const apiVersion = str(c, 'apiVersion') ?? '';
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const meta = pairOf(YAML.isMap(c) ? c : undefined, 'metadata');
  let ns = str(meta?.value as Val, 'namespace') ?? '';
  let name = str(meta?.value as Val, 'name') ?? '';
  const note = [(meta?.key as YAML.Node | undefined)?.comment, (meta?.value as YAML.Node | undefined)?.commentBefore]
    .map((t) => t?.split('\n')[0].trim()).find((t) => t?.startsWith('kpt-merge:'));
  const parts = note?.slice('kpt-merge:'.length).trim().split('/');
  if (parts && parts.length >= 2) [ns, name] = [parts[0], parts.slice(1).join('/')];
  return `${group}/${str(c, 'kind')}/${ns}/${name}`;
}

type Action = { kind: 'keep' | 'delete' | 'add' | 'skip' } | { kind: 'merged'; touched: boolean };

/** kpt's handling strategy for one resource, then the field merge; the local document is edited in place. */
function mergeDocs(o: Doc | undefined, u: Doc | undefined, l: Doc | undefined, conflicts: { field: string; message: string }[]): Action {
  const val = (d: Doc | undefined) => (d ? d.toJS() : ABSENT);
  if (!l) {
    if (!u) return { kind: 'skip' };
    if (!o) return { kind: 'add' };
    if (!same(val(o), val(u))) conflicts.push({ field: '', message: MSG.resDeletedLocally });
    return { kind: 'skip' }; // deleted locally stays deleted
  }
  if (!u) {
    if (!o) return { kind: 'keep' };
    if (same(val(o), val(l))) return { kind: 'delete' };
    conflicts.push({ field: '', message: MSG.resDeletedUpstream });
    return { kind: 'keep' };
  }
  for (const d of [o, u, l]) readAliases(d);
  if (isKptfile(l)) {
    // as kpt does for the Kptfile: name, namespace, upstream and upstreamLock stay local
    for (const d of [o, u]) {
      if (!d || !YAML.isMap(d.contents)) continue;
      for (const key of ['upstream', 'upstreamLock']) copyField(l, l.contents as YAML.YAMLMap, d, d.contents, key);
      const lm = field(l.contents, 'metadata'), dm = field(d.contents, 'metadata');
      if (YAML.isMap(lm) && YAML.isMap(dm)) for (const key of ['name', 'namespace']) copyField(l, lm, d, dm, key);
    }
  }
  const ctx: Ctx = { o, u, l, conflicts, touched: false };
  mergeValue([], o?.contents as Val, u.contents as Val, l.contents as Val, ctx);
  if (ctx.touched) expandDanglingAliases(l);
  return { kind: 'merged', touched: ctx.touched };
}

/**
 * An alias whose anchor the merge removed (an upstream change dropped the anchored node, e.g. a
 * list item) or moved after it cannot be written: it becomes a copy of what it pointed to.
 */
function expandDanglingAliases(d: Doc): void {
  const seen = new Set<string>();
  const note = (_: unknown, n: YAML.Scalar | YAML.YAMLMap | YAML.YAMLSeq) => {
    if (n.anchor) seen.add(n.anchor);
  };
  YAML.visit(d, {
    Scalar: note,
    Map: note,
    Seq: note,
    Alias(_, a) {
      if (seen.has(a.source) || !aliasValues.has(a)) return undefined;
      return d.createNode(aliasValues.get(a)) as YAML.Node;
    },
  });
}

function copyField(from: Doc, fm: YAML.YAMLMap, to: Doc, tm: YAML.YAMLMap, key: string): void {
  const v = field(fm, key);
  if (v === undefined) tm.delete(key);
  else tm.set(key, to.createNode(js(v, from)));
}

/** One resource (JS values; undefined for a resource absent on that side). */
export function mergeResource(original: unknown, updated: unknown, local: unknown): { value: unknown; conflicts: { field: string; message: string }[] } {
  const doc = (v: unknown) => (v === undefined ? undefined : new YAML.Document(v));
  const [o, u, l] = [doc(original), doc(updated), doc(local)];
  const conflicts: { field: string; message: string }[] = [];
  const action = mergeDocs(o, u, l, conflicts);
  const value = action.kind === 'add' ? u!.toJS() : action.kind === 'keep' || action.kind === 'merged' ? l!.toJS() : undefined;
  return { value, conflicts };
}

// ---- packages ----

interface Parsed {
  text: string;
  docs: YAML.Document.Parsed[];
}

interface Res {
  path: string;
  index: number;
  doc: Doc;
  id: string;
}

function isYamlPath(p: string): boolean {
  return /(^|\/)Kptfile$/.test(p) || /\.ya?ml$/.test(p);
}

/** The documents of a KRM file, or undefined when the file is not YAML made of resources. */
function parseKrm(text: string): Parsed | undefined {
  const docs = YAML.parseAllDocuments(text);
  if (!Array.isArray(docs) || docs.some((d) => d.errors.length > 0)) return undefined;
  const withContent = docs.filter((d) => d.contents !== null);
  if (withContent.length === 0 || !withContent.every(isResource)) return undefined;
  for (const d of docs) keyLineComments(d, text);
  return { text, docs };
}

/** `metadata: # note` is read by the yaml package as a comment before the map; put it back on the key line. */
function keyLineComments(doc: Doc, text: string): void {
  YAML.visit(doc, {
    Pair(_, pair) {
      const k = pair.key, v = pair.value;
      if (!YAML.isScalar(k) || !k.range || !(YAML.isMap(v) || YAML.isSeq(v)) || v.flow || !v.commentBefore) return;
      const eol = text.indexOf('\n', k.range[1]);
      const rest = text.slice(k.range[1], eol < 0 ? undefined : eol);
      if (!/^\s*:\s*#/.test(rest)) return;
      const lines = v.commentBefore.split('\n');
      k.comment = lines[0];
      v.commentBefore = lines.length > 1 ? lines.slice(1).join('\n') : undefined;
    },
  });
}

/** The source text of each document, separators and comments included, so that unchanged documents are kept byte for byte. */
function docTexts(p: Parsed): string[] {
  return p.docs.map((d, i) => p.text.slice(i === 0 ? 0 : d.range[0], i + 1 < p.docs.length ? p.docs[i + 1].range[0] : p.text.length));
}

/** The layout of the local file: indentation, indented sequences, padding of flow collections. */
function styleOf(text: string): ToStringOptions {
  const opts: ToStringOptions = { lineWidth: 0, flowCollectionPadding: /[[{] [^\s\]}]/.test(text) };
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const m = /^(\s*)(- )?[^\s#-][^:#]*:\s*(#.*)?$/.exec(lines[i]);
    if (!m) continue;
    let j = i + 1;
    while (j < lines.length && /^\s*(#.*)?$/.test(lines[j])) j++;
    if (j >= lines.length) break;
    const keyIndent = m[1].length + (m[2] ? 2 : 0);
    const next = /^(\s*)(- )?/.exec(lines[j])!;
    if (next[2] && opts.indentSeq === undefined) opts.indentSeq = next[1].length > keyIndent;
    if (!next[2] && opts.indent === undefined && next[1].length > keyIndent) opts.indent = next[1].length - keyIndent;
    if (opts.indentSeq !== undefined && opts.indent !== undefined) break;
  }
  return opts;
}

function render(parts: string[]): string {
  let out = '';
  for (const part of parts) {
    if (out !== '' && !out.endsWith('\n')) out += '\n';
    out += out !== '' && !part.startsWith('---') ? `---\n${part}` : part;
  }
  return out;
}

/** Tuples of one resource across the three packages: by identity; where an identity repeats, by file and position. */
function tuples(sides: Res[][]): (Res | undefined)[][] {
  const byId = new Map<string, Res[][]>();
  sides.forEach((side, s) => {
    for (const r of side) {
      const slot = byId.get(r.id) ?? [[], [], []];
      slot[s].push(r);
      byId.set(r.id, slot);
    }
  });
  const out: (Res | undefined)[][] = [];
  for (const slot of byId.values()) {
    if (slot.every((rs) => rs.length <= 1)) {
      out.push(slot.map((rs) => rs[0]));
      continue;
    }
    const keyed = new Map<string, (Res | undefined)[]>();
    slot.forEach((rs, s) => {
      const seen = new Map<string, number>();
      for (const r of rs) {
        const n = seen.get(r.path) ?? 0;
        seen.set(r.path, n + 1);
        const t = keyed.get(`${r.path}\u0000${n}`) ?? [undefined, undefined, undefined];
        t[s] = r;
        keyed.set(`${r.path}\u0000${n}`, t);
      }
    });
    out.push(...keyed.values());
  }
  return out;
}

/** Three-way merge of whole packages: path -> file text for the original upstream, the updated upstream and the local (downstream) package.
 *  Files for which skipFiles is true take no part: the local file, if any, is returned as it is. */
export function mergePackages(original: Map<string, string>, updated: Map<string, string>, local: Map<string, string>, opts?: { skipFiles?: (path: string) => boolean }): PackageMergeResult {
  const skip = opts?.skipFiles ?? (() => false);
  const sides = [original, updated, local];
  const files = new Map<string, string>();
  const conflicts: MergeConflict[] = [];
  for (const [p, t] of local) if (skip(p)) files.set(p, t);

  // which paths hold resources on every side that has them; the others are merged as whole files
  const paths = [...new Set(sides.flatMap((m) => [...m.keys()]))].filter((p) => !skip(p)).sort();
  const parsed: Map<string, Parsed>[] = [new Map(), new Map(), new Map()];
  const krm = new Set<string>();
  for (const p of paths) {
    const ps = sides.map((m) => (m.has(p) && isYamlPath(p) ? parseKrm(m.get(p)!) : undefined));
    if (sides.every((m, s) => !m.has(p) || ps[s] !== undefined)) {
      krm.add(p);
      ps.forEach((x, s) => x && parsed[s].set(p, x));
    } else {
      mergeFile(p, original.get(p), updated.get(p), local.get(p), files, conflicts);
    }
  }

  // the resources, as tuples (original, updated, local)
  const res = parsed.map((side) => [...side].flatMap(([path, f]) => f.docs.flatMap((doc, index) => (
    isResource(doc) ? [{ path, index, doc, id: isKptfile(doc) && /(^|\/)Kptfile$/.test(path) ? `Kptfile:${path}` : resourceId(doc) }] : []))));
  const fate = new Map<Doc, 'delete' | 'changed'>();
  const added = new Map<string, Res[]>();
  for (const [o, u, l] of tuples(res)) {
    const found: { field: string; message: string }[] = [];
    const action = mergeDocs(o?.doc, u?.doc, l?.doc, found);
    const at = (l ?? u ?? o)!;
    for (const c of found) conflicts.push({ file: at.path, resource: at.id.startsWith('Kptfile:') ? resourceId(at.doc) : at.id, ...c });
    if (action.kind === 'delete') fate.set(l!.doc, 'delete');
    else if (action.kind === 'merged' && action.touched) fate.set(l!.doc, 'changed');
    else if (action.kind === 'add') added.set(u!.path, [...(added.get(u!.path) ?? []), u!]);
  }

  // the KRM files, edited where something changed
  for (const p of krm) {
    const lf = parsed[2].get(p), uf = parsed[1].get(p);
    const adds = (added.get(p) ?? []).sort((a, b) => a.index - b.index);
    if (lf !== undefined && !lf.docs.some((d) => fate.has(d)) && adds.length === 0) {
      files.set(p, lf.text);
      continue;
    }
    const kept = lf ? lf.docs.filter((d) => fate.get(d) !== 'delete') : [];
    if (!kept.some(isResource) && adds.length === 0) continue; // no resource left: the file goes, as kpt's writer does
    if (!kept.some(isResource) && uf && adds.length === uf.docs.filter(isResource).length && uf.docs.every((d) => !isResource(d) || adds.some((a) => a.doc === d))) {
      files.set(p, uf.text); // the file is new or replaced as a whole: upstream's text as it is
      continue;
    }
    const style = styleOf(lf?.text ?? uf!.text);
    const lt = lf ? docTexts(lf) : [];
    const ut = adds.length > 0 ? docTexts(uf!) : [];
    const parts = [
      ...(lf?.docs ?? []).flatMap((d, i) => (fate.get(d) === 'delete' ? [] : fate.get(d) === 'changed' ? [d.toString(style)] : [lt[i]])),
      ...adds.map((a) => ut[a.index]),
    ];
    files.set(p, render(parts));
  }
  return { files: new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), conflicts };
}

/** A file that holds no resources, merged whole (kpt's rules for non-KRM files). */
function mergeFile(p: string, o: string | undefined, u: string | undefined, l: string | undefined, files: Map<string, string>, conflicts: MergeConflict[]): void {
  const result = (t: string | undefined) => { if (t !== undefined) files.set(p, t); };
  if (u === o) return result(l); // not changed upstream
  if (l === o) return result(u); // changed upstream only
  if (l === u) return result(l);
  const message = o === undefined ? MSG.fileAddedBoth : u === undefined ? MSG.fileDeletedUpstream : l === undefined ? MSG.fileDeletedLocally : MSG.fileBoth;
  conflicts.push({ file: p, resource: '', field: '', message });
  result(l);
}
