// PackageRevisionResources (SPEC 3.4): the files of a PackageRevision, as a view over it. Same
// name, namespace, metadata and resourceVersion; reads come from git at the revision's commit
// (through the engine's cache by commit); an update is one commit on the draft branch and bumps
// the PackageRevision's resourceVersion. A watch is the PackageRevision's watch with files
// attached, in order; its work stops with it, and a watcher too far behind is ended.
import { fromOpenAPI, type OpenAPISchema, type TypeNode } from '../apply/index.ts';
import type { Condition, KObject } from '../../api/meta.ts';
import { validateFiles } from '../../engine/content.ts';
import { PKG_GROUP, PKG_VERSION, packageRevisionResourcesSchema, type PackageRevision, type PackageRevisionResources } from '../../api/pkg.ts';
import { badRequest, conflict, forbidden, invalid, methodNotSupported, notFound, OBJECT_MODIFIED, StatusError, type GroupResource } from '../errors.ts';
import type { PackageEngine, Resources } from '../../engine/engine.ts';
import { PackageUnavailableError } from '../../engine/errors.ts';
import { decodeFields, type DeleteOptions, type FieldValidation, type ListOptions, type ListResult, type Mutation, type Registry, type RESTStorage, type WatchOptions, type WatchSink } from './generic.ts';
import { gv, type RequestContext, type ResourceDef } from './types.ts';
import { typeErrors } from '../validation.ts';

/** The request context of a resources write: the PackageRevision registry's hook commits these files. */
export interface ResourcesContext extends RequestContext {
  resources: Record<string, string>;
}

export const RESOURCES_SUBRESOURCE = 'resources';

/**
 * Events a watcher may have waiting for their files (after its initial events) before it is
 * ended, as kube's cacher ends a watcher whose buffer is full (100: its buffer without an index);
 * the client watches again from the last resourceVersion it saw.
 */
export const WATCH_QUEUE_LIMIT = 100;

/**
 * Retry-After of a 503 for a remote that does not answer. Short on purpose: client-go retries a
 * 5xx with Retry-After up to 10 times (POST included), so a long one would hold kubectl for minutes.
 */
const UNREACHABLE_RETRY_AFTER_SECONDS = 1;

/**
 * A git remote or its credentials unusable now: 503 ServiceUnavailable (the message names the
 * Repository and the remote), with `retryAfterSeconds` when the remote did not answer.
 */
export function unavailableStatus(e: PackageUnavailableError): StatusError {
  return new StatusError(503, 'ServiceUnavailable', e.message, e.reason === 'Unreachable' || e.reason === 'Locked' ? { retryAfterSeconds: UNREACHABLE_RETRY_AFTER_SECONDS } : undefined);
}

/** A sink the storage can end (the HTTP handler closes the response). */

/** The condition about the files themselves: paths acceptable, YAML parses (file and line otherwise). */
export function contentCondition(resources: Record<string, string>): Condition {
  const errs = validateFiles(resources);
  return errs.length === 0
    ? { type: 'ResourcesValid', status: 'True', reason: 'Valid', message: `${Object.keys(resources).length} files` }
    : { type: 'ResourcesValid', status: 'False', reason: 'Invalid', message: errs.map((e) => `${e.field}: ${e.message}`).join('; ') };
}

export class PackageRevisionResourcesStorage implements RESTStorage {
  readonly def: ResourceDef;
  readonly gr: GroupResource = { group: PKG_GROUP, resource: 'packagerevisionresources' };
  /** the content condition of each cached files object (the engine shares one per commit) */
  private readonly conditions = new WeakMap<Resources, Condition>();

  constructor(
    private readonly prs: Registry,
    private readonly engine: PackageEngine,
  ) {
    const prDef = prs.def;
    this.def = {
      group: PKG_GROUP,
      version: PKG_VERSION,
      kind: 'PackageRevisionResources',
      listKind: 'PackageRevisionResourcesList',
      plural: 'packagerevisionresources',
      singular: 'packagerevisionresources',
      shortNames: ['prr'],
      categories: ['pkg'],
      namespaced: true,
      schema: packageRevisionResourcesSchema,
      subresources: {},
      verbs: ['get', 'list', 'patch', 'update', 'watch'],
      description: 'PackageRevisionResources holds the files of a PackageRevision.',
      columns: [
        { name: 'Repository', type: 'string', description: 'Repository', priority: 0, cell: (o) => o.spec?.packageRevID?.repository },
        { name: 'Package', type: 'string', description: 'Package', priority: 0, cell: (o) => o.spec?.packageRevID?.package },
        { name: 'Workspace', type: 'string', description: 'Workspace', priority: 0, cell: (o) => o.spec?.packageRevID?.workspace },
        { name: 'Revision', type: 'string', description: 'Revision', priority: 0, cell: (o) => o.spec?.packageRevID?.revision || '' },
        { name: 'Files', type: 'integer', description: 'Number of files', priority: 0, cell: (o) => Object.keys(o.spec?.resources ?? {}).length },
      ],
      fieldSelectors: prDef.fieldSelectors,
      strategy: {},
    };
  }

  revision(): number {
    return this.prs.revision();
  }

  private async view(pr: KObject): Promise<PackageRevisionResources> {
    const p = pr as PackageRevision;
    const resources = await this.engine.readResources(p).catch((e) => {
      throw e instanceof PackageUnavailableError ? unavailableStatus(e) : e;
    });
    let condition = this.conditions.get(resources);
    if (!condition) this.conditions.set(resources, (condition = contentCondition(resources)));
    return {
      apiVersion: gv(this.def),
      kind: this.def.kind,
      metadata: structuredClone(p.metadata),
      spec: { packageRevID: structuredClone(p.spec.packageRevID), resources },
      status: { conditions: [structuredClone(condition)] },
    };
  }

  /** The PackageRevision; its absence is this resource's NotFound. */
  private pr(ns: string | undefined, name: string): PackageRevision {
    try {
      return this.prs.get(ns, name) as PackageRevision;
    } catch (e) {
      if (e instanceof StatusError && e.code === 404) throw notFound(this.gr, name);
      throw e;
    }
  }

  async get(ns: string | undefined, name: string): Promise<KObject> {
    return this.view(this.pr(ns, name));
  }

  async list(ns: string | undefined, opts: ListOptions): Promise<ListResult> {
    const l = this.prs.list(ns, opts);
    return { ...l, items: await Promise.all(l.items.map((o) => this.view(o))) };
  }

  /**
   * PackageRevision events become PackageRevisionResources events, in order, one file read at a
   * time. Stopping drops what is queued: no git read nor event is made for a departed client. More
   * than WATCH_QUEUE_LIMIT live events waiting end the watch (the initial events do not count).
   */
  watch(ns: string | undefined, opts: WatchOptions, sink: WatchSink): () => void {
    const queue: { type: Parameters<WatchSink['send']>[0]; o: KObject; live: boolean }[] = [];
    let live = false;
    let waitingLive = 0;
    let draining = false;
    let stopped = false;
    let stopPRs = () => {};
    const stop = () => {
      if (stopped) return;
      stopped = true;
      queue.length = 0;
      stopPRs();
    };
    const drain = async () => {
      draining = true;
      while (!stopped && queue.length > 0) {
        const e = queue.shift()!;
        if (e.live) waitingLive--;
        const v = e.type === 'DELETED' ? this.deletedView(e.o) : await this.view(e.o).catch(() => undefined);
        if (v && !stopped) sink.send(e.type, v);
      }
      draining = false;
    };
    stopPRs = this.prs.watch(ns, opts, {
      send: (type, o) => {
        if (stopped) return;
        queue.push({ type, o, live });
        if (live && ++waitingLive > WATCH_QUEUE_LIMIT) {
          stop();
          sink.close?.();
          return;
        }
        if (!draining) void drain();
      },
    });
    live = true;
    return stop;
  }

  private deletedView(o: KObject): KObject {
    return { apiVersion: gv(this.def), kind: this.def.kind, metadata: o.metadata, spec: { packageRevID: (o as PackageRevision).spec.packageRevID, resources: {} } } as KObject;
  }

  async create(): Promise<KObject> {
    throw methodNotSupported(this.gr, 'create (PackageRevisionResources are created with their PackageRevision)');
  }

  async delete(_ns: string | undefined, _name: string, _opts: DeleteOptions): Promise<{ obj: KObject; deleted: boolean }> {
    throw methodNotSupported(this.gr, 'delete (PackageRevisionResources are deleted with their PackageRevision)');
  }

  decodeFields(obj: KObject, mode: FieldValidation): string[] {
    return decodeFields(this.def, obj, mode);
  }

  private typeNode?: TypeNode;

  applyType(): TypeNode {
    return (this.typeNode ??= fromOpenAPI(this.def.schema as OpenAPISchema));
  }

  /** A view: only spec.resources is written (the PackageRevision records the write, as its internal subresource). */
  resetFields(): string[][] {
    return [['status'], ['spec', 'packageRevID']];
  }

  /**
   * Writes the files: the update must carry the PackageRevision's current resourceVersion; the
   * commit happens in the PackageRevision registry's write path, under its lock.
   */
  async update(ns: string | undefined, name: string, mutate: (current: KObject) => Mutation | Promise<Mutation>, ctx: RequestContext): Promise<KObject> {
    const current = (await this.get(ns, name)) as PackageRevisionResources;
    const { obj, precondition } = await mutate(structuredClone(current));
    const rv = precondition ?? current.metadata.resourceVersion;
    if (rv !== current.metadata.resourceVersion) throw conflict(this.gr, name, OBJECT_MODIFIED);
    const next = obj as PackageRevisionResources;
    if (next.metadata?.name !== undefined && next.metadata.name !== name) throw badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`);
    // shape before logic: a spec.resources that is not a map of strings never reaches the files
    const typeErrs = typeErrors(next, this.def.schema);
    if (typeErrs.length) throw invalid(this.def.kind, PKG_GROUP, name, typeErrs);
    const resources = next.spec?.resources ?? {};
    if (JSON.stringify(resources) === JSON.stringify(current.spec.resources)) return current;
    const pr = this.pr(ns, name);
    if (pr.spec.lifecycle === 'proposed')
      throw forbidden(this.gr, name, 'the revision is proposed: only drafts can be edited; reject it (spec.lifecycle: draft) to change its files');
    if (pr.spec.lifecycle !== 'draft')
      throw forbidden(this.gr, name, `the revision is ${pr.spec.lifecycle} and published revisions are immutable; create a new draft (an init task of the same package) to change it`);
    if (ctx.dryRun) {
      // what the write would refuse, without writing (the merged result's limits are the engine's, at write time)
      const errs = validateFiles(resources);
      if (errs.length) throw invalid(this.def.kind, PKG_GROUP, name, errs);
      return { ...current, spec: { ...current.spec, resources } };
    }
    const rctx: ResourcesContext = { ...ctx, resources };
    const updated = await this.prs.update(ns, name, (cur) => ({ obj: cur, precondition: rv }), rctx, RESOURCES_SUBRESOURCE);
    return this.view(updated);
  }
}
