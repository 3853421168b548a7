import type { EventData } from "../events/index.js";
import { formatResetDuration } from "../quotas/index.js";

/** The rate limits a completed request carries (`request.completed`'s `rateLimits`). */
export type StoredRateLimits = NonNullable<EventData<"request.completed">["rateLimits"]>;

const DIMENSIONS = ["requests", "tokens"] as const;

/**
 * OpenAI's headers of a successful answer: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`,
 * the reset as a duration from `nowMs` (`250ms`, `12s`, `1m0s`).
 */
export function openAiRateLimitHeaders(limits: StoredRateLimits, nowMs: number): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const dimension of DIMENSIONS) {
    const status = limits[dimension];
    if (!status) continue;
    headers[`x-ratelimit-limit-${dimension}`] = String(status.limit);
    headers[`x-ratelimit-remaining-${dimension}`] = String(status.remaining);
    headers[`x-ratelimit-reset-${dimension}`] = formatResetDuration(Date.parse(status.resetAt) - nowMs);
  }
  return headers;
}

/**
 * Anthropic's headers of a successful answer: `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`,
 * the reset as an RFC 3339 time, as Anthropic sends it.
 */
export function anthropicRateLimitHeaders(limits: StoredRateLimits): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const dimension of DIMENSIONS) {
    const status = limits[dimension];
    if (!status) continue;
    headers[`anthropic-ratelimit-${dimension}-limit`] = String(status.limit);
    headers[`anthropic-ratelimit-${dimension}-remaining`] = String(status.remaining);
    // Whole seconds, as Anthropic writes it (`2026-12-06T11:40:05Z`), rounded up: never too early.
    const resetMs = Math.ceil(Date.parse(status.resetAt) / 1000) * 1000;
    headers[`anthropic-ratelimit-${dimension}-reset`] = new Date(resetMs).toISOString().replace(".000Z", "Z");
  }
  return headers;
}
