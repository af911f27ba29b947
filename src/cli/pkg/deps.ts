// kubectl pkg deps REV / tree: the dependency graph the discovery controller recorded
// (status.dependencies of published catalog revisions), followed from a revision or for the whole
// catalog of a namespace, as indented text or Graphviz dot.
import { CATALOG_TARGET, pickRevision, type PackageDependency, type PackageRevision } from '../../api/pkg.ts';
import { UserError, describeRev, isLatest } from './client.ts';
import type { Command, Context } from './command.ts';

const pkgKey = (d: { repository: string; realm?: string; package: string }) => [d.repository, d.realm, d.package].filter(Boolean).join('/');

/** The published catalog revisions of a namespace, and how each package dependency resolves among them. */
class Catalog {
  private readonly byPackage = new Map<string, PackageRevision[]>();
  constructor(readonly all: PackageRevision[]) {
    for (const r of all) {
      const id = r.spec.packageRevID;
      if (id.target !== CATALOG_TARGET || r.spec.lifecycle !== 'published' || !id.revision) continue;
      const k = pkgKey(id);
      this.byPackage.set(k, [...(this.byPackage.get(k) ?? []), r]);
    }
  }
  /** The newest published revision satisfying the dependency's constraint. */
  resolve(d: PackageDependency | { repository: string; realm?: string; package: string; revision?: string }): PackageRevision | undefined {
    const revs = this.byPackage.get(pkgKey(d)) ?? [];
    const pick = pickRevision(revs.map((r) => r.spec.packageRevID.revision!), d.revision);
    return revs.find((r) => r.spec.packageRevID.revision === pick);
  }
  latest(): PackageRevision[] {
    return [...this.byPackage.values()].map((revs) => revs.find(isLatest) ?? revs.at(-1)!).sort((a, b) => pkgKey(a.spec.packageRevID).localeCompare(pkgKey(b.spec.packageRevID)));
  }
}

/** Whether `target` has a published revision of the package in `repository` (any revision). */
function deployedOn(all: PackageRevision[], target: string, repository: string, d: { realm?: string; package: string }): PackageRevision | undefined {
  return all.find((r) => r.spec.packageRevID.target === target && r.spec.packageRevID.repository === repository && (r.spec.packageRevID.realm ?? '') === (d.realm ?? '') && r.spec.packageRevID.package === d.package && r.spec.lifecycle === 'published');
}

interface Edge {
  from: PackageRevision;
  dep: PackageDependency;
  to?: PackageRevision;
}

/** Every edge reachable from `roots` (each revision expanded once). */
function edgesFrom(cat: Catalog, roots: PackageRevision[]): Edge[] {
  const seen = new Set<string>();
  const edges: Edge[] = [];
  const visit = (r: PackageRevision) => {
    if (seen.has(r.metadata.name!)) return;
    seen.add(r.metadata.name!);
    for (const dep of r.status?.dependencies?.packages ?? []) {
      const to = cat.resolve(dep);
      edges.push({ from: r, dep, to });
      if (to) visit(to);
    }
  };
  roots.forEach(visit);
  return edges;
}

function dot(edges: Edge[], roots: PackageRevision[]): string {
  const q = (s: string) => `"${s.replace(/"/g, '\\"')}"`;
  const lines = ['digraph dependencies {', '  rankdir=LR;', '  node [shape=box];'];
  for (const r of roots) lines.push(`  ${q(describeRev(r))};`);
  for (const e of edges) lines.push(`  ${q(describeRev(e.from))} -> ${q(e.to ? describeRev(e.to) : `${pkgKey(e.dep)} (unresolved)`)} [label=${q(e.dep.revision || '*')}];`);
  lines.push('}');
  return lines.join('\n');
}

/** The indented tree below `r`; a revision already printed is marked instead of expanded again. */
function textTree(cat: Catalog, r: PackageRevision, ctx: { target?: string; repository?: string; all: PackageRevision[] }, lines: string[], prefix: string, path: string[]): void {
  const deps = r.status?.dependencies;
  if (!deps) {
    const published = r.spec.lifecycle === 'published' || r.spec.lifecycle === 'deletionProposed';
    lines.push(`${prefix}└─ (${published ? 'dependencies not discovered yet' : 'dependencies are discovered when a catalog revision is published'})`);
    return;
  }
  const items = deps.packages ?? [];
  items.forEach((d, i) => {
    const last = i === items.length - 1;
    const to = cat.resolve(d);
    const deployed = ctx.target && ctx.repository ? deployedOn(ctx.all, ctx.target, ctx.repository, d) : undefined;
    const where = ctx.target ? (deployed ? `   [on ${ctx.target}: ${deployed.spec.packageRevID.revision}]` : `   [not on ${ctx.target}]`) : '';
    const cycle = to && path.includes(to.metadata.name!);
    lines.push(`${prefix}${last ? '└─' : '├─'} ${pkgKey(d)} ${d.revision || '*'} → ${to ? to.spec.packageRevID.revision : 'unresolved'}   (for ${(d.for ?? []).join(', ')})${where}${cycle ? '   (cycle)' : ''}`);
    if (to && !cycle) textTree(cat, to, ctx, lines, `${prefix}${last ? '   ' : '│  '}`, [...path, to.metadata.name!]);
  });
  for (const e of deps.errors ?? []) lines.push(`${prefix}   error: ${e}`);
}

function coreLine(r: PackageRevision): string | undefined {
  const core = r.status?.dependencies?.core ?? [];
  if (!core.length) return undefined;
  return `core APIs: ${core.map((c) => `${c.group ? `${c.group}/` : ''}${c.version} ${c.kind}`).join(', ')}`;
}

function format(ctx: Context): 'text' | 'dot' {
  const o = ctx.output ?? 'text';
  if (o !== 'text' && o !== 'dot') throw new UserError(`unknown output format "${o}": use text or dot`);
  return o;
}

export const deps: Command = {
  name: 'deps',
  summary: 'Show the dependency graph of a revision (what it needs, recursively, and who needs it)',
  description: `For a catalog revision: the packages it needs (status.dependencies, found by the discovery controller),
each resolved to the newest published revision that satisfies the constraint, recursively, and
its dependents. For a deployment revision: the graph of its upstream, with which dependencies its
target already has in the same repository.`,
  args: 'REV [-o text|dot]',
  examples: ['kubectl pkg deps catalog.catalog.apps.shop.v2', 'kubectl pkg deps cluster01.deploy.apps.shop.ws1', 'kubectl pkg deps catalog.catalog.apps.shop.v2 -o dot | dot -Tsvg > shop.svg'],
  arity: [1, 1],
  async run(ctx) {
    const fmt = format(ctx);
    const c = ctx.client();
    const r = await c.getRevision(ctx.positionals[0]);
    const all = await c.listRevisions(r.metadata.namespace);
    const cat = new Catalog(all);
    const id = r.spec.packageRevID;
    let root = r;
    const lines: string[] = [];
    const deployment = id.target !== CATALOG_TARGET;
    if (deployment) {
      const up = r.spec.upstream;
      if (!up) throw new UserError(`${r.metadata.name} has no upstream: dependencies are discovered on published catalog revisions`);
      const u = cat.resolve({ ...up, revision: up.revision || undefined });
      if (!u) throw new UserError(`the upstream of ${r.metadata.name} (${pkgKey(up)}@${up.revision || 'latest'}) is not a published catalog revision`);
      root = u;
    }
    if (fmt === 'dot') return ctx.out(dot(edgesFrom(cat, [root]), [root]));
    lines.push(`${r.metadata.name} (${describeRev(r)}, ${r.spec.lifecycle})`);
    if (deployment) lines.push(`upstream ${root.metadata.name} (${describeRev(root)})`);
    textTree(cat, root, { target: deployment ? id.target : undefined, repository: deployment ? id.repository : undefined, all }, lines, '', [root.metadata.name!]);
    if (root.status?.dependencies && !(root.status.dependencies.packages ?? []).length) lines.push('└─ (no package dependencies)');
    const core = coreLine(root);
    if (core) lines.push(core);
    const dependents = root.status?.dependents ?? [];
    if (dependents.length) lines.push(`needed by: ${dependents.map((d) => `${d.name} (${d.constraint || '*'})`).join(', ')}`);
    ctx.out(lines.join('\n'));
  },
};

export const tree: Command = {
  name: 'tree',
  summary: "The dependency graph of the namespace's catalog (latest published revisions)",
  args: '[-o text|dot]',
  examples: ['kubectl pkg tree', 'kubectl pkg tree -n team-a -o dot | dot -Tpng > catalog.png'],
  arity: [0, 0],
  async run(ctx) {
    const fmt = format(ctx);
    const c = ctx.client();
    const all = await c.listRevisions(ctx.namespace());
    const cat = new Catalog(all);
    const latest = cat.latest();
    if (!latest.length) return ctx.note(`no published catalog revisions in namespace ${ctx.namespace()}`);
    // roots: packages no other latest revision needs
    const needed = new Set(edgesFrom(cat, latest).filter((e) => e.to && latest.includes(e.from)).map((e) => pkgKey(e.to!.spec.packageRevID)));
    const roots = latest.filter((r) => !needed.has(pkgKey(r.spec.packageRevID)));
    if (fmt === 'dot') return ctx.out(dot(edgesFrom(cat, latest), latest));
    const lines: string[] = [];
    for (const r of roots.length ? roots : latest) {
      lines.push(`${r.metadata.name} (${describeRev(r)})`);
      textTree(cat, r, { all }, lines, '', [r.metadata.name!]);
    }
    ctx.out(lines.join('\n'));
  },
};
