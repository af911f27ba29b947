// The core v1 Namespace resource (standalone): kube's strategy (phase Active, the `kubernetes`
// finalizer in spec, the kubernetes.io/metadata.name label, DNS-1123 label names) and its table.
// Deletion differs from kube: there is no namespace controller to empty a Terminating namespace,
// so a namespace that still holds objects is refused (409, naming what remains) and an empty one
// goes at once; `default` may not be deleted.
import { CORE_GROUP, CORE_VERSION, NAMESPACE_NAME_LABEL, namespaceSchema, type Namespace } from '../../api/core.ts';
import type { KObject } from '../../api/meta.ts';
import { conflict, forbidden, type FieldError } from '../errors.ts';
import { decodeNamespace } from '../protobuf.ts';
import { dns1123LabelError } from '../validation.ts';
import { statusSubresource } from './status.ts';
import type { ResourceDef } from './types.ts';

export const DEFAULT_NAMESPACE = 'default';

export interface NamespaceOptions {
  /** what a namespace still holds: kind and number of objects, only kinds with objects */
  contents(namespace: string): { kind: string; count: number }[];
  /** after a namespace was deleted (e.g. to remove what does not hold it: its Events) */
  deleted?(namespace: string): Promise<void>;
}

function withNameLabel(o: KObject): void {
  o.metadata.labels = { ...(o.metadata.labels ?? {}), [NAMESPACE_NAME_LABEL]: o.metadata.name! };
}

export function namespaceResource(opts: NamespaceOptions): ResourceDef {
  const gr = { group: CORE_GROUP, resource: 'namespaces' };
  return {
    group: CORE_GROUP,
    version: CORE_VERSION,
    kind: 'Namespace',
    listKind: 'NamespaceList',
    plural: 'namespaces',
    singular: 'namespace',
    shortNames: ['ns'],
    categories: [],
    namespaced: false,
    schema: namespaceSchema,
    subresources: { status: statusSubresource },
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    description: 'Namespace provides a scope for Names.',
    fromProtobuf: (raw) => decodeNamespace(raw),
    columns: [
      { name: 'Status', type: 'string', description: 'The status of the namespace', priority: 0, cell: (o) => (o as Namespace).status?.phase },
      { name: 'Age', type: 'date', description: 'CreationTimestamp', priority: 0, cell: (o) => o.metadata.creationTimestamp },
    ],
    fieldSelectors: { 'status.phase': (o) => (o as Namespace).status?.phase ?? '' },
    strategy: {
      validateName(name): FieldError[] {
        const e = dns1123LabelError('metadata.name', name);
        return e ? [e] : [];
      },
      prepareForCreate(o) {
        const ns = o as Namespace;
        ns.status = { phase: 'Active' };
        const finalizers = ns.spec?.finalizers ?? [];
        ns.spec = { ...ns.spec, finalizers: finalizers.includes('kubernetes') ? finalizers : [...finalizers, 'kubernetes'] };
        withNameLabel(o);
      },
      prepareForUpdate(o, old) {
        // spec.finalizers change only through namespaces/finalize in kube (not served here)
        const finalizers = (old as Namespace).spec?.finalizers;
        const spec = { ...(o as Namespace).spec };
        if (finalizers) spec.finalizers = finalizers;
        else delete spec.finalizers;
        (o as Namespace).spec = spec;
        withNameLabel(o);
      },
      validateDelete(o) {
        const name = o.metadata.name!;
        if (name === DEFAULT_NAMESPACE) throw forbidden(gr, name, 'this namespace may not be deleted');
        const left = opts.contents(name);
        if (left.length)
          throw conflict(gr, name, `the namespace is not empty; it still holds ${left.map((c) => `${c.kind} (${c.count})`).join(', ')}; delete them first`);
      },
      async afterWrite(o, old) {
        if (!o && old) await opts.deleted?.(old.metadata.name!);
      },
    },
  };
}
