// The authorizer the server asks: kube's always-allowed groups and paths
// (authorizerfactory.NewPrivilegedGroups, pkg/authorization/path) in front of an ordered list of
// authorizers, combined as pkg/authorization/union does: the first allow or deny wins; when every
// authorizer has no opinion the request is denied with their reasons joined.
import type { Attributes, Authorizer, Decision } from './types.ts';

export const DEFAULT_ALWAYS_ALLOW_PATHS = ['/healthz', '/readyz', '/livez'];
export const DEFAULT_ALWAYS_ALLOW_GROUPS = ['system:masters'];

export interface ChainOptions {
  /** --authorization-always-allow-paths: exact paths, or prefixes ending in "*"; a leading "/" is optional */
  alwaysAllowPaths?: string[];
  /** groups allowed everything without asking (kube's delegated default: system:masters) */
  alwaysAllowGroups?: string[];
}

export class AuthorizerChain implements Authorizer {
  private readonly paths = new Set<string>();
  private readonly prefixes: string[] = [];
  private readonly groups: Set<string>;

  /** Throws, as kube's path.NewAuthorizer, for a path with a "*" anywhere but at its end. */
  constructor(
    private readonly authorizers: Authorizer[],
    opts: ChainOptions = {},
  ) {
    this.groups = new Set(opts.alwaysAllowGroups ?? DEFAULT_ALWAYS_ALLOW_GROUPS);
    for (const raw of opts.alwaysAllowPaths ?? DEFAULT_ALWAYS_ALLOW_PATHS) {
      const p = raw.replace(/^\//, '');
      if (p === '') this.paths.add(p);
      else if (p.slice(0, -1).includes('*')) throw new Error(`only trailing * allowed in ${JSON.stringify(p)}`);
      else if (p.endsWith('*')) this.prefixes.push(p.slice(0, -1));
      else this.paths.add(p);
    }
  }

  async authorize(a: Attributes): Promise<Decision> {
    if (a.user.groups.some((g) => this.groups.has(g))) return { decision: 'allow', reason: '' };
    if (!a.resourceRequest) {
      const p = (a.path ?? '').replace(/^\//, '');
      if (this.paths.has(p) || this.prefixes.some((x) => p.startsWith(x))) return { decision: 'allow', reason: '' };
    }
    const reasons: string[] = [];
    const errors: string[] = [];
    for (const authorizer of this.authorizers) {
      const d = await authorizer.authorize(a);
      if (d.error) errors.push(d.error);
      if (d.reason) reasons.push(d.reason);
      if (d.decision !== 'noOpinion') return d;
    }
    const error = [...new Set(errors)];
    return { decision: 'deny', reason: reasons.join('\n'), ...(error.length ? { error: error.length === 1 ? error[0] : `[${error.join(', ')}]` } : {}) };
  }
}

/** Whether the authorizer allows the attributes (the registry's checks, self subject access reviews). */
export async function canI(authorizer: Authorizer, attrs: Attributes): Promise<boolean> {
  return (await authorizer.authorize(attrs)).decision === 'allow';
}
