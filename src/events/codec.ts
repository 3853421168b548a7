import { Decoder, Encoder } from "cbor-x";
import { BeamlineError } from "../errors/index.js";
import { type Envelope, envelopeSchema } from "./envelope.js";
import { jsonNestingExceeds, MAX_EVENT_DEPTH, valueNestingExceeds } from "./nesting.js";
import { type EventData, type EventType, EventTypes, isEventType } from "./registry.js";
import { markValidated, validateEvent } from "./validated.js";

/**
 * Events travel as CBOR (standard, no cbor-x record extension, so any language can read
 * them). Type and version are repeated in headers so a consumer can route or skip a message
 * without decoding it. Producers outside Beamline may send JSON instead, with
 * `content-type: application/json`.
 */
export const EventHeaders = {
  type: "bl-type",
  version: "bl-v",
  tenant: "bl-tenant",
  requestId: "bl-request",
  contentType: "content-type",
  traceparent: "traceparent",
} as const;

export const CBOR_CONTENT_TYPE = "application/cbor";
export const JSON_CONTENT_TYPE = "application/json";

const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** A fully typed event of type T (envelope plus validated data). */
export type BeamlineEvent<T extends EventType = EventType> = Omit<Envelope, "type" | "data"> & {
  type: T;
  data: EventData<T>;
};

export interface EncodedEvent {
  payload: Uint8Array;
  /** Header name → value; the NATS adapter turns these into message headers. */
  headers: Record<string, string>;
}

/** Reads one header of a message; adapters pass their own header accessor. */
export type HeaderReader = { get(name: string): string };

/**
 * Serialises an event. An event the factory did not make (or that was changed since) is
 * validated first, so nothing invalid is ever written: readers trust what Beamline signed.
 */
export function encodeEvent<T extends EventType>(event: BeamlineEvent<T>): EncodedEvent {
  const valid = validateEvent(event);
  return encodeValid(valid, valid.data);
}

/**
 * Serialises a valid event with `storedData` in place of its data: the stored form the content
 * vault makes of it (content fields replaced by their `atRest` record). `event` is validated as
 * {@link encodeEvent} does; `storedData` is the caller's derivation of its data.
 */
export function encodeEventWithData(event: BeamlineEvent, storedData: unknown): EncodedEvent {
  return encodeValid(validateEvent(event), storedData);
}

function encodeValid(event: BeamlineEvent, data: unknown): EncodedEvent {
  const headers: Record<string, string> = {
    [EventHeaders.type]: event.type,
    [EventHeaders.version]: String(event.v),
    [EventHeaders.tenant]: event.tenant,
    [EventHeaders.contentType]: CBOR_CONTENT_TYPE,
  };
  if (event.requestId) headers[EventHeaders.requestId] = event.requestId;
  if (event.traceparent) headers[EventHeaders.traceparent] = event.traceparent;
  const stored = data === event.data ? event : { ...event, data };
  return { payload: encoder.encode(stored), headers };
}

/**
 * Reads an event from a message: decodes CBOR or JSON, upcasts old versions to the current
 * one and validates. Throws `BL_EVENT_INVALID` / `BL_EVENT_VERSION_UNSUPPORTED` for poison.
 * `trusted`: the caller found the message's `bl-sig` valid for this deployment's key, so an
 * event at its type's current version is taken as written (see {@link decodeTrustedEvent}).
 */
export function decodeEvent(
  payload: Uint8Array,
  headers?: HeaderReader,
  options: { trusted?: boolean } = {},
): BeamlineEvent {
  if (options.trusted) {
    const event = decodeTrustedEvent(payload, headers);
    if (event) return event;
  }
  return upcastAndValidate(decodeEnvelope(payload, headers));
}

/**
 * Reads an event Beamline itself wrote — its signature checked by the caller — without
 * validating it again: the factory validated it before it was signed, and the signature proves
 * these are the bytes it signed. Only CBOR at the type's current version qualifies; anything
 * else (an old version to upcast, a type this reader does not know, JSON) returns undefined and
 * takes the full path. Saves the zod parse and the nesting walk on every consumer
 * (bench/RESULTS.md, "Event codec").
 */
export function decodeTrustedEvent(payload: Uint8Array, headers?: HeaderReader): BeamlineEvent | undefined {
  const contentType = headers?.get(EventHeaders.contentType) || headers?.get("Content-Type") || undefined;
  if (contentType !== undefined && contentType !== CBOR_CONTENT_TYPE) return undefined;
  let raw: unknown;
  try {
    raw = decoder.decode(payload);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null) return undefined;
  const { type, v, data } = raw as { type?: unknown; v?: unknown; data?: unknown };
  if (typeof type !== "string" || !isEventType(type) || v !== EventTypes[type].version) return undefined;
  if (typeof data !== "object" || data === null) return undefined;
  return markValidated(raw as BeamlineEvent);
}

/**
 * Reads an event's envelope as it was stored: the written schema version and `data` untouched
 * (no upcast, no validation of `data`). For readers that must show the record exactly, such as
 * an audit export. Throws `BL_EVENT_INVALID` when the payload or the envelope is not valid.
 */
export function decodeEnvelope(payload: Uint8Array, headers?: HeaderReader): Envelope {
  const contentType = headers?.get(EventHeaders.contentType) || headers?.get("Content-Type") || undefined;
  const raw = decodePayload(payload, contentType);
  const envelope = envelopeSchema.safeParse(raw);
  if (!envelope.success) {
    throw new BeamlineError("BL_EVENT_INVALID", `event envelope is invalid: ${envelope.error.message}`);
  }
  return envelope.data;
}

/** Upcasts an envelope's data to the current version of its type and validates it. */
export function upcastAndValidate(envelope: Envelope): BeamlineEvent {
  const { type } = envelope;
  if (!isEventType(type)) {
    throw new BeamlineError("BL_EVENT_INVALID", `unknown event type ${JSON.stringify(type)}`);
  }
  const spec = EventTypes[type];
  let data = envelope.data;
  let version = envelope.v;
  if (version > spec.version) {
    throw new BeamlineError(
      "BL_EVENT_VERSION_UNSUPPORTED",
      `${type} v${version} is newer than this Beamline understands (v${spec.version}); upgrade the reader`,
    );
  }
  while (version < spec.version) {
    const upcast = (spec.upcasters as Record<number, ((d: unknown) => unknown) | undefined>)[version];
    if (!upcast) {
      throw new BeamlineError("BL_EVENT_VERSION_UNSUPPORTED", `no upcaster for ${type} v${version}`);
    }
    data = upcast(data);
    version++;
  }
  const parsed = spec.schema.safeParse(data);
  if (!parsed.success) {
    throw new BeamlineError(
      "BL_EVENT_INVALID",
      `${type} v${version} data is invalid: ${parsed.error.message}`,
    );
  }
  return markValidated({ ...envelope, type, v: version, data: parsed.data } as BeamlineEvent);
}

function decodePayload(payload: Uint8Array, contentType: string | undefined): unknown {
  let value: unknown;
  try {
    // Media type without parameters, case-insensitive: `Application/JSON; charset=utf-8` is JSON.
    const mediaType = contentType?.split(";", 1)[0]?.trim().toLowerCase();
    if (mediaType === JSON_CONTENT_TYPE) {
      const text = new TextDecoder().decode(payload);
      if (jsonNestingExceeds(text, MAX_EVENT_DEPTH)) throw tooDeep();
      value = JSON.parse(text);
    } else {
      value = decoder.decode(payload);
    }
  } catch (error) {
    if (error instanceof BeamlineError) throw error;
    throw new BeamlineError(
      "BL_EVENT_INVALID",
      "event payload is neither valid CBOR nor, as declared, JSON",
      {
        cause: error,
      },
    );
  }
  // A decoded event is stored again (derived events carry the request): anything nested
  // deeper than an encoder's stack would be a poison message at the next write, so it is one now.
  if (valueNestingExceeds(value, MAX_EVENT_DEPTH)) throw tooDeep();
  return value;
}

function tooDeep(): BeamlineError {
  return new BeamlineError(
    "BL_EVENT_INVALID",
    `event payload nests more than ${MAX_EVENT_DEPTH} levels deep`,
  );
}

/** Narrows a decoded event to one type, for handlers that accept several. */
export function isEvent<T extends EventType>(event: BeamlineEvent, type: T): event is BeamlineEvent<T> {
  return event.type === type;
}
