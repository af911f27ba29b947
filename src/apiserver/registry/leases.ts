// coordination.k8s.io/v1 Lease (standalone, and on a store that several replicas share): what the
// controllers' leader election writes (src/controllers/runtime/leaderelection.ts), served like
// kube-apiserver serves it, so that `kubectl get leases -n kube-system` shows who leads. kube's
// ValidateLease: DNS-1123 subdomain names, leaseDurationSeconds > 0 and leaseTransitions >= 0 when
// set. In a cluster the Lease lives in kube-apiserver and this resource is not served.
import { COORDINATION_GROUP, COORDINATION_VERSION, leaseSchema, type Lease } from '../../api/coordination.ts';
import type { KObject } from '../../api/meta.ts';
import { fieldErr, type FieldError } from '../errors.ts';
import { dns1123SubdomainError } from '../validation.ts';
import type { ResourceDef } from './types.ts';

const spec = (o: KObject) => (o as Lease).spec ?? {};

function validateLease(o: KObject): FieldError[] {
  const s = spec(o);
  const errs: FieldError[] = [];
  if (s.leaseDurationSeconds != null && !(s.leaseDurationSeconds > 0)) errs.push(fieldErr.invalid('spec.leaseDurationSeconds', s.leaseDurationSeconds, 'must be greater than 0'));
  if (s.leaseTransitions != null && s.leaseTransitions < 0) errs.push(fieldErr.invalid('spec.leaseTransitions', s.leaseTransitions, 'must be greater than or equal to 0'));
  return errs;
}

export function leaseResource(): ResourceDef {
  return {
    group: COORDINATION_GROUP,
    version: COORDINATION_VERSION,
    kind: 'Lease',
    listKind: 'LeaseList',
    plural: 'leases',
    singular: 'lease',
    shortNames: [],
    categories: [],
    namespaced: true,
    schema: leaseSchema,
    subresources: {},
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    description: 'Lease defines a lease concept.',
    // kube-apiserver's table for leases: NAME, HOLDER, AGE
    columns: [
      { name: 'Holder', type: 'string', description: 'holderIdentity contains the identity of the holder of a current lease.', priority: 0, cell: (o) => spec(o).holderIdentity ?? '' },
      { name: 'Age', type: 'date', description: 'CreationTimestamp', priority: 0, cell: (o) => o.metadata.creationTimestamp },
    ],
    fieldSelectors: {},
    strategy: {
      validateName(name): FieldError[] {
        const e = dns1123SubdomainError('metadata.name', name);
        return e ? [e] : [];
      },
      validate: (o) => validateLease(o),
    },
  };
}
