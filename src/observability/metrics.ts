import { Counter, collectDefaultMetrics, Gauge, Histogram, type LabelValues, Registry } from "prom-client";
import { createTenantLabeller, type TenantLabeller } from "./tenant-label.js";

/**
 * A counter with a `tenant` label. Callers pass the tenant id; the deployment's
 * {@link TenantLabeller} decides what is exported (the id, a hash, `(other)` past the cap,
 * or no label), so no caller can bypass the setting or the cardinality cap.
 */
export interface TenantCounter<L extends string> {
  inc(labels: LabelValues<L | "tenant"> & { tenant: string }, value?: number): void;
}

/** A histogram with a `tenant` label; see {@link TenantCounter}. */
export interface TenantHistogram<L extends string> {
  observe(labels: LabelValues<L | "tenant"> & { tenant: string }, value: number): void;
}

/** A gauge with a `tenant` label; see {@link TenantCounter}. */
export interface TenantGauge<L extends string> {
  set(labels: LabelValues<L | "tenant"> & { tenant: string }, value: number): void;
}

/** One value of a gauge read at scrape time. */
export interface GaugeSample<L extends string> {
  labels: LabelValues<L>;
  value: number;
}

/**
 * A gauge whose values are read from a source when Prometheus scrapes, not set as things
 * happen: the series it exports are exactly what the source returns then (a provider/model
 * that disappeared leaves no stale series behind). Exports nothing until a source is set.
 */
export interface SampledGauge<L extends string> {
  /** Sets the one source of this process (the role that owns the state). */
  sampleFrom(source: () => Iterable<GaugeSample<L>>): void;
}

/**
 * Buckets of every end-to-end latency (seconds): an LLM answer takes from milliseconds (a
 * cache, a refusal) to minutes (a long reasoning stream), so they reach 300 s.
 */
export const LLM_LATENCY_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 180, 300,
];
/** `gen_ai.client.operation.duration`'s buckets, as the GenAI semantic conventions specify them. */
export const GEN_AI_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/** `gen_ai.client.token.usage`'s buckets, as the GenAI semantic conventions specify them. */
export const GEN_AI_TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
/**
 * Time per output token (seconds): the convention's server buckets (0.01 … 2.5) with three
 * finer ones below, since small and local models decode in a few milliseconds a token.
 */
const TIME_PER_TOKEN_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5,
];

/**
 * prom-client's default gauges named `…_total`, which Prometheus reserves for counters
 * (`promtool check metrics` flags them). Each is the sum over the `type` label of the gauge
 * of the same name without the suffix, so nothing is lost by leaving them out.
 */
const DEFAULT_GAUGES_NAMED_LIKE_COUNTERS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/**
 * Beamline's Prometheus metrics. Labels are tenants, providers, models and stages — never
 * keys or request ids (unbounded cardinality, and keys are secrets). Tenant labels go through
 * the tenant labeller (`BEAMLINE_METRICS_TENANT_LABEL`, docs/security.md).
 */
export interface BeamlineMetrics {
  registry: Registry;
  httpRequests: Counter<"route" | "status">;
  requestDuration: TenantHistogram<"outcome" | "stream">;
  stageMessages: Counter<"stage" | "outcome">;
  stageDuration: Histogram<"stage">;
  /**
   * Requests refused before anything was served or written for them: by the worker (envelope
   * checks) or the ingress (producer checks). No tenant label: a forged tenant is unbounded.
   */
  envelopeRejections: Counter<"stage" | "reason">;
  providerAttempts: Counter<"provider" | "model" | "outcome">;
  providerLatency: Histogram<"provider" | "model">;
  tokens: TenantCounter<"provider" | "model" | "kind">;
  costNanoUsd: TenantCounter<"provider" | "model">;
  /**
   * Routing decisions. No policy-version label: every publish of a policy makes a new version,
   * so it would grow without bound (the version is on the route.decided event).
   */
  routingDecisions: TenantCounter<"strategy" | "model" | "outcome">;
  admissions: TenantCounter<"outcome">;
  /** Streamed calls: request sent to the first content chunk. */
  timeToFirstToken: Histogram<"provider" | "model">;
  /** Decode speed: the time after the first token divided by the tokens after it. */
  timePerOutputToken: Histogram<"provider" | "model">;
  /** `gen_ai.client.operation.duration` (GenAI semantic conventions). */
  genAiOperationDuration: Histogram<GenAiLabel | "error_type">;
  /** `gen_ai.client.token.usage` (GenAI semantic conventions). */
  genAiTokenUsage: Histogram<GenAiLabel | "gen_ai_token_type">;
  /** 0 closed, 1 half-open, 2 open; see {@link BreakerStateValues}. */
  breakerState: SampledGauge<"provider" | "model">;
  extensionSteps: Counter<"stage" | "extension" | "verdict">;
  extensionStepDuration: Histogram<"stage" | "extension">;
  /** Requests left in the tenant's own per-minute window after its last admission. */
  quotaRemainingRequests: TenantGauge<never>;
  /** Tokens left in the tenant's own per-minute window after its last admission. */
  quotaRemainingTokens: TenantGauge<never>;
  consumerPending: Gauge<"stream" | "consumer">;
  consumerAckPending: Gauge<"stream" | "consumer">;
  projectionLag: Gauge<"projection">;
  consumerLagSampledAt: Gauge<never>;
  /** Response cache outcomes per tenant: `hit`, `miss`, `bypass` (docs/caching.md). */
  cacheRequests: TenantCounter<"status">;
  /** Bytes of answers the response cache `stored` and `served`, per tenant (sealed size). */
  cacheBytes: TenantCounter<"direction">;
  /** First attempts of hedging tenants by what the hedge did (docs/reliability.md). */
  hedges: TenantCounter<"outcome">;
}

/** The labels every GenAI convention series carries, in Prometheus spelling. */
export type GenAiLabel = "gen_ai_operation_name" | "gen_ai_provider_name" | "gen_ai_request_model";

/** The values of `beamline_breaker_state`. */
export const BreakerStateValues = { closed: 0, half_open: 1, open: 2 } as const;

export interface MetricsOptions {
  /** prom-client's process and runtime metrics (default true). */
  defaultMetrics?: boolean;
  /** How tenant labels are written; default: the tenant id, for at most 100 tenants. */
  tenantLabel?: TenantLabeller;
}

/** Label set with the tenant mapped, or removed when the labeller writes no tenant label. */
function withTenant<T extends { tenant: string }>(labeller: TenantLabeller, labels: T): T {
  const value = labeller.label(labels.tenant);
  if (value !== undefined) return { ...labels, tenant: value };
  const { tenant: _dropped, ...rest } = labels;
  return rest as T;
}

function tenantCounter<L extends string>(
  labeller: TenantLabeller,
  config: { name: string; help: string; labelNames: L[]; registers: Registry[] },
): TenantCounter<L> {
  const labelNames: string[] = labeller.mode === "off" ? config.labelNames : ["tenant", ...config.labelNames];
  const counter = new Counter<string>({ ...config, labelNames });
  return { inc: (labels, value) => counter.inc(withTenant(labeller, labels), value) };
}

function tenantHistogram<L extends string>(
  labeller: TenantLabeller,
  config: { name: string; help: string; labelNames: L[]; buckets: number[]; registers: Registry[] },
): TenantHistogram<L> {
  const labelNames: string[] = labeller.mode === "off" ? config.labelNames : ["tenant", ...config.labelNames];
  const histogram = new Histogram<string>({ ...config, labelNames });
  return { observe: (labels, value) => histogram.observe(withTenant(labeller, labels), value) };
}

function tenantGauge<L extends string>(
  labeller: TenantLabeller,
  config: { name: string; help: string; labelNames: L[]; registers: Registry[] },
): TenantGauge<L> {
  const labelNames: string[] = labeller.mode === "off" ? config.labelNames : ["tenant", ...config.labelNames];
  const gauge = new Gauge<string>({ ...config, labelNames });
  return { set: (labels, value) => gauge.set(withTenant(labeller, labels), value) };
}

function sampledGauge<L extends string>(config: {
  name: string;
  help: string;
  labelNames: L[];
  registers: Registry[];
}): SampledGauge<L> {
  let source: (() => Iterable<GaugeSample<L>>) | undefined;
  new Gauge<L>({
    ...config,
    collect() {
      this.reset();
      if (source === undefined) return;
      for (const sample of source()) this.set(sample.labels, sample.value);
    },
  });
  return {
    sampleFrom(next) {
      source = next;
    },
  };
}

export function createMetrics(options: MetricsOptions = {}): BeamlineMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: "beamline_" });
    for (const name of DEFAULT_GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(`beamline_${name}`);
  }
  const registers = [registry];
  const tenants = options.tenantLabel ?? createTenantLabeller({ mode: "on", limit: 100 });
  return {
    registry,
    httpRequests: new Counter({
      name: "beamline_http_requests_total",
      help: "HTTP requests answered by the gateway",
      labelNames: ["route", "status"],
      registers,
    }),
    requestDuration: tenantHistogram(tenants, {
      name: "beamline_request_duration_seconds",
      help: "Gateway request latency, accepted to answer",
      labelNames: ["outcome", "stream"],
      buckets: LLM_LATENCY_BUCKETS,
      registers,
    }),
    stageMessages: new Counter({
      name: "beamline_stage_messages_total",
      help: "Messages handled by stage consumers",
      labelNames: ["stage", "outcome"],
      registers,
    }),
    envelopeRejections: new Counter({
      name: "beamline_envelope_rejections_total",
      help: "Requests refused by the worker's envelope checks or the producer ingress, by reason",
      labelNames: ["stage", "reason"],
      registers,
    }),
    stageDuration: new Histogram({
      name: "beamline_stage_duration_seconds",
      help: "Time a stage spends on one message",
      labelNames: ["stage"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    }),
    providerAttempts: new Counter({
      name: "beamline_provider_attempts_total",
      help: "Provider calls by outcome (ok or error class)",
      labelNames: ["provider", "model", "outcome"],
      registers,
    }),
    providerLatency: new Histogram({
      name: "beamline_provider_latency_seconds",
      help: "Provider call duration",
      labelNames: ["provider", "model"],
      buckets: LLM_LATENCY_BUCKETS,
      registers,
    }),
    tokens: tenantCounter(tenants, {
      name: "beamline_tokens_total",
      help: "Billed tokens by kind (prompt, completion, cached)",
      labelNames: ["provider", "model", "kind"],
      registers,
    }),
    costNanoUsd: tenantCounter(tenants, {
      name: "beamline_cost_nano_usd_total",
      help: "Billed cost in billionths of a US dollar",
      labelNames: ["provider", "model"],
      registers,
    }),
    routingDecisions: tenantCounter(tenants, {
      name: "beamline_routing_decisions_total",
      help: "Routing decisions by tenant, the strategy that made them, and the first-ranked model (outcome `refused` when nothing was eligible)",
      labelNames: ["strategy", "model", "outcome"],
      registers,
    }),
    admissions: tenantCounter(tenants, {
      name: "beamline_admissions_total",
      help: "Quota admissions by tenant: admitted or refused (and which limit)",
      labelNames: ["outcome"],
      registers,
    }),
    timeToFirstToken: new Histogram({
      name: "beamline_time_to_first_token_seconds",
      help: "Streamed provider calls: request sent to the first content chunk",
      labelNames: ["provider", "model"],
      buckets: LLM_LATENCY_BUCKETS,
      registers,
    }),
    timePerOutputToken: new Histogram({
      name: "beamline_time_per_output_token_seconds",
      help: "Successful provider calls: time after the first token per output token after it",
      labelNames: ["provider", "model"],
      buckets: TIME_PER_TOKEN_BUCKETS,
      registers,
    }),
    genAiOperationDuration: new Histogram({
      name: "gen_ai_client_operation_duration_seconds",
      help: "GenAI operation duration (OpenTelemetry GenAI semantic conventions)",
      labelNames: ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"],
      buckets: GEN_AI_DURATION_BUCKETS,
      registers,
    }),
    genAiTokenUsage: new Histogram({
      name: "gen_ai_client_token_usage",
      help: "Number of input and output tokens used (OpenTelemetry GenAI semantic conventions)",
      labelNames: [
        "gen_ai_operation_name",
        "gen_ai_provider_name",
        "gen_ai_request_model",
        "gen_ai_token_type",
      ],
      buckets: GEN_AI_TOKEN_BUCKETS,
      registers,
    }),
    breakerState: sampledGauge({
      name: "beamline_breaker_state",
      help: "Circuit breaker per provider and model: 0 closed, 1 half-open, 2 open",
      labelNames: ["provider", "model"],
      registers,
    }),
    extensionSteps: new Counter({
      name: "beamline_extension_steps_total",
      help: "Extension pipeline steps run, by stage, extension and verdict (allow, modify, reject, error)",
      labelNames: ["stage", "extension", "verdict"],
      registers,
    }),
    extensionStepDuration: new Histogram({
      name: "beamline_extension_step_duration_seconds",
      help: "Duration of one extension pipeline step",
      labelNames: ["stage", "extension"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    quotaRemainingRequests: tenantGauge(tenants, {
      name: "beamline_quota_remaining_requests",
      help: "Requests left in the tenant's per-minute window as of its last admission (tenants with requestsPerMinute)",
      labelNames: [],
      registers,
    }),
    quotaRemainingTokens: tenantGauge(tenants, {
      name: "beamline_quota_remaining_tokens",
      help: "Tokens left in the tenant's per-minute window as of its last admission (tenants with tokensPerMinute)",
      labelNames: [],
      registers,
    }),
    consumerPending: new Gauge({
      name: "beamline_consumer_pending_messages",
      help: "Messages not yet delivered to a durable consumer (JetStream num_pending)",
      labelNames: ["stream", "consumer"],
      registers,
    }),
    consumerAckPending: new Gauge({
      name: "beamline_consumer_ack_pending_messages",
      help: "Messages delivered to a durable consumer and not yet acknowledged (JetStream num_ack_pending)",
      labelNames: ["stream", "consumer"],
      registers,
    }),
    projectionLag: new Gauge({
      name: "beamline_projection_lag_messages",
      help: "Events a projector has not finished: pending plus ack-pending of its consumer",
      labelNames: ["projection"],
      registers,
    }),
    consumerLagSampledAt: new Gauge({
      name: "beamline_consumer_lag_sampled_timestamp_seconds",
      help: "Unix time of the last successful consumer lag reading",
      registers,
    }),
    cacheRequests: tenantCounter(tenants, {
      name: "beamline_cache_requests_total",
      help: "Requests of tenants with a response cache, by what the cache did: hit, miss or bypass",
      labelNames: ["status"],
      registers,
    }),
    cacheBytes: tenantCounter(tenants, {
      name: "beamline_cache_bytes_total",
      help: "Bytes of cached answers as stored (sealed), by direction: stored or served",
      labelNames: ["direction"],
      registers,
    }),
    hedges: tenantCounter(tenants, {
      name: "beamline_hedges_total",
      help: "First attempts of hedging tenants: won by the hedge or the primary, failed, not needed, or declined (and why)",
      labelNames: ["outcome"],
      registers,
    }),
  };
}
