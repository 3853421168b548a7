export type { Logger } from "./logger.js";
export { createLogger } from "./logger.js";
export type {
  BeamlineMetrics,
  GaugeSample,
  GenAiLabel,
  MetricsOptions,
  SampledGauge,
  TenantCounter,
  TenantGauge,
  TenantHistogram,
} from "./metrics.js";
export {
  BreakerStateValues,
  createMetrics,
  GEN_AI_DURATION_BUCKETS,
  GEN_AI_TOKEN_BUCKETS,
  LLM_LATENCY_BUCKETS,
} from "./metrics.js";
export type { TenantLabeller, TenantLabelMode, TenantLabelOptions } from "./tenant-label.js";
export { createTenantLabeller, OTHER_TENANTS_LABEL, TenantLabelModes } from "./tenant-label.js";
export { loadTenantLabelKey, TENANT_LABEL_KEY_FILE } from "./tenant-label-key.js";
export type { SpanKindName } from "./tracing.js";
export {
  contextFromTraceparent,
  endSpan,
  startCacheSpan,
  startSpan,
  traceContextOf,
  traceparentOf,
} from "./tracing.js";
export { startTracing } from "./tracing-sdk.js";
