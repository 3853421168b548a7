/**
 * Time as everything above the pure layer sees it: stages stamp events with `now()`, the
 * executor and the health view schedule backoffs, timeouts and breaker cooldowns with
 * `setTimeout`. Only the interface lives here, so pure code stays free of the clock; the
 * process clock is `systemClock` in execution, and tests drive a virtual one, so every wait
 * is exact and every stamped time replays.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` after `ms` milliseconds; returns a function that cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
}
