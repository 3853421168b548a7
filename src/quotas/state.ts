import { z } from "zod";
import { addToSeries, type BucketSeries, pruneSeries, QuotaWindows } from "./windows.js";

/**
 * A tenant's quota state: the fold of its `quota.*` events. One document per tenant holds the
 * tenant's and all its keys' counters, so one admission is one conditional write.
 */

const seriesSchema = z.record(z.string(), z.number());

const scopeUsageSchema = z.object({
  /** Admitted requests, per minute bucket. */
  requests: seriesSchema,
  /** Reserved-then-settled tokens, per minute bucket. */
  tokens: seriesSchema,
  /** Reserved-then-settled nano-USD, in day-window buckets. */
  spendDay: seriesSchema,
  /** The same, in month-window buckets. */
  spendMonth: seriesSchema,
});

const reservationSchema = z.object({
  apiKeyId: z.string().optional(),
  attempt: z.number().int().positive(),
  tokens: z.number().int().nonnegative(),
  costNanoUsd: z.number().int().nonnegative(),
  /** Time of the `quota.reserved` event: the buckets the amounts were counted in. */
  reservedAtMs: z.number(),
  expiresAtMs: z.number(),
});

const finishedSchema = z.object({
  outcome: z.enum(["settled", "expired"]),
  apiKeyId: z.string().optional(),
  attempt: z.number().int().positive(),
  reservedAtMs: z.number(),
  atMs: z.number(),
});

export const quotaStateSchema = z.object({
  tenant: z.string(),
  /** Stream sequence of the last folded event: the expected last sequence of the next write. */
  seq: z.number().int().nonnegative(),
  reservations: z.record(z.string(), reservationSchema),
  /** Settled or expired requests, kept {@link FINISHED_KEEP_MS} so repeats are recognised. */
  finished: z.record(z.string(), finishedSchema),
  tenantUsage: scopeUsageSchema,
  keyUsage: z.record(z.string(), scopeUsageSchema),
});

export type ScopeUsage = z.infer<typeof scopeUsageSchema>;
export type Reservation = z.infer<typeof reservationSchema>;
export type QuotaState = z.infer<typeof quotaStateSchema>;

/** How long a finished request is remembered: a settle repeated later than this is not recognised. */
export const FINISHED_KEEP_MS = 86_400_000;

export const emptyScopeUsage: ScopeUsage = Object.freeze({
  requests: {},
  tokens: {},
  spendDay: {},
  spendMonth: {},
});

export function emptyQuotaState(tenant: string): QuotaState {
  return { tenant, seq: 0, reservations: {}, finished: {}, tenantUsage: emptyScopeUsage, keyUsage: {} };
}

/** Use added to (or removed from) the windows. */
export interface Amounts {
  requests: number;
  tokens: number;
  costNanoUsd: number;
}

function addUsage(usage: ScopeUsage, atMs: number, amounts: Amounts): ScopeUsage {
  return {
    requests: addToSeries(usage.requests, QuotaWindows.minute, atMs, amounts.requests),
    tokens: addToSeries(usage.tokens, QuotaWindows.minute, atMs, amounts.tokens),
    spendDay: addToSeries(usage.spendDay, QuotaWindows.day, atMs, amounts.costNanoUsd),
    spendMonth: addToSeries(usage.spendMonth, QuotaWindows.month, atMs, amounts.costNanoUsd),
  };
}

function pruneUsage(usage: ScopeUsage, nowMs: number): ScopeUsage {
  return {
    requests: pruneSeries(usage.requests, QuotaWindows.minute, nowMs),
    tokens: pruneSeries(usage.tokens, QuotaWindows.minute, nowMs),
    spendDay: pruneSeries(usage.spendDay, QuotaWindows.day, nowMs),
    spendMonth: pruneSeries(usage.spendMonth, QuotaWindows.month, nowMs),
  };
}

function isEmptyUsage(usage: ScopeUsage): boolean {
  return (Object.values(usage) as BucketSeries[]).every((series) => Object.keys(series).length === 0);
}

/** Counts `amounts` at `atMs` for the tenant and, when given, the key. */
/** Adds (or, with negative amounts, removes) use to the tenant and key windows at `atMs`. */
export function charge(
  state: QuotaState,
  apiKeyId: string | undefined,
  atMs: number,
  amounts: Amounts,
): QuotaState {
  const next = { ...state, tenantUsage: addUsage(state.tenantUsage, atMs, amounts) };
  if (apiKeyId !== undefined) {
    next.keyUsage = {
      ...state.keyUsage,
      [apiKeyId]: addUsage(state.keyUsage[apiKeyId] ?? emptyScopeUsage, atMs, amounts),
    };
  }
  return next;
}

/** A copy of `record` without `key`. */
export function withoutKey<T>(record: Readonly<Record<string, T>>, key: string): Record<string, T> {
  const { [key]: _removed, ...rest } = record;
  return rest;
}

/** Drops buckets and finished requests that no window or repeat check can need at `nowMs`. */
/** Drops window buckets and finished entries that can no longer matter at `nowMs`. */
export function prune(state: QuotaState, nowMs: number): QuotaState {
  const keyUsage: Record<string, ScopeUsage> = {};
  for (const [keyId, usage] of Object.entries(state.keyUsage)) {
    const pruned = pruneUsage(usage, nowMs);
    if (!isEmptyUsage(pruned)) keyUsage[keyId] = pruned;
  }
  const finished: QuotaState["finished"] = {};
  for (const [requestId, entry] of Object.entries(state.finished)) {
    if (entry.atMs >= nowMs - FINISHED_KEEP_MS) finished[requestId] = entry;
  }
  return { ...state, tenantUsage: pruneUsage(state.tenantUsage, nowMs), keyUsage, finished };
}
