// The built-in list of the APIs Kubernetes 1.27–1.33 serve (src/api/coreapis.ts) and apiIndex.
import test from 'ava';
import { apiIndex, KUBERNETES_APIS, type ServedAPI } from '../../src/api/coreapis.ts';

const core = apiIndex(KUBERNETES_APIS);

test('well-known kinds: group, plural, versions, scope', (t) => {
  t.deepEqual(core.api('apps', 'Deployment'), { group: 'apps', kind: 'Deployment', resource: 'deployments', versions: ['v1'], namespaced: true });
  t.true(core.api('', 'Pod')!.namespaced);
  t.is(core.api('', 'Pod')!.resource, 'pods');
  t.false(core.api('', 'Namespace')!.namespaced);
  t.false(core.api('rbac.authorization.k8s.io', 'ClusterRole')!.namespaced);
  t.true(core.api('rbac.authorization.k8s.io', 'Role')!.namespaced);
  t.deepEqual(core.api('autoscaling', 'HorizontalPodAutoscaler')!.versions, ['v2', 'v1']);
  t.deepEqual(core.api('flowcontrol.apiserver.k8s.io', 'FlowSchema')!.versions, ['v1', 'v1beta3', 'v1beta2']);
  t.deepEqual(core.api('networking.k8s.io', 'IPAddress'), { group: 'networking.k8s.io', kind: 'IPAddress', resource: 'ipaddresses', versions: ['v1'], namespaced: false });
  // Event is served in two groups
  t.is(core.api('', 'Event')!.resource, 'events');
  t.is(core.api('events.k8s.io', 'Event')!.resource, 'events');
  t.is(core.api('apiextensions.k8s.io', 'CustomResourceDefinition')!.resource, 'customresourcedefinitions');
  t.is(core.api('apiregistration.k8s.io', 'APIService')!.resource, 'apiservices');
});

test('kind by group and plural', (t) => {
  t.is(core.kind('rbac.authorization.k8s.io', 'clusterroles'), 'ClusterRole');
  t.is(core.kind('', 'configmaps'), 'ConfigMap');
  t.is(core.kind('', 'endpoints'), 'Endpoints');
  t.is(core.kind('storage.k8s.io', 'csistoragecapacities'), 'CSIStorageCapacity');
  t.is(core.kind('apps', 'deployment'), undefined); // singular
  t.is(core.kind('apps', 'Deployments'), undefined); // not the resource's case
  t.is(core.kind('extensions', 'deployments'), undefined); // removed before 1.27
  t.is(core.kind('', 'pods/status'), undefined); // subresources are not listed
  t.is(core.kind('', 'bindings'), undefined);
  t.is(core.api('policy', 'PodSecurityPolicy'), undefined);
  t.is(core.api('apps', 'Nope'), undefined);
});

test('the list: no duplicates, lowercase plurals, versions, frozen', (t) => {
  const kinds = KUBERNETES_APIS.map((a) => `${a.group}/${a.kind}`);
  t.is(new Set(kinds).size, kinds.length);
  const resources = KUBERNETES_APIS.map((a) => `${a.group}/${a.resource}`);
  t.is(new Set(resources).size, resources.length);
  for (const a of KUBERNETES_APIS) {
    t.regex(a.resource, /^[a-z]+s$/, `${a.group}/${a.kind}`);
    t.regex(a.kind, /^[A-Z][A-Za-z]*$/);
    t.true(a.versions.length > 0);
    t.is(new Set(a.versions).size, a.versions.length);
    for (const v of a.versions) t.regex(v, /^v\d+((alpha|beta)\d+)?$/);
    t.true(Object.isFrozen(a));
  }
  t.true(Object.isFrozen(KUBERNETES_APIS));
  // the core group first, as kube-apiserver's discovery orders it
  t.is(KUBERNETES_APIS[0].group, '');
  t.is(apiIndex(KUBERNETES_APIS).all(), KUBERNETES_APIS);
});

test('apiIndex of a custom list answers from that list; the first entry of a duplicate counts', (t) => {
  const list: ServedAPI[] = [
    { group: 'example.com', kind: 'Widget', resource: 'widgets', versions: ['v1', 'v1beta1'], namespaced: true },
    { group: 'example.com', kind: 'Widget', resource: 'widgetz', versions: ['v2'], namespaced: false },
    { group: 'example.com', kind: 'Gadget', resource: 'widgets', versions: ['v1'], namespaced: false },
    { group: '', kind: 'ConfigMap', resource: 'configmaps', versions: ['v1'], namespaced: true },
  ];
  const idx = apiIndex(list);
  t.is(idx.api('example.com', 'Widget'), list[0]);
  t.is(idx.kind('example.com', 'widgets'), 'Widget');
  t.is(idx.kind('example.com', 'widgetz'), 'Widget');
  t.is(idx.api('example.com', 'Gadget'), list[2]);
  t.is(idx.kind('', 'configmaps'), 'ConfigMap');
  t.is(idx.api('apps', 'Deployment'), undefined);
  t.is(idx.kind('', 'pods'), undefined);
  t.is(idx.all(), list);
  t.is(apiIndex([]).all().length, 0);
  t.is(apiIndex([]).api('', 'Pod'), undefined);
});
