import { z } from "zod";

/**
 * The inputs of the policy engine that other parts of Beamline produce: provider health (from
 * the health projection) and quota state (from admission). Kept minimal and in one file, so
 * adapting to what those projections publish is a change here only. Both are zod schemas
 * because decisions record them and `recomputeDecision` reads them back from events.
 */

export const BreakerStates = ["closed", "open", "half_open"] as const;
export type BreakerState = (typeof BreakerStates)[number];

export const modelHealthSchema = z.object({
  breaker: z.enum(BreakerStates),
  /** Exponentially weighted moving average of request latency, milliseconds. */
  latencyEwmaMs: z.number().nonnegative().optional(),
  /** 95th percentile of request latency over the projection's window, milliseconds. */
  p95Ms: z.number().nonnegative().optional(),
  /** Share of failed attempts over the projection's window, 0..1. */
  errorRate: z.number().min(0).max(1).optional(),
});

export const healthSnapshotSchema = z.object({
  /** Revision of the health projection this snapshot was read at; recorded on decisions. */
  revision: z.number().int().nonnegative(),
  /** Keyed by `provider/model` (Beamline model id). A model without an entry is healthy with unknown latency. */
  models: z.record(z.string(), modelHealthSchema),
});

export const quotaStateSchema = z.object({
  /** Revision of the quota state this was read at; recorded on decisions. */
  revision: z.number().int().nonnegative(),
  /**
   * Spend the tenant (and key) may still commit, nano-USD: the smallest remainder over every
   * spend budget that applies. Absent means no spend budget applies.
   */
  remainingSpendNanoUsd: z.number().int().optional(),
});

export type ModelHealth = z.infer<typeof modelHealthSchema>;
export type HealthSnapshot = z.infer<typeof healthSnapshotSchema>;
export type QuotaState = z.infer<typeof quotaStateSchema>;

/** The key of a model in a health snapshot. */
export function healthKey(provider: string, model: string): string {
  return `${provider}/${model}`;
}

/** A snapshot for deployments or tests without a health projection: every model healthy, latency unknown. */
export const EMPTY_HEALTH: HealthSnapshot = Object.freeze({ revision: 0, models: {} });
/** Quota state when no spend budget applies. */
export const NO_QUOTA: QuotaState = Object.freeze({ revision: 0 });
