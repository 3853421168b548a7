import { ConsumerNames, StreamNames } from "../../streams/definitions.js";
import { type BeamlineError, isBeamlineError } from "../errors/index.js";
import {
  type BeamlineEvent,
  causedBy,
  isEvent,
  makeEvent,
  RequestSlots,
  requestSubject,
} from "../events/index.js";
import { decideRoute } from "../routing/index.js";
import { type AcceptedEvent, endRequest, type StageDeps } from "./context.js";
import type { StageHandler } from "./runner.js";
import { failedEvent } from "./terminal.js";

/** route: request.accepted → route.decided (or request.failed when nothing can serve it). */
export function routeStage(deps: StageDeps): StageHandler {
  const fail = async (accepted: AcceptedEvent, error: BeamlineError) => {
    await endRequest(deps, accepted, failedEvent(accepted, "route", error, 0, deps.now()));
  };
  return {
    name: ConsumerNames.route,
    stream: StreamNames.requests,
    async handle(event: BeamlineEvent) {
      if (!isEvent(event, "request.accepted")) return;
      let decision: ReturnType<typeof decideRoute>;
      try {
        decision = decideRoute(event.data.request, deps.catalog);
      } catch (error) {
        if (!isBeamlineError(error)) throw error;
        await fail(event, error);
        return;
      }
      const decided = makeEvent(
        "route.decided",
        `${event.requestId}:${RequestSlots.decided}`,
        causedBy(event),
        decision,
        deps.now(),
      );
      await deps.store.append(requestSubject(event.tenant, event.requestId, RequestSlots.decided), decided, {
        once: true,
      });
    },
    async giveUp(event, error) {
      if (isEvent(event, "request.accepted")) await fail(event, error);
    },
  };
}
