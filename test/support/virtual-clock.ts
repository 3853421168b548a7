import type { Clock } from "../../src/events/index.js";

interface Timer {
  at: number;
  order: number;
  fn: () => void;
}

/**
 * A clock whose time moves only when nothing else can happen: {@link VirtualClock.run} lets
 * pending promise work settle, then jumps to the next timer, so backoffs and timeouts are
 * exact and tests never sleep.
 */
export class VirtualClock implements Clock {
  #now: number;
  #order = 0;
  readonly #timers: Timer[] = [];

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): () => void {
    const timer = { at: this.#now + Math.max(0, ms), order: this.#order++, fn };
    this.#timers.push(timer);
    return () => {
      const index = this.#timers.indexOf(timer);
      if (index >= 0) this.#timers.splice(index, 1);
    };
  }

  /** Drives virtual time until `work` settles; rejects if it waits on something no timer will bring. */
  async run<T>(work: Promise<T>): Promise<T> {
    let settled = false;
    work.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    for (;;) {
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      if (settled) return work;
      this.#timers.sort((a, b) => a.at - b.at || a.order - b.order);
      const next = this.#timers.shift();
      if (!next) throw new Error("VirtualClock: the work is pending but no timer is scheduled");
      this.#now = next.at;
      next.fn();
    }
  }
}
