import {
  type ExecutionSettings,
  type ExecutionSettingsInput,
  executionSettingsSchema,
} from "../config/index.js";

type PoolSettings = "poolMaxConcurrent" | "poolMaxQueued" | "poolQueueTimeoutMs";

/**
 * How one request is executed: timeouts, retries and their budget. Units are in the names.
 * The fields, their defaults and their environment variables are the config's `execution`
 * section (src/config/reliability.ts, docs/reliability.md); this module has no defaults.
 */
export type ExecutionPolicy = Readonly<Omit<ExecutionSettings, PoolSettings>>;
export type ExecutionPolicyInput = Omit<ExecutionSettingsInput, PoolSettings>;

/**
 * A policy from a partial input, the rest from the config schema's defaults: for tests and
 * tools that run without a configuration. Throws zod's error on a bad value.
 */
export function executionPolicy(input: ExecutionPolicyInput = {}): ExecutionPolicy {
  const {
    poolMaxConcurrent: _c,
    poolMaxQueued: _q,
    poolQueueTimeoutMs: _t,
    ...policy
  } = executionSettingsSchema.parse(input);
  return Object.freeze(policy);
}

/**
 * Full-jitter exponential backoff before retry number `retryIndex` (0 for the first retry):
 * a uniform draw in [0, min(max, base·2^retryIndex)), raised to the provider's retry-after
 * when it sent one (waiting less would only earn another 429).
 */
export function backoffDelayMs(
  policy: ExecutionPolicy,
  retryIndex: number,
  random: () => number,
  retryAfterMs?: number,
): number {
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** retryIndex);
  const jittered = Math.floor(random() * ceiling);
  return retryAfterMs === undefined ? jittered : Math.max(retryAfterMs, jittered);
}

/** What follows a failed attempt. */
export type NextStep = { action: "retry"; backoffMs: number } | { action: "failover" } | { action: "stop" };

/** The facts {@link decideNextStep} needs about a failed attempt and the request so far. */
export interface FailureFacts {
  errorClass: string;
  retryable: boolean;
  /** Chunks of this attempt that reached the client. */
  chunksSent: number;
  retryAfterMs: number | undefined;
  /** Tries of this candidate so far, this one included (1 for the first). */
  triesOfCandidate: number;
  /** Attempts recorded for the request so far, this one included. */
  attemptsUsed: number;
  /** Backoff already spent by the request. */
  backoffUsedMs: number;
  /** Whether a later candidate exists whose breaker is not open. */
  hasNextCandidate: boolean;
}

/** Error classes that move to the next candidate but are never retried on the same one. */
const FAILOVER_ONLY = new Set(["context_window", "backpressure", "unsupported"]);

/**
 * The retry / failover rule, pure. In order: a stream that reached the client stops (two
 * answers are never spliced); an exhausted attempt budget stops; a context-window,
 * backpressure or unsupported-operation error fails over; a non-retryable error stops; a retryable one is retried on
 * the same candidate while its tries, the retry-after cap and the backoff budget allow,
 * then fails over; with no candidate left it stops.
 */
export function decideNextStep(policy: ExecutionPolicy, facts: FailureFacts, random: () => number): NextStep {
  if (facts.chunksSent > 0) return { action: "stop" };
  if (facts.attemptsUsed >= policy.maxAttempts) return { action: "stop" };
  const failover: NextStep = facts.hasNextCandidate ? { action: "failover" } : { action: "stop" };
  if (FAILOVER_ONLY.has(facts.errorClass)) return failover;
  if (!facts.retryable) return { action: "stop" };
  const retryAfterTooLong = facts.retryAfterMs !== undefined && facts.retryAfterMs > policy.maxRetryAfterMs;
  if (facts.triesOfCandidate <= policy.retriesPerCandidate && !retryAfterTooLong) {
    const backoffMs = backoffDelayMs(policy, facts.triesOfCandidate - 1, random, facts.retryAfterMs);
    if (facts.backoffUsedMs + backoffMs <= policy.maxTotalBackoffMs) return { action: "retry", backoffMs };
  }
  return failover;
}
