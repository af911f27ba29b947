// The legacy core group ("", v1) as far as the standalone server serves it: Event and Namespace,
// with kube's field names and OpenAPI definition names (io.k8s.api.core.v1.*).
import { conditionSchema, objectMetaSchema, type KObject } from './meta.ts';
import { arr, int, obj, str, type Schema } from './schema.ts';

export const CORE_GROUP = '';
export const CORE_VERSION = 'v1';

const CORE_DEF = 'io.k8s.api.core.v1';

// ---------------------------------------------------------------- Event

export interface ObjectReference {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiVersion?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface CoreEvent extends KObject {
  involvedObject: ObjectReference;
  reason?: string;
  message?: string;
  source?: { component?: string; host?: string };
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  count?: number;
  type?: string;
  eventTime?: string | null;
  series?: { count?: number; lastObservedTime?: string };
  action?: string;
  related?: ObjectReference;
  reportingComponent?: string;
  reportingInstance?: string;
}

const time = (description: string): Schema => str(description, { format: 'date-time', nullable: true });
const int32 = (description: string): Schema => ({ ...int(description), format: 'int32' });

const objectReferenceSchema: Schema = obj(
  'ObjectReference contains enough information to let you inspect or modify the referred object.',
  {
    apiVersion: str('API version of the referent.'),
    fieldPath: str('If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].'),
    kind: str('Kind of the referent.'),
    name: str('Name of the referent.'),
    namespace: str('Namespace of the referent.'),
    resourceVersion: str('Specific resourceVersion to which this reference is made, if any.'),
    uid: str('UID of the referent.'),
  },
  { 'x-kubernetes-map-type': 'atomic', 'x-pkgserver-ref': `${CORE_DEF}.ObjectReference` },
);

export const eventSchema: Schema = obj(
  'Event is a report of an event somewhere in the cluster.',
  {
    apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
    kind: str('Kind is a string value representing the REST resource this object represents.'),
    metadata: objectMetaSchema,
    involvedObject: objectReferenceSchema,
    reason: str('This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.'),
    message: str('A human-readable description of the status of this operation.'),
    source: obj(
      'EventSource contains information for an event.',
      { component: str('Component from which the event is generated.'), host: str('Node name on which the event is generated.') },
      { 'x-pkgserver-ref': `${CORE_DEF}.EventSource` },
    ),
    firstTimestamp: time('The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)'),
    lastTimestamp: time('The time at which the most recent occurrence of this event was recorded.'),
    count: int32('The number of times this event has occurred.'),
    type: str('Type of this event (Normal, Warning), new types could be added in the future'),
    eventTime: time('Time when this Event was first observed (MicroTime).'),
    series: obj(
      'EventSeries contain information on series of events, i.e. thing that was/is happening continuously for some time.',
      { count: int32('Number of occurrences in this series up to the last heartbeat time'), lastObservedTime: time('Time of the last occurrence observed (MicroTime)') },
      { 'x-pkgserver-ref': `${CORE_DEF}.EventSeries` },
    ),
    action: str('What action was taken/failed regarding to the Regarding object.'),
    related: objectReferenceSchema,
    reportingComponent: str('Name of the controller that emitted this Event, e.g. `kubernetes.io/kubelet`.'),
    reportingInstance: str('ID of the controller instance, e.g. `kubelet-xyzf`.'),
  },
  { required: ['metadata', 'involvedObject'] },
);

// ---------------------------------------------------------------- Namespace

export interface Namespace extends KObject {
  spec?: { finalizers?: string[] };
  status?: { phase?: 'Active' | 'Terminating'; conditions?: unknown[] };
}

/** The label kube-apiserver puts on every namespace (immutable: always the namespace's name). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export const namespaceSchema: Schema = obj('Namespace provides a scope for Names. Use of multiple namespaces is optional.', {
  apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
  kind: str('Kind is a string value representing the REST resource this object represents.'),
  metadata: objectMetaSchema,
  spec: obj(
    'NamespaceSpec describes the attributes on a Namespace.',
    { finalizers: arr('Finalizers is an opaque list of values that must be empty to permanently remove object from storage.', { type: 'string' }, { 'x-kubernetes-list-type': 'atomic' }) },
    { 'x-pkgserver-ref': `${CORE_DEF}.NamespaceSpec` },
  ),
  status: obj(
    'NamespaceStatus is information about the current status of a Namespace.',
    {
      phase: str('Phase is the current lifecycle phase of the namespace.', { enum: ['Active', 'Terminating'] }),
      conditions: arr('Represents the latest available observations of a namespace\'s current state.', conditionSchema, {
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
        'x-kubernetes-patch-merge-key': 'type',
        'x-kubernetes-patch-strategy': 'merge',
      }),
    },
    { 'x-pkgserver-ref': `${CORE_DEF}.NamespaceStatus` },
  ),
});
