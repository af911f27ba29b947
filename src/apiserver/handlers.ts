// REST handlers of a resource (k8s.io/apiserver/pkg/endpoints/handlers): decode the request,
// call the registry, render the response in the representation the client negotiated.
import type { Request, Response } from 'express';
import YAML from 'yaml';
import type { KObject } from '../api/meta.ts';
import { badRequest, fieldErr, forbidden, gone, invalid, notFound, StatusError, unprocessable, unsupportedMediaType, type FieldError, type Status } from './errors.ts';
import { mediaType, negotiateRendering, type Rendering } from './negotiate.ts';
import { applyPatch, patchType } from './patch/index.ts';
import { decodeEnvelope, ProtobufDecodeError } from './protobuf.ts';
import { ExpiredError } from '../storage/store/cacher.ts';
import type { DeleteOptions, FieldValidation, ListResult, RESTStorage } from './registry/generic.ts';
import { apply as applyConfiguration, ApplyConflictError, ApplyInvalidError, managedFieldsOf } from './apply/index.ts';
import { gv, type RequestContext } from './registry/types.ts';
import { forbiddenMessage } from './authz/types.ts';
import { MappedList, partialObjectMetadata, table, type IncludeObject } from './table.ts';
import { checkBounds, decodeText, DEFAULT_MAX_DECODED_BYTES } from './decode.ts';

export { DEFAULT_MAX_DECODED_BYTES };
import { deleteOptionsTypeProblem, metadataTypeProblem } from './validation.ts';
import type { ResourceDef } from './registry/types.ts';

export interface RequestInfo {
  namespace?: string;
  name?: string;
  subresource?: string;
  query: URLSearchParams;
}

export interface HandlerOptions {
  /** how often a watch with allowWatchBookmarks gets a BOOKMARK */
  bookmarkIntervalMs: number;
  /** how long a watch without timeoutSeconds stays open (kube-apiserver: 30–60 min) */
  maxWatchSeconds: number;
  /** a watcher this far behind (bytes buffered) is closed; it will re-watch */
  watchBufferLimit: number;
  /** open watch streams; the server ends each cleanly when it shuts down */
  openWatches: Set<() => void>;
}

const BODY_TYPES = ['application/json', 'application/yaml'];
const APPLY_PATCH = 'application/apply-patch+yaml';
const PROTOBUF = 'application/vnd.kubernetes.protobuf';

// ---------------------------------------------------------------- request decoding

/** Decodes a JSON or YAML body into plain JSON data within bounds (./decode.ts). */
function decodeBody(req: Request, allowed: (t: string) => boolean, accepted: string[], maxBytes = DEFAULT_MAX_DECODED_BYTES): { type: string; body: unknown } {
  const type = mediaType(req.headers['content-type']) || 'application/json';
  if (!allowed(type)) throw unsupportedMediaType(type, accepted);
  const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
  return { type, body: decodeText(raw, type, maxBytes) };
}

/** A Kubernetes protobuf body (typed clients of client-go ≥ 1.32 send them) of a kind that can decode it. */
function decodeProtobuf(req: Request, reg: RESTStorage): KObject {
  const def = reg.def;
  try {
    const env = decodeEnvelope(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
    return { ...def.fromProtobuf!(env.raw), ...(env.kind ? { kind: env.kind } : {}), ...(env.apiVersion ? { apiVersion: env.apiVersion } : {}) };
  } catch (e) {
    if (e instanceof ProtobufDecodeError) throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${e.message}`);
    throw e;
  }
}

function decodeObject(req: Request, reg: RESTStorage): KObject {
  const def = reg.def;
  const types = def.fromProtobuf ? [...BODY_TYPES, PROTOBUF] : BODY_TYPES;
  const body =
    def.fromProtobuf && mediaType(req.headers['content-type']) === PROTOBUF ? decodeProtobuf(req, reg) : decodeBody(req, (t) => BODY_TYPES.includes(t), types).body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  const o = body as KObject;
  if (o.kind !== undefined && o.kind !== def.kind)
    throw badRequest(`${o.kind} in version "${String(o.apiVersion ?? '').split('/').pop()}" cannot be handled as a ${def.kind}: the kind must be ${def.kind}`);
  if (o.apiVersion !== undefined && o.apiVersion !== gv(def))
    throw badRequest(`the API version in the data (${o.apiVersion}) does not match the expected API version (${gv(def)})`);
  checkMetadataTypes(def, o);
  o.metadata ??= {};
  return o;
}

/**
 * ObjectMeta is a typed struct in kube: a field of the wrong type fails the decoding with 400,
 * before any other code runs (e.g. "json: cannot unmarshal number into Go struct field
 * ObjectMeta.metadata.finalizers of type []string").
 */
export function checkMetadataTypes(def: Pick<ResourceDef, 'kind' | 'version'>, o: KObject): void {
  const problem = metadataTypeProblem(o.metadata);
  if (problem) throw badRequest(`${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: ${problem}`);
}

/** ListOptions as kube validates them (metainternalversion/validation.ValidateListOptions): 422 on ListOptions. */
function validateListOptions(q: URLSearchParams, watch: boolean): void {
  const errs: FieldError[] = [];
  const match = q.get('resourceVersionMatch') ?? '';
  const rv = q.get('resourceVersion') ?? '';
  const hasInitial = q.has('sendInitialEvents');
  if (watch) {
    if (match) {
      if (!hasInitial) errs.push(fieldErr.forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided'));
      if (match !== 'NotOlderThan') errs.push(fieldErr.notSupported('resourceVersionMatch', match, ['NotOlderThan']));
      if (q.get('continue')) errs.push(fieldErr.forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided'));
    }
  } else if (match) {
    if (!rv) errs.push(fieldErr.forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided'));
    if (q.get('continue')) errs.push(fieldErr.forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided'));
    if (match !== 'Exact' && match !== 'NotOlderThan') errs.push(fieldErr.notSupported('resourceVersionMatch', match, ['Exact', 'NotOlderThan', '']));
    if (match === 'Exact' && rv === '0') errs.push(fieldErr.forbidden('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'));
  }
  if (!watch && hasInitial) errs.push(fieldErr.forbidden('sendInitialEvents', 'sendInitialEvents is forbidden for list'));
  if (errs.length) throw invalid('ListOptions', 'meta.k8s.io', '', errs);
}

/** kube's ValidateFieldManager: at most 128 bytes, printable characters only (422 on the options kind). */
const FIELD_MANAGER_MAX = 128;
function validateFieldManager(q: URLSearchParams, kind: OptionsKind): void {
  const m = q.get('fieldManager') ?? '';
  const errs: FieldError[] = [];
  if (Buffer.byteLength(m) > FIELD_MANAGER_MAX) errs.push(fieldErr.tooLong('fieldManager', FIELD_MANAGER_MAX));
  [...m].forEach((ch, i) => {
    if (/[\p{C}\p{Z}]/u.test(ch) && ch !== ' ') errs.push(fieldErr.invalid('fieldManager', m, `invalid character U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} (at position ${i})`));
  });
  if (errs.length) throw invalid(kind, 'meta.k8s.io', '', errs);
}

/** The options object whose query parameters a verb validates, as kube-apiserver names it in a 422. */
export type OptionsKind = 'CreateOptions' | 'UpdateOptions' | 'PatchOptions' | 'DeleteOptions';

/** An invalid option is 422 Invalid on the options kind (handlers: validation.Validate<Kind>). */
const invalidOption = (kind: OptionsKind, err: FieldError) => invalid(kind, 'meta.k8s.io', '', [err]);

export function fieldValidation(q: URLSearchParams, kind: OptionsKind): FieldValidation {
  const v = q.get('fieldValidation') ?? '';
  if (v === '') return 'Warn';
  if (v !== 'Strict' && v !== 'Warn' && v !== 'Ignore') throw invalidOption(kind, fieldErr.notSupported('fieldValidation', v, ['', 'Ignore', 'Strict', 'Warn']));
  return v;
}

export function dryRun(values: string[], kind: OptionsKind): boolean {
  if (values.some((v) => v !== 'All'))
    // the bad value is the whole list, printed as Go's %#v of a []string
    throw invalidOption(kind, { type: 'FieldValueNotSupported', field: 'dryRun', message: `Unsupported value: []string{${values.map((v) => JSON.stringify(v)).join(', ')}}: supported values: "All"` });
  return values.length > 0;
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw badRequest(`invalid value for ${name}: "${v}" is not an integer`);
  return Number(v);
}

function boolParam(q: URLSearchParams, name: string): boolean | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  return v === 'true' || v === '1' || v === '';
}

// ---------------------------------------------------------------- response encoding

/** A Warning header value (RFC 7234 quoted-string, as kubectl parses it). */
export function warningHeader(text: string): string {
  return `299 - "${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function send(res: Response, code: number, body: unknown, yaml = false): void {
  if (yaml) {
    res.status(code).type('application/yaml').send(YAML.stringify(body));
    return;
  }
  const json = JSON.stringify(body);
  res.status(code).setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

/** Lists with at least this many entries are written in pieces (sendList). */
const STREAM_MIN_ENTRIES = 256;
/** Size of each piece of a streamed list, in characters. */
const STREAM_CHUNK = 64 * 1024;

/**
 * Sends a list (its `items`, or a Table's `rows`, the body's last field): a long one as JSON
 * written entry by entry in pieces of about 64 KiB (chunked, waiting for the socket to drain),
 * never as one string of the whole list: a list of 10,000 revisions was a 30 MB string and its
 * Buffer copy per request, which made the heap grow under list load. The bytes are those of
 * JSON.stringify of the whole body. Short lists and YAML go through send().
 */
export async function sendList(res: Response, code: number, body: Record<string, unknown>, yaml: boolean): Promise<void> {
  const isList = (v: unknown) => Array.isArray(v) || v instanceof MappedList;
  const field = isList(body.items) ? 'items' : isList(body.rows) ? 'rows' : undefined;
  const entries = field ? (body[field] as unknown[] | MappedList<unknown, unknown>) : [];
  if (yaml || !field || entries.length < STREAM_MIN_ENTRIES || Object.keys(body).at(-1) !== field) return send(res, code, body, yaml);
  const rest: Record<string, unknown> = { ...body };
  delete rest[field];
  const head = JSON.stringify(rest);
  res.status(code).setHeader('Content-Type', 'application/json');
  let piece = `${head.length > 2 ? `${head.slice(0, -1)},` : '{'}${JSON.stringify(field)}:[`;
  for (let i = 0; i < entries.length; i++) {
    piece += (i ? ',' : '') + (JSON.stringify(entries.at(i)) ?? 'null');
    if (piece.length >= STREAM_CHUNK) {
      const flushed = res.write(piece);
      piece = '';
      if (!flushed) await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
      if (res.destroyed) return; // the client left: no more work for it
    }
  }
  res.end(`${piece}]}`);
}

export function sendStatus(res: Response, err: StatusError): void {
  const status = err.toStatus();
  res.locals.statusBody = status; // the audit log keeps its bounded fields
  // as kube's writer: a Status that says when to retry says it in the header too
  if (status.details?.retryAfterSeconds && !res.headersSent) res.setHeader('Retry-After', String(status.details.retryAfterSeconds));
  send(res, err.code, status);
}

function includeObject(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject') ?? 'Metadata';
  if (v !== 'None' && v !== 'Metadata' && v !== 'Object') throw badRequest(`includeObject must be one of None, Metadata, Object; got "${v}"`);
  return v;
}

function renderObject(reg: RESTStorage, o: KObject, r: Rendering, q: URLSearchParams): unknown {
  if (r.kind === 'table') return table([o], reg.def.columns, { include: includeObject(q), version: r.version, headers: true, listMeta: { resourceVersion: o.metadata.resourceVersion } });
  if (r.kind === 'metadata') {
    // as kube-apiserver's asPartialObjectMetadataList: the representation must fit the result
    if (r.list) throw new StatusError(406, 'NotAcceptable', `you requested PartialObjectMetadataList, but the requested object is not a list (${reg.def.kind})`);
    return partialObjectMetadata(o, r.version);
  }
  return o;
}

function renderList(reg: RESTStorage, l: ListResult, r: Rendering, q: URLSearchParams): unknown {
  const meta: Record<string, unknown> = { resourceVersion: l.resourceVersion };
  if (l.continue) meta.continue = l.continue;
  if (l.remainingItemCount !== undefined) meta.remainingItemCount = l.remainingItemCount;
  if (r.kind === 'table') return table(l.items, reg.def.columns, { include: includeObject(q), version: r.version, headers: true, listMeta: meta, lazyRows: true });
  if (r.kind === 'metadata') {
    if (!r.list) throw new StatusError(406, 'NotAcceptable', `you requested PartialObjectMetadata, but the requested object is a list (${reg.def.listKind})`);
    return { kind: 'PartialObjectMetadataList', apiVersion: `meta.k8s.io/${r.version}`, metadata: meta, items: l.items.map((o) => partialObjectMetadata(o, r.version)) };
  }
  return { apiVersion: gv(reg.def), kind: reg.def.listKind, metadata: meta, items: l.items };
}

/** DeleteOptions from the body (JSON) and the query, validated as kube does. */
function deleteOptions(req: Request, info: RequestInfo, ctx: RequestContext): DeleteOptions {
  let options: Record<string, any> = {};
  // only JSON's own whitespace is trimmed (String.trim would also drop a byte-order mark)
  const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8').replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '') : '';
  if (raw) {
    try {
      options = JSON.parse(raw);
    } catch (e) {
      throw badRequest(`the DeleteOptions body could not be decoded: ${(e as Error).message}`);
    }
    checkBounds(options);
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw badRequest('DeleteOptions must be a JSON object');
    const problem = deleteOptionsTypeProblem(options);
    if (problem) throw badRequest(`the DeleteOptions body could not be decoded: ${problem}`);
    if ((options.kind !== undefined && options.kind !== 'DeleteOptions') || (options.apiVersion !== undefined && !['v1', 'meta.k8s.io/v1'].includes(options.apiVersion)))
      throw badRequest(`the DeleteOptions body could not be decoded: ${options.apiVersion ?? ''}, Kind=${options.kind ?? ''} cannot be converted to DeleteOptions`);
  }
  // the same options in the query (kube's parameter codec): typed, 400 when they do not parse
  const q = info.query;
  if (q.has('gracePeriodSeconds') && !/^-?\d+$/.test(q.get('gracePeriodSeconds')!)) throw badRequest(`invalid value for gracePeriodSeconds: "${q.get('gracePeriodSeconds')}" is not an integer`);
  if (q.has('gracePeriodSeconds') && !Number.isSafeInteger(Number(q.get('gracePeriodSeconds')))) throw badRequest(`invalid value for gracePeriodSeconds: "${q.get('gracePeriodSeconds')}" is out of range`);
  if (q.has('orphanDependents') && !['true', 'false', '1', '0', 'True', 'False', 'TRUE', 'FALSE', 't', 'f', 'T', 'F'].includes(q.get('orphanDependents')!))
    throw badRequest(`invalid value for orphanDependents: "${q.get('orphanDependents')}" is not a boolean`);
  const orphanDependents = options.orphanDependents ?? (q.has('orphanDependents') ? /^(true|1|t)$/i.test(q.get('orphanDependents')!) : undefined);
  if (orphanDependents !== undefined && (options.propagationPolicy ?? q.get('propagationPolicy')))
    throw invalid('DeleteOptions', 'meta.k8s.io', '', [fieldErr.invalid('propagationPolicy', options.propagationPolicy ?? q.get('propagationPolicy'), 'orphanDependents and deletionPropagation cannot be both set')]);
  const runDry = ctx.dryRun || dryRun(Array.isArray(options.dryRun) ? options.dryRun : [], 'DeleteOptions');
  const propagationPolicy = options.propagationPolicy ?? info.query.get('propagationPolicy') ?? (orphanDependents === true ? 'Orphan' : undefined);
  if (propagationPolicy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(propagationPolicy))
    throw invalid('DeleteOptions', 'meta.k8s.io', '', [fieldErr.notSupported('propagationPolicy', propagationPolicy, ['Foreground', 'Background', 'Orphan'])]);
  return { dryRun: runDry, preconditions: options.preconditions, propagationPolicy };
}

/** An error of the apply module as the API reports it: 409 Conflict with kube's causes, 400 for a configuration that cannot be typed. */
function applyStatus(e: unknown): unknown {
  if (e instanceof ApplyConflictError) return new StatusError(409, 'Conflict', e.message, { causes: e.causes });
  if (e instanceof ApplyInvalidError) return badRequest(e.message);
  return e;
}

// ---------------------------------------------------------------- verbs

export class ResourceHandlers {
  constructor(
    private readonly reg: RESTStorage,
    private readonly opts: HandlerOptions,
  ) {}

  async get(req: Request, res: Response, info: RequestInfo): Promise<void> {
    const rendering = negotiateRendering(req.headers.accept);
    await this.reg.fresh?.({ resourceVersion: info.query.get('resourceVersion') ?? undefined });
    const o = await this.reg.get(info.namespace, info.name!);
    send(res, 200, renderObject(this.reg, o, rendering, info.query), rendering.kind === 'object' && rendering.yaml);
  }

  async list(req: Request, res: Response, info: RequestInfo): Promise<void> {
    const q = info.query;
    const rendering = negotiateRendering(req.headers.accept);
    const watching = boolParam(q, 'watch');
    validateListOptions(q, !!watching);
    await this.reg.fresh?.({ resourceVersion: q.get('resourceVersion') ?? undefined, resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined, continue: q.get('continue') ?? undefined });
    if (watching) return this.watch(req, res, info, rendering);
    const l = await this.reg.list(info.namespace, {
      labelSelector: q.get('labelSelector') ?? undefined,
      fieldSelector: q.get('fieldSelector') ?? undefined,
      limit: intParam(q, 'limit'),
      continue: q.get('continue') ?? undefined,
      resourceVersion: q.get('resourceVersion') ?? undefined,
      resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
    });
    await sendList(res, 200, renderList(this.reg, l, rendering, q) as Record<string, unknown>, rendering.kind === 'object' && rendering.yaml);
  }

  /**
   * The field decoding of a written object (its warnings), after the cheap metadata bounds, so that
   * a huge map of labels is refused in one pass before any per-label rule. A subresource takes no
   * metadata from the body: its metadata is not checked.
   */
  private decodeFields(obj: KObject, info: RequestInfo, mode: FieldValidation): string[] {
    if (!info.subresource) this.reg.checkMetadataSize?.(obj);
    return this.reg.decodeFields(obj, mode);
  }

  async create(req: Request, res: Response, info: RequestInfo, ctx: RequestContext): Promise<void> {
    validateFieldManager(info.query, 'CreateOptions');
    const obj = decodeObject(req, this.reg);
    const warnings = this.decodeFields(obj, info, fieldValidation(info.query, 'CreateOptions'));
    const created = await this.reg.create(info.namespace, obj, ctx);
    this.warn(res, warnings);
    send(res, 201, created);
  }

  async update(req: Request, res: Response, info: RequestInfo, ctx: RequestContext): Promise<void> {
    validateFieldManager(info.query, 'UpdateOptions');
    const obj = decodeObject(req, this.reg);
    const rv = obj.metadata.resourceVersion;
    if (!rv) throw this.invalidRV(info.name!);
    const warnings = this.decodeFields(obj, info, fieldValidation(info.query, 'UpdateOptions'));
    const updated = await this.reg.update(info.namespace, info.name!, () => ({ obj, precondition: rv }), ctx, info.subresource);
    this.warn(res, warnings);
    send(res, 200, updated);
  }

  private invalidRV(name: string): StatusError {
    const e = new StatusError(422, 'Invalid', `${this.reg.def.kind}.${this.reg.def.group} "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`, {
      name,
      group: this.reg.def.group,
      kind: this.reg.def.kind,
      causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: 0x0: must be specified for an update', field: 'metadata.resourceVersion' }],
    });
    return e;
  }

  async patch(req: Request, res: Response, info: RequestInfo, ctx: RequestContext): Promise<void> {
    const ct = mediaType(req.headers['content-type']);
    if (ct === APPLY_PATCH) return this.apply(req, res, info, ctx);
    const type = patchType(ct);
    validateFieldManager(info.query, 'PatchOptions');
    if (info.query.has('force')) throw invalidOption('PatchOptions', fieldErr.forbidden('force', 'may not be specified for non-apply patch'));
    const { body: patch } = decodeBody(req, () => true, []);
    const mode = fieldValidation(info.query, 'PatchOptions');
    let warnings: string[] = [];
    const updated = await this.reg.update(
      info.namespace,
      info.name!,
      (current) => {
        const patched = applyPatch(type, current, patch, this.reg.def.schema);
        if (typeof patched !== 'object' || patched === null || Array.isArray(patched)) throw unprocessable('the patched object must be a JSON object');
        const obj = patched as KObject;
        checkBounds(obj);
        if (obj.metadata === undefined || obj.metadata === null) obj.metadata = {};
        checkMetadataTypes(this.reg.def, obj);
        warnings = this.decodeFields(obj, info, mode);
        const rv = obj.metadata.resourceVersion;
        return { obj, precondition: rv && rv !== current.metadata.resourceVersion ? rv : undefined };
      },
      ctx,
      info.subresource,
    );
    this.warn(res, warnings);
    send(res, 200, updated);
  }

  async delete(req: Request, res: Response, info: RequestInfo, ctx: RequestContext): Promise<void> {
    const opts = deleteOptions(req, info, ctx);
    const { obj } = await this.reg.delete(info.namespace, info.name!, opts, { ...ctx, dryRun: opts.dryRun });
    send(res, 200, obj);
  }

  /**
   * DELETE on the collection (kube's deletecollection): lists the objects the label and field
   * selectors match, then deletes each exactly as a single DELETE with the same DeleteOptions
   * would (its strategy's refusals, finalizers, propagationPolicy, dryRun). Answers the list of
   * the objects deleted (or marked for deletion); when some were refused, the first refusal's
   * Status, its message naming every refused object (kube stops at the first error).
   */
  async deleteCollection(req: Request, res: Response, info: RequestInfo, ctx: RequestContext): Promise<void> {
    const q = info.query;
    validateListOptions(q, false);
    const opts = deleteOptions(req, info, ctx);
    const l = await this.reg.list(info.namespace, {
      labelSelector: q.get('labelSelector') ?? undefined,
      fieldSelector: q.get('fieldSelector') ?? undefined,
      resourceVersion: q.get('resourceVersion') ?? undefined,
      resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
    });
    const deleted: KObject[] = [];
    const refused: { name: string; err: StatusError }[] = [];
    for (const o of l.items) {
      try {
        deleted.push((await this.reg.delete(o.metadata.namespace, o.metadata.name!, opts, { ...ctx, dryRun: opts.dryRun })).obj);
      } catch (e) {
        if (e instanceof StatusError && e.code === 404) continue; // gone since the list
        if (!(e instanceof StatusError)) throw e;
        refused.push({ name: o.metadata.name!, err: e });
      }
    }
    if (refused.length) {
      const first = refused[0].err;
      const message = refused.length === 1 ? first.message : `${refused.length} of ${l.items.length} objects were not deleted: ${refused.map((r) => r.err.message).join('; ')}`;
      throw new StatusError(first.code, first.reason, message, {
        ...(first.details ?? {}),
        causes: refused.map((r) => ({ reason: r.err.reason, message: r.err.message, field: r.name })),
      });
    }
    send(res, 200, { apiVersion: gv(this.reg.def), kind: this.reg.def.listKind, metadata: { resourceVersion: String(this.reg.revision()) }, items: deleted });
  }

  // ---------------------------------------------------------------- server-side apply

  /**
   * PATCH application/apply-patch+yaml: server-side apply (./apply). Creates the object when it
   * does not exist (not through a subresource); conflicts are 409 with kube's message and causes;
   * an apply that changes nothing writes nothing (same resourceVersion).
   */
  private async apply(req: Request, res: Response, info: RequestInfo, ctx: RequestContext): Promise<void> {
    const q = info.query;
    const def = this.reg.def;
    const manager = q.get('fieldManager') ?? '';
    if (!manager) throw invalid('PatchOptions', 'meta.k8s.io', '', [fieldErr.required('fieldManager', 'is required for apply patch')]);
    validateFieldManager(q, 'PatchOptions');
    const forceText = q.get('force');
    if (forceText !== null && !/^(true|false|1|0|t|f|)$/i.test(forceText)) throw badRequest(`invalid value for force: "${forceText}" is not a boolean`);
    const force = forceText !== null && /^(true|1|t|)$/i.test(forceText);
    const { body } = decodeBody(req, () => true, []);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('error decoding YAML: the apply configuration must be an object');
    const applied = body as KObject;
    const version = gv(def);
    if (applied.apiVersion !== version)
      throw badRequest(`Incorrect version specified in apply patch. Specified patch version: ${typeof applied.apiVersion === 'string' ? applied.apiVersion : ''}, expected: ${version}`);
    if (applied.kind !== def.kind) throw badRequest(`invalid object type: ${version}, Kind=${typeof applied.kind === 'string' ? applied.kind : ''}`);
    checkMetadataTypes(def, applied);
    const warnings = this.decodeFields(applied, info, fieldValidation(q, 'PatchOptions'));
    this.reg.checkSize?.(applied); // a configuration too large to store is refused before the merge's work
    const opts = { type: this.reg.applyType(), force, subresource: info.subresource, resetFields: this.reg.resetFields(info.subresource), apiVersion: version };
    const actx: RequestContext = { ...ctx, fieldManager: manager };
    const run = <T>(fn: () => T): T => {
      try {
        return fn();
      } catch (e) {
        throw applyStatus(e);
      }
    };
    for (let attempt = 0; ; attempt++) {
      let current: KObject | undefined;
      try {
        current = await this.reg.get(info.namespace, info.name!);
      } catch (e) {
        if (!(e instanceof StatusError && e.code === 404)) throw e;
      }
      if (!current) {
        // kube creates through the main resource only; a subresource of a missing object is 404
        if (info.subresource || !def.verbs.includes('create')) throw notFound(this.reg.gr, info.name!);
        // an apply that creates is authorized as a create too, as kube-apiserver does
        if (ctx.authorize) {
          const attrs = { verb: 'create', apiGroup: def.group, resource: def.plural, ...(def.namespaced ? { namespace: info.namespace } : {}), name: info.name };
          if (!(await ctx.authorize(attrs))) throw forbidden(this.reg.gr, info.name!, forbiddenMessage({ ...attrs, apiVersion: def.version, user: ctx.user, resourceRequest: true }));
        }
        const r = run(() => applyConfiguration(undefined, [], applied, manager, opts));
        const obj = r.object as KObject;
        obj.metadata ??= {};
        if (obj.metadata.name !== undefined && obj.metadata.name !== info.name)
          throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${info.name})`);
        obj.metadata.name = info.name;
        try {
          const created = await this.reg.create(info.namespace, obj, { ...actx, appliedManagedFields: r.managedFields });
          this.warn(res, warnings);
          return send(res, 201, created);
        } catch (e) {
          // created by someone else meanwhile: apply to it
          if (e instanceof StatusError && e.reason === 'AlreadyExists' && attempt < 3) continue;
          throw e;
        }
      }
      try {
        const updated = await this.reg.update(
          info.namespace,
          info.name!,
          (live) => {
            const r = run(() => applyConfiguration(live, managedFieldsOf(live), applied, manager, opts));
            return { obj: r.object as KObject, managedFields: r.managedFields };
          },
          actx,
          info.subresource,
        );
        this.warn(res, warnings);
        return send(res, 200, updated);
      } catch (e) {
        // deleted meanwhile: the apply creates it
        if (e instanceof StatusError && e.code === 404 && !info.subresource && attempt < 3) continue;
        throw e;
      }
    }
  }

  private warn(res: Response, warnings: string[]): void {
    if (warnings.length) res.setHeader('Warning', warnings.map(warningHeader));
  }

  // ---------------------------------------------------------------- watch

  private watch(req: Request, res: Response, info: RequestInfo, rendering: Rendering): void {
    const q = info.query;
    validateListOptions(q, true);
    const include = includeObject(q);
    const timeoutSeconds = intParam(q, 'timeoutSeconds');
    const bookmarks = boolParam(q, 'allowWatchBookmarks') ?? false;
    const sendInitialEvents = boolParam(q, 'sendInitialEvents');
    const reg = this.reg;
    let first = true;
    let closed = false;

    const encode = (type: string, o: KObject | Status): string => {
      let object: unknown = o;
      if (type !== 'ERROR' && type !== 'BOOKMARK') {
        const obj = o as KObject;
        if (rendering.kind === 'table') {
          object = table([obj], reg.def.columns, { include, version: rendering.version, headers: first, listMeta: { resourceVersion: obj.metadata.resourceVersion } });
          first = false;
        } else if (rendering.kind === 'metadata') object = partialObjectMetadata(obj, rendering.version);
      }
      return `${JSON.stringify({ type, object })}\n`;
    };

    let stop: () => void = () => {};
    const timers: NodeJS.Timeout[] = [];
    const close = () => {
      if (closed) return;
      closed = true;
      this.opts.openWatches.delete(close);
      stop();
      for (const t of timers) clearTimeout(t);
      res.end();
    };
    const write = (chunk: string) => {
      if (closed) return;
      res.write(chunk);
      if (res.writableLength > this.opts.watchBufferLimit) close(); // too slow a reader: it re-watches
    };
    const bookmark = (annotations?: Record<string, string>) =>
      write(encode('BOOKMARK', { apiVersion: gv(reg.def), kind: reg.def.kind, metadata: { resourceVersion: String(reg.revision()), ...(annotations ? { annotations } : {}) } } as KObject));

    // Register first: a watch that cannot be served (a bad selector, a resourceVersion from the
    // future) is an ordinary error response, as kube-apiserver's handler answers before serving
    // the watch. Events produced while registering (the initial ADDEDs) wait for the stream.
    let pending: string[] | undefined = [];
    let expired: ExpiredError | undefined;
    try {
      stop = reg.watch(
        info.namespace,
        {
          labelSelector: q.get('labelSelector') ?? undefined,
          fieldSelector: q.get('fieldSelector') ?? undefined,
          resourceVersion: q.get('resourceVersion') ?? undefined,
          sendInitialEvents,
        },
        { send: (type, o) => (pending ? void pending.push(encode(type, o)) : write(encode(type, o))), close: () => close() },
      );
    } catch (e) {
      if (!(e instanceof ExpiredError)) throw e;
      expired = e; // too old: the watch starts and ends with one ERROR event (the cacher's errWatcher)
    }

    res.status(200);
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-cache, private');
    res.setHeader('Transfer-Encoding', 'chunked');
    res.flushHeaders();
    req.on('close', close);
    this.opts.openWatches.add(close);
    res.on('close', close);
    const initial = pending;
    pending = undefined;
    if (expired) {
      write(encode('ERROR', gone(`too old resource version: ${expired.requested} (${expired.oldest})`).toStatus()));
      close();
      return;
    }
    for (const chunk of initial) write(chunk);
    if (sendInitialEvents && bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
    if (bookmarks) {
      const tick = () => {
        bookmark();
        timers[0] = setTimeout(tick, this.opts.bookmarkIntervalMs);
      };
      timers[0] = setTimeout(tick, this.opts.bookmarkIntervalMs);
    }
    const seconds = timeoutSeconds && timeoutSeconds > 0 ? timeoutSeconds : this.opts.maxWatchSeconds * (1 + Math.random());
    timers[1] = setTimeout(close, seconds * 1000);
  }
}
