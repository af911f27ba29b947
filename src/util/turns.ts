// Turns: a FIFO semaphore for long jobs that share a bounded resource in steps. A job holds a
// turn for one step (a page of work) and goes to the back of the line for the next one, so that
// jobs take turns step by step and one long job cannot starve the short ones behind it.

export class Turns {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly slots: number) {
    if (!Number.isSafeInteger(slots) || slots < 1) throw new RangeError(`slots must be an integer >= 1, got ${slots}`);
    this.free = slots;
  }

  /** Jobs waiting for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  /** A job: `next()` waits for its next turn (giving back the one it holds), `done()` ends it. */
  job(): { next(): Promise<void>; done(): void } {
    let holding = false;
    return {
      next: async () => {
        if (holding) {
          holding = false;
          this.release();
        }
        await this.acquire();
        holding = true;
      },
      done: () => {
        if (!holding) return;
        holding = false;
        this.release();
      },
    };
  }

  private acquire(): Promise<void> {
    if (this.free > 0 && this.waiting.length === 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}
