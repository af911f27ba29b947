// Callers waiting for a revision to be reached: "resolve when revision ≥ N". The owner says which
// revision has been reached (release) and each waiter whose revision is at or below it is woken,
// in the order they started waiting. A waiter can give up on its own (cancel) or after a bound
// (timeoutMs: it then resolves false). The watch cache waits for the revision a read needs
// (CacherSet.waitFor), the etcd store for the delivery of its own writes (EtcdStore.waitDelivered).

export interface RevisionWaiter {
  /** true once a release reached the revision (or releaseAll), false when the timeout passed first */
  readonly reached: Promise<boolean>;
  /** stops waiting: the waiter is removed and `reached` never settles */
  cancel(): void;
}

interface Entry {
  revision: number;
  wake: (reached: boolean) => void;
}

export class RevisionWaiters {
  private waiters: Entry[] = [];

  /** how many are waiting */
  get size(): number {
    return this.waiters.length;
  }

  /**
   * Waits for `revision`. The caller checks first whether it has been reached already: the waiters
   * know only the revisions they are released with.
   */
  wait(revision: number, timeoutMs?: number): RevisionWaiter {
    let timer: NodeJS.Timeout | undefined;
    let entry!: Entry;
    const reached = new Promise<boolean>((resolve) => {
      entry = {
        revision,
        wake: (ok) => {
          clearTimeout(timer);
          resolve(ok);
        },
      };
    });
    this.waiters.push(entry);
    if (timeoutMs !== undefined)
      timer = setTimeout(() => {
        this.remove(entry);
        entry.wake(false);
      }, timeoutMs);
    return {
      reached,
      cancel: () => {
        clearTimeout(timer);
        this.remove(entry);
      },
    };
  }

  /** Wakes every waiter whose revision is at most `revision`, in the order they came. */
  release(revision: number): void {
    if (!this.waiters.length) return;
    const done = this.waiters.filter((w) => w.revision <= revision);
    if (!done.length) return;
    this.waiters = this.waiters.filter((w) => w.revision > revision);
    for (const w of done) w.wake(true);
  }

  /** Wakes every waiter, whatever its revision (the owner closes). */
  releaseAll(): void {
    const all = this.waiters;
    this.waiters = [];
    for (const w of all) w.wake(true);
  }

  private remove(entry: Entry): void {
    this.waiters = this.waiters.filter((w) => w !== entry);
  }
}
