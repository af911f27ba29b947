// The core v1 Event resource (standalone): kube's legacy validation, kube-apiserver's table for
// events (LAST SEEN, TYPE, REASON, OBJECT, MESSAGE; wide: SUBOBJECT, SOURCE, FIRST SEEN, COUNT,
// NAME) and its field selectors, which `kubectl describe` and `kubectl events` use.
import { CORE_GROUP, CORE_VERSION, eventSchema, type CoreEvent } from '../../api/core.ts';
import type { KObject } from '../../api/meta.ts';
import { fieldErr, type FieldError } from '../errors.ts';
import { humanDuration } from '../table.ts';
import type { ResourceDef } from './types.ts';

const ev = (o: KObject) => o as CoreEvent;

/** translateTimestampSince / translateMicroTimestampSince of kube's printers */
const since = (t: string | null | undefined) => (t ? humanDuration(Date.now() - Date.parse(t)) : '<unknown>');

function firstSeen(e: CoreEvent): string {
  return since(e.firstTimestamp || e.eventTime);
}

function lastSeen(e: CoreEvent): string {
  if (e.series) return since(e.series.lastObservedTime);
  return e.lastTimestamp ? since(e.lastTimestamp) : firstSeen(e);
}

/** The time an Event was last written by its reporter: the TTL counts from it. */
export function lastObserved(e: CoreEvent): number {
  const times = [e.series?.lastObservedTime, e.lastTimestamp, e.eventTime, e.firstTimestamp, e.metadata.creationTimestamp].filter((t): t is string => !!t).map(Date.parse);
  return Math.max(...times.filter((t) => !Number.isNaN(t)), 0);
}

/** legacyValidateEvent of pkg/apis/core/validation (what core v1 applies to creates and updates) */
function validateEvent(o: KObject): FieldError[] {
  const e = ev(o);
  const errs: FieldError[] = [];
  const ns = e.metadata.namespace ?? '';
  const involvedNS = e.involvedObject?.namespace ?? '';
  const mismatch = () => fieldErr.invalid('involvedObject.namespace', involvedNS, 'does not match event.namespace');
  if (!e.eventTime) {
    if (involvedNS ? ns !== involvedNS : ns !== '' && ns !== 'default') errs.push(mismatch());
  } else {
    if (!involvedNS && ns !== 'default' && ns !== 'kube-system') errs.push(mismatch());
    const limit = (field: string, value: string | undefined, max: number, required = true) => {
      if (!value) {
        if (required) errs.push(fieldErr.required(field));
      } else if (value.length > max) errs.push(fieldErr.invalid(field, '', `can have at most ${max} characters`));
    };
    if (!e.reportingComponent) errs.push(fieldErr.required('reportingComponent'));
    limit('reportingInstance', e.reportingInstance, 128);
    limit('action', e.action, 128);
    limit('reason', e.reason, 128);
    limit('message', e.message, 1024, false);
  }
  return errs;
}

export function eventResource(): ResourceDef {
  return {
    group: CORE_GROUP,
    version: CORE_VERSION,
    kind: 'Event',
    listKind: 'EventList',
    plural: 'events',
    singular: 'event',
    shortNames: ['ev'],
    categories: [],
    namespaced: true,
    schema: eventSchema,
    subresources: {},
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    description: 'Event is a report of an event somewhere in the cluster.',
    columns: [
      { name: 'Last Seen', type: 'string', description: 'The time at which the most recent occurrence of this event was recorded.', priority: 0, cell: (o) => lastSeen(ev(o)) },
      { name: 'Type', type: 'string', description: 'Type of this event (Normal, Warning), new types could be added in the future.', priority: 0, cell: (o) => ev(o).type ?? '' },
      { name: 'Reason', type: 'string', description: "This should be a short, machine understandable string that gives the reason for this event being generated.", priority: 0, cell: (o) => ev(o).reason ?? '' },
      {
        name: 'Object',
        type: 'string',
        description: 'The object this Event is about.',
        priority: 0,
        cell: (o) => {
          const r = ev(o).involvedObject ?? {};
          const kind = (r.kind ?? '').toLowerCase();
          return r.name ? `${kind}/${r.name}` : kind;
        },
      },
      { name: 'Subobject', type: 'string', description: 'The part of the object this Event is about (fieldPath).', priority: 1, cell: (o) => ev(o).involvedObject?.fieldPath ?? '' },
      {
        name: 'Source',
        type: 'string',
        description: 'The component reporting this event.',
        priority: 1,
        cell: (o) => {
          const e = ev(o);
          const component = e.source?.component || e.reportingComponent || '';
          const instance = e.source?.host || e.reportingInstance || '';
          return instance ? `${component}, ${instance}` : component;
        },
      },
      { name: 'Message', type: 'string', description: 'A human-readable description of the status of this operation.', priority: 0, cell: (o) => (ev(o).message ?? '').trim() },
      { name: 'First Seen', type: 'string', description: 'The time at which the event was first recorded.', priority: 1, cell: (o) => firstSeen(ev(o)) },
      {
        name: 'Count',
        type: 'string',
        description: 'The number of times this event has occurred.',
        priority: 1,
        cell: (o) => {
          const e = ev(o);
          return e.series ? (e.series.count ?? 0) : e.count || 1;
        },
      },
      { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 1, cell: (o) => o.metadata.name },
    ],
    fieldSelectors: {
      'involvedObject.kind': (o) => ev(o).involvedObject?.kind ?? '',
      'involvedObject.namespace': (o) => ev(o).involvedObject?.namespace ?? '',
      'involvedObject.name': (o) => ev(o).involvedObject?.name ?? '',
      'involvedObject.uid': (o) => ev(o).involvedObject?.uid ?? '',
      'involvedObject.apiVersion': (o) => ev(o).involvedObject?.apiVersion ?? '',
      'involvedObject.resourceVersion': (o) => ev(o).involvedObject?.resourceVersion ?? '',
      'involvedObject.fieldPath': (o) => ev(o).involvedObject?.fieldPath ?? '',
      reason: (o) => ev(o).reason ?? '',
      reportingComponent: (o) => ev(o).reportingComponent ?? '',
      source: (o) => ev(o).source?.component || ev(o).reportingComponent || '',
      type: (o) => ev(o).type ?? '',
    },
    strategy: {
      validate: validateEvent,
      validateUpdate: validateEvent,
    },
  };
}
