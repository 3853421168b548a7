import { BeamlineError } from "../errors/index.js";
import { providerSettingsFromEnv } from "./providers.js";
import { type BeamlineConfig, type BeamlineConfigInput, configSchema } from "./schema.js";

/** Environment variable → config path. Documented in docs/operations.md. */
const ENV_KEYS: ReadonlyArray<[string, string[]]> = [
  ["BEAMLINE_HTTP_PORT", ["httpPort"]],
  ["BEAMLINE_HTTP_HOST", ["httpHost"]],
  ["NATS_URL", ["natsUrl"]],
  ["BEAMLINE_EMBEDDED_NATS_PORT", ["embeddedNatsPort"]],
  ["BEAMLINE_DATA_DIR", ["dataDir"]],
  ["BEAMLINE_DEV_KEY", ["devKey"]],
  ["BEAMLINE_ROLES", ["roles"]],
  ["BEAMLINE_INSTANCE_ID", ["instanceId"]],
  ["BEAMLINE_MAX_BODY_BYTES", ["maxBodyBytes"]],
  ["BEAMLINE_REQUEST_TIMEOUT_MS", ["requestTimeoutMs"]],
  ["BEAMLINE_ACK_WAIT_MS", ["ackWaitMs"]],
  ["BEAMLINE_MAX_DELIVER", ["maxDeliver"]],
  ["BEAMLINE_MAX_ACK_PENDING", ["maxAckPending"]],
  ["BEAMLINE_REPLICAS", ["replicas"]],
  ["BEAMLINE_REQUEST_RETENTION_DAYS", ["requestRetentionDays"]],
  ["BEAMLINE_USAGE_RETENTION_DAYS", ["usageRetentionDays"]],
  ["BEAMLINE_DUPLICATE_WINDOW_MS", ["duplicateWindowMs"]],
  ["BEAMLINE_PERSIST_MODE", ["persistMode"]],
  ["BEAMLINE_CATALOG_FILE", ["catalogFile"]],
  ["OPENAI_API_KEY", ["openai", "apiKey"]],
  ["OPENAI_BASE_URL", ["openai", "baseUrl"]],
  ["BEAMLINE_MOCK_PORT", ["mock", "port"]],
  ["BEAMLINE_MOCK_LATENCY_MS", ["mock", "latencyMs"]],
  ["BEAMLINE_MOCK_CHUNK_DELAY_MS", ["mock", "chunkDelayMs"]],
  ["BEAMLINE_MOCK_FAILURE_RATE", ["mock", "failureRate"]],
  ["BEAMLINE_MOCK_URL", ["mock", "url"]],
  ["BEAMLINE_PROVIDER_CONNECT_TIMEOUT_MS", ["provider", "connectTimeoutMs"]],
  ["BEAMLINE_PROVIDER_HEADERS_TIMEOUT_MS", ["provider", "headersTimeoutMs"]],
  ["BEAMLINE_PROVIDER_REQUEST_TIMEOUT_MS", ["provider", "requestTimeoutMs"]],
  ["BEAMLINE_PROVIDER_MAX_CONNECTIONS", ["provider", "maxConnections"]],
  ["LOG_LEVEL", ["logLevel"]],
  ["BEAMLINE_QUOTA_RESERVATION_TTL_MS", ["quotaReservationTtlMs"]],
  ["BEAMLINE_EXEC_TIME_TO_FIRST_TOKEN_MS", ["execution", "timeToFirstTokenMs"]],
  ["BEAMLINE_EXEC_IDLE_MS", ["execution", "idleMs"]],
  ["BEAMLINE_EXEC_TOTAL_MS", ["execution", "totalMs"]],
  ["BEAMLINE_EXEC_MAX_ATTEMPTS", ["execution", "maxAttempts"]],
  ["BEAMLINE_EXEC_RETRIES_PER_CANDIDATE", ["execution", "retriesPerCandidate"]],
  ["BEAMLINE_EXEC_BACKOFF_BASE_MS", ["execution", "backoffBaseMs"]],
  ["BEAMLINE_EXEC_BACKOFF_MAX_MS", ["execution", "backoffMaxMs"]],
  ["BEAMLINE_EXEC_MAX_TOTAL_BACKOFF_MS", ["execution", "maxTotalBackoffMs"]],
  ["BEAMLINE_EXEC_MAX_RETRY_AFTER_MS", ["execution", "maxRetryAfterMs"]],
  ["BEAMLINE_EXEC_POOL_MAX_CONCURRENT", ["execution", "poolMaxConcurrent"]],
  ["BEAMLINE_EXEC_POOL_MAX_QUEUED", ["execution", "poolMaxQueued"]],
  ["BEAMLINE_EXEC_POOL_QUEUE_TIMEOUT_MS", ["execution", "poolQueueTimeoutMs"]],
  ["BEAMLINE_HEALTH_WINDOW_MS", ["health", "windowMs"]],
  ["BEAMLINE_HEALTH_MIN_ATTEMPTS", ["health", "minAttemptsInWindow"]],
  ["BEAMLINE_HEALTH_ERROR_RATE_TO_OPEN", ["health", "errorRateToOpen"]],
  ["BEAMLINE_HEALTH_CONSECUTIVE_FAILURES_TO_OPEN", ["health", "consecutiveFailuresToOpen"]],
  ["BEAMLINE_HEALTH_COOLDOWN_MS", ["health", "cooldownMs"]],
  ["BEAMLINE_HEALTH_HALF_OPEN_MAX_PROBES", ["health", "halfOpenMaxProbes"]],
  ["BEAMLINE_HEALTH_PROBE_LEASE_MS", ["health", "probeLeaseMs"]],
  ["BEAMLINE_ADMIN_TOKEN", ["adminToken"]],
  ["BEAMLINE_NOTARY_CHECKPOINT_INTERVAL_MS", ["notary", "checkpointIntervalMs"]],
  ["BEAMLINE_NOTARY_CHECKPOINT_MAX_MESSAGES", ["notary", "checkpointMaxMessages"]],
  ["BEAMLINE_NOTARY_POLL_INTERVAL_MS", ["notary", "pollIntervalMs"]],
  ["BEAMLINE_NOTARY_KEY", ["notary", "key"]],
  ["BEAMLINE_NOTARY_KEY_FILE", ["notary", "keyFile"]],
  ["ANTHROPIC_API_KEY", ["anthropic", "apiKey"]],
  ["ANTHROPIC_BASE_URL", ["anthropic", "baseUrl"]],
];

/** Turns environment variables into the (unvalidated) config input shape. */
export function configInputFromEnv(env: NodeJS.ProcessEnv): BeamlineConfigInput {
  const input: Record<string, unknown> = { openai: {}, mock: {}, provider: {} };
  for (const [name, path] of ENV_KEYS) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    const value =
      name === "BEAMLINE_ROLES"
        ? raw
            .split(",")
            .map((r) => r.trim())
            .filter(Boolean)
        : raw;
    let target = input;
    for (const key of path.slice(0, -1)) {
      // Sections absent from the initial input (added by later features) are created on demand.
      target[key] ??= {};
      target = target[key] as Record<string, unknown>;
    }
    target[path.at(-1)!] = value;
  }
  Object.assign(input, providerSettingsFromEnv(env));
  return input as BeamlineConfigInput;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses and freezes the configuration. Every problem is reported in one error
 * (`BL_CONFIG_INVALID`) so an operator fixes them in one go. Secrets are never echoed.
 */
export function loadConfig(input: BeamlineConfigInput): BeamlineConfig {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `  - ${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new BeamlineError("BL_CONFIG_INVALID", `configuration is invalid:\n${problems.join("\n")}`);
  }
  return deepFreeze(parsed.data);
}

/** `loadConfig` over the process environment, with overrides (tests, CLI flags) on top. */
export function loadConfigFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<BeamlineConfigInput> = {},
): BeamlineConfig {
  const fromEnv = configInputFromEnv(env);
  const merged = {
    ...fromEnv,
    ...overrides,
    openai: { ...fromEnv.openai, ...overrides.openai },
    mock: { ...fromEnv.mock, ...overrides.mock },
    provider: { ...fromEnv.provider, ...overrides.provider },
  };
  return loadConfig(merged);
}
