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
      const sub = schema.properties[k];
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

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const compiled = new WeakMap<Schema, ValidateFunction>();

/** Validates against the schema; every violation becomes one field error. */
export function validateSchema(value: unknown, schema: Schema): FieldError[] {
  let fn = compiled.get(schema);
  if (!fn) {
    fn = ajv.compile(stripExtensions(schema) as object);
    compiled.set(schema, fn);
  }
  if (fn(value)) return [];
  return (fn.errors ?? []).map((e) => toFieldError(e, value));
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
const TOTAL_ANNOTATION_SIZE = 256 * 1024;

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

