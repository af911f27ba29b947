// kubectl pkg init / clone / copy: new drafts (PackageRevisions with an init or clone task).
import { CATALOG_TARGET, type PackageRevision } from '../../api/pkg.ts';
import { UserError, describeRev, parseRevisionName } from './client.ts';
import type { Command, Context } from './command.ts';

const gates = (ctx: Context) => ((ctx.values['readiness-gate'] as string[] | undefined) ?? []).map((conditionType) => ({ conditionType }));

function created(ctx: Context, r: PackageRevision, how: string) {
  if (ctx.output === 'name') return ctx.out(`packagerevision.pkg.pkgserver.dev/${r.metadata.name}`);
  ctx.out(`${r.metadata.name} created (${how}; ${r.spec.lifecycle}${r.status?.git?.branch ? `, branch ${r.status.git.branch}` : ''})`);
}

const gateOption = { 'readiness-gate': { type: 'string', multiple: true } } as const;
const gateHelp = '--readiness-gate TYPE   add a readiness gate (repeatable), e.g. pkg.pkgserver.dev/approve';

export const init: Command = {
  name: 'init',
  summary: 'Create a new package (a draft with an init task), or a new draft of a package that has published revisions',
  args: 'REV [--readiness-gate TYPE]',
  options: gateOption,
  flagHelp: [gateHelp],
  examples: ['kubectl pkg init catalog.catalog.apps.blog.v1-draft', 'kubectl pkg init cluster01.deploy.apps.blog.ws1'],
  arity: [1, 1],
  async run(ctx) {
    const id = parseRevisionName(ctx.positionals[0]);
    const r = await ctx.client().createRevision(ctx.namespace(), { packageRevID: id, lifecycle: 'draft', updatePolicy: 'loose', tasks: [{ type: 'init' }], ...(gates(ctx).length ? { readinessGates: gates(ctx) } : {}) });
    created(ctx, r, 'init');
  },
};

export const clone: Command = {
  name: 'clone',
  summary: 'Clone a published catalog revision into a new draft (a deployment package on a target, or another catalog package)',
  args: 'UPSTREAM DOWNSTREAM [--readiness-gate TYPE]',
  description: `UPSTREAM is a published catalog revision (catalog.catalog.apps.shop.v2); DOWNSTREAM the name of the new
draft: <target>.<repository>.<realm with / as :>.<package>.<workspace>.`,
  options: gateOption,
  flagHelp: [gateHelp],
  examples: [
    'kubectl pkg clone catalog.catalog.apps.shop.v2 cluster01.deploy.apps.shop.ws1',
    'kubectl pkg clone catalog.catalog.apps.shop.v1 cluster02.deploy.apps.shop.ws1 --readiness-gate pkg.pkgserver.dev/approve',
  ],
  arity: [2, 2],
  async run(ctx) {
    const [upName, downName] = ctx.positionals;
    const c = ctx.client();
    const up = await c.getRevisionWaitingForSync(upName, ctx.note);
    const uid = up.spec.packageRevID;
    if (uid.target !== CATALOG_TARGET || up.spec.lifecycle !== 'published') throw new UserError(`${upName} is not a published catalog revision: only those can be cloned`);
    const id = parseRevisionName(downName);
    const r = await c.createRevision(ctx.namespace(), {
      packageRevID: id,
      lifecycle: 'draft',
      updatePolicy: 'loose',
      tasks: [{ type: 'clone' }],
      upstream: { repository: uid.repository, realm: uid.realm ?? '', package: uid.package, revision: uid.revision! },
      ...(gates(ctx).length ? { readinessGates: gates(ctx) } : {}),
    } as PackageRevision['spec']);
    created(ctx, r, `clone of ${describeRev(up)}`);
  },
};

export const copy: Command = {
  name: 'copy',
  summary: 'A new draft of the same package from its latest published revision (to change a published package)',
  args: 'REV --workspace W',
  options: { workspace: { type: 'string' }, ...gateOption },
  flagHelp: ['--workspace W   workspace of the new draft (required)', gateHelp],
  examples: ['kubectl pkg copy cluster01.deploy.apps.shop.ws1 --workspace ws2'],
  arity: [1, 1],
  async run(ctx) {
    const ws = ctx.values.workspace as string | undefined;
    if (!ws) throw new UserError('--workspace is required: the workspace of the new draft');
    const c = ctx.client();
    const src = await c.getRevision(ctx.positionals[0]);
    const id = { ...src.spec.packageRevID, workspace: ws };
    delete id.revision;
    const r = await c.createRevision(ctx.namespace(), {
      packageRevID: id,
      lifecycle: 'draft',
      updatePolicy: 'loose',
      tasks: [{ type: 'init' }],
      ...(src.spec.inputs ? { inputs: src.spec.inputs } : {}),
      ...(gates(ctx).length ? { readinessGates: gates(ctx) } : src.spec.readinessGates ? { readinessGates: src.spec.readinessGates } : {}),
    } as PackageRevision['spec']);
    created(ctx, r, `copy of the latest published revision of ${src.spec.packageRevID.package}`);
  },
};
