import { z } from "zod";
import { chatRequestSchema } from "../chat/wire.js";

/**
 * One zod schema per event type and version. Adding a field that readers may ignore keeps
 * the version; changing meaning or removing a field adds a version and an upcaster.
 */

const usageSchema = z.object({
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  cachedTokens: z.number().int().nonnegative(),
});

/** The OpenAI-shaped completion, kept loose: providers add fields we must not drop. */
const completionSchema = z.looseObject({
  id: z.string(),
  object: z.literal("chat.completion"),
  created: z.number(),
  model: z.string(),
  choices: z.array(z.looseObject({ index: z.number(), finish_reason: z.string().nullable() })),
});

const errorSchema = z.object({
  code: z.string(),
  message: z.string(),
  httpStatus: z.number().int(),
  type: z.string(),
});

export const requestAcceptedV1 = z.object({
  request: chatRequestSchema,
  /** How the request came in: the OpenAI HTTP front door, or straight onto NATS. */
  frontDoor: z.enum(["openai", "anthropic", "nats"]),
  stream: z.boolean(),
  /** Id of the API key that authenticated the request (never the key itself). */
  apiKeyId: z.string().optional(),
  /** Core NATS subject where the waiting client gets chunks and the terminal event. */
  replyTo: z.string().optional(),
});

export const candidateSchema = z.object({
  provider: z.string(),
  /** Beamline's model id from the catalog. */
  model: z.string(),
  /** The model name the provider knows. */
  upstreamModel: z.string(),
  score: z.number(),
  reason: z.string(),
});

export const routeDecidedV1 = z.object({
  policy: z.string(),
  catalogVersion: z.string(),
  /** Ranked best first; execution tries them in order. */
  candidates: z.array(candidateSchema).min(1),
});

const attemptBase = z.object({
  attempt: z.number().int().positive(),
  provider: z.string(),
  model: z.string(),
  upstreamModel: z.string(),
  startedAt: z.string(),
  durationMs: z.number().nonnegative(),
  streamed: z.boolean(),
});

export const attemptSucceededV1 = attemptBase.extend({
  timeToFirstTokenMs: z.number().nonnegative(),
  usage: usageSchema,
  completion: completionSchema,
});

export const attemptFailedV1 = attemptBase.extend({
  errorClass: z.string(),
  error: errorSchema,
  providerStatus: z.number().int().optional(),
  retryable: z.boolean(),
  /** True when no further attempt follows: the request fails with this error. */
  final: z.boolean(),
  /** Tokens the provider had already produced (a stream cut mid-way); billed. */
  usage: usageSchema.optional(),
  /** Whether chunks of this attempt already reached the client. */
  chunksSent: z.number().int().nonnegative(),
});

export const requestCompletedV1 = z.object({
  /** Copied from request.accepted so billing needs no second read. */
  apiKeyId: z.string().optional(),
  completion: completionSchema,
  provider: z.string(),
  model: z.string(),
  usage: usageSchema,
  attempts: z.number().int().positive(),
});

export const requestFailedV1 = z.object({
  apiKeyId: z.string().optional(),
  /** The stage that ended the request: route, execute, ... */
  stage: z.string(),
  error: errorSchema,
  provider: z.string().optional(),
  model: z.string().optional(),
  /** Tokens consumed before the failure (a stream cut mid-way); billed. */
  usage: usageSchema.optional(),
  attempts: z.number().int().nonnegative(),
});

export const usageRecordedV1 = z.object({
  outcome: z.enum(["completed", "failed"]),
  apiKeyId: z.string().optional(),
  provider: z.string(),
  model: z.string(),
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  cachedTokens: z.number().int().nonnegative(),
  /** Cost in billionths of a US dollar (an integer, so sums are exact). */
  costNanoUsd: z.number().int().nonnegative(),
  /** The same cost as a decimal string, for people and spreadsheets. */
  costUsd: z.string(),
  catalogVersion: z.string(),
  prices: z.object({
    inputPerMTokUsd: z.number().nonnegative(),
    outputPerMTokUsd: z.number().nonnegative(),
    cachedInputPerMTokUsd: z.number().nonnegative(),
  }),
});

export const tenantCreatedV1 = z.object({ name: z.string() });

export const apiKeyIssuedV1 = z.object({
  keyId: z.string(),
  /** SHA-256 of the key, hex: the key itself is shown once and never stored. */
  keyHash: z.string().regex(/^[0-9a-f]{64}$/),
  /** First characters of the key, to recognise it in listings. */
  keyPrefix: z.string().max(16),
  label: z.string().optional(),
});

export const apiKeyRevokedV1 = z.object({ keyId: z.string(), keyHash: z.string().regex(/^[0-9a-f]{64}$/) });

/**
 * One pipeline step's outcome (`src/extensions`). Holds counts and a summary of what changed,
 * never the text: a masked e-mail is recorded as `{ "masked.email": 1 }`.
 */
export const extensionAppliedV1 = z.object({
  stage: z.enum(["pre", "validate", "post"]),
  /** Position of the step within its stage, from 0; also the slot's last token. */
  index: z.number().int().nonnegative(),
  name: z.string(),
  version: z.string(),
  kind: z.enum(["builtin", "external", "unresolved"]),
  /** `error`: the step failed or timed out and `failureMode` decided what happened next. */
  verdict: z.enum(["allow", "modify", "reject", "error"]),
  failureMode: z.enum(["fail-open", "fail-closed"]),
  reason: z.string().optional(),
  summary: z.string().optional(),
  changes: z.record(z.string(), z.number().int().nonnegative()).optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  streamed: z.boolean().optional(),
  durationMs: z.number().nonnegative(),
});
