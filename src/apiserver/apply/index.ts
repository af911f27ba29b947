// Server-side apply and managedFields, self-contained (no imports from the rest of src/).
//
//   import { apply, update, fromOpenAPI, ApplyConflictError } from './apply/index.ts';
//   const type = fromOpenAPI(kindSchema);                   // once per kind
//   const r = apply(live, managedFieldsOf(live), body, 'kubectl', { type, force, subresource });
//   // r.object has metadata.managedFields; r.changed false → nothing to write.
//   const w = update(old, next, managedFieldsOf(old), 'kubectl-edit', { type });
//
// apply throws ApplyConflictError (409; .message and .causes worded as kube's) or
// ApplyInvalidError (400). See merge.ts for the semantics and docs/apply.md for the differences
// from kube.

export { apply, update, managedFieldsOf, fieldsOf, ApplyConflictError, ApplyInvalidError, MAX_UPDATE_MANAGERS, ANCIENT_CHANGES, BEFORE_FIRST_APPLY, LAST_APPLIED } from './merge.ts';
export type { AnyObject, ManagedFieldsEntry, Options, ApplyOptions, UpdateOptions, Result, Conflict } from './merge.ts';
export { FieldSet, FieldsV1Error, field, key, value, index, pathString, serializeElement, deserializeElement } from './fieldpath.ts';
export type { FieldsV1, Json, Path, PathElement } from './fieldpath.ts';
export { fromOpenAPI, deduced, scalar, struct, mapOf, atomicList, setList, mapList } from './schema.ts';
export type { TypeNode, MapType, ListType, OpenAPISchema } from './schema.ts';
export { merge, toFieldSet, compare, removeItems, validate } from './typed.ts';
