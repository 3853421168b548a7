import { BeamlineError, type ErrorCode } from "../errors/index.js";
import { causedBy, type EventData, isEvent, makeEvent, requireContent } from "../events/index.js";
import { ExecutionErrorClass } from "../execution/index.js";
import type { AcceptedEvent, TerminalEvent } from "./context.js";
import type { AttemptEvent } from "./execute.js";
import { failedEvent, terminalEventId } from "./terminal.js";

/** A hedge loser as the terminal event carries it. */
export type HedgeExtra = NonNullable<EventData<"request.completed">["hedgeExtra"]>[number];

/** What the finish step copies onto the terminal event for billing. */
export interface FinishFacts {
  catalogVersion: string;
  quotaReserved: boolean;
  /** The rate limits as admission left them; a completion carries them to the gateway. */
  rateLimits?: EventData<"request.completed">["rateLimits"] | undefined;
}

/**
 * The finish step: the request's final attempt → its terminal event. A success becomes
 * request.completed (the completion carries Beamline's request id and catalog model id; an
 * embeddings answer its catalog model id)
 * unless a post-processing extension refused it; a final failure becomes request.failed,
 * with the partial usage a cut stream produced (billed).
 */
export function terminalForAttempt(
  accepted: AcceptedEvent,
  attempt: AttemptEvent,
  facts: FinishFacts,
  now: Date,
  hedge: { hedgeExtra?: HedgeExtra[] } = {},
): TerminalEvent {
  const billing = {
    catalogVersion: facts.catalogVersion,
    ...(facts.quotaReserved ? { quotaReserved: true } : {}),
    ...(hedge.hedgeExtra?.length ? { hedgeExtra: hedge.hedgeExtra } : {}),
  };
  if (isEvent(attempt, "attempt.succeeded")) {
    const rejection = attempt.data.postRejection;
    if (rejection) {
      const { error } = rejection;
      return failedEvent(accepted, "post", storedError(error), attempt.data.attempt, now, {
        cause: attempt,
        provider: attempt.data.provider,
        model: attempt.data.model,
        usage: attempt.data.usage,
        extension: rejection.extension,
        ...billing,
      });
    }
    const answer =
      accepted.data.operation === "embeddings"
        ? { embeddings: { ...requireContent(attempt.data.embeddings, attempt), model: attempt.data.model } }
        : {
            completion: {
              ...requireContent(attempt.data.completion, attempt),
              id: attempt.requestId,
              model: attempt.data.model,
            },
          };
    const data: EventData<"request.completed"> = {
      ...answer,
      provider: attempt.data.provider,
      model: attempt.data.model,
      usage: attempt.data.usage,
      attempts: attempt.data.attempt,
      ...billing,
    };
    if (accepted.data.apiKeyId !== undefined) data.apiKeyId = accepted.data.apiKeyId;
    if (facts.rateLimits !== undefined) data.rateLimits = facts.rateLimits;
    return makeEvent("request.completed", terminalEventId(attempt.requestId), causedBy(attempt), data, now);
  }
  return failedEvent(accepted, "execute", storedError(attempt.data.error), attempt.data.attempt, now, {
    cause: attempt,
    provider: attempt.data.provider,
    model: attempt.data.model,
    ...(attempt.data.usage ? { usage: attempt.data.usage } : {}),
    ...(attempt.data.retryAfterMs !== undefined
      ? { retryAfterMs: Math.ceil(attempt.data.retryAfterMs) }
      : {}),
    ...billing,
  });
}

/**
 * The attempts of a hedged race that lost and were cancelled, with what each ran up (the
 * provider's report, or Beamline's count, flagged): billed on the request's one usage record
 * next to the answer. Only `hedge_lost` attempts: any other failure is the request's own
 * history and carries no usage unless it ends the request.
 */
export function hedgeExtrasOf(attempts: readonly AttemptEvent[]): HedgeExtra[] {
  const extras: HedgeExtra[] = [];
  for (const event of attempts) {
    if (!isEvent(event, "attempt.failed") || event.data.errorClass !== ExecutionErrorClass.HedgeLost)
      continue;
    const { attempt, provider, model, usage } = event.data;
    if (!usage || usage.promptTokens + usage.completionTokens === 0) continue;
    extras.push({ attempt, provider, model, ...usage, estimated: event.data.usageEstimated === true });
  }
  return extras;
}

function storedError(error: { code: string; message: string; httpStatus: number }): BeamlineError {
  return new BeamlineError(error.code as ErrorCode, error.message, { httpStatus: error.httpStatus });
}
