// kubectl pkg propose / reject / approve / propose-delete / del: the lifecycle of revisions.
import type { PackageRevision } from '../../api/pkg.ts';
import { UserError } from './client.ts';
import type { Command, Context } from './command.ts';

const subOption = { subresource: { type: 'boolean' } } as const;
const subHelp = '--subresource   change the lifecycle through the approval subresource (packagerevisions/approval)';

async function transition(ctx: Context, name: string, to: string, verb: string): Promise<PackageRevision> {
  const c = ctx.client();
  const r = await c.setLifecycle(name, to, { subresource: Boolean(ctx.values.subresource) });
  if (ctx.output === 'name') ctx.out(`packagerevision.pkg.pkgserver.dev/${name}`);
  else ctx.out(`${name} ${verb}`);
  return r;
}

export const propose: Command = {
  name: 'propose',
  summary: 'Propose drafts for approval',
  args: 'REV... [--subresource]',
  options: subOption,
  flagHelp: [subHelp],
  examples: ['kubectl pkg propose cluster01.deploy.apps.shop.ws1'],
  arity: [1, 100],
  async run(ctx) {
    for (const n of ctx.positionals) await transition(ctx, n, 'proposed', 'proposed');
  },
};

export const reject: Command = {
  name: 'reject',
  summary: 'Reject proposed revisions (back to draft), or a proposed deletion (back to published)',
  args: 'REV... [--subresource]',
  options: subOption,
  flagHelp: [subHelp],
  examples: ['kubectl pkg reject cluster01.deploy.apps.shop.ws1', 'kubectl pkg reject cluster01.deploy.apps.shop.ws1 --subresource'],
  arity: [1, 100],
  async run(ctx) {
    for (const n of ctx.positionals) {
      const cur = await ctx.client().getRevision(n);
      if (cur.spec.lifecycle === 'proposed') await transition(ctx, n, 'draft', 'rejected (draft)');
      else if (cur.spec.lifecycle === 'deletionProposed') await transition(ctx, n, 'published', 'deletion rejected (published)');
      else throw new UserError(`${n} is ${cur.spec.lifecycle}: only proposed revisions and proposed deletions can be rejected`);
    }
  },
};

export const approve: Command = {
  name: 'approve',
  summary: 'Approve (publish) proposed revisions: a commit on the branch and a tag in git',
  args: 'REV... [--subresource]',
  options: subOption,
  flagHelp: [subHelp],
  examples: ['kubectl pkg approve cluster01.deploy.apps.shop.ws1', 'kubectl pkg approve cluster01.deploy.apps.shop.ws1 --subresource'],
  arity: [1, 100],
  async run(ctx) {
    for (const n of ctx.positionals) {
      ctx.note(`publishing ${n}...`);
      const r = await ctx.client().setLifecycle(n, 'published', { subresource: Boolean(ctx.values.subresource) });
      if (ctx.output === 'name') ctx.out(`packagerevision.pkg.pkgserver.dev/${n}`);
      else ctx.out(`${n} approved: published as ${r.spec.packageRevID.revision ?? '?'}${r.status?.git?.tag ? ` (tag ${r.status.git.tag}, commit ${r.status.git.commit?.slice(0, 12)})` : ''}`);
    }
  },
};

export const proposeDelete: Command = {
  name: 'propose-delete',
  summary: 'Propose published revisions for deletion (deletionProposed); del then deletes them',
  args: 'REV... [--subresource]',
  options: subOption,
  flagHelp: [subHelp],
  examples: ['kubectl pkg propose-delete cluster01.deploy.apps.shop.ws1 && kubectl pkg del cluster01.deploy.apps.shop.ws1'],
  arity: [1, 100],
  async run(ctx) {
    for (const n of ctx.positionals) await transition(ctx, n, 'deletionProposed', 'proposed for deletion');
  },
};

export const del: Command = {
  name: 'del',
  aliases: ['delete'],
  summary: 'Delete revisions: drafts and proposed ones, or published ones proposed for deletion',
  args: 'REV...',
  examples: ['kubectl pkg del cluster01.deploy.apps.shop.ws2'],
  arity: [1, 100],
  async run(ctx) {
    const c = ctx.client();
    for (const n of ctx.positionals) {
      await c.request('DELETE', c.path('packagerevisions', ctx.namespace(), n));
      ctx.out(`${n} deleted`);
    }
  },
};
