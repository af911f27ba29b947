// Values computed from other values that change at run time (e.g. the TLS layer's list of
// client CAs, made of the client CA and the front proxy's CA, each from a file or a ConfigMap).
import type { Dynamic } from '../apiserver/authn/types.ts';

/** A Dynamic recomputed whenever one of its sources changes; listeners hear only real changes. */
export function derived<T>(sources: Dynamic<unknown>[], compute: () => T, equal: (a: T, b: T) => boolean = (a, b) => JSON.stringify(a) === JSON.stringify(b)): Dynamic<T> {
  let value = compute();
  const listeners = new Set<(v: T) => void>();
  for (const s of sources)
    s.onChange(() => {
      const next = compute();
      if (equal(next, value)) return;
      value = next;
      for (const l of listeners) l(next);
    });
  return {
    current: () => value,
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
