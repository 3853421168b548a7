import type { ChatRequest } from "../chat/wire.js";
import type { QuotaExceededError } from "../quotas/index.js";
import { rejectionHeaders } from "../quotas/index.js";
import type { VersionedPolicy } from "../routing/policy/document.js";
import type { AcceptedEvent, WorkerDeps } from "./context.js";
import type { DecidedEvent } from "./route.js";

export type QuotaOutcome =
  | { admitted: true; reserved: boolean }
  | { admitted: false; error: QuotaExceededError; headers: Record<string, string> };

/** Output tokens reserved when neither the request nor the model names a maximum. */
const DEFAULT_OUTPUT_TOKENS = 4_096;

/**
 * Quota admission, after routing (the estimate needs a price): the tenant's limits (policy)
 * and the key's reserve the estimate — prompt tokens plus the request's max tokens, at the
 * first candidate's price — through the log-serialised ledger (docs/quotas.md). Idempotent
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
  const apiKeyId = accepted.data.apiKeyId;
  const keyLimits = apiKeyId === undefined ? undefined : deps.keys.lookupBy(apiKeyId)?.limits;
  const first = decided.data.candidates[0]!;
  const model = deps.catalog().resolve(first.model);
  if (!model) return { admitted: true, reserved: false };
  const promptTokens = decided.data.estimate?.promptTokens ?? 0;
  const maxTokens =
    request.max_completion_tokens ?? request.max_tokens ?? model.maxOutputTokens ?? DEFAULT_OUTPUT_TOKENS;
  const result = await deps.quotas.admit({
    cause: decided,
    apiKeyId,
    limits: { tenant: policy.document.limits, ...(keyLimits ? { key: keyLimits } : {}) },
    promptTokens,
    maxTokens,
    candidate: { provider: first.provider, model },
    catalogVersion: decided.data.catalogVersion,
  });
  const labels = { tenant: accepted.tenant, policy_version: String(policy.version) };
  if (!result.admitted) {
    deps.metrics.admissions.inc({ ...labels, outcome: `refused_${result.error.rejection.limit}` });
    return { admitted: false, error: result.error, headers: rejectionHeaders(result.error) };
  }
  if (result.reservation !== undefined) deps.metrics.admissions.inc({ ...labels, outcome: "admitted" });
  return { admitted: true, reserved: result.reservation !== undefined };
}
