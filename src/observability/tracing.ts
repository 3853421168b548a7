import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import { formatTraceparent, parseTraceparent } from "./trace-context.js";

/**
 * OpenTelemetry traces across every NATS hop. The trace context travels in each event's
 * envelope (`traceparent`, W3C format), so a request's spans — gateway, worker steps,
 * provider calls, billing — form one trace even when every role runs in another process.
 *
 * Spans go through the global tracer provider: a no-op unless `startTracing` (or a test)
 * installed one. A no-op span still carries its parent's context, so a producer's trace id
 * passes through Beamline's events unchanged even with tracing off.
 */
const tracer = trace.getTracer("beamline-router");

/** The context a `traceparent` value describes; the root context when absent or invalid. */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  const remote = traceparent ? parseTraceparent(traceparent) : undefined;
  return remote ? trace.setSpanContext(ROOT_CONTEXT, remote) : ROOT_CONTEXT;
}

/** The `traceparent` value naming `span` (for the events written on its behalf). */
export function traceparentOf(span: Span): string | undefined {
  return traceContextOf(span)["traceparent"];
}

/**
 * The W3C trace context headers naming `span` as the parent: `traceparent`, and `tracestate`
 * when the trace carries one. Sent to upstream providers and external extensions (HTTP
 * request headers, NATS message headers) so their spans join the request's trace. Empty for
 * a span with an invalid context.
 */
export function traceContextOf(span: Span): Record<string, string> {
  const context = span.spanContext();
  const traceparent = formatTraceparent(context);
  if (!traceparent) return {};
  const tracestate = context.traceState?.serialize();
  return tracestate ? { traceparent, tracestate } : { traceparent };
}

export type SpanKindName = "server" | "client" | "internal" | "consumer" | "producer";
const kinds: Record<SpanKindName, SpanKind> = {
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  internal: SpanKind.INTERNAL,
  consumer: SpanKind.CONSUMER,
  producer: SpanKind.PRODUCER,
};

/** Starts a span under `parent` (a context, or a span whose child it is). */
export function startSpan(
  name: string,
  parent: Context | Span,
  kind: SpanKindName = "internal",
  attributes: Attributes = {},
  /** Epoch milliseconds, for a span recorded after the fact. */
  startTime?: number,
): Span {
  const context = "spanContext" in parent ? trace.setSpan(ROOT_CONTEXT, parent) : parent;
  return tracer.startSpan(
    name,
    { kind: kinds[kind], attributes, ...(startTime === undefined ? {} : { startTime }) },
    context,
  );
}

/** Ends `span`, marking it failed with `error`'s code when there is one. */
export function endSpan(span: Span, error?: { code?: string; message: string }, endTime?: number): void {
  if (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.code ?? error.message });
    if (error.code) span.setAttribute("beamline.error_code", error.code);
  }
  span.end(endTime);
}

/**
 * The hook a response cache uses for its spans: `beamline.cache <operation>` (e.g. `lookup`,
 * `store`), internal, under the request's `traceparent` (the worker span). The caller sets
 * `beamline.cache.hit` on a lookup and ends the span with {@link endSpan}.
 */
export function startCacheSpan(
  operation: string,
  traceparent: string | undefined,
  attributes: Attributes = {},
): Span {
  return startSpan(
    `beamline.cache ${operation}`,
    contextFromTraceparent(traceparent),
    "internal",
    attributes,
  );
}
