// The shape of an object as server-side apply sees it: which maps are granular (merged key by
// key) or atomic, which lists are atomic, sets or maps keyed by some of their items' fields, and
// where the schema does not say (then kube's "deduced" type: maps granular, lists atomic).
//
// fromOpenAPI() derives it from a structural OpenAPI v3 schema (a CRD version's schema, or one of
// this project's kind schemas, src/api), reading the same extensions kube does:
// x-kubernetes-map-type, x-kubernetes-list-type, x-kubernetes-list-map-keys,
// x-kubernetes-preserve-unknown-fields. Lists without a list type are atomic, as in CRDs.

import type { Json } from './fieldpath.ts';

export type TypeNode = ScalarType | MapType | ListType | DeducedType;

export interface ScalarType {
  kind: 'scalar';
}

export interface MapType {
  kind: 'map';
  /** Declared fields (a struct). Keys outside them are typed by elementType. */
  fields: Map<string, TypeNode>;
  /** The type of the keys not declared (additionalProperties, or unknown fields kept). */
  elementType: TypeNode;
  atomic: boolean;
  /** Field names whose null value is kept (nullable: true); other nulls are dropped from results. */
  nullable?: Set<string>;
}

export interface ListType {
  kind: 'list';
  elementType: TypeNode;
  listType: 'atomic' | 'set' | 'map';
  /** For listType map: the key fields, in the schema's order. */
  keys: string[];
  /** Default values of key fields, used when an item omits one. */
  keyDefaults?: Record<string, Json>;
}

/** No schema: maps are granular with deduced values, lists are atomic, the rest scalars. */
export interface DeducedType {
  kind: 'deduced';
}

export const deduced: DeducedType = { kind: 'deduced' };
export const scalar: ScalarType = { kind: 'scalar' };

/** A granular map (struct) with the given fields; other keys deduced. */
export function struct(fields: Record<string, TypeNode>, opts: { atomic?: boolean; elementType?: TypeNode } = {}): MapType {
  return { kind: 'map', fields: new Map(Object.entries(fields)), elementType: opts.elementType ?? deduced, atomic: opts.atomic ?? false };
}

/** A map of any keys whose values have the given type (additionalProperties). */
export function mapOf(elementType: TypeNode, opts: { atomic?: boolean } = {}): MapType {
  return { kind: 'map', fields: new Map(), elementType, atomic: opts.atomic ?? false };
}

export function atomicList(elementType: TypeNode = deduced): ListType {
  return { kind: 'list', elementType, listType: 'atomic', keys: [] };
}

export function setList(elementType: TypeNode = scalar): ListType {
  return { kind: 'list', elementType, listType: 'set', keys: [] };
}

export function mapList(keys: string[], elementType: TypeNode): ListType {
  return { kind: 'list', elementType, listType: 'map', keys };
}

/** The parts of an OpenAPI v3 (structural) schema that matter here; src/api's Schema fits it. */
export interface OpenAPISchema {
  type?: string;
  properties?: Record<string, OpenAPISchema>;
  items?: OpenAPISchema;
  additionalProperties?: OpenAPISchema | boolean;
  default?: unknown;
  nullable?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
}

const embeddedMeta: Record<string, OpenAPISchema> = {
  apiVersion: { type: 'string' },
  kind: { type: 'string' },
  metadata: {
    type: 'object',
    properties: {
      labels: { type: 'object', additionalProperties: { type: 'string' } },
      annotations: { type: 'object', additionalProperties: { type: 'string' } },
    },
    'x-kubernetes-preserve-unknown-fields': true,
  },
};

/** Converts a structural OpenAPI v3 schema into the type apply uses. */
export function fromOpenAPI(s: OpenAPISchema | undefined): TypeNode {
  if (!s) return deduced;
  if (s['x-kubernetes-int-or-string']) return scalar;
  const type = s.type;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  if (type === 'array') {
    const elementType = fromOpenAPI(s.items);
    const listType = s['x-kubernetes-list-type'] ?? 'atomic';
    if (listType === 'map') {
      const keys = s['x-kubernetes-list-map-keys'] ?? [];
      const keyDefaults: Record<string, Json> = {};
      for (const k of keys) {
        const d = s.items?.properties?.[k]?.default;
        if (d !== undefined) keyDefaults[k] = d as Json;
      }
      return { kind: 'list', elementType, listType: 'map', keys, ...(Object.keys(keyDefaults).length ? { keyDefaults } : {}) };
    }
    return { kind: 'list', elementType, listType, keys: [] };
  }
  if (type === 'object' || s.properties || s.additionalProperties !== undefined) {
    const props: Record<string, OpenAPISchema> = { ...(s['x-kubernetes-embedded-resource'] ? embeddedMeta : {}), ...(s.properties ?? {}) };
    const fields = new Map<string, TypeNode>();
    const nullable = new Set<string>();
    for (const [name, sub] of Object.entries(props)) {
      fields.set(name, fromOpenAPI(sub));
      if (sub.nullable) nullable.add(name);
    }
    let elementType: TypeNode = deduced;
    if (s.additionalProperties && typeof s.additionalProperties === 'object') elementType = fromOpenAPI(s.additionalProperties);
    const node: MapType = { kind: 'map', fields, elementType, atomic: s['x-kubernetes-map-type'] === 'atomic' };
    if (nullable.size) node.nullable = nullable;
    return node;
  }
  if (type === 'string' || type === 'integer' || type === 'number' || type === 'boolean') return scalar;
  if (preserve || !type) return deduced;
  return deduced;
}

/** The type of the field `name` of a map type (declared, else the element type). */
export function fieldType(t: TypeNode, name: string): TypeNode {
  if (t.kind === 'map') return t.fields.get(name) ?? t.elementType;
  return deduced;
}

/** Whether `name` is a declared field of a map type (kube's struct fields). */
export function isDeclaredField(t: TypeNode, name: string): boolean {
  return t.kind === 'map' && t.fields.has(name);
}
