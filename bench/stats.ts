// Timing and percentiles for the benchmark.

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of sorted values (p in 0..100). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, mean: s.length ? sum / s.length : NaN };
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * Runs `op(i)` `warmup` times unmeasured, then `n` times measured, one after another.
 * Returns the measured durations in milliseconds.
 */
export async function timeLoop(n: number, warmup: number, op: (i: number, measured: boolean) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await op(i, false);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await op(warmup + i, true);
    out.push(now() - t0);
  }
  return out;
}

export const fmtMs = (ms: number | undefined): string => {
  if (ms === undefined || Number.isNaN(ms)) return '—';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
};

export const round = (x: number, digits = 2): number => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);
