import { z } from "zod";
import { BeamlineError } from "../src/errors/index.js";
import { type ContentState, type Envelope, EventTypes, isEventType } from "../src/events/index.js";
import { StreamNames } from "../src/nats/index.js";

/**
 * One line of a tenant history export (`beamline audit export`, `GET /admin/v1/tenants/{id}/events`):
 * one stored event as JSON, on one line. Documented field by field in docs/audit.md; a field is
 * added without breaking readers, never renamed or removed.
 */
export const auditLineSchema = z.object({
  /** The JetStream stream that stores the event: BL_REQUESTS, BL_QUOTA, BL_USAGE or BL_CONFIG. */
  stream: z.string(),
  /** The event's sequence in that stream: its place in the log, and what `audit verify` checks. */
  seq: z.number().int().positive(),
  subject: z.string(),
  /** When the server stored it (ISO-8601, millisecond precision); the order across streams. */
  storedAt: z.iso.datetime(),
  type: z.string(),
  /** The schema version the event was written with (the export never upcasts). */
  v: z.number().int().positive(),
  /** When the fact happened, from the writer's clock (ISO-8601). */
  time: z.string(),
  ids: z.object({
    event: z.string(),
    tenant: z.string(),
    /** Empty for configuration events. */
    request: z.string(),
    correlation: z.string(),
    causation: z.string().optional(),
  }),
  /** W3C trace context of the writer, when it had one. */
  traceparent: z.string().optional(),
  /**
   * What became of the event's prompt or completion (docs/security.md), on events that carry
   * one and only when the reader was asked to open content: `decrypted` (then `data` holds the
   * opened fields), `encrypted` (no master key here), `erased`, `hashes`, `none`, or `clear`.
   */
  content: z
    .object({
      state: z.enum(["clear", "decrypted", "encrypted", "erased", "hashes", "none"]),
      data: z.record(z.string(), z.unknown()).optional(),
    })
    .optional(),
  /** The event's data exactly as stored, never truncated; binary values as base64 strings. */
  data: z.unknown(),
});

/** A parsed export line. */
export type AuditLine = z.infer<typeof auditLineSchema>;

/** Where an event sits in the log, as the reader delivered it. */
export interface StoredPlace {
  stream: string;
  seq: number;
  subject: string;
  storedAt: string;
}

/** One event of a tenant's history: its place in the log and its envelope as stored. */
export interface HistoryRecord extends StoredPlace {
  envelope: Envelope;
  /** Set when the reader opened content: its state and, once decrypted, the opened fields. */
  content?: { state: ContentState; data?: Record<string, unknown> };
}

/** The export line of one record, without the trailing newline. */
export function auditLineOf(record: HistoryRecord): AuditLine {
  const { envelope } = record;
  const ids: AuditLine["ids"] = {
    event: envelope.id,
    tenant: envelope.tenant,
    request: envelope.requestId,
    correlation: envelope.correlationId,
  };
  if (envelope.causationId !== undefined) ids.causation = envelope.causationId;
  // Key order is the documented line order: data last, so a reader sees the ids first.
  return {
    stream: record.stream,
    seq: record.seq,
    subject: record.subject,
    storedAt: record.storedAt,
    type: envelope.type,
    v: envelope.v,
    time: envelope.time,
    ids,
    ...(envelope.traceparent !== undefined ? { traceparent: envelope.traceparent } : {}),
    ...(record.content ? { content: record.content } : {}),
    data: envelope.data,
  };
}

/**
 * JSON.stringify's replacer sees a Buffer already turned into `{ type, data: [...] }` by its
 * `toJSON`, so binary values are recognised on the holder (`this[key]`), before that happens.
 */
function binaryAsBase64(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) return Buffer.from(original).toString("base64");
  return value;
}

/** True when `value` holds a binary value anywhere (no Beamline event type has one today). */
function hasBinary(value: unknown): boolean {
  if (value === null || typeof value !== "object") return false;
  if (value instanceof Uint8Array) return true;
  if (Array.isArray(value)) return value.some(hasBinary);
  for (const key in value) if (hasBinary((value as Record<string, unknown>)[key])) return true;
  return false;
}

/**
 * The export line of one record as text (JSON, no trailing newline). A replacer makes
 * JSON.stringify several times slower, so it is used only for data that holds binary values.
 */
export function formatAuditLine(record: HistoryRecord): string {
  const line = auditLineOf(record);
  return hasBinary(line.data) ? JSON.stringify(line, binaryAsBase64) : JSON.stringify(line);
}

/** Which stream holds each kind of tenant fact; events of other types are not tenant history. */
const STREAM_OF_TYPE_PREFIX: ReadonlyArray<readonly [string, string]> = [
  ["request.", StreamNames.requests],
  ["route.", StreamNames.requests],
  ["attempt.", StreamNames.requests],
  ["extension.", StreamNames.requests],
  ["quota.", StreamNames.quota],
  ["usage.", StreamNames.usage],
  ["tenant.", StreamNames.config],
  ["apikey.", StreamNames.config],
  ["policy.", StreamNames.config],
];

/** The stream that holds events of `type` for a tenant, or undefined (catalog, provider health). */
export function tenantStreamOfType(type: string): string | undefined {
  return STREAM_OF_TYPE_PREFIX.find(([prefix]) => type.startsWith(prefix))?.[1];
}

/**
 * Parses `--types a,b` / `types=a,b`: known event types that belong to a tenant's history.
 * Throws `BL_BAD_REQUEST` naming every unknown or non-tenant type.
 */
export function parseEventTypes(value: string | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  const types = value
    .split(",")
    .map((type) => type.trim())
    .filter((type) => type.length > 0);
  if (types.length === 0) {
    throw new BeamlineError("BL_BAD_REQUEST", "types is empty: name at least one event type", {
      param: "types",
    });
  }
  const bad = types.filter((type) => !isEventType(type) || tenantStreamOfType(type) === undefined);
  if (bad.length > 0) {
    const known = Object.keys(EventTypes).filter((type) => tenantStreamOfType(type) !== undefined);
    throw new BeamlineError(
      "BL_BAD_REQUEST",
      `not an event type of a tenant's history: ${bad.join(", ")} (known: ${known.join(", ")})`,
      { param: "types" },
    );
  }
  return new Set(types);
}
