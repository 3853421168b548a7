import { z } from "zod";
import { setting } from "./settings.js";

const positiveMs = z.coerce.number().int().positive();
const nonNegativeMs = z.coerce.number().int().nonnegative();
const positiveInt = z.coerce.number().int().positive();

/**
 * How one request's provider calls are executed: timeouts, retries and their budget, and
 * this process's per-provider/model concurrency pools (docs/reliability.md). The defaults
 * live here and nowhere else; src/execution receives the parsed values.
 */
export const executionSettingsSchema = z.strictObject({
  timeToFirstTokenMs: setting(positiveMs.default(30_000), {
    env: "BEAMLINE_EXEC_TIME_TO_FIRST_TOKEN_MS",
    doc: "longest wait for the first streamed chunk, from the start of the call (streaming only)",
  }),
  idleMs: setting(positiveMs.default(30_000), {
    env: "BEAMLINE_EXEC_IDLE_MS",
    doc: "longest silence between two streamed chunks (streaming only)",
  }),
  totalMs: setting(positiveMs.default(300_000), {
    env: "BEAMLINE_EXEC_TOTAL_MS",
    doc: "deadline of one provider call, streaming included",
  }),
  maxAttempts: setting(positiveInt.default(4), {
    env: "BEAMLINE_EXEC_MAX_ATTEMPTS",
    doc: "attempts recorded for one request at most (provider calls and backpressure refusals)",
  }),
  retriesPerCandidate: setting(z.coerce.number().int().nonnegative().default(1), {
    env: "BEAMLINE_EXEC_RETRIES_PER_CANDIDATE",
    doc: "extra tries of the same candidate after a retryable failure, before failing over",
  }),
  backoffBaseMs: setting(positiveMs.default(250), {
    env: "BEAMLINE_EXEC_BACKOFF_BASE_MS",
    doc: "first backoff ceiling; it doubles per retry (full jitter draws below it)",
  }),
  backoffMaxMs: setting(positiveMs.default(4_000), {
    env: "BEAMLINE_EXEC_BACKOFF_MAX_MS",
    doc: "largest backoff ceiling",
  }),
  maxTotalBackoffMs: setting(nonNegativeMs.default(10_000), {
    env: "BEAMLINE_EXEC_MAX_TOTAL_BACKOFF_MS",
    doc: "backoff one request may spend waiting in total; beyond it, fail over instead of waiting",
  }),
  maxRetryAfterMs: setting(nonNegativeMs.default(5_000), {
    env: "BEAMLINE_EXEC_MAX_RETRY_AFTER_MS",
    doc: "a provider retry-after longer than this is not waited for: the next candidate is tried",
  }),
  poolMaxConcurrent: setting(positiveInt.default(64), {
    env: "BEAMLINE_EXEC_POOL_MAX_CONCURRENT",
    doc: "calls in flight per provider/model from one instance",
    unit: "calls",
  }),
  poolMaxQueued: setting(z.coerce.number().int().nonnegative().default(256), {
    env: "BEAMLINE_EXEC_POOL_MAX_QUEUED",
    doc: "callers waiting for a slot per provider/model; one more is refused (backpressure)",
    unit: "calls",
  }),
  poolQueueTimeoutMs: setting(positiveMs.default(5_000), {
    env: "BEAMLINE_EXEC_POOL_QUEUE_TIMEOUT_MS",
    doc: "longest wait for a pool slot before backpressure",
  }),
});
export type ExecutionSettings = Readonly<z.infer<typeof executionSettingsSchema>>;
export type ExecutionSettingsInput = z.input<typeof executionSettingsSchema>;

/**
 * How provider health is measured and when a circuit breaker trips (docs/reliability.md).
 * Every projector and view must run with the same values, or replay and live projection
 * disagree. The defaults live here; the health projection receives the parsed values.
 */
export const healthSettingsSchema = z.strictObject({
  windowMs: setting(positiveMs.default(60_000), {
    env: "BEAMLINE_HEALTH_WINDOW_MS",
    doc: "length of the sliding window the error rate is measured over",
  }),
  windowBuckets: setting(z.coerce.number().int().min(1).max(600).default(12), {
    env: "BEAMLINE_HEALTH_WINDOW_BUCKETS",
    doc: "the window is kept as this many buckets (its time resolution is windowMs / buckets)",
    unit: "buckets",
  }),
  minAttemptsInWindow: setting(positiveInt.default(10), {
    env: "BEAMLINE_HEALTH_MIN_ATTEMPTS",
    doc: "the error rate only trips the breaker with at least this many attempts in the window",
    unit: "attempts",
  }),
  errorRateToOpen: setting(z.coerce.number().gt(0).max(1).default(0.5), {
    env: "BEAMLINE_HEALTH_ERROR_RATE_TO_OPEN",
    doc: "failed share of the window's attempts that opens the breaker",
    unit: "share (0..1]",
  }),
  consecutiveFailuresToOpen: setting(positiveInt.default(5), {
    env: "BEAMLINE_HEALTH_CONSECUTIVE_FAILURES_TO_OPEN",
    doc: "consecutive failures that open the breaker whatever the window says",
    unit: "attempts",
  }),
  cooldownMs: setting(positiveMs.default(30_000), {
    env: "BEAMLINE_HEALTH_COOLDOWN_MS",
    doc: "how long an open breaker refuses calls before it lets probes through (half-open)",
  }),
  halfOpenMaxProbes: setting(positiveInt.default(1), {
    env: "BEAMLINE_HEALTH_HALF_OPEN_MAX_PROBES",
    doc: "probe calls let through at once while half-open, across all instances",
    unit: "calls",
  }),
  probeLeaseMs: setting(positiveMs.default(60_000), {
    env: "BEAMLINE_HEALTH_PROBE_LEASE_MS",
    doc: "a probe slot taken by an instance that died is given back after this long",
  }),
  successesToClose: setting(positiveInt.default(1), {
    env: "BEAMLINE_HEALTH_SUCCESSES_TO_CLOSE",
    doc: "successful attempts in half-open that close the breaker",
    unit: "attempts",
  }),
  latencyEwmaAlpha: setting(z.coerce.number().gt(0).max(1).default(0.2), {
    env: "BEAMLINE_HEALTH_LATENCY_EWMA_ALPHA",
    doc: "weight of the newest latency in the moving average",
    unit: "share (0..1]",
  }),
  latencySamples: setting(z.coerce.number().int().min(1).max(1000).default(50), {
    env: "BEAMLINE_HEALTH_LATENCY_SAMPLES",
    doc: "latest successful latencies kept for the p95",
    unit: "samples",
  }),
});
export type HealthSettings = Readonly<z.infer<typeof healthSettingsSchema>>;
export type HealthSettingsInput = z.input<typeof healthSettingsSchema>;
