import { BeamlineError } from "../errors/index.js";

/** What a client that got 503 because NATS is away is told to wait, in seconds. */
export const UNAVAILABLE_RETRY_AFTER_S = 1;

/**
 * The 503 of an `accepted` write that did not happen (`stored: "no"`, certain) or may have
 * happened (`"maybe"`) in time, naming the request so the client can look it up or retry it.
 */
export function unavailableError(
  requestId: string,
  stored: "no" | "maybe",
  appendTimeoutMs: number,
  cause?: unknown,
): BeamlineError {
  const retry = `retry after ${UNAVAILABLE_RETRY_AFTER_S} s`;
  const message =
    stored === "no"
      ? `Request ${requestId} was not stored: the router's connection to NATS is down. Nothing will run or be billed; ${retry}.`
      : `Request ${requestId} may have been stored: NATS did not confirm the write within ${appendTimeoutMs} ms, ` +
        `so it may still run and be billed. Retry with the same Idempotency-Key to get its outcome instead of running it twice (${retry}).`;
  return new BeamlineError("BL_NATS_UNAVAILABLE", message, {
    retryAfterMs: UNAVAILABLE_RETRY_AFTER_S * 1000,
    ...(cause === undefined ? {} : { cause }),
  });
}
