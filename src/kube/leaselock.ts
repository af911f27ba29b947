// The controllers' leader Lease in kube-apiserver (a cluster): coordination.k8s.io/v1 through
// @kubernetes/client-node, compare-and-swap by sending the read resourceVersion with the update
// (409 when the Lease moved meanwhile). Loaded only in a cluster (app.ts clusterModules()).
import { ApiException, CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { LeaseLock, LeaseRecord } from '../controllers/runtime/leaderelection.ts';

const toDate = (t: string | undefined) => (t ? new Date(t) : undefined);

function toRecord(l: V1Lease): LeaseRecord {
  const s = l.spec ?? {};
  const iso = (d: Date | string | undefined) => (d === undefined ? undefined : new Date(d).toISOString());
  return {
    holderIdentity: s.holderIdentity ?? '',
    leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
    ...(s.acquireTime ? { acquireTime: iso(s.acquireTime as unknown as Date) } : {}),
    ...(s.renewTime ? { renewTime: iso(s.renewTime as unknown as Date) } : {}),
    leaseTransitions: s.leaseTransitions ?? 0,
  };
}

function toSpec(r: LeaseRecord): V1Lease['spec'] {
  return {
    holderIdentity: r.holderIdentity,
    leaseDurationSeconds: r.leaseDurationSeconds,
    acquireTime: toDate(r.acquireTime) as V1Lease['spec'] extends { acquireTime?: infer T } ? T : never,
    renewTime: toDate(r.renewTime) as V1Lease['spec'] extends { renewTime?: infer T } ? T : never,
    leaseTransitions: r.leaseTransitions,
  };
}

/** The Lease `namespace/name` in the cluster that `kubeConfig` names. */
export function clusterLeaseLock(kubeConfig: KubeConfig, namespace: string, name: string): LeaseLock {
  const api = kubeConfig.makeApiClient(CoordinationV1Api);
  return {
    description: `${namespace}/${name}`,
    async get() {
      try {
        const l = await api.readNamespacedLease({ name, namespace });
        return { record: toRecord(l), version: l.metadata!.resourceVersion! };
      } catch (e) {
        if (e instanceof ApiException && e.code === 404) return null;
        throw e;
      }
    },
    async create(record) {
      await api.createNamespacedLease({ namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: toSpec(record) } });
    },
    async update(record, version) {
      await api.replaceNamespacedLease({ name, namespace, body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace, resourceVersion: version }, spec: toSpec(record) } });
    },
  };
}
