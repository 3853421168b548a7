import { BeamlineError, isBeamlineError } from "../errors/index.js";
import {
  type BeamlineEvent,
  causedBy,
  isSafeToken,
  makeEvent,
  RequestSlots,
  requestSubject,
} from "../events/index.js";
import { decideRoute } from "../routing/index.js";
import type { AcceptedEvent, StageDeps } from "./context.js";

export type DecidedEvent = BeamlineEvent<"route.decided">;

/**
 * The route step: request.accepted → route.decided, or the error that ends the request
 * (nothing can serve it). Deterministic for a given request and configuration, so a
 * redelivered request that lost its decision decides the same way again.
 */
export function decide(deps: StageDeps, accepted: AcceptedEvent): DecidedEvent | BeamlineError {
  try {
    const decision = decideRoute(accepted.data.request, deps.catalog);
    return makeEvent(
      "route.decided",
      `${accepted.requestId}:${RequestSlots.decided}`,
      causedBy(accepted),
      decision,
      deps.now(),
    );
  } catch (error) {
    if (isBeamlineError(error)) return error;
    throw error;
  }
}

/**
 * The subject is the authority (NATS permissions are granted on subjects): an envelope
 * whose tenant or request id differs from the subject it was stored under, or is not a
 * safe token, is poison and is dead-lettered without writing anything.
 */
export function assertStoredWhereItClaims(event: BeamlineEvent, subject: string): void {
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
