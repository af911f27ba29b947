// Whether there is a cluster to load a KubeConfig for (src/kube/config.ts), asked without
// importing @kubernetes/client-node: a standalone start never loads it.
import { existsSync } from 'node:fs';

export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** A kubeconfig file is given, or the in-cluster service account is there (`root` stands for `/` in tests). */
export function clusterConfigured(opts: { kubeconfig?: string; root?: string }): boolean {
  return !!opts.kubeconfig || (!!process.env.KUBERNETES_SERVICE_HOST && existsSync(`${opts.root ?? ''}${SERVICE_ACCOUNT_TOKEN}`));
}
