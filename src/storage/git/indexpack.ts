// Indexing a received packfile, as `git index-pack` does: every object's id (deltas resolved),
// the CRC-32 of its bytes in the pack, and a version-2 pack index (.idx) that git, isomorphic-git
// and ./objects.ts read. Native zlib and SHA-1; a delta's base is inflated again when needed
// (through a bounded cache), so memory stays near one pack plus the cache, whatever the count.
//
// isomorphic-git indexes a fetched pack in JavaScript (a JS inflate, an async SHA-1 per object):
// for a first sync of 20 repositories that was a third of the server's CPU.
import { createHash } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { applyDelta, GitObjectFormatError, OFS_DELTA, parseEntryHeader, REF_DELTA, TYPES, type ObjectType } from './objects.ts';

export interface IndexedPack {
  /** the pack's own checksum (its last 20 bytes), hex: the pack is stored as pack-<checksum>.pack */
  checksum: string;
  /** the version-2 index of the pack */
  idx: Buffer;
  /** every object id in the pack */
  oids: string[];
}

interface Entry {
  offset: number;
  kind: number;
  /** where the zlib stream starts */
  dataAt: number;
  size: number;
  /** OFS_DELTA: the base's offset; REF_DELTA: the base's id */
  base?: number | string;
  crc: number;
  oid?: string;
  type?: ObjectType;
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (IEEE) of a byte range. */
export function crc32(buf: Buffer, start = 0, end = buf.length): number {
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** A REF_DELTA whose base is not resolved yet (it may be a delta resolved later in the pass). */
class BaseNotKnownYet extends Error {
  constructor(readonly entry: Entry) {
    super('base not known yet');
  }
}

function hashObject(type: ObjectType, data: Buffer): string {
  return createHash('sha1').update(`${type} ${data.length}\0`).update(data).digest('hex');
}

/**
 * zlib's output buffer for an object of `size` bytes: exactly its size. The default (16 KiB) is a
 * separate malloc per call, freed only when V8 collects the Buffer: indexing 60,000 objects left
 * ~45 MiB of those in the C heap between collections, memory the process then kept (RSS after an
 * initial sync over HTTP: 86 MiB of C heap against 37 MiB when nothing was indexed). Below 4 KiB a
 * buffer of the exact size comes from Node's shared pool.
 */
const outputChunk = (size: number) => Math.max(64, size + 1);

/** Parses, checks and indexes a pack (version 2 or 3). Refuses a damaged pack, or one whose deltas need objects it does not hold (a thin pack). */
export function indexPack(pack: Buffer): IndexedPack {
  if (pack.length < 32 || pack.toString('latin1', 0, 4) !== 'PACK') throw new GitObjectFormatError('not a packfile');
  const version = pack.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw new GitObjectFormatError(`packfile version ${version} is not supported`);
  const count = pack.readUInt32BE(8);
  const end = pack.length - 20;
  const checksum = pack.toString('hex', end);
  if (createHash('sha1').update(pack.subarray(0, end)).digest('hex') !== checksum) throw new GitObjectFormatError('packfile checksum mismatch (damaged in transit?)');

  // 1. walk the entries: headers, and the length of each zlib stream (inflating it)
  const entries: Entry[] = [];
  const byOffset = new Map<number, Entry>();
  let at = 12;
  for (let n = 0; n < count; n++) {
    if (at >= end) throw new GitObjectFormatError(`packfile ends after ${n} of ${count} objects`);
    const offset = at;
    const header = parseEntryHeader(pack, at);
    const { kind, size } = header;
    let base = header.base;
    if (kind === OFS_DELTA) {
      base = offset - (base as number);
      if (base < 12 || !byOffset.has(base)) throw new GitObjectFormatError(`delta at ${offset} names a base at ${base}, which is not an object of the pack`);
    } else if (kind !== REF_DELTA && !TYPES[kind]) {
      throw new GitObjectFormatError(`unknown object type ${kind} at offset ${offset}`);
    }
    const dataAt = header.dataAt;
    let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      inflated = inflateSync(pack.subarray(dataAt, end), { info: true, chunkSize: outputChunk(size) }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    } catch (err) {
      throw new GitObjectFormatError(`damaged object at offset ${offset}: ${(err as Error).message}`);
    }
    if (inflated.buffer.length !== size) throw new GitObjectFormatError(`object at offset ${offset} inflates to ${inflated.buffer.length} bytes, expected ${size}`);
    at = dataAt + inflated.engine.bytesWritten;
    const e: Entry = { offset, kind, dataAt, size, base, crc: crc32(pack, offset, at) };
    if (TYPES[kind]) {
      e.type = TYPES[kind];
      e.oid = hashObject(e.type, inflated.buffer);
    }
    entries.push(e);
    byOffset.set(offset, e);
  }
  if (at !== end) throw new GitObjectFormatError(`packfile has ${end - at} bytes after its ${count} objects`);

  // 2. resolve the deltas (a base may itself be a delta, in any order for REF_DELTA)
  const byOid = new Map<string, Entry>();
  for (const e of entries) if (e.oid) byOid.set(e.oid, e);
  const cache = new LRUCache<number, Buffer>({ maxSize: 32 << 20, sizeCalculation: (b) => b.length + 64 });
  const inflate = (e: Entry) => inflateSync(pack.subarray(e.dataAt, end), { chunkSize: outputChunk(e.size) });
  const resolve = (e: Entry, depth: number): { type: ObjectType; data: Buffer } => {
    const hit = cache.get(e.offset);
    if (hit && e.type) return { type: e.type, data: hit };
    if (depth > 10_000) throw new GitObjectFormatError(`delta chain too long at offset ${e.offset}`);
    let result: { type: ObjectType; data: Buffer };
    if (e.base === undefined) result = { type: e.type!, data: inflate(e) };
    else {
      const baseEntry = typeof e.base === 'number' ? byOffset.get(e.base) : byOid.get(e.base);
      if (!baseEntry) throw new BaseNotKnownYet(e);
      const b = resolve(baseEntry, depth + 1);
      result = { type: b.type, data: applyDelta(inflate(e), b.data) };
    }
    if (!e.oid) {
      e.type = result.type;
      e.oid = hashObject(result.type, result.data);
      byOid.set(e.oid, e);
    }
    if (e.base !== undefined || result.type === 'tree') cache.set(e.offset, result.data);
    return result;
  };
  // REF_DELTA bases found only once their own delta is resolved: repeat until nothing moves
  for (let pending = entries.filter((e) => !e.oid); pending.length; ) {
    const next: Entry[] = [];
    for (const e of pending) {
      if (e.oid) continue; // resolved as the base of another
      try {
        resolve(e, 0);
      } catch (err) {
        if (!(err instanceof BaseNotKnownYet)) throw err;
        next.push(e);
      }
    }
    if (next.length === pending.length) throw new GitObjectFormatError(`${next.length} delta(s) need objects that are not in the pack (a thin pack)`);
    pending = next;
  }

  // 3. the version-2 index
  const sorted = [...entries].sort((a, b) => (a.oid! < b.oid! ? -1 : a.oid! > b.oid! ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) if (sorted[i].oid === sorted[i - 1].oid) throw new GitObjectFormatError(`object ${sorted[i].oid} is in the pack twice`);
  const large = sorted.filter((e) => e.offset >= 0x80000000);
  const idx = Buffer.alloc(8 + 1024 + count * 28 + large.length * 8 + 40);
  idx.writeUInt32BE(0xff744f63, 0);
  idx.writeUInt32BE(2, 4);
  const fanout = new Uint32Array(256);
  for (const e of sorted) fanout[parseInt(e.oid!.slice(0, 2), 16)]++;
  let total = 0;
  for (let i = 0; i < 256; i++) {
    total += fanout[i];
    idx.writeUInt32BE(total, 8 + i * 4);
  }
  let p = 8 + 1024;
  for (const e of sorted) p += idx.write(e.oid!, p, 'hex');
  for (const e of sorted) p = idx.writeUInt32BE(e.crc, p);
  let li = 0;
  for (const e of sorted) p = idx.writeUInt32BE(e.offset >= 0x80000000 ? (0x80000000 | li++) >>> 0 : e.offset, p);
  for (const e of large) {
    p = idx.writeUInt32BE(Math.floor(e.offset / 2 ** 32), p);
    p = idx.writeUInt32BE(e.offset % 2 ** 32, p);
  }
  p += idx.write(checksum, p, 'hex');
  idx.write(createHash('sha1').update(idx.subarray(0, p)).digest('hex'), p, 'hex');
  return { checksum, idx, oids: sorted.map((e) => e.oid!) };
}
