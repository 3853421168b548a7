import { hasAnyLimit } from "../admission/index.js";
import type { CatalogModel } from "../catalog/index.js";
import type { ChatRequest } from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import type { EventData } from "../events/index.js";
import { contextFromTraceparent, endSpan, startSpan } from "../observability/index.js";
import type { QuotaExceededError, QuotaLimits, RateLimitInfo } from "../quotas/index.js";
import { admissionEstimate, rejectionHeaders } from "../quotas/index.js";
import type { VersionedPolicy } from "../routing/index.js";
import { type AcceptedEvent, stageNow, type WorkerDeps } from "./context.js";
import { LiveHeaders, LiveKinds } from "./live.js";
import type { DecidedEvent } from "./route.js";

export type QuotaOutcome =
  | {
      admitted: true;
      reserved: boolean;
      /** The limits as this admission left them, for the answer's rate-limit headers. */
      rateLimits?: EventData<"request.completed">["rateLimits"];
    }
  | { admitted: false; error: QuotaExceededError | BeamlineError; headers: Record<string, string> };

/** Output tokens reserved when neither the request nor the model names a maximum. */
const utf8 = new TextEncoder();
const DEFAULT_OUTPUT_TOKENS = 4_096;

/**
 * Quota admission, after routing (the estimate needs a price): the tenant's limits (policy)
 * and the key's reserve the estimate — prompt tokens plus the request's max tokens, at the
 * dearest candidate's price — through the log-serialised ledger (docs/quotas.md). Idempotent
 * per request: a redelivery finds its reservation and reserves nothing more. Without limits
 * nothing is written.
 */
export async function reserveQuota(
  deps: WorkerDeps,
  accepted: AcceptedEvent,
  decided: DecidedEvent,
  policy: VersionedPolicy,
  request: ChatRequest,
): Promise<QuotaOutcome> {
  // A producer's limits work exactly like a key's: the producer id is the "key" of its quota
  // windows (ids cannot collide: `key_…` and `pr-…`).
  const { producerId } = accepted.data;
  const apiKeyId = accepted.data.apiKeyId ?? producerId;
  const keyLimits =
    apiKeyId === undefined
      ? undefined
      : apiKeyId === producerId
        ? deps.producers.get(apiKeyId)?.limits
        : deps.keys.lookupBy(apiKeyId)?.limits;
  const limits = { tenant: policy.document.limits, ...(keyLimits ? { key: keyLimits } : {}) };
  if (!hasAnyLimit(limits, apiKeyId)) return { admitted: true, reserved: false };
  const promptTokens = decided.data.estimate?.promptTokens ?? 0;
  // The estimate is priced at the dearest candidate, not the first: execution may fail over
  // down the ranking, and a hard budget must hold whichever candidate ends up serving.
  let dearest: { provider: string; model: CatalogModel; maxTokens: number; costNanoUsd: number } | undefined;
  for (const candidate of decided.data.candidates) {
    const model = deps.catalog().resolve(candidate.model);
    if (!model) continue;
    // An embedding answers vectors: nothing but its input is counted or priced.
    const maxTokens =
      model.kind === "embedding"
        ? 0
        : (request.max_completion_tokens ??
          request.max_tokens ??
          model.maxOutputTokens ??
          DEFAULT_OUTPUT_TOKENS);
    const { costNanoUsd } = admissionEstimate(model, promptTokens, maxTokens);
    if (!dearest || costNanoUsd > dearest.costNanoUsd) {
      dearest = { provider: candidate.provider, model, maxTokens, costNanoUsd };
    }
  }
  if (!dearest) {
    // Limits apply but no candidate can be priced (the catalog changed since the decision):
    // refusing is the only way not to spend an unknown amount.
    const error = new BeamlineError(
      "BL_NO_ELIGIBLE_MODEL",
      `cannot price request ${decided.requestId} for quota admission: none of its candidates is in catalog ${deps.catalog().version}`,
    );
    return { admitted: false, error, headers: {} };
  }
  const span = startSpan(
    "beamline.quota admission",
    contextFromTraceparent(accepted.traceparent),
    "internal",
    {
      "beamline.tenant": accepted.tenant,
      "beamline.request_id": accepted.requestId,
    },
  );
  let result: Awaited<ReturnType<WorkerDeps["quotas"]["admit"]>>;
  try {
    result = await deps.quotas.admit({
      cause: decided,
      apiKeyId,
      limits,
      promptTokens,
      maxTokens: dearest.maxTokens,
      candidate: { provider: dearest.provider, model: dearest.model },
      catalogVersion: decided.data.catalogVersion,
    });
  } catch (error) {
    endSpan(span, error as Error);
    throw error;
  }
  span.setAttribute("beamline.quota.outcome", result.admitted ? "admitted" : result.error.rejection.limit);
  endSpan(span, result.admitted ? undefined : result.error);
  const labels = { tenant: accepted.tenant };
  if (!result.admitted) {
    deps.metrics.admissions.inc({ ...labels, outcome: `refused_${result.error.rejection.limit}` });
    observeRemaining(deps, accepted.tenant, limits, result.error.rejection.rateLimits);
    return { admitted: false, error: result.error, headers: rejectionHeaders(result.error) };
  }
  if (result.reservation !== undefined) deps.metrics.admissions.inc({ ...labels, outcome: "admitted" });
  observeRemaining(deps, accepted.tenant, limits, result.rateLimits);
  const rateLimits = storedRateLimits(result.rateLimits, stageNow(deps).getTime());
  return {
    admitted: true,
    reserved: result.reservation !== undefined,
    ...(rateLimits ? { rateLimits } : {}),
  };
}

/**
 * Tells the gateway waiting for a streamed answer the rate limits admission left, before the
 * provider's first chunk: a stream's headers go out with that chunk, long before
 * `request.completed` carries the same figures. A plain answer needs no notice (its headers
 * wait for the terminal event), nor does a request without limits. Core NATS, like every live
 * notice: a lost one only costs the stream its rate-limit headers.
 */
export function notifyRateLimits(deps: WorkerDeps, accepted: AcceptedEvent, quota: QuotaOutcome): void {
  const replyTo = accepted.data.replyTo;
  if (!replyTo || !accepted.data.stream || !quota.admitted || !quota.rateLimits) return;
  const limits = quota.rateLimits;
  deps.live.send(replyTo, {
    headers: { [LiveHeaders.kind]: LiveKinds.rateLimits },
    body: () => ({ payload: utf8.encode(JSON.stringify(limits)) }),
  });
}

/**
 * Rate-limit status with absolute reset times, so whoever answers later computes its own
 * `reset` durations. `nowMs` is read just after the decision, so a reset is at most the
 * decision's round trip late (a later reset: a client waiting for it never retries too early).
 */
function storedRateLimits(
  info: RateLimitInfo,
  nowMs: number,
): EventData<"request.completed">["rateLimits"] | undefined {
  const stored: NonNullable<EventData<"request.completed">["rateLimits"]> = {};
  for (const dimension of ["requests", "tokens"] as const) {
    const status = info[dimension];
    if (!status) continue;
    stored[dimension] = {
      limit: status.limit,
      remaining: status.remaining,
      resetAt: new Date(nowMs + status.resetMs).toISOString(),
    };
  }
  return stored.requests || stored.tokens ? stored : undefined;
}

/**
 * The tenant's remaining per-minute allowance, for tenants whose policy sets the limit. The
 * admission reports the tighter of the tenant's and the key's windows, so a dimension the key
 * limits too is left as it was: the value would be the key's, not the tenant's.
 */
function observeRemaining(
  deps: WorkerDeps,
  tenant: string,
  limits: { tenant?: QuotaLimits | undefined; key?: QuotaLimits | undefined },
  rateLimits: RateLimitInfo,
): void {
  if (limits.tenant?.requestsPerMinute !== undefined && limits.key?.requestsPerMinute === undefined) {
    if (rateLimits.requests)
      deps.metrics.quotaRemainingRequests.set({ tenant }, rateLimits.requests.remaining);
  }
  if (limits.tenant?.tokensPerMinute !== undefined && limits.key?.tokensPerMinute === undefined) {
    if (rateLimits.tokens) deps.metrics.quotaRemainingTokens.set({ tenant }, rateLimits.tokens.remaining);
  }
}
