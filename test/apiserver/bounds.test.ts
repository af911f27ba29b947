// The cheap bounds checked before per-field validation (src/apiserver/bounds.ts and the metadata
// ones of src/apiserver/validation.ts): the same first problem as a plain walk would find, and a
// size bound that never exceeds the encoded size.
import test from 'ava';
import { boundsProblem } from '../../src/apiserver/bounds.ts';
import { invalid, MAX_INVALID_CAUSES } from '../../src/apiserver/errors.ts';
import { metadataSizes, metadataTypeProblem, TOTAL_ANNOTATION_SIZE, validateObjectMeta } from '../../src/apiserver/validation.ts';
import { fieldErr } from '../../src/api/fielderrors.ts';

test('boundsProblem names the path of the first problem, depth first in key order', (t) => {
  t.deepEqual(boundsProblem({ a: { b: [1, { c: new Date(0) }] }, d: 1n }, { maxBytes: 1000 }), { kind: 'type', path: 'a.b[1].c', type: 'Date' });
  t.deepEqual(boundsProblem({ a: 1, b: 2 ** 60 }, { maxBytes: 1000 }), { kind: 'type', path: 'b', type: `number ${2 ** 60} (beyond ±2^53, not exact)` });
  t.deepEqual(boundsProblem([[[1]]], { maxBytes: 1000, maxDepth: 2 }), { kind: 'depth', path: '[0][0]' });
  t.deepEqual(boundsProblem(new Map(), { maxBytes: 1000 }), { kind: 'type', path: '<root>', type: 'Map' });
  t.deepEqual(boundsProblem({ a: 'x'.repeat(100) }, { maxBytes: 50 }), { kind: 'size', limit: 50 });
  t.is(boundsProblem({ metadata: { labels: { a: 'b' } }, spec: [1, 'x', null, true] }, { maxBytes: 1000 }), undefined);
});

test('metadataTypeProblem finds a wrong entry in a large map or list as before', (t) => {
  const labels: Record<string, unknown> = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v']));
  t.is(metadataTypeProblem({ labels }), undefined);
  labels.k5000 = 5;
  t.is(metadataTypeProblem({ labels }), 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string');
  t.is(metadataTypeProblem({ labels: { a: null } }), undefined);
  t.is(metadataTypeProblem({ finalizers: ['a', true] }), 'json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.finalizers of type string');
  t.is(metadataTypeProblem({ ownerReferences: [{ apiVersion: 'v1' }, { name: 3 }] }), 'json: cannot unmarshal number into Go struct field OwnerReference.metadata.ownerReferences.name of type string');
});

test('metadataSizes: a lower bound of the encoded size, and the annotation size as validateObjectMeta counts it', (t) => {
  const encoded = (o: Record<string, unknown>) => Buffer.byteLength(JSON.stringify(o));
  for (const meta of [
    { labels: { a: 'b', 'example.com/x': '' }, annotations: { 'ünï': 'cödé 😀', q: '"\n' }, finalizers: ['f', 'example.com/g'] },
    { labels: { a: 1 }, annotations: null, finalizers: 'x' },
    { annotations: { a: null, b: 'x' } },
    {},
  ]) {
    const m = meta as Record<string, unknown>;
    const sizes = metadataSizes(meta, 1e9);
    t.true(sizes.encoded <= encoded({ labels: m.labels, annotations: m.annotations, finalizers: m.finalizers }), JSON.stringify(meta));
    // the annotation size matches the rule's: over the bound exactly when validateObjectMeta says so
    const big = { name: 'x', annotations: { ...(m.annotations as object), pad: 'p'.repeat(TOTAL_ANNOTATION_SIZE - sizes.annotations - 3) } };
    t.is(metadataSizes(big, 1e9).annotations, TOTAL_ANNOTATION_SIZE);
    t.false(validateObjectMeta(big as never, false, () => []).some((e) => e.field === 'metadata.annotations' && e.type === 'FieldValueTooLong'));
    (big.annotations as Record<string, string>).pad += 'p';
    t.is(metadataSizes(big, 1e9).annotations, TOTAL_ANNOTATION_SIZE + 1);
    t.true(validateObjectMeta(big as never, false, () => []).some((e) => e.field === 'metadata.annotations' && e.type === 'FieldValueTooLong'));
  }
  // both counts stop just past their bound: one pass over a few entries of a huge map
  const labels = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, 'v']));
  const s = metadataSizes({ labels, finalizers: Object.keys(labels) }, 1000);
  t.true(s.encoded > 1000 && s.encoded < 1100, String(s.encoded));
  const a = metadataSizes({ annotations: labels }, 1000);
  t.true(a.annotations > TOTAL_ANNOTATION_SIZE && a.annotations < TOTAL_ANNOTATION_SIZE + 100, String(a.annotations));
});

test('a 422 lists at most MAX_INVALID_CAUSES causes and says how many more there were', (t) => {
  const errs = Array.from({ length: MAX_INVALID_CAUSES + 5 }, (_, i) => fieldErr.required(`spec.f${i}`));
  const e = invalid('Thing', 'example.com', 'x', errs);
  t.is(e.code, 422);
  t.is(e.details!.causes!.length, MAX_INVALID_CAUSES);
  t.true(e.message.endsWith(`spec.f${MAX_INVALID_CAUSES - 1}: Required value, and 5 more errors]`), e.message);
  const few = invalid('Thing', '', 'x', errs.slice(0, 2));
  t.is(few.message, 'Thing "x" is invalid: [spec.f0: Required value, spec.f1: Required value]');
  t.is(few.details!.causes!.length, 2);
});
