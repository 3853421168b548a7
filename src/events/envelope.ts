import { z } from "zod";

/**
 * The envelope every Beamline event carries. An event written twice by a redelivered stage
 * is stored once: a write-once slot's subject check refuses the repeat, and any other write
 * carries `id` as its JetStream message id (`Nats-Msg-Id`) for the duplicate window.
 */
export const envelopeSchema = z.object({
  /** Deterministic where a retry could repeat the write: `<requestId>:<slot>`. */
  id: z.string().min(1).max(200),
  /** Past-tense fact, `noun.verb`: `request.accepted`, `route.decided`, ... */
  type: z.string().min(1),
  /** Schema version of `data`; readers upcast older versions. */
  v: z.number().int().positive(),
  tenant: z.string().min(1),
  /** The request this event belongs to; empty for configuration events. */
  requestId: z.string(),
  /** Groups everything caused by one external action (a request and its retries). */
  correlationId: z.string(),
  /** Id of the event that caused this one; absent for an event caused from outside. */
  causationId: z.string().optional(),
  /** ISO 8601 time the fact happened, from the writer's clock. */
  time: z.string(),
  /** W3C trace context of the writer's span, so traces follow every NATS hop. */
  traceparent: z.string().optional(),
  data: z.unknown(),
});

export type Envelope = z.infer<typeof envelopeSchema>;

/** An envelope whose `data` has been validated against the schema of its type. */
export type TypedEnvelope<T extends string, D> = Omit<Envelope, "type" | "data"> & { type: T; data: D };
