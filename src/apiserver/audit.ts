// The audit log: kube's audit.k8s.io/v1 Events at Metadata level (who, what, which object, the
// outcome; never a request or response body, nor a header), one JSON line per event, in a file
// rotated by size the way kube-apiserver's --audit-log-* flags do it (lumberjack: the full file is
// renamed to <name>-<UTC time>.<ext>, the oldest backups beyond maxBackups are deleted).
import { randomUUID } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { StatusDetails } from './errors.ts';
import type { UserInfo } from './registry/types.ts';

/** The request and response header that carries the audit ID (set by the first server, e.g. the aggregator). */
export const AUDIT_ID_HEADER = 'Audit-ID';

export type AuditStage = 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete' | 'Panic';

export interface AuditObjectRef {
  resource?: string;
  namespace?: string;
  name?: string;
  /** kube fills uid and resourceVersion (and name, namespace when empty) from the decoded request object's metadata */
  uid?: string;
  apiGroup?: string;
  apiVersion?: string;
  resourceVersion?: string;
  subresource?: string;
}

export interface AuditRequestInfo {
  auditID: string;
  /** path and query as the client sent them */
  requestURI: string;
  /** kube's verb (get, list, watch, create, ...); the lower-cased HTTP method for non-resource requests */
  verb: string;
  /** the authenticated user */
  user: UserInfo;
  impersonatedUser?: UserInfo;
  sourceIPs: string[];
  userAgent?: string;
  /** resource requests only */
  objectRef?: AuditObjectRef;
  requestReceived: Date;
}

export interface AuditOutcome {
  code: number;
  /** the fields of a metav1.Status response that kube keeps at Metadata level */
  status?: { status?: string; reason?: string; message?: string; details?: StatusDetails };
  /** e.g. authorization.k8s.io/decision and authorization.k8s.io/reason */
  annotations?: Record<string, string>;
}

/** A new audit ID: a random UUID, as kube's WithAuditInit makes. */
export function newAuditID(): string {
  return randomUUID();
}

/** The audit ID of a request: the client's Audit-ID header if it sent one (kept as is), else a new one. */
export function auditIDFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value || newAuditID();
}

/** metav1.MicroTime as JSON: UTC, always six fractional digits. */
export function microTime(d: Date): string {
  return `${d.toISOString().slice(0, 23)}000Z`;
}

/**
 * The source IPs of a request as kube's utilnet.SourceIPs lists them: every valid IP of
 * X-Forwarded-For, X-Real-Ip unless already listed, then the connection's address unless it is
 * the last one listed. IPv4-mapped IPv6 addresses are written as IPv4, as Go does.
 */
export function sourceIPs(xForwardedFor: string | undefined, xRealIP: string | undefined, remoteAddress: string | undefined): string[] {
  const ips: string[] = [];
  for (const part of xForwardedFor ? xForwardedFor.split(',') : []) {
    const ip = canonicalIP(part.trim());
    if (ip) ips.push(ip);
  }
  const real = xRealIP ? canonicalIP(xRealIP) : undefined;
  if (real && !ips.includes(real)) ips.push(real);
  const remote = remoteAddress ? canonicalIP(remoteAddress) : undefined;
  if (remote && ips.at(-1) !== remote) ips.push(remote);
  return ips;
}

function canonicalIP(s: string): string | undefined {
  const version = isIP(s);
  if (version === 4) return s;
  if (version !== 6 || s.includes('%')) return undefined;
  const ip = new URL(`http://[${s}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(ip);
  if (!mapped) return ip;
  const [hi, lo] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

const MAX_USER_AGENT_BYTES = 1024;

/**
 * One audit.k8s.io/v1 Event at Metadata level, with kube's field names, field order and omissions
 * (maps with sorted keys, as Go writes them). The RequestReceived stage's timestamp is the
 * request's; other stages are stamped `now`.
 */
export function auditEvent(stage: AuditStage, req: AuditRequestInfo, outcome?: AuditOutcome, now: Date = new Date()): Record<string, unknown> {
  const ev: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: req.auditID,
    stage,
    requestURI: req.requestURI,
    verb: req.verb,
    user: userInfo(req.user),
  };
  if (req.impersonatedUser) ev.impersonatedUser = userInfo(req.impersonatedUser);
  if (req.sourceIPs.length > 0) ev.sourceIPs = [...req.sourceIPs];
  if (req.userAgent) ev.userAgent = truncateUserAgent(req.userAgent);
  if (req.objectRef) ev.objectRef = objectRef(req.objectRef);
  if (outcome) ev.responseStatus = responseStatus(outcome);
  ev.requestReceivedTimestamp = microTime(req.requestReceived);
  ev.stageTimestamp = microTime(stage === 'RequestReceived' ? req.requestReceived : now);
  if (outcome?.annotations && Object.keys(outcome.annotations).length > 0) ev.annotations = sortedKeys(outcome.annotations);
  return ev;
}

function userInfo(u: UserInfo): Record<string, unknown> {
  return compact({
    username: u.name,
    uid: u.uid,
    groups: u.groups.length > 0 ? [...u.groups] : undefined,
    extra: u.extra && Object.keys(u.extra).length > 0 ? sortedKeys(u.extra) : undefined,
  });
}

function objectRef(r: AuditObjectRef): Record<string, unknown> {
  const { resource, namespace, name, uid, apiGroup, apiVersion, resourceVersion, subresource } = r;
  return compact({ resource, namespace, name, uid, apiGroup, apiVersion, resourceVersion, subresource });
}

function responseStatus(o: AuditOutcome): Record<string, unknown> {
  const s = o.status ?? {};
  return compact({ metadata: {}, status: s.status, message: s.message, reason: s.reason, details: s.details && statusDetails(s.details), code: o.code || undefined });
}

function statusDetails(d: StatusDetails): Record<string, unknown> {
  const causes = d.causes?.map((c) => compact({ reason: c.reason, message: c.message, field: c.field }));
  return compact({ name: d.name, group: d.group, kind: d.kind, uid: d.uid, causes: causes?.length ? causes : undefined, retryAfterSeconds: d.retryAfterSeconds || undefined });
}

function truncateUserAgent(ua: string): string {
  const bytes = Buffer.from(ua);
  return bytes.length > MAX_USER_AGENT_BYTES ? `${bytes.subarray(0, MAX_USER_AGENT_BYTES).toString()}...TRUNCATED` : ua;
}

/** Drops undefined and empty-string fields (Go's omitempty), keeping the order of the rest. */
function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== ''));
}

function sortedKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

export interface AuditLogOptions {
  /** the file ("-": standard output, never rotated) */
  path: string;
  /** rotate before a line would take the file beyond this size; 0 or unset: never rotate */
  maxSizeBytes?: number;
  /** rotated files to keep, oldest deleted first; 0 or unset: keep all */
  maxBackups?: number;
  /** events waiting for the disk beyond this many bytes are dropped (default 64 MiB) */
  maxPendingBytes?: number;
  log?: Logger;
}

const BACKUP_TIME = /^(\d{4})-(\d\d)-(\d\d)T(\d\d)-(\d\d)-(\d\d)\.(\d{3})$/;

/**
 * The audit log file. write() only queues the line; a single writer appends queued lines in
 * batches (O_APPEND) and rotates between lines, so a line is never split across files nor
 * interleaved. A failed write is undone (the file is truncated back) and its events are dropped:
 * one error is logged when dropping starts and one warning, with the count, when a write succeeds
 * again. flush() and close() wait until every event written before them has been handed to the
 * kernel; close() then closes the file (no fsync, as kube).
 */
export class AuditLog {
  readonly #path: string;
  readonly #maxSize: number;
  readonly #maxBackups: number;
  readonly #maxPending: number;
  readonly #log: Logger;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #running: Promise<void> | undefined;
  #closed = false;
  #file: FileHandle | undefined;
  #size = 0;
  #lastBackup = 0;
  #failing = false;
  #dropped = 0;

  constructor(opts: AuditLogOptions) {
    this.#path = opts.path;
    this.#maxSize = opts.maxSizeBytes ?? 0;
    this.#maxBackups = opts.maxBackups ?? 0;
    this.#maxPending = opts.maxPendingBytes ?? 64 * 1024 * 1024;
    this.#log = opts.log ?? pino();
  }

  /** Queues one event; never throws. Events written after close() are discarded. */
  write(event: Record<string, unknown>): void {
    if (this.#closed) return;
    let line: Buffer;
    try {
      line = Buffer.from(`${JSON.stringify(event)}\n`);
    } catch (err) {
      this.#drop(1, err);
      return;
    }
    if (this.#pendingBytes + line.length > this.#maxPending) {
      this.#drop(1, new Error(`more than ${this.#maxPending} bytes of events are waiting for the disk`));
      return;
    }
    this.#pending.push(line);
    this.#pendingBytes += line.length;
    // starts after the current task, so the events of one tick go out in one write
    this.#running ??= Promise.resolve().then(() => this.#drain());
  }

  /** Resolves when every event written before the call has been written out (or dropped). */
  async flush(): Promise<void> {
    while (this.#running) await this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    const file = this.#file;
    this.#file = undefined;
    await file?.close().catch((err: unknown) => this.#log.error({ err, path: this.#path }, 'audit log: close failed'));
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const lines = this.#pending;
        this.#pending = [];
        this.#pendingBytes = 0;
        await this.#writeLines(lines);
      }
    } finally {
      this.#running = undefined;
    }
  }

  async #writeLines(lines: Buffer[]): Promise<void> {
    let done = 0;
    try {
      if (this.#path === '-') {
        const data = Buffer.concat(lines);
        await new Promise<void>((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
        done = lines.length;
      }
      while (done < lines.length) {
        this.#file ??= await this.#open();
        // the lines that fit in the current file; a line larger than the limit gets a file of its own
        let end = done;
        let bytes = 0;
        while (end < lines.length && (this.#maxSize <= 0 || this.#size + bytes === 0 || this.#size + bytes + lines[end].length <= this.#maxSize)) {
          bytes += lines[end].length;
          end++;
        }
        if (end === done) {
          await this.#rotate();
          continue;
        }
        await this.#append(this.#file, Buffer.concat(lines.slice(done, end)));
        done = end;
      }
    } catch (err) {
      this.#drop(lines.length - done, err);
      const file = this.#file;
      this.#file = undefined;
      await file?.close().catch(() => {});
      return;
    }
    if (this.#failing) {
      this.#log.warn({ path: this.#path, dropped: this.#dropped }, 'audit log: writing again after dropping events');
      this.#failing = false;
      this.#dropped = 0;
    }
  }

  async #open(): Promise<FileHandle> {
    await mkdir(path.dirname(this.#path), { recursive: true, mode: 0o700 });
    const file = await open(this.#path, 'a', 0o600);
    try {
      this.#size = (await file.stat()).size;
    } catch (err) {
      await file.close().catch(() => {});
      throw err;
    }
    await this.#prune();
    return file;
  }

  /** Appends all of `data` or, on failure, truncates the file back to where it was and throws. */
  async #append(file: FileHandle, data: Buffer): Promise<void> {
    let written = 0;
    try {
      while (written < data.length) written += (await file.write(data, written, data.length - written)).bytesWritten;
    } catch (err) {
      if (written > 0) await file.truncate(this.#size).catch(() => {});
      throw err;
    }
    this.#size += data.length;
  }

  async #rotate(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    await file?.close();
    // backups are named by the rotation time; a name already taken moves on by a millisecond
    let time = Math.max(Date.now(), this.#lastBackup + 1);
    while (await exists(this.#backupName(time))) time++;
    this.#lastBackup = time;
    await rename(this.#path, this.#backupName(time));
    this.#file = await this.#open();
  }

  #backupName(time: number): string {
    const { dir, name, ext } = path.parse(this.#path);
    return path.join(dir, `${name}-${new Date(time).toISOString().slice(0, 23).replaceAll(':', '-')}${ext}`);
  }

  /** Deletes the oldest backups beyond maxBackups (when the file rotates at all), as lumberjack on each open. Never throws. */
  async #prune(): Promise<void> {
    if (this.#maxSize <= 0 || this.#maxBackups <= 0) return;
    try {
      const { dir, name, ext } = path.parse(this.#path);
      const backups: { file: string; time: number }[] = [];
      for (const entry of await readdir(dir || '.', { withFileTypes: true })) {
        if (!entry.isFile() || !entry.name.startsWith(`${name}-`) || !entry.name.endsWith(ext)) continue;
        const time = backupTime(entry.name.slice(name.length + 1, entry.name.length - ext.length));
        if (time !== undefined) backups.push({ file: path.join(dir, entry.name), time });
      }
      backups.sort((a, b) => b.time - a.time);
      for (const b of backups.slice(this.#maxBackups)) await unlink(b.file);
    } catch (err) {
      this.#log.error({ err, path: this.#path }, 'audit log: deleting old backups failed');
    }
  }

  #drop(count: number, err: unknown): void {
    this.#dropped += count;
    if (this.#failing) return;
    this.#failing = true;
    this.#log.error({ err, path: this.#path }, 'audit log: events are dropped until a write succeeds');
  }
}

function backupTime(stamp: string): number | undefined {
  const m = BACKUP_TIME.exec(stamp);
  if (!m) return undefined;
  const time = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]);
  // rejects dates that do not exist (month 13, February 30), as Go's time.Parse does
  return new Date(time).toISOString().slice(0, 23).replaceAll(':', '-') === stamp ? time : undefined;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
