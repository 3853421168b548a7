import { z } from "zod";
import type { ChatCompletion } from "../../chat/index.js";
import { ANTHROPIC_VERSION, anthropicMessageSchema, anthropicStreamEventSchema } from "../../chat/index.js";
import { createHttpTransport, type HttpAdapterOptions, httpAdapterOptionsShape } from "../http/call.js";
import { type ChunkSink, pumpSseEvents } from "../http/stream.js";
import { ProviderError } from "../provider-error.js";
import type { SseEvent } from "../sse.js";
import {
  httpProviderTelemetry,
  type ProviderAdapter,
  type ProviderCall,
  ProviderErrorClass,
  type ProviderUsage,
} from "../types.js";
import { parseProviderOptions } from "../validation.js";
import {
  anthropicAdviceFor,
  anthropicErrorFromResponse,
  classifyAnthropicStreamError,
  describeAnthropicError,
  errorDetailsOf,
} from "./errors.js";
import { toAnthropicRequest } from "./request.js";
import { toChatCompletion } from "./response.js";
import { createAnthropicStreamTranslator } from "./stream.js";

/** Options of {@link createAnthropicAdapter}. Validated once; all problems are reported together. */
export interface AnthropicAdapterOptions extends HttpAdapterOptions {
  /** Provider name as the model catalog refers to it. Default `anthropic`. */
  name?: string;
  /**
   * Base URL up to and including the version segment, e.g. `https://api.anthropic.com/v1`;
   * `/messages` is appended. Default `https://api.anthropic.com/v1`.
   */
  baseUrl?: string;
  /** Sent as `x-api-key`; omitted when absent (a local fake). */
  apiKey?: string;
  /**
   * See {@link HttpAdapterOptions.headersTimeoutMs}; Anthropic sends `ping` events, so a
   * healthy stream is never silent for long.
   */
  headersTimeoutMs?: number;
  /** Clock for the `created` field of translated answers, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

const optionsSchema = z.strictObject({
  name: z.string().min(1).default("anthropic"),
  baseUrl: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .default("https://api.anthropic.com/v1"),
  ...httpAdapterOptionsShape,
  now: z.custom<() => number>((value) => typeof value === "function").optional(),
});

/**
 * A ProviderAdapter for Anthropic's Messages API (`POST /v1/messages`, `x-api-key` and
 * `anthropic-version` headers), plain and streaming, over an undici keep-alive pool. Requests
 * and answers are translated from and to Beamline's canonical OpenAI shape (see
 * `request.ts`, `response.ts`, `stream.ts`).
 *
 * Failures reject with a {@link ProviderError}: 429 → `rate_limited` (with `retryAfterMs`
 * from `retry-after`), 529/503 → `overloaded`, other 5xx → `server_error`, 401/403 → `auth`,
 * 400 → `bad_request` or `context_window` ("prompt is too long"), unparseable JSON or SSE →
 * `malformed`, an `event: error` → its class. Once `onChunk` has received a chunk, a broken
 * connection, a timeout, an error event or an end without `message_stop` becomes
 * `stream_interrupted` (not retryable: the client has seen part of the answer). When the
 * caller's `signal` aborts, the call rejects with `signal.reason` unchanged; when `onChunk`
 * throws, the exchange is aborted and that error is rethrown. The API key is redacted from
 * every message. `close()` lets calls in flight finish.
 */
export function createAnthropicAdapter(options: AnthropicAdapterOptions = {}): ProviderAdapter {
  const config = parseProviderOptions(optionsSchema, options, "Anthropic adapter");
  const now = config.now ?? Date.now;
  const endpoint = new URL(config.baseUrl);
  endpoint.pathname = `${endpoint.pathname.replace(/\/+$/, "")}/messages`;
  const path = endpoint.pathname + endpoint.search;
  const providerName = config.name;
  const transport = createHttpTransport(endpoint.origin, config, {
    providerName,
    advice: anthropicAdviceFor,
    errorFromResponse: anthropicErrorFromResponse,
  });
  const { malformed, redact } = transport;
  const baseHeaders: Record<string, string> = {
    "content-type": "application/json",
    "anthropic-version": ANTHROPIC_VERSION,
    ...(config.apiKey === undefined ? {} : { "x-api-key": config.apiKey }),
  };
  const plainHeaders = { ...baseHeaders, accept: "application/json" };
  const streamHeaders = { ...baseHeaders, accept: "text/event-stream" };

  function readPlain(value: unknown): ChatCompletion {
    const parsed = anthropicMessageSchema.safeParse(value);
    if (!parsed.success) {
      const details = errorDetailsOf(value);
      if (details !== undefined) {
        throw new ProviderError(
          ProviderErrorClass.ServerError,
          `${providerName} answered an error with HTTP 200: ${describeAnthropicError(details, redact)}`,
        );
      }
      const issue = parsed.error.issues[0];
      throw malformed(
        `answered a message that does not match Anthropic's format: ${issue?.path.join(".")} ${issue?.message}`,
      );
    }
    return toChatCompletion(parsed.data, Math.floor(now() / 1000));
  }

  async function readStream(body: AsyncIterable<Buffer>, sink: ChunkSink): Promise<ProviderUsage> {
    const translator = createAnthropicStreamTranslator(Math.floor(now() / 1000));

    const handle = (event: SseEvent): void => {
      if (translator.finished) return;
      let value: unknown;
      try {
        value = JSON.parse(event.data);
      } catch {
        throw malformed("streamed an event whose data is not JSON");
      }
      if (event.event === "error" || (value as { type?: unknown } | null)?.type === "error") {
        const details = errorDetailsOf(value) ?? { type: undefined, message: "no error details" };
        const errorClass = classifyAnthropicStreamError(details);
        throw new ProviderError(
          errorClass,
          `${providerName} streamed an error: ${describeAnthropicError(details, redact)}; ${anthropicAdviceFor(errorClass)}`,
        );
      }
      const parsed = anthropicStreamEventSchema.safeParse(value);
      if (!parsed.success) {
        // Event types added after this adapter was written are skipped, as Anthropic asks.
        const type = (value as { type?: unknown } | null)?.type;
        if (typeof type === "string" && !KNOWN_EVENT_TYPES.has(type)) return;
        const issue = parsed.error.issues[0];
        throw malformed(
          `streamed an event that does not match Anthropic's format: ${issue?.path.join(".")} ${issue?.message}`,
        );
      }
      if (parsed.data.type === "error") return; // handled above
      for (const chunk of translator.push(parsed.data)) sink.deliver(chunk);
    };

    // After message_stop the rest is drained; a connection that breaks then lost nothing.
    await pumpSseEvents(body, handle, () => translator.finished);
    if (!translator.finished) {
      throw sink.delivered > 0
        ? new ProviderError(
            ProviderErrorClass.StreamInterrupted,
            `${providerName} stream ended before message_stop; ${anthropicAdviceFor("stream_interrupted")}`,
          )
        : malformed("ended the stream without any event");
    }
    return translator.usage();
  }

  async function complete(call: ProviderCall) {
    if (call.signal?.aborted) throw call.signal.reason;
    const streaming = call.onChunk !== undefined;
    return transport.exchange(call, {
      path,
      headers: streaming ? streamHeaders : plainHeaders,
      // Translated before any I/O: a request Anthropic cannot express fails without a call.
      body: JSON.stringify(toAnthropicRequest(call.request, call.upstreamModel, streaming)),
      readPlain,
      readStream,
    });
  }

  const telemetry = httpProviderTelemetry("anthropic", endpoint);
  return { name: providerName, telemetry, complete, close: transport.close };
}

const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set([
  "message_start",
  "content_block_start",
  "content_block_delta",
  "content_block_stop",
  "message_delta",
  "message_stop",
  "ping",
  "error",
]);
