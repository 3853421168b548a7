import { ConsumerNames, StreamNames } from "../../streams/definitions.js";
import { BeamlineError, type ErrorCode } from "../errors/index.js";
import { type BeamlineEvent, causedBy, type EventData, isEvent, makeEvent } from "../events/index.js";
import { endRequest, loadAccepted, type StageDeps } from "./context.js";
import type { StageHandler } from "./runner.js";
import { failedEvent, terminalEventId } from "./terminal.js";

/**
 * finish: the final attempt → the request's terminal event (request.completed or
 * request.failed), then the waiting client is told. Non-final failed attempts are skipped:
 * the executor is already trying the next candidate.
 */
export function finishStage(deps: StageDeps): StageHandler {
  return {
    name: ConsumerNames.finish,
    stream: StreamNames.requests,
    async handle(event: BeamlineEvent) {
      if (isEvent(event, "attempt.succeeded")) {
        const accepted = await loadAccepted(deps, event.tenant, event.requestId);
        const completion = { ...event.data.completion, id: event.requestId, model: event.data.model };
        const data: EventData<"request.completed"> = {
          completion,
          provider: event.data.provider,
          model: event.data.model,
          usage: event.data.usage,
          attempts: event.data.attempt,
        };
        if (accepted.data.apiKeyId !== undefined) data.apiKeyId = accepted.data.apiKeyId;
        const completed = makeEvent(
          "request.completed",
          terminalEventId(event.requestId),
          causedBy(event),
          data,
          deps.now(),
        );
        await endRequest(deps, accepted, completed);
        return;
      }
      if (isEvent(event, "attempt.failed") && event.data.final) {
        const accepted = await loadAccepted(deps, event.tenant, event.requestId);
        const { error } = event.data;
        const cause = new BeamlineError(error.code as ErrorCode, error.message, {
          httpStatus: error.httpStatus,
        });
        const details: Parameters<typeof failedEvent>[5] = {
          cause: event,
          provider: event.data.provider,
          model: event.data.model,
        };
        if (event.data.usage) details.usage = event.data.usage;
        await endRequest(
          deps,
          accepted,
          failedEvent(accepted, "execute", cause, event.data.attempt, deps.now(), details),
        );
      }
    },
  };
}
