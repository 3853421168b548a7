import { z } from "zod";

const positiveMs = z.number().int().positive();
const nonNegativeMs = z.number().int().nonnegative();

/**
 * How one request is executed: timeouts, retries and their budget. Units are in the names.
 * The defaults are documented in docs/reliability.md; the config file maps onto this schema.
 */
export const executionPolicySchema = z.strictObject({
  /** Longest wait for the first streamed chunk, from the start of the call. Streaming calls only. */
  timeToFirstTokenMs: positiveMs.default(30_000),
  /** Longest silence between two streamed chunks. Streaming calls only. */
  idleMs: positiveMs.default(30_000),
  /** Deadline of one provider call, streaming included. */
  totalMs: positiveMs.default(300_000),
  /** Attempts recorded for one request at most (provider calls and backpressure refusals). */
  maxAttempts: z.number().int().positive().default(4),
  /** Extra tries of the same candidate after a retryable failure, before failing over. */
  retriesPerCandidate: z.number().int().nonnegative().default(1),
  /** First backoff ceiling; it doubles per retry (full jitter draws below it). */
  backoffBaseMs: positiveMs.default(250),
  /** Largest backoff ceiling. */
  backoffMaxMs: positiveMs.default(4_000),
  /** Backoff one request may spend waiting in total; beyond it, fail over instead of waiting. */
  maxTotalBackoffMs: nonNegativeMs.default(10_000),
  /** A provider retry-after longer than this is not waited for: the next candidate is tried. */
  maxRetryAfterMs: nonNegativeMs.default(5_000),
});

export type ExecutionPolicy = Readonly<z.infer<typeof executionPolicySchema>>;
export type ExecutionPolicyInput = z.input<typeof executionPolicySchema>;

/** The policy with every default filled in; throws zod's error on a bad value. */
export function executionPolicy(input: ExecutionPolicyInput = {}): ExecutionPolicy {
  return Object.freeze(executionPolicySchema.parse(input));
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
const FAILOVER_ONLY = new Set(["context_window", "backpressure"]);

/**
 * The retry / failover rule, pure. In order: a stream that reached the client stops (two
 * answers are never spliced); an exhausted attempt budget stops; a context-window or
 * backpressure error fails over; a non-retryable error stops; a retryable one is retried on
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
