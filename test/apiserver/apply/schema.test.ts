// The apply types derived from OpenAPI (src/apiserver/apply/schema.ts), on CRD-style schemas and
// on this project's kind schemas, and apply on a PackageRevision as Flux, kubectl and the
// controllers would write it.
import test from 'ava';
import { apply, fromOpenAPI, toFieldSet, update, ApplyConflictError, type MapType, type ListType, type TypeNode } from '../../../src/apiserver/apply/index.ts';
import { packageRevisionSchema } from '../../../src/api/pkg.ts';
import { repositorySchema, packageVariantSchema } from '../../../src/api/config.ts';

const at = (m: TypeNode, ...names: string[]): TypeNode => {
  let t = m;
  for (const n of names) {
    if (t.kind === 'map') t = t.fields.get(n) ?? t.elementType;
    else if (t.kind === 'list') t = t.elementType;
    else throw new Error(`no ${n}`);
  }
  return t;
};

test('CRD-style schema: list types, map types, additionalProperties, preserve-unknown-fields, int-or-string, key defaults', (t) => {
  const type = fromOpenAPI({
    type: 'object',
    properties: {
      plain: { type: 'array', items: { type: 'string' } },
      set: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
      ports: {
        type: 'array',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['port', 'protocol'],
        items: { type: 'object', properties: { port: { type: 'integer' }, protocol: { type: 'string', default: 'TCP' } } },
      },
      labels: { type: 'object', additionalProperties: { type: 'string' } },
      selector: { type: 'object', 'x-kubernetes-map-type': 'atomic', properties: { a: { type: 'string' } } },
      free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      port: { 'x-kubernetes-int-or-string': true },
    },
  });
  t.is(type.kind, 'map');
  t.like(at(type, 'plain') as ListType, { kind: 'list', listType: 'atomic' });
  t.like(at(type, 'set') as ListType, { kind: 'list', listType: 'set' });
  t.like(at(type, 'ports') as ListType, { kind: 'list', listType: 'map', keys: ['port', 'protocol'], keyDefaults: { protocol: 'TCP' } });
  t.like(at(type, 'labels') as MapType, { kind: 'map', atomic: false });
  t.is((at(type, 'labels') as MapType).elementType.kind, 'scalar');
  t.like(at(type, 'selector') as MapType, { kind: 'map', atomic: true });
  t.is((at(type, 'free') as MapType).elementType.kind, 'deduced');
  t.is(at(type, 'port').kind, 'scalar');
  // a port without protocol is keyed with the default, as kube does
  t.deepEqual(toFieldSet({ ports: [{ port: 80 }] }, type).toFieldsV1(), { 'f:ports': { 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:port': {} } } });
  // the preserved object is deduced: every map key owned with "."
  t.deepEqual(toFieldSet({ free: { a: { b: 1 } } }, type).toFieldsV1(), { 'f:free': { 'f:a': { '.': {}, 'f:b': {} } } });
});

test("the project's kinds: metadata, conditions by type, readinessGates by conditionType, atomic ownerReferences", (t) => {
  for (const s of [packageRevisionSchema, repositorySchema, packageVariantSchema]) {
    const type = fromOpenAPI(s);
    t.like(at(type, 'metadata', 'finalizers') as ListType, { listType: 'set' });
    t.like(at(type, 'metadata', 'ownerReferences') as ListType, { listType: 'map', keys: ['uid'] });
    t.like(at(type, 'metadata', 'ownerReferences', 'item') as MapType, { atomic: true });
    t.like(at(type, 'metadata', 'labels') as MapType, { atomic: false });
    t.like(at(type, 'status', 'conditions') as ListType, { listType: 'map', keys: ['type'] });
  }
  const pr = fromOpenAPI(packageRevisionSchema);
  t.like(at(pr, 'spec', 'readinessGates') as ListType, { listType: 'map', keys: ['conditionType'] });
  t.like(at(pr, 'spec', 'tasks') as ListType, { listType: 'atomic' });
  const owned = toFieldSet(
    { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'PackageVariant', name: 'pv', uid: 'u-1', controller: true }] } },
    pr,
  ).toFieldsV1();
  t.deepEqual(owned, { 'f:metadata': { 'f:ownerReferences': { 'k:{"uid":"u-1"}': {} } } });
});

test('a PackageRevision: Flux applies, the controller writes status, kubectl edits, a second applier conflicts on spec.lifecycle', (t) => {
  const type = fromOpenAPI(packageRevisionSchema);
  const apiVersion = 'pkg.pkgserver.dev/v1alpha1';
  const base = { apiVersion, kind: 'PackageRevision', metadata: { name: 'blueprints-nginx-v1', namespace: 'default' } };
  const spec = {
    packageRevID: { target: 'catalog', repository: 'blueprints', package: 'nginx', workspace: 'v1' },
    lifecycle: 'draft',
    readinessGates: [{ conditionType: 'Ready' }],
  };
  const r1 = apply(undefined, [], { ...base, metadata: { ...base.metadata, labels: { team: 'a' } }, spec }, 'kustomize-controller', { type, force: true, now: new Date('2026-01-01T00:00:00Z') });
  t.deepEqual(r1.managedFields.map((e) => e.fieldsV1), [
    {
      'f:metadata': { 'f:labels': { 'f:team': {} } },
      'f:spec': {
        'f:lifecycle': {},
        'f:packageRevID': { 'f:package': {}, 'f:repository': {}, 'f:target': {}, 'f:workspace': {} },
        'f:readinessGates': { 'k:{"conditionType":"Ready"}': { '.': {}, 'f:conditionType': {} } },
      },
    },
  ]);
  // the controller writes status through the status subresource
  const withStatus = { ...r1.object, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'Rendered' }] } };
  const r2 = update(r1.object, withStatus, r1.managedFields, 'pkgserver-controller', { type, subresource: 'status', now: new Date('2026-01-01T00:01:00Z') });
  t.deepEqual(r2.managedFields[1], {
    manager: 'pkgserver-controller',
    operation: 'Update',
    apiVersion,
    time: '2026-01-01T00:01:00Z',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:status': { '.': {}, 'f:conditions': { '.': {}, 'k:{"type":"Ready"}': { '.': {}, 'f:reason': {}, 'f:status': {}, 'f:type': {} } } } },
    subresource: 'status',
  });
  // Flux applies the same file again: nothing to write
  const r3 = apply(r2.object, r2.managedFields, { ...base, metadata: { ...base.metadata, labels: { team: 'a' } }, spec }, 'kustomize-controller', { type, force: true });
  t.false(r3.changed);
  // kubectl proposes with a merge patch (an Update), taking spec.lifecycle
  const proposed = { ...r3.object, spec: { ...(r3.object.spec as object), lifecycle: 'proposed' } };
  const r4 = update(r3.object, proposed, r3.managedFields, 'kubectl-patch', { type, now: new Date('2026-01-01T00:02:00Z') });
  t.deepEqual(r4.managedFields.find((e) => e.manager === 'kubectl-patch')!.fieldsV1, { 'f:spec': { 'f:lifecycle': {} } });
  // a second applier that sets lifecycle back gets kube's conflict
  const err = t.throws(() => apply(r4.object, r4.managedFields, { ...base, spec: { ...spec, lifecycle: 'draft' } }, 'kubectl', { type }), { instanceOf: ApplyConflictError });
  t.is(err!.message, 'Apply failed with 1 conflict: conflict with "kubectl-patch" using pkg.pkgserver.dev/v1alpha1: .spec.lifecycle');
  t.deepEqual(err!.causes, [{ reason: 'FieldManagerConflict', message: 'conflict with "kubectl-patch" using pkg.pkgserver.dev/v1alpha1', field: '.spec.lifecycle' }]);
  // the applier drops its label: gone, and the status the controller owns is untouched
  const r5 = apply(r4.object, r4.managedFields, { ...base, spec: { ...spec, lifecycle: 'proposed' } }, 'kustomize-controller', { type, force: true });
  t.deepEqual((r5.object.metadata as { labels?: unknown }).labels, undefined);
  t.deepEqual(r5.object.status, withStatus.status);
  t.deepEqual((r5.object.spec as { lifecycle: string }).lifecycle, 'proposed');
});

test('the apply module is self-contained: it imports only its own files', async (t) => {
  const { readdirSync, readFileSync } = await import('node:fs');
  const dir = new URL('../../../src/apiserver/apply/', import.meta.url);
  for (const f of readdirSync(dir)) {
    const text = readFileSync(new URL(f, dir), 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s(?:[^'"]*?from\s+)?'([^']+)'/gm)) t.regex(m[1], /^\.\/[a-z]+\.ts$/, `${f} imports ${m[1]}`);
  }
});
