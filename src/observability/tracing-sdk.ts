/**
 * Starts the OpenTelemetry SDK with an OTLP/HTTP trace exporter when the standard
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; the
 * exporter reads the other standard `OTEL_*` variables (headers, timeouts). Without an
 * endpoint nothing is loaded and spans stay no-ops. Returns the shutdown (flushes spans).
 */
export async function startTracing(
  env: NodeJS.ProcessEnv = process.env,
): Promise<(() => Promise<void>) | undefined> {
  if (!env["OTEL_EXPORTER_OTLP_ENDPOINT"] && !env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]) return undefined;
  // Loaded on demand: the SDK is large, and most processes run without an exporter.
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import("@opentelemetry/sdk-node"),
    import("@opentelemetry/exporter-trace-otlp-http"),
  ]);
  const sdk = new NodeSDK({
    serviceName: env["OTEL_SERVICE_NAME"] ?? "beamline-router",
    traceExporter: new OTLPTraceExporter(),
    instrumentations: [],
  });
  sdk.start();
  return () => sdk.shutdown();
}
