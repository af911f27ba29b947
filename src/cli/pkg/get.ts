// kubectl pkg get: PackageRevisions with the server's own table (the columns kubectl shows), or
// as YAML, JSON or names.
import YAML from 'yaml';
import { humanDuration } from '../../apiserver/table.ts';
import { UserError, type ApiClient } from './client.ts';
import type { Command } from './command.ts';

interface Table {
  columnDefinitions: { name: string; type: string; priority?: number }[];
  rows: { cells: unknown[]; object?: { metadata?: { namespace?: string; name?: string } } }[];
}

const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

export const get: Command = {
  name: 'get',
  summary: 'List package revisions (the columns of kubectl get packagerevisions), or show some',
  args: '[REV...] [-o wide|yaml|json|name] [-l SELECTOR]',
  options: { selector: { type: 'string', short: 'l' } },
  flagHelp: ['-l, --selector SEL   label selector, e.g. pkg.pkgserver.dev/latest-revision=true', '-o, --output FMT     wide, yaml, json or name'],
  examples: ['kubectl pkg get', 'kubectl pkg get -A -o wide', 'kubectl pkg get cluster01.deploy.apps.shop.ws1 -o yaml', 'kubectl pkg get -l pkg.pkgserver.dev/latest-revision=true -o name'],
  arity: [0, 100],
  async run(ctx) {
    const c = ctx.client();
    const ns = ctx.allNamespaces ? undefined : ctx.namespace();
    const out = ctx.output ?? '';
    if (!['', 'wide', 'yaml', 'json', 'name'].includes(out)) throw new UserError(`unknown output format "${out}": use wide, yaml, json or name`);
    const selector = ctx.values.selector as string | undefined;
    const q = selector ? `?labelSelector=${encodeURIComponent(selector)}` : '';
    if (out === 'yaml' || out === 'json' || out === 'name') {
      let items: any[];
      if (ctx.positionals.length) items = await Promise.all(ctx.positionals.map((n) => c.getRevision(n, ctx.namespace())));
      else items = (await c.request('GET', c.path('packagerevisions', ns) + q)).items;
      items = items.map((i) => ({ apiVersion: 'pkg.pkgserver.dev/v1alpha1', kind: 'PackageRevision', ...i }));
      if (out === 'name') return ctx.out(items.map((i) => `packagerevision.pkg.pkgserver.dev/${i.metadata.name}`).join('\n') || '');
      const doc = ctx.positionals.length === 1 ? items[0] : { apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } };
      return ctx.out(out === 'json' ? JSON.stringify(doc, null, 4) : YAML.stringify(doc));
    }
    const tables: Table[] = ctx.positionals.length
      ? await Promise.all(ctx.positionals.map((n) => table(c, c.path('packagerevisions', ctx.namespace(), n))))
      : [await table(c, c.path('packagerevisions', ns) + q)];
    const cols = tables[0].columnDefinitions;
    const shown = cols.map((col, i) => ({ col, i })).filter(({ col }) => out === 'wide' || !col.priority);
    const rows = tables.flatMap((t) => t.rows);
    if (!rows.length) {
      ctx.note(ns === undefined ? 'No resources found' : `No resources found in ${ns} namespace.`);
      return;
    }
    const lines = [[...(ns === undefined ? ['NAMESPACE'] : []), ...shown.map(({ col }) => col.name.toUpperCase())]];
    for (const r of rows)
      lines.push([
        ...(ns === undefined ? [r.object?.metadata?.namespace ?? ''] : []),
        ...shown.map(({ col, i }) => {
          const v = r.cells[i];
          if (col.type === 'date' && typeof v === 'string') return humanDuration(Date.now() - Date.parse(v));
          return v === undefined || v === null ? '<none>' : String(v);
        }),
      ]);
    ctx.out(columns(lines));
  },
};

function table(c: ApiClient, p: string): Promise<Table> {
  return c.request('GET', p + (p.includes('?') ? '&' : '?') + 'includeObject=Metadata', undefined, { accept: TABLE });
}

/** Rows aligned as kubectl aligns them (3 spaces between columns). */
export function columns(lines: string[][]): string {
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  return lines.map((l) => l.map((cell, i) => (i === l.length - 1 ? cell : cell.padEnd(widths[i] + 3))).join('')).join('\n');
}
