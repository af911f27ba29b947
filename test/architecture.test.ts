// The layers of docs/architecture.md, checked on the sources' static imports: data flows one way
// (request → API server → engine → storage), lower layers never import upper ones, and there is
// no import cycle anywhere in src/.
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers/server.ts';

const SRC = path.join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/** file (relative to src/) → the files it imports statically (type-only imports included: they tie modules too). */
const graph = new Map<string, string[]>();
for (const file of sources(SRC)) {
  const text = readFileSync(file, 'utf8');
  const deps = [...text.matchAll(/^\s*(?:import|export)\s(?:[^'"]*?from\s+)?'(\.[^']+)'/gm)].map((m) => path.relative(SRC, path.resolve(path.dirname(file), m[1])));
  graph.set(path.relative(SRC, file), deps);
}

const layer = (f: string) => f.split(path.sep)[0];
const importers = (pred: (from: string, to: string) => boolean) =>
  [...graph].flatMap(([from, deps]) => deps.filter((to) => pred(from, to)).map((to) => `${from} → ${to}`));

test('the sources were read', (t) => {
  t.true(graph.size > 50);
  t.true(graph.get(path.join('apiserver', 'server.ts'))!.length > 5);
});

test('no import cycle in src/', (t) => {
  const state = new Map<string, 'visiting' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'visiting') {
      cycles.push([...stack.slice(stack.indexOf(f)), f].join(' → '));
      return;
    }
    state.set(f, 'visiting');
    for (const d of graph.get(f) ?? []) visit(d, [...stack, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  t.deepEqual(cycles, []);
});

test('git storage imports nothing from the layers above it; the API server reaches git only through the engine', (t) => {
  t.deepEqual(importers((from, to) => from.startsWith(`storage${path.sep}`) && ['apiserver', 'engine', 'controllers', 'kube', 'events'].includes(layer(to))), []);
  t.deepEqual(importers((from, to) => layer(from) === 'apiserver' && to.startsWith(path.join('storage', 'git'))), []);
  t.deepEqual(importers((from, to) => layer(from) === 'controllers' && to.startsWith(path.join('storage', 'git'))), []);
});

test('the engine knows nothing of HTTP or controllers; src/api is the bottom', (t) => {
  t.deepEqual(importers((from, to) => layer(from) === 'engine' && ['apiserver', 'controllers', 'kube', 'events'].includes(layer(to))), []);
  t.deepEqual(importers((from, to) => layer(from) === 'api' && layer(to) !== 'api'), []);
});

test('the cluster side and the event recorders use only the API server\'s type modules', (t) => {
  const typeOnly = new Set([path.join('apiserver', 'authn', 'types.ts'), path.join('apiserver', 'registry', 'types.ts')]);
  t.deepEqual(importers((from, to) => ['kube', 'events'].includes(layer(from)) && layer(to) === 'apiserver' && !typeOnly.has(to)), []);
});

test('kubectl pkg (src/cli/pkg) is a client of the API: it imports the API types and nothing that reaches git or the store', (t) => {
  const pkgCli = path.join('cli', 'pkg') + path.sep;
  t.true([...graph.keys()].some((f) => f.startsWith(pkgCli)));
  t.deepEqual(
    importers((from, to) => from.startsWith(pkgCli) && !to.startsWith(pkgCli) && layer(to) !== 'api' && to !== path.join('apiserver', 'table.ts')),
    [],
  );
});
