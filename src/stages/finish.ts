import { BeamlineError, type ErrorCode } from "../errors/index.js";
import { causedBy, type EventData, isEvent, makeEvent } from "../events/index.js";
import type { AcceptedEvent, TerminalEvent } from "./context.js";
import type { AttemptEvent } from "./execute.js";
import { failedEvent, terminalEventId } from "./terminal.js";

/**
 * The finish step: the request's final attempt → its terminal event. A success becomes
 * request.completed (the completion carries Beamline's request id and catalog model id);
 * a final failure becomes request.failed, with the partial usage a cut stream produced.
 */
export function terminalForAttempt(accepted: AcceptedEvent, attempt: AttemptEvent, now: Date): TerminalEvent {
  if (isEvent(attempt, "attempt.succeeded")) {
    const completion = { ...attempt.data.completion, id: attempt.requestId, model: attempt.data.model };
    const data: EventData<"request.completed"> = {
      completion,
      provider: attempt.data.provider,
      model: attempt.data.model,
      usage: attempt.data.usage,
      attempts: attempt.data.attempt,
    };
    if (accepted.data.apiKeyId !== undefined) data.apiKeyId = accepted.data.apiKeyId;
    return makeEvent("request.completed", terminalEventId(attempt.requestId), causedBy(attempt), data, now);
  }
  const { error } = attempt.data;
  const cause = new BeamlineError(error.code as ErrorCode, error.message, { httpStatus: error.httpStatus });
  const details: Parameters<typeof failedEvent>[5] = {
    cause: attempt,
    provider: attempt.data.provider,
    model: attempt.data.model,
  };
  if (attempt.data.usage) details.usage = attempt.data.usage;
  return failedEvent(accepted, "execute", cause, attempt.data.attempt, now, details);
}
