import type { Attributes, Span } from "@opentelemetry/api";
import type { ChatRequest } from "../chat/index.js";
import type { AttemptRecord } from "../execution/index.js";
import {
  type BeamlineMetrics,
  contextFromTraceparent,
  endSpan,
  startSpan,
  traceContextOf,
} from "../observability/index.js";
import type { ProviderRegistry, ProviderTelemetry } from "../providers/index.js";

/**
 * Provider calls as the OpenTelemetry GenAI semantic conventions describe them: one CLIENT
 * span per attempt named `{gen_ai.operation.name} {gen_ai.request.model}`, and the
 * `gen_ai.client.*` histograms next to Beamline's own provider series. Beamline speaks the
 * chat-completions operation to every provider, so the operation is always `chat`.
 */
const OPERATION = "chat";

/** What one attempt is, before its outcome is known. */
export interface AttemptIdentity {
  attempt: number;
  provider: string;
  model: string;
  upstreamModel: string;
}

/** The provider's telemetry names; a provider no adapter describes reports its own name. */
export function telemetryOf(
  providers: Pick<ProviderRegistry, "get" | "has">,
  provider: string,
): ProviderTelemetry {
  return (
    (providers.has(provider) ? providers.get(provider).telemetry : undefined) ?? {
      genAiProviderName: provider,
    }
  );
}

/** The request parameters the conventions record, when the request set them. */
function requestAttributes(request: ChatRequest): Attributes {
  const attributes: Attributes = {};
  const maxTokens = request.max_completion_tokens ?? request.max_tokens;
  if (maxTokens != null) attributes["gen_ai.request.max_tokens"] = maxTokens;
  if (request.temperature != null) attributes["gen_ai.request.temperature"] = request.temperature;
  if (request.top_p != null) attributes["gen_ai.request.top_p"] = request.top_p;
  return attributes;
}

/**
 * Starts the span of one provider call under the request's `traceparent` (the worker span).
 * `startTime` (epoch ms) records a span after the fact, for an attempt that never called.
 */
export function startProviderSpan(
  traceparent: string | undefined,
  identity: AttemptIdentity,
  telemetry: ProviderTelemetry,
  request: ChatRequest,
  startTime?: number,
): Span {
  return startSpan(
    `${OPERATION} ${identity.upstreamModel}`,
    contextFromTraceparent(traceparent),
    "client",
    {
      "gen_ai.operation.name": OPERATION,
      "gen_ai.provider.name": telemetry.genAiProviderName,
      "gen_ai.request.model": identity.upstreamModel,
      ...requestAttributes(request),
      ...(telemetry.serverAddress === undefined ? {} : { "server.address": telemetry.serverAddress }),
      ...(telemetry.serverPort === undefined ? {} : { "server.port": telemetry.serverPort }),
      "beamline.provider": identity.provider,
      "beamline.model": identity.model,
      "beamline.attempt": identity.attempt,
    },
    startTime,
  );
}

/** The W3C headers naming `span` as the upstream's parent. */
export function providerTraceContext(span: Span): Record<string, string> {
  return traceContextOf(span);
}

/**
 * Ends a provider span with the attempt's outcome: the response's model, id, finish reasons
 * and usage, or `error.type` (the provider error class) and the BL_* code. `endTime` (epoch
 * ms) for a span recorded after the fact.
 */
export function endProviderSpan(span: Span, record: AttemptRecord, endTime?: number): void {
  if (record.type === "attempt.succeeded") {
    const { completion, usage } = record.data;
    span.setAttribute("gen_ai.usage.input_tokens", usage.promptTokens);
    span.setAttribute("gen_ai.usage.output_tokens", usage.completionTokens);
    if (completion) {
      if (completion.model) span.setAttribute("gen_ai.response.model", completion.model);
      if (completion.id) span.setAttribute("gen_ai.response.id", completion.id);
      span.setAttribute(
        "gen_ai.response.finish_reasons",
        completion.choices.map((choice) => String(choice.finish_reason ?? "")),
      );
    }
    endSpan(span, undefined, endTime);
    return;
  }
  span.setAttribute("error.type", record.data.errorClass);
  endSpan(span, record.data.error, endTime);
}

/** Beamline's and the conventions' provider series for one stored attempt. */
export function observeProviderCall(
  metrics: BeamlineMetrics,
  record: AttemptRecord,
  telemetry: ProviderTelemetry,
): void {
  const { provider, model, upstreamModel, durationMs } = record.data;
  const labels = { provider, model };
  const genAi = {
    gen_ai_operation_name: OPERATION,
    gen_ai_provider_name: telemetry.genAiProviderName,
    gen_ai_request_model: upstreamModel,
  };
  const outcome = record.type === "attempt.succeeded" ? "ok" : record.data.errorClass;
  metrics.providerAttempts.inc({ ...labels, outcome });
  metrics.providerLatency.observe(labels, durationMs / 1000);
  metrics.genAiOperationDuration.observe(
    { ...genAi, error_type: record.type === "attempt.succeeded" ? "" : record.data.errorClass },
    durationMs / 1000,
  );
  if (record.type !== "attempt.succeeded") return;
  const { usage, timeToFirstTokenMs, streamed } = record.data;
  metrics.genAiTokenUsage.observe({ ...genAi, gen_ai_token_type: "input" }, usage.promptTokens);
  metrics.genAiTokenUsage.observe({ ...genAi, gen_ai_token_type: "output" }, usage.completionTokens);
  // A plain answer's "first token" is its whole body: only a stream measures it.
  if (streamed && timeToFirstTokenMs !== undefined) {
    metrics.timeToFirstToken.observe(labels, timeToFirstTokenMs / 1000);
    if (usage.completionTokens > 1) {
      const decodeMs = Math.max(0, durationMs - timeToFirstTokenMs);
      metrics.timePerOutputToken.observe(labels, decodeMs / 1000 / (usage.completionTokens - 1));
    }
  }
}
