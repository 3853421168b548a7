import { setTimeout as sleep } from "node:timers/promises";
import { isTransientNatsError } from "./transient.js";

/**
 * Paces the tries of one idempotent NATS operation (a write with a message id, a read) through
 * transient failures — a stream leader election takes 4-9 s — until a deadline: pauses of
 * `firstDelayMs`, doubling up to `maxDelayMs`. Short pauses because the caller's answer waits
 * on the operation: once NATS serves again, the next try should come within a fraction of a
 * second, not after a redelivery backoff of several.
 */
export class TransientBackoff {
  readonly #deadline: number;
  #delayMs: number;

  constructor(
    forMs: number,
    private readonly maxDelayMs = 250,
    firstDelayMs = 50,
  ) {
    this.#deadline = Date.now() + forMs;
    this.#delayMs = firstDelayMs;
  }

  /** Pauses and returns true when `error` is transient and time is left for another try; else false. */
  async pausedAfter(error: unknown): Promise<boolean> {
    return isTransientNatsError(error) && this.paused();
  }

  /** Pauses and returns true when time is left for another try; else false. */
  async paused(): Promise<boolean> {
    if (Date.now() + this.#delayMs > this.#deadline) return false;
    await sleep(this.#delayMs);
    this.#delayMs = Math.min(this.#delayMs * 2, this.maxDelayMs);
    return true;
  }
}
