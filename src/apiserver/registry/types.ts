// What a resource is to the machinery: its names, its schema, and its strategy (the per-kind rules
// of k8s.io/apiserver/pkg/registry/rest: prepare, validate, table, field selectors).
import type { KObject } from '../../api/meta.ts';
import type { Schema } from '../../api/schema.ts';
import type { FieldError } from '../errors.ts';
import type { ManagedFieldsEntry } from '../apply/index.ts';

export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** Per-request facts the registry and strategies see. */
export interface RequestContext {
  user: UserInfo;
  dryRun: boolean;
  /**
   * Asks the request's authorizer whether its user may also do something else (a custom verb such
   * as `approve`, checked by a strategy). Absent for the server's own writes, which are trusted.
   */
  authorize?(attrs: { verb: string; apiGroup: string; resource: string; subresource?: string; namespace?: string; name?: string }): Promise<boolean>;
  /**
   * A controller's write that records what git already holds (repository sync): schema and
   * metadata are validated, but per-kind rules and side effects are skipped, and a create keeps
   * the status it carries. Never set from a request.
   */
  mirror?: boolean;
  /**
   * The manager a write is recorded under in metadata.managedFields (an `Update` entry): the
   * request's `fieldManager`, else the prefix of its User-Agent before '/' (kube's default);
   * the controllers' own names. Default 'pkgserver'.
   */
  fieldManager?: string;
  /**
   * managedFields already computed by a server-side apply that creates (the handler's upsert):
   * stored as they are instead of an `Update` entry. Never set but by the apply handler.
   */
  appliedManagedFields?: ManagedFieldsEntry[];
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description: string;
  /** 0: always shown; 1: only with -o wide */
  priority: number;
  cell(o: KObject): string | number | boolean | undefined;
}

/** How a write through a subresource (or the main resource) is narrowed to what it may change. */
export interface SubresourceStrategy {
  /** used by the server itself only: not served, not in discovery or OpenAPI */
  internal?: boolean;
  /** returns the object to store, built from the request's object and the stored one */
  prepareForUpdate(obj: KObject, old: KObject, ctx: RequestContext): KObject;
  validateUpdate?(obj: KObject, old: KObject, ctx: RequestContext): FieldError[] | Promise<FieldError[]>;
  /**
   * The fields a write through this subresource changes, as paths of field names (default: the
   * subresource's own name, e.g. [['status']]). Every other field of the object is a reset field
   * of the subresource for server-side apply and managedFields (neither owned nor applied).
   */
  writes?: string[][];
}

export interface Strategy {
  /** Errors for a metadata.name (default: DNS-1123 subdomain). */
  validateName?(name: string): FieldError[];
  /** false: names are never generated from metadata.generateName (422 instead) */
  allowGenerateName?: boolean;
  /** Clears or sets fields before a create is validated (status is cleared by the machinery). */
  prepareForCreate?(obj: KObject, ctx: RequestContext): void;
  /** Adjusts an update of the main resource (status is restored by the machinery). */
  prepareForUpdate?(obj: KObject, old: KObject, ctx: RequestContext): void;
  /** Per-kind validation of a new object (schema validation is done already). */
  validate?(obj: KObject, ctx: RequestContext): FieldError[] | Promise<FieldError[]>;
  /** Per-kind validation of an update of the main resource: immutable fields, transitions. */
  validateUpdate?(obj: KObject, old: KObject, ctx: RequestContext): FieldError[] | Promise<FieldError[]>;
  /** Refuses a DELETE (throw a StatusError); runs for dry runs too. */
  validateDelete?(obj: KObject, ctx: RequestContext): void | Promise<void>;
  /**
   * Writes of objects with the same lock key run one at a time (uniqueness checks, and kinds whose
   * writes have side effects, such as git, that must not interleave). Default: no lock.
   */
  lockKey?(namespace: string | undefined, name: string): string;
  /**
   * Store keys whose existence enforces a uniqueness across replicas (Repository: its
   * url+ref+directory). On a store with createIndexed (etcd) they are created in the object's
   * create transaction and deleted in its delete transaction; an existing one refuses the create
   * with `indexConflict`'s errors (422). The key of an object must not change with updates.
   */
  indexKeys?(obj: KObject): string[];
  indexConflict?(obj: KObject): FieldError[];
  /**
   * Side effects of a validated write, run under the lock just before the object is stored and
   * never for a dry run; they may still change the object being stored (e.g. status.git).
   */
  beforeCreate?(obj: KObject, ctx: RequestContext): Promise<void>;
  beforeUpdate?(obj: KObject, old: KObject, ctx: RequestContext, subresource?: string): Promise<void>;
  /** Side effects of removing the object for good (after the last finalizer). */
  beforeDelete?(obj: KObject, ctx: RequestContext): Promise<void>;
  /** Follow-up work after a write was stored (outside the lock), e.g. updating other objects. */
  afterWrite?(obj: KObject | undefined, old: KObject | undefined, ctx: RequestContext): Promise<void>;
}

export interface ResourceDef {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  namespaced: boolean;
  /** object schema: apiVersion, kind, metadata, spec, status */
  schema: Schema;
  /** subresources besides the main resource, e.g. status */
  subresources: Record<string, SubresourceStrategy>;
  /** verbs served on the main resource */
  verbs: string[];
  columns: PrinterColumn[];
  /** field selector name → value of that field in an object (metadata.name/namespace are implied) */
  fieldSelectors: Record<string, (o: KObject) => string>;
  /**
   * Field selectors indexed in the watch cache: a list with `field=value` on one of them reads the
   * matching objects only, not every object of the resource (as kube's cacher IndexerFuncs).
   */
  indexedFields?: string[];
  strategy: Strategy;
  description: string;
  /**
   * Decodes the message of a Kubernetes protobuf body (the raw bytes of its runtime.Unknown
   * envelope) into the JSON shape; a kind that has it accepts application/vnd.kubernetes.protobuf
   * bodies, which typed clients of client-go ≥ 1.32 (kubectl create namespace) send.
   */
  fromProtobuf?(raw: Buffer): KObject;
}

/** The subresources served over HTTP (internal ones are left out). */
export const servedSubresources = (r: Pick<ResourceDef, 'subresources'>) => Object.keys(r.subresources).filter((s) => !r.subresources[s].internal);

export const gv = (r: Pick<ResourceDef, 'group' | 'version'>) => (r.group ? `${r.group}/${r.version}` : r.version);
