// Kubernetes protobuf request bodies (k8s.io/apimachinery runtime/serializer/protobuf): the
// `k8s\0` magic, the runtime.Unknown envelope, and decoders of the kinds that kubectl ≥ 1.32
// sends this way (the self reviews, Namespace), into the objects the JSON API carries.
//
// A small reader of the protobuf wire format: varints, length-delimited fields, fixed 32/64-bit
// fields skipped. Every read is bounds-checked against the buffer and every loop consumes at
// least one byte, so any input ends, in time linear in its size; malformed or truncated input
// is a ProtobufDecodeError, never anything else. Only the fields a decoder reads are kept (as
// offsets); groups (wire types 3 and 4, unused by every Kubernetes message) are rejected. A
// singular field that occurs twice follows protobuf: the last scalar wins, messages merge.
// Field numbers: k8s.io/api .../generated.proto and k8s.io/apimachinery runtime.Unknown.

export class ProtobufDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtobufDecodeError';
  }
}

/** The 4 bytes every Kubernetes protobuf body starts with. */
export const K8S_PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

/** Where one field's value sits in the buffer: the varint's bytes (wire 0), or the bytes after the length (wire 2). */
interface Field {
  wire: number;
  start: number;
  end: number;
}

/** The wanted fields of one message, by field number, in the order they appear. */
interface Message {
  buf: Buffer;
  fields: Map<number, Field[]>;
}

/** A varint as a number: exact below 2^53, which covers every key and every length that fits a buffer. */
function readUint(buf: Buffer, at: { pos: number }): number {
  let value = 0;
  for (let i = 0; i < 10; i++) {
    if (at.pos >= buf.length) throw new ProtobufDecodeError('truncated varint');
    const b = buf[at.pos++];
    value += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return value;
  }
  throw new ProtobufDecodeError('varint longer than 10 bytes');
}

/** Reads every field, keeps where the wanted ones are; the others are only skipped. */
function parse(buf: Buffer, wanted: readonly number[]): Message {
  const fields = new Map<number, Field[]>();
  const at = { pos: 0 };
  while (at.pos < buf.length) {
    const key = readUint(buf, at);
    const num = Math.floor(key / 8);
    const wire = key % 8;
    if (num < 1 || num > 0x1fffffff) throw new ProtobufDecodeError(`invalid field number ${num}`);
    let start = at.pos;
    switch (wire) {
      case 0:
        readUint(buf, at);
        break;
      case 2: {
        const len = readUint(buf, at);
        if (len > buf.length - at.pos) throw new ProtobufDecodeError(`field ${num}: length ${len} beyond the end of the data`);
        start = at.pos;
        at.pos += len;
        break;
      }
      case 1:
      case 5: {
        const size = wire === 1 ? 8 : 4;
        if (at.pos + size > buf.length) throw new ProtobufDecodeError(`field ${num}: truncated fixed${size * 8}`);
        at.pos += size;
        break;
      }
      default:
        throw new ProtobufDecodeError(`field ${num}: unsupported wire type ${wire}`);
    }
    if (!wanted.includes(num)) continue;
    const f = { wire, start, end: at.pos };
    const list = fields.get(num);
    if (list) list.push(f);
    else fields.set(num, [f]);
  }
  return { buf, fields };
}

function bytesOf(m: Message, num: number): Buffer[] {
  return (m.fields.get(num) ?? []).map((f) => {
    if (f.wire !== 2) throw new ProtobufDecodeError(`field ${num}: wire type ${f.wire}, expected 2 (length-delimited)`);
    return m.buf.subarray(f.start, f.end);
  });
}

function str(m: Message, num: number): string {
  const all = bytesOf(m, num);
  return all.length ? all[all.length - 1].toString('utf8') : '';
}

function strs(m: Message, num: number): string[] {
  return bytesOf(m, num).map((b) => b.toString('utf8'));
}

/** An embedded message: undefined when absent; every occurrence merged, as protobuf does. */
function msg(m: Message, num: number, wanted: readonly number[]): Message | undefined {
  const all = bytesOf(m, num);
  return all.length ? parse(all.length === 1 ? all[0] : Buffer.concat(all), wanted) : undefined;
}

/** An int64 (two's complement in up to 10 varint bytes); 0 when absent. */
function int64(m: Message, num: number): bigint {
  const all = m.fields.get(num) ?? [];
  const f = all[all.length - 1];
  if (!f) return 0n;
  if (f.wire !== 0) throw new ProtobufDecodeError(`field ${num}: wire type ${f.wire}, expected 0 (varint)`);
  let value = 0n;
  for (let i = f.start; i < f.end; i++) value |= BigInt(m.buf[i] & 0x7f) << BigInt(7 * (i - f.start));
  return BigInt.asIntN(64, value);
}

/** map<string, string>: repeated entries {1: key, 2: value}; a later key wins. */
function stringMap(m: Message, num: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const b of bytesOf(m, num)) {
    const e = parse(b, [1, 2]);
    out[str(e, 1)] = str(e, 2);
  }
  return out;
}

/** Drops the empty strings, arrays and maps (the JSON API omits them: omitempty). */
function compact(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === '' || v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    out[k] = v;
  }
  return out;
}

export interface Envelope {
  apiVersion: string;
  kind: string;
  raw: Buffer;
  contentEncoding: string;
  contentType: string;
}

/** The runtime.Unknown envelope after the magic: {1: TypeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType}. */
export function decodeEnvelope(buf: Buffer): Envelope {
  if (buf.length < K8S_PROTOBUF_MAGIC.length || !buf.subarray(0, K8S_PROTOBUF_MAGIC.length).equals(K8S_PROTOBUF_MAGIC))
    throw new ProtobufDecodeError(`provided data does not appear to be a protobuf message, expected prefix ${JSON.stringify([...K8S_PROTOBUF_MAGIC])}`);
  if (buf.length === K8S_PROTOBUF_MAGIC.length) throw new ProtobufDecodeError('empty body');
  const unk = parse(buf.subarray(K8S_PROTOBUF_MAGIC.length), [1, 2, 3, 4]);
  const typeMeta = msg(unk, 1, [1, 2]);
  const raws = bytesOf(unk, 2);
  return {
    apiVersion: typeMeta ? str(typeMeta, 1) : '',
    kind: typeMeta ? str(typeMeta, 2) : '',
    raw: raws.length ? raws[raws.length - 1] : Buffer.alloc(0),
    contentEncoding: str(unk, 3),
    contentType: str(unk, 4),
  };
}

/**
 * ObjectMeta {1 name, 2 generateName, 3 namespace, 6 resourceVersion, 7 generation, 11 labels,
 * 12 annotations, 14 finalizers}: what a create request may carry and a self review must not.
 * System fields, owner references and managed fields are skipped (the server wipes or ignores them).
 */
function objectMeta(m: Message | undefined): Record<string, unknown> {
  if (!m) return {};
  const generation = int64(m, 7);
  return compact({
    name: str(m, 1),
    generateName: str(m, 2),
    namespace: str(m, 3),
    resourceVersion: str(m, 6),
    generation: generation === 0n ? undefined : Number(generation),
    labels: stringMap(m, 11),
    annotations: stringMap(m, 12),
    finalizers: strs(m, 14),
  });
}

const OBJECT_META = [1, 2, 3, 6, 7, 11, 12, 14];

/**
 * authorization.k8s.io SelfSubjectAccessReview {1: metadata, 2: spec{1: resourceAttributes{1
 * namespace, 2 verb, 3 group, 4 version, 5 resource, 6 subresource, 7 name}, 2:
 * nonResourceAttributes{1 path, 2 verb}}}; status and the selectors are not read.
 */
export function decodeSelfSubjectAccessReview(raw: Buffer): Record<string, unknown> {
  const top = parse(raw, [1, 2]);
  const spec = msg(top, 2, [1, 2]);
  const ra = spec && msg(spec, 1, [1, 2, 3, 4, 5, 6, 7]);
  const nra = spec && msg(spec, 2, [1, 2]);
  return {
    metadata: objectMeta(msg(top, 1, OBJECT_META)),
    spec: {
      ...(ra && {
        resourceAttributes: compact({
          namespace: str(ra, 1),
          verb: str(ra, 2),
          group: str(ra, 3),
          version: str(ra, 4),
          resource: str(ra, 5),
          subresource: str(ra, 6),
          name: str(ra, 7),
        }),
      }),
      ...(nra && { nonResourceAttributes: compact({ path: str(nra, 1), verb: str(nra, 2) }) }),
    },
  };
}

/** authorization.k8s.io SelfSubjectRulesReview {1: metadata, 2: spec{1: namespace}}. */
export function decodeSelfSubjectRulesReview(raw: Buffer): Record<string, unknown> {
  const top = parse(raw, [1, 2]);
  const spec = msg(top, 2, [1]);
  return { metadata: objectMeta(msg(top, 1, OBJECT_META)), spec: spec ? compact({ namespace: str(spec, 1) }) : {} };
}

/** core v1 Namespace {1: metadata, 2: spec{1: finalizers}, 3: status}: status is not read (a create or update ignores it). */
export function decodeNamespace(raw: Buffer): { metadata: Record<string, unknown>; spec: Record<string, unknown> } {
  const top = parse(raw, [1, 2]);
  const spec = msg(top, 2, [1]);
  return { metadata: objectMeta(msg(top, 1, OBJECT_META)), spec: spec ? compact({ finalizers: strs(spec, 1) }) : {} };
}

/** authentication.k8s.io SelfSubjectReview {1: metadata, 2: status}: only metadata is read. */
export function decodeSelfSubjectReview(raw: Buffer): Record<string, unknown> {
  return { metadata: objectMeta(msg(parse(raw, [1]), 1, OBJECT_META)) };
}
