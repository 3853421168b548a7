import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { loadConfig, loadConfigFromEnv, SETTINGS, settingsTable } from "../../src/config/index.js";
import { isBeamlineError } from "../../src/errors/index.js";
import { executionFromConfig, healthPolicyFromConfig } from "../../src/execution/index.js";

/** The variables Beamline read before the mapping came from the schema: they must keep working. */
const ENV_NAMES_BEFORE: ReadonlyArray<[string, string]> = [
  ["BEAMLINE_HTTP_PORT", "httpPort"],
  ["BEAMLINE_HTTP_HOST", "httpHost"],
  ["NATS_URL", "natsUrl"],
  ["BEAMLINE_EMBEDDED_NATS_PORT", "embeddedNatsPort"],
  ["BEAMLINE_DATA_DIR", "dataDir"],
  ["BEAMLINE_DEV_KEY", "devKey"],
  ["BEAMLINE_ROLES", "roles"],
  ["BEAMLINE_INSTANCE_ID", "instanceId"],
  ["BEAMLINE_MAX_BODY_BYTES", "maxBodyBytes"],
  ["BEAMLINE_REQUEST_TIMEOUT_MS", "requestTimeoutMs"],
  ["BEAMLINE_ACK_WAIT_MS", "ackWaitMs"],
  ["BEAMLINE_MAX_DELIVER", "maxDeliver"],
  ["BEAMLINE_MAX_ACK_PENDING", "maxAckPending"],
  ["BEAMLINE_REPLICAS", "replicas"],
  ["BEAMLINE_REQUEST_RETENTION_DAYS", "requestRetentionDays"],
  ["BEAMLINE_USAGE_RETENTION_DAYS", "usageRetentionDays"],
  ["BEAMLINE_DUPLICATE_WINDOW_MS", "duplicateWindowMs"],
  ["BEAMLINE_PERSIST_MODE", "persistMode"],
  ["BEAMLINE_CATALOG_FILE", "catalogFile"],
  ["OPENAI_API_KEY", "openai.apiKey"],
  ["OPENAI_BASE_URL", "openai.baseUrl"],
  ["BEAMLINE_MOCK_PORT", "mock.port"],
  ["BEAMLINE_MOCK_LATENCY_MS", "mock.latencyMs"],
  ["BEAMLINE_MOCK_CHUNK_DELAY_MS", "mock.chunkDelayMs"],
  ["BEAMLINE_MOCK_FAILURE_RATE", "mock.failureRate"],
  ["BEAMLINE_MOCK_URL", "mock.url"],
  ["BEAMLINE_PROVIDER_CONNECT_TIMEOUT_MS", "provider.connectTimeoutMs"],
  ["BEAMLINE_PROVIDER_HEADERS_TIMEOUT_MS", "provider.headersTimeoutMs"],
  ["BEAMLINE_PROVIDER_REQUEST_TIMEOUT_MS", "provider.requestTimeoutMs"],
  ["BEAMLINE_PROVIDER_MAX_CONNECTIONS", "provider.maxConnections"],
  ["LOG_LEVEL", "logLevel"],
  ["BEAMLINE_QUOTA_RESERVATION_TTL_MS", "quotaReservationTtlMs"],
  ["BEAMLINE_EXEC_TIME_TO_FIRST_TOKEN_MS", "execution.timeToFirstTokenMs"],
  ["BEAMLINE_EXEC_IDLE_MS", "execution.idleMs"],
  ["BEAMLINE_EXEC_TOTAL_MS", "execution.totalMs"],
  ["BEAMLINE_EXEC_MAX_ATTEMPTS", "execution.maxAttempts"],
  ["BEAMLINE_EXEC_RETRIES_PER_CANDIDATE", "execution.retriesPerCandidate"],
  ["BEAMLINE_EXEC_BACKOFF_BASE_MS", "execution.backoffBaseMs"],
  ["BEAMLINE_EXEC_BACKOFF_MAX_MS", "execution.backoffMaxMs"],
  ["BEAMLINE_EXEC_MAX_TOTAL_BACKOFF_MS", "execution.maxTotalBackoffMs"],
  ["BEAMLINE_EXEC_MAX_RETRY_AFTER_MS", "execution.maxRetryAfterMs"],
  ["BEAMLINE_EXEC_POOL_MAX_CONCURRENT", "execution.poolMaxConcurrent"],
  ["BEAMLINE_EXEC_POOL_MAX_QUEUED", "execution.poolMaxQueued"],
  ["BEAMLINE_EXEC_POOL_QUEUE_TIMEOUT_MS", "execution.poolQueueTimeoutMs"],
  ["BEAMLINE_HEALTH_WINDOW_MS", "health.windowMs"],
  ["BEAMLINE_HEALTH_MIN_ATTEMPTS", "health.minAttemptsInWindow"],
  ["BEAMLINE_HEALTH_ERROR_RATE_TO_OPEN", "health.errorRateToOpen"],
  ["BEAMLINE_HEALTH_CONSECUTIVE_FAILURES_TO_OPEN", "health.consecutiveFailuresToOpen"],
  ["BEAMLINE_HEALTH_COOLDOWN_MS", "health.cooldownMs"],
  ["BEAMLINE_HEALTH_HALF_OPEN_MAX_PROBES", "health.halfOpenMaxProbes"],
  ["BEAMLINE_HEALTH_PROBE_LEASE_MS", "health.probeLeaseMs"],
  ["BEAMLINE_ADMIN_TOKEN", "adminToken"],
  ["ANTHROPIC_API_KEY", "anthropic.apiKey"],
  ["ANTHROPIC_BASE_URL", "anthropic.baseUrl"],
  ["GEMINI_API_KEY", "gemini.apiKey"],
  ["GEMINI_BASE_URL", "gemini.baseUrl"],
  ["BEAMLINE_PROVIDERS", "providers"],
];

describe("settings declared in the config schema", () => {
  it("keeps every environment variable Beamline read before, at the same setting", () => {
    const byEnv = new Map(SETTINGS.map((s) => [s.env, s.path.join(".")]));
    for (const [env, path] of ENV_NAMES_BEFORE) assert.equal(byEnv.get(env), path, env);
  });

  it("are listed exactly in docs/operations.md's configuration table", () => {
    const docs = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");
    const block = /<!-- settings:begin -->\n([\s\S]*?)\n<!-- settings:end -->/.exec(docs)?.[1];
    assert.ok(block !== undefined, "docs/operations.md lost its <!-- settings:begin/end --> markers");
    assert.equal(
      block,
      settingsTable(SETTINGS),
      "docs/operations.md's table differs from the schema; paste settingsTable(SETTINGS) between the markers",
    );
  });

  it("each read their own variable, as text the schema coerces", () => {
    const env = Object.fromEntries(ENV_NAMES_BEFORE.map(([name]) => [name, ""]));
    const config = loadConfigFromEnv({
      ...env,
      BEAMLINE_EXEC_MAX_ATTEMPTS: "7",
      BEAMLINE_EXEC_POOL_MAX_QUEUED: "0",
      BEAMLINE_HEALTH_ERROR_RATE_TO_OPEN: "0.25",
      BEAMLINE_HEALTH_COOLDOWN_MS: "1500",
      BEAMLINE_HEALTH_LATENCY_SAMPLES: "20",
    });
    assert.equal(config.execution.maxAttempts, 7);
    assert.equal(config.execution.poolMaxQueued, 0);
    assert.equal(config.health.errorRateToOpen, 0.25);
    assert.equal(config.health.cooldownMs, 1500);
    assert.equal(config.health.latencySamples, 20);
  });
});

describe("execution and health settings", () => {
  it("take their defaults from the config schema, in one place", () => {
    const config = loadConfig({});
    assert.deepEqual(
      { ...config.execution },
      {
        timeToFirstTokenMs: 30_000,
        idleMs: 30_000,
        totalMs: 300_000,
        maxAttempts: 4,
        retriesPerCandidate: 1,
        backoffBaseMs: 250,
        backoffMaxMs: 4_000,
        maxTotalBackoffMs: 10_000,
        maxRetryAfterMs: 5_000,
        poolMaxConcurrent: 64,
        poolMaxQueued: 256,
        poolQueueTimeoutMs: 5_000,
      },
    );
    assert.deepEqual(
      { ...config.health },
      {
        windowMs: 60_000,
        windowBuckets: 12,
        minAttemptsInWindow: 10,
        errorRateToOpen: 0.5,
        consecutiveFailuresToOpen: 5,
        cooldownMs: 30_000,
        halfOpenMaxProbes: 1,
        probeLeaseMs: 60_000,
        successesToClose: 1,
        latencyEwmaAlpha: 0.2,
        latencySamples: 50,
      },
    );
  });

  it("reach the executor and the health projection as parsed, frozen values", () => {
    const config = loadConfig({
      execution: { totalMs: 9_000, poolMaxConcurrent: 2 },
      health: { cooldownMs: 5 },
    });
    const { policy } = executionFromConfig(config);
    assert.equal(policy.totalMs, 9_000);
    assert.equal(policy.idleMs, 30_000);
    assert.ok(!("poolMaxConcurrent" in policy), "pool limits are not part of the per-request policy");
    assert.ok(Object.isFrozen(policy));
    const health = healthPolicyFromConfig(config);
    assert.equal(health.cooldownMs, 5);
    assert.ok(Object.isFrozen(health));
  });

  it("are checked with the rest: every problem, nested or unknown, in one BL_CONFIG_INVALID", () => {
    assert.throws(
      () =>
        loadConfig({
          httpPort: -1,
          execution: { maxAttempts: 0, poolMaxQueued: -1 },
          health: { errorRateToOpen: 2, windowBucket: 4 } as never,
          httpPortt: 1,
        } as never),
      (error) => {
        assert.ok(isBeamlineError(error, "BL_CONFIG_INVALID"));
        for (const path of [
          "httpPort",
          "execution.maxAttempts",
          "execution.poolMaxQueued",
          "health.errorRateToOpen",
          "health",
          "(root)",
        ]) {
          assert.match(error.message, new RegExp(`- ${path.replace(/[.()]/g, "\\$&")}:`), path);
        }
        return true;
      },
    );
  });
});
