import type { QuotaExpired, QuotaReserved, QuotaSettled } from "./facts-schema.js";
import type { QuotaLimits } from "./limits-schema.js";
import { emptyScopeUsage, type QuotaState, type Reservation, type ScopeUsage } from "./state.js";
import {
  calendarPeriod,
  calendarSum,
  QuotaWindows,
  rollingFreeAfterMs,
  rollingResetMs,
  rollingSum,
} from "./windows.js";

/** A quota fact to write for one request: the adapter turns it into an event. */
export type QuotaFact =
  | { type: "quota.reserved"; requestId: string; data: QuotaReserved }
  | { type: "quota.settled"; requestId: string; data: QuotaSettled }
  | { type: "quota.expired"; requestId: string; data: QuotaExpired };

/** Limits that apply to a request: the tenant's (policy document) and the key's; each optional. */
export interface ApplicableLimits {
  tenant?: QuotaLimits | undefined;
  key?: QuotaLimits | undefined;
}

export interface AdmissionRequest {
  requestId: string;
  apiKeyId?: string | undefined;
  limits: ApplicableLimits;
  /** Prompt tokens + max tokens, and their cost at the candidate's catalog price (nano-USD). */
  estimate: { tokens: number; costNanoUsd: number };
  provider: string;
  model: string;
  catalogVersion: string;
  /** How long an unsettled reservation holds before any admitter may expire it. */
  reservationTtlMs: number;
}

export type QuotaLimitName =
  | "concurrentRequests"
  | "requestsPerMinute"
  | "tokensPerMinute"
  | "spendPerDayUsd"
  | "spendPerMonthUsd";

/** One rate-limit dimension as OpenAI's `x-ratelimit-*` headers report it. */
export interface RateLimitStatus {
  limit: number;
  remaining: number;
  /** Milliseconds until the window is back to its full allowance. */
  resetMs: number;
}

/** The most restrictive request and token limits of the tenant and key scopes, when set. */
export interface RateLimitInfo {
  requests?: RateLimitStatus;
  tokens?: RateLimitStatus;
}

export interface QuotaRejection {
  scope: "tenant" | "key";
  limit: QuotaLimitName;
  /** The limit's value in its own unit (requests, tokens, USD). */
  limitValue: number;
  /** Already used or reserved in the window, same unit (spend in USD). */
  used: number;
  /** What this request asked for, same unit. */
  requested: number;
  /** When a retry can pass every limit that refused; a floor, not a promise. */
  retryAfterMs: number;
  rateLimits: RateLimitInfo;
}

export type AdmissionDecision =
  /** Write `facts` in order (expiries of stale reservations, then the reservation). */
  | { kind: "admit"; facts: QuotaFact[]; reservation: Reservation; rateLimits: RateLimitInfo }
  /** The request already holds a reservation, or has settled: nothing to write. */
  | { kind: "already-admitted"; reservation: Reservation | undefined; rateLimits: RateLimitInfo }
  /** Refused: nothing is written. */
  | { kind: "reject"; rejection: QuotaRejection };

/** Retry hint when only the concurrency limit refuses: requests usually finish within seconds. */
export const CONCURRENCY_RETRY_MS = 1_000;

const NANO_PER_USD = 1e9;

/** USD limit → nano-USD, the one place the unit changes (rounded down: never allow more). */
export function usdToNano(usd: number): number {
  return Math.floor(usd * NANO_PER_USD);
}

function scopeUsage(state: QuotaState, scope: "tenant" | "key", apiKeyId: string | undefined): ScopeUsage {
  if (scope === "tenant") return state.tenantUsage;
  return (apiKeyId !== undefined ? state.keyUsage[apiKeyId] : undefined) ?? emptyScopeUsage;
}

function activeReservations(
  state: QuotaState,
  scope: "tenant" | "key",
  apiKeyId: string | undefined,
): number {
  const all = Object.values(state.reservations);
  return scope === "tenant" ? all.length : all.filter((r) => r.apiKeyId === apiKeyId).length;
}

interface SpendWindow {
  used: number;
  /** Time until `excess` nano-USD have left the window (calendar: the next period). */
  freeAfterMs(excess: number): number;
}

function spendWindow(
  usage: ScopeUsage,
  limits: QuotaLimits,
  period: "day" | "month",
  nowMs: number,
): SpendWindow {
  const spec = period === "day" ? QuotaWindows.day : QuotaWindows.month;
  const series = period === "day" ? usage.spendDay : usage.spendMonth;
  if (limits.spendWindow === "rolling") {
    return {
      used: rollingSum(series, spec, nowMs),
      freeAfterMs: (excess) => rollingFreeAfterMs(series, spec, nowMs, excess) ?? spec.lengthMs,
    };
  }
  const { endMs } = calendarPeriod(period, nowMs);
  return { used: calendarSum(series, spec, period, nowMs), freeAfterMs: () => endMs - nowMs };
}

function rateLimitStatus(
  limit: number | undefined,
  series: ScopeUsage["requests"],
  nowMs: number,
): RateLimitStatus | undefined {
  if (limit === undefined) return undefined;
  const used = rollingSum(series, QuotaWindows.minute, nowMs);
  return {
    limit,
    remaining: Math.max(0, limit - used),
    resetMs: rollingResetMs(series, QuotaWindows.minute, nowMs),
  };
}

function tighter(
  a: RateLimitStatus | undefined,
  b: RateLimitStatus | undefined,
): RateLimitStatus | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.remaining < a.remaining ? b : a;
}

/** Request and token limit status over both scopes (the one with less remaining wins). */
export function rateLimitInfo(
  state: QuotaState,
  limits: ApplicableLimits,
  apiKeyId: string | undefined,
  nowMs: number,
): RateLimitInfo {
  const info: RateLimitInfo = {};
  for (const scope of ["tenant", "key"] as const) {
    const scoped = limits[scope];
    if (!scoped || (scope === "key" && apiKeyId === undefined)) continue;
    const usage = scopeUsage(state, scope, apiKeyId);
    const requests = tighter(info.requests, rateLimitStatus(scoped.requestsPerMinute, usage.requests, nowMs));
    const tokens = tighter(info.tokens, rateLimitStatus(scoped.tokensPerMinute, usage.tokens, nowMs));
    if (requests) info.requests = requests;
    if (tokens) info.tokens = tokens;
  }
  return info;
}

interface Refusal {
  scope: "tenant" | "key";
  limit: QuotaLimitName;
  limitValue: number;
  used: number;
  requested: number;
  retryAfterMs: number;
}

/** Every limit of one scope that this request would break, in a fixed order. */
function refusalsOf(
  state: QuotaState,
  scope: "tenant" | "key",
  limits: QuotaLimits,
  request: AdmissionRequest,
  nowMs: number,
): Refusal[] {
  const usage = scopeUsage(state, scope, request.apiKeyId);
  const refusals: Refusal[] = [];
  const { tokens, costNanoUsd } = request.estimate;
  if (limits.concurrentRequests !== undefined) {
    const used = activeReservations(state, scope, request.apiKeyId);
    if (used + 1 > limits.concurrentRequests) {
      refusals.push({
        scope,
        limit: "concurrentRequests",
        limitValue: limits.concurrentRequests,
        used,
        requested: 1,
        retryAfterMs: CONCURRENCY_RETRY_MS,
      });
    }
  }
  const minute = QuotaWindows.minute;
  if (limits.requestsPerMinute !== undefined) {
    const used = rollingSum(usage.requests, minute, nowMs);
    if (used + 1 > limits.requestsPerMinute) {
      const excess = used + 1 - limits.requestsPerMinute;
      refusals.push({
        scope,
        limit: "requestsPerMinute",
        limitValue: limits.requestsPerMinute,
        used,
        requested: 1,
        retryAfterMs: rollingFreeAfterMs(usage.requests, minute, nowMs, excess) ?? minute.lengthMs,
      });
    }
  }
  if (limits.tokensPerMinute !== undefined) {
    const used = rollingSum(usage.tokens, minute, nowMs);
    if (used + tokens > limits.tokensPerMinute) {
      const excess = used + tokens - limits.tokensPerMinute;
      refusals.push({
        scope,
        limit: "tokensPerMinute",
        limitValue: limits.tokensPerMinute,
        used,
        requested: tokens,
        retryAfterMs: rollingFreeAfterMs(usage.tokens, minute, nowMs, excess) ?? minute.lengthMs,
      });
    }
  }
  const budgets = [
    ["spendPerDayUsd", "day", limits.spendPerDayUsd],
    ["spendPerMonthUsd", "month", limits.spendPerMonthUsd],
  ] as const;
  for (const [name, period, budgetUsd] of budgets) {
    if (budgetUsd === undefined) continue;
    const window = spendWindow(usage, limits, period, nowMs);
    const budgetNano = usdToNano(budgetUsd);
    if (window.used + costNanoUsd > budgetNano) {
      refusals.push({
        scope,
        limit: name,
        limitValue: budgetUsd,
        used: window.used / NANO_PER_USD,
        requested: costNanoUsd / NANO_PER_USD,
        retryAfterMs: window.freeAfterMs(window.used + costNanoUsd - budgetNano),
      });
    }
  }
  return refusals;
}

/**
 * Reservations whose TTL has passed at `nowMs`: their request crashed or its settlement is
 * lost. Expiring them hands their amounts and concurrency slot back.
 */
export function expiredReservations(state: QuotaState, nowMs: number): QuotaFact[] {
  const facts: QuotaFact[] = [];
  for (const [requestId, held] of Object.entries(state.reservations)) {
    if (held.expiresAtMs > nowMs) continue;
    const data: QuotaExpired = {
      attempt: held.attempt,
      released: { tokens: held.tokens, costNanoUsd: held.costNanoUsd },
    };
    if (held.apiKeyId !== undefined) data.apiKeyId = held.apiKeyId;
    facts.push({ type: "quota.expired", requestId, data });
  }
  return facts.sort((a, b) => (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0));
}

/**
 * The admission decider. `stateAfterExpiry` is `state` with `expiries` already folded in
 * (the adapter folds them with the same reducer, so the decision sees what the log will say).
 * Pure: the clock is `nowMs`.
 */
export function decideAdmission(
  state: QuotaState,
  request: AdmissionRequest,
  nowMs: number,
  fold: (state: QuotaState, facts: QuotaFact[]) => QuotaState,
): AdmissionDecision {
  const held = state.reservations[request.requestId];
  const done = state.finished[request.requestId];
  if (held || done?.outcome === "settled") {
    return {
      kind: "already-admitted",
      reservation: held,
      rateLimits: rateLimitInfo(state, request.limits, request.apiKeyId, nowMs),
    };
  }
  const expiries = expiredReservations(state, nowMs);
  const current = expiries.length > 0 ? fold(state, expiries) : state;
  const refusals: Refusal[] = [];
  if (request.limits.tenant)
    refusals.push(...refusalsOf(current, "tenant", request.limits.tenant, request, nowMs));
  if (request.limits.key && request.apiKeyId !== undefined) {
    refusals.push(...refusalsOf(current, "key", request.limits.key, request, nowMs));
  }
  const rateLimits = rateLimitInfo(current, request.limits, request.apiKeyId, nowMs);
  const first = refusals[0];
  if (first) {
    // The retry must wait for every refusing limit, not only the first reported.
    const retryAfterMs = Math.max(...refusals.map((r) => r.retryAfterMs));
    return { kind: "reject", rejection: { ...first, retryAfterMs, rateLimits } };
  }
  const attempt = done?.outcome === "expired" ? done.attempt + 1 : 1;
  const expiresAtMs = nowMs + request.reservationTtlMs;
  const data: QuotaReserved = {
    attempt,
    estimate: { ...request.estimate },
    expiresAt: new Date(expiresAtMs).toISOString(),
    provider: request.provider,
    model: request.model,
    catalogVersion: request.catalogVersion,
  };
  if (request.apiKeyId !== undefined) data.apiKeyId = request.apiKeyId;
  const reservation: Reservation = {
    attempt,
    tokens: request.estimate.tokens,
    costNanoUsd: request.estimate.costNanoUsd,
    reservedAtMs: nowMs,
    expiresAtMs,
  };
  if (request.apiKeyId !== undefined) reservation.apiKeyId = request.apiKeyId;
  // Report what remains once this request is counted.
  const after = {
    ...(rateLimits.requests
      ? { requests: { ...rateLimits.requests, remaining: Math.max(0, rateLimits.requests.remaining - 1) } }
      : {}),
    ...(rateLimits.tokens
      ? {
          tokens: {
            ...rateLimits.tokens,
            remaining: Math.max(0, rateLimits.tokens.remaining - request.estimate.tokens),
          },
        }
      : {}),
  };
  return {
    kind: "admit",
    facts: [...expiries, { type: "quota.reserved", requestId: request.requestId, data }],
    reservation,
    rateLimits: after,
  };
}

/**
 * The settlement decider: the fact to write when `requestId` finished using `actual`, or
 * undefined when there is nothing to settle (no reservation was made, or it is settled).
 */
export function decideSettlement(
  state: QuotaState,
  requestId: string,
  actual: { tokens: number; costNanoUsd: number },
  catalogVersion: string,
): QuotaFact | undefined {
  const held = state.reservations[requestId];
  const done = state.finished[requestId];
  const source = held ?? (done?.outcome === "expired" ? done : undefined);
  if (!source) return undefined;
  const data: QuotaSettled = { actual: { ...actual }, afterExpiry: !held, catalogVersion };
  if (source.apiKeyId !== undefined) data.apiKeyId = source.apiKeyId;
  return { type: "quota.settled", requestId, data };
}
