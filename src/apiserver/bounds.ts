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
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: '' }];
  while (stack.length) {
    const { v, depth, path } = stack.pop()!;
    const bad = typeName(v);
    if (bad) return { kind: 'type', path: path || '<root>', type: bad };
    if (typeof v === 'string') bytes += v.length + 2;
    else if (v !== null && typeof v === 'object') {
      if (depth >= maxDepth) return { kind: 'depth', path: path || '<root>' };
      if (Array.isArray(v)) {
        bytes += 2 + v.length;
        for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], depth: depth + 1, path: `${path}[${i}]` });
      } else {
        bytes += 2;
        const keys = Object.keys(v);
        for (let i = keys.length - 1; i >= 0; i--) {
          bytes += keys[i].length + 4;
          stack.push({ v: (v as Record<string, unknown>)[keys[i]], depth: depth + 1, path: path ? `${path}.${keys[i]}` : keys[i] });
        }
      }
    } else bytes += 5;
    if (bytes > opts.maxBytes) return { kind: 'size', limit: opts.maxBytes };
  }
  return undefined;
}
