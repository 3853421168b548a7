import { BeamlineError } from "../errors/index.js";
import type { QuotaRejection, RateLimitInfo } from "./decide.js";

const LIMIT_WORDS = {
  concurrentRequests: "concurrent requests",
  requestsPerMinute: "requests per minute",
  tokensPerMinute: "tokens per minute",
  spendPerDayUsd: "spend per day (USD)",
  spendPerMonthUsd: "spend per month (USD)",
} as const;

/**
 * `BL_QUOTA_EXCEEDED` (HTTP 429): the request would break a quota. Carries the rejection so the
 * gateway can answer with `retry-after` and `x-ratelimit-*` headers ({@link rateLimitHeaders}).
 */
export class QuotaExceededError extends BeamlineError {
  readonly rejection: QuotaRejection;

  constructor(tenant: string, rejection: QuotaRejection) {
    const who = rejection.scope === "tenant" ? `tenant ${tenant}` : "this API key";
    const neverFits = rejection.requested > rejection.limitValue;
    super(
      "BL_QUOTA_EXCEEDED",
      `Quota exceeded for ${who}: ${LIMIT_WORDS[rejection.limit]} limit ${rejection.limitValue}, ` +
        `used ${round(rejection.used)}, this request needs ${round(rejection.requested)}. ` +
        (neverFits
          ? "It can never pass this limit: ask for fewer tokens (max_tokens) or have the limit raised."
          : `Retry after ${Math.ceil(rejection.retryAfterMs / 1000)} s.`),
      // A retry cannot help a request larger than the limit: no wait is advertised for it.
      neverFits ? {} : { retryAfterMs: rejection.retryAfterMs },
    );
    this.rejection = rejection;
  }
}

function round(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(6);
}

/**
 * A duration as OpenAI writes `x-ratelimit-reset-*`: `250ms`, `12s`, `1m30s`, `2h0m5s`.
 */
export function formatResetDuration(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole < 1000) return `${whole}ms`;
  const totalSeconds = Math.ceil(whole / 1000);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/**
 * The HTTP headers of a quota answer: `retry-after` (whole seconds, rounded up),
 * `retry-after-ms`, and OpenAI's `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` for
 * the limits that are set. Pure; also usable on admitted answers with `retryAfterMs` undefined.
 */
export function rateLimitHeaders(info: RateLimitInfo, retryAfterMs?: number): Record<string, string> {
  const headers: Record<string, string> = {};
  if (retryAfterMs !== undefined) {
    headers["retry-after"] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
    headers["retry-after-ms"] = String(Math.max(0, Math.ceil(retryAfterMs)));
  }
  for (const dimension of ["requests", "tokens"] as const) {
    const status = info[dimension];
    if (!status) continue;
    headers[`x-ratelimit-limit-${dimension}`] = String(status.limit);
    headers[`x-ratelimit-remaining-${dimension}`] = String(status.remaining);
    headers[`x-ratelimit-reset-${dimension}`] = formatResetDuration(status.resetMs);
  }
  return headers;
}

/** The longest `retry-after` a client is asked to wait and then retry by itself: one minute window. */
export const MAX_RETRY_AFTER_S = 60;

/**
 * The headers of a rejection, for the gateway's 429. `retry-after-ms` is the exact wait;
 * `retry-after` is capped: a per-minute window holds an amount up to 61 s (its oldest
 * one-second bucket counts whole, so admission never passes a limit), which rounded up
 * read as `61` for a limit per minute. Capped at 60, a retry lands at most one second early
 * (and is told `1`); the SDKs read `retry-after-ms` first and wait exactly.
 *
 * A wait longer than a minute (a spend budget until its reset) or a request that can never
 * fit (it alone asks for more than the limit) gets `x-should-retry: false`: the official SDKs
 * would otherwise sleep for hours, or retry in vain, before the caller hears of the refusal.
 */
export function rejectionHeaders(error: QuotaExceededError): Record<string, string> {
  const { rejection } = error;
  if (rejection.requested > rejection.limitValue) {
    return { ...rateLimitHeaders(rejection.rateLimits), "x-should-retry": "false" };
  }
  const headers = rateLimitHeaders(rejection.rateLimits, rejection.retryAfterMs);
  const seconds = Number(headers["retry-after"]);
  if (rejection.retryAfterMs <= (MAX_RETRY_AFTER_S + 1) * 1000) {
    headers["retry-after"] = String(Math.min(seconds, MAX_RETRY_AFTER_S));
  } else {
    headers["x-should-retry"] = "false";
  }
  return headers;
}
