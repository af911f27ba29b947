// A seeded generator of hostile requests for test/hostile.test.ts: bad bodies, patches, query
// options, URLs and headers for every resource, verb and subresource the server serves, in
// named families; and a small HTTPS runner that sends them with bounded concurrency and a
// deadline per request. The same seed and the same world give the same requests.
//
// A write is sent for real only when kube-apiserver would certainly refuse it (a wrong type, a
// path that may not be, a size over a limit, a bad option) or when it changes nothing if
// obeyed; a write that kube might accept (a YAML tag, nesting under kube's depth limit, a
// dangling reference) is sent with dryRun=All, so that the state after the run must equal the
// state before it. Writes that would delete something if wrongly obeyed go last.
import https from 'node:https';
import zlib from 'node:zlib';
import { packageVariantSchema, repositorySchema } from '../../src/api/config.ts';
import { eventSchema, namespaceSchema } from '../../src/api/core.ts';
import { objectMetaSchema, type KObject } from '../../src/api/meta.ts';
import { packageRevisionResourcesSchema, packageRevisionSchema } from '../../src/api/pkg.ts';
import { arr, bool, int, obj, str, type Schema } from '../../src/api/schema.ts';

// ---------------------------------------------------------------- seeded randomness

/** mulberry32: a 32-bit seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

// ---------------------------------------------------------------- requests

export const FAMILIES = [
  'wrong-type',
  'malformed',
  'yaml-tag',
  'deep',
  'huge',
  'alias',
  'query',
  'url',
  'header',
  'prr-files',
  'repo-url',
  'references',
  'unauthenticated',
] as const;
export type Family = (typeof FAMILIES)[number];

export interface HostileRequest {
  id: number;
  family: Family;
  /** plural of the resource aimed at ("-" for paths that are no resource) */
  resource: string;
  /** get, list, watch, create, update, patch:merge|json|strategic|apply, delete, or the HTTP method */
  verb: string;
  subresource?: string;
  method: string;
  /** path and query, escaped as sent */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** no client certificate */
  anonymous?: boolean;
  /** a watch: done when the response headers arrive */
  watch?: boolean;
  /** a DELETE that removes an object if wrongly obeyed: sent after every other request */
  destructive?: boolean;
  /** sent with dryRun=All */
  dryRun?: boolean;
  what: string;
}

/** What the server holds when the requests are generated. */
export interface World {
  /** the namespace of the seeded objects */
  namespace: string;
  /** an empty namespace (gone if a bad DELETE of it were obeyed) */
  emptyNamespace: string;
  dataDir: string;
  /** the --local-repository-root of the server */
  localRoot: string;
  /** plural → the current objects, as the server returns them (PackageRevisionResources with their files) */
  objects: Record<string, KObject[]>;
  /** the seeded catalog and deployment Repositories */
  catalog: string;
  deploy: string;
  /** a published catalog package and revision */
  upstream: { package: string; revision: string };
}

// ---------------------------------------------------------------- JSON and YAML text

/** A token written into the body as it is: numbers JSON cannot carry, nestings built as text, YAML tags and anchors. */
class Raw {
  constructor(readonly text: string) {}
}
const raw = (text: string) => new Raw(text);

/** JSON text (also YAML flow text) of a value; Raw tokens are written verbatim (after a space, for YAML). */
function encode(v: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(v, (_k, x: unknown) => (x instanceof Raw ? `@@raw${raws.push(x.text) - 1}@@` : x)) ?? 'null';
  return raws.length ? text.replace(/"@@raw(\d+)@@"/g, (_m, i: string) => ` ${raws[Number(i)]}`) : text;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

type Seg = string | number;

/** `value` at `segs` in a copy of `base` (a number is an item of a list: its first). */
function setAt(base: unknown, segs: Seg[], value: unknown): Record<string, unknown> {
  const root = clone(base) as Record<string, unknown>;
  let cur: any = root;
  for (let i = 0; i < segs.length - 1; i++) {
    const s = segs[i];
    const wantArray = typeof segs[i + 1] === 'number';
    const key = typeof s === 'number' ? 0 : s;
    const child = cur[key];
    if (wantArray ? !Array.isArray(child) : child === null || typeof child !== 'object' || Array.isArray(child)) cur[key] = wantArray ? [] : {};
    cur = cur[key];
  }
  const last = segs[segs.length - 1];
  cur[typeof last === 'number' ? 0 : last] = value;
  return root;
}

/** A merge patch that puts `value` at `segs`. */
function nest(segs: Seg[], value: unknown): unknown {
  let v = value;
  for (let i = segs.length - 1; i >= 0; i--) v = typeof segs[i] === 'number' ? [v] : { [segs[i]]: v };
  return v;
}

const pointer = (segs: Seg[]) => segs.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

/** A JSON patch operation that puts `value` at `segs` of `base`: replace when it exists, else add what is missing. */
function jsonPatchOp(base: unknown, segs: Seg[], value: unknown): Record<string, unknown> {
  let cur: any = base;
  let i = 0;
  for (; i < segs.length; i++) {
    const s = segs[i];
    if (cur === null || typeof cur !== 'object') break;
    if (typeof s === 'number') {
      if (!Array.isArray(cur) || cur.length === 0) break;
      cur = cur[0];
    } else {
      if (Array.isArray(cur) || !(s in cur)) break;
      cur = cur[s];
    }
  }
  if (i === segs.length) return { op: 'replace', path: pointer(segs), value };
  const seg = segs[i];
  return { op: 'add', path: pointer([...segs.slice(0, i), typeof seg === 'number' ? '-' : seg]), value: nest(segs.slice(i + 1), value) };
}

// deep nestings, built as text (never by recursion)
const deepArray = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const deepObject = (n: number) => `${'{"a": '.repeat(n)}1${'}'.repeat(n)}`;
const deepMixed = (n: number) => `${'{"a": ['.repeat(Math.ceil(n / 2))}${']}'.repeat(Math.ceil(n / 2))}`;
/** kube-apiserver's bound on JSON nesting; deeper must be refused */
const KUBE_MAX_DEPTH = 10_000;

// ---------------------------------------------------------------- the resources

const PKG = '/apis/pkg.pkgserver.dev/v1alpha1';
const CFG = '/apis/config.pkg.pkgserver.dev/v1alpha1';
const CORE = '/api/v1';

type Op = 'create' | 'update' | 'merge' | 'json' | 'strategic' | 'apply';
const PATCH_TYPES = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;
const verbOf = (op: Op) => (op === 'create' || op === 'update' ? op : `patch:${op}`);

interface Kind {
  plural: string;
  prefix: string;
  namespaced: boolean;
  schema: Schema;
  ops: Op[];
  deletable: boolean;
  subresources: string[];
  objects: KObject[];
  /** a new, valid object to create (the index makes its name unique) */
  fresh?: (i: number) => Record<string, unknown>;
  /** a self review: create-only, nothing stored */
  review?: true;
}

const SELF_META = obj('', { metadata: objectMetaSchema });
const SELECTOR = obj('', { rawSelector: str(''), requirements: arr('', obj('', { key: str(''), operator: str(''), values: arr('', str('')) })) });
const SSAR_SCHEMA = obj('', {
  apiVersion: str(''),
  kind: str(''),
  metadata: objectMetaSchema,
  spec: obj('', {
    resourceAttributes: obj('', {
      namespace: str(''),
      verb: str(''),
      group: str(''),
      version: str(''),
      resource: str(''),
      subresource: str(''),
      name: str(''),
      fieldSelector: SELECTOR,
      labelSelector: SELECTOR,
    }),
    nonResourceAttributes: obj('', { path: str(''), verb: str('') }),
  }),
});
const SSRR_SCHEMA = obj('', { apiVersion: str(''), kind: str(''), metadata: objectMetaSchema, spec: obj('', { namespace: str('') }) });
const DELETE_OPTIONS_SCHEMA = obj('', {
  apiVersion: str(''),
  kind: str(''),
  gracePeriodSeconds: int(''),
  preconditions: obj('', { uid: str(''), resourceVersion: str('') }),
  orphanDependents: bool(''),
  propagationPolicy: str('', { enum: ['Orphan', 'Background', 'Foreground'] }),
  dryRun: arr('', str('', { enum: ['All'] })),
});

function kinds(w: World): Kind[] {
  const ns = w.namespace;
  const self = (group: string, version: string, plural: string, schema: Schema, fresh: () => Record<string, unknown>): Kind => ({
    plural,
    prefix: `/apis/${group}/${version}`,
    namespaced: false,
    schema,
    ops: ['create'],
    deletable: false,
    subresources: [],
    objects: [],
    fresh,
    review: true,
  });
  const inNs = (plural: string) => (w.objects[plural] ?? []).filter((o) => o.metadata.namespace === ns);
  return [
    {
      plural: 'packagerevisions',
      prefix: PKG,
      namespaced: true,
      schema: packageRevisionSchema,
      ops: ['create', 'update', 'merge', 'json', 'strategic', 'apply'],
      deletable: true,
      subresources: ['status', 'approval'],
      objects: inNs('packagerevisions'),
      fresh: (i) => ({
        apiVersion: 'pkg.pkgserver.dev/v1alpha1',
        kind: 'PackageRevision',
        metadata: { name: `c9.${w.deploy}..hx${i}.ws1` },
        spec: { packageRevID: { target: 'c9', repository: w.deploy, realm: '', package: `hx${i}`, workspace: 'ws1' }, tasks: [{ type: 'init' }] },
      }),
    },
    {
      plural: 'packagerevisionresources',
      prefix: PKG,
      namespaced: true,
      schema: packageRevisionResourcesSchema,
      ops: ['update', 'merge', 'json', 'strategic', 'apply'],
      deletable: false,
      subresources: [],
      objects: inNs('packagerevisionresources'),
    },
    {
      plural: 'repositories',
      prefix: CFG,
      namespaced: true,
      schema: repositorySchema,
      ops: ['create', 'update', 'merge', 'json', 'strategic', 'apply'],
      deletable: true,
      subresources: ['status'],
      objects: inNs('repositories'),
      fresh: (i) => ({ apiVersion: 'config.pkg.pkgserver.dev/v1alpha1', kind: 'Repository', metadata: { name: `hx-repo-${i}` }, spec: { git: { url: `${w.localRoot}/hx-repo-${i}.git` } } }),
    },
    {
      plural: 'packagevariants',
      prefix: CFG,
      namespaced: true,
      schema: packageVariantSchema,
      ops: ['create', 'update', 'merge', 'json', 'strategic', 'apply'],
      deletable: true,
      subresources: ['status'],
      objects: inNs('packagevariants'),
      fresh: (i) => ({
        apiVersion: 'config.pkg.pkgserver.dev/v1alpha1',
        kind: 'PackageVariant',
        metadata: { name: `hx-pv-${i}` },
        spec: { upstream: { repository: w.catalog, package: w.upstream.package }, downstream: { target: 'c9', repository: w.deploy, package: `hx-pv-${i}` } },
      }),
    },
    {
      plural: 'namespaces',
      prefix: CORE,
      namespaced: false,
      schema: namespaceSchema,
      ops: ['create', 'update', 'merge', 'json', 'strategic', 'apply'],
      deletable: true,
      subresources: ['status'],
      objects: (w.objects.namespaces ?? []).filter((o) => o.metadata.name === ns || o.metadata.name === w.emptyNamespace || o.metadata.name === 'default'),
      fresh: (i) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `hx-ns-${i}` } }),
    },
    {
      plural: 'events',
      prefix: CORE,
      namespaced: true,
      schema: eventSchema,
      ops: ['create', 'update', 'merge', 'json', 'strategic', 'apply'],
      deletable: true,
      subresources: [],
      objects: inNs('events'),
      fresh: (i) => ({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `hx-ev-${i}`, namespace: ns },
        involvedObject: { apiVersion: 'v1', kind: 'Namespace', name: ns, namespace: ns },
        reason: 'Hostile',
        message: 'a hostile event',
        type: 'Normal',
        source: { component: 'hostile' },
      }),
    },
    self('authorization.k8s.io', 'v1', 'selfsubjectaccessreviews', SSAR_SCHEMA, () => ({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { namespace: ns, verb: 'get', group: 'pkg.pkgserver.dev', version: 'v1alpha1', resource: 'packagerevisions', name: 'x' } },
    })),
    self('authorization.k8s.io', 'v1', 'selfsubjectrulesreviews', SSRR_SCHEMA, () => ({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectRulesReview',
      spec: { namespace: ns },
    })),
    self('authentication.k8s.io', 'v1', 'selfsubjectreviews', SELF_META, () => ({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' })),
    self('authentication.k8s.io', 'v1beta1', 'selfsubjectreviews', SELF_META, () => ({ apiVersion: 'authentication.k8s.io/v1beta1', kind: 'SelfSubjectReview' })),
  ];
}

// ---------------------------------------------------------------- fields and wrong values

interface Field {
  segs: Seg[];
  schema: Schema;
  required: boolean;
}

/** Every field of a schema: properties, list items (index 0) and map values (key "k"); not inside free-form objects. */
function fieldsOf(s: Schema, segs: Seg[] = [], out: Field[] = []): Field[] {
  if (s['x-kubernetes-preserve-unknown-fields']) return out;
  for (const [name, child] of Object.entries(s.properties ?? {})) {
    const f = [...segs, name];
    out.push({ segs: f, schema: child, required: (s.required ?? []).includes(name) });
    fieldsOf(child, f, out);
  }
  if (s.items) {
    out.push({ segs: [...segs, 0], schema: s.items, required: false });
    fieldsOf(s.items, [...segs, 0], out);
  }
  if (s.additionalProperties && typeof s.additionalProperties === 'object') out.push({ segs: [...segs, 'k'], schema: s.additionalProperties, required: false });
  return out;
}

/** Values of a wrong JSON type (or out of the enum, or not a time) for a field: kube refuses each. */
function wrongValues(f: Field): unknown[] {
  const s = f.schema;
  const out: unknown[] = [];
  switch (s.type) {
    case 'string':
      out.push(0, 1.5, true, {}, [], ['x'], { a: 'b' }, raw('1e400'));
      if (s.enum) out.push('Bogus', '');
      if (s.format === 'date-time') out.push('not a time', '2024-13-45T99:99:99Z');
      break;
    case 'integer':
      out.push('1', 1.5, true, {}, [], raw('1e400'), raw('9223372036854775808'), raw('-0.5'));
      break;
    case 'boolean':
      out.push('true', 1, 0, {}, [], 'yes');
      break;
    case 'object':
      out.push('x', 0, [], true, [{}]);
      break;
    case 'array':
      out.push('x', 0, {}, true, [[]]);
      break;
  }
  // a null item, or a null where a value is required (not in managedFields: a null entry decodes
  // as an empty one, which kube's field manager resets with the rest, so kube takes the write)
  if ((f.required || typeof f.segs[f.segs.length - 1] === 'number') && !(f.segs[0] === 'metadata' && f.segs[1] === 'managedFields')) out.push(null);
  return out;
}

const label = (segs: Seg[]) => segs.map((s) => (typeof s === 'number' ? '[0]' : `.${s}`)).join('').replace(/^\./, '');

// ---------------------------------------------------------------- the generator

class Gen {
  readonly out: HostileRequest[] = [];
  private n = 0;
  readonly kinds: Kind[];

  constructor(
    readonly rng: Rng,
    readonly w: World,
  ) {
    this.kinds = kinds(w);
  }

  kind(plural: string): Kind {
    return this.kinds.find((k) => k.plural === plural)!;
  }

  /** a unique number for the names of objects to create */
  fresh(): number {
    return ++this.n;
  }

  collection(k: Kind, ns = this.w.namespace): string {
    return `${k.prefix}${k.namespaced ? `/namespaces/${encodeURIComponent(ns)}` : ''}/${k.plural}`;
  }

  item(k: Kind, o: KObject, sub?: string): string {
    return `${this.collection(k, o.metadata.namespace)}/${encodeURIComponent(o.metadata.name!)}${sub ? `/${sub}` : ''}`;
  }

  add(r: Omit<HostileRequest, 'id' | 'headers'> & { headers?: Record<string, string>; query?: string[] }): void {
    const { query, ...rest } = r;
    const q = [...(query ?? [])];
    if (r.dryRun && !q.includes('dryRun=All')) q.push('dryRun=All');
    const path = q.length ? `${rest.path}${rest.path.includes('?') ? '&' : '?'}${q.join('&')}` : rest.path;
    // anything that could be read as a watch is done once its headers arrive
    const watch = r.method === 'GET' && /[?&]watch=|\/watch(\/|$|\?)/.test(path);
    this.out.push({ ...rest, path, headers: rest.headers ?? {}, id: this.out.length, ...(watch ? { watch } : {}) });
  }

  /** query options of a write: sometimes a fieldValidation; dry run when asked (and now and then anyway) */
  writeQuery(dryRun: boolean, given: string[]): { query: string[]; dryRun: boolean } {
    const query: string[] = [];
    if (!given.some((q) => q.startsWith('fieldValidation=')) && this.rng.chance(0.5)) query.push(`fieldValidation=${this.rng.pick(['Strict', 'Warn', 'Ignore'])}`);
    return { query, dryRun: dryRun || this.rng.chance(0.1) };
  }

  /**
   * One write of `value` at `segs` by `op` on `k` (a new object for create, else `target`, through
   * `sub`); `text` replaces the computed body (malformed text, for instance).
   */
  write(
    family: Family,
    k: Kind,
    op: Op,
    opts: { target?: KObject; sub?: string; segs?: Seg[]; value?: unknown; text?: string | Buffer; contentType?: string; dryRun?: boolean; what: string; query?: string[]; headers?: Record<string, string> },
  ): void {
    const target = op === 'create' ? undefined : (opts.target ?? this.rng.pick(k.objects));
    if (op !== 'create' && !target) return;
    const base = op === 'create' ? k.fresh!(this.fresh()) : target!;
    let body: string | Buffer;
    if (opts.text !== undefined) body = opts.text;
    else if (!opts.segs) body = encode(op === 'json' ? [] : op === 'create' || op === 'update' ? base : {});
    else if (op === 'create' || op === 'update') body = encode(setAt(base, opts.segs, opts.value));
    else if (op === 'json') body = encode([jsonPatchOp(base, opts.segs, opts.value)]);
    else body = encode(nest(opts.segs, opts.value));
    const q = this.writeQuery(opts.dryRun ?? false, opts.query ?? []);
    this.add({
      family,
      resource: k.plural,
      verb: verbOf(op),
      subresource: opts.sub,
      method: op === 'create' ? 'POST' : op === 'update' ? 'PUT' : 'PATCH',
      path: op === 'create' ? this.collection(k) : this.item(k, target!, opts.sub),
      headers: { 'Content-Type': opts.contentType ?? (op === 'create' || op === 'update' ? 'application/json' : PATCH_TYPES[op]), ...(opts.headers ?? {}) },
      body: Buffer.isBuffer(body) ? body : Buffer.from(body),
      query: [...q.query, ...(opts.query ?? [])],
      dryRun: q.dryRun,
      what: opts.what,
    });
  }

  /** A DELETE (of an existing object, mostly: then destructive) with a body and query options. */
  del(family: Family, k: Kind, body: string | undefined, what: string, query?: string[]): void {
    const target = this.rng.chance(0.8) && k.objects.length ? this.rng.pick(k.objects) : undefined;
    const path = target ? this.item(k, target) : `${this.collection(k)}/hx-absent-${this.fresh()}`;
    this.add({
      family,
      resource: k.plural,
      verb: 'delete',
      method: 'DELETE',
      path,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : Buffer.from(body),
      query,
      destructive: Boolean(target),
      what,
    });
  }

  read(family: Family, k: Kind, verb: 'get' | 'list' | 'watch', query: string[], what: string, headers: Record<string, string> = {}): void {
    const target = verb === 'get' ? this.rng.pick(k.objects) : undefined;
    if (verb === 'get' && !target) return;
    const path = target ? this.item(k, target) : this.rng.chance(0.3) && k.namespaced ? `${k.prefix}/${k.plural}` : this.collection(k);
    this.add({ family, resource: k.plural, verb, method: 'GET', path, headers, query: verb === 'watch' ? ['watch=true', ...query] : query, what });
  }

  /** the write endpoints of a kind: [op, subresource] */
  endpoints(k: Kind): [Op, string | undefined][] {
    const out: [Op, string | undefined][] = k.ops.map((op) => [op, undefined]);
    for (const sub of k.subresources) for (const op of ['update', 'merge', 'json', 'strategic'] as Op[]) out.push([op, sub]);
    return out;
  }
}

// ---------------------------------------------------------------- the families

/** Wrong JSON types in every field of every kind, through every write endpoint; DeleteOptions too. */
function wrongTypes(g: Gen): void {
  const { rng } = g;
  let turn = rng.int(60); // where the turns start depends on the seed: over seeds, each field meets each op
  for (const k of g.kinds) {
    for (const f of fieldsOf(k.schema)) {
      const top = f.segs[0];
      // one op for each field, in turn (server-side apply, 415 anyway, now and then)
      const ops = k.ops.filter((o) => o !== 'apply');
      const chosen: Op[] = [ops[turn++ % ops.length]];
      if (k.ops.includes('apply') && rng.chance(0.05)) chosen.push('apply');
      for (const op of chosen) {
        const value = rng.pick(wrongValues(f));
        // status in a main-resource write is dropped, as kube's strategies drop it: kube may accept it
        g.write('wrong-type', k, op, { segs: f.segs, value, dryRun: top === 'status', what: `${label(f.segs)} = ${encode(value)}` });
      }
      // through a subresource: its own fields and metadata for real, the others (ignored there) as a dry run
      for (const sub of k.subresources) {
        const own = top === 'metadata' || (sub === 'status' ? top === 'status' : label(f.segs) === 'spec.lifecycle');
        if (!own && !rng.chance(0.15)) continue;
        const value = rng.pick(wrongValues(f));
        g.write('wrong-type', k, rng.pick(['update', 'merge', 'json', 'strategic'] as Op[]), { sub, segs: f.segs, value, dryRun: !own, what: `${sub}: ${label(f.segs)} = ${encode(value)}` });
      }
    }
    if (k.deletable)
      for (const f of fieldsOf(DELETE_OPTIONS_SCHEMA)) {
        const value = rng.pick(wrongValues(f));
        g.del('wrong-type', k, encode(setAt({ apiVersion: 'v1', kind: 'DeleteOptions' }, f.segs, value)), `DeleteOptions ${label(f.segs)} = ${encode(value)}`);
      }
  }
  // a create with a type error in a namespace that does not exist: the namespace must not be made either
  for (const k of g.kinds.filter((x) => x.namespaced && x.fresh)) {
    const f = rng.pick(fieldsOf(k.schema).filter((x) => x.segs[0] === 'metadata'));
    const value = rng.pick(wrongValues(f));
    const i = g.fresh();
    g.add({
      family: 'wrong-type',
      resource: k.plural,
      verb: 'create',
      method: 'POST',
      path: g.collection(k, `hx-newns-${i}`),
      headers: { 'Content-Type': 'application/json' },
      body: Buffer.from(encode(setAt(setAt(k.fresh!(i), ['metadata', 'namespace'], `hx-newns-${i}`), f.segs, value))),
      what: `create in a namespace that does not exist, ${label(f.segs)} = ${encode(value)}`,
    });
  }
}

const MALFORMED_JSON: (string | Buffer)[] = [
  ' ',
  '{',
  '}',
  '{"a": }',
  '{"metadata": {"name": "x"}',
  '[',
  'nul',
  'tru',
  '{"a": 1,}',
  "{'a': 1}",
  '{"a": 1}garbage',
  '{"a": 1}{"b": 2}',
  '\uFEFF{}',
  Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
  Buffer.concat([Buffer.from('{"a": "'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), Buffer.from('"}')]),
  '{"a": "\\uZZZZ"}',
  '{"a": "\\ud800"}',
  'NaN',
  '{"a": NaN}',
  '{"a": Infinity}',
  '{"a": 01}',
  '{"a": 1e999999}',
  '{"a": -}',
  '"a string"',
  '5',
  'true',
  '[{}]',
  '{"metadata": []}',
  '{"metadata": "x"}',
  '{"metadata": null, "spec": "x"}',
  '{"kind": 5}',
  '{"apiVersion": []}',
  '{"kind": "Pod", "apiVersion": "v1"}',
  '{"apiVersion": "v9/bogus"}',
  '{"__proto__": {"polluted": "yes"}, "metadata": {"__proto__": {"name": 5}}}',
  '{"constructor": {"prototype": {"polluted": "yes"}}}',
  '{"a": "\u0001"}',
  '{"a": 1}\u0000',
  '1'.repeat(100_000),
  `{"a": ${'9'.repeat(100_000)}}`,
  `{"a": "x"${' '.repeat(50_000)}`,
];

const MALFORMED_YAML = [
  'a: [',
  'a: b: c',
  '- a\nb: c',
  '\t a: 1',
  'a: *undefined',
  '&a [*a]',
  '---\na: 1\n---\nb: 2',
  '%YAML 9.9\n---\na: 1',
  '? [a]\n: b',
  '{a: 1, a: 2}',
  "a: 'unterminated",
  '!!binary',
  ':',
  '@x',
  '`x',
  '[1, 2',
  '"\\xZZ"',
  'a:\n  - b\n c: d',
  '\u0000',
  'a: "\u0000"',
  'metadata: [1]',
  'kind: [Pod]',
];

const BAD_JSON_PATCHES = [
  '[{"op": "bogus", "path": "/metadata/name"}]',
  '[{"op": "add"}]',
  '[{"op": "add", "path": "metadata/labels", "value": 1}]',
  '{"op": "add", "path": "/x", "value": 1}',
  '[1]',
  '[null]',
  '["x"]',
  '[[]]',
  '[{"op": "test", "path": "/metadata/name", "value": "nope"}]',
  '[{"op": "test", "path": "/metadata/name", "value": {}}]',
  '[{"op": "move", "from": "/nope/x", "path": "/x"}]',
  '[{"op": "copy", "from": "/metadata/name", "path": "/metadata/labels/bad key!"}]',
  '[{"op": "replace", "path": "/metadata/name", "value": "hx-renamed"}]',
  '[{"op": "add", "path": "/metadata/annotations/~2", "value": "x"}]',
  '[{"op": "add", "path": "/metadata/finalizers/99999999999", "value": 5}]',
  '[{"op": "add", "path": "/metadata/finalizers/-1", "value": 5}]',
  '[{"op": "replace", "path": "/metadata/finalizers/01", "value": 5}]',
  '[{"op": "replace", "path": "", "value": 5}]',
  '[{"op": "replace", "path": "", "value": []}]',
  '[{"op": "add", "path": "/kind", "value": "Pod"}]',
  '[{"op": "add", "path": "/metadata/labels", "value": {"bad key!": "x"}}]',
  '[{"op": "add", "path": "/metadata", "value": "x"}]',
  `[${'{"op": "test", "path": "/metadata/uid", "value": "not-the-uid"}, '.repeat(20_000)}{"op": "bogus"}]`,
];

/** Strategic merge patch directives kube refuses (or, for the unclear ones, a dry run). */
const BAD_STRATEGIC: [string, boolean][] = [
  ['{"$patch": "bogus"}', true],
  ['{"metadata": {"finalizers": {"$patch": "replace"}}}', true],
  ['{"$setElementOrder/metadata": 5}', true],
  ['{"metadata": {"$setElementOrder/finalizers": "x"}}', true],
  ['{"metadata": {"$deleteFromPrimitiveList/finalizers": 5}}', true],
  ['{"metadata": {"$retainKeys": 5}}', true],
  ['{"metadata": {"ownerReferences": [{"$patch": "bogus"}]}}', true],
  ['{"metadata": {"ownerReferences": [5]}}', true],
  ['{"metadata": {"$patch": "delete"}}', false],
  ['{"$patch": "delete"}', false],
  ['{"metadata": {"ownerReferences": [{"$patch": "delete"}]}}', false],
  ['{"$retainKeys": ["metadata"]}', false],
];

/** A Kubernetes protobuf body: the magic and a runtime.Unknown around `raw`. */
function protobuf(raw: Buffer, typeMeta = true): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    out.push(n);
    return Buffer.from(out);
  };
  const field = (num: number, bytes: Buffer) => Buffer.concat([varint(num * 8 + 2), varint(bytes.length), bytes]);
  const tm = Buffer.concat([field(1, Buffer.from('v1')), field(2, Buffer.from('Namespace'))]);
  return Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), typeMeta ? field(1, tm) : Buffer.alloc(0), field(2, raw)]);
}

const BAD_PROTOBUF: Buffer[] = [
  Buffer.from([0x6b, 0x38, 0x73, 0x00]),
  Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), Buffer.alloc(20, 0xff)]),
  Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x12, 0xff, 0xff, 0xff, 0xff, 0x0f])]),
  protobuf(Buffer.concat([Buffer.alloc(100_000, 0x1b), Buffer.alloc(100_000, 0x1c)])), // 100,000 nested groups
  protobuf(Buffer.from([0x0a, 0x05, 0x0a, 0x03, 0xff, 0xfe, 0xfd])), // a name that is not UTF-8
  protobuf(Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x10])), // a length of 2^32
  protobuf(Buffer.from(`${'\x0a\x02'.repeat(5)}`), false),
  Buffer.from('k8s'),
];

function malformed(g: Gen): void {
  const { rng } = g;
  for (const k of g.kinds) {
    const endpoints = g.endpoints(k);
    for (const [op, sub] of endpoints) {
      for (let n = 0; n < 4; n++) {
        if (op === 'json') {
          const text = rng.chance(0.6) ? rng.pick(BAD_JSON_PATCHES) : rng.pick(MALFORMED_JSON);
          g.write('malformed', k, op, { sub, text, what: `JSON patch ${JSON.stringify(String(text).slice(0, 80))}` });
        } else if (op === 'strategic' && rng.chance(0.5)) {
          const [text, certain] = rng.pick(BAD_STRATEGIC);
          g.write('malformed', k, op, { sub, text, dryRun: !certain, what: `strategic ${text}` });
        } else if ((op === 'create' || op === 'update') && rng.chance(0.35)) {
          const text = rng.pick(MALFORMED_YAML);
          g.write('malformed', k, op, { sub, text, contentType: 'application/yaml', what: `YAML ${JSON.stringify(text.slice(0, 80))}` });
        } else {
          const text = rng.pick(MALFORMED_JSON);
          g.write('malformed', k, op, { sub, text, what: `JSON ${JSON.stringify(String(text).slice(0, 80))}` });
        }
      }
    }
    if (k.plural === 'namespaces' || k.review)
      for (const body of BAD_PROTOBUF) {
        const op: Op = k.plural === 'namespaces' && rng.chance(0.5) ? 'update' : 'create';
        g.write('malformed', k, op, { text: body, contentType: 'application/vnd.kubernetes.protobuf', what: `protobuf ${body.subarray(0, 24).toString('hex')}` });
      }
    if (k.deletable)
      for (const text of ['{', '[]', '"x"', '5', 'true', '{"a": }', '\uFEFF{}', 'NaN', '{"kind": "Pod", "apiVersion": "v1"}', '{"kind": 5}', '{"preconditions": []}', '{"dryRun": "All"}'])
        g.del('malformed', k, text, `DeleteOptions ${JSON.stringify(text)}`);
  }
}

const SCALAR_TAGS = [
  '!!binary aGVsbG8=',
  '!!binary "@@ not base64 @@"',
  '!!binary ""',
  '!!js/function "function () { return process.exit(1) }"',
  '!!js/undefined ""',
  '!!js/regexp /x/g',
  '!!python/object/apply:os.system ["id"]',
  '!!timestamp 2001-12-14t21:59:43.10-05:00',
  '!!float .nan',
  '!!float -.inf',
  '!!int 0x1F',
  '!!int "12abc"',
  '!!int 99999999999999999999999',
  '!!bool "maybe"',
  '!!null "x"',
  '!!str',
  '!!str 5',
  '!foo bar',
  '!<tag:example.com,2000:app/foo> "x"',
  '!<!> x',
  `!!binary ${Buffer.alloc(300_000, 'x').toString('base64')}`,
];
const COLLECTION_TAGS = ['!!set {a, b}', '!!omap [{a: 1}, {b: 2}]', '!!pairs [{a: 1}, {a: 2}]', '!!map [1, 2]', '!!seq {a: 1}', '!!binary [1]', '{<<: {a: b}, c: d}', '{<<: [1, 2]}', '!!js/function {}'];

/** YAML bodies with tags (standard, unknown, language-specific) in string and object positions and on the document. */
function yamlTags(g: Gen): void {
  const { rng } = g;
  for (const k of g.kinds) {
    for (const op of ['create', 'update'] as Op[]) {
      if (!k.ops.includes(op)) continue;
      const strings = fieldsOf(k.schema).filter((f) => f.schema.type === 'string' && f.segs[0] !== 'status');
      for (let n = 0; n < 8; n++) {
        const target = op === 'update' ? rng.pick(k.objects) : undefined;
        const base = target ?? k.fresh!(g.fresh());
        const where = rng.int(4);
        let text: string;
        let what: string;
        if (where === 0 && strings.length) {
          const f = rng.pick(strings);
          const tag = rng.pick(SCALAR_TAGS);
          text = encode(setAt(base, f.segs, raw(tag)));
          what = `${label(f.segs)}: ${tag.slice(0, 60)}`;
        } else if (where <= 1) {
          const tag = rng.pick(SCALAR_TAGS);
          text = encode(setAt(base, ['metadata', 'annotations', 'hx'], raw(tag)));
          what = `metadata.annotations.hx: ${tag.slice(0, 60)}`;
        } else if (where === 2) {
          const tag = rng.pick(COLLECTION_TAGS);
          text = encode(setAt(base, ['metadata', 'labels'], raw(tag)));
          what = `metadata.labels: ${tag}`;
        } else {
          const doc = encode(base);
          text = rng.pick([`!!binary ${Buffer.from(doc).toString('base64')}`, `!foo ${doc}`, `!!map ${doc}`, `!!seq ${doc}`, `%TAG !e! tag:example.com,2000:\n--- !e!foo ${doc}`, `--- !!set ${doc}`]);
          what = `document: ${text.slice(0, 40)}`;
        }
        g.write('yaml-tag', k, op, { target, text, contentType: 'application/yaml', dryRun: true, what });
      }
    }
  }
}

const DEPTHS = [1_000, 5_000, 9_999, 10_001, 20_000, 100_000];

/** Nesting deep in bodies, patches, pointers and DeleteOptions, below and above kube's limit. */
function deep(g: Gen): void {
  const { rng } = g;
  const inputs: Record<string, Seg[]> = { packagerevisions: ['spec', 'inputs', 0], packagevariants: ['spec', 'packageContext', 'inputs', 0] };
  for (const k of g.kinds) {
    for (const [op, sub] of g.endpoints(k)) {
      for (let n = 0; n < 3; n++) {
        const depth = rng.pick(DEPTHS);
        const shape = rng.pick([deepArray, deepObject, deepMixed]);
        // where the nesting goes, and whether kube would take it there (then it must be deep enough to refuse)
        const places: [Seg[], boolean][] = [
          [['hx'], true],
          [['metadata', 'annotations', 'hx'], false],
        ];
        if (inputs[k.plural] && shape !== deepArray) places.push([inputs[k.plural], true]);
        if (k.plural === 'packagerevisionresources') places.push([['spec', 'resources', 'deep.yaml'], false]);
        if (k.review) places.push([['spec'], shape !== deepArray]);
        const [segs, legit] = rng.pick(places);
        const dryRun = legit && depth <= KUBE_MAX_DEPTH;
        const what = `${shape.name}(${depth}) at ${label(segs)}`;
        if (op === 'json' && rng.chance(0.3)) {
          // a pointer of `depth` segments
          g.write('deep', k, op, { sub, text: encode([{ op: 'add', path: `/spec${'/a'.repeat(depth)}`, value: 1 }]), dryRun: depth <= KUBE_MAX_DEPTH, what: `JSON pointer of ${depth} segments` });
        } else if ((op === 'create' || op === 'update') && rng.chance(0.3)) {
          const target = op === 'update' ? rng.pick(k.objects) : undefined;
          g.write('deep', k, op, { sub, target, text: encode(setAt(target ?? k.fresh!(g.fresh()), segs, raw(shape(depth)))), contentType: 'application/yaml', dryRun, what: `YAML ${what}` });
        } else g.write('deep', k, op, { sub, segs, value: raw(shape(depth)), dryRun, what });
      }
    }
    if (k.deletable)
      for (const depth of [5_000, 20_000]) g.del('deep', k, encode({ preconditions: raw(deepArray(depth)) }), `DeleteOptions preconditions deepArray(${depth})`);
  }
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Strings, maps and lists past kube's limits (names, labels, annotations, object and body size). */
function huge(g: Gen): void {
  const { rng } = g;
  const big = (n: number) => 'x'.repeat(n);
  const cases: [string, Seg[], unknown][] = [
    ['a 300-character name', ['metadata', 'name'], 'a'.repeat(300)],
    ['a 100,000-character name', ['metadata', 'name'], 'a'.repeat(100_000)],
    ['a 64-character label key', ['metadata', 'labels'], { [big(64)]: 'v' }],
    ['a 64-character label value', ['metadata', 'labels'], { k: big(64) }],
    ['300 KiB of annotations', ['metadata', 'annotations'], { a: big(300 * KiB) }],
    ['a 2 MiB annotation', ['metadata', 'annotations'], { a: big(2 * MiB) }],
    ['250,000 finalizers', ['metadata', 'finalizers'], Array.from({ length: 250_000 }, (_, i) => `example.com/f${i}`)],
    ['200,000 labels (past the 1.5 MiB object limit)', ['metadata', 'labels'], Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, 'v']))],
    ['a 4 MiB body', ['metadata', 'annotations'], { a: big(4 * MiB) }],
  ];
  // a big unknown field: pruned, so kube would take it as a no-op patch
  const unknown = Object.fromEntries(Array.from({ length: 150_000 }, (_, i) => [`k${i}`, 1]));
  for (const k of g.kinds.filter((x) => x.fresh && !x.review)) {
    for (const [what, segs, value] of cases) g.write('huge', k, rng.pick(k.ops.filter((o) => o !== 'apply')), { segs, value, what });
    if (k.objects.length) g.write('huge', k, 'merge', { segs: ['hx'], value: unknown, what: '150,000 unknown keys' });
  }
  for (const plural of ['packagerevisions', 'packagevariants']) {
    const k = g.kind(plural);
    const segs = plural === 'packagerevisions' ? ['spec', 'inputs'] : ['spec', 'packageContext', 'inputs'];
    const input = (i: number) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `c${i}` }, data: { k: big(600 * KiB) } });
    g.write('huge', k, rng.pick(['create', 'merge'] as Op[]), { segs, value: [input(0), input(1), input(2)], what: '1.8 MiB of inputs' });
  }
  const prr = g.kind('packagerevisionresources');
  const draft = drafts(g)[0];
  if (draft) {
    g.write('huge', prr, 'merge', { target: draft, segs: ['spec', 'resources', 'big.txt'], value: big(1.5 * MiB), what: 'a 1.5 MiB file' });
    g.write('huge', prr, 'update', { target: draft, segs: ['spec', 'resources'], value: { ...draft.spec.resources, ...Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`many/f${i}.txt`, 'x'])) }, what: '1,001 more files' });
    g.write('huge', prr, 'json', { target: draft, segs: ['spec', 'resources', `${'d'.repeat(200)}/`.repeat(6) + 'x.txt'], value: 'x', what: 'a path of 1,200 bytes' });
  }
  for (const k of g.kinds.filter((x) => x.review)) g.write('huge', k, 'create', { segs: ['metadata', 'annotations'], value: { a: big(2 * MiB) }, what: 'a 2 MiB annotation' });
}

/** A YAML anchor of `size` bytes referenced `refs` times from the annotations. */
function aliasedAnnotations(size: number, refs: number): Record<string, Raw> {
  const out: Record<string, Raw> = { a0: raw(`&big "${'x'.repeat(size)}"`) };
  for (let i = 1; i <= refs; i++) out[`a${i}`] = raw('*big');
  return out;
}

/** The billion laughs: nine levels of ten aliases (90 aliases, 10^9 strings). */
const LAUGHS = raw(
  `{${Array.from({ length: 10 }, (_, level) => {
    const items = level === 0 ? Array(10).fill('"lol"') : Array(10).fill(`*l${level - 1}`);
    return `"l${level}": &l${level} [${items.join(', ')}]`;
  }).join(', ')}}`,
);

/** YAML alias amplification: large anchors referenced up to 99 times, and the billion laughs. */
function alias(g: Gen): void {
  const { rng } = g;
  const yaml = 'application/yaml';
  for (const k of g.kinds) {
    for (const op of ['create', 'update'] as Op[]) {
      if (!k.ops.includes(op) || (op === 'update' && !k.objects.length)) continue;
      for (const [size, refs] of [
        [64 * KiB, 99],
        [256 * KiB, 99],
      ]) {
        const target = op === 'update' ? rng.pick(k.objects) : undefined;
        const base = target ?? k.fresh!(g.fresh());
        g.write('alias', k, op, { target, text: encode(setAt(base, ['metadata', 'annotations'], aliasedAnnotations(size, refs))), contentType: yaml, what: `annotations: ${size / KiB} KiB × ${refs + 1}` });
      }
      const target = op === 'update' ? rng.pick(k.objects) : undefined;
      g.write('alias', k, op, { target, text: encode(setAt(target ?? k.fresh!(g.fresh()), ['hx'], LAUGHS)), contentType: yaml, what: 'the billion laughs in an unknown field' });
    }
  }
  for (const [plural, segs] of [
    ['packagerevisions', ['spec', 'inputs']],
    ['packagevariants', ['spec', 'packageContext', 'inputs']],
  ] as [string, Seg[]][]) {
    const k = g.kind(plural);
    for (const op of ['create', 'update'] as Op[]) {
      const target = op === 'update' ? rng.pick(k.objects) : undefined;
      const anchor = raw(`&o {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "${'x'.repeat(64 * KiB)}"}}`);
      const items = [anchor, ...Array(98).fill(raw('*o'))];
      g.write('alias', k, op, { target, text: encode(setAt(target ?? k.fresh!(g.fresh()), segs, items)), contentType: yaml, what: `inputs: a 64 KiB object × 99` });
    }
  }
  const prr = g.kind('packagerevisionresources');
  for (const target of drafts(g)) {
    const files: Record<string, Raw> = { 'amp/f0.txt': raw(`&c "${'x'.repeat(200 * KiB)}"`) };
    for (let i = 1; i < 99; i++) files[`amp/f${i}.txt`] = raw('*c');
    g.write('alias', prr, 'update', { target, text: encode(setAt(target, ['spec', 'resources'], { ...target.spec.resources, ...files })), contentType: yaml, what: 'files: 200 KiB × 99 (19 MiB in all)' });
  }
}

/** Draft PackageRevisionResources with the loose update policy (the default), the targets of file writes. */
function drafts(g: Gen): KObject[] {
  const prs = new Map((g.w.objects.packagerevisions ?? []).map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));
  return g.kind('packagerevisionresources').objects.filter((o) => {
    const pr = prs.get(`${o.metadata.namespace}/${o.metadata.name}`);
    return pr?.spec.lifecycle === 'draft' && (pr.spec.updatePolicy ?? 'loose') === 'loose';
  });
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const READ_OPTIONS = [
  'resourceVersionMatch=bogus',
  'resourceVersionMatch=Exact',
  'resourceVersionMatch=NotOlderThan&resourceVersion=abc',
  'resourceVersion=abc',
  'resourceVersion=-1',
  'resourceVersion=99999999999999999999999',
  'resourceVersion=%00',
  'resourceVersion=1e3',
  'resourceVersion=0&resourceVersionMatch=Exact',
  'limit=-1',
  'limit=0',
  'limit=abc',
  'limit=1e3',
  'limit=99999999999999999999',
  'limit=1.5',
  'limit=1&limit=2',
  'limit=1&continue=garbage',
  'continue=garbage',
  `continue=${encodeURIComponent(b64('{"v":"meta.k8s.io/v1","rv":-5,"start":"\u0000"}'))}`,
  `continue=${encodeURIComponent(b64('{"v":"meta.k8s.io/v1","rv":1e400,"start":{}}'))}`,
  `continue=${'A'.repeat(10_000)}`,
  'timeoutSeconds=-5',
  'timeoutSeconds=abc',
  'timeoutSeconds=99999999999999',
  'labelSelector=!!',
  'labelSelector=a%20in%20(',
  'labelSelector=a%3Db%3Dc',
  `labelSelector=${'a'.repeat(10_000)}`,
  `labelSelector=a%20notin%20(${Array(2_000).fill('x').join(',')})`,
  'labelSelector=%00',
  'labelSelector=a%3D%3Db,,c',
  'labelSelector=a%20in%20()',
  'labelSelector=a%3E%3E1',
  `labelSelector=${Array(3_000).fill('a').join(',')}`,
  'fieldSelector=metadata.foo%3Dbar',
  'fieldSelector=spec.x%3D%3D',
  'fieldSelector=metadata.name%20in%20(a)',
  `fieldSelector=${'metadata.name%3Da,'.repeat(2_000)}`,
  'fieldSelector=%3D',
  'fieldSelector=metadata.name%3D%3D%3Dx',
  'fieldSelector=metadata.name%3Da%5C',
  'watch=yes',
  'allowWatchBookmarks=maybe',
  'sendInitialEvents=true',
  'sendInitialEvents=true&resourceVersionMatch=NotOlderThan',
  'sendInitialEvents=bogus',
  'includeObject=bogus',
  'pretty=x',
  'export=true',
];
/** Options kube refuses on every write (CreateOptions, UpdateOptions, PatchOptions). */
const WRITE_OPTIONS = [
  'dryRun=Bogus',
  'dryRun=All&dryRun=Bogus',
  'dryRun=',
  'fieldValidation=X',
  `fieldManager=${'m'.repeat(300)}`,
  `fieldManager=${'m'.repeat(129)}`,
  'fieldManager=%01bad',
  'fieldManager=a%0Ab',
];
/** DeleteOptions in the query that kube refuses. */
const DELETE_QUERY = ['propagationPolicy=X', 'dryRun=Bogus', 'gracePeriodSeconds=abc', 'gracePeriodSeconds=1e99', 'orphanDependents=maybe', 'orphanDependents=true&propagationPolicy=Foreground'];

function query(g: Gen): void {
  const { rng } = g;
  const TABLE = { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' };
  for (const k of g.kinds.filter((x) => !x.review)) {
    for (const opt of READ_OPTIONS) {
      const headers = opt.startsWith('includeObject') ? TABLE : {};
      const verb = rng.pick(['list', 'list', 'watch', 'watch', 'get'] as const);
      g.read('query', k, verb, [opt], `${verb} ?${opt.slice(0, 60)}`, headers);
    }
    for (const opt of WRITE_OPTIONS) {
      // a create that kube would refuse for the option alone; updates and patches that change nothing
      const op = k.fresh && rng.chance(0.4) ? 'create' : rng.pick(k.ops.filter((o) => o !== 'create' && o !== 'apply'));
      if (op) g.write('query', k, op, { query: [opt], what: `${verbOf(op)} ?${opt.slice(0, 60)}` });
    }
    if (k.deletable) for (const opt of DELETE_QUERY) g.del('query', k, undefined, `delete ?${opt}`, [opt]);
  }
  for (const k of g.kinds.filter((x) => x.review)) for (const opt of WRITE_OPTIONS.slice(0, 4)) g.write('query', k, 'create', { query: [opt], what: `create ?${opt.slice(0, 60)}` });
}

const METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE', 'TRACE', 'PROPFIND'];

/** A request of `method` at a bad path, with a body that changes nothing even where the path is read as a real one. */
function atPath(g: Gen, family: Family, method: string, path: string, what: string, resource = '-'): void {
  const bodies: Record<string, [string, string] | undefined> = {
    POST: ['application/json', '{}'],
    PUT: ['application/json', '{}'],
    PATCH: ['application/merge-patch+json', '{}'],
  };
  const b = bodies[method];
  const sep = path.includes('?') ? '&' : '?';
  g.add({
    family,
    resource,
    verb: method,
    method,
    path: method === 'DELETE' ? `${path}${sep}dryRun=All` : path,
    headers: b ? { 'Content-Type': b[0] } : {},
    body: b ? Buffer.from(b[1]) : undefined,
    dryRun: method === 'DELETE',
    what,
  });
}

function urls(g: Gen): void {
  const { rng, w } = g;
  const ns = w.namespace;
  const pr = g.kind('packagerevisions').objects[0]?.metadata.name ?? 'x';
  const coll = `${PKG}/namespaces/${ns}/packagerevisions`;
  const item = `${coll}/${pr}`;
  const paths = [
    `${coll}/%ZZ`,
    `${PKG}/namespaces/%ZZ/packagerevisions`,
    `${PKG}/namespaces/${ns}/%ZZ`,
    `/apis/%ZZ/v1alpha1/namespaces/${ns}/packagerevisions`,
    `/apis/pkg.pkgserver.dev/%ZZ/packagerevisions`,
    `${item}/%ZZ`,
    `${coll}/%`,
    `${coll}/a%E0%A4%A`,
    `${coll}/%C0%AF`,
    `${coll}/%FF`,
    `${coll}/%00`,
    `${coll}/a%00b`,
    `${coll}/a%2Fb`,
    `${coll}/%2E%2E`,
    `${coll}/..`,
    `${coll}/../repositories`,
    `${PKG}//namespaces//${ns}//packagerevisions`,
    `${item}/`,
    `${item}/.`,
    `${coll}/${'a'.repeat(10_000)}`,
    `${PKG}/namespaces/${'a'.repeat(300)}/packagerevisions`,
    `${PKG}/${'x/'.repeat(1_000)}`,
    `${coll}?${'a=b&'.repeat(3_000)}`,
    `/${'a'.repeat(100_000)}`,
    `${item}/foo`,
    `${item}/status/x`,
    `${item}/approval/x/y`,
    `${item}/resources`,
    `${item}/exec`,
    `${item}/proxy`,
    `${item}/scale`,
    `${item}/status/`,
    `${PKG}/namespaces/${ns}/packagerevisionresources/${pr}/status`,
    `${CFG}/namespaces/${ns}/repositories/${w.catalog}/approval`,
    `${CORE}/namespaces/${ns}/events/x/status`,
    `/apis/pkg.pkgserver.dev/v9/namespaces/${ns}/packagerevisions`,
    '/apis/nope.example.com/v1/things',
    '/api/v2/namespaces',
    '/api/v1/pods',
    `${PKG}/namespaces/${ns}/nope`,
    `${CORE}/namespaces/${ns}/events/x/y/z`,
    `${PKG}/namespaces/UPPER/packagerevisions`,
    `${PKG}/namespaces/%20/packagerevisions`,
    `${PKG}/namespaces//packagerevisions`,
    `${PKG}/namespaces/packagerevisions`,
    `${PKG}/watch/namespaces/${ns}/packagerevisions`,
    `${PKG}/watch`,
    `${PKG}/watch/packagerevisions/%ZZ`,
    '/healthz/%ZZ',
    '/livez/x/y',
    '/readyz?verbose=x&exclude=%ZZ',
    '/openapi/v3/apis/%ZZ/v1',
    '/openapi/v3/apis/pkg.pkgserver.dev',
    '/openapi/v3/apis/../../etc/passwd',
    '/openapi/v2/x',
    '/metrics/x',
    '/version/x',
    '/api/%ZZ',
    '/apis/%ZZ',
    '/apis/pkg.pkgserver.dev/%ZZ',
    '/%ZZ',
    '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews/x',
    `/apis/authorization.k8s.io/v1/namespaces/${ns}/selfsubjectaccessreviews`,
    '/apis/authentication.k8s.io/v1/selfsubjectreviews/%ZZ',
    `${item}/approval?x=%ZZ`,
    `${coll}?labelSelector=%ZZ`,
    `${coll}?%ZZ=1`,
    `${coll}?limit=%ZZ`,
    `${coll}?watch=true&resourceVersion=%ZZ`,
  ];
  for (const p of paths) for (const method of [rng.pick(METHODS), rng.pick(METHODS), 'GET']) atPath(g, 'url', method, p, `${method} ${p.slice(0, 100)}`);
  // every resource: an unreadable name, an unknown subresource, a NUL, and every method at the self reviews
  for (const k of g.kinds) {
    const base = `${k.prefix}${k.namespaced ? `/namespaces/${ns}` : ''}/${k.plural}`;
    const name = k.objects[0]?.metadata.name ?? 'x';
    for (const [p, what] of [
      [`${base}/%ZZ`, 'name %ZZ'],
      [`${base}/${encodeURIComponent(name)}/bogus`, 'unknown subresource'],
      [`${base}/a%00`, 'a NUL in the name'],
      [`${base}/${encodeURIComponent(name)}/status/%ZZ`, 'status/%ZZ'],
    ])
      atPath(g, 'url', rng.pick(METHODS.slice(0, 7)), p, what, k.plural);
    if (k.review) for (const method of METHODS.filter((m) => m !== 'POST')) atPath(g, 'url', method, base, `${method} of a self review`, k.plural);
  }
}

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json; charset=utf-16',
  'application/json; charset=bogus',
  'application/json;;;',
  'application/json; a="unterminated',
  '*/*',
  'application/*',
  'application/vnd.kubernetes.protobuf',
  'application/yaml; charset=x',
  '',
  'x'.repeat(8_000),
  'APPLICATION/JSON',
  'application/json-patch+json',
  'application/apply-patch+yaml',
];
const ACCEPTS = [
  'application/vnd.kubernetes.protobuf',
  'application/json;as=Table;v=v9;g=meta.k8s.io',
  'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io',
  'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io',
  'application/json;as=Bogus',
  '*/*;q=abc',
  'text/html',
  'a'.repeat(8_000),
  'application/yaml',
  ', , ,',
  'application/json;q=0',
  'application/json;as=Table;g=meta.k8s.io;v=v1beta1;as=Table',
];
const IMPERSONATION: Record<string, string>[] = [
  { 'Impersonate-Group': 'x' },
  { 'Impersonate-User': '' },
  { 'Impersonate-Uid': 'x' },
  { 'Impersonate-User': 'nobody', 'Impersonate-Extra-%ZZ': 'v' },
  { 'Impersonate-User': 'nobody' },
  { 'Impersonate-User': 'system:anonymous' },
  { 'Impersonate-User': 'a'.repeat(10_000) },
  { 'Impersonate-User': 'nobody', 'Impersonate-Group': 'system:masters' },
];

/** Bodies that are not what Content-Encoding says, Content-Types and Accepts no one serves, bad impersonation. */
function headers(g: Gen): void {
  const { rng } = g;
  // a gzip bomb: 64 MiB of spaces in 64 KiB
  const bomb = zlib.gzipSync(Buffer.alloc(64 * MiB, ' '));
  g.write('header', g.kind('packagerevisions'), 'merge', { text: bomb, headers: { 'Content-Encoding': 'gzip' }, what: 'Content-Encoding: a gzip of 64 MiB of spaces' });
  g.write('header', g.kind('selfsubjectaccessreviews'), 'create', { text: bomb, headers: { 'Content-Encoding': 'gzip' }, what: 'Content-Encoding: a gzip of 64 MiB of spaces' });
  for (const k of g.kinds) {
    const ops = k.ops.filter((o) => o !== 'apply');
    for (let n = 0; n < 8; n++) {
      const op = rng.pick(ops);
      if (op !== 'create' && !k.objects.length) continue;
      const target = op === 'create' ? undefined : rng.pick(k.objects);
      // a body that creates nothing unless it is a dry run, and changes nothing when it is an update or patch
      const plain = op === 'create' ? encode(k.fresh!(g.fresh())) : op === 'update' ? encode(target) : op === 'json' ? '[]' : '{}';
      const [ce, body, what] = rng.pick<[string, Buffer, string]>([
        ['gzip', Buffer.from(plain), 'gzip, not gzip'],
        ['deflate', Buffer.from(plain), 'deflate, not deflate'],
        ['br', Buffer.from(plain), 'br, not br'],
        ['gzip, gzip', zlib.gzipSync(plain), 'gzip twice, once'],
        ['bogus', Buffer.from(plain), 'an unknown encoding'],
        ['x-gzip', Buffer.from(plain), 'x-gzip, not gzip'],
        ['gzip', zlib.gzipSync(plain).subarray(0, 20), 'truncated gzip'],
        ['gzip', zlib.gzipSync(plain), 'gzip'],
        ['identity', Buffer.from(plain), 'identity'],
      ]);
      g.write('header', k, op, { target, text: body, headers: { 'Content-Encoding': ce }, dryRun: op === 'create', what: `Content-Encoding: ${what}` });
    }
    for (let n = 0; n < 8; n++) {
      const op = rng.pick(ops);
      if (op !== 'create' && !k.objects.length) continue;
      const target = op === 'create' ? undefined : rng.pick(k.objects);
      const ct = rng.pick(CONTENT_TYPES);
      const plain = op === 'create' ? encode(k.fresh!(g.fresh())) : op === 'update' ? encode(target) : op === 'json' ? '[]' : '{}';
      g.write('header', k, op, { target, text: plain, contentType: ct, dryRun: op === 'create', what: `Content-Type: ${ct.slice(0, 60)}` });
    }
    if (!k.review)
      for (const accept of ACCEPTS) g.read('header', k, rng.pick(['get', 'list', 'watch'] as const), [], `Accept: ${accept.slice(0, 60)}`, { Accept: accept });
    for (const h of IMPERSONATION) {
      if (k.review) g.write('header', k, 'create', { headers: h, what: `impersonation ${JSON.stringify(h).slice(0, 80)}` });
      else if (k.objects.length) {
        const op = rng.pick(['update', 'merge', 'json'] as Op[]);
        if (k.ops.includes(op)) g.write('header', k, op, { headers: h, what: `impersonation ${JSON.stringify(h).slice(0, 80)}` });
        g.read('header', k, 'list', [], `impersonation ${JSON.stringify(h).slice(0, 80)}`, h);
      }
    }
  }
  for (const [path, h] of [
    ['/api', { 'Audit-ID': 'x'.repeat(8_000) }],
    ['/apis', { 'Audit-ID': '\u00ff\u00fe' }],
    ['/version', { 'X-Forwarded-For': 'garbage, ,,, 999.999.999.999' }],
    ['/openapi/v2', { 'If-None-Match': '"' }],
    ['/openapi/v2', { Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf;q=x' }],
    ['/openapi/v3', { 'Accept-Encoding': 'gzip;q=x' }],
    ['/apis', { Accept: 'application/json;g=apidiscovery.k8s.io;v=v9;as=APIGroupDiscoveryList' }],
    ['/api', { Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=Bogus' }],
  ] as [string, Record<string, string>][])
    g.add({ family: 'header', resource: '-', verb: 'GET', method: 'GET', path, headers: h, what: `${path} ${JSON.stringify(h).slice(0, 80)}` });
}

const BAD_PATHS = [
  'new\nline.yaml',
  'cr\rreturn.yaml',
  'rtl\u202Eevil.yaml',
  'lro\u202Dx.yaml',
  '\u2066isolate.yaml',
  'zw\u200Bsp.yaml',
  'ls\u2028sep.yaml',
  ' ',
  ' lead.yaml',
  'trail.yaml ',
  'dir /x.yaml',
  ' dir/x.yaml',
  'a'.repeat(5_000),
  `${'d/'.repeat(600)}x.yaml`,
  '.gitmodules',
  '.gitattributes',
  'sub/.gitmodules',
  'sub/.gitattributes',
  '.git/config',
  '.git',
  'x/.git/hooks/pre-commit',
  '../escape.yaml',
  '/abs.yaml',
  'a//b.yaml',
  './a.yaml',
  'a/./b.yaml',
  'a/../b.yaml',
  '',
  '.',
  '..',
  'a/',
  'a\u0000b.yaml',
  'tab\there.yaml',
  'bell\u0007.yaml',
  'del\u007f.yaml',
  'nel\u0085.yaml',
  'Kptfile/x',
  '\uD800.yaml',
];
const BAD_CONTENTS = [
  'a: *nope',
  'a: [',
  'a: b: c',
  'a:\n\t- x',
  'a: 1\na: 2',
  '---\na: 1\n---\nb: [',
  'a: "\u0000"',
  'a: &x [*x]',
  `a: ${'['.repeat(20_000)}${']'.repeat(20_000)}`,
  `${Array.from({ length: 10 }, (_, l) => `l${l}: &l${l} [${Array(10).fill(l ? `*l${l - 1}` : '"lol"').join(', ')}]`).join('\n')}\n`,
];

/** PackageRevisionResources writes with paths and contents a package may not have, and writes that must change nothing. */
function prrFiles(g: Gen): void {
  const { rng } = g;
  const k = g.kind('packagerevisionresources');
  const editable = drafts(g);
  if (!editable.length) return;
  const others = k.objects.filter((o) => !editable.includes(o));
  const target = () => (others.length && rng.chance(0.2) ? rng.pick(others) : rng.pick(editable));
  const ops: Op[] = ['update', 'merge', 'json', 'strategic'];
  const write = (files: Record<string, string>, what: string, t = target()) => {
    const op = rng.pick(ops);
    const [[p, c], ...more] = Object.entries(files);
    if (op === 'update') g.write('prr-files', k, op, { target: t, segs: ['spec', 'resources'], value: { ...t.spec.resources, ...files }, what });
    else if (op === 'json' && !more.length) g.write('prr-files', k, op, { target: t, segs: ['spec', 'resources', p], value: c, what });
    else g.write('prr-files', k, op === 'json' ? 'merge' : op, { target: t, segs: ['spec', 'resources'], value: files, what });
  };
  for (const p of BAD_PATHS) for (let n = 0; n < 3; n++) write({ [p]: 'a: 1\n' }, `path ${JSON.stringify(p.slice(0, 60))}`);
  for (const c of BAD_CONTENTS) for (let n = 0; n < 3; n++) write({ [rng.pick(['hx-bad.yaml', 'sub/hx-bad.yml', 'Kptfile'])]: c }, `content ${JSON.stringify(c.slice(0, 60))}`);
  for (const t of editable) {
    const existing = Object.keys(t.spec.resources)[0];
    write({ [`${existing}/x`]: 'a: 1\n' }, `a file under the existing file ${existing}`, t);
    write({ 'hx-dir': 'a: 1\n', 'hx-dir/x.yaml': 'a: 1\n' }, 'a file and a directory of one name', t);
    write({ '\u00e9.yaml': 'a: 1\n', 'e\u0301.yaml': 'a: 2\n' }, 'NFC and NFD of one name', t);
    // nothing to write: must not commit nor bump the resourceVersion
    g.write('prr-files', k, 'merge', { target: t, text: '{"spec": null}', what: '{"spec": null}' });
    g.write('prr-files', k, 'merge', { target: t, text: '{"spec": {"resources": null}}', what: '{"spec": {"resources": null}}' });
    g.write('prr-files', k, 'merge', { target: t, text: '{"spec": {"resources": {}}}', what: '{"spec": {"resources": {}}}' });
    g.write('prr-files', k, 'json', { target: t, text: '[{"op": "remove", "path": "/spec"}]', what: 'JSON patch remove /spec' });
    g.write('prr-files', k, 'update', { target: t, text: encode({ ...t, spec: { packageRevID: t.spec.packageRevID } }), what: 'PUT without spec.resources' });
  }
}

/** Repository locations (URL, ref, directory, credentials, period) a Repository may not have. */
function repoURLs(g: Gen): void {
  const { rng, w } = g;
  const k = g.kind('repositories');
  const catalogURL = String(k.objects.find((o) => o.metadata.name === w.catalog)?.spec.git.url ?? '');
  const dd = w.dataDir;
  const bad: [Seg[], string][] = [
    ...[
      dd,
      `${dd}/git`,
      `${dd}/git/${w.namespace}`,
      `file://${dd}`,
      `${dd}/store.db`,
      `${dd}/pki`,
      `${w.localRoot}/../${dd.replace(/^\//, '')}`,
      '/proc/self/environ',
      'file:///proc/self/environ',
      '/proc/self/cwd',
      '/',
      'file:///',
      '/etc',
      '/dev/zero',
      '/dev/urandom',
      `${w.localRoot}/x\u0000y`,
      `${w.localRoot}/../etc`,
      `${w.localRoot}/x/../../etc`,
      'file:',
      'file://',
      'file://relative',
      'relative/path',
      './x',
      '~/x',
      'ext::sh -c touch% /tmp/hx-pwned',
      '--upload-pack=touch /tmp/hx-pwned',
      '-oProxyCommand=x',
      'ssh://host/x',
      'git://host/x',
      'ftp://host/x',
      'http://user:pw@host/x.git',
      'https://',
      'https:///x',
      'http://[::1/x',
      'https://host/x\ny',
      'https://host/ x',
      'javascript:alert(1)',
      'C:\\repo',
      '\\\\server\\share',
      catalogURL,
      `${catalogURL}/`,
      catalogURL.replace(/\.git$/, ''),
      `file://${catalogURL}`,
    ].map((u): [Seg[], string] => [['spec', 'git', 'url'], u]),
    ...['refs/heads/x', 'HEAD', '../x', '-x', 'a..b', 'x.lock', '', ' ', 'a b', 'a~1', 'a:b', '@', 'x'.repeat(300), 'a\u0000b'].map((r): [Seg[], string] => [['spec', 'git', 'ref'], r]),
    ...[' ', '/abs', '../x', 'a/../../b', '.git', 'a//b', 'a\nb', '.', 'a/.git/b'].map((d): [Seg[], string] => [['spec', 'git', 'directory'], d]),
    ...['../../etc/passwd', ' ', 'UPPER', 'a/b', 'x'.repeat(300)].map((c): [Seg[], string] => [['spec', 'git', 'credentials'], c]),
    ...['-1s', '0', '0s', '1ns', 'abc', '9999999999h', ''].map((p): [Seg[], string] => [['spec', 'sync', 'period'], p]),
    [['spec', 'type'], 'svn'],
  ];
  for (const [segs, value] of bad) {
    g.write('repo-url', k, 'create', { segs, value, what: `${label(segs)} = ${JSON.stringify(value.slice(0, 80))}` });
    if (label(segs).startsWith('spec.git.') && rng.chance(0.3)) {
      // immutable in an update, bad besides
      const op = rng.pick(['update', 'merge', 'json', 'strategic'] as Op[]);
      g.write('repo-url', k, op, { segs, value, what: `${verbOf(op)} ${label(segs)} = ${JSON.stringify(value.slice(0, 80))}` });
    }
  }
  // the same in another namespace (a team's own): the data directory is nobody's
  for (const url of [dd, `${dd}/git`, '/proc/self/environ']) {
    const i = g.fresh();
    g.add({
      family: 'repo-url',
      resource: 'repositories',
      verb: 'create',
      method: 'POST',
      path: `${CFG}/namespaces/${w.emptyNamespace}/repositories`,
      headers: { 'Content-Type': 'application/json' },
      body: Buffer.from(encode(setAt(k.fresh!(i), ['spec', 'git', 'url'], url))),
      what: `in ${w.emptyNamespace}: spec.git.url = ${url}`,
    });
  }
}

/** PackageVariants and PackageRevisions that name what they may not (bad names, wrong kinds of repository, changes of immutable references). */
function references(g: Gen): void {
  const { w } = g;
  const pv = g.kind('packagevariants');
  const pr = g.kind('packagerevisions');
  const certain: [Seg[], unknown][] = [
    ...['', '../x', 'A', 'a/b', 'x'.repeat(300), 'a\u0000'].map((v): [Seg[], unknown] => [['spec', 'upstream', 'repository'], v]),
    ...['', 'a/b', '..', ' ', '-x'].map((v): [Seg[], unknown] => [['spec', 'upstream', 'package'], v]),
    ...['/a', 'a/', 'a//b', '..', 'a/../b'].map((v): [Seg[], unknown] => [['spec', 'upstream', 'realm'], v]),
    ...['>=abc <', 'v1 || ../x', '!!', 'x'.repeat(10_000)].map((v): [Seg[], unknown] => [['spec', 'upstream', 'revision'], v]),
    ...['', 'UP', '-x', 'a.b', 'x'.repeat(100)].map((v): [Seg[], unknown] => [['spec', 'downstream', 'target'], v]),
    ...['../x', ''].map((v): [Seg[], unknown] => [['spec', 'downstream', 'repository'], v]),
    ...['a/b', 'v2', ''].map((v): [Seg[], unknown] => [['spec', 'downstream', 'package'], v]),
    [['spec', 'downstream', 'realm'], '..'],
    [['spec', 'packageContext', 'labels'], { 'bad key!': 'x' }],
    [['spec', 'packageContext', 'annotations'], { '': 'x' }],
    [['spec', 'packageContext', 'readinessGates'], [{ conditionType: 'a' }, { conditionType: 'a' }]],
    [['spec', 'adoptionPolicy'], 'bogus'],
    [['spec', 'deletionPolicy'], 'bogus'],
  ];
  for (const [segs, value] of certain) g.write('references', pv, 'create', { segs, value, what: `${label(segs)} = ${JSON.stringify(value).slice(0, 80)}` });
  // references that only a reconcile can find dangling: kube takes them
  const dangling: [Seg[], unknown][] = [
    [['spec', 'upstream', 'repository'], 'nope'],
    [['spec', 'upstream'], { repository: w.deploy, package: 'app' }],
    [['spec', 'downstream', 'repository'], w.catalog],
    [['spec', 'upstream', 'package'], 'nope'],
    [['spec', 'upstream', 'revision'], 'v99'],
    [['spec', 'packageContext', 'inputs'], [{}]],
    [['spec', 'packageContext', 'readinessGates'], [{ conditionType: '' }]],
    [['spec', 'upstream', 'revision'], '\n'],
    [['spec', 'upstream', 'realm'], 'v2/x'],
    [['spec', 'upstream', 'package'], 'v1'],
  ];
  for (const [segs, value] of dangling) g.write('references', pv, 'create', { segs, value, dryRun: true, what: `${label(segs)} = ${JSON.stringify(value)}` });
  for (const target of pv.objects)
    for (const [segs, value] of [
      [['spec', 'downstream', 'package'], 'other'],
      [['spec', 'downstream', 'repository'], w.catalog],
      [['spec', 'upstream', 'repository'], '../x'],
    ] as [Seg[], unknown][])
      for (const op of ['update', 'merge', 'json'] as Op[]) g.write('references', pv, op, { target, segs, value, what: `${verbOf(op)} ${label(segs)} = ${JSON.stringify(value)}` });
  // PackageRevisions: what they clone, which tasks, which identity
  const up = { repository: w.catalog, package: w.upstream.package, revision: w.upstream.revision };
  const prCases: [string, (o: any) => void][] = [
    ['a clone of a repository that does not exist', (o) => Object.assign(o.spec, { tasks: [{ type: 'clone' }], upstream: { ...up, repository: 'nope' } })],
    ['a clone of a deployment repository', (o) => Object.assign(o.spec, { tasks: [{ type: 'clone' }], upstream: { repository: w.deploy, package: 'app' } })],
    ['a clone of a package that does not exist', (o) => Object.assign(o.spec, { tasks: [{ type: 'clone' }], upstream: { ...up, package: 'nope' } })],
    ['a clone of a revision that does not exist', (o) => Object.assign(o.spec, { tasks: [{ type: 'clone' }], upstream: { ...up, revision: 'v99' } })],
    ['a clone with realm ..', (o) => Object.assign(o.spec, { tasks: [{ type: 'clone' }], upstream: { ...up, realm: '..' } })],
    ['an upgrade without a published revision', (o) => Object.assign(o.spec, { tasks: [{ type: 'upgrade' }], upstream: up })],
    ['no task', (o) => Object.assign(o.spec, { tasks: [] })],
    ['two tasks', (o) => Object.assign(o.spec, { tasks: [{ type: 'init' }, { type: 'clone' }], upstream: up })],
    ['an unknown task', (o) => Object.assign(o.spec, { tasks: [{ type: 'bogus' }] })],
    ['a task without a type', (o) => Object.assign(o.spec, { tasks: [{}] })],
    ['a name that is not its packageRevID', (o) => (o.metadata.name = `c9.${w.deploy}..other.ws1`)],
    ['a repository that does not exist', (o) => (o.spec.packageRevID.repository = 'nope')],
    ['the catalog target in a deployment repository', (o) => (o.spec.packageRevID.target = 'catalog')],
    ['created published', (o) => (o.spec.lifecycle = 'published')],
    ['created with a revision', (o) => (o.spec.packageRevID.revision = 'v1')],
    ['a realm of ..', (o) => (o.spec.packageRevID.realm = '..')],
    ['a package named like a revision', (o) => (o.spec.packageRevID.package = 'v3')],
    ['an existing name', (o) => Object.assign(o, clone(pr.objects[0] ?? o), { status: undefined, metadata: { name: pr.objects[0]?.metadata.name } })],
  ];
  for (const [what, edit] of prCases) {
    const o = pr.fresh!(g.fresh()) as any;
    edit(o);
    if (what !== 'a name that is not its packageRevID' && what !== 'an existing name') o.metadata.name = `${o.spec.packageRevID.target}.${o.spec.packageRevID.repository}.${String(o.spec.packageRevID.realm ?? '').replace(/\//g, ':')}.${o.spec.packageRevID.package}.${o.spec.packageRevID.workspace}`;
    g.write('references', pr, 'create', { text: encode(o), what });
  }
}

/** A sample of the requests without a client certificate: each must be 401 whatever it is. */
function unauthenticated(g: Gen): void {
  const open = /^\/(healthz|livez|readyz|version)([/?]|$)/;
  // a path that is no URL (%ZZ) is refused before anyone is authenticated, by kube's HTTP server too
  const decodable = (p: string) => {
    try {
      decodeURIComponent(p.split('?')[0]);
      return true;
    } catch {
      return false;
    }
  };
  const candidates = g.out.filter((r) => r.path.length < 4_000 && decodable(r.path) && (r.body?.length ?? 0) < 64 * KiB && !open.test(r.path) && METHODS.slice(0, 7).includes(r.method));
  for (let n = 0; n < 150 && candidates.length; n++) {
    const r = g.rng.pick(candidates);
    g.out.push({ ...r, id: g.out.length, family: 'unauthenticated', anonymous: true, destructive: false, what: `[${r.family}] ${r.what}` });
  }
}

/** Every request of every family for the world, shuffled by the seed; those that would delete something if obeyed come last. */
export function generate(seed: number, w: World): HostileRequest[] {
  const g = new Gen(new Rng(seed), w);
  for (const family of [wrongTypes, malformed, yamlTags, deep, huge, alias, query, urls, headers, prrFiles, repoURLs, references, unauthenticated]) family(g);
  const all = g.rng.shuffle(g.out);
  return [...all.filter((r) => !r.destructive), ...all.filter((r) => r.destructive)].map((r, id) => ({ ...r, id }));
}

/** What the requests must cover: `resource|verb|subresource` for every kind, verb and subresource, and `family|F` for every family. */
export function requiredCoverage(w: World): string[] {
  const out = FAMILIES.map((f) => `family|${f}`);
  for (const k of kinds(w)) {
    const verbs = [...k.ops.map(verbOf), ...(k.review ? [] : ['get', 'list', 'watch']), ...(k.deletable ? ['delete'] : [])];
    for (const v of verbs) out.push(`${k.plural}|${v}|`);
    for (const sub of k.subresources) for (const v of ['update', 'patch:merge', 'patch:json', 'patch:strategic']) out.push(`${k.plural}|${v}|${sub}`);
  }
  return out;
}

/** What the requests do cover, in the terms of requiredCoverage. */
export function coverage(reqs: HostileRequest[]): Set<string> {
  const out = new Set<string>();
  for (const r of reqs) {
    out.add(`family|${r.family}`);
    out.add(`${r.resource}|${r.verb}|${r.subresource ?? ''}`);
  }
  return out;
}

// ---------------------------------------------------------------- sending

export interface Outcome {
  /** undefined when no response came */
  status?: number;
  /** the first 2,000 characters of the body */
  body: string;
  ms: number;
  /** no complete response within the deadline */
  hang: boolean;
  /** the connection failed (not a deadline) */
  error?: string;
  /** not sent: the run was stopped */
  skipped?: boolean;
}

/** Sends hostile requests over HTTPS, with keep-alive connections, a bounded concurrency and a deadline per request. */
export class Runner {
  private readonly admin: https.Agent;
  private readonly anonymous: https.Agent;
  private readonly url: URL;
  hangs = 0;

  constructor(
    baseURL: string,
    private readonly tls: { ca: string; cert: string; key: string },
    private readonly opts: { concurrency: number; timeoutMs: number },
  ) {
    this.url = new URL(baseURL);
    this.admin = new https.Agent({ keepAlive: true, maxSockets: opts.concurrency, ca: tls.ca, cert: tls.cert, key: tls.key });
    this.anonymous = new https.Agent({ keepAlive: true, maxSockets: opts.concurrency, ca: tls.ca });
  }

  send(r: HostileRequest): Promise<Outcome> {
    const started = Date.now();
    return new Promise((resolve) => {
      let settled = false;
      let body = '';
      const done = (o: Omit<Outcome, 'ms' | 'body'> & { body?: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (o.hang) this.hangs++;
        resolve({ body, ...o, ms: Date.now() - started });
      };
      const headers: Record<string, string> = { ...r.headers };
      if (r.body) headers['Content-Length'] = String(r.body.length);
      let req: ReturnType<typeof https.request>;
      try {
        req = https.request({
          method: r.method,
          hostname: this.url.hostname,
          port: this.url.port,
          path: r.path,
          headers,
          ca: this.tls.ca,
          ...(r.anonymous ? { agent: this.anonymous } : { agent: this.admin, cert: this.tls.cert, key: this.tls.key }),
        });
      } catch (e) {
        resolve({ body: '', ms: 0, hang: false, error: `the client refused to send it: ${(e as Error).message}` });
        return;
      }
      const timer = setTimeout(() => {
        done({ hang: true });
        req.destroy();
      }, this.opts.timeoutMs);
      req.on('error', (e) => done({ hang: false, error: e.message }));
      req.on('response', (res) => {
        if (r.watch && res.statusCode === 200) {
          done({ status: 200, hang: false });
          res.destroy();
          req.destroy();
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (body.length < 2_000) body += c.slice(0, 2_000 - body.length);
        });
        res.on('end', () => done({ status: res.statusCode, hang: false }));
        res.on('error', (e) => done({ status: res.statusCode, hang: false, error: e.message }));
      });
      req.end(r.body);
    });
  }

  /** Sends every request, `concurrency` at a time, in order; once `stop()` gives a reason, the rest are skipped. */
  async run(reqs: HostileRequest[], stop: () => string | undefined): Promise<Outcome[]> {
    const out: Outcome[] = new Array(reqs.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < reqs.length; i = next++) {
        const why = stop();
        out[i] = why ? { body: why, ms: 0, hang: false, skipped: true } : await this.send(reqs[i]);
      }
    };
    await Promise.all(Array.from({ length: this.opts.concurrency }, worker));
    return out;
  }

  close(): void {
    this.admin.destroy();
    this.anonymous.destroy();
  }
}
