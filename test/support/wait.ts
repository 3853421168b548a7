import { setTimeout as sleep } from "node:timers/promises";
import { inspect } from "node:util";

/** How long and how often {@link waitFor} polls, and what it reports as stuck. */
export interface WaitForOptions {
  /** Give up after this many milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Pause between two polls, in milliseconds. Default 50. */
  intervalMs?: number;
  /** What is awaited, for the timeout message, e.g. "stream ORDERS to hold 3 messages". */
  what: string;
}

/**
 * Polls `condition` until it returns a truthy value and resolves with that value. A condition
 * that throws counts as "not yet". On timeout, rejects with an Error naming `what` and the last
 * value or error seen, so a stuck test says what it was waiting on instead of just hanging.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: WaitForOptions,
): Promise<NonNullable<T>> {
  const { timeoutMs = 10_000, intervalMs = 50, what } = options;
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  let lastSeen = "nothing yet";
  let lastError: unknown;
  for (;;) {
    attempts += 1;
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
      lastSeen = `value ${inspect(value)}`;
      lastError = undefined;
    } catch (error) {
      lastError = error;
      lastSeen = `error ${error instanceof Error ? error.message : inspect(error)}`;
    }
    const remainingMs = deadline - Date.now();
    if (remainingMs <= 0) {
      throw new Error(
        `stuck waiting for ${what}: not done after ${timeoutMs} ms and ${attempts} polls; last saw ${lastSeen}`,
        { cause: lastError },
      );
    }
    await sleep(Math.min(intervalMs, remainingMs));
  }
}
