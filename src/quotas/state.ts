import { z } from "zod";
import { type BeamlineEvent, isEvent } from "../events/index.js";
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

interface Amounts {
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
function charge(state: QuotaState, apiKeyId: string | undefined, atMs: number, amounts: Amounts): QuotaState {
  const next = { ...state, tenantUsage: addUsage(state.tenantUsage, atMs, amounts) };
  if (apiKeyId !== undefined) {
    next.keyUsage = {
      ...state.keyUsage,
      [apiKeyId]: addUsage(state.keyUsage[apiKeyId] ?? emptyScopeUsage, atMs, amounts),
    };
  }
  return next;
}

function withoutKey<T>(record: Readonly<Record<string, T>>, key: string): Record<string, T> {
  const { [key]: _removed, ...rest } = record;
  return rest;
}

/** Drops buckets and finished requests that no window or repeat check can need at `nowMs`. */
function prune(state: QuotaState, nowMs: number): QuotaState {
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

/**
 * The pure reducer (state, event, sequence) → state, shared by admission, the KV projector
 * and the rebuild, so live and rebuilt state cannot drift. Time comes only from the events.
 * Repeats are no-ops: a reservation already held, a settlement of a finished request, an
 * expiry of a reservation that is no longer held.
 */
export function reduceQuota(state: QuotaState, event: BeamlineEvent, sequence: number): QuotaState {
  const requestId = event.requestId;
  const atMs = Date.parse(event.time);
  let next = state;
  if (isEvent(event, "quota.reserved")) {
    const held = state.reservations[requestId];
    const done = state.finished[requestId];
    const repeat = held !== undefined || (done !== undefined && done.attempt >= event.data.attempt);
    if (!repeat) {
      const { tokens, costNanoUsd } = event.data.estimate;
      const reservation: Reservation = {
        attempt: event.data.attempt,
        tokens,
        costNanoUsd,
        reservedAtMs: atMs,
        expiresAtMs: Date.parse(event.data.expiresAt),
      };
      if (event.data.apiKeyId !== undefined) reservation.apiKeyId = event.data.apiKeyId;
      // A re-admission after expiry reserves amounts again but is still one request.
      const requests = event.data.attempt === 1 ? 1 : 0;
      next = charge(state, event.data.apiKeyId, atMs, { requests, tokens, costNanoUsd });
      next.reservations = { ...state.reservations, [requestId]: reservation };
      next.finished = withoutKey(state.finished, requestId);
    }
  } else if (isEvent(event, "quota.settled")) {
    const held = state.reservations[requestId];
    const done = state.finished[requestId];
    const { tokens, costNanoUsd } = event.data.actual;
    if (held) {
      // Replace the reservation by the actual use, in the buckets the reservation was counted in.
      next = charge(state, held.apiKeyId, held.reservedAtMs, {
        requests: 0,
        tokens: tokens - held.tokens,
        costNanoUsd: costNanoUsd - held.costNanoUsd,
      });
      next.reservations = withoutKey(state.reservations, requestId);
      next.finished = { ...state.finished, [requestId]: finishedEntry("settled", held, atMs) };
    } else if (done?.outcome === "expired") {
      // The expiry already released the reservation: count the actual use once, release nothing.
      next = charge(state, done.apiKeyId, done.reservedAtMs, { requests: 0, tokens, costNanoUsd });
      next.finished = { ...state.finished, [requestId]: { ...done, outcome: "settled", atMs } };
    }
  } else if (isEvent(event, "quota.expired")) {
    const held = state.reservations[requestId];
    if (held && held.attempt === event.data.attempt) {
      next = charge(state, held.apiKeyId, held.reservedAtMs, {
        requests: 0,
        tokens: -held.tokens,
        costNanoUsd: -held.costNanoUsd,
      });
      next.reservations = withoutKey(state.reservations, requestId);
      next.finished = { ...state.finished, [requestId]: finishedEntry("expired", held, atMs) };
    }
  } else {
    return state;
  }
  return { ...prune(next, atMs), seq: Math.max(state.seq, sequence) };
}

function finishedEntry(outcome: "settled" | "expired", held: Reservation, atMs: number) {
  const entry: QuotaState["finished"][string] = {
    outcome,
    attempt: held.attempt,
    reservedAtMs: held.reservedAtMs,
    atMs,
  };
  if (held.apiKeyId !== undefined) entry.apiKeyId = held.apiKeyId;
  return entry;
}

/** Folds events (with their stream sequences) from scratch: the rebuild path. */
export function rebuildQuotaState(
  tenant: string,
  events: Iterable<{ event: BeamlineEvent; sequence: number }>,
): QuotaState {
  let state = emptyQuotaState(tenant);
  for (const { event, sequence } of events) state = reduceQuota(state, event, sequence);
  return state;
}
