// Breaking changes between the CustomResourceDefinitions of two revisions of a package, for the
// publish-time safety check: a CRD removed, its kind or scope changed, a served version no longer
// served or gone, the storage version gone, and, in each version's openAPIV3Schema, whatever an
// object valid before may no longer be (a field removed, a type changed, an enum narrowed, a new
// required field, a default changed, unknown fields no longer kept). Widening changes (optional
// fields added, enums widened, descriptions and formats edited) are not breaks. Pure; every break
// is listed, in a deterministic order: CRDs by name, then per CRD its kind and scope, then each
// version of the earlier revision in its order, its own break first, then its schema's (a field's
// own changes before its properties', properties in the earlier schema's order).
import type { ProvidedCRD } from './documents.ts';

export interface CRDBreak {
  /** metadata.name */
  crd: string;
  version?: string;
  /** e.g. "spec.replicas" or "spec.ports[*].port"; '' for the root of the schema */
  path?: string;
  /** a sentence a user can act on, naming the CRD, version and field */
  message: string;
}

type Schema = Record<string, unknown>;

/** How deep a schema is walked (real CRDs are a few dozen levels deep); a schema that refers to itself (YAML aliases) is walked once. */
const MAX_DEPTH = 128;

/** Every break from `before` to `after`, CRDs matched by name; a CRD only in `after` is no break. */
export function crdBreaks(before: ProvidedCRD[], after: ProvidedCRD[]): CRDBreak[] {
  const now = new Map<string, ProvidedCRD>();
  for (const c of after) if (!now.has(c.name)) now.set(c.name, c);
  const seen = new Set<string>();
  const breaks: CRDBreak[] = [];
  for (const old of [...before].sort((a, b) => byCodeUnits(a.name, b.name))) {
    if (seen.has(old.name)) continue;
    seen.add(old.name);
    const cur = now.get(old.name);
    if (!cur) breaks.push({ crd: old.name, message: `${crdLabel(old.name)} is removed` });
    else breaks.push(...crdChanges(old, cur));
  }
  return breaks;
}

function crdChanges(old: ProvidedCRD, cur: ProvidedCRD): CRDBreak[] {
  const crd = old.name;
  const at = crdLabel(crd);
  const breaks: CRDBreak[] = [];
  if (old.kind !== cur.kind) breaks.push({ crd, message: `${at}: kind changed from ${old.kind} to ${cur.kind}` });
  if (old.scope !== cur.scope) breaks.push({ crd, message: `${at}: scope changed from ${old.scope} to ${cur.scope}` });
  for (const v of old.versions) {
    const version = v.name;
    const next = cur.versions.find((n) => n.name === version);
    if (!next) {
      if (v.storage)
        breaks.push({ crd, version, message: `${at}: version ${version} is removed, but it was the storage version; keep it listed (it may stop being served) until the objects stored as ${version} are migrated` });
      else if (v.served) breaks.push({ crd, version, message: `${at}: version ${version} is removed while it was served` });
      continue;
    }
    if (v.served && !next.served) breaks.push({ crd, version, message: `${at}: version ${version} is no longer served` });
    if (!next.schema) continue; // no schema now: anything is allowed
    const where = `${at}, version ${version}`;
    if (!v.schema) {
      breaks.push({ crd, version, message: `${where}: schema added to a version that had none` });
      continue;
    }
    for (const b of schemaChanges(v.schema, next.schema, '', [])) breaks.push({ crd, version, path: b.path, message: `${where}: ${b.message}` });
  }
  return breaks;
}

function crdLabel(name: string): string {
  return `CustomResourceDefinition ${name}`;
}

// ---- schemas ----

interface SchemaBreak {
  path: string;
  message: string;
}

/** Breaks from the schema `old` to `cur` at `path`, and under it where both still describe it; `outer`: the old schemas around it. */
function schemaChanges(old: Schema, cur: Schema, path: string, outer: Schema[]): SchemaBreak[] {
  const breaks: SchemaBreak[] = [];
  if (outer.length >= MAX_DEPTH || outer.includes(old)) return breaks;
  const inner = [...outer, old];
  const subject = path === '' ? 'the schema root' : `field ${path}`;
  const add = (p: string, message: string) => breaks.push({ path: p, message });

  const oldType = typeOf(old);
  const curType = typeOf(cur);
  if (curType !== undefined && curType !== oldType && !(curType === 'int-or-string' && (oldType === 'integer' || oldType === 'string'))) {
    add(path, `${subject} changed type from ${oldType ?? 'any'} to ${curType}`);
    return breaks; // what was under it is another kind of value now
  }

  const curEnum = Array.isArray(cur.enum) ? cur.enum : undefined;
  if (curEnum) {
    const oldEnum = Array.isArray(old.enum) ? old.enum : undefined;
    const allowed = new Set(curEnum.map((e) => canonical(e)));
    if (!oldEnum) add(path, `${subject}: enum added, now only allows ${curEnum.map(shown).join(', ')}`);
    else {
      const lost = oldEnum.filter((e, i) => !allowed.has(canonical(e)) && oldEnum.findIndex((o) => canonical(o) === canonical(e)) === i);
      if (lost.length) add(path, `${subject}: enum narrowed, no longer allows ${lost.map(shown).join(', ')}`);
    }
  }

  const hadDefault = Object.hasOwn(old, 'default');
  const hasDefault = Object.hasOwn(cur, 'default');
  if (hadDefault && hasDefault && canonical(old.default) !== canonical(cur.default)) add(path, `${subject} default changed from ${shown(old.default)} to ${shown(cur.default)}`);
  else if (hadDefault && !hasDefault) add(path, `${subject} no longer defaults to ${shown(old.default)}`);
  else if (!hadDefault && hasDefault) add(path, `${subject} now defaults to ${shown(cur.default)} (it had no default)`);

  const keepsUnknown = cur['x-kubernetes-preserve-unknown-fields'] === true;
  if (old['x-kubernetes-preserve-unknown-fields'] === true && !keepsUnknown)
    add(path, `${subject} no longer keeps unknown fields (x-kubernetes-preserve-unknown-fields: true removed), so fields it kept before are dropped`);

  const wasRequired = new Set(stringsOf(old.required));
  for (const name of new Set(stringsOf(cur.required))) if (!wasRequired.has(name)) add(child(path, name), `new required field ${child(path, name)}`);

  const oldProps = schemaMap(old.properties);
  const curProps = schemaMap(cur.properties);
  for (const [name, o] of Object.entries(oldProps)) {
    const p = child(path, name);
    const c = curProps[name];
    if (c) breaks.push(...schemaChanges(o, c, p, inner));
    else if (!keepsUnknown) add(p, `field ${p} removed`);
  }

  const oldItems = asSchema(old.items);
  const curItems = asSchema(cur.items);
  if (oldItems && curItems) breaks.push(...schemaChanges(oldItems, curItems, `${path}[*]`, inner));

  const oldValues = asSchema(old.additionalProperties);
  const curValues = asSchema(cur.additionalProperties);
  if (oldValues && curValues) breaks.push(...schemaChanges(oldValues, curValues, `${path}[*]`, inner));
  else if (oldValues && cur.additionalProperties !== true && !keepsUnknown) add(`${path}[*]`, `field ${path}[*] removed`);
  return breaks;
}

/** The type a schema allows: its `type`, "int-or-string", or undefined for any. */
function typeOf(s: Schema): string | undefined {
  if (typeof s.type === 'string' && s.type !== '') return s.type;
  if (s['x-kubernetes-int-or-string'] === true) return 'int-or-string';
  return undefined;
}

function asSchema(v: unknown): Schema | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  return v as Schema;
}

/** The own schema-valued entries of a `properties` mapping. */
function schemaMap(v: unknown): Record<string, Schema> {
  const out: Record<string, Schema> = Object.create(null);
  const m = asSchema(v);
  if (!m) return out;
  for (const [k, s] of Object.entries(m)) {
    const schema = asSchema(s);
    if (schema) out[k] = schema;
  }
  return out;
}

function stringsOf(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

/** A field's path under `path`: `.name`, or `["name"]` when the name is not a plain identifier. */
function child(path: string, name: string): string {
  if (!/^[A-Za-z_$][\w$-]*$/.test(name)) return `${path}[${JSON.stringify(name)}]`;
  return path === '' ? name : `${path}.${name}`;
}

/** JSON with sorted keys, to compare values however their keys are ordered (a value inside itself, or too deep, as a marker). */
function canonical(v: unknown, outer: object[] = []): string {
  if (typeof v !== 'object' || v === null) return scalarJSON(v);
  if (outer.length >= MAX_DEPTH || outer.includes(v)) return '"<cycle or too deep>"';
  const inner = [...outer, v];
  if (Array.isArray(v)) return `[${v.map((x) => canonical(x, inner)).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort(byCodeUnits).map((k) => `${JSON.stringify(k)}:${canonical(o[k], inner)}`).join(',')}}`;
}

function scalarJSON(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number' && !Number.isFinite(v)) return `"${v}"`;
  return JSON.stringify(v) ?? 'null';
}

/** A value as a message shows it: JSON (keys as written), cut at 60 characters. */
function shown(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'object' && v !== null ? JSON.stringify(v) : scalarJSON(v);
  } catch {
    s = canonical(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
