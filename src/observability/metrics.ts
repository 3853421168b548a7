import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

/**
 * Beamline's Prometheus metrics. Labels are tenants, providers, models and stages — never
 * keys or request ids (unbounded cardinality, and keys are secrets).
 */
export interface BeamlineMetrics {
  registry: Registry;
  httpRequests: Counter<"route" | "status">;
  requestDuration: Histogram<"tenant" | "outcome" | "stream">;
  stageMessages: Counter<"stage" | "outcome">;
  stageDuration: Histogram<"stage">;
  /**
   * Requests refused before anything was served or written for them: by the worker (envelope
   * checks) or the ingress (producer checks). No tenant label: a forged tenant is unbounded.
   */
  envelopeRejections: Counter<"stage" | "reason">;
  providerAttempts: Counter<"provider" | "model" | "outcome">;
  providerLatency: Histogram<"provider" | "model">;
  tokens: Counter<"tenant" | "provider" | "model" | "kind">;
  costNanoUsd: Counter<"tenant" | "provider" | "model">;
  routingDecisions: Counter<"tenant" | "policy_version" | "strategy" | "model" | "outcome">;
  admissions: Counter<"tenant" | "policy_version" | "outcome">;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): BeamlineMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "beamline_" });
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: "beamline_http_requests_total",
      help: "HTTP requests answered by the gateway",
      labelNames: ["route", "status"],
      registers,
    }),
    requestDuration: new Histogram({
      name: "beamline_request_duration_seconds",
      help: "Gateway request latency, accepted to answer",
      labelNames: ["tenant", "outcome", "stream"],
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
    tokens: new Counter({
      name: "beamline_tokens_total",
      help: "Billed tokens by kind (prompt, completion, cached)",
      labelNames: ["tenant", "provider", "model", "kind"],
      registers,
    }),
    costNanoUsd: new Counter({
      name: "beamline_cost_nano_usd_total",
      help: "Billed cost in billionths of a US dollar",
      labelNames: ["tenant", "provider", "model"],
      registers,
    }),
    routingDecisions: new Counter({
      name: "beamline_routing_decisions_total",
      help: "Routing decisions by tenant, the policy version and strategy that made them, and the first-ranked model (outcome `refused` when nothing was eligible)",
      labelNames: ["tenant", "policy_version", "strategy", "model", "outcome"],
      registers,
    }),
    admissions: new Counter({
      name: "beamline_admissions_total",
      help: "Quota admissions by tenant and policy version: admitted or refused (and which limit)",
      labelNames: ["tenant", "policy_version", "outcome"],
      registers,
    }),
  };
}
