import type { BeamlineEvent } from "./codec.js";
import { type EventData, type EventType, EventTypes } from "./registry.js";
import { validateEvent } from "./validated.js";

export interface EventContext {
  tenant: string;
  requestId: string;
  correlationId: string;
  causationId?: string;
  traceparent?: string;
}

/**
 * Builds an event at its type's current version, validated against its schema: this is where
 * an event is checked, once, so nothing invalid is ever signed, and readers trust a signed
 * event of the current version without parsing it again (docs/architecture.md). `id` must be
 * deterministic for writes a retry could repeat (the caller derives it from the request id and
 * slot); `now` is passed in so that code stays replayable. Throws `BL_EVENT_INVALID`.
 */
export function makeEvent<T extends EventType>(
  type: T,
  id: string,
  context: EventContext,
  data: EventData<T>,
  now: Date,
): BeamlineEvent<T> {
  const event: BeamlineEvent<T> = {
    id,
    type,
    v: EventTypes[type].version,
    tenant: context.tenant,
    requestId: context.requestId,
    correlationId: context.correlationId,
    time: now.toISOString(),
    data,
  };
  if (context.causationId !== undefined) event.causationId = context.causationId;
  if (context.traceparent !== undefined) event.traceparent = context.traceparent;
  return validateEvent(event);
}

/** The context for an event caused by `cause`, in the same request and trace. */
export function causedBy(cause: BeamlineEvent, traceparent?: string): EventContext {
  const context: EventContext = {
    tenant: cause.tenant,
    requestId: cause.requestId,
    correlationId: cause.correlationId,
    causationId: cause.id,
  };
  const trace = traceparent ?? cause.traceparent;
  if (trace !== undefined) context.traceparent = trace;
  return context;
}
