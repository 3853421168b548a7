import type { BeamlineError } from "../errors/index.js";
import type { BeamlineEvent } from "../events/index.js";
import { causedBy, type EventData, makeEvent, RequestSlots } from "../events/index.js";
import type { AcceptedEvent } from "./context.js";

/** The id of a request's terminal event: one per request, whichever outcome. */
export const terminalEventId = (requestId: string) => `${requestId}:${RequestSlots.terminal}`;

type Usage = NonNullable<EventData<"request.failed">["usage"]>;

/** A request.failed event for `error`, caused by `cause` (the accepted event or an attempt). */
export function failedEvent(
  accepted: AcceptedEvent,
  stage: string,
  error: BeamlineError,
  attempts: number,
  now: Date,
  details: { cause?: BeamlineEvent; provider?: string; model?: string; usage?: Usage } = {},
): BeamlineEvent<"request.failed"> {
  const data: EventData<"request.failed"> = {
    stage,
    error: { code: error.code, message: error.message, httpStatus: error.httpStatus, type: error.type },
    attempts,
  };
  if (accepted.data.apiKeyId !== undefined) data.apiKeyId = accepted.data.apiKeyId;
  if (details.provider !== undefined) data.provider = details.provider;
  if (details.model !== undefined) data.model = details.model;
  if (details.usage !== undefined) data.usage = details.usage;
  return makeEvent(
    "request.failed",
    terminalEventId(accepted.requestId),
    causedBy(details.cause ?? accepted),
    data,
    now,
  );
}
