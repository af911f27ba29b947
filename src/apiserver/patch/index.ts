// The patch types PATCH accepts, applied to the stored object (handlers/patch.go).
import jsonMergePatch from 'json-merge-patch';
import fastJsonPatch from 'fast-json-patch';
import type { Schema } from '../../api/schema.ts';
import { badRequest, StatusError, unsupportedMediaType } from '../errors.ts';
import { PATCH_TYPES } from '../openapi/builder.ts';
import { applyStrategicMergePatch, PatchError, type SchemaNode } from './strategic.ts';

export type PatchType = 'json' | 'merge' | 'strategic';

const TYPES: Record<string, PatchType> = {
  'application/json-patch+json': 'json',
  'application/merge-patch+json': 'merge',
  'application/strategic-merge-patch+json': 'strategic',
};

export function patchType(mediaType: string): PatchType {
  const t = TYPES[mediaType];
  if (!t) throw unsupportedMediaType(mediaType, PATCH_TYPES);
  return t;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Applies a decoded patch body to (a copy of) `current`. Errors are 400 (malformed) or 422 (does not apply). */
export function applyPatch(type: PatchType, current: unknown, patch: unknown, schema: Schema): unknown {
  switch (type) {
    case 'merge':
      if (!isObject(patch)) throw badRequest('a JSON merge patch must be a JSON object');
      return jsonMergePatch.apply(structuredClone(current), patch);
    case 'strategic':
      if (!isObject(patch)) throw badRequest('a strategic merge patch must be a JSON object');
      try {
        return applyStrategicMergePatch(current, patch, schema as SchemaNode);
      } catch (e) {
        if (e instanceof PatchError) throw new StatusError(422, 'Invalid', e.message);
        throw e;
      }
    case 'json': {
      if (!Array.isArray(patch)) throw badRequest('a JSON patch must be a JSON array of operations');
      const bad = fastJsonPatch.validate(patch as fastJsonPatch.Operation[], undefined);
      if (bad) throw badRequest(`invalid JSON patch: ${describe(bad)}`);
      try {
        return fastJsonPatch.applyPatch(structuredClone(current), patch as fastJsonPatch.Operation[], false, false).newDocument;
      } catch (e) {
        throw new StatusError(422, 'Invalid', `the JSON patch does not apply: ${describe(e)}`);
      }
    }
  }
}

function describe(e: unknown): string {
  if (e instanceof fastJsonPatch.JsonPatchError) {
    const op = e.operation as { op?: string; path?: string } | undefined;
    const what: Record<string, string> = {
      TEST_OPERATION_FAILED: 'test operation failed',
      OPERATION_PATH_UNRESOLVABLE: 'path does not exist',
      OPERATION_FROM_UNRESOLVABLE: '"from" path does not exist',
      OPERATION_PATH_INVALID: 'invalid path',
      OPERATION_OP_INVALID: 'unknown operation',
      OPERATION_VALUE_REQUIRED: 'missing value',
    };
    return `${what[e.name] ?? e.name}${op?.op ? ` (op "${op.op}"${op.path !== undefined ? ` at "${op.path}"` : ''})` : ''}`;
  }
  return e instanceof Error ? e.message : String(e);
}
