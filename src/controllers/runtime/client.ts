// The client controllers read and write with: the API layer in process, as the controller's own
// user, through the same authorization as a person. Each call asks the authorizer with kube's
// request attributes first (403 with kube's message when denied, nothing done), then calls the
// resource's storage with a RequestContext whose authorize() asks the same authorizer for the same
// user, so a strategy's own checks (the `approve` verb) apply to the controller too. Objects it
// returns are the caller's own copies.
import type { KObject } from '../../api/meta.ts';
import { forbiddenMessage, type Attributes, type Authorizer } from '../../apiserver/authz/types.ts';
import { forbidden, internalError, StatusError } from '../../apiserver/errors.ts';
import type { DeleteOptions, ListOptions, ListResult, Mutation, RESTStorage } from '../../apiserver/registry/generic.ts';
import type { RequestContext, UserInfo } from '../../apiserver/registry/types.ts';

export interface ClientOptions {
  /** the storage serving a resource (a Registry), by plural name */
  registries: (plural: string) => RESTStorage | undefined;
  authorizer: Authorizer;
  user: UserInfo;
  /** the manager its writes are recorded under in managedFields (default: derived from the user's name) */
  fieldManager?: string;
}

/** "system:pkgserver:controller:packagevariant" → "pkgserver-packagevariant-controller". */
export function controllerFieldManager(user: string): string {
  const m = /^system:pkgserver:controller:(.+)$/.exec(user);
  return m ? `pkgserver-${m[1]}-controller` : user;
}

export class Client {
  readonly user: UserInfo;

  constructor(private readonly opts: ClientOptions) {
    this.user = opts.user;
  }

  async get(plural: string, namespace: string | undefined, name: string): Promise<KObject> {
    const { storage } = await this.allow(plural, 'get', namespace, name);
    return structuredClone(await storage.get(namespace, name));
  }

  async list(plural: string, namespace: string | undefined, opts: ListOptions = {}): Promise<ListResult> {
    const { storage } = await this.allow(plural, 'list', namespace);
    return structuredClone(await storage.list(namespace, opts));
  }

  async create(plural: string, namespace: string | undefined, obj: KObject): Promise<KObject> {
    const { storage, ctx } = await this.allow(plural, 'create', namespace ?? obj.metadata?.namespace);
    return storage.create(namespace, structuredClone(obj), ctx);
  }

  /** A guaranteed update: `mutate` gets a copy of the stored object (again after a conflict). */
  async update(plural: string, namespace: string | undefined, name: string, mutate: (current: KObject) => Mutation | Promise<Mutation>, sub?: string): Promise<KObject> {
    const { storage, ctx } = await this.allow(plural, 'update', namespace, name, sub);
    return storage.update(namespace, name, mutate, ctx, sub);
  }

  async delete(plural: string, namespace: string | undefined, name: string, opts: Pick<DeleteOptions, 'preconditions'> = {}): Promise<{ obj: KObject; deleted: boolean }> {
    const { storage, ctx } = await this.allow(plural, 'delete', namespace, name);
    return storage.delete(namespace, name, { dryRun: false, ...opts }, ctx);
  }

  /** Asks the authorizer as kube's filter does; throws 403 (or 500 when it could not decide). */
  private async allow(plural: string, verb: string, namespace: string | undefined, name?: string, subresource?: string): Promise<{ storage: RESTStorage; ctx: RequestContext }> {
    const storage = this.opts.registries(plural);
    if (!storage) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    const { def } = storage;
    const { authorizer, user } = this.opts;
    const attrs: Attributes = {
      user,
      verb,
      resourceRequest: true,
      apiGroup: def.group,
      apiVersion: def.version,
      resource: def.plural,
      ...(subresource ? { subresource } : {}),
      ...(def.namespaced && namespace ? { namespace } : {}),
      ...(name ? { name } : {}),
    };
    const decision = await authorizer.authorize(attrs);
    if (decision.decision !== 'allow') {
      if (decision.error) throw internalError(`the authorizer could not decide: ${decision.error}`);
      const why = decision.reason ? `${forbiddenMessage(attrs)}: ${decision.reason}` : forbiddenMessage(attrs);
      throw forbidden({ group: def.group, resource: def.plural }, name ?? '', why);
    }
    const ctx: RequestContext = {
      user,
      dryRun: false,
      fieldManager: this.opts.fieldManager ?? controllerFieldManager(user.name),
      authorize: async (a) => (await authorizer.authorize({ ...a, user, apiVersion: def.version, resourceRequest: true })).decision === 'allow',
    };
    return { storage, ctx };
  }
}
