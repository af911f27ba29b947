// coordination.k8s.io/v1 Lease: what leader election writes (kube's type, the fields it uses).
import { objectMetaSchema, type KObject } from './meta.ts';
import { int, obj, str, type Schema } from './schema.ts';

export const COORDINATION_GROUP = 'coordination.k8s.io';
export const COORDINATION_VERSION = 'v1';
const DEF = 'io.k8s.api.coordination.v1';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
}

export interface Lease extends KObject {
  spec?: LeaseSpec;
}

const microTime = (description: string): Schema => str(description, { format: 'date-time' });

export const leaseSchema: Schema = obj('Lease defines a lease concept.', {
  apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
  kind: str('Kind is a string value representing the REST resource this object represents.'),
  metadata: objectMetaSchema,
  spec: obj(
    'LeaseSpec is a specification of a Lease.',
    {
      holderIdentity: str('holderIdentity contains the identity of the holder of a current lease.'),
      leaseDurationSeconds: int('leaseDurationSeconds is a duration that candidates for a lease need to wait to force acquire it.', { format: 'int32' }),
      acquireTime: microTime('acquireTime is a time when the current lease was acquired.'),
      renewTime: microTime('renewTime is a time when the current holder of a lease has last updated the lease.'),
      leaseTransitions: int('leaseTransitions is the number of transitions of a lease between holders.', { format: 'int32' }),
    },
    { 'x-pkgserver-ref': `${DEF}.LeaseSpec` },
  ),
});
