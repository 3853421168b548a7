import { ConsumerNames, StreamNames } from "../../streams/definitions.js";
import { BeamlineError, isBeamlineError } from "../errors/index.js";
import {
  type BeamlineEvent,
  causedBy,
  isEvent,
  isSafeToken,
  makeEvent,
  RequestSlots,
  requestSubject,
} from "../events/index.js";
import { decideRoute } from "../routing/index.js";
import { type AcceptedEvent, endRequest, type StageDeps } from "./context.js";
import type { Delivery, StageHandler } from "./runner.js";
import { failedEvent } from "./terminal.js";

/** route: request.accepted → route.decided (or request.failed when nothing can serve it). */
export function routeStage(deps: StageDeps): StageHandler {
  const fail = async (accepted: AcceptedEvent, error: BeamlineError) => {
    await endRequest(deps, accepted, failedEvent(accepted, "route", error, 0, deps.now()));
  };
  return {
    name: ConsumerNames.route,
    stream: StreamNames.requests,
    async handle(event: BeamlineEvent, delivery: Delivery) {
      if (!isEvent(event, "request.accepted")) return;
      assertStoredWhereItClaims(event, delivery.subject);
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
      // An event that lies about its tenant must not make us write into that tenant's history.
      if (error.code === "BL_INVALID_TENANT_ID") return;
      if (isEvent(event, "request.accepted")) await fail(event, error);
    },
  };
}

/**
 * The subject is the authority (NATS permissions are granted on subjects): an envelope
 * whose tenant or request id differs from the subject it was stored under, or is not a
 * safe token, is poison and is dead-lettered without writing anything.
 */
function assertStoredWhereItClaims(event: BeamlineEvent, subject: string): void {
  const expected =
    isSafeToken(event.tenant) && isSafeToken(event.requestId)
      ? requestSubject(event.tenant, event.requestId, RequestSlots.accepted)
      : undefined;
  if (expected !== subject) {
    throw new BeamlineError(
      "BL_INVALID_TENANT_ID",
      `event ${event.id} names tenant ${JSON.stringify(event.tenant)} and request ${JSON.stringify(event.requestId)} but was stored on ${subject}`,
    );
  }
}
