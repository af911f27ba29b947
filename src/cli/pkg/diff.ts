// kubectl pkg diff REV: what a revision changes, as a unified diff (jsdiff), coloured on a terminal.
// A draft is compared with its base (the package's latest published revision, else the upstream
// it was cloned from); a published downstream with its upstream; --upstream forces the upstream.
import { structuredPatch } from 'diff';
import { compareRevisions, type PackageRevision } from '../../api/pkg.ts';
import { UserError, describeRev, newest, samePackage, type ApiClient } from './client.ts';
import type { Command } from './command.ts';

const COLOR = { bold: '\x1b[1m', red: '\x1b[31m', green: '\x1b[32m', cyan: '\x1b[36m', reset: '\x1b[0m' };

/** The revision `r` is compared with, and why; undefined: nothing (a new package). */
export async function baseOf(c: ApiClient, r: PackageRevision, upstream: boolean): Promise<{ base?: PackageRevision; what: string }> {
  const ns = r.metadata.namespace!;
  const up = r.spec.upstream;
  const fromUpstream = async () => {
    if (!up) throw new UserError(`${r.metadata.name} has no upstream`);
    const u = await c.findUpstream(ns, up);
    if (!u) throw new UserError(`the upstream of ${r.metadata.name} (${up.repository}/${up.realm ? `${up.realm}/` : ''}${up.package}@${up.revision || 'latest'}) is not a published revision`);
    return { base: u, what: `its upstream ${describeRev(u)}` };
  };
  if (upstream) return fromUpstream();
  if (r.spec.lifecycle === 'published' || r.spec.lifecycle === 'deletionProposed') {
    if (up) return fromUpstream();
    const older = (await c.listRevisions(ns)).filter((o) => samePackage(o.spec.packageRevID, r.spec.packageRevID) && o.metadata.name !== r.metadata.name && o.spec.lifecycle === 'published' && !!o.spec.packageRevID.revision && !!r.spec.packageRevID.revision && compareRevisions(o.spec.packageRevID.revision, r.spec.packageRevID.revision) < 0);
    const prev = newest(older);
    return prev ? { base: prev, what: `the previous revision ${describeRev(prev)}` } : { what: 'nothing (the first revision)' };
  }
  const published = (await c.listRevisions(ns)).filter((o) => samePackage(o.spec.packageRevID, r.spec.packageRevID) && o.metadata.name !== r.metadata.name);
  const latest = newest(published);
  if (latest && r.spec.tasks[0]?.type !== 'clone') return { base: latest, what: `the latest published revision ${describeRev(latest)}` };
  if (up) return fromUpstream();
  return { what: 'nothing (a new package)' };
}

/** The unified diff of two sets of files (path → content), git style. */
export function unifiedDiff(before: Record<string, string>, after: Record<string, string>, color: boolean): string {
  const paint = (c: string, s: string) => (color ? `${c}${s}${COLOR.reset}` : s);
  const out: string[] = [];
  for (const f of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const a = before[f];
    const b = after[f];
    if (a === b) continue;
    const p = structuredPatch(`a/${f}`, `b/${f}`, a ?? '', b ?? '', undefined, undefined, { context: 3 });
    out.push(paint(COLOR.bold, `diff --git a/${f} b/${f}`));
    if (a === undefined) out.push(paint(COLOR.bold, 'new file mode 100644'));
    if (b === undefined) out.push(paint(COLOR.bold, 'deleted file mode 100644'));
    out.push(paint(COLOR.bold, `--- ${a === undefined ? '/dev/null' : `a/${f}`}`), paint(COLOR.bold, `+++ ${b === undefined ? '/dev/null' : `b/${f}`}`));
    for (const h of p.hunks) {
      // an empty side starts at the line before (0), as diff and git write it
      const range = (start: number, lines: number) => `${lines === 0 ? start - 1 : start},${lines}`;
      out.push(paint(COLOR.cyan, `@@ -${range(h.oldStart, h.oldLines)} +${range(h.newStart, h.newLines)} @@`));
      for (const l of h.lines) out.push(l.startsWith('+') ? paint(COLOR.green, l) : l.startsWith('-') ? paint(COLOR.red, l) : l);
    }
  }
  return out.join('\n');
}

export const diff: Command = {
  name: 'diff',
  summary: 'Show what a revision changes: a draft against its base, a downstream against its upstream',
  description: `The base of a draft is the package's latest published revision (the draft of a new version), or the
upstream it was cloned from (a new deployment package); a published downstream is compared with its
upstream, a published catalog revision with the previous one. Colour on a terminal (--color).`,
  args: 'REV [--upstream] [--color auto|always|never]',
  options: { upstream: { type: 'boolean' }, color: { type: 'string' } },
  flagHelp: ['--upstream       compare with the upstream revision', '--color WHEN     auto (default: on a terminal), always or never'],
  examples: ['kubectl pkg diff cluster01.deploy.apps.shop.ws1', 'kubectl pkg diff cluster01.deploy.apps.shop.ws2 --upstream', 'kubectl pkg diff catalog.catalog.apps.shop.v2 | less -R'],
  arity: [1, 1],
  async run(ctx) {
    const c = ctx.client();
    const r = await c.getRevision(ctx.positionals[0]);
    const { base, what } = await baseOf(c, r, Boolean(ctx.values.upstream));
    const when = (ctx.values.color as string | undefined) ?? 'auto';
    if (!['auto', 'always', 'never'].includes(when)) throw new UserError('--color is auto, always or never');
    const color = when === 'always' || (when === 'auto' && Boolean(process.stdout.isTTY));
    const before = base ? (await c.getResources(base.metadata.name!, base.metadata.namespace)).spec.resources : {};
    const after = (await c.getResources(r.metadata.name!, r.metadata.namespace)).spec.resources;
    ctx.note(`comparing ${r.metadata.name} with ${what}`);
    const text = unifiedDiff(before ?? {}, after ?? {}, color);
    if (text) ctx.out(text);
    else ctx.note('no differences');
  },
};
