import type { BeamlineError } from "../errors/index.js";
import type { BeamlineEvent } from "../events/index.js";
import { causedBy, type EventData, makeEvent, RequestSlots } from "../events/index.js";
import type { AcceptedEvent } from "./context.js";

/** The id of a request's terminal event: one per request, whichever outcome. */
export const terminalEventId = (requestId: string) => `${requestId}:${RequestSlots.terminal}`;

type FailedData = EventData<"request.failed">;

/** What a request.failed may say besides its error; every field optional. */
export type FailureDetails = Partial<
  Pick<
    FailedData,
    | "provider"
    | "model"
    | "usage"
    | "catalogVersion"
    | "quotaReserved"
    | "retryAfterMs"
    | "responseHeaders"
    | "extension"
    | "hedgeExtra"
  >
> & { cause?: BeamlineEvent };

/** A request.failed event for `error`, caused by `details.cause` (default: the accepted event). */
export function failedEvent(
  accepted: AcceptedEvent,
  stage: string,
  error: BeamlineError,
  attempts: number,
  now: Date,
  details: FailureDetails = {},
): BeamlineEvent<"request.failed"> {
  const { cause, ...rest } = details;
  const data: FailedData = {
    stage,
    error: { code: error.code, message: error.message, httpStatus: error.httpStatus, type: error.type },
    attempts,
  };
  if (accepted.data.apiKeyId !== undefined) data.apiKeyId = accepted.data.apiKeyId;
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined) (data as Record<string, unknown>)[key] = value;
  }
  if (data.retryAfterMs === undefined && error.retryAfterMs !== undefined) {
    data.retryAfterMs = Math.ceil(error.retryAfterMs);
  }
  return makeEvent(
    "request.failed",
    terminalEventId(accepted.requestId),
    causedBy(cause ?? accepted),
    data,
    now,
  );
}
