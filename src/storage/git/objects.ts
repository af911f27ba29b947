// Reading git objects straight from a repository's object database: loose objects and packfiles
// (index v1 and v2, OFS_DELTA and REF_DELTA chains), inflated with Node's native zlib.
//
// isomorphic-git reads an object by probing the loose path (a failed open), listing the pack
// directory, loading every pack *whole* into memory and inflating with a JavaScript zlib; for the
// 10,000 commits and trees of an initial sync that was most of the server's CPU and a copy of
// every pack in its heap. Here a pack index stays as the file's own bytes (binary search, 28 bytes
// per object) and an object is one positioned read of its compressed bytes. Writes stay with
// isomorphic-git (loose objects, packs from fetch): this module only reads what is on disk, and a
// miss re-lists the pack directory once, so packs added since are found.
//
// The parsers give isomorphic-git's shapes (CommitObject, TreeEntry) with its rules (modes
// normalised, unsafe tree entry names refused), so callers do not see which reader answered.
import { closeSync, openSync, readdirSync, readFileSync, readSync, fstatSync } from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { own } from '../../util/strings.ts';

export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';

export interface RawObject {
  type: ObjectType;
  data: Buffer;
}

export interface Person {
  name: string;
  email: string;
  timestamp: number;
  timezoneOffset: number;
}

export interface ParsedCommit {
  tree: string;
  parent: string[];
  author: Person;
  committer: Person;
  message: string;
  gpgsig?: string;
}

export interface ParsedTreeEntry {
  mode: string;
  path: string;
  oid: string;
  type: 'blob' | 'tree' | 'commit';
}

export interface ParsedTag {
  object: string;
  type: string;
  tag: string;
  message: string;
}

/** An object that is not in the repository (code as isomorphic-git's, so callers handle both alike). */
export class GitObjectNotFoundError extends Error {
  readonly code = 'NotFoundError';
  constructor(readonly oid: string) {
    super(`Could not find ${oid}.`);
    this.name = 'NotFoundError';
  }
}

/** A damaged or unexpected object or pack (code as isomorphic-git's parse errors). */
export class GitObjectFormatError extends Error {
  readonly code: string;
  constructor(message: string, code = 'InternalError') {
    super(message);
    this.name = code;
    this.code = code;
  }
}

/** The object types of pack entry kinds 1–4 (6 and 7 are deltas). */
export const TYPES: Record<number, ObjectType> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };
export const OFS_DELTA = 6;
export const REF_DELTA = 7;
const OID_RE = /^[0-9a-f]{40}$/;
/** Longest delta chain followed (git's own default depth is 50; 4095 is its maximum). */
const MAX_DELTA_DEPTH = 10_000;

/**
 * Delta bases recently resolved, shared by every repository of the process and bounded by bytes:
 * a tree or blob at the end of a delta chain does not inflate the whole chain again.
 */
const deltaBases = new LRUCache<string, RawObject>({ maxSize: 8 << 20, sizeCalculation: (o) => o.data.buffer.byteLength + 64 });

/**
 * The object with a buffer of its own, of its exact size, for the cache: a small Buffer is a view
 * of Node's shared 8 KiB pool (or of zlib's output chunk), and one cached view kept its whole pool
 * slab alive (46 MiB of slabs for a cache of 16 MiB of objects).
 */
function compact(o: RawObject): RawObject {
  if (o.data.byteOffset === 0 && o.data.buffer.byteLength === o.data.byteLength) return o;
  const data = Buffer.allocUnsafeSlow(o.data.byteLength);
  o.data.copy(data);
  return { type: o.type, data };
}

class PackIndex {
  private constructor(
    readonly packPath: string,
    private readonly idx: Buffer,
    private readonly version: 1 | 2,
    readonly count: number,
    private fd: number | null = null,
  ) {}

  /** Parses an index file; null when it is incomplete (being written) or not an index. */
  static load(idxPath: string): PackIndex | null {
    let idx: Buffer;
    try {
      idx = readFileSync(idxPath);
    } catch {
      return null;
    }
    const packPath = idxPath.replace(/\.idx$/, '.pack');
    if (idx.buffer.byteLength !== idx.byteLength) {
      // a small file is read into Node's shared buffer pool: keep a copy, not the pool slab
      const own = Buffer.allocUnsafeSlow(idx.byteLength);
      idx.copy(own);
      idx = own;
    }
    if (idx.length >= 8 && idx.readUInt32BE(0) === 0xff744f63) {
      if (idx.readUInt32BE(4) !== 2) throw new GitObjectFormatError(`${idxPath}: pack index version ${idx.readUInt32BE(4)} is not supported`);
      if (idx.length < 8 + 1024 + 40) return null;
      const n = idx.readUInt32BE(8 + 255 * 4);
      // fanout, names, CRCs, 4-byte offsets, (8-byte offsets), two checksums
      if (idx.length < 8 + 1024 + n * 28 + 40) return null;
      return new PackIndex(packPath, idx, 2, n);
    }
    if (idx.length < 1024 + 40) return null;
    const n = idx.readUInt32BE(255 * 4);
    if (idx.length < 1024 + n * 24 + 40) return null;
    return new PackIndex(packPath, idx, 1, n);
  }

  /** The pack offset of an object, or -1. */
  offsetOf(oid: Buffer): number {
    const idx = this.idx;
    const base = this.version === 2 ? 8 : 0;
    const first = oid[0];
    let lo = first === 0 ? 0 : idx.readUInt32BE(base + (first - 1) * 4);
    let hi = idx.readUInt32BE(base + first * 4);
    const names = this.version === 2 ? base + 1024 : 1024 + 4;
    const stride = this.version === 2 ? 20 : 24;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const at = names + mid * stride;
      const c = oid.compare(idx, at, at + 20);
      if (c === 0) return this.offsetAt(mid);
      if (c < 0) hi = mid;
      else lo = mid + 1;
    }
    return -1;
  }

  private offsetAt(i: number): number {
    const idx = this.idx;
    if (this.version === 1) return idx.readUInt32BE(1024 + i * 24);
    const small = 8 + 1024 + this.count * 24;
    const v = idx.readUInt32BE(small + i * 4);
    if ((v & 0x80000000) === 0) return v;
    const large = small + this.count * 4 + (v & 0x7fffffff) * 8;
    return idx.readUInt32BE(large) * 2 ** 32 + idx.readUInt32BE(large + 4);
  }

  /** Reads `length` bytes at `position` of the pack (fewer at its end). */
  read(position: number, length: number): Buffer {
    if (this.fd === null) this.fd = openSync(this.packPath, 'r');
    const buf = Buffer.allocUnsafe(length);
    const n = readSync(this.fd, buf, 0, length, position);
    return n === length ? buf : buf.subarray(0, n);
  }

  packSize(): number {
    if (this.fd === null) this.fd = openSync(this.packPath, 'r');
    return fstatSync(this.fd).size;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** The object database of one repository (`gitdir`: a bare repository or a `.git` directory). */
export class ObjectDatabase {
  private packs = new Map<string, PackIndex>();
  private listed = false;

  constructor(readonly gitdir: string) {}

  /** Whether the object is here (loose or in a pack), without reading it. */
  has(oid: string): boolean {
    const key = oidBytes(oid);
    if (this.findPacked(key)) return true;
    try {
      closeSync(openSync(this.loosePath(oid), 'r'));
      return true;
    } catch {
      return this.relist() && this.findPacked(key) !== null;
    }
  }

  /** The object, or GitObjectNotFoundError. */
  read(oid: string): RawObject {
    const key = oidBytes(oid);
    let hit = this.findPacked(key);
    if (hit) return readPacked(hit.pack, hit.offset, (base) => this.read(base), 0);
    const loose = this.readLoose(oid);
    if (loose) return loose;
    if (this.relist() && (hit = this.findPacked(key))) return readPacked(hit.pack, hit.offset, (base) => this.read(base), 0);
    throw new GitObjectNotFoundError(oid);
  }

  /** Closes the pack files this database opened. */
  close(): void {
    for (const p of this.packs.values()) p.close();
    this.packs.clear();
    this.listed = false;
  }

  private loosePath(oid: string): string {
    return path.join(this.gitdir, 'objects', oid.slice(0, 2), oid.slice(2));
  }

  private readLoose(oid: string): RawObject | null {
    let file: Buffer;
    try {
      file = readFileSync(this.loosePath(oid));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw err;
    }
    const raw = inflateSync(file, { chunkSize: Math.max(64, file.length * 4) });
    const space = raw.indexOf(0x20);
    const nul = raw.indexOf(0, space);
    const type = raw.toString('latin1', 0, space) as ObjectType;
    const size = Number(raw.toString('latin1', space + 1, nul));
    if (!['commit', 'tree', 'blob', 'tag'].includes(type) || space < 0 || nul < 0 || raw.length - nul - 1 !== size) throw new GitObjectFormatError(`loose object ${oid} is damaged`);
    return { type, data: raw.subarray(nul + 1) };
  }

  private findPacked(oid: Buffer): { pack: PackIndex; offset: number } | null {
    if (!this.listed) this.relist();
    for (const pack of this.packs.values()) {
      const offset = pack.offsetOf(oid);
      if (offset >= 0) return { pack, offset };
    }
    return null;
  }

  /** Re-reads the pack directory; true when it found packs it did not know. */
  private relist(): boolean {
    this.listed = true;
    let names: string[];
    try {
      names = readdirSync(path.join(this.gitdir, 'objects', 'pack'));
    } catch {
      names = [];
    }
    let added = false;
    const present = new Set<string>();
    for (const name of names) {
      if (!name.endsWith('.idx')) continue;
      present.add(name);
      if (this.packs.has(name)) continue;
      const idx = PackIndex.load(path.join(this.gitdir, 'objects', 'pack', name));
      if (!idx) continue; // being written: the next miss looks again
      this.packs.set(name, idx);
      added = true;
    }
    for (const [name, idx] of this.packs) {
      if (present.has(name)) continue;
      idx.close(); // repacked away: its objects are in another pack now
      this.packs.delete(name);
    }
    return added;
  }
}

function oidBytes(oid: string): Buffer {
  if (!OID_RE.test(oid)) throw new GitObjectNotFoundError(oid);
  return Buffer.from(oid, 'hex');
}

/** The header of a pack entry (at `buf[at]`): its kind, inflated size, delta base, and where its zlib stream starts. */
export interface EntryHeader {
  /** 1–4: commit, tree, blob, tag; 6: OFS_DELTA; 7: REF_DELTA */
  kind: number;
  size: number;
  /** OFS_DELTA: how far back the base is; REF_DELTA: the base's id */
  base?: number | string;
  /** index in `buf` of the zlib stream */
  dataAt: number;
}

export function parseEntryHeader(buf: Buffer, at: number): EntryHeader {
  let byte = buf[at++];
  const kind = (byte >> 4) & 7;
  let size = byte & 15;
  let shift = 4;
  while (byte & 0x80) {
    byte = buf[at++];
    size += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  }
  if (kind === OFS_DELTA) {
    byte = buf[at++];
    let back = byte & 0x7f;
    while (byte & 0x80) {
      byte = buf[at++];
      back = (back + 1) * 128 + (byte & 0x7f);
    }
    return { kind, size, base: back, dataAt: at };
  }
  if (kind === REF_DELTA) return { kind, size, base: buf.toString('hex', at, at + 20), dataAt: at + 20 };
  return { kind, size, dataAt: at };
}

/** Reads the object at `offset` of a pack, following deltas; `byOid` resolves REF_DELTA bases. */
function readPacked(pack: PackIndex, offset: number, byOid: (oid: string) => RawObject, depth: number): RawObject {
  const cacheKey = `${pack.packPath}\0${offset}`;
  const cached = deltaBases.get(cacheKey);
  if (cached) return cached;
  if (depth > MAX_DELTA_DEPTH) throw new GitObjectFormatError(`${pack.packPath}: delta chain longer than ${MAX_DELTA_DEPTH} at offset ${offset}`);
  // header: type and size (varint), then the base of a delta, then the zlib stream
  const { kind, size, base: ref, dataAt: i } = parseEntryHeader(pack.read(offset, 32), 0);
  let base: RawObject | undefined;
  if (kind === OFS_DELTA) base = readPacked(pack, offset - (ref as number), byOid, depth + 1);
  else if (kind === REF_DELTA) base = byOid(ref as string);
  else if (!TYPES[kind]) {
    throw new GitObjectFormatError(`${pack.packPath}: unknown object type ${kind} at offset ${offset}`);
  }
  const data = inflateAt(pack, offset + i, size);
  const obj: RawObject = base ? { type: base.type, data: applyDelta(data, base.data) } : { type: TYPES[kind], data };
  if (base || obj.type === 'tree') {
    const own = compact(obj);
    deltaBases.set(cacheKey, own);
    return own;
  }
  return obj;
}

/** Inflates the zlib stream at `position` of a pack, whose inflated size is `size`. */
function inflateAt(pack: PackIndex, position: number, size: number): Buffer {
  // deflate adds at most a few bytes per 16 KiB block and 6 of framing: this read is enough
  // almost always; a short one is retried longer, up to the end of the pack.
  let length = size + 64 + (size >> 7);
  for (;;) {
    const chunk = pack.read(position, length);
    try {
      // an output buffer of exactly the object's size: zlib's default 16 KiB chunk would be
      // returned as a view, and a cached 200-byte tree would keep 16 KiB alive
      const out = inflateSync(chunk, { chunkSize: Math.max(64, size + 1) });
      if (out.length !== size) throw new GitObjectFormatError(`${pack.packPath}: object at ${position} inflates to ${out.length} bytes, expected ${size}`);
      return out;
    } catch (err) {
      if ((err as { code?: string }).code !== 'Z_BUF_ERROR' || chunk.length < length || position + length >= pack.packSize()) {
        if (err instanceof GitObjectFormatError) throw err;
        throw new GitObjectFormatError(`${pack.packPath}: damaged object at offset ${position}: ${(err as Error).message}`);
      }
      length *= 2;
    }
  }
}

/** Applies a git delta to its base. */
export function applyDelta(delta: Buffer, base: Buffer): Buffer {
  let i = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = delta[i++];
      v += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return v;
  };
  const baseSize = varint();
  if (baseSize !== base.length) throw new GitObjectFormatError(`delta base is ${base.length} bytes, the delta expects ${baseSize}`);
  const out = Buffer.allocUnsafe(varint());
  let o = 0;
  while (i < delta.length) {
    const op = delta[i++];
    if (op & 0x80) {
      let off = 0;
      let len = 0;
      if (op & 0x01) off |= delta[i++];
      if (op & 0x02) off |= delta[i++] << 8;
      if (op & 0x04) off |= delta[i++] << 16;
      if (op & 0x08) off += delta[i++] * 2 ** 24;
      if (op & 0x10) len |= delta[i++];
      if (op & 0x20) len |= delta[i++] << 8;
      if (op & 0x40) len |= delta[i++] << 16;
      if (len === 0) len = 0x10000;
      if (off + len > base.length || o + len > out.length) throw new GitObjectFormatError('delta copies outside its base or result');
      base.copy(out, o, off, off + len);
      o += len;
    } else if (op > 0) {
      if (o + op > out.length || i + op > delta.length) throw new GitObjectFormatError('delta inserts outside its result');
      delta.copy(out, o, i, i + op);
      i += op;
      o += op;
    } else {
      throw new GitObjectFormatError('delta opcode 0 is reserved');
    }
  }
  if (o !== out.length) throw new GitObjectFormatError(`delta result is ${o} bytes, expected ${out.length}`);
  return out;
}

// ------------------------------------------------------------------------------------------------
// parsers (isomorphic-git's shapes and rules)


function parsePerson(value: string): Person {
  const m = /^(.*) <(.*)> (.*) (.*)$/.exec(value);
  if (!m) throw new GitObjectFormatError(`malformed author or committer: ${JSON.stringify(value)}`, 'ParseError');
  const tz = /(\+|-)(\d\d)(\d\d)/.exec(m[4]);
  const minutes = tz ? (tz[1] === '+' ? 1 : -1) * (Number(tz[2]) * 60 + Number(tz[3])) : 0;
  return { name: own(m[1]), email: own(m[2]), timestamp: Number(m[3]), timezoneOffset: minutes === 0 ? minutes : -minutes };
}

/** Headers (continuation lines joined) and the message, as isomorphic-git splits a commit or tag. */
function splitHeaders(text: string): { headers: string[]; message: string } {
  const cut = text.indexOf('\n\n');
  const head = cut < 0 ? text : text.slice(0, cut);
  let message = cut < 0 ? text.slice(text.indexOf('\n\n') + 2) : text.slice(cut + 2);
  message = message.replace(/\r/g, '').replace(/^\n+/, '').replace(/\n+$/, '') + '\n';
  const headers: string[] = [];
  for (const h of head.split('\n')) {
    if (h[0] === ' ' && headers.length) headers[headers.length - 1] += '\n' + h.slice(1);
    else headers.push(h);
  }
  return { headers, message };
}

const keyOf = (h: string) => h.slice(0, h.indexOf(' '));
const valueOf = (h: string) => h.slice(h.indexOf(' ') + 1);

export function parseCommit(data: Buffer): ParsedCommit {
  const { headers, message } = splitHeaders(data.toString('utf8'));
  if (headers.length === 0 || keyOf(headers[0]) !== 'tree') throw new GitObjectFormatError('a commit must start with its tree', 'ParseError');
  const out: Record<string, string> = {};
  const parent: string[] = [];
  let i = 1;
  for (; i < headers.length && keyOf(headers[i]) === 'parent'; i++) parent.push(own(valueOf(headers[i])));
  const seen = new Set(['tree', 'parent']);
  for (; i < headers.length; i++) {
    const key = keyOf(headers[i]);
    if (seen.has(key)) continue; // the first of a single-valued header wins, as in git
    seen.add(key);
    out[key] = valueOf(headers[i]);
  }
  const commit: ParsedCommit = {
    tree: own(valueOf(headers[0])),
    parent,
    author: parsePerson(out.author ?? ''),
    committer: parsePerson(out.committer ?? ''),
    message,
  };
  if (out.gpgsig !== undefined) commit.gpgsig = out.gpgsig;
  return commit;
}

export function parseTag(data: Buffer): ParsedTag {
  const { headers, message } = splitHeaders(data.toString('utf8'));
  const h = new Map<string, string>();
  for (const line of headers) if (!h.has(keyOf(line))) h.set(keyOf(line), valueOf(line));
  const object = h.get('object');
  if (!object) throw new GitObjectFormatError('a tag must name its object', 'ParseError');
  return { object, type: h.get('type') ?? '', tag: h.get('tag') ?? '', message };
}

const MODES: [RegExp, string][] = [
  [/^0?4/, '040000'],
  [/^1006/, '100644'],
  [/^1007/, '100755'],
  [/^120/, '120000'],
  [/^160/, '160000'],
];
const TYPE_OF_MODE: Record<string, ParsedTreeEntry['type']> = { '040000': 'tree', '100644': 'blob', '100755': 'blob', '120000': 'blob', '160000': 'commit' };

/** A tree entry name git itself refuses (a path separator, `.`, `..`, `.git` and its NTFS/HFS aliases). */
export function unsafeEntryName(name: string): boolean {
  const hfs = name.replace(/[\u200C-\u200F\u202A-\u202E\u206A-\u206F\uFEFF]/g, '');
  const ntfs = hfs.split(':')[0].toLowerCase().replace(/[. ]+$/, '');
  return name.includes('/') || name.includes('\\') || hfs === '.' || hfs === '..' || ntfs === '.git' || /^\.?git~[1-9]$/.test(ntfs);
}

export function parseTree(data: Buffer): ParsedTreeEntry[] {
  const entries: ParsedTreeEntry[] = [];
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const nul = data.indexOf(0, space + 1);
    if (space < 0 || nul < 0 || nul + 21 > data.length) throw new GitObjectFormatError(`malformed tree entry at byte ${at}`);
    const raw = data.toString('latin1', at, space);
    const mode = MODES.find(([re]) => re.test(raw))?.[1];
    if (!mode) throw new GitObjectFormatError(`Could not understand file mode: ${raw}`);
    const name = data.toString('utf8', space + 1, nul);
    if (unsafeEntryName(name)) throw new GitObjectFormatError(`The filepath "${name}" contains unsafe character sequences`, 'UnsafeFilepathError');
    entries.push({ mode, path: name, oid: data.toString('hex', nul + 1, nul + 21), type: TYPE_OF_MODE[mode] });
    at = nul + 21;
  }
  return entries;
}
