// Field sets and their FieldsV1 form (src/apiserver/apply/fieldpath.ts): real managedFields as
// kube-apiserver writes them decode and encode back to the same text, element keys and path texts
// are kube's, and the set operations behave as structured-merge-diff's.
import test from 'ava';
import { FieldSet, FieldsV1Error, deserializeElement, field, index, key, pathString, serializeElement, value } from '../../../src/apiserver/apply/index.ts';

// managedFields[].fieldsV1 exactly as kube-apiserver serves them (kubectl get -o json --show-managed-fields).
const KUBE_SAMPLES: Record<string, string> = {
  // kubectl create deployment nginx --image=nginx (manager kubectl-create, Update)
  deploymentCreate:
    '{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:containers":{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}}',
  // the deployment controller's status entry (kube-controller-manager, Update, subresource status)
  deploymentStatus:
    '{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}},"f:status":{"f:availableReplicas":{},"f:conditions":{".":{},"k:{\\"type\\":\\"Available\\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}},"k:{\\"type\\":\\"Progressing\\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:observedGeneration":{},"f:readyReplicas":{},"f:replicas":{},"f:updatedReplicas":{}}}',
  // a Service applied with kubectl apply --server-side (two-key associative list: port, protocol)
  serviceApply:
    '{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:ports":{"k:{\\"port\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{}}}',
  // a Pod owned by a ReplicaSet (atomic ownerReference items, a set of finalizers)
  podOwned:
    '{"f:metadata":{"f:finalizers":{".":{},"v:\\"foregroundDeletion\\"":{}},"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{".":{},"k:{\\"uid\\":\\"b2f2b1a4-6a3b-4d6e-9f0e-2c1f4b0b7e11\\"}":{}}},"f:spec":{"f:containers":{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{}}}}}',
  // a ConfigMap created by kubectl apply (client-side): the last-applied annotation
  configMapCSA:
    '{"f:data":{".":{},"f:key":{}},"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}}}',
};

for (const [name, text] of Object.entries(KUBE_SAMPLES)) {
  test(`FieldsV1 round trip: ${name}`, (t) => {
    const set = FieldSet.fromFieldsV1(text);
    t.is(set.toJSON(), text);
    t.is(JSON.stringify(set.toFieldsV1()), text);
    t.true(FieldSet.fromFieldsV1(JSON.parse(text)).equals(set));
  });
}

test('the docs example (keys out of order) decodes and is written in kube order', (t) => {
  // From the Kubernetes documentation's server-side apply page: f:metadata written before f:data.
  const docs = { 'f:metadata': { 'f:labels': { 'f:test-label': {} } }, 'f:data': { 'f:key': {} } };
  const set = FieldSet.fromFieldsV1(docs);
  t.is(set.toJSON(), '{"f:data":{"f:key":{}},"f:metadata":{"f:labels":{"f:test-label":{}}}}');
  t.deepEqual(set.paths().map(pathString), ['.data.key', '.metadata.labels.test-label']);
});

test('members, children and "." decode as kube reads them', (t) => {
  const set = FieldSet.fromFieldsV1('{"f:a":{},"f:b":{".":{},"f:c":{}},"f:d":{"f:e":{}},"f:x":{".":{}}}');
  t.true(set.has([field('a')]));
  t.true(set.has([field('b')]));
  t.true(set.has([field('b'), field('c')]));
  t.false(set.has([field('d')]));
  t.true(set.has([field('d'), field('e')]));
  t.true(set.has([field('x')]));
  t.is(set.toJSON(), '{"f:a":{},"f:b":{".":{},"f:c":{}},"f:d":{"f:e":{}},"f:x":{}}');
  t.is(FieldSet.fromFieldsV1('{}').toJSON(), '{}');
  t.true(FieldSet.fromFieldsV1('{"z:unknown":{}}').empty());
});

test('malformed FieldsV1 is refused', (t) => {
  t.throws(() => FieldSet.fromFieldsV1('{"f:a":'), { instanceOf: FieldsV1Error });
  t.throws(() => FieldSet.fromFieldsV1('[]'), { instanceOf: FieldsV1Error });
  t.throws(() => FieldSet.fromFieldsV1('{"fa":{}}'), { instanceOf: FieldsV1Error });
  t.throws(() => FieldSet.fromFieldsV1('{"k:notjson":{}}'), { instanceOf: FieldsV1Error });
  t.throws(() => FieldSet.fromFieldsV1('{"f:a":1}'), { instanceOf: FieldsV1Error });
});

test('path elements: keys sorted by name, Go JSON for values, kube order and text', (t) => {
  t.is(serializeElement(key({ protocol: 'TCP', port: 80 })), 'k:{"port":80,"protocol":"TCP"}');
  t.is(serializeElement(value('a<b')), 'v:"a\\u003cb"');
  t.is(serializeElement(value(1.5)), 'v:1.5');
  t.is(serializeElement(index(3)), 'i:3');
  t.deepEqual(deserializeElement('k:{"protocol":"TCP","port":80}'), key({ port: 80, protocol: 'TCP' }));
  t.deepEqual(deserializeElement('v:true'), value(true));
  t.is(deserializeElement('x:1'), undefined);
  t.is(pathString([field('spec'), field('ports'), key({ port: 80, protocol: 'TCP' }), field('targetPort')]), '.spec.ports[port=80,protocol="TCP"].targetPort');
  t.is(pathString([field('metadata'), field('finalizers'), value('x')]), '.metadata.finalizers[="x"]');
  t.is(pathString([field('list'), index(2)]), '.list[2]');
  // fields < keys < values < indexes; numbers < strings < booleans among values
  const s = FieldSet.of([index(0)], [value('b')], [value(true)], [value(2)], [key({ a: 1 })], [field('z')]);
  t.is(s.toJSON(), '{"f:z":{},"k:{\\"a\\":1}":{},"v:2":{},"v:\\"b\\"":{},"v:true":{},"i:0":{}}');
});

test('set operations', (t) => {
  const a = FieldSet.of([field('a')], [field('b'), field('c')], [field('b'), field('d')]);
  const b = FieldSet.of([field('b'), field('c')], [field('e')], [field('b')]);
  t.is(a.union(b).toJSON(), '{"f:a":{},"f:b":{".":{},"f:c":{},"f:d":{}},"f:e":{}}');
  t.is(a.intersection(b).toJSON(), '{"f:b":{"f:c":{}}}');
  t.is(a.difference(b).toJSON(), '{"f:a":{},"f:b":{"f:d":{}}}');
  // a member of b covers everything under it only in the recursive difference
  t.is(a.recursiveDifference(b).toJSON(), '{"f:a":{}}');
  t.true(new FieldSet().empty());
  t.is(a.size(), 3);
  t.true(a.equals(FieldSet.fromFieldsV1(a.toJSON())));
  t.false(a.equals(b));
  t.deepEqual(a.union(b).paths().map(pathString), ['.a', '.b', '.e', '.b.c', '.b.d']);
});
