import { z } from "zod";
import { chatAnswerSchema, chatCompletionChunkSchema, chatRequestSchema } from "../../chat/index.js";
import { ProviderErrorClass } from "../types.js";

/**
 * The contract between Beamline and a custom provider served over NATS request-reply
 * (documented in docs/providers.md, "Custom providers over NATS"). Version 1.
 *
 * Beamline publishes one {@link ServiceRequest} to `bl.provider.<name>` with a fresh reply
 * inbox and the header `bl-provider-v: 1`. The service answers on that inbox:
 * - not streaming: one {@link ServiceFinal} or one {@link ServiceError};
 * - streaming: any number of {@link ServiceChunk}s numbered from 0 by `seq`, then exactly
 *   one {@link ServiceFinal} (whose `chunks` counts them) or one {@link ServiceError}.
 * Every message is UTF-8 JSON carrying `v` (the contract version) and `type`.
 */
export const CONTRACT_VERSION = 1;

/** Header carrying the contract version on requests, so a service can refuse what it does not speak. */
export const VERSION_HEADER = "bl-provider-v";

/** Subject prefix; a provider named `faq` is served on `bl.provider.faq`. */
export const SUBJECT_PREFIX = "bl.provider.";

/** The subject of the provider `name`. */
export function serviceSubject(name: string): string {
  return `${SUBJECT_PREFIX}${name}`;
}

const version = z.literal(CONTRACT_VERSION, { error: `v must be ${CONTRACT_VERSION}` });

/** Beamline → service: one call. */
export const serviceRequestSchema = z.looseObject({
  v: version,
  type: z.literal("request"),
  /** The model name the catalog maps to this provider (`upstreamModel`). */
  model: z.string().min(1),
  /** Whether the service should answer with chunks. */
  stream: z.boolean(),
  /** The canonical chat request (OpenAI's chat-completions shape). */
  request: chatRequestSchema,
});
export type ServiceRequest = z.infer<typeof serviceRequestSchema>;

const usageSchema = z.strictObject({
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  cachedTokens: z.number().int().nonnegative().default(0),
});

/** Service → Beamline (streaming only): one piece of the answer. */
export const serviceChunkSchema = z.strictObject({
  v: version,
  type: z.literal("chunk"),
  /** 0, 1, 2, … in publication order: a gap means a message was lost (core NATS is at-most-once). */
  seq: z.number().int().nonnegative(),
  /** A canonical `chat.completion.chunk`. */
  chunk: chatCompletionChunkSchema,
});
/** A chunk message as a service writes it. */
export type ServiceChunk = z.input<typeof serviceChunkSchema>;

/** Service → Beamline: the whole answer and its usage; ends the exchange. */
export const serviceFinalSchema = z.strictObject({
  v: version,
  type: z.literal("final"),
  /** A canonical `chat.completion` with at least one choice. */
  completion: chatAnswerSchema,
  usage: usageSchema,
  /** Number of chunks sent before (streaming); 0 or absent when not streaming. */
  chunks: z.number().int().nonnegative().default(0),
});
/** A final message as a service writes it (`usage.cachedTokens` and `chunks` may be left out). */
export type ServiceFinal = z.input<typeof serviceFinalSchema>;

/** Service → Beamline: the call failed; ends the exchange. */
export const serviceErrorSchema = z.strictObject({
  v: version,
  type: z.literal("error"),
  error: z.strictObject({
    /** Drives retry and failover exactly as an HTTP provider's errors do. */
    class: z.enum(Object.values(ProviderErrorClass) as [ProviderErrorClass, ...ProviderErrorClass[]]),
    /** Human text; must not contain secrets (it reaches logs and attempt events). */
    message: z.string().max(2_000),
    /** How long to wait before retrying, in milliseconds (rate limits). */
    retryAfterMs: z.number().int().nonnegative().optional(),
  }),
});
export type ServiceError = z.input<typeof serviceErrorSchema>;

/** Any message a service may send back. */
export const serviceReplySchema = z.discriminatedUnion("type", [
  serviceChunkSchema,
  serviceFinalSchema,
  serviceErrorSchema,
]);
export type ServiceReply = z.output<typeof serviceReplySchema>;
