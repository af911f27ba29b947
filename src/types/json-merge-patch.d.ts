declare module 'json-merge-patch' {
  /** Applies an RFC 7386 merge patch; mutates and returns `target`. */
  export function apply(target: unknown, patch: unknown): unknown;
  export function generate(before: unknown, after: unknown): unknown;
  export function merge(patch1: unknown, patch2: unknown): unknown;
  const _default: { apply: typeof apply; generate: typeof generate; merge: typeof merge };
  export default _default;
}
