import { Counter, collectDefaultMetrics, Histogram, type LabelValues, Registry } from "prom-client";
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
  routingDecisions: TenantCounter<"policy_version" | "strategy" | "model" | "outcome">;
  admissions: TenantCounter<"policy_version" | "outcome">;
  /** First attempts of hedging tenants by what the hedge did (docs/reliability.md). */
  hedges: TenantCounter<"outcome">;
}

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

export function createMetrics(options: MetricsOptions = {}): BeamlineMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "beamline_" });
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
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
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
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
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
      help: "Routing decisions by tenant, the policy version and strategy that made them, and the first-ranked model (outcome `refused` when nothing was eligible)",
      labelNames: ["policy_version", "strategy", "model", "outcome"],
      registers,
    }),
    admissions: tenantCounter(tenants, {
      name: "beamline_admissions_total",
      help: "Quota admissions by tenant and policy version: admitted or refused (and which limit)",
      labelNames: ["policy_version", "outcome"],
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
