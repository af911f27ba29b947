// Bounds on decoded request bodies, checked before any other code sees them: plain JSON data
// only (YAML tags such as !!binary or !!timestamp give other values), a bounded nesting depth,
// and a bounded size once expanded (YAML aliases share nodes, so a small body can stand for a
// huge object). The walk is iterative and stops at the first bound it crosses, so it costs no
// more than the bound however large the value would expand.

/**
 * How deep a body may nest. kube-apiserver allows 10,000 levels (Go grows its stacks); Node's
 * stack does not: structuredClone fails at 2,000 levels, JSON.stringify at 5,000 and the yaml
 * package at 1,000. 100 is far above any real Kubernetes object and keeps every library safe.
 */
export const MAX_DEPTH = 100;

export type BoundsProblem = { kind: 'depth'; path: string } | { kind: 'size'; limit: number } | { kind: 'type'; path: string; type: string };

function typeName(v: unknown): string | undefined {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return undefined;
  // an integer JavaScript cannot hold exactly (kube's int64 fields go to 2^63): refused, not rounded
  if (typeof v === 'number') return !Number.isFinite(v) ? String(v) : Number.isInteger(v) && !Number.isSafeInteger(v) ? `number ${v} (beyond ±2^53, not exact)` : undefined;
  if (Array.isArray(v)) return undefined;
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    return proto === Object.prototype || proto === null ? undefined : (proto?.constructor?.name ?? 'object');
  }
  return typeof v;
}

/**
 * The first problem of a decoded body, or undefined: a value that is not JSON data, nesting
 * deeper than `maxDepth`, or more than `maxBytes` once every alias is expanded (counted as its
 * JSON encoding, roughly).
 */
export function boundsProblem(value: unknown, opts: { maxDepth?: number; maxBytes: number }): BoundsProblem | undefined {
  const maxDepth = opts.maxDepth ?? MAX_DEPTH;
  let bytes = 0;
  // the stack as parallel arrays, and each entry's path as its parent's path and its own key,
  // joined only for a container (whose entries need it) or a problem: a map of 200,000 labels
  // then costs no object and no string per label
  const values: unknown[] = [value];
  const depths: number[] = [0];
  const parents: string[] = [''];
  const keys: (string | number | undefined)[] = [undefined];
  const join = (parent: string, key: string | number | undefined) =>
    key === undefined ? parent : typeof key === 'number' ? `${parent}[${key}]` : parent ? `${parent}.${key}` : key;
  while (values.length) {
    const v = values.pop();
    const depth = depths.pop()!;
    const parent = parents.pop()!;
    const key = keys.pop();
    const bad = typeName(v);
    if (bad) return { kind: 'type', path: join(parent, key) || '<root>', type: bad };
    if (typeof v === 'string') bytes += v.length + 2;
    else if (v !== null && typeof v === 'object') {
      const path = join(parent, key);
      if (depth >= maxDepth) return { kind: 'depth', path: path || '<root>' };
      if (Array.isArray(v)) {
        bytes += 2 + v.length;
        for (let i = v.length - 1; i >= 0; i--) {
          values.push(v[i]);
          depths.push(depth + 1);
          parents.push(path);
          keys.push(i);
        }
      } else {
        bytes += 2;
        const ks = Object.keys(v);
        for (let i = ks.length - 1; i >= 0; i--) {
          bytes += ks[i].length + 4;
          values.push((v as Record<string, unknown>)[ks[i]]);
          depths.push(depth + 1);
          parents.push(path);
          keys.push(ks[i]);
        }
      }
    } else bytes += 5;
    if (bytes > opts.maxBytes) return { kind: 'size', limit: opts.maxBytes };
  }
  return undefined;
}
