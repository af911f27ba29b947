// The protobuf reader on the bodies the real kubectl 1.33 sends (captured by a small HTTPS server
// in the test), on hand-built messages, and on malformed input: always a value or a
// ProtobufDecodeError, never another exception or a hang.
import test from 'ava';
import {
  decodeEnvelope,
  decodeSelfSubjectAccessReview,
  decodeSelfSubjectReview,
  decodeSelfSubjectRulesReview,
  K8S_PROTOBUF_MAGIC,
  ProtobufDecodeError,
} from '../../src/apiserver/protobuf.ts';
import { Kubectl } from '../helpers/kubectl.ts';
import { bytes, envelope, int, key, msg, startReviewServer, varint } from './reviewserver.ts';

// ---------------------------------------------------------------- bodies from the real kubectl

interface Bodies {
  create: Buffer;
  approve: Buffer;
  approvalSubresource: Buffer;
  list: Buffer;
  metrics: Buffer;
  whoami: Buffer;
}

async function captureFromKubectl(): Promise<Bodies> {
  const s = await startReviewServer({
    user: 'alice',
    groups: ['devs'],
    authorizer: { authorize: async () => ({ decision: 'allow', reason: '' }) },
    rules: { rulesFor: () => ({ resourceRules: [], nonResourceRules: [], incomplete: false }) },
  });
  try {
    const k = new Kubectl('1.33', s.kubeconfig);
    const body = async (args: string[]) => {
      const before = s.captured.length;
      await k.ok(args);
      if (s.captured.length !== before + 1) throw new Error(`kubectl ${args.join(' ')} sent ${s.captured.length - before} reviews`);
      const c = s.captured[before];
      if (c.contentType !== 'application/vnd.kubernetes.protobuf') throw new Error(`kubectl ${args.join(' ')} sent ${c.contentType}`);
      return c.body;
    };
    return {
      create: await body(['auth', 'can-i', 'create', 'packagerevisions.pkg.pkgserver.dev', '-n', 'team-a']),
      approve: await body(['auth', 'can-i', 'approve', 'packagerevisions', '-n', 'team-a']),
      approvalSubresource: await body(['auth', 'can-i', 'update', 'packagerevisions/blueprints-nginx-v2', '--subresource=approval', '-n', 'team-a']),
      list: await body(['auth', 'can-i', '--list', '-n', 'team-a']),
      metrics: await body(['auth', 'can-i', 'get', '/metrics']),
      whoami: await body(['auth', 'whoami']),
    };
  } finally {
    await s.close();
  }
}

let captured: Promise<Bodies> | undefined;
const bodies = () => (captured ??= captureFromKubectl());

test('kubectl 1.33 auth can-i create: the envelope and the resource attributes', async (t) => {
  const env = decodeEnvelope((await bodies()).create);
  t.deepEqual({ ...env, raw: undefined }, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', raw: undefined, contentEncoding: '', contentType: '' });
  t.deepEqual(decodeSelfSubjectAccessReview(env.raw), {
    metadata: {},
    spec: { resourceAttributes: { namespace: 'team-a', verb: 'create', group: 'pkg.pkgserver.dev', resource: 'packagerevisions' } },
  });
});

test('kubectl 1.33 auth can-i approve and update --subresource=approval NAME', async (t) => {
  const b = await bodies();
  t.deepEqual(decodeSelfSubjectAccessReview(decodeEnvelope(b.approve).raw), {
    metadata: {},
    spec: { resourceAttributes: { namespace: 'team-a', verb: 'approve', group: 'pkg.pkgserver.dev', resource: 'packagerevisions' } },
  });
  t.deepEqual(decodeSelfSubjectAccessReview(decodeEnvelope(b.approvalSubresource).raw), {
    metadata: {},
    spec: {
      resourceAttributes: {
        namespace: 'team-a',
        verb: 'update',
        group: 'pkg.pkgserver.dev',
        resource: 'packagerevisions',
        subresource: 'approval',
        name: 'blueprints-nginx-v2',
      },
    },
  });
});

test('kubectl 1.33 auth can-i get /metrics: non-resource attributes', async (t) => {
  const env = decodeEnvelope((await bodies()).metrics);
  t.is(env.kind, 'SelfSubjectAccessReview');
  t.deepEqual(decodeSelfSubjectAccessReview(env.raw), { metadata: {}, spec: { nonResourceAttributes: { path: '/metrics', verb: 'get' } } });
});

test('kubectl 1.33 auth can-i --list: a SelfSubjectRulesReview for the namespace', async (t) => {
  const env = decodeEnvelope((await bodies()).list);
  t.deepEqual([env.apiVersion, env.kind], ['authorization.k8s.io/v1', 'SelfSubjectRulesReview']);
  t.deepEqual(decodeSelfSubjectRulesReview(env.raw), { metadata: {}, spec: { namespace: 'team-a' } });
});

test('kubectl 1.33 auth whoami: an empty authentication.k8s.io/v1 SelfSubjectReview', async (t) => {
  const env = decodeEnvelope((await bodies()).whoami);
  t.deepEqual([env.apiVersion, env.kind], ['authentication.k8s.io/v1', 'SelfSubjectReview']);
  t.deepEqual(decodeSelfSubjectReview(env.raw), { metadata: {} });
});

// ---------------------------------------------------------------- hand-built messages

test('metadata fields a create may carry are read; system fields are skipped', (t) => {
  const meta = msg(
    bytes(1, 'x'),
    bytes(2, 'gen-'),
    bytes(5, 'uid-1'),
    bytes(6, '42'),
    int(7, 3),
    bytes(8, msg(int(1, 1700000000))),
    bytes(11, msg(bytes(1, 'b'), bytes(2, '2'))),
    bytes(11, msg(bytes(1, 'a'), bytes(2, '1'))),
    bytes(12, msg(bytes(1, 'note'), bytes(2, 'hi'))),
    bytes(14, 'f1'),
    bytes(14, 'f2'),
  );
  t.deepEqual(decodeSelfSubjectRulesReview(msg(bytes(1, meta), bytes(2, bytes(1, 'ns')))), {
    metadata: { name: 'x', generateName: 'gen-', resourceVersion: '42', generation: 3, labels: { b: '2', a: '1' }, annotations: { note: 'hi' }, finalizers: ['f1', 'f2'] },
    spec: { namespace: 'ns' },
  });
});

test('a repeated singular field: the last scalar wins, messages merge (protobuf semantics)', (t) => {
  const raw = msg(
    bytes(2, bytes(1, msg(bytes(1, 'ns-1'), bytes(2, 'get')))),
    bytes(2, bytes(1, msg(bytes(1, 'ns-2'), bytes(5, 'pods')))),
  );
  t.deepEqual(decodeSelfSubjectAccessReview(raw), { metadata: {}, spec: { resourceAttributes: { namespace: 'ns-2', verb: 'get', resource: 'pods' } } });
});

test('present but empty attributes are kept (a nil pointer is not an empty struct)', (t) => {
  t.deepEqual(decodeSelfSubjectAccessReview(msg(bytes(2, bytes(1, Buffer.alloc(0))))), { metadata: {}, spec: { resourceAttributes: {} } });
  t.deepEqual(decodeSelfSubjectAccessReview(msg(bytes(2, Buffer.alloc(0)))), { metadata: {}, spec: {} });
  t.deepEqual(decodeSelfSubjectAccessReview(Buffer.alloc(0)), { metadata: {}, spec: {} });
});

test('unknown fields of every wire type are skipped', (t) => {
  const ra = msg(bytes(2, 'list'), int(20, 7), Buffer.concat([key(21, 1), Buffer.alloc(8)]), Buffer.concat([key(22, 5), Buffer.alloc(4)]), bytes(23, 'zzz'));
  const raw = msg(int(9, 1), bytes(2, msg(bytes(1, ra), int(99, 5))), bytes(3, msg(int(1, 1))));
  t.deepEqual(decodeSelfSubjectAccessReview(raw), { metadata: {}, spec: { resourceAttributes: { verb: 'list' } } });
});

test('the envelope: type meta, content encoding and type, and the raw object', (t) => {
  const buf = Buffer.concat([envelope('authorization.k8s.io/v1', 'SelfSubjectRulesReview', bytes(2, bytes(1, 'ns'))), bytes(3, 'gzip'), bytes(4, 'application/vnd.kubernetes.protobuf')]);
  const env = decodeEnvelope(buf);
  t.deepEqual(env, {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectRulesReview',
    raw: bytes(2, bytes(1, 'ns')),
    contentEncoding: 'gzip',
    contentType: 'application/vnd.kubernetes.protobuf',
  });
  t.deepEqual(decodeEnvelope(Buffer.concat([K8S_PROTOBUF_MAGIC, bytes(4, 'x')])), {
    apiVersion: '',
    kind: '',
    raw: Buffer.alloc(0),
    contentEncoding: '',
    contentType: 'x',
  });
});

// ---------------------------------------------------------------- malformed input

function decodeError(t: import('ava').ExecutionContext, fn: () => unknown, message: string | RegExp): void {
  const e = t.throws(fn, { instanceOf: ProtobufDecodeError });
  if (typeof message === 'string') t.is(e?.message, message);
  else t.regex(e?.message ?? '', message);
}

test('wrong or missing magic, and a body of only the magic', (t) => {
  const expected = 'provided data does not appear to be a protobuf message, expected prefix [107,56,115,0]';
  decodeError(t, () => decodeEnvelope(Buffer.from('{"kind":"SelfSubjectAccessReview"}')), expected);
  decodeError(t, () => decodeEnvelope(Buffer.from([0x6b, 0x38, 0x73, 0x01, 0x0a, 0x00])), expected);
  decodeError(t, () => decodeEnvelope(Buffer.from([0x6b, 0x38])), expected);
  decodeError(t, () => decodeEnvelope(Buffer.alloc(0)), expected);
  decodeError(t, () => decodeEnvelope(K8S_PROTOBUF_MAGIC), 'empty body');
});

test('huge length prefixes, overlong varints, bad wire types and field numbers', (t) => {
  const withMagic = (...b: Buffer[]) => Buffer.concat([K8S_PROTOBUF_MAGIC, ...b]);
  decodeError(t, () => decodeEnvelope(withMagic(key(2, 2), varint(2n ** 40n))), 'field 2: length 1099511627776 beyond the end of the data');
  decodeError(t, () => decodeEnvelope(withMagic(key(2, 2), varint(2n ** 62n))), /^field 2: length \d+ beyond the end of the data$/);
  decodeError(t, () => decodeEnvelope(withMagic(key(2, 2), varint(2n ** 64n - 1n))), /^field 2: length \d+ beyond the end of the data$/);
  decodeError(t, () => decodeSelfSubjectAccessReview(msg(key(2, 2), varint(2n ** 31n), bytes(1, 'x'))), 'field 2: length 2147483648 beyond the end of the data');
  decodeError(t, () => decodeEnvelope(withMagic(key(2, 2), varint(5), Buffer.from('abcd'))), 'field 2: length 5 beyond the end of the data');
  decodeError(t, () => decodeEnvelope(withMagic(key(2, 0), Buffer.alloc(11, 0xff))), 'varint longer than 10 bytes');
  decodeError(t, () => decodeEnvelope(withMagic(Buffer.from([0x10, 0x80]))), 'truncated varint');
  decodeError(t, () => decodeEnvelope(withMagic(key(3, 1), Buffer.alloc(7))), 'field 3: truncated fixed64');
  decodeError(t, () => decodeEnvelope(withMagic(key(3, 5), Buffer.alloc(3))), 'field 3: truncated fixed32');
  for (const wire of [3, 4, 6, 7]) decodeError(t, () => decodeEnvelope(withMagic(key(5, wire))), `field 5: unsupported wire type ${wire}`);
  decodeError(t, () => decodeEnvelope(withMagic(Buffer.from([0x02, 0x00]))), 'invalid field number 0');
  decodeError(t, () => decodeEnvelope(withMagic(varint((2n ** 29n) << 3n | 2n), varint(0))), 'invalid field number 536870912');
});

test('a known field with the wrong wire type', (t) => {
  decodeError(t, () => decodeSelfSubjectAccessReview(msg(int(2, 1))), 'field 2: wire type 0, expected 2 (length-delimited)');
  decodeError(t, () => decodeSelfSubjectAccessReview(msg(bytes(2, msg(bytes(1, int(2, 4)))))), 'field 2: wire type 0, expected 2 (length-delimited)');
  decodeError(t, () => decodeSelfSubjectRulesReview(msg(bytes(1, bytes(7, 'x')))), 'field 7: wire type 2, expected 0 (varint)');
  decodeError(t, () => decodeEnvelope(Buffer.concat([K8S_PROTOBUF_MAGIC, int(1, 1)])), 'field 1: wire type 0, expected 2 (length-delimited)');
});

test('every truncation of the bodies kubectl sent is a value or a ProtobufDecodeError', async (t) => {
  const b = await bodies();
  const decoders = [decodeSelfSubjectAccessReview, decodeSelfSubjectRulesReview, decodeSelfSubjectReview];
  let errors = 0;
  for (const body of Object.values(b)) {
    // the last field of kubectl's envelope is contentType "" (22 00): cut inside it
    decodeError(t, () => decodeEnvelope(body.subarray(0, body.length - 1)), 'truncated varint');
    for (let n = 0; n < body.length; n++) {
      for (const attempt of [() => decodeEnvelope(body.subarray(0, n)), ...decoders.map((d) => () => d(body.subarray(K8S_PROTOBUF_MAGIC.length, n)))]) {
        try {
          attempt();
        } catch (e) {
          if (!(e instanceof ProtobufDecodeError)) return t.fail(`cut at ${n}: ${String(e)}`);
          errors++;
        }
      }
    }
  }
  t.true(errors > 0);
});

test('random and mutated input: a value or a ProtobufDecodeError, and it ends', async (t) => {
  const b = Object.values(await bodies());
  let seed = 0x2545f491;
  const rand = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const decoders = [decodeEnvelope, decodeSelfSubjectAccessReview, decodeSelfSubjectRulesReview, decodeSelfSubjectReview];
  const counts = { ok: 0, error: 0 };
  for (let i = 0; i < 4000; i++) {
    let buf: Buffer;
    if (i % 2) {
      buf = Buffer.from(b[rand(b.length)]);
      for (let m = 1 + rand(4); m > 0; m--) buf[rand(buf.length)] = rand(256);
    } else {
      buf = Buffer.concat([i % 4 ? K8S_PROTOBUF_MAGIC : Buffer.alloc(0), Buffer.from(Array.from({ length: rand(64) }, () => rand(256)))]);
    }
    for (const d of decoders) {
      try {
        d(d === decodeEnvelope ? buf : buf.subarray(K8S_PROTOBUF_MAGIC.length));
        counts.ok++;
      } catch (e) {
        if (!(e instanceof ProtobufDecodeError)) return t.fail(`input ${buf.toString('hex')}: ${String(e)}`);
        counts.error++;
      }
    }
  }
  t.true(counts.ok > 0 && counts.error > 0, JSON.stringify(counts));
});

test('a 3 MiB body of nested lengths is decoded in bounded time', (t) => {
  // every byte a one-byte field header + zero length: the most fields a body can hold
  const body = Buffer.concat([K8S_PROTOBUF_MAGIC, Buffer.alloc(3 << 20, Buffer.from([0x3a, 0x00]))]);
  const env = decodeEnvelope(body);
  t.is(env.raw.length, 0);
  // one huge spec holding every byte
  const raw = bytes(2, Buffer.alloc(3 << 20, Buffer.from([0x1a, 0x00])));
  t.deepEqual(decodeSelfSubjectAccessReview(raw), { metadata: {}, spec: {} });
});
