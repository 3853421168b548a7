import { z } from "zod";
import {
  type ChatCompletion,
  type ChatRequest,
  THINKING_BLOCKS_FIELD,
  THINKING_FIELD,
  withoutCacheControl,
} from "../../chat/index.js";
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
import { embeddingsRequestBody, parseEmbeddingsAnswer } from "./embeddings.js";
import {
  adviceFor,
  classifyStreamError,
  describeErrorBody,
  errorFromResponse,
  errorFromValue,
} from "./errors.js";
import { parseChunk, parseCompletion } from "./schemas.js";

/** Options of {@link createOpenAiAdapter}. Validated once; all problems are reported together. */
export interface OpenAiAdapterOptions extends HttpAdapterOptions {
  /** Provider name as the model catalog refers to it. Default `openai`. */
  name?: string;
  /**
   * Base URL of an OpenAI-compatible API, up to and including its version segment, e.g.
   * `https://api.openai.com/v1`; `/chat/completions` (or `/embeddings`) is appended.
   */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; omitted when absent (local servers, the mock). */
  apiKey?: string;
  /**
   * Extra headers sent with every request (OpenAI-compatible servers that want an organisation,
   * project or routing header). They cannot replace content-type, accept or authorization.
   */
  headers?: Record<string, string>;
}

const optionsSchema = z.strictObject({
  name: z.string().min(1).default("openai"),
  baseUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
  ...httpAdapterOptionsShape,
  headers: z
    .record(z.string().min(1), z.string())
    .default({})
    // Lower-cased so an extra `Content-Type` cannot sit next to ours as a duplicate.
    .transform((headers) =>
      Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])),
    ),
});

/**
 * Extended thinking (src/chat/thinking.ts) and cache breakpoints (src/chat/cache-control.ts)
 * are Anthropic's: OpenAI-compatible servers have no such fields and may refuse unknown ones,
 * so they are left out of the body, documented as dropped for this wire (docs/providers.md).
 */
function withoutAnthropicFields(request: ChatRequest): Record<string, unknown> {
  return withoutThinking(withoutCacheControl(request));
}

function withoutThinking(request: ChatRequest): Record<string, unknown> {
  const { [THINKING_FIELD]: _thinking, ...rest } = request as Record<string, unknown>;
  if (!request.messages.some((message) => THINKING_BLOCKS_FIELD in message)) return rest;
  rest["messages"] = request.messages.map((message) => {
    const { [THINKING_BLOCKS_FIELD]: _blocks, ...kept } = message;
    return kept;
  });
  return rest;
}

function requestBody(request: ChatRequest, upstreamModel: string, streaming: boolean): string {
  const body: Record<string, unknown> = {
    ...withoutAnthropicFields(request),
    model: upstreamModel,
    stream: streaming,
  };
  if (streaming) {
    // Usage must always be known (quotas, prices), so the final usage chunk is forced on.
    body["stream_options"] = { ...(request.stream_options ?? {}), include_usage: true };
  } else {
    // OpenAI rejects `stream_options` without `stream: true`.
    delete body["stream_options"];
  }
  return JSON.stringify(body);
}

/**
 * A ProviderAdapter for OpenAI's chat-completions API and the servers that copy it, over an
 * undici keep-alive pool to one origin.
 *
 * Failures reject with a {@link ProviderError} whose class drives retry and failover. Once
 * `onChunk` has received a chunk, a broken connection, a timeout, an error event or an
 * early end becomes `stream_interrupted` (not retryable: the client has seen part of the
 * answer). When the caller's `signal` aborts, the call rejects with `signal.reason` unchanged;
 * when `onChunk` throws, the exchange is aborted and that error is rethrown unchanged.
 * Error messages are built from the provider's error body with the API key redacted.
 * `close()` lets calls in flight finish (abort them first for a fast shutdown).
 */
export function createOpenAiAdapter(options: OpenAiAdapterOptions): ProviderAdapter {
  const config = parseProviderOptions(optionsSchema, options, "OpenAI adapter");
  const endpoint = new URL(config.baseUrl);
  // Appended to the path so a query string (e.g. an API version) stays where it is.
  endpoint.pathname = `${endpoint.pathname.replace(/\/+$/, "")}/chat/completions`;
  const path = endpoint.pathname + endpoint.search;
  endpoint.pathname = endpoint.pathname.replace(/\/chat\/completions$/, "/embeddings");
  const embeddingsPath = endpoint.pathname + endpoint.search;
  const providerName = config.name;
  const transport = createHttpTransport(endpoint.origin, config, {
    providerName,
    advice: adviceFor,
    errorFromResponse,
  });
  const { malformed, redact } = transport;
  const authorization: Record<string, string> =
    config.apiKey === undefined ? {} : { authorization: `Bearer ${config.apiKey}` };
  const plainHeaders = {
    ...config.headers,
    "content-type": "application/json",
    accept: "application/json",
    ...authorization,
  };
  const streamHeaders = {
    ...config.headers,
    "content-type": "application/json",
    accept: "text/event-stream",
    ...authorization,
  };

  function readPlain(value: unknown): ChatCompletion {
    const parsed = parseCompletion(value);
    if (!parsed.ok) {
      const providerError = errorFromValue(value);
      if (providerError !== undefined) {
        throw new ProviderError(
          ProviderErrorClass.ServerError,
          `${providerName} answered an error with HTTP 200: ${describeErrorBody(providerError, redact)}`,
        );
      }
      throw malformed(`answered a completion that does not match OpenAI's format: ${parsed.problem}`);
    }
    return parsed.value;
  }

  async function readStream(body: AsyncIterable<Buffer>, sink: ChunkSink): Promise<ProviderUsage> {
    let done = false;

    const handle = (event: SseEvent): void => {
      if (done) return;
      if (event.data === "[DONE]") {
        done = true;
        return;
      }
      let value: unknown;
      try {
        value = JSON.parse(event.data);
      } catch {
        throw malformed("streamed an event whose data is not JSON");
      }
      const carriesError =
        event.event === "error" || (typeof value === "object" && value !== null && "error" in value);
      const embeddedError = carriesError ? errorFromValue(value) : undefined;
      if (embeddedError !== undefined) {
        const errorClass = classifyStreamError(embeddedError);
        throw new ProviderError(
          errorClass,
          `${providerName} streamed an error: ${describeErrorBody(embeddedError, redact)}; ${adviceFor(errorClass)}`,
        );
      }
      const parsed = parseChunk(value);
      if (!parsed.ok)
        throw malformed(`streamed a chunk that does not match OpenAI's format: ${parsed.problem}`);
      sink.deliver(parsed.value);
    };

    // After [DONE] the rest is drained; a connection that breaks then lost nothing.
    await pumpSseEvents(body, handle, () => done);

    const usage = sink.usage;
    // A stream that ends cleanly after the usage chunk but without [DONE] lost nothing: the
    // usage chunk is, by OpenAI's definition, the last one before [DONE].
    if (!done && usage === undefined) {
      throw sink.delivered > 0
        ? new ProviderError(
            ProviderErrorClass.StreamInterrupted,
            `${providerName} stream ended before data: [DONE]; ${adviceFor("stream_interrupted")}`,
          )
        : malformed("ended the stream without any event");
    }
    if (usage === undefined) {
      throw malformed(
        "finished the stream without a usage chunk although stream_options.include_usage was sent",
      );
    }
    return providerUsageOf(usage);
  }

  async function complete(call: ProviderCall) {
    const streaming = call.onChunk !== undefined;
    return transport.exchange(call, {
      path,
      headers: streaming ? streamHeaders : plainHeaders,
      body: requestBody(call.request, call.upstreamModel, streaming),
      readPlain,
      readStream,
    });
  }

  async function embed(call: EmbeddingsCall): Promise<EmbeddingsProviderResult> {
    const answer = await transport.exchangeJson(call, {
      path: embeddingsPath,
      headers: plainHeaders,
      body: embeddingsRequestBody(call.request, call.upstreamModel),
      read(value) {
        const parsed = parseEmbeddingsAnswer(value, call.request);
        if (parsed.ok) return parsed.value;
        const providerError = errorFromValue(value);
        if (providerError !== undefined) {
          throw new ProviderError(
            ProviderErrorClass.ServerError,
            `${providerName} answered an error with HTTP 200: ${describeErrorBody(providerError, redact)}`,
          );
        }
        throw malformed(`answered embeddings that do not match OpenAI's format: ${parsed.problem}`);
      },
    });
    const promptTokens = answer.value.usage.prompt_tokens;
    return {
      embeddings: answer.value,
      usage: { promptTokens, completionTokens: 0, cachedTokens: 0 },
      timeToFirstTokenMs: answer.headersMs,
    };
  }

  // Any OpenAI-compatible server reports its configured name: `openai` only when it is OpenAI.
  const telemetry = httpProviderTelemetry(providerName, endpoint);
  return { name: providerName, telemetry, complete, embed, close: transport.close };
}
