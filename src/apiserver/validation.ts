// Schema-driven request processing, as kube-apiserver does it for CRDs: pruning of unknown fields
// (reported per fieldValidation), defaulting, and OpenAPI schema validation turned into field
// errors. Plus the ObjectMeta rules every kind shares.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { ObjectMeta } from '../api/meta.ts';
import type { Schema } from '../api/schema.ts';
import { fieldErr, type FieldError } from './errors.ts';
import { dns1123LabelError, dns1123SubdomainError, isDNS1123Label } from '../api/fielderrors.ts';

export { dns1123LabelError, dns1123SubdomainError, isDNS1123Label };

/** Removes fields the schema does not know; returns their paths (e.g. "spec.bogusField"). */
export function prune(value: unknown, schema: Schema, path = ''): string[] {
  const unknown: string[] = [];
  walkPrune(value, schema, path, unknown);
  return unknown;
}

function walkPrune(value: unknown, schema: Schema | undefined, path: string, unknown: string[]): void {
  if (!schema || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    if (schema.items) value.forEach((v, i) => walkPrune(v, schema.items, `${path}[${i}]`, unknown));
    return;
  }
  const o = value as Record<string, unknown>;
  if (schema.properties) {
    for (const k of Object.keys(o)) {
      const sub = propertyOf(schema, k);
      const p = path ? `${path}.${k}` : k;
      if (sub) walkPrune(o[k], sub, p, unknown);
      else if (typeof schema.additionalProperties === 'object') walkPrune(o[k], schema.additionalProperties, p, unknown);
      else if (!schema['x-kubernetes-preserve-unknown-fields'] && schema.additionalProperties !== true) {
        unknown.push(p);
        delete o[k];
      }
    }
  } else if (typeof schema.additionalProperties === 'object') {
    for (const k of Object.keys(o)) walkPrune(o[k], schema.additionalProperties, path ? `${path}.${k}` : k, unknown);
  }
}

/** The schema of property `k`, own properties only: "constructor" or "__proto__" are not in every schema. */
export function propertyOf(schema: Schema, k: string): Schema | undefined {
  return schema.properties && Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
}

/** Sets schema defaults on absent fields, recursively (apiextensions structural defaulting). */
export function applyDefaults(value: unknown, schema: Schema): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    if (schema.items) for (const v of value) applyDefaults(v, schema.items);
    return;
  }
  const o = value as Record<string, unknown>;
  for (const [k, sub] of Object.entries(schema.properties ?? {})) {
    if (o[k] === undefined && sub.default !== undefined) o[k] = structuredClone(sub.default);
    if (o[k] !== undefined) applyDefaults(o[k], sub);
  }
  if (typeof schema.additionalProperties === 'object') for (const v of Object.values(o)) applyDefaults(v, schema.additionalProperties);
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
// the formats our schemas use (kube's CRD validation checks them; ajv has none built in)
ajv.addFormat('date-time', { type: 'string', validate: isRFC3339 });
// integer formats: the type and the JSON decoder's safe-integer check say all there is (without
// these, ajv prints "unknown format int64 ignored" on stderr at every start)
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });

/** An RFC 3339 time as Go's time.Parse(time.RFC3339) takes it (fraction allowed). */
export function isRFC3339(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number);
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return mo >= 1 && mo <= 12 && d >= 1 && d <= days && h <= 23 && mi <= 59 && se <= 59;
}
const compiled = new WeakMap<Schema, ValidateFunction>();

/** Validates against the schema; every violation becomes one field error. */
export function validateSchema(value: unknown, schema: Schema): FieldError[] {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(stripExtensions(schema) as object);
    compiled.set(schema, fn);
  }
  const errs = fn(value) ? [] : (fn.errors ?? []).map((e) => toFieldError(e, value));
  return [...errs, ...listErrors(value, schema, '')];
}

/** The type errors of a value only (what must hold before any per-kind code looks at it). */
export function typeErrors(value: unknown, schema: Schema): FieldError[] {
  return validateSchema(value, schema).filter((e) => e.type === 'FieldValueTypeInvalid');
}

/**
 * Lists declared `x-kubernetes-list-type: map` (unique by their keys) or `set` (unique items), as
 * kube's structural schema validation enforces them: a duplicate is 422 Duplicate value.
 */
function listErrors(value: unknown, schema: Schema | undefined, path: string): FieldError[] {
  if (!schema || value === null || typeof value !== 'object') return [];
  const errs: FieldError[] = [];
  if (Array.isArray(value)) {
    const type = schema['x-kubernetes-list-type'];
    const keys = schema['x-kubernetes-list-map-keys'] as string[] | undefined;
    if (type === 'map' || type === 'set') {
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const id = type === 'map' && keys && item && typeof item === 'object' ? JSON.stringify(keys.map((k) => (item as Record<string, unknown>)[k])) : JSON.stringify(item);
        if (seen.has(id)) errs.push(fieldErr.duplicate(`${path}[${i}]`, type === 'map' && keys ? Object.fromEntries(keys.map((k) => [k, (item as Record<string, unknown>)?.[k]])) : item));
        seen.add(id);
      });
    }
    if (schema.items) value.forEach((v, i) => errs.push(...listErrors(v, schema.items, `${path}[${i}]`)));
    return errs;
  }
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const sub = propertyOf(schema, k) ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (sub) errs.push(...listErrors(v, sub, path ? `${path}.${k}` : k));
  }
  return errs;
}

// ajv does not need our x- annotations; leaving them is harmless, but `default` must not be
// applied by ajv (we default ourselves), so only a copy without `x-pkgserver-ref` is compiled.
function stripExtensions(s: Schema): unknown {
  return JSON.parse(JSON.stringify(s, (k, v) => (k === 'x-pkgserver-ref' ? undefined : v)));
}

function toFieldError(e: ErrorObject, root: unknown): FieldError {
  const segs = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const path = segs.reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
  const val = segs.reduce<any>((v, s) => (v == null ? undefined : v[s]), root);
  switch (e.keyword) {
    case 'required':
      return fieldErr.required(path ? `${path}.${(e.params as any).missingProperty}` : (e.params as any).missingProperty);
    case 'enum':
      return fieldErr.notSupported(path, val, ((e.params as any).allowedValues as unknown[]).map(String));
    case 'type':
      return fieldErr.typeInvalid(path, typeName(val), `${path} in body must be of type ${(e.params as any).type}: ${JSON.stringify(typeName(val))}`);
    case 'pattern':
      return fieldErr.invalid(path, val, `${path} in body should match '${(e.params as any).pattern}'`);
    case 'maxLength':
      return fieldErr.tooLong(path, (e.params as any).limit);
    case 'minLength':
      return fieldErr.invalid(path, val, `${path} in body should be at least ${(e.params as any).limit} chars long`);
    case 'minimum':
    case 'maximum':
      return fieldErr.invalid(path, val, `${path} in body should be ${e.keyword === 'minimum' ? 'greater' : 'less'} than or equal to ${(e.params as any).limit}`);
    case 'format':
      return fieldErr.invalid(path, val, `${path} in body must be of type ${(e.params as any).format}: ${JSON.stringify(val)}`);
    case 'maxItems':
      return { type: 'FieldValueTooMany', field: path, message: `Too many: ${Array.isArray(val) ? val.length : '?'}: must have at most ${(e.params as any).limit} items` };
    default:
      return fieldErr.invalid(path, val, e.message ?? e.keyword);
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

// ---- ObjectMeta rules (k8s.io/apimachinery/pkg/api/validation) ----

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** kube's bound on the total size of an object's annotations (keys and values) */
export const TOTAL_ANNOTATION_SIZE = 256 * 1024;

/** A qualified name ("prefix/name" or "name"), as label keys, annotation keys and finalizers use. */
function qualifiedNameErrors(field: string, key: string): FieldError[] {
  const parts = key.split('/');
  const name = parts.length === 2 ? parts[1] : parts[0];
  const errs: FieldError[] = [];
  if (parts.length > 2) errs.push(fieldErr.invalid(field, key, "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"));
  else {
    if (parts.length === 2 && (parts[0].length === 0 || parts[0].length > 253 || dns1123SubdomainError('', parts[0]) !== undefined))
      errs.push(fieldErr.invalid(field, key, 'prefix part must be a lowercase RFC 1123 subdomain'));
    if (!name || name.length > 63 || !QUALIFIED_NAME.test(name))
      errs.push(fieldErr.invalid(field, key, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"));
  }
  return errs;
}

/**
 * Cheap sizes of the metadata a write stores as sent (labels, annotations, finalizers), for the
 * bounds checked before any per-field validation: one pass over the keys, no per-entry rule.
 * `annotations` is kube's total annotation size (as validateObjectMeta counts it), counted up to
 * just past TOTAL_ANNOTATION_SIZE; `encoded` a lower bound of the JSON encoding of the three,
 * counted up to just past `limit`. The JSON text of a string is at least as long as the string
 * (UTF-8 takes one byte or more per UTF-16 unit), so an object whose bound is past the storage
 * limit cannot be stored, whatever the rest of it holds. Values of the wrong type count nothing
 * in `encoded` (the decoding refuses them with 400 first).
 */
export function metadataSizes(meta: unknown, limit: number): { annotations: number; encoded: number } {
  let annotations = 0;
  let encoded = 0;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return { annotations, encoded };
  const m = meta as Record<string, unknown>;
  const map = (field: 'labels' | 'annotations', each: (k: string, v: unknown) => boolean) => {
    const o = m[field];
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return;
    const keys = Object.keys(o);
    for (let i = 0; i < keys.length; i++) if (!each(keys[i], (o as Record<string, unknown>)[keys[i]])) return;
  };
  map('annotations', (k, v) => {
    annotations += k.length + String(v).length;
    if (typeof v === 'string') encoded += k.length + v.length + 5; // "k":"v"
    return annotations <= TOTAL_ANNOTATION_SIZE;
  });
  map('labels', (k, v) => {
    if (typeof v === 'string') encoded += k.length + v.length + 5;
    return encoded <= limit;
  });
  const finalizers = m.finalizers;
  if (Array.isArray(finalizers))
    for (let i = 0; i < finalizers.length && encoded <= limit; i++) if (typeof finalizers[i] === 'string') encoded += (finalizers[i] as string).length + 2;
  return { annotations, encoded };
}

/** Validates the user-settable parts of ObjectMeta shared by every kind. */
export function validateObjectMeta(meta: ObjectMeta, namespaced: boolean, nameErrors: (name: string) => FieldError[]): FieldError[] {
  const errs: FieldError[] = [];
  if (!meta.name) errs.push(fieldErr.required('metadata.name', 'name or generateName is required'));
  else errs.push(...nameErrors(meta.name));
  if (namespaced) {
    if (!meta.namespace) errs.push(fieldErr.required('metadata.namespace'));
    else {
      const e = dns1123LabelError('metadata.namespace', meta.namespace);
      if (e) errs.push(e);
    }
  } else if (meta.namespace) errs.push(fieldErr.forbidden('metadata.namespace', 'not allowed on this type'));
  for (const [k, v] of Object.entries(meta.labels ?? {})) {
    errs.push(...qualifiedNameErrors('metadata.labels', k));
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v))
      errs.push(fieldErr.invalid('metadata.labels', v, "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"));
  }
  let annotationBytes = 0;
  for (const [k, v] of Object.entries(meta.annotations ?? {})) {
    errs.push(...qualifiedNameErrors('metadata.annotations', k.toLowerCase()));
    annotationBytes += k.length + String(v).length;
  }
  if (annotationBytes > TOTAL_ANNOTATION_SIZE) errs.push(fieldErr.tooLong('metadata.annotations', TOTAL_ANNOTATION_SIZE));
  (meta.finalizers ?? []).forEach((f, i) => {
    for (const e of qualifiedNameErrors(`metadata.finalizers[${i}]`, f)) errs.push(e);
  });
  (meta.ownerReferences ?? []).forEach((r, i) => {
    for (const f of ['apiVersion', 'kind', 'name', 'uid'] as const) if (!r[f]) errs.push(fieldErr.required(`metadata.ownerReferences[${i}].${f}`));
  });
  if ((meta.ownerReferences ?? []).filter((r) => r.controller).length > 1)
    errs.push(fieldErr.invalid('metadata.ownerReferences', meta.ownerReferences, 'Only one reference can have Controller set to true'));
  return errs;
}

/** Fields of ObjectMeta that an update may not change (ValidateObjectMetaUpdate). */
export function validateObjectMetaUpdate(meta: ObjectMeta, old: ObjectMeta): FieldError[] {
  const errs: FieldError[] = [];
  if (meta.name !== old.name) errs.push(fieldErr.immutable('metadata.name', meta.name));
  if ((meta.namespace ?? '') !== (old.namespace ?? '')) errs.push(fieldErr.immutable('metadata.namespace', meta.namespace));
  if (meta.uid !== old.uid) errs.push(fieldErr.immutable('metadata.uid', meta.uid));
  return errs;
}


// ---- typed decoding of ObjectMeta and DeleteOptions (kube's structs) ----

const jsonType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'boolean' ? 'bool' : typeof v);

/** Go's encoding/json message for a value that does not fit a struct field. */
const cannotUnmarshal = (v: unknown, struct: string, field: string, goType: string) =>
  goType === 'v1.Time' && typeof v === 'string'
    ? `parsing time ${JSON.stringify(v.slice(0, 64))} as "2006-01-02T15:04:05Z07:00": cannot parse it (${struct}.${field})`
    : goType === 'int64' && typeof v === 'number' && Number.isInteger(v)
      ? `json: cannot unmarshal number ${v} into Go struct field ${struct}.${field} of type ${goType}`
      : `json: cannot unmarshal ${jsonType(v)} into Go struct field ${struct}.${field} of type ${goType}`;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A struct field's Go type and its check (null always fits: Go leaves the zero value); lists check each item. */
type FieldType = { go: string; ok: (v: unknown) => boolean; item?: FieldType; value?: FieldType; fields?: Record<string, FieldType> };
const str: FieldType = { go: 'string', ok: (v) => typeof v === 'string' };
const uid: FieldType = { go: 'types.UID', ok: (v) => typeof v === 'string' };
const int: FieldType = { go: 'int64', ok: (v) => typeof v === 'number' && Number.isSafeInteger(v) };
const bool: FieldType = { go: 'bool', ok: (v) => typeof v === 'boolean' };
const time: FieldType = { go: 'v1.Time', ok: (v) => typeof v === 'string' && isRFC3339(v) };
const stringMap: FieldType = { go: 'map[string]string', ok: isObject, value: str };
const list = (item: FieldType): FieldType => ({ go: `[]${item.go}`, ok: Array.isArray, item });
const struct = (go: string, fields: Record<string, FieldType>): FieldType => ({ go, ok: isObject, fields });

const OBJECT_META: Record<string, FieldType> = {
  name: str,
  generateName: str,
  namespace: str,
  uid,
  resourceVersion: str,
  generation: int,
  creationTimestamp: time,
  deletionTimestamp: time,
  deletionGracePeriodSeconds: int,
  labels: stringMap,
  annotations: stringMap,
  finalizers: list(str),
  ownerReferences: list(struct('v1.OwnerReference', { apiVersion: str, kind: str, name: str, uid, controller: bool, blockOwnerDeletion: bool })),
  managedFields: list(struct('v1.ManagedFieldsEntry', { manager: str, operation: str, apiVersion: str, time, fieldsType: str, subresource: str, fieldsV1: struct('v1.FieldsV1', {}) })),
};

/** The first field of `v` that does not fit its Go type, as encoding/json words it. */
function structProblem(v: Record<string, unknown>, fields: Record<string, FieldType>, structName: string, path: string): string | undefined {
  const fits = (x: unknown, t: FieldType, at: string): string | undefined => {
    if (x === null || x === undefined) return undefined;
    if (!t.ok(x)) return cannotUnmarshal(x, structName, at, t.go);
    const inner = t.item ?? t.value;
    if (inner) {
      // one loop, no call per entry for a list or map of scalars (200,000 labels are one pass)
      const scalar = !inner.item && !inner.value && !inner.fields;
      const items = t.item ? (x as unknown[]) : undefined;
      const keys = items ? undefined : Object.keys(x as object);
      const n = items ? items.length : keys!.length;
      for (let i = 0; i < n; i++) {
        const e = items ? items[i] : (x as Record<string, unknown>)[keys![i]];
        const p = scalar ? (e === null || e === undefined || inner.ok(e) ? undefined : cannotUnmarshal(e, structName, at, inner.go)) : fits(e, inner, at);
        if (p) return p;
      }
    }
    if (t.fields && Object.keys(t.fields).length) return structProblem(x as Record<string, unknown>, t.fields, t.go.replace(/^v1\./, ''), at);
    return undefined;
  };
  for (const [k, t] of Object.entries(fields)) {
    const p = fits(v[k], t, path ? `${path}.${k}` : k);
    if (p) return p;
  }
  return undefined;
}

/** kube's decoding error for an ObjectMeta of the wrong shape, or undefined. */
export function metadataTypeProblem(meta: unknown): string | undefined {
  if (meta === undefined || meta === null) return undefined;
  if (!isObject(meta)) return cannotUnmarshal(meta, 'Object', 'metadata', 'v1.ObjectMeta');
  return structProblem(meta, OBJECT_META, 'ObjectMeta', 'metadata');
}

const DELETE_OPTIONS: Record<string, FieldType> = {
  kind: str,
  apiVersion: str,
  gracePeriodSeconds: int,
  orphanDependents: bool,
  propagationPolicy: str,
  dryRun: list(str),
  ignoreStoreReadErrorWithClusterBreakingPotential: bool,
  preconditions: struct('v1.Preconditions', { uid, resourceVersion: str }),
};

/** kube's decoding error for DeleteOptions of the wrong shape, or undefined. */
export function deleteOptionsTypeProblem(o: Record<string, unknown>): string | undefined {
  return structProblem(o, DELETE_OPTIONS, 'DeleteOptions', '');
}
