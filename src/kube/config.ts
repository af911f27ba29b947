// Where pkgserver finds the Kubernetes cluster it runs in: a kubeconfig file when one is given,
// else the in-cluster service account (KUBERNETES_SERVICE_HOST and the mounted token), else none
// (standalone mode).
import { KubeConfig } from '@kubernetes/client-node';
import { clusterConfigured } from './incluster.ts';

export { SERVICE_ACCOUNT_TOKEN } from './incluster.ts';

export interface KubeConfigOptions {
  /** a kubeconfig file (`--authentication-kubeconfig` and the like) */
  kubeconfig?: string;
  /** a directory standing for `/` when looking for the service account files (tests) */
  root?: string;
}

/** The cluster's KubeConfig, or undefined when there is no cluster. Throws for an unusable kubeconfig file. */
export function loadKubeConfig(opts: KubeConfigOptions): KubeConfig | undefined {
  const kc = new KubeConfig();
  if (opts.kubeconfig) {
    try {
      kc.loadFromFile(opts.kubeconfig);
    } catch (e) {
      // only the first line: a YAML error goes on with a snippet of the file, which may hold a token
      throw new Error(`unable to load kubeconfig "${opts.kubeconfig}": ${String((e as Error).message).split('\n')[0]}`);
    }
    if (!kc.getCurrentCluster()) throw new Error(`kubeconfig "${opts.kubeconfig}" has no current context with a cluster`);
    return kc;
  }
  if (clusterConfigured({ root: opts.root })) {
    kc.loadFromCluster(opts.root ?? '');
    return kc;
  }
  return undefined;
}
