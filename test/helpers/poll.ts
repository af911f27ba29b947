// Waiting for a condition in tests: poll with a deadline instead of sleeping a fixed time.

/** Polls `fn` until it returns something other than undefined; fails after `ms` with the last error seen. */
export async function poll<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000, every = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `; last error: ${(last as Error).message ?? String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Waits until the clock has passed the second of `time` (an RFC 3339 timestamp, such as a
 * status.lastSyncTime). Timestamps in kube objects have a resolution of one second, so a new one
 * written within the same second would read the same: wait for this before causing the write whose
 * new timestamp a test will look for.
 */
export async function afterSecondOf(time: string | undefined): Promise<void> {
  if (!time) return;
  const next = Math.floor(Date.parse(time) / 1000) * 1000 + 1000;
  await poll(`the clock to pass ${time}`, async () => (Date.now() >= next ? true : undefined), 10_000, 50);
}
