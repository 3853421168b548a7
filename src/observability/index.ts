export type { Logger } from "./logger.js";
export { createLogger } from "./logger.js";
export type { BeamlineMetrics } from "./metrics.js";
export { createMetrics } from "./metrics.js";
export type { SpanKindName } from "./tracing.js";
export { contextFromTraceparent, endSpan, startSpan, traceparentOf } from "./tracing.js";
export { startTracing } from "./tracing-sdk.js";
