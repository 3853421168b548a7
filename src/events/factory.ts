import type { BeamlineEvent } from "./codec.js";
import { type EventData, type EventType, EventTypes } from "./registry.js";

export interface EventContext {
  tenant: string;
  requestId: string;
  correlationId: string;
  causationId?: string;
  traceparent?: string;
}

/**
 * Builds an event at its type's current version. `id` must be deterministic for writes a
 * retry could repeat (the caller derives it from the request id and slot); `now` is passed
 * in so that code stays replayable.
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
  return event;
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
