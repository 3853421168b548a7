import { z } from "zod";
import { geminiConfigSchema, providersSchema } from "./providers.js";

export const ROLES = ["gateway", "worker", "billing", "projector", "notary"] as const;
export type Role = (typeof ROLES)[number];

const port = z.coerce.number().int().min(0).max(65535);
const positiveMs = z.coerce.number().int().positive();

/**
 * Beamline's whole configuration. Parsed once at start-up from the environment, every
 * problem reported together, then frozen. Units live in the names.
 */
export const configSchema = z.object({
  /** Where the gateway listens. `0` picks a free port (tests). */
  httpPort: port.default(8080),
  httpHost: z.string().min(1).default("127.0.0.1"),
  /** An existing NATS; when absent Beamline starts its own nats-server under `dataDir`. */
  natsUrl: z.string().min(1).optional(),
  /** Port of the embedded nats-server; `0` picks a free one. */
  embeddedNatsPort: port.default(0),
  /** Local state: the embedded nats-server's storage. */
  dataDir: z.string().min(1).default(".data"),
  /** Fixes the dev tenant's key instead of generating one on first start. */
  devKey: z.string().min(16, "BEAMLINE_DEV_KEY must be at least 16 characters").optional(),
  /** Roles this process runs; all of them by default (one process for a laptop). */
  roles: z
    .array(z.enum(ROLES))
    .min(1)
    .default([...ROLES]),
  instanceId: z.string().min(1).default(`${process.pid}`),
  /** Largest accepted HTTP request body. */
  maxBodyBytes: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** How long the gateway waits for a request's terminal event before answering 504. */
  requestTimeoutMs: positiveMs.default(300_000),
  /** Redelivery delay of a stage message whose worker died; long provider calls heartbeat. */
  ackWaitMs: positiveMs.default(30_000),
  /** Deliveries of one stage message before it is dead-lettered. */
  maxDeliver: z.coerce.number().int().min(2).default(20),
  /** Unacknowledged messages per stage consumer across all instances (the concurrency bound). */
  maxAckPending: z.coerce.number().int().positive().default(4096),
  /** Stream replicas: 1 on a laptop, 3 on a cluster. */
  replicas: z.coerce.number().int().min(1).max(5).default(1),
  /** Retention of request events (days); the usage stream keeps its own. */
  requestRetentionDays: z.coerce.number().positive().default(30),
  usageRetentionDays: z.coerce.number().positive().default(400),
  /** JetStream duplicate window: msg-id de-duplication on top of per-slot sequence checks. */
  duplicateWindowMs: positiveMs.default(10 * 60_000),
  /**
   * JetStream persist mode of Beamline's streams (nats-server 2.12+, fixed at creation):
   * `default` acknowledges a write once it is stored per the server's sync policy; `async`
   * acknowledges before the disk write (faster, may lose the last writes on power loss).
   */
  persistMode: z.enum(["default", "async"]).default("default"),
  /** Model catalog file (JSON); defaults to the one shipped with Beamline. */
  catalogFile: z.string().min(1).optional(),
  openai: z.object({
    apiKey: z.string().min(1).optional(),
    baseUrl: z.string().url().default("https://api.openai.com/v1"),
  }),
  mock: z.object({
    /** Port of the built-in mock provider; `0` picks a free one. */
    port: port.default(0),
    latencyMs: z.coerce.number().int().nonnegative().default(0),
    chunkDelayMs: z.coerce.number().int().nonnegative().default(0),
    failureRate: z.coerce.number().min(0).max(1).default(0),
    /** Use a mock already running elsewhere (benchmarks) instead of starting one. */
    url: z.string().url().optional(),
  }),
  provider: z.object({
    connectTimeoutMs: positiveMs.default(5_000),
    headersTimeoutMs: positiveMs.default(120_000),
    requestTimeoutMs: positiveMs.default(600_000),
    maxConnections: z.coerce.number().int().positive().default(256),
  }),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /**
   * How long a quota reservation holds without settlement before any admitter may expire it
   * (a crashed request). Must outlast the slowest request plus billing lag: 15 min by default,
   * above the 10 min provider timeout.
   */
  quotaReservationTtlMs: positiveMs.default(900_000),
  /**
   * Provider-call execution (docs/reliability.md). Unset fields take the defaults of
   * executionPolicySchema (src/execution/policy.ts), so the defaults live in one place.
   */
  execution: z
    .object({
      timeToFirstTokenMs: positiveMs.optional(),
      idleMs: positiveMs.optional(),
      totalMs: positiveMs.optional(),
      maxAttempts: z.coerce.number().int().positive().optional(),
      retriesPerCandidate: z.coerce.number().int().nonnegative().optional(),
      backoffBaseMs: positiveMs.optional(),
      backoffMaxMs: positiveMs.optional(),
      maxTotalBackoffMs: z.coerce.number().int().nonnegative().optional(),
      maxRetryAfterMs: z.coerce.number().int().nonnegative().optional(),
      /** Calls in flight per provider/model from one instance. */
      poolMaxConcurrent: z.coerce.number().int().positive().default(64),
      /** Callers waiting for a slot per provider/model; one more is refused (backpressure). */
      poolMaxQueued: z.coerce.number().int().nonnegative().default(256),
      /** Longest wait for a slot before backpressure. */
      poolQueueTimeoutMs: positiveMs.default(5_000),
    })
    .prefault({}),
  /**
   * Provider health and circuit breakers (docs/reliability.md). Unset fields take the
   * defaults of healthPolicySchema (projections/provider-health.ts). Every instance must
   * run with the same values, or replay and live projection disagree.
   */
  health: z
    .object({
      windowMs: positiveMs.optional(),
      minAttemptsInWindow: z.coerce.number().int().positive().optional(),
      errorRateToOpen: z.coerce.number().gt(0).max(1).optional(),
      consecutiveFailuresToOpen: z.coerce.number().int().positive().optional(),
      cooldownMs: positiveMs.optional(),
      halfOpenMaxProbes: z.coerce.number().int().positive().optional(),
      probeLeaseMs: positiveMs.optional(),
    })
    .prefault({}),
  /**
   * Bearer token of the admin HTTP API (`/admin/v1/...`); when unset the admin API is not
   * mounted at all. Not a tenant key: use a long random value and keep it out of clients.
   */
  adminToken: z.string().min(16, "BEAMLINE_ADMIN_TOKEN must be at least 16 characters").optional(),
  /**
   * The notary role (docs/audit.md, "Tamper evidence"): signed checkpoints of every stream in
   * BL_AUDIT. A checkpoint closes when its oldest message has waited `checkpointIntervalMs` or
   * it holds `checkpointMaxMessages` (capped so one checkpoint stays well under NATS's 1 MiB
   * default max payload: 16 bytes of digest a message).
   */
  notary: z
    .object({
      checkpointIntervalMs: positiveMs.default(10_000),
      checkpointMaxMessages: z.coerce.number().int().positive().max(30_000).default(10_000),
      /** How often the notary looks for new messages when it has caught up. */
      pollIntervalMs: positiveMs.default(1_000),
      /** The Ed25519 signing key as PEM (PKCS#8); else `keyFile`; else `<dataDir>/notary-key.pem`. */
      key: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
    })
    .prefault({}),
  /** Google Gemini, registered when GEMINI_API_KEY is set. */
  gemini: geminiConfigSchema,
  /** Named providers from BEAMLINE_PROVIDERS / BEAMLINE_PROVIDERS_FILE (see src/config/providers.ts). */
  providers: providersSchema,
  /** Anthropic's Messages API; the `anthropic` provider is registered when `apiKey` is set. */
  anthropic: z
    .object({
      apiKey: z.string().min(1).optional(),
      /** Up to and including the version segment; `/messages` is appended. */
      baseUrl: z.string().url().default("https://api.anthropic.com/v1"),
    })
    .prefault({}),
});

export type BeamlineConfig = Readonly<z.infer<typeof configSchema>>;
export type BeamlineConfigInput = z.input<typeof configSchema>;
