// Server-side apply and field ownership (kube's field manager), on plain JSON objects.
//
//   apply(live, managedFields, applied, manager, opts)   → { object, managedFields, changed }
//   update(liveOld, liveNew, managedFields, manager, opts) → { object, managedFields, changed }
//
// apply merges an applied configuration into the live object (undefined to create), records the
// fields the configuration sets as the manager's `Apply` entry, removes the fields the manager
// applied last time, no longer sends and no one else owns, and refuses with an ApplyConflictError
// (kube's wording, one cause per field) to change a field another manager owns, unless `force`,
// which takes the fields over. update records a non-apply write (create, update, any patch):
// every field that changed goes to the manager's `Update` entry and is taken from the others,
// never a conflict; managedFields sent in the new object replace the stored ones, `[{}]` clears
// them. Both return metadata.managedFields as kube writes them (manager, operation, apiVersion,
// time, fieldsType FieldsV1, fieldsV1, subresource), sorted as kube sorts them, empty entries
// dropped; updates keep at most 10 Update entries (older ones merged into "ancient-changes"). An
// Apply entry's time moves only when the apply changes the object. When neither the object nor
// the ownership changes, the stored entries come back untouched and `changed` is false.
//
// Fields never tracked: apiVersion, kind, metadata itself, metadata.name, namespace, uid,
// resourceVersion, generation, creationTimestamp, selfLink, managedFields; and the reset fields of
// the endpoint (opts.resetFields; by default `status` on the main resource and `spec` on the status
// subresource, as kube for custom resources), whose applied values are also ignored.
//
// The type of the object (opts.type, see schema.ts fromOpenAPI) decides what merges how; without
// it every map is granular and every list atomic (kube's deduced type). Inputs are never changed
// (frozen objects are fine). The merge, pruning and ownership follow sigs.k8s.io/structured-merge-diff,
// checked against it by test/apiserver/apply/oracle.test.ts; docs/apply.md lists the differences.

import { FieldSet, FieldsV1Error, field, goJSON, pathString, type FieldsV1, type Json, type Path } from './fieldpath.ts';
import { deduced, type TypeNode } from './schema.ts';
import { compare, deepEqual, dropNulls, ensureNamedFieldsAreMembers, isObject, merge, removeItems, toFieldSet, validate, type JsonObject } from './typed.ts';

/** A Kubernetes object as JSON (plain data: objects, arrays, strings, numbers, booleans, null). */
export type AnyObject = Record<string, unknown>;

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: 'Apply' | 'Update' | string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: FieldsV1;
  subresource?: string;
}

export interface Options {
  /** The object's type (schema.ts). Default: deduced. */
  type?: TypeNode;
  /** The API version of the request; default: the applied (or new) object's apiVersion. */
  apiVersion?: string;
  /** The subresource written through ('status', 'approval'), if any. */
  subresource?: string;
  /** Fields this endpoint does not write, as paths of field names. Default: [['status']] on the main resource, [['spec']] on 'status'. */
  resetFields?: string[][];
  /** The time of the write (managedFields entries' `time`). Default: now. */
  now?: Date;
}

export interface ApplyOptions extends Options {
  force?: boolean;
}

export interface UpdateOptions extends Options {
  /** Default 'Update'. */
  operation?: 'Update' | 'Apply';
}

export interface Result {
  /** The object to store, with metadata.managedFields set (left out when there are none). */
  object: AnyObject;
  managedFields: ManagedFieldsEntry[];
  /** False when nothing changes (same object, same ownership): the caller need not write. */
  changed: boolean;
}

export interface Conflict {
  /** The manager as kube prints it, e.g. `"kubectl-client-side-apply" using v1`. */
  manager: string;
  /** The field, e.g. `.spec.replicas`. */
  field: string;
}

/** An apply that would change fields owned by other managers. Maps to 409 Conflict, reason Conflict. */
export class ApplyConflictError extends Error {
  readonly code = 409;
  readonly reason = 'Conflict';
  /** conflicts[i]'s field as a path. */
  readonly paths: Path[];
  constructor(
    readonly conflicts: Conflict[],
    paths: Path[] = [],
  ) {
    super(conflictMessage(conflicts));
    this.paths = paths;
  }
  /** metav1.Status details.causes, as kube fills them. */
  get causes(): { reason: 'FieldManagerConflict'; message: string; field: string }[] {
    return this.conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${c.manager}`, field: c.field }));
  }
}

/** An applied configuration (or managedFields) that cannot be used. Maps to 400 BadRequest (or 422 with the causes). */
export class ApplyInvalidError extends Error {
  readonly code = 400;
  constructor(message: string, readonly errors: string[] = [message]) {
    super(message);
  }
}

/** kube's message; the managers in the order of the conflicts (takeOver lists them as kube sorts them, by identifier). */
function conflictMessage(conflicts: Conflict[]): string {
  if (conflicts.length === 1) return `Apply failed with 1 conflict: conflict with ${conflicts[0].manager}: ${conflicts[0].field}`;
  const by = new Map<string, string[]>();
  for (const c of conflicts) by.set(c.manager, [...(by.get(c.manager) ?? []), c.field]);
  const lines: string[] = [];
  for (const m of by.keys()) {
    lines.push(`conflicts with ${m}:`);
    for (const f of by.get(m)!) lines.push(`- ${f}`);
  }
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
}

// ---- managers ----

interface Manager {
  manager: string;
  operation: string;
  apiVersion: string;
  subresource?: string;
  time?: string;
  set: FieldSet;
}

/** kube's manager identifier: the entry's JSON without fields and time, and without apiVersion for appliers. */
function identity(m: { manager: string; operation: string; apiVersion: string; subresource?: string }): string {
  const id: Record<string, string> = {};
  if (m.manager) id.manager = m.manager;
  if (m.operation) id.operation = m.operation;
  if (m.operation !== 'Apply' && m.apiVersion) id.apiVersion = m.apiVersion;
  if (m.subresource) id.subresource = m.subresource;
  return JSON.stringify(id);
}

/** A manager as kube prints it in conflicts (printManager over the identifier, which has no time). */
function printManager(m: Manager): string {
  let s = JSON.stringify(m.manager);
  if (m.subresource) s += ` with subresource ${JSON.stringify(m.subresource)}`;
  if (m.operation === 'Update') s += ` using ${m.apiVersion}`;
  return s;
}

/**
 * The field sets of frozen FieldsV1 values (stored objects are: the registry freezes what it
 * decodes), parsed once: an update reads the same stored entries several times, and every write
 * to an object reads its entries again. Field sets are never changed in place here.
 */
const parsedFieldsV1 = new WeakMap<object, FieldSet>();

function fieldSetOf(f: FieldsV1): FieldSet {
  if (typeof f !== 'object' || f === null || !Object.isFrozen(f)) return FieldSet.fromFieldsV1(f);
  let set = parsedFieldsV1.get(f);
  if (!set) parsedFieldsV1.set(f, (set = FieldSet.fromFieldsV1(f)));
  return set;
}

function decode(entries: ManagedFieldsEntry[] | undefined): Map<string, Manager> {
  const out = new Map<string, Manager>();
  for (const [i, e] of (entries ?? []).entries()) {
    // kube's checks (DecodeManagedFields)
    const bad = (m: string) => new ApplyInvalidError(`failed to decode managed fields: ${m}`);
    if (!isObject(e as unknown)) throw bad(`managed fields entry ${i} is not an object`);
    if (!e.apiVersion) throw bad('apiVersion must not be empty');
    if (!e.fieldsType) throw bad(`missing fieldsType in managed fields entry ${i}`);
    if (e.fieldsType !== 'FieldsV1') throw bad(`invalid fieldsType ${JSON.stringify(e.fieldsType)} in managed fields entry ${i}`);
    let set: FieldSet;
    try {
      set = e.fieldsV1 === undefined ? new FieldSet() : fieldSetOf(e.fieldsV1);
    } catch (err) {
      if (err instanceof FieldsV1Error) throw bad(`error decoding versioned set from entry ${i}: ${err.message}`);
      throw err;
    }
    const m: Manager = { manager: e.manager ?? '', operation: e.operation ?? 'Update', apiVersion: e.apiVersion ?? '', set };
    if (e.subresource) m.subresource = e.subresource;
    if (e.time) m.time = e.time;
    const id = identity(m);
    const prev = out.get(id);
    if (prev) {
      prev.set = prev.set.union(m.set);
      if (m.time && (!prev.time || m.time > prev.time)) prev.time = m.time;
    } else out.set(id, m);
  }
  return out;
}

function seconds(t: string | undefined): number {
  const n = t ? Date.parse(t) : NaN;
  return Number.isNaN(n) ? 0 : Math.floor(n / 1000);
}

function encode(managers: Map<string, Manager>): ManagedFieldsEntry[] {
  const list = [...managers.values()].filter((m) => !m.set.empty());
  list.sort((p, q) => {
    if (p.operation !== q.operation) return p.operation < q.operation ? -1 : 1;
    const ps = seconds(p.time);
    const qs = seconds(q.time);
    if (ps !== qs) return ps < qs ? -1 : 1;
    if (p.manager !== q.manager) return p.manager < q.manager ? -1 : 1;
    if (p.apiVersion !== q.apiVersion) return p.apiVersion < q.apiVersion ? -1 : 1;
    return (p.subresource ?? '') < (q.subresource ?? '') ? -1 : (p.subresource ?? '') > (q.subresource ?? '') ? 1 : 0;
  });
  return list.map((m) => {
    const e: ManagedFieldsEntry = { manager: m.manager, operation: m.operation, apiVersion: m.apiVersion };
    if (m.time) e.time = m.time;
    e.fieldsType = 'FieldsV1';
    e.fieldsV1 = m.set.toFieldsV1();
    if (m.subresource) e.subresource = m.subresource;
    return e;
  });
}

export const MAX_UPDATE_MANAGERS = 10;
/** The manager kube gives the fields an object had before its first apply, when it had no managedFields. */
export const BEFORE_FIRST_APPLY = 'before-first-apply';
export const ANCIENT_CHANGES = 'ancient-changes';

/** Keeps at most MAX_UPDATE_MANAGERS Update entries, merging the oldest into one "ancient-changes" entry per apiVersion. */
function capUpdateManagers(managers: Map<string, Manager>): void {
  const updaters = [...managers.entries()].filter(([, m]) => m.operation !== 'Apply');
  if (updaters.length <= MAX_UPDATE_MANAGERS) return;
  updaters.sort(([ia, a], [ib, b]) => seconds(a.time) - seconds(b.time) || (ia < ib ? -1 : ia > ib ? 1 : 0));
  const firstOfVersion = new Map<string, string>();
  let length = updaters.length;
  for (let i = 0; i < updaters.length && length > MAX_UPDATE_MANAGERS; i++) {
    const [id, m] = updaters[i];
    const bucket = identity({ manager: ANCIENT_CHANGES, operation: 'Update', apiVersion: m.apiVersion });
    const first = firstOfVersion.get(m.apiVersion);
    if (first === undefined) {
      firstOfVersion.set(m.apiVersion, id);
      continue;
    }
    if (!managers.has(bucket)) {
      const f = managers.get(first)!;
      managers.delete(first);
      managers.set(bucket, { manager: ANCIENT_CHANGES, operation: 'Update', apiVersion: m.apiVersion, set: f.set, time: f.time });
    }
    const b = managers.get(bucket)!;
    b.set = b.set.union(m.set);
    b.time = m.time;
    managers.delete(id);
    length--;
  }
}

// ---- fields never tracked ----

const STRIP = FieldSet.of(
  [field('apiVersion')],
  [field('kind')],
  [field('metadata')],
  ...['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'clusterName', 'generation', 'managedFields', 'resourceVersion'].map((n) => [field('metadata'), field(n)]),
);

function resetSet(opts: Options): FieldSet {
  const paths = opts.resetFields ?? (opts.subresource === 'status' ? [['spec']] : opts.subresource ? [] : [['status']]);
  return FieldSet.of(...paths.map((p) => p.map(field)));
}

function withoutPaths(v: JsonObject, paths: FieldSet): JsonObject {
  return (removeItems(v, paths, deduced) as JsonObject | undefined) ?? {};
}

function withoutManagedFields(o: JsonObject | undefined): JsonObject {
  if (!o) return {};
  if (!isObject(o.metadata) || !('managedFields' in o.metadata)) return o;
  const { managedFields: _, ...metadata } = o.metadata;
  return { ...o, metadata };
}

function withManagedFields(o: JsonObject, entries: ManagedFieldsEntry[]): JsonObject {
  if (!entries.length && !isObject(o.metadata)) return o;
  const metadata: JsonObject = isObject(o.metadata) ? { ...o.metadata } : {};
  delete metadata.managedFields;
  if (entries.length) metadata.managedFields = entries as unknown as Json;
  return { ...o, metadata };
}

const timestamp = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function sameOwnership(a: Map<string, Manager>, b: Map<string, Manager>): boolean {
  const live = (m: Map<string, Manager>) => [...m].filter(([, x]) => !x.set.empty());
  const x = live(a);
  const y = live(b);
  return x.length === y.length && x.every(([id, m]) => b.has(id) && b.get(id)!.set.equals(m.set) && b.get(id)!.apiVersion === m.apiVersion);
}

function apiVersionOf(o: JsonObject | undefined): string {
  return typeof o?.apiVersion === 'string' ? o.apiVersion : '';
}

/** What a write is computed with: the object's type, the endpoint's reset fields and the request's apiVersion. */
interface Write {
  type: TypeNode;
  reset: FieldSet;
  apiVersion: string;
}

/**
 * The common start of apply and update: the type (default deduced), the reset fields of the
 * endpoint, and the apiVersion (opts', else the written object's, else the live one's; required).
 */
function beginWrite(live: JsonObject | undefined, written: JsonObject, opts: Options): Write {
  const apiVersion = opts.apiVersion ?? (apiVersionOf(written) || apiVersionOf(live));
  if (!apiVersion) throw new ApplyInvalidError('apiVersion must be set');
  return { type: opts.type ?? deduced, reset: resetSet(opts), apiVersion };
}

/**
 * The core of kube's Updater.update: gives other managers' conflicting fields up (or reports them
 * when not forced) and takes removed fields from everyone but `self`.
 */
function takeOver(oldObj: JsonObject, newObj: JsonObject, managers: Map<string, Manager>, self: string, type: TypeNode, reset: FieldSet, force: boolean) {
  const cmp = compare(oldObj, newObj, type);
  const added = cmp.added.recursiveDifference(reset);
  const modified = cmp.modified.recursiveDifference(reset);
  const removed = cmp.removed.recursiveDifference(reset);
  const changed = modified.union(added);
  const conflicts: (Conflict & { path: Path })[] = [];
  const lost = new Map<string, FieldSet>();
  // kube prints the conflicts' managers sorted by their identifier (the entry's JSON without fields
  // and time), not by the printed name: `{"manager":"m",…,"subresource":"scale"}` comes before
  // `{"manager":"m",…"apiVersion":"v1"}`
  for (const [id, m] of [...managers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (id === self) continue;
    const c = m.set.intersection(changed);
    if (!c.empty()) {
      lost.set(id, c);
      for (const p of c.paths()) conflicts.push({ manager: printManager(m), field: pathString(p), path: p });
    }
  }
  if (!force && conflicts.length) {
    throw new ApplyConflictError(
      conflicts.map(({ manager, field }) => ({ manager, field })),
      conflicts.map((c) => c.path),
    );
  }
  for (const [id, m] of managers) {
    if (id === self) continue;
    const c = lost.get(id);
    if (c) m.set = m.set.difference(c);
    if (!removed.empty()) m.set = m.set.difference(removed);
  }
  for (const [id, m] of managers) if (m.set.empty()) managers.delete(id);
  return { added, modified, removed };
}

/** kube's stripMetaManager: the writer's set loses the fields never tracked; empty entries go. */
function finish(managers: Map<string, Manager>, self: string) {
  const me = managers.get(self);
  if (me) me.set = me.set.difference(STRIP);
  for (const [id, m] of managers) if (m.set.empty()) managers.delete(id);
}

/** Server-side apply. Throws ApplyConflictError, or ApplyInvalidError for a configuration that cannot be typed. */
export function apply(
  liveIn: AnyObject | undefined,
  liveManagedFields: ManagedFieldsEntry[] | undefined,
  appliedIn: AnyObject,
  manager: string,
  opts: ApplyOptions = {},
): Result {
  const live = liveIn as JsonObject | undefined;
  const applied = appliedIn as JsonObject;
  const type = opts.type ?? deduced;
  if (!manager) throw new ApplyInvalidError('fieldManager must be set for apply');
  if (!isObject(applied)) throw new ApplyInvalidError('the applied configuration must be an object');
  const sent = isObject(applied.metadata) ? applied.metadata.managedFields : undefined;
  if (sent !== undefined && sent !== null && !(Array.isArray(sent) && sent.length === 0)) {
    throw new ApplyInvalidError('metadata.managedFields must be nil');
  }
  const errs = validate(applied, type);
  if (errs.length) {
    // kube's words (it answers 500, kubernetes/kubernetes#122480; a 400 is what the client needs)
    const md = (isObject(applied.metadata) ? applied.metadata : isObject(live?.metadata) ? live!.metadata : {}) as JsonObject;
    const av = apiVersionOf(applied) || apiVersionOf(live);
    const gvk = `${av.includes('/') ? av : `/${av}`}, Kind=${typeof applied.kind === 'string' ? applied.kind : ''}`;
    const who = `${typeof md.namespace === 'string' && md.namespace ? `${md.namespace}/` : ''}${typeof md.name === 'string' ? md.name : ''}`;
    const detail = errs.length === 1 ? errs[0] : `errors:\n  ${errs.join('\n  ')}`;
    throw new ApplyInvalidError(`failed to create typed patch object (${who}; ${gvk}): ${detail}`, errs);
  }

  const w = beginWrite(live, applied, opts);
  const before = decode(liveManagedFields);
  let out: { object: JsonObject; managers: Map<string, Manager> };
  try {
    out = applyOnce(live, liveManagedFields, applied, manager, w, opts, !!opts.force);
  } catch (e) {
    // kube's lastAppliedManager: for kubectl, conflicts with values that the client-side apply
    // annotation says kubectl applied itself are no conflicts (the move from client-side apply).
    if (!(e instanceof ApplyConflictError) || manager !== 'kubectl' || !live) throw e;
    const allowed = allowedByLastApplied(live, w.apiVersion, w.type);
    if (!allowed) throw e;
    const keep = e.conflicts.map((_, i) => !allowed.has(e.paths[i]));
    if (keep.some(Boolean)) {
      throw new ApplyConflictError(
        e.conflicts.filter((_, i) => keep[i]),
        e.paths.filter((_, i) => keep[i]),
      );
    }
    out = applyOnce(live, liveManagedFields, applied, manager, w, opts, true);
  }
  let object = out.object;
  // kube's lastAppliedUpdater: kubectl's apply keeps an existing client-side apply annotation in step.
  if (manager === 'kubectl') object = syncLastApplied(object, applied);
  return result(live, object, before, out.managers);
}

export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const ANNOTATIONS_LIMIT = 256 * 1024;

/** The fields the last-applied annotation of live says were applied and still hold those values. */
function allowedByLastApplied(live: JsonObject, apiVersion: string, type: TypeNode): FieldSet | undefined {
  const annotations = isObject(live.metadata) && isObject(live.metadata.annotations) ? live.metadata.annotations : undefined;
  const text = annotations?.[LAST_APPLIED];
  if (typeof text !== 'string' || !text) return undefined;
  let last: unknown;
  try {
    last = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(last as Json) || (last as JsonObject).apiVersion !== apiVersion) return undefined;
  if (validate(last as JsonObject, type).length) return undefined;
  const cmp = compare(last as JsonObject, withoutManagedFields(live), type);
  return toFieldSet(last as JsonObject, type).difference(cmp.modified).difference(cmp.added).difference(cmp.removed);
}

/** Rewrites an existing last-applied annotation to the applied configuration (Go's JSON, as kube writes it). */
function syncLastApplied(object: JsonObject, applied: JsonObject): JsonObject {
  const md = isObject(object.metadata) ? object.metadata : undefined;
  const annotations = md && isObject(md.annotations) ? md.annotations : undefined;
  if (!annotations || typeof annotations[LAST_APPLIED] !== 'string' || !annotations[LAST_APPLIED]) return object;
  const cfg = withoutManagedFields(applied);
  const cfgMd = isObject(cfg.metadata) ? { ...cfg.metadata } : undefined;
  if (cfgMd && isObject(cfgMd.annotations)) {
    const { [LAST_APPLIED]: _, ...rest } = cfgMd.annotations;
    cfgMd.annotations = rest;
  }
  const value = `${goJSON((cfgMd ? { ...cfg, metadata: cfgMd } : cfg) as Json)}\n`;
  const next: JsonObject = { ...annotations, [LAST_APPLIED]: value };
  let size = 0;
  for (const [k, v] of Object.entries(next)) size += Buffer.byteLength(k) + Buffer.byteLength(typeof v === 'string' ? v : '');
  if (size > ANNOTATIONS_LIMIT) delete next[LAST_APPLIED];
  return { ...object, metadata: { ...md, annotations: next } };
}

function applyOnce(
  live: JsonObject | undefined,
  liveManagedFields: ManagedFieldsEntry[] | undefined,
  applied: JsonObject,
  manager: string,
  { type, reset, apiVersion }: Write,
  opts: ApplyOptions,
  force: boolean,
): { object: JsonObject; managers: Map<string, Manager> } {
  const liveObj = withoutManagedFields(live);
  const config = withoutPaths(withoutManagedFields(applied), reset);
  const before = decode(liveManagedFields);
  let stored = liveManagedFields ?? [];
  if (live !== undefined && before.size === 0) {
    // kube (skipNonAppliedManager): an object never tracked gets its present fields recorded first,
    // as an Update by "before-first-apply" from an empty object of its kind.
    const empty: JsonObject = {};
    if (live.apiVersion !== undefined) empty.apiVersion = live.apiVersion;
    if (live.kind !== undefined) empty.kind = live.kind;
    stored = update(empty, liveObj, [], BEFORE_FIRST_APPLY, { ...opts, operation: 'Update' }).managedFields;
  }
  const managers = decode(stored);

  const merged = (merge(liveObj, config, type) ?? {}) as JsonObject;
  const self = identity({ manager, operation: 'Apply', apiVersion, subresource: opts.subresource });
  const last = managers.get(self)?.set;
  const lastTime = managers.get(self)?.time;
  const configSet = toFieldSet(config, type).recursiveDifference(reset);
  const me: Manager = { manager, operation: 'Apply', apiVersion, set: configSet };
  if (opts.subresource) me.subresource = opts.subresource;
  managers.set(self, me);

  const pruned = last && !last.empty() ? prune(merged, managers, last, type) : merged;
  takeOver(liveObj, pruned, managers, self, type, reset, force);
  // The applier always has its entry (even if it sets no field kube tracks, it is dropped below).
  managers.set(self, me);
  // As kube: the applier's time moves only when the apply changes the object (not for ownership alone).
  const objectChanged = !deepEqual(liveObj, pruned);
  if (objectChanged) me.time = timestamp(opts.now ?? new Date());
  else if (lastTime) me.time = lastTime;
  finish(managers, self);
  return { object: (dropNulls(pruned, type) ?? {}) as JsonObject, managers };
}

/**
 * Removes what the applier owned last time and no longer applies, unless another manager owns it
 * (kube's prune: remove last, add back what anyone owns, remove only what was in last).
 */
function prune(merged: JsonObject, managers: Map<string, Manager>, last: FieldSet, type: TypeNode): JsonObject {
  const ens = (s: FieldSet) => ensureNamedFieldsAreMembers(s, type);
  const lastE = ens(last);
  const removedLast = (removeItems(merged, lastE, type) ?? {}) as JsonObject;
  let owned = new FieldSet();
  for (const m of managers.values()) owned = owned.union(m.set);
  const mergedSet = ens(toFieldSet(merged, type));
  const addedBack = (removeItems(merged, mergedSet.difference(ens(toFieldSet(removedLast, type)).union(ens(owned))), type) ?? {}) as JsonObject;
  const prunedSet = ens(toFieldSet(addedBack, type));
  return (removeItems(merged, mergedSet.difference(prunedSet).intersection(lastE), type) ?? {}) as JsonObject;
}

/** Records a non-apply write (create: liveOld undefined; update; any patch): the changed fields go to `manager`. */
export function update(
  liveOldIn: AnyObject | undefined,
  liveNewIn: AnyObject,
  managedFields: ManagedFieldsEntry[] | undefined,
  manager: string,
  opts: UpdateOptions = {},
): Result {
  const liveOld = liveOldIn as JsonObject | undefined;
  const liveNew = liveNewIn as JsonObject;
  const { type, reset, apiVersion } = beginWrite(liveOld, liveNew, opts);
  const operation = opts.operation ?? 'Update';
  const oldObj = withoutManagedFields(liveOld);
  const newObj = withoutManagedFields(liveNew);
  // As kube: managedFields sent in the new object win (a client may rewrite them); `[{}]` clears them;
  // an empty or unreadable list falls back to the stored ones, unreadable stored ones to none.
  const sent = isObject(liveNew.metadata) ? liveNew.metadata.managedFields : undefined;
  if (Array.isArray(sent) && sent.length === 1 && isObject(sent[0]) && Object.keys(sent[0]).length === 0) {
    const unchanged = liveOld !== undefined && deepEqual(oldObj, newObj) && managedFieldsOf(liveOld).length === 0;
    return { object: withManagedFields(newObj, []), managedFields: [], changed: !unchanged };
  }
  const readable = (e: unknown): ManagedFieldsEntry[] | undefined => {
    if (!Array.isArray(e) || e.length === 0) return undefined;
    try {
      decode(e as ManagedFieldsEntry[]);
      return e as ManagedFieldsEntry[];
    } catch (err) {
      if (err instanceof ApplyInvalidError) return undefined;
      throw err;
    }
  };
  const base = readable(sent) ?? readable(managedFields) ?? [];
  if (base.length === 0 && liveOld !== undefined && isObject(liveOld.metadata) && liveOld.metadata.uid) {
    // kube (skipNonAppliedManager): an existing object without managedFields stays untracked by
    // updates; only creates (and applies) start tracking.
    const unchanged = deepEqual(oldObj, newObj);
    return { object: withManagedFields(newObj, []), managedFields: [], changed: !unchanged };
  }
  const before = decode(readable(managedFields) ?? []);
  const managers = decode(base);
  const self = identity({ manager, operation, apiVersion, subresource: opts.subresource });
  // As kube does, the write is computed for a manager of its own and then merged into the entry.
  const { added, modified } = takeOver(oldObj, newObj, managers, '\0current-operation', type, reset, true);
  let changed = modified.union(added).difference(STRIP);
  if (!changed.empty()) {
    const prev = managers.get(self);
    if (prev) changed = prev.set.union(changed);
    const m: Manager = { manager, operation, apiVersion, set: changed, time: timestamp(opts.now ?? new Date()) };
    if (opts.subresource) m.subresource = opts.subresource;
    managers.set(self, m);
  }
  finish(managers, self);
  capUpdateManagers(managers); // kube caps Update entries on updates only
  return result(liveOld, newObj, before, managers);
}

function result(live: JsonObject | undefined, object: JsonObject, before: Map<string, Manager>, managers: Map<string, Manager>): Result {
  const unchanged = live !== undefined && deepEqual(withoutManagedFields(live), object) && sameOwnership(before, managers);
  if (unchanged) {
    // kube keeps the stored managedFields (and their times) when nothing but times would change.
    const entries = live && isObject(live.metadata) && Array.isArray(live.metadata.managedFields) ? (live.metadata.managedFields as unknown as ManagedFieldsEntry[]) : encode(before);
    return { object: withManagedFields(object, entries), managedFields: entries, changed: false };
  }
  const entries = encode(managers);
  return { object: withManagedFields(object, entries), managedFields: entries, changed: true };
}

/** Reads managedFields from an object (metadata.managedFields), [] when absent. */
export function managedFieldsOf(o: AnyObject | undefined): ManagedFieldsEntry[] {
  const mf = isObject(o?.metadata as Json) ? (o!.metadata as JsonObject).managedFields : undefined;
  return Array.isArray(mf) ? (mf as unknown as ManagedFieldsEntry[]) : [];
}

/** The set of fields of one entry (for tests and tools). */
export function fieldsOf(entry: ManagedFieldsEntry): FieldSet {
  return FieldSet.fromFieldsV1(entry.fieldsV1 ?? {});
}

