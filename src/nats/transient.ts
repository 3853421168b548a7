import { JetStreamApiCodes, JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import {
  ClosedConnectionError,
  NoRespondersError,
  PermissionViolationError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import { JetStreamPublishError } from "./jetstream-publisher.js";

/**
 * JetStream API error codes (`err_code`) of conditions that pass by themselves: JetStream not
 * (yet) enabled while a server starts, no meta leader to place a stream on, the cluster busy
 * electing. Status 503 answers are transient whatever their code.
 */
const TRANSIENT_API_CODES: ReadonlySet<number> = new Set([
  /** JetStream not enabled (the server is still starting). */
  10076,
  JetStreamApiCodes.JetStreamNotEnabledForAccount,
  /** No suitable peers for placement (too few servers up, e.g. mid-restart). */
  10005,
  /** JetStream system temporarily unavailable (no meta leader). */
  10008,
]);

function isStatusAnswer(error: Error): error is JetStreamError & { code: number } {
  return (
    error instanceof JetStreamError &&
    !(error instanceof JetStreamApiError) &&
    typeof (error as { code?: unknown }).code === "number"
  );
}

/** A JetStream API error's code and status, from nats.js's class or from our publisher's. */
function apiError(error: Error): { code: number; status: number } | undefined {
  if (error instanceof JetStreamPublishError) return { code: error.apiCode, status: error.apiStatus };
  if (error instanceof JetStreamApiError) return { code: error.code, status: error.status };
  return undefined;
}

/** Status of a JetStream status answer (a direct get's) meaning "nobody serves this now". */
const NO_RESPONDERS_STATUS = 503;

function isTransientItself(error: Error): boolean {
  if (error instanceof TimeoutError || error instanceof NoRespondersError) return true;
  if (error instanceof RequestError && error.isNoResponders()) return true;
  // A direct get answered by a status message (nats.js's JetStreamStatusError, not exported,
  // recognised by its exported base class and code): 503 while the stream has no leader.
  if (isStatusAnswer(error) && error.code === NO_RESPONDERS_STATUS) return true;
  const api = apiError(error);
  return api !== undefined && (api.status === 503 || TRANSIENT_API_CODES.has(api.code));
}

/**
 * Whether a NATS/JetStream failure is worth retrying with the same message id: no stream
 * leader yet (elections take seconds: JetStream not enabled, no responders), a timeout
 * waiting for the ack (a reconnecting connection shows as one), or a JetStream answer that
 * says "temporarily unavailable". Recognised by nats.js's error classes and JetStream's API
 * codes, following the `cause` chain: a `RequestError` wraps the timeout, nats.js's
 * `JetStreamNotEnabled` (not exported) wraps no responders or API code 10039, and a
 * `BeamlineError` from our publisher wraps nats.js's error. A closed connection is final.
 */
export function isTransientNatsError(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current instanceof Error && !seen.has(current)) {
    if (current instanceof ClosedConnectionError) return false;
    if (isTransientItself(current)) return true;
    seen.add(current);
    current = current.cause;
  }
  return false;
}

/** JetStream API code for "wrong last sequence" (an expected-sequence check failed). */
export const WRONG_LAST_SEQUENCE = JetStreamApiCodes.StreamWrongLastSequence;

/** Whether a publish failed its expected-sequence check: another writer got there first. */
export function isWrongLastSequence(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = apiError(error)?.code;
  return code === WRONG_LAST_SEQUENCE || code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
}

/**
 * Whether nats-server refused an operation for the credential's permissions (a scoped reader
 * asking for a subject outside its scope). Recognised by nats.js's class along the `cause`
 * chain: a refused request surfaces as a `RequestError` wrapping it.
 */
export function isPermissionDenied(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current instanceof Error && !seen.has(current)) {
    if (current instanceof PermissionViolationError) return true;
    seen.add(current);
    current = current.cause;
  }
  return false;
}
