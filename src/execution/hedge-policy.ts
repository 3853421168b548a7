import type { EventData } from "../events/index.js";
import type { HedgePolicy } from "../routing/index.js";

/** An attempt's part in a hedged pair, as its event records it. */
export type AttemptHedge = NonNullable<EventData<"attempt.failed">["hedge"]>;

/** Observed latencies a percentile deadline needs before it is trusted. */
export const MIN_HEDGE_SAMPLES = 20;

/** The deadline of a hedge, or why none could be chosen. */
export type HedgeDeadline =
  | { afterMs: number; basis: "fixed" | "percentile"; samples?: number }
  | { declined: "no_latency_data" };

/**
 * When to start the hedge of a first attempt (pure). `afterPercentile` reads the candidate's
 * observed times to first token (`observedMs`, any order) by nearest rank, once at least
 * {@link MIN_HEDGE_SAMPLES} are known; until then `afterMs`, when the policy gives one,
 * otherwise no hedge. The result is recorded on the attempt, so replay never needs the samples.
 */
export function hedgeDeadline(policy: HedgePolicy, observedMs: readonly number[]): HedgeDeadline {
  if (policy.afterPercentile !== undefined && observedMs.length >= MIN_HEDGE_SAMPLES) {
    const sorted = [...observedMs].sort((a, b) => a - b);
    const rank = Math.ceil((policy.afterPercentile / 100) * sorted.length);
    const afterMs = Math.max(1, Math.round(sorted[Math.min(sorted.length, rank) - 1]!));
    return { afterMs, basis: "percentile", samples: sorted.length };
  }
  if (policy.afterMs !== undefined) return { afterMs: policy.afterMs, basis: "fixed" };
  return { declined: "no_latency_data" };
}

/** What the tenant has used of its hedging caps, as the quota log folds it. */
export interface HedgeUsage {
  /** Hedges started in the last 60 s (reserved or settled). */
  hedgesLastMinute: number;
  /** Extra cost of hedging this UTC day, settled plus still reserved, in nano-USD. */
  extraCostNanoUsdToday: number;
}

/**
 * Whether one more hedge fits the tenant's caps (pure): one more start within
 * `maxHedgesPerMinute`, and the reserved extra cost (`reserveNanoUsd`, the hedge's estimate)
 * within `maxExtraCostUsdPerDay`. Absent caps do not restrict.
 */
export function decideHedgeBudget(
  policy: Pick<HedgePolicy, "maxHedgesPerMinute" | "maxExtraCostUsdPerDay">,
  usage: HedgeUsage,
  reserveNanoUsd: number,
): { allowed: true } | { allowed: false; reason: "max_hedges_per_minute" | "max_extra_cost_per_day" } {
  if (policy.maxHedgesPerMinute !== undefined && usage.hedgesLastMinute + 1 > policy.maxHedgesPerMinute)
    return { allowed: false, reason: "max_hedges_per_minute" };
  if (
    policy.maxExtraCostUsdPerDay !== undefined &&
    usage.extraCostNanoUsdToday + reserveNanoUsd > Math.round(policy.maxExtraCostUsdPerDay * 1e9)
  )
    return { allowed: false, reason: "max_extra_cost_per_day" };
  return { allowed: true };
}
