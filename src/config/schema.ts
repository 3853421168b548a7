import { z } from "zod";
import { availabilitySettingsSchema } from "./availability.js";
import { httpSettingsSchema } from "./http.js";
import { geminiConfigSchema, providersSchema } from "./providers.js";
import { executionSettingsSchema, healthSettingsSchema } from "./reliability.js";
import { setting } from "./settings.js";

export const ROLES = ["gateway", "worker", "billing", "projector", "notary"] as const;
export type Role = (typeof ROLES)[number];

const port = z.coerce.number().int().min(0).max(65535);
const positiveMs = z.coerce.number().int().positive();

/**
 * Beamline's whole configuration. Parsed once at start-up from the environment, every
 * problem reported together, then frozen. Units live in the names.
 */
const settingsSchema = z.strictObject({
  httpPort: setting(port.default(8080), {
    env: "BEAMLINE_HTTP_PORT",
    doc: "port the gateway listens on; `0` picks a free one",
    unit: "port",
  }),
  httpHost: setting(z.string().min(1).default("127.0.0.1"), {
    env: "BEAMLINE_HTTP_HOST",
    doc: "address the gateway listens on",
  }),
  natsUrl: setting(z.string().min(1).optional(), {
    env: "NATS_URL",
    doc: "NATS servers, comma-separated; when unset Beamline starts its own nats-server under the data dir",
    defaultDoc: "(embedded)",
  }),
  natsCreds: setting(z.string().min(1).optional(), {
    env: "NATS_CREDS",
    doc: "with NATS_URL: a NATS user credentials file (JWT + nkey seed, e.g. from `beamline credentials issue`); a secret, never logged",
  }),
  natsUser: setting(z.string().min(1).optional(), {
    env: "NATS_USER",
    doc: "with NATS_URL: user name for a server with user/password auth (with NATS_PASSWORD)",
  }),
  natsPassword: setting(z.string().optional(), {
    env: "NATS_PASSWORD",
    doc: "with NATS_USER: the password; a secret, never logged",
  }),
  natsToken: setting(z.string().min(1).optional(), {
    env: "NATS_TOKEN",
    doc: "with NATS_URL: token for a server with token auth; a secret, never logged",
  }),
  natsConnectWaitMs: setting(z.coerce.number().int().nonnegative().default(30_000), {
    env: "BEAMLINE_NATS_CONNECT_WAIT_MS",
    doc: "with NATS_URL: how long start-up (and an operator command) keeps trying while no NATS server answers yet, e.g. when both start together; `0` fails at once",
  }),
  embeddedNatsPort: setting(port.default(0), {
    env: "BEAMLINE_EMBEDDED_NATS_PORT",
    doc: "port of the embedded nats-server; `0` picks a free one",
    unit: "port",
  }),
  embeddedNatsGcPercent: setting(z.coerce.number().int().min(10).max(1000).default(60), {
    env: "BEAMLINE_EMBEDDED_NATS_GOGC",
    doc: "the embedded nats-server's Go `GOGC`: how far (percent) its heap may grow above the live heap before a collection; lower holds less memory for more collector CPU. A `GOGC` in the environment wins",
    unit: "%",
  }),
  dataDir: setting(z.string().min(1).default(".data"), {
    env: "BEAMLINE_DATA_DIR",
    doc: "local state: the embedded nats-server's storage, the dev key file",
  }),
  devKey: setting(z.string().min(16, "BEAMLINE_DEV_KEY must be at least 16 characters").optional(), {
    env: "BEAMLINE_DEV_KEY",
    doc: "fixes the dev tenant's key (≥ 16 chars) instead of generating one on first start",
    defaultDoc: "generated",
  }),
  roles: setting(
    z
      .array(z.enum(ROLES))
      .min(1)
      .default([...ROLES]),
    {
      env: "BEAMLINE_ROLES",
      doc: "roles this process runs, comma-separated; all by default (one process for a laptop)",
    },
  ),
  instanceId: setting(z.string().min(1).default(`${process.pid}`), {
    env: "BEAMLINE_INSTANCE_ID",
    doc: "names this process's NATS connection",
    defaultDoc: "process id",
  }),
  maxBodyBytes: setting(
    z.coerce
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    { env: "BEAMLINE_MAX_BODY_BYTES", doc: "largest accepted HTTP request body (413 above)" },
  ),
  requestTimeoutMs: setting(positiveMs.default(300_000), {
    env: "BEAMLINE_REQUEST_TIMEOUT_MS",
    doc: "how long the gateway waits for a request's terminal event before answering 504",
  }),
  ackWaitMs: setting(positiveMs.default(30_000), {
    env: "BEAMLINE_ACK_WAIT_MS",
    doc: "redelivery delay of a stage message whose worker died; long provider calls heartbeat",
  }),
  maxDeliver: setting(z.coerce.number().int().min(2).default(20), {
    env: "BEAMLINE_MAX_DELIVER",
    doc: "deliveries of one stage message before it is dead-lettered",
    unit: "deliveries",
  }),
  maxAckPending: setting(z.coerce.number().int().positive().default(4096), {
    env: "BEAMLINE_MAX_ACK_PENDING",
    doc: "unacknowledged messages per stage consumer across all instances (the concurrency bound)",
    unit: "messages",
  }),
  replicas: setting(z.coerce.number().int().min(1).max(5).default(1), {
    env: "BEAMLINE_REPLICAS",
    doc: "stream and KV replicas: 1 on a laptop, 3 on a cluster",
    unit: "replicas",
  }),
  requestRetentionDays: setting(z.coerce.number().positive().default(30), {
    env: "BEAMLINE_REQUEST_RETENTION_DAYS",
    doc: "max age of request events",
  }),
  usageRetentionDays: setting(z.coerce.number().positive().default(400), {
    env: "BEAMLINE_USAGE_RETENTION_DAYS",
    doc: "max age of usage records",
  }),
  duplicateWindowMs: setting(positiveMs.default(10 * 60_000), {
    env: "BEAMLINE_DUPLICATE_WINDOW_MS",
    doc: "JetStream duplicate window: msg-id de-duplication on top of per-slot sequence checks",
  }),
  /**
   * JetStream persist mode of Beamline's streams (nats-server 2.12+, fixed at creation):
   * `default` acknowledges a write once it is stored per the server's sync policy; `async`
   * acknowledges before the disk write (faster, may lose the last writes on power loss).
   */
  persistMode: setting(z.enum(["default", "async"]).default("default"), {
    env: "BEAMLINE_PERSIST_MODE",
    doc: "`async` acks before the disk write (faster, may lose the last writes on power loss); fixed at stream creation",
  }),
  catalogFile: setting(z.string().min(1).optional(), {
    env: "BEAMLINE_CATALOG_FILE",
    doc: "model catalog file (JSON)",
    defaultDoc: "`config/catalog.json`",
  }),
  openai: z
    .strictObject({
      apiKey: setting(z.string().min(1).optional(), {
        env: "OPENAI_API_KEY",
        doc: "enables the `openai` provider",
      }),
      baseUrl: setting(z.string().url().default("https://api.openai.com/v1"), {
        env: "OPENAI_BASE_URL",
        doc: "the `openai` provider's URL (any OpenAI-compatible API)",
      }),
    })
    .prefault({}),
  mock: z
    .strictObject({
      port: setting(port.default(0), {
        env: "BEAMLINE_MOCK_PORT",
        doc: "port of the built-in mock provider; `0` picks a free one",
        unit: "port",
      }),
      latencyMs: setting(z.coerce.number().int().nonnegative().default(0), {
        env: "BEAMLINE_MOCK_LATENCY_MS",
        doc: "mock provider: delay before answering",
      }),
      chunkDelayMs: setting(z.coerce.number().int().nonnegative().default(0), {
        env: "BEAMLINE_MOCK_CHUNK_DELAY_MS",
        doc: "mock provider: delay between streamed chunks",
      }),
      failureRate: setting(z.coerce.number().min(0).max(1).default(0), {
        env: "BEAMLINE_MOCK_FAILURE_RATE",
        doc: "mock provider: share of calls that fail",
        unit: "share 0..1",
      }),
      url: setting(z.string().url().optional(), {
        env: "BEAMLINE_MOCK_URL",
        doc: "use a mock already running elsewhere (benchmarks) instead of starting one",
      }),
    })
    .prefault({}),
  provider: z
    .strictObject({
      connectTimeoutMs: setting(positiveMs.default(5_000), {
        env: "BEAMLINE_PROVIDER_CONNECT_TIMEOUT_MS",
        doc: "provider HTTP: connect timeout",
      }),
      headersTimeoutMs: setting(positiveMs.default(120_000), {
        env: "BEAMLINE_PROVIDER_HEADERS_TIMEOUT_MS",
        doc: "provider HTTP: longest wait for the response headers, and longest silence within a body",
      }),
      requestTimeoutMs: setting(positiveMs.default(600_000), {
        env: "BEAMLINE_PROVIDER_REQUEST_TIMEOUT_MS",
        doc: "provider HTTP: deadline of a whole call, streaming included",
      }),
      maxConnections: setting(z.coerce.number().int().positive().default(256), {
        env: "BEAMLINE_PROVIDER_MAX_CONNECTIONS",
        doc: "provider HTTP: keep-alive connections held open per provider",
        unit: "connections",
      }),
    })
    .prefault({}),
  /**
   * The router's live heap is ~60 MB, but V8's default lets the old generation grow to up to 4×
   * the live heap between full collections on a machine this size, and keeps the pages it grew
   * (docs/architecture.md, "Heap growth").
   */
  heapGrowingPercent: setting(z.coerce.number().int().min(0).max(300).default(25), {
    env: "BEAMLINE_HEAP_GROWING_PERCENT",
    doc: "how far (percent) V8 lets the old generation grow above the heap live after a full collection before the next one; lower holds less memory and collects more often; 0 keeps V8's own rule",
    unit: "%",
  }),
  /**
   * V8 grows the young generation to 32 MB under load and keeps it. Capped at 16 MB the router
   * peaks about 15 MB lower; on one core that costs no CPU this machine can measure, on two it
   * costs 1.11x the CPU per request, so `auto` caps only a process held to one core
   * (docs/architecture.md, "Router memory"). 8 MB holds about 25 MB for 12-20 % more CPU.
   */
  youngGenerationMb: setting(
    z
      .union([z.literal("auto"), z.coerce.number().int().min(0).max(64)], {
        error: "must be auto or a whole number of MB from 0 to 64",
      })
      .default("auto"),
    {
      env: "BEAMLINE_YOUNG_GENERATION_MB",
      doc: "the most V8's young generation (both semi-spaces) may grow to under load; auto: 16 when the process may run on one core only, else V8's own rule (up to 32 MB); 16 holds the router's peak memory about 15 MB lower, 8 about 25 MB for 12-20 % more CPU per request; 0 keeps V8's own rule",
      unit: "MB",
    },
  ),
  logLevel: setting(z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"), {
    env: "LOG_LEVEL",
    doc: "pino level",
  }),
  /**
   * Must outlast the slowest request plus billing lag: 15 min by default, above the 10 min
   * provider timeout.
   */
  quotaReservationTtlMs: setting(positiveMs.default(900_000), {
    env: "BEAMLINE_QUOTA_RESERVATION_TTL_MS",
    doc: "an unsettled quota reservation (a crashed request) expires after this (docs/quotas.md)",
  }),
  /** Provider-call execution (docs/reliability.md). */
  execution: executionSettingsSchema.prefault({}),
  /** Provider health and circuit breakers (docs/reliability.md); the same on every instance. */
  health: healthSettingsSchema.prefault({}),
  /** NATS outages, idempotent retries and graceful drain (docs/reliability.md). */
  availability: availabilitySettingsSchema.prefault({}),
  /** CORS, SSE keep-alive and compression of the front doors (README, "HTTP conventions"). */
  http: httpSettingsSchema.prefault({}),
  adminToken: setting(z.string().min(16, "BEAMLINE_ADMIN_TOKEN must be at least 16 characters").optional(), {
    env: "BEAMLINE_ADMIN_TOKEN",
    doc: "bearer token of the admin API `/admin/v1/…` (≥ 16 chars, long and random); unset: not mounted (docs/tenancy.md)",
  }),
  /**
   * The Prometheus listener, apart from the public API port (docs/security.md, "Operator
   * surfaces"): every process serves it, whatever its roles.
   */
  metrics: z
    .strictObject({
      host: setting(z.string().min(1).default("127.0.0.1"), {
        env: "BEAMLINE_METRICS_HOST",
        doc: "address the metrics listener (`/metrics`, `/healthz`, `/readyz`) binds; loopback unless Prometheus scrapes from elsewhere",
      }),
      port: setting(port.default(9464), {
        env: "BEAMLINE_METRICS_PORT",
        doc: "port of the metrics listener; `0` picks a free one (one port per process on a host)",
        unit: "port",
      }),
      token: setting(z.string().min(16, "BEAMLINE_METRICS_TOKEN must be at least 16 characters").optional(), {
        env: "BEAMLINE_METRICS_TOKEN",
        doc: "when set, `/metrics` needs `Authorization: Bearer <token>` (≥ 16 chars)",
      }),
      tenantLabel: setting(z.enum(["on", "hashed", "off"]).default("on"), {
        env: "BEAMLINE_METRICS_TENANT_LABEL",
        doc: "the `tenant` label: the tenant id (`on`), a keyed hash of it (`hashed`) or none (`off`)",
      }),
      tenantLabelLimit: setting(z.coerce.number().int().positive().default(100), {
        env: "BEAMLINE_METRICS_TENANT_LABEL_LIMIT",
        doc: "distinct tenant label values per process; later tenants are counted under `(other)`",
        unit: "tenants",
      }),
      tenantHashKey: setting(
        z.string().min(16, "BEAMLINE_METRICS_TENANT_HASH_KEY must be at least 16 characters").optional(),
        {
          env: "BEAMLINE_METRICS_TENANT_HASH_KEY",
          doc: "key of the `hashed` tenant label (≥ 16 chars; the same on every process); unset: generated into `<dataDir>/metrics-label-key`",
        },
      ),
      lagIntervalMs: setting(z.coerce.number().int().min(1_000).default(15_000), {
        env: "BEAMLINE_METRICS_LAG_INTERVAL_MS",
        doc: "how often a process with the projector role reads consumer lag from JetStream for the lag gauges (docs/observability.md)",
        unit: "ms",
      }),
    })
    .prefault({}),
  /**
   * Failed operator authentication (admin API, metrics token), limited per client address by
   * a token bucket: `failureBurst` failures in a row, then one per `failureRefillMs`.
   */
  operatorAuth: z
    .strictObject({
      failureBurst: setting(z.coerce.number().int().positive().default(10), {
        env: "BEAMLINE_AUTH_FAILURE_BURST",
        doc: "failed admin or metrics authentications an address may make in a row before 429",
        unit: "attempts",
      }),
      failureRefillMs: setting(positiveMs.default(6_000), {
        env: "BEAMLINE_AUTH_FAILURE_REFILL_MS",
        doc: "an address earns one more failed attempt this often (10 a minute by default)",
      }),
    })
    .prefault({}),
  allowDevKeyOnNetwork: setting(
    z
      .union([z.boolean(), z.stringbool()], {
        error: "BEAMLINE_ALLOW_DEV_KEY_ON_NETWORK must be true or false",
      })
      .default(false),
    {
      env: "BEAMLINE_ALLOW_DEV_KEY_ON_NETWORK",
      doc: "`true` lets the gateway listen beyond loopback while the dev tenant's key is active (docs/security.md)",
    },
  ),
  /**
   * The notary role (docs/audit.md, "Tamper evidence"): signed checkpoints of every stream in
   * BL_AUDIT. A checkpoint closes when its oldest message has waited `checkpointIntervalMs` or
   * it holds `checkpointMaxMessages` (capped so one checkpoint stays well under NATS's 1 MiB
   * default max payload: 16 bytes of digest a message).
   */
  notary: z
    .strictObject({
      checkpointIntervalMs: setting(positiveMs.default(10_000), {
        env: "BEAMLINE_NOTARY_CHECKPOINT_INTERVAL_MS",
        doc: "a checkpoint closes when its oldest message has waited this long",
      }),
      checkpointMaxMessages: setting(z.coerce.number().int().positive().max(30_000).default(10_000), {
        env: "BEAMLINE_NOTARY_CHECKPOINT_MAX_MESSAGES",
        doc: "a checkpoint closes when it holds this many messages (at most 30,000: one checkpoint stays under 1 MiB)",
        unit: "messages",
      }),
      pollIntervalMs: setting(positiveMs.default(1_000), {
        env: "BEAMLINE_NOTARY_POLL_INTERVAL_MS",
        doc: "how often the notary checks the age of an open checkpoint, and its pause before following a stream again after a failed read",
      }),
      key: setting(z.string().min(1).optional(), {
        env: "BEAMLINE_NOTARY_KEY",
        doc: "the notary's Ed25519 signing key as PEM (PKCS#8); unset: `keyFile`, else generated into `<dataDir>/notary-key.pem`",
      }),
      keyFile: setting(z.string().min(1).optional(), {
        env: "BEAMLINE_NOTARY_KEY_FILE",
        doc: "file holding the notary's signing key (PEM)",
      }),
    })
    .prefault({}),
  /**
   * The event signing key: gateway, ingress and admin sign what they write, the worker and the
   * projectors act only on signed requests and configuration (docs/security.md).
   */
  eventSigning: z
    .strictObject({
      key: setting(z.string().min(1).optional(), {
        env: "BEAMLINE_EVENT_SIGNING_KEY",
        doc: "the deployment's event signing key, base64 of ≥ 32 random bytes; set the same value on every process of a multi-process deployment; unset: generated into `<dataDir>/event-signing.key` (0600)",
        defaultDoc: "generated",
      }),
      since: setting(z.iso.datetime({ offset: true }).optional(), {
        env: "BEAMLINE_EVENT_SIGNING_SINCE",
        doc: "with a key from the environment: when signing began; unsigned events stored before it are trusted as pre-upgrade history, none after it",
        defaultDoc: "(none trusted)",
      }),
    })
    .prefault({}),
  /**
   * Content at rest (docs/security.md): prompts and completions in events are sealed with a
   * per-tenant data key, itself wrapped by the master key. The tenant's policy chooses
   * `encrypted`, `hashes` or `none`.
   */
  contentAtRest: z
    .strictObject({
      sealing: setting(z.enum(["on", "off"]).default("on"), {
        env: "BEAMLINE_CONTENT_SEALING",
        doc: "`off` stores prompts and completions in the clear whatever the tenant's policy says (for benchmarks, or disks encrypted below NATS)",
      }),
      masterKey: setting(z.string().min(1).optional(), {
        env: "BEAMLINE_MASTER_KEY",
        doc: "the master key that wraps tenants' data keys: 32 random bytes, base64 (`openssl rand -base64 32`); unset: `masterKeyFile`, else generated into `<dataDir>/master-key` (mode 0600)",
      }),
      masterKeyFile: setting(z.string().min(1).optional(), {
        env: "BEAMLINE_MASTER_KEY_FILE",
        doc: "file holding the master key (base64); every process of one deployment needs the same key",
      }),
      keyCacheMaxEntries: setting(z.coerce.number().int().positive().default(10_000), {
        env: "BEAMLINE_KEY_CACHE_MAX_ENTRIES",
        doc: "unwrapped tenant data keys kept in memory at most",
        unit: "keys",
      }),
      keyCacheTtlMs: setting(positiveMs.default(60_000), {
        env: "BEAMLINE_KEY_CACHE_TTL_MS",
        doc: "how long an unwrapped data key is used before the key bucket is read again: an erasure reaches running processes within it",
      }),
    })
    .prefault({}),
  /** Google Gemini, registered when GEMINI_API_KEY is set. */
  gemini: geminiConfigSchema,
  /** Named providers from BEAMLINE_PROVIDERS / BEAMLINE_PROVIDERS_FILE (see src/config/providers.ts). */
  providers: setting(providersSchema, {
    env: "BEAMLINE_PROVIDERS",
    doc: "named providers (openai-compatible, nats-service) as JSON; or `BEAMLINE_PROVIDERS_FILE`, a JSON file (docs/providers.md)",
  }),
  /** Anthropic's Messages API; the `anthropic` provider is registered when `apiKey` is set. */
  anthropic: z
    .strictObject({
      apiKey: setting(z.string().min(1).optional(), {
        env: "ANTHROPIC_API_KEY",
        doc: "enables the `anthropic` provider (Messages API; docs/providers.md)",
      }),
      baseUrl: setting(z.string().url().default("https://api.anthropic.com/v1"), {
        env: "ANTHROPIC_BASE_URL",
        doc: "the `anthropic` provider's URL, up to and including the version segment",
      }),
    })
    .prefault({}),
});

/** Every setting, with the checks that span several of them. */
export const configSchema = settingsSchema.superRefine((config, context) => {
  // JetStream refuses a stream whose duplicate window outlasts its max age; say so by name
  // at start instead of failing on the server's words while the streams are applied.
  const day = 86_400_000;
  for (const name of ["requestRetentionDays", "usageRetentionDays"] as const) {
    if (config[name] * day >= config.duplicateWindowMs) continue;
    context.addIssue({
      code: "custom",
      path: [name],
      message: `${config[name]} days (${Math.round(config[name] * day)} ms) is shorter than the duplicate window (BEAMLINE_DUPLICATE_WINDOW_MS, ${config.duplicateWindowMs} ms); JetStream needs the retention at least as long`,
    });
  }
});

export type BeamlineConfig = Readonly<z.infer<typeof configSchema>>;
export type BeamlineConfigInput = z.input<typeof configSchema>;
