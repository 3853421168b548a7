import { z } from "zod";
import { catalogSchema } from "../catalog/index.js";
import {
  chatCompletionSchema,
  chatRequestSchema,
  embeddingsRequestSchema,
  embeddingsResultSchema,
} from "../chat/index.js";
import { quotaExpiredV1, quotaLimitsSchema, quotaReservedV1, quotaSettledV1 } from "../quotas/index.js";
import { policyDocumentSchema, routeDecidedV1 as routeDecidedContent } from "../routing/index.js";
import { atRestSchema } from "./content.js";

/**
 * One zod schema per event type and version. Adding a field that readers may ignore keeps
 * the version; changing meaning or removing a field adds a version and an upcaster.
 */

const usageSchema = z.object({
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  cachedTokens: z.number().int().nonnegative(),
});

/**
 * On a terminal event: an attempt of a hedged race that did not answer (a cancelled loser),
 * with what it ran up. Billing adds it to the request's one usage record (docs/reliability.md).
 */
const hedgeExtraSchema = usageSchema.extend({
  attempt: z.number().int().positive(),
  provider: z.string(),
  model: z.string(),
  /** True when the tokens are counted by Beamline: the provider reported nothing. */
  estimated: z.boolean(),
});

/** On `usage.recorded`: one hedge extra as billed, priced like the record itself. */
const usageExtraSchema = hedgeExtraSchema.extend({
  /** This attempt's cost in nano-USD; the record's `costNanoUsd` includes it. */
  costNanoUsd: z.number().int().nonnegative(),
  costUsd: z.string(),
  prices: z.object({
    inputPerMTokUsd: z.number().nonnegative(),
    outputPerMTokUsd: z.number().nonnegative(),
    cachedInputPerMTokUsd: z.number().nonnegative(),
  }),
});

/* ---- Response cache (docs/caching.md) ---- */

const cacheControlSchema = z.enum(["no-cache", "no-store"]);

/** On `request.completed`: whether the answer was a hit, and then where it came from and its discount. */
const cacheOutcomeSchema = z.object({
  status: z.enum(["hit", "miss", "bypass"]),
  /** For a hit: the request whose answer was served. */
  sourceRequestId: z.string().optional(),
  /** For a hit: the discount it is billed at, in percent (100 = free). */
  discountPercent: z.number().int().min(0).max(100).optional(),
});

/**
 * A request was answered from the response cache, without calling a provider
 * (`bl.req.<tenant>.<request>.cache`). Holds no content: the answer is on the terminal event.
 */
export const cacheHitV1 = z.object({
  /** The request whose stored answer was served. */
  sourceRequestId: z.string(),
  /** SHA-256 cache key (hex): equal for requests the cache treats as identical. */
  key: z.string().regex(/^[0-9a-f]{64}$/),
  provider: z.string(),
  model: z.string(),
  /** Percent off the answer's price (100 = free), from the tenant's policy at the hit. */
  discountPercent: z.number().int().min(0).max(100),
  /** Age of the stored answer at the hit, in milliseconds. */
  ageMs: z.number().int().nonnegative(),
});

const errorSchema = z.object({
  code: z.string(),
  message: z.string(),
  httpStatus: z.number().int(),
  type: z.string(),
});

/** The extension that ended a request (a rejection, or a failure under fail-closed). */
const extensionRefSchema = z.object({
  name: z.string(),
  version: z.string(),
  stage: z.enum(["pre", "validate", "post"]),
});

/** A post-processing extension refused a successful answer: the request fails with this error. */
export const postRejectionSchema = z.object({
  error: errorSchema,
  extension: extensionRefSchema,
});

/**
 * Where an event's content fields (src/events/content.ts) went when it was stored: sealed,
 * hashed or left out. Absent when the content is stored in the clear (history from before
 * encryption, a producer's own event) or when a reader opened it.
 */
const atRest = { atRest: atRestSchema.optional() };

/**
 * What a request asks for: a chat completion (every front door's chat dialects) or embeddings
 * (`POST /v1/embeddings`). Absent on `request.accepted` means `chat`: history from before
 * embeddings reads unchanged.
 */
export const operationSchema = z.enum(["chat", "embeddings"]);

export const requestAcceptedV1 = z.object({
  /** The chat request as sent. Absent when stored sealed and not opened (see `atRest`), and for embeddings. */
  request: chatRequestSchema.optional(),
  /** Absent means `chat`. */
  operation: operationSchema.optional(),
  /**
   * The embeddings request as sent, when `operation` is `embeddings` (then `request` is absent,
   * so a worker that predates embeddings refuses the request instead of running a chat). Content,
   * sealed like `request`.
   */
  embeddings: embeddingsRequestSchema.optional(),
  ...atRest,
  /**
   * How the request came in: an HTTP front door (OpenAI Chat Completions, Anthropic Messages,
   * OpenAI Responses) or straight onto NATS.
   */
  frontDoor: z.enum(["openai", "anthropic", "responses", "nats"]),
  stream: z.boolean(),
  /** Id of the API key that authenticated the request (never the key itself). */
  apiKeyId: z.string().optional(),
  /**
   * The producer that published the request on the ingress (`bl.in.<tenant>.<producerId>.…`),
   * copied by the ingress stage from the subject NATS let that producer publish on; whatever a
   * producer puts here itself is overwritten. Absent for gateway requests.
   */
  producerId: z.string().optional(),
  /** Core NATS subject where the waiting client gets chunks and the terminal event. */
  replyTo: z.string().optional(),
  /**
   * The waiting client reads `bl-live: chunks` messages (several chunks in one). Set by gateways
   * that do, so a worker never batches for a client that would drop them: an older gateway
   * during a rolling upgrade, or a producer (the ingress does not copy it).
   */
  batchedChunks: z.literal(true).optional(),
  /**
   * Responses API requests only (metadata, no content): how many leading messages of `request`
   * are its `instructions`, which a follow-up through `previous_response_id` leaves out, and
   * whether the client asked not to keep the response for follow-ups (`store: false`).
   */
  responses: z.object({ instructionMessages: z.number().int().nonnegative(), store: z.boolean() }).optional(),
  /** The client's cache controls (docs/caching.md): skip the look-up, or skip it and do not store. */
  cacheControl: cacheControlSchema.optional(),
});

// --- Hedged requests (docs/reliability.md) ---

/** Why no hedge was started for an attempt whose tenant hedges. */
export const HedgeDeclinedReasons = [
  "no_latency_data",
  "no_candidate",
  "max_hedges_per_minute",
  "max_extra_cost_per_day",
] as const;

/** An attempt's part in a hedged pair; absent when the tenant's policy does not hedge. */
export const attemptHedgeSchema = z.object({
  /** `primary`: the first attempt, which may be hedged; `hedge`: the one started at its deadline. */
  role: z.enum(["primary", "hedge"]),
  /** Milliseconds without a first token after which the hedge starts (absent: none could be chosen). */
  afterMs: z.number().nonnegative().optional(),
  /** Where `afterMs` came from: the policy's `afterMs`, or the percentile of observed latencies. */
  basis: z.enum(["fixed", "percentile"]).optional(),
  /** How many observed latencies the percentile was read from. */
  samples: z.number().int().nonnegative().optional(),
  /**
   * `won`: first to produce a token; `lost`: cancelled because the other won; `failed`: failed
   * before either produced a token; `not_needed`: the primary ended or produced its first token
   * before the deadline; `declined`: the deadline passed but no hedge started (`declined` says why).
   */
  outcome: z.enum(["won", "lost", "failed", "not_needed", "declined"]),
  declined: z.enum(HedgeDeclinedReasons).optional(),
  /** Attempt number of the other attempt of the pair. */
  pairedWith: z.number().int().positive().optional(),
});

/**
 * A hedge was reserved against the tenant's hedging caps (policy `hedge`), before it started.
 * Stored on the tenant's quota log (`bl.quota.<tenant>.<request>.hedge.<attempt>.reserved`),
 * whose expected-last-sequence writes make the caps hold across instances.
 */
export const hedgeReservedV1 = z.object({
  /** Attempt number the hedge runs as. */
  attempt: z.number().int().positive(),
  provider: z.string(),
  model: z.string(),
  /** Extra cost held until the hedge settles, in nano-USD: the prompt priced at the dearer input price of the pair. */
  estimateNanoUsd: z.number().int().nonnegative(),
});

/** A reserved hedge was settled with the extra cost it really added. */
export const hedgeSettledV1 = z.object({
  attempt: z.number().int().positive(),
  /**
   * The extra cost, in nano-USD: the usage of the attempt that did not answer (the loser, or
   * the hedge when neither answered) priced with the catalog; 0 when the hedge never started.
   */
  costNanoUsd: z.number().int().nonnegative(),
  /** The attempt whose usage `costNanoUsd` prices; absent when the hedge never started. */
  extraAttempt: z.number().int().positive().optional(),
  /** True when that usage was estimated (its provider reported none before the cancellation). */
  estimated: z.boolean(),
});

// --- end of hedged requests ---

const attemptBase = z.object({
  attempt: z.number().int().positive(),
  provider: z.string(),
  model: z.string(),
  upstreamModel: z.string(),
  startedAt: z.string(),
  durationMs: z.number().nonnegative(),
  streamed: z.boolean(),
  /** 0-based index of the tried candidate in route.decided (absent on events written before it existed). */
  candidate: z.number().int().nonnegative().optional(),
  /** Attempt number of the earlier try of the same candidate that this attempt retries. */
  retryOf: z.number().int().positive().optional(),
  /** Milliseconds waited (backoff, retry-after) before this attempt started. */
  backoffMs: z.number().nonnegative().optional(),
  /** True when this call was a half-open circuit breaker's probe. */
  probe: z.boolean().optional(),
  /** Candidates passed over (open breaker, probe slots taken) just before this attempt. */
  skipped: z.array(z.object({ provider: z.string(), model: z.string(), reason: z.string() })).optional(),
  /** The attempt's part in a hedged pair (see attemptHedgeSchema). */
  hedge: attemptHedgeSchema.optional(),
});

export const attemptSucceededV1 = attemptBase.extend({
  timeToFirstTokenMs: z.number().nonnegative(),
  usage: usageSchema,
  /**
   * The canonical completion (loose: fields providers add are kept), as post-processed by the
   * tenant's extensions (masked); the provider's raw text is not stored.
   */
  completion: chatCompletionSchema.optional(),
  /** The vectors of an embeddings request (floats), in place of `completion`. Content. */
  embeddings: embeddingsResultSchema.optional(),
  ...atRest,
  /** Set when a post-processing extension refused the answer: the request fails with it. */
  postRejection: postRejectionSchema.optional(),
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
  /** What the executor decided after this failure: try the same candidate again, the next one, or stop. */
  next: z.enum(["retry", "failover", "none"]).optional(),
  /** Backoff chosen for the retry when `next` is `retry`, in milliseconds (a resumed executor reuses it). */
  retryDelayMs: z.number().nonnegative().optional(),
  /** The provider's retry-after, in milliseconds, when it sent one. */
  retryAfterMs: z.number().nonnegative().optional(),
  /** True when `usage` is estimated from the streamed text (the provider never reported it). */
  usageEstimated: z.boolean().optional(),
});

/** One rate-limit dimension as admission left it: the limit, what remains, when it is whole again. */
const rateLimitStatusSchema = z.object({
  limit: z.number().nonnegative(),
  remaining: z.number().nonnegative(),
  /** When the window is back to its full allowance (ISO-8601). */
  resetAt: z.string(),
});

/** Request and token limits of the tighter of tenant and key, once this request was counted. */
export const rateLimitsSchema = z.object({
  requests: rateLimitStatusSchema.optional(),
  tokens: rateLimitStatusSchema.optional(),
});

export const requestCompletedV1 = z.object({
  /** Copied from request.accepted so billing needs no second read. */
  apiKeyId: z.string().optional(),
  /** Catalog version the request was routed (and is billed) with. */
  catalogVersion: z.string().optional(),
  /** True when admission reserved quota for the request: billing settles it. */
  quotaReserved: z.boolean().optional(),
  /**
   * The answer as the client receives it (the gateway sets `usage` from `usage` below). Absent
   * when stored sealed and not opened (see `atRest`); the waiting client always gets it.
   */
  completion: chatCompletionSchema.optional(),
  /**
   * The answer of an embeddings request (floats; the gateway encodes base64 when asked), in
   * place of `completion`, with Beamline's catalog model id. Content.
   */
  embeddings: embeddingsResultSchema.optional(),
  ...atRest,
  provider: z.string(),
  model: z.string(),
  usage: usageSchema,
  /** Provider calls made; 0 for an answer from the response cache. */
  attempts: z.number().int().nonnegative(),
  /**
   * The per-minute request and token limits as admission left them, when limits apply: the
   * gateway's `x-ratelimit-*` / `anthropic-ratelimit-*` headers, with no read of quota state.
   */
  rateLimits: rateLimitsSchema.optional(),
  /** What the response cache did (absent when the tenant's cache is off); see `cache.hit`. */
  cache: cacheOutcomeSchema.optional(),
  /** Hedged attempts that did not answer, billed on this request's usage record too. */
  hedgeExtra: z.array(hedgeExtraSchema).optional(),
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
  /** Catalog version the request was routed (and is billed) with, when it was routed. */
  catalogVersion: z.string().optional(),
  /** True when admission reserved quota for the request: billing settles it. */
  quotaReserved: z.boolean().optional(),
  /** When the client may retry (quota refusals, provider rate limits), in milliseconds. */
  retryAfterMs: z.number().int().nonnegative().optional(),
  /** Headers the HTTP answer carries: `retry-after`, `x-ratelimit-*` of a quota refusal. */
  responseHeaders: z.record(z.string(), z.string()).optional(),
  /** The extension that ended the request. */
  extension: extensionRefSchema.optional(),
  /** Hedged attempts that did not answer, billed on this request's usage record too. */
  hedgeExtra: z.array(hedgeExtraSchema).optional(),
});

export const usageRecordedV1 = z.object({
  outcome: z.enum(["completed", "failed"]),
  apiKeyId: z.string().optional(),
  provider: z.string(),
  model: z.string(),
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  cachedTokens: z.number().int().nonnegative(),
  /**
   * Cost in billionths of a US dollar (an integer, so sums are exact): the answer's, plus each
   * of `extra` when there is any.
   */
  costNanoUsd: z.number().int().nonnegative(),
  /** The same cost as a decimal string, for people and spreadsheets. */
  costUsd: z.string(),
  catalogVersion: z.string(),
  prices: z.object({
    inputPerMTokUsd: z.number().nonnegative(),
    outputPerMTokUsd: z.number().nonnegative(),
    cachedInputPerMTokUsd: z.number().nonnegative(),
  }),
  /** True when the answer came from the response cache: no provider was called for it. */
  cached: z.boolean().optional(),
  /** The cache hit's discount in percent (100 = free): the cost is the tokens' price less it. */
  cacheDiscountPercent: z.number().int().min(0).max(100).optional(),
  /**
   * The hedged attempts that did not answer (cancelled losers), each with its tokens, prices
   * and cost; the tokens above stay the answer's. Absent when the request was not hedged.
   */
  extra: z.array(usageExtraSchema).optional(),
});

export const tenantCreatedV1 = z.object({ name: z.string() });

export const apiKeyIssuedV1 = z.object({
  keyId: z.string(),
  /** SHA-256 of the key, hex: the key itself is shown once and never stored. */
  keyHash: z.string().regex(/^[0-9a-f]{64}$/),
  /** First characters of the key, to recognise it in listings. */
  keyPrefix: z.string().max(16),
  label: z.string().optional(),
  /** ISO time after which the key is refused; checked at request time, no event marks it. */
  expiresAt: z.iso.datetime().optional(),
  /** Catalog model ids or aliases the key may use; absent means every model. */
  models: z.array(z.string().min(1)).min(1).optional(),
  /** Per-key quota limits, enforced by admission. */
  limits: quotaLimitsSchema.optional(),
  /** The key this one replaced, when it was issued by a rotation. */
  rotatedFrom: z.string().optional(),
});

/** Identifies one provider/model whose circuit breaker changed state. */
const breakerTarget = z.object({ provider: z.string(), model: z.string() });

export const providerBreakerOpenedV1 = breakerTarget.extend({
  /** What tripped it: `consecutive_failures` or `error_rate`; `probe_failed` from half-open. */
  reason: z.enum(["consecutive_failures", "error_rate", "probe_failed"]),
  /** Event time of the attempt that tripped it (ISO-8601). */
  openedAt: z.string(),
  /** From this time on (ISO-8601) the breaker lets probes through (half-open). */
  openUntil: z.string(),
  consecutiveFailures: z.number().int().nonnegative(),
  /** Failed share of the attempts in the sliding window, 0..1. */
  errorRate: z.number().min(0).max(1),
  /** Id of the attempt event that caused the transition. */
  causeEventId: z.string(),
});

export const providerBreakerHalfOpenedV1 = breakerTarget.extend({
  /** When the cooldown ended (ISO-8601): the breaker's openUntil. */
  at: z.string(),
  causeEventId: z.string(),
});

export const providerBreakerClosedV1 = breakerTarget.extend({
  /** Event time of the successful probe that closed it (ISO-8601). */
  at: z.string(),
  causeEventId: z.string(),
});

export const apiKeyRevokedV1 = z.object({
  keyId: z.string(),
  keyHash: z.string().regex(/^[0-9a-f]{64}$/),
  /**
   * When the revocation takes effect: later than the event's time during a rotation's grace
   * period. Absent (older history) means at once, at the event's time.
   */
  effectiveAt: z.iso.datetime().optional(),
  /** Why: an operator's revocation, or a rotation that replaced the key. */
  reason: z.enum(["revoked", "rotated"]).optional(),
  /** The new key's id, for a rotation. */
  replacedBy: z.string().optional(),
});

export const tenantDisabledV1 = z.object({
  /** Why, for the audit trail. */
  reason: z.string().max(500).optional(),
});

export const tenantEnabledV1 = z.object({});

/** A producer credential was issued for the event's tenant (`bl.cfg.producer.<tenant>.<producerId>`). */
export const producerIssuedV1 = z.object({
  /** `pr-<hex>`: a subject token, the producer's identity on the ingress and its inbox. */
  producerId: z.string(),
  label: z.string().optional(),
  /** Catalog model ids or aliases the producer may use; absent means every model. */
  models: z.array(z.string().min(1)).min(1).optional(),
  /** Per-producer quota limits, enforced by admission like an API key's. */
  limits: quotaLimitsSchema.optional(),
  /** The credential may also read the tenant's usage stream (`bl.usage.<tenant>.>`). */
  readUsage: z.boolean(),
});

/** A producer credential was revoked: the ingress refuses its requests from then on. */
export const producerRevokedV1 = z.object({
  producerId: z.string(),
  reason: z.string().max(500).optional(),
});

/** A tenant's policy document was published; `version` is 1 for the first, then +1 each time. */
export const policyUpdatedV1 = z.object({
  version: z.number().int().positive(),
  policy: policyDocumentSchema,
});

/** A model catalog was published; `revision` counts publications (1, 2, ...), `catalog.version` names the document. */
export const catalogPublishedV1 = z.object({
  revision: z.number().int().positive(),
  catalog: catalogSchema,
});

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

/** `route.decided`; its `request` (the request as routed) is content. */
export const routeDecidedV1 = routeDecidedContent.extend(atRest);

/**
 * A tenant was erased: its data key is destroyed, so its sealed content can no longer be read
 * anywhere (streams, backups); usage and billing stay. The tenant takes no new requests.
 */
export const tenantErasedV1 = z.object({
  /** Why, for the audit trail. */
  reason: z.string().max(500).optional(),
  /** Whether a data key existed and was destroyed (false: the tenant never stored sealed content). */
  keyDestroyed: z.boolean(),
});

export { quotaExpiredV1, quotaReservedV1, quotaSettledV1 };
