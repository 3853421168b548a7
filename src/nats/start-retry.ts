import { setTimeout as sleep } from "node:timers/promises";
import { BeamlineError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { isTransientNatsError } from "./transient.js";

/** Options of {@link retryTransientStart}. */
export interface StartRetryOptions {
  /** What is being started, for the log and the final error, e.g. "beamline roles worker". */
  what: string;
  /** How long transient failures are retried, in milliseconds, counted from the first try. */
  windowMs: number;
  log: Logger;
  /** First pause between tries, in milliseconds; doubled after each, up to 5 000. Default 250. */
  firstDelayMs?: number;
}

/**
 * Runs `start` until it succeeds, retrying while it fails with a transient NATS error (a
 * JetStream API timeout, no responders, no meta or stream leader yet) and `windowMs` has not
 * passed. `start` must clean up after itself when it throws, so every try begins from nothing.
 *
 * Why: a role's start-up makes some thirty JetStream and KV calls (streams, buckets, watches,
 * consumers), each bounded by nats.js's 5 s API timeout. On a saturated machine or a cluster
 * mid-election one of them times out now and then, and the process died on it, leaving its
 * supervisor to restart it. Retrying the whole start is simpler than guarding each call, and
 * correct because every start-up call is idempotent (create-if-missing, open, watch).
 *
 * When the window is spent the last failure is thrown as `BL_NATS_UNAVAILABLE`, naming what
 * could not start; a non-transient failure is thrown at once, as it is.
 */
export async function retryTransientStart<T>(
  start: () => Promise<T>,
  options: StartRetryOptions,
): Promise<T> {
  const deadline = Date.now() + options.windowMs;
  let delayMs = options.firstDelayMs ?? 250;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start();
    } catch (error) {
      if (!isTransientNatsError(error)) throw error;
      if (Date.now() + delayMs > deadline) {
        throw new BeamlineError(
          "BL_NATS_UNAVAILABLE",
          `${options.what} could not start: NATS did not answer a start-up request within ${options.windowMs} ms (${attempt} tries); check that the NATS servers run and, on a cluster, that a majority is up.`,
          { cause: error },
        );
      }
      options.log.warn(
        { err: error, attempt, retryInMs: delayMs },
        `${options.what}: a start-up NATS request failed transiently; starting again`,
      );
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 5_000);
    }
  }
}
