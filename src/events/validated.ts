import { BeamlineError } from "../errors/index.js";
import type { BeamlineEvent } from "./codec.js";
import { envelopeSchema } from "./envelope.js";
import { EventTypes, isEventType } from "./registry.js";

/**
 * Events known to match their schema: built by the factory (which validates), or read back with
 * this deployment's valid signature at the current schema version. Identity-based, so an event
 * is treated as immutable once made: a changed copy (`{ ...event, data }`) is a new object and
 * is validated again when it is encoded.
 */
const validated = new WeakSet<object>();

/** Records that `event` matches its schema; only for code that has just checked it (or its signature). */
export function markValidated<T extends object>(event: T): T {
  validated.add(event);
  return event;
}

/**
 * `event` checked against the envelope schema and its type's current schema, unless it is
 * already known valid. Returns the event as parsed (zod strips unknown keys and applies
 * defaults), marked valid. Throws `BL_EVENT_INVALID`, so nothing invalid is ever encoded or signed.
 */
export function validateEvent<T extends BeamlineEvent>(event: T): T {
  if (validated.has(event)) return event;
  const { type } = event;
  if (!isEventType(type)) {
    throw new BeamlineError("BL_EVENT_INVALID", `unknown event type ${JSON.stringify(type)}`);
  }
  const spec = EventTypes[type];
  if (event.v !== spec.version) {
    throw new BeamlineError(
      "BL_EVENT_INVALID",
      `${event.type} must be written at version ${spec.version}, got ${event.v}`,
    );
  }
  const envelope = envelopeSchema.safeParse(event);
  if (!envelope.success) {
    throw new BeamlineError("BL_EVENT_INVALID", `${type} envelope is invalid: ${envelope.error.message}`);
  }
  const data = spec.schema.safeParse(event.data);
  if (!data.success) {
    throw new BeamlineError("BL_EVENT_INVALID", `${type} v${event.v} data is invalid: ${data.error.message}`);
  }
  // The parsed envelope is already a fresh object: its data is replaced by the parsed data.
  const valid = envelope.data as T;
  valid.data = data.data as T["data"];
  return markValidated(valid);
}
