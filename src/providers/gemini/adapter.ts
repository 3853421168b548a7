import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { ChatCompletion } from "../../chat/index.js";
import { createHttpTransport, type HttpAdapterOptions, httpAdapterOptionsShape } from "../http/call.js";
import { type ChunkSink, providerUsageOf, pumpSseEvents } from "../http/stream.js";
import { ProviderError } from "../provider-error.js";
import type { SseEvent } from "../sse.js";
import {
  type EmbeddingsCall,
  type EmbeddingsProviderResult,
  httpProviderTelemetry,
  type ProviderAdapter,
  type ProviderCall,
  ProviderErrorClass,
  type ProviderUsage,
} from "../types.js";
import { parseProviderOptions } from "../validation.js";
import { fromGeminiBatchEmbed, toGeminiBatchEmbed } from "./embeddings.js";
import {
  classifyGeminiError,
  describeGeminiError,
  geminiAdvice,
  geminiErrorFromResponse,
  geminiErrorFromValue,
} from "./errors.js";
import { toGeminiRequest } from "./request.js";
import { createStreamTranslator, type ResponseContext, toChatCompletion } from "./response.js";
import { parseGeminiResponse } from "./wire.js";

/** Options of {@link createGeminiAdapter}. Validated once; all problems are reported together. */
export interface GeminiAdapterOptions extends HttpAdapterOptions {
  /** Provider name as the model catalog refers to it. Default `gemini`. */
  name?: string;
  /**
   * Base URL up to and including the API version, e.g.
   * `https://generativelanguage.googleapis.com/v1beta`; `/models/{model}:generateContent` is appended.
   */
  baseUrl?: string;
  /** Sent in the `x-goog-api-key` header, never in the URL, so it cannot reach access logs. */
  apiKey?: string;
  /** Clock for `created`, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

const optionsSchema = z.strictObject({
  name: z.string().min(1).default("gemini"),
  baseUrl: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .default("https://generativelanguage.googleapis.com/v1beta"),
  ...httpAdapterOptionsShape,
  now: z.custom<() => number>((value) => typeof value === "function").optional(),
});

/** The parsed JSON of `text`, or undefined: for events whose failure no longer matters. */
function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `models/<name>`, unless the catalog names a full resource (`tunedModels/…`). */
function modelResource(upstreamModel: string): string {
  const resource = upstreamModel.includes("/") ? upstreamModel : `models/${upstreamModel}`;
  return resource.split("/").map(encodeURIComponent).join("/");
}

/**
 * A ProviderAdapter for Google's Gemini API (`models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse`) over an undici keep-alive pool to one origin. The
 * canonical OpenAI-shaped request is translated by `request.ts`, answers back by `response.ts`;
 * a streamed answer is delivered as OpenAI chunks, closed by a usage chunk (no choices), as
 * OpenAI does with `include_usage`.
 *
 * Failures reject with a {@link ProviderError} (classes in `errors.ts`). Gemini's stream has no
 * `[DONE]`: the answer is whole once a finish reason arrived; a stream that ends before that is
 * `stream_interrupted` once a chunk was delivered (not retryable), `malformed` before. When the
 * caller's `signal` aborts, the call rejects with `signal.reason`; when `onChunk` throws, that
 * error is rethrown unchanged. Error messages are built from Gemini's error body, key redacted.
 */
export function createGeminiAdapter(options: GeminiAdapterOptions): ProviderAdapter {
  const config = parseProviderOptions(optionsSchema, options, "Gemini adapter");
  const base = new URL(config.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, "");
  const providerName = config.name;
  const now = config.now ?? Date.now;
  const transport = createHttpTransport(base.origin, config, {
    providerName,
    advice: geminiAdvice,
    errorFromResponse: geminiErrorFromResponse,
  });
  const { malformed, redact } = transport;
  const apiKeyHeader: Record<string, string> =
    config.apiKey === undefined ? {} : { "x-goog-api-key": config.apiKey };

  function pathFor(
    upstreamModel: string,
    streaming: boolean,
    method = streaming ? "streamGenerateContent" : "generateContent",
  ): string {
    const search = new URLSearchParams(base.search);
    if (streaming) search.set("alt", "sse");
    const query = search.toString();
    return `${basePath}/${modelResource(upstreamModel)}:${method}${query.length > 0 ? `?${query}` : ""}`;
  }

  function readPlain(value: unknown, context: ResponseContext): ChatCompletion {
    const embedded = geminiErrorFromValue(value);
    if (embedded !== undefined) {
      const errorClass = classifyGeminiError(0, embedded);
      throw new ProviderError(
        errorClass,
        `${providerName} answered an error with HTTP 200: ${describeGeminiError(embedded, redact)}; ${geminiAdvice(errorClass)}`,
      );
    }
    const parsed = parseGeminiResponse(value);
    if (!parsed.ok)
      throw malformed(`answered a response that does not match Gemini's format: ${parsed.problem}`);
    if (parsed.value.candidates === undefined && parsed.value.promptFeedback?.blockReason === undefined) {
      throw malformed("answered a response without candidates");
    }
    return toChatCompletion(parsed.value, context);
  }

  async function readStream(
    body: AsyncIterable<Buffer>,
    sink: ChunkSink,
    context: ResponseContext,
  ): Promise<ProviderUsage> {
    const translator = createStreamTranslator(context);

    const handle = (event: SseEvent): void => {
      if (translator.finished) {
        // Nothing more is delivered, but a later event may still carry the final usage.
        const late = parseGeminiResponse(safeJson(event.data));
        if (late.ok) translator.translate(late.value);
        return;
      }
      let value: unknown;
      try {
        value = JSON.parse(event.data);
      } catch {
        // No cause: a JSON SyntaxError quotes the body, and a body may echo credentials.
        throw malformed("answered a stream event that is not JSON");
      }
      const embedded = geminiErrorFromValue(value);
      if (embedded !== undefined) {
        const errorClass = classifyGeminiError(0, embedded);
        throw new ProviderError(
          errorClass,
          `${providerName} streamed an error: ${describeGeminiError(embedded, redact)}; ${geminiAdvice(errorClass)}`,
          embedded.retryDelayMs === undefined ? {} : { retryAfterMs: embedded.retryDelayMs },
        );
      }
      const parsed = parseGeminiResponse(value);
      if (!parsed.ok)
        throw malformed(`streamed an event that does not match Gemini's format: ${parsed.problem}`);
      const chunk = translator.translate(parsed.value);
      if (chunk !== undefined) sink.deliver(chunk);
    };

    // Events after the finish reason are still read: they may carry the final usage.
    await pumpSseEvents(body, handle, () => translator.finished, true);
    if (!translator.finished) {
      throw sink.delivered > 0
        ? new ProviderError(
            ProviderErrorClass.StreamInterrupted,
            `${providerName} stream ended before a finish reason; ${geminiAdvice("stream_interrupted")}`,
          )
        : malformed("ended the stream without a complete response");
    }
    sink.deliver(translator.usageChunk());
    return providerUsageOf(sink.usage ?? translator.usageChunk().usage!);
  }

  async function complete(call: ProviderCall) {
    if (call.signal?.aborted) throw call.signal.reason;
    const streaming = call.onChunk !== undefined;
    const context: ResponseContext = {
      upstreamModel: call.upstreamModel,
      created: Math.floor(now() / 1000),
      fallbackId: `chatcmpl-gemini-${randomUUID()}`,
      newToolCallId: () => `call_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
    };
    return transport.exchange(call, {
      path: pathFor(call.upstreamModel, streaming),
      headers: {
        "content-type": "application/json",
        accept: streaming ? "text/event-stream" : "application/json",
        ...apiKeyHeader,
      },
      // A request Gemini cannot express fails as bad_request before any I/O.
      body: JSON.stringify(toGeminiRequest(call.request)),
      readPlain: (value) => readPlain(value, context),
      readStream: (body, sink) => readStream(body, sink, context),
    });
  }

  async function embed(call: EmbeddingsCall): Promise<EmbeddingsProviderResult> {
    if (call.signal?.aborted) throw call.signal.reason;
    // A request Gemini cannot express (token arrays) fails as bad_request before any I/O.
    const body = JSON.stringify(toGeminiBatchEmbed(call.request, call.upstreamModel));
    const answer = await transport.exchangeJson(call, {
      path: pathFor(call.upstreamModel, false, "batchEmbedContents"),
      headers: { "content-type": "application/json", accept: "application/json", ...apiKeyHeader },
      body,
      read(value) {
        const embedded = geminiErrorFromValue(value);
        if (embedded !== undefined) {
          const errorClass = classifyGeminiError(0, embedded);
          throw new ProviderError(
            errorClass,
            `${providerName} answered an error with HTTP 200: ${describeGeminiError(embedded, redact)}; ${geminiAdvice(errorClass)}`,
          );
        }
        const parsed = fromGeminiBatchEmbed(value, call.request, {
          provider: providerName,
          upstreamModel: call.upstreamModel,
        });
        if (!parsed.ok)
          throw malformed(`answered embeddings that do not match Gemini's format: ${parsed.problem}`);
        return parsed.value;
      },
    });
    const promptTokens = answer.value.usage.prompt_tokens;
    return {
      embeddings: answer.value,
      usage: { promptTokens, completionTokens: 0, cachedTokens: 0 },
      timeToFirstTokenMs: answer.headersMs,
    };
  }

  // The convention's value for the Gemini API (generativelanguage.googleapis.com).
  const telemetry = httpProviderTelemetry("gcp.gemini", base);
  return { name: providerName, telemetry, complete, embed, close: transport.close };
}
