// How much garbage V8 lets the heap accumulate between full collections (docs/benchmarks.md,
// memory). V8 sets the next full collection at (what survived the last one) × a growing factor
// that it picks between 1.1 and 4 from the collector's speed against the program's allocation
// speed; on a server whose live heap is ~100 MiB at 10,000 revisions, that factor was 2–3 and the
// heap stood 60–100 MiB above what it used. A fixed factor bounds that: 40 % gave a peak RSS of
// ~290 MiB instead of 330–390 at the cost of more frequent (incremental, mostly concurrent) full
// collections. V8 reads the flag at every collection, so it can be set after start; an explicit
// `node --heap-growing-percent=N` on the command line wins.
import v8 from 'node:v8';

export const DEFAULT_HEAP_GROWING_PERCENT = 40;

/** Sets V8's heap growing factor to 1 + percent/100 (0: V8's own dynamic factor). Returns what is in effect: the command line's value when it set one. */
export function setHeapGrowingPercent(percent: number, execArgv: readonly string[] = process.execArgv): number {
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000) throw new RangeError(`heap growing percent must be an integer in 0..1000, got ${percent}`);
  const given = execArgv.map((a) => /^--heap[-_]growing[-_]percent=(\d+)$/.exec(a)).find(Boolean);
  if (given) return Number(given[1]);
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  return percent;
}
