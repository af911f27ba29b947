// kubectl pkg upgrade REV [--revision vN] / upgrade --discover: find the downstream packages whose
// upstream has a newer published revision (status.latestUpstreamRevision, kept by the upgrades
// controller), and make the draft that moves one to it (an upgrade task: a three-way merge).
import type { PackageRevision } from '../../api/pkg.ts';
import { UserError, isLatest, newest, samePackage } from './client.ts';
import type { Command } from './command.ts';
import { columns } from './get.ts';

const upstreamOf = (r: PackageRevision) => {
  const u = r.spec.upstream!;
  return `${[u.repository, u.realm, u.package].filter(Boolean).join('/')}`;
};

export const upgrade: Command = {
  name: 'upgrade',
  summary: 'Upgrade a package to a newer upstream revision (a new draft, three-way merged), or --discover the upgrades available',
  description: `With --discover: the published downstream revisions (latest of each package) and PackageVariants whose
upstream package has a newer published revision. Otherwise: a new draft of REV's package (workspace
--workspace, default upgrade-<revision>) with an upgrade task to --revision (default: the newest
upstream revision); local edits are kept, conflicts are named in its pkg.pkgserver.dev/upgrade condition.`,
  args: 'REV [--revision vN] [--workspace W] | --discover [REV]',
  options: { revision: { type: 'string' }, workspace: { type: 'string' }, discover: { type: 'boolean' } },
  flagHelp: ['--discover       list the upgrades available (in the namespace, or -A)', '--revision vN    the upstream revision to move to (default: the newest)', '--workspace W    workspace of the new draft (default upgrade-<revision>)'],
  examples: ['kubectl pkg upgrade --discover', 'kubectl pkg upgrade --discover -A', 'kubectl pkg upgrade cluster01.deploy.apps.shop.ws1', 'kubectl pkg upgrade cluster01.deploy.apps.shop.ws1 --revision v2 --workspace ws2'],
  arity: [0, 1],
  async run(ctx) {
    const c = ctx.client();
    if (ctx.values.discover) {
      const ns = ctx.allNamespaces ? undefined : ctx.namespace();
      const revs = await c.listRevisions(ns);
      const only = ctx.positionals[0] ? await c.getRevision(ctx.positionals[0]) : undefined;
      const rows = revs.filter((r) => r.spec.upstream && r.status?.latestUpstreamRevision && r.spec.lifecycle === 'published' && isLatest(r) && (!only || samePackage(only.spec.packageRevID, r.spec.packageRevID)));
      const pvs = (await c.request('GET', c.path('packagevariants', ns))).items as { metadata: { name: string; namespace: string }; status?: { downstream?: { name: string }[] } }[];
      const variantOf = (r: PackageRevision) =>
        r.metadata.ownerReferences?.find((o) => o.kind === 'PackageVariant')?.name ?? pvs.find((pv) => pv.metadata.namespace === r.metadata.namespace && pv.status?.downstream?.some((d) => d.name === r.metadata.name))?.metadata.name ?? '<none>';
      if (!rows.length) return ctx.note('no upgrades available');
      const lines: string[][] = [[...(ns === undefined ? ['NAMESPACE'] : []), 'NAME', 'UPSTREAM', 'CURRENT', 'AVAILABLE', 'VARIANT']];
      for (const r of rows) lines.push([...(ns === undefined ? [r.metadata.namespace!] : []), r.metadata.name!, upstreamOf(r), r.spec.upstream!.revision ?? '', r.status!.latestUpstreamRevision!, variantOf(r)]);
      return ctx.out(columns(lines));
    }
    if (!ctx.positionals[0]) throw new UserError('name the revision to upgrade, or use --discover');
    const r = await c.getRevision(ctx.positionals[0]);
    const up = r.spec.upstream;
    if (!up) throw new UserError(`${r.metadata.name} has no upstream: only packages cloned from the catalog can be upgraded`);
    const ns = r.metadata.namespace!;
    const latestUp = await c.findUpstream(ns, { ...up, revision: undefined });
    const to = (ctx.values.revision as string | undefined) ?? r.status?.latestUpstreamRevision ?? latestUp?.spec.packageRevID.revision;
    if (!to) throw new UserError(`no published revision of ${upstreamOf(r)}`);
    const current = newest((await c.listRevisions(ns)).filter((o) => samePackage(o.spec.packageRevID, r.spec.packageRevID)));
    if (current?.spec.upstream?.revision === to && !ctx.values.revision) return ctx.out(`${r.metadata.name}: ${upstreamOf(r)} is at ${to} already, the newest`);
    const ws = (ctx.values.workspace as string | undefined) ?? `upgrade-${to.replace(/\./g, '-')}`;
    const id = { ...r.spec.packageRevID, workspace: ws };
    delete id.revision;
    ctx.note(`upgrading ${r.spec.packageRevID.package} from ${current?.spec.upstream?.revision ?? up.revision} to ${upstreamOf(r)}@${to}...`);
    const made = await c.createRevision(ns, {
      packageRevID: id,
      lifecycle: 'draft',
      updatePolicy: 'loose',
      tasks: [{ type: 'upgrade' }],
      upstream: { ...up, revision: to },
      ...(r.spec.inputs ? { inputs: r.spec.inputs } : {}),
      ...(r.spec.readinessGates ? { readinessGates: r.spec.readinessGates } : {}),
    } as PackageRevision['spec']);
    const cond = made.status?.conditions?.find((x) => x.type === 'pkg.pkgserver.dev/upgrade');
    ctx.out(`${made.metadata.name} created (upgrade to ${to}; draft)${cond ? `: ${cond.reason}${cond.message ? ` ${cond.message}` : ''}` : ''}`);
  },
};
