// Which locks the current async flow holds, for re-entrant locks. One AsyncLocalStorage for the
// whole process: in Node 20 every promise pays for every live AsyncLocalStorage instance, so an
// instance per lock (per repository) made every request slower as repositories were added.
import { AsyncLocalStorage } from 'node:async_hooks';

const held = new AsyncLocalStorage<ReadonlySet<unknown>>();

/** True if the current async flow runs inside `runHolding(token, …)`. */
export function holds(token: unknown): boolean {
  return held.getStore()?.has(token) ?? false;
}

/** Runs `fn` with `token` recorded as held by its async flow (and everything it awaits). */
export function runHolding<T>(token: unknown, fn: () => Promise<T>): Promise<T> {
  const current = held.getStore();
  return held.run(new Set([...(current ?? []), token]), fn);
}

/**
 * Runs `fn` outside every held lock: what it starts (callbacks, queued work) does not inherit the
 * caller's locks. For the delivery of store events: a watcher or a controller woken by a write made
 * under a lock would otherwise count as holding that lock for as long as the lock's key stays
 * busy, and enter it beside the next holder (a controller's publish ran beside a user's).
 */
export function outsideHeld<T>(fn: () => T): T {
  return held.exit(fn);
}
