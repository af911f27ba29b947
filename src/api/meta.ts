// metav1 types shared by every kind, and their schemas.
import { arr, bool, int, obj, str, stringMap, type Schema } from './schema.ts';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: Record<string, unknown>;
  subresource?: string;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  managedFields?: ManagedFieldsEntry[];
}

/** Any API object as it travels through the machinery. */
export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: any;
  status?: any;
  [field: string]: unknown;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

/** RFC 3339 without fractional seconds, as Kubernetes writes timestamps. */
export function timestamp(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const ownerReferenceSchema: Schema = obj(
  'OwnerReference contains enough information to let you identify an owning object.',
  {
    apiVersion: str('API version of the referent.'),
    kind: str('Kind of the referent.'),
    name: str('Name of the referent.'),
    uid: str('UID of the referent.'),
    controller: bool('If true, this reference points to the managing controller.'),
    blockOwnerDeletion: bool('If true, the owner cannot be deleted from the key-value store until this reference is removed.'),
  },
  { required: ['apiVersion', 'kind', 'name', 'uid'], 'x-kubernetes-map-type': 'atomic', 'x-pkgserver-ref': 'io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference' },
);

export const managedFieldsEntrySchema: Schema = obj(
  'ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.',
  {
    apiVersion: str('APIVersion defines the version of this resource that this field set applies to.'),
    fieldsType: str('FieldsType is the discriminator for the different fields format and version.'),
    fieldsV1: { type: 'object', description: 'FieldsV1 holds the first JSON version format.', 'x-kubernetes-preserve-unknown-fields': true },
    manager: str('Manager is an identifier of the workflow managing these fields.'),
    operation: str('Operation is the type of operation which lead to this ManagedFieldsEntry being created.'),
    subresource: str('Subresource is the name of the subresource used to update that object.'),
    time: str('Time is the timestamp of when the ManagedFields entry was added.', { format: 'date-time' }),
  },
  { 'x-pkgserver-ref': 'io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry' },
);

export const objectMetaSchema: Schema = obj(
  'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
  {
    name: str('Name must be unique within a namespace.'),
    generateName: str('GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided.'),
    namespace: str('Namespace defines the space within which each name must be unique.'),
    uid: str('UID is the unique in time and space value for this object. Populated by the system. Read-only.'),
    resourceVersion: str('An opaque value that represents the internal version of this object, used for optimistic concurrency and watch. Populated by the system. Read-only.'),
    generation: int('A sequence number representing a specific generation of the desired state. Populated by the system. Read-only.'),
    creationTimestamp: str('CreationTimestamp is a timestamp representing the server time when this object was created. Populated by the system. Read-only.', { format: 'date-time' }),
    deletionTimestamp: str('DeletionTimestamp is the time after which this resource will be deleted, set by the server when a graceful deletion is requested. Read-only.', { format: 'date-time' }),
    deletionGracePeriodSeconds: int('Number of seconds allowed for this object to gracefully terminate before it will be removed from the system. Read-only.'),
    labels: stringMap('Map of string keys and values that can be used to organize and categorize (scope and select) objects.'),
    annotations: stringMap('Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata.'),
    finalizers: arr('Must be empty before the object is deleted from the registry.', { type: 'string' }, {
      'x-kubernetes-list-type': 'set',
      'x-kubernetes-patch-strategy': 'merge',
    }),
    ownerReferences: arr('List of objects depended by this object.', ownerReferenceSchema, {
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['uid'],
      'x-kubernetes-patch-merge-key': 'uid',
      'x-kubernetes-patch-strategy': 'merge',
    }),
    managedFields: arr('ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow.', managedFieldsEntrySchema),
  },
  { 'x-pkgserver-ref': 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' },
);

export const conditionSchema: Schema = obj(
  'Condition contains details for one aspect of the current state of this API Resource.',
  {
    type: str('Type of condition in CamelCase or in foo.example.com/CamelCase.'),
    status: str('Status of the condition, one of True, False, Unknown.', { enum: ['True', 'False', 'Unknown'] }),
    reason: str("Reason contains a programmatic identifier indicating the reason for the condition's last transition."),
    message: str('Message is a human readable message indicating details about the transition.'),
    lastTransitionTime: str('LastTransitionTime is the last time the condition transitioned from one status to another.', { format: 'date-time' }),
    observedGeneration: int('ObservedGeneration represents the .metadata.generation that the condition was set based upon.'),
  },
  { required: ['type', 'status'] },
);

export const conditionsSchema: Schema = arr('Conditions describe the current state.', conditionSchema, {
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  'x-kubernetes-patch-merge-key': 'type',
  'x-kubernetes-patch-strategy': 'merge',
});

/** Finds a condition by type. */
export function findCondition(conds: Condition[] | undefined, type: string): Condition | undefined {
  return conds?.find((c) => c.type === type);
}

/** What a controller says in a condition; the times are the setter's. */
export type ConditionValue = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

/** Whether the conditions already say exactly this (type, status, reason and message). */
export function hasCondition(conds: Condition[] | undefined, c: ConditionValue): boolean {
  const old = findCondition(conds, c.type);
  return !!old && old.status === c.status && old.reason === c.reason && old.message === c.message;
}

/**
 * The conditions with `c` set, as apimachinery's meta.SetStatusCondition: the others kept, the
 * transition time kept while the status stays, the observed generation recorded.
 */
export function setCondition(conds: Condition[] | undefined, c: ConditionValue, generation?: number): Condition[] {
  const prev = findCondition(conds, c.type);
  return [
    ...(conds ?? []).filter((x) => x.type !== c.type),
    { ...c, lastTransitionTime: prev?.status === c.status && prev.lastTransitionTime ? prev.lastTransitionTime : timestamp(), ...(generation !== undefined ? { observedGeneration: generation } : {}) },
  ];
}

/**
 * Freezes an object and everything in it (an object shared by readers that must not change it);
 * with `intern`, every string value in it is first replaced by `intern`'s instance.
 */
export function deepFreeze<T>(o: T, intern?: (s: string) => string): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    const rec = o as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      const v = rec[k];
      if (typeof v === 'string') {
        if (intern) rec[k] = intern(v);
      } else deepFreeze(v, intern);
    }
    Object.freeze(o);
  }
  return o;
}
