// The APIs a Kubernetes cluster serves by itself: every built-in kind of kube-apiserver (with its
// apiextensions and kube-aggregator parts) that Kubernetes 1.27 to 1.33 serve with default
// settings. Standalone, pkgserver has no cluster to ask, so this list stands for "the cluster":
// a resource document of one of these kinds is a core API.
//
// How the list was made: by hand, from kube-apiserver's sources of each release, 1.27 to 1.33:
// DefaultAPIResourceConfigSource (pkg/controlplane; stable group versions on, beta group versions
// off since KEP-3136 except the legacy beta resources it names, alpha always off), the REST
// storage providers of each group (pkg/registry/*/rest: which resources a group version has, and
// the feature gates some of them wait for, e.g. MultiCIDRServiceAllocator, GA and on in 1.33, for
// networking.k8s.io/v1 IPAddress and ServiceCIDR), and the version priorities of
// kube-aggregator (cmd/kube-apiserver/app/aggregator.go and pkg/controlplane/apiserver), which
// order a group's versions in discovery (preferred version first). Scopes and plural names are
// those of the api/discovery documents.
//
// "Union": a kind is listed when at least one of those releases serves it by default, and its
// `versions` are every version that at least one of them serves, so no single release need serve
// all of them: ValidatingAdmissionPolicy is v1 from 1.30 (v1beta1, 1.28–1.30, is a beta group
// version and off); FlowSchema is v1beta2 in 1.27–1.28, v1beta3 in 1.27–1.31, v1 from 1.29;
// IPAddress and ServiceCIDR are v1 in 1.33 only (their beta, 1.31–1.32, is off). Left out: APIs
// that are off by default in every one of those releases (every alpha version; beta group versions
// such as authentication.k8s.io/v1beta1 SelfSubjectReview in 1.27, admissionregistration.k8s.io/
// v1beta1, storage.k8s.io/v1beta1 VolumeAttributesClass, resource.k8s.io, certificates.k8s.io/
// v1beta1 ClusterTrustBundle, coordination.k8s.io/v1beta1 LeaseCandidate), APIs removed before
// 1.27 (autoscaling/v2beta2, storage.k8s.io/v1beta1 CSIStorageCapacity, policy PodSecurityPolicy),
// subresources (pods/status, pods/eviction, serviceaccounts/token, ...) and core v1 Binding
// (`bindings`, a create-only stand-in for pods/binding, not an object anyone keeps).

export interface ServedAPI {
  /** '' for the legacy core group */
  group: string;
  kind: string;
  /** the resource's plural name */
  resource: string;
  /** every version serving this kind, newest first as kube orders preferred versions */
  versions: string[];
  namespaced: boolean;
}

export interface APIIndex {
  /** the kind served as `resource` (plural) in `group` */
  kind(group: string, resource: string): string | undefined;
  api(group: string, kind: string): ServedAPI | undefined;
  all(): readonly ServedAPI[];
}

const api = (group: string, versions: string[], namespaced: boolean, kind: string, resource: string): ServedAPI =>
  Object.freeze({ group, kind, resource, versions: Object.freeze([...versions]) as string[], namespaced });

/** [kind, plural] of a group whose kinds share their versions and scope */
type Kinds = [kind: string, resource: string][];
const group = (name: string, versions: string[], namespaced: Kinds, cluster: Kinds = []): ServedAPI[] =>
  [...namespaced.map(([k, r]) => api(name, versions, true, k, r)), ...cluster.map(([k, r]) => api(name, versions, false, k, r))].sort((a, b) =>
    a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0,
  );

const V1 = ['v1'];

/** In the order of kube-apiserver's discovery: the core group, then groups by priority; in a group, by resource. */
export const KUBERNETES_APIS: readonly ServedAPI[] = Object.freeze([
  ...group(
    '',
    V1,
    [
      ['ConfigMap', 'configmaps'],
      ['Endpoints', 'endpoints'],
      ['Event', 'events'],
      ['LimitRange', 'limitranges'],
      ['PersistentVolumeClaim', 'persistentvolumeclaims'],
      ['Pod', 'pods'],
      ['PodTemplate', 'podtemplates'],
      ['ReplicationController', 'replicationcontrollers'],
      ['ResourceQuota', 'resourcequotas'],
      ['Secret', 'secrets'],
      ['ServiceAccount', 'serviceaccounts'],
      ['Service', 'services'],
    ],
    [
      ['ComponentStatus', 'componentstatuses'],
      ['Namespace', 'namespaces'],
      ['Node', 'nodes'],
      ['PersistentVolume', 'persistentvolumes'],
    ],
  ),
  ...group('apiregistration.k8s.io', V1, [], [['APIService', 'apiservices']]),
  ...group('apps', V1, [
    ['ControllerRevision', 'controllerrevisions'],
    ['DaemonSet', 'daemonsets'],
    ['Deployment', 'deployments'],
    ['ReplicaSet', 'replicasets'],
    ['StatefulSet', 'statefulsets'],
  ]),
  ...group('events.k8s.io', V1, [['Event', 'events']]),
  ...group(
    'authentication.k8s.io',
    V1,
    [],
    [
      ['SelfSubjectReview', 'selfsubjectreviews'], // v1 from 1.28
      ['TokenReview', 'tokenreviews'],
    ],
  ),
  ...group(
    'authorization.k8s.io',
    V1,
    [['LocalSubjectAccessReview', 'localsubjectaccessreviews']],
    [
      ['SelfSubjectAccessReview', 'selfsubjectaccessreviews'],
      ['SelfSubjectRulesReview', 'selfsubjectrulesreviews'],
      ['SubjectAccessReview', 'subjectaccessreviews'],
    ],
  ),
  ...group('autoscaling', ['v2', 'v1'], [['HorizontalPodAutoscaler', 'horizontalpodautoscalers']]),
  ...group('batch', V1, [
    ['CronJob', 'cronjobs'],
    ['Job', 'jobs'],
  ]),
  ...group('certificates.k8s.io', V1, [], [['CertificateSigningRequest', 'certificatesigningrequests']]),
  ...group(
    'networking.k8s.io',
    V1,
    [
      ['Ingress', 'ingresses'],
      ['NetworkPolicy', 'networkpolicies'],
    ],
    [
      ['IngressClass', 'ingressclasses'],
      ['IPAddress', 'ipaddresses'], // 1.33
      ['ServiceCIDR', 'servicecidrs'], // 1.33
    ],
  ),
  ...group('policy', V1, [['PodDisruptionBudget', 'poddisruptionbudgets']]),
  ...group(
    'rbac.authorization.k8s.io',
    V1,
    [
      ['RoleBinding', 'rolebindings'],
      ['Role', 'roles'],
    ],
    [
      ['ClusterRoleBinding', 'clusterrolebindings'],
      ['ClusterRole', 'clusterroles'],
    ],
  ),
  ...group(
    'storage.k8s.io',
    V1,
    [['CSIStorageCapacity', 'csistoragecapacities']],
    [
      ['CSIDriver', 'csidrivers'],
      ['CSINode', 'csinodes'],
      ['StorageClass', 'storageclasses'],
      ['VolumeAttachment', 'volumeattachments'],
    ],
  ),
  ...group(
    'admissionregistration.k8s.io',
    V1,
    [],
    [
      ['MutatingWebhookConfiguration', 'mutatingwebhookconfigurations'],
      ['ValidatingAdmissionPolicy', 'validatingadmissionpolicies'], // v1 from 1.30
      ['ValidatingAdmissionPolicyBinding', 'validatingadmissionpolicybindings'], // v1 from 1.30
      ['ValidatingWebhookConfiguration', 'validatingwebhookconfigurations'],
    ],
  ),
  ...group('apiextensions.k8s.io', V1, [], [['CustomResourceDefinition', 'customresourcedefinitions']]),
  ...group('scheduling.k8s.io', V1, [], [['PriorityClass', 'priorityclasses']]),
  ...group('coordination.k8s.io', V1, [['Lease', 'leases']]),
  ...group('node.k8s.io', V1, [], [['RuntimeClass', 'runtimeclasses']]),
  ...group('discovery.k8s.io', V1, [['EndpointSlice', 'endpointslices']]),
  // v1beta2: 1.27–1.28; v1beta3: 1.27–1.31 (legacy beta resources, on); v1: from 1.29
  ...group(
    'flowcontrol.apiserver.k8s.io',
    ['v1', 'v1beta3', 'v1beta2'],
    [],
    [
      ['FlowSchema', 'flowschemas'],
      ['PriorityLevelConfiguration', 'prioritylevelconfigurations'],
    ],
  ),
]);

/**
 * Lookups over a list of served APIs. For a (group, kind) or (group, resource) listed twice, the
 * first entry counts.
 */
export function apiIndex(apis: readonly ServedAPI[]): APIIndex {
  const byKind = new Map<string, ServedAPI>();
  const byResource = new Map<string, string>();
  for (const a of apis) {
    const k = `${a.group}/${a.kind}`;
    if (!byKind.has(k)) byKind.set(k, a);
    const r = `${a.group}/${a.resource}`;
    if (!byResource.has(r)) byResource.set(r, a.kind);
  }
  return {
    kind: (group, resource) => byResource.get(`${group}/${resource}`),
    api: (group, kind) => byKind.get(`${group}/${kind}`),
    all: () => apis,
  };
}
