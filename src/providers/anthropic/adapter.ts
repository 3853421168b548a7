import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { z } from "zod";
import {
  ANTHROPIC_VERSION,
  anthropicMessageSchema,
  anthropicStreamEventSchema,
} from "../../chat/anthropic.js";
import type { ChatCompletion, ChatCompletionChunk } from "../../chat/wire.js";
import { BeamlineError } from "../../errors/index.js";
import { createChunkAssembler } from "../chunk-assembler.js";
import { createRedactor, type Redactor } from "../openai/errors.js";
import { ProviderError } from "../provider-error.js";
import { createSseParser, type SseEvent } from "../sse.js";
import {
  type ProviderAdapter,
  type ProviderCall,
  ProviderErrorClass,
  type ProviderResult,
  type ProviderUsage,
} from "../types.js";
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
export interface AnthropicAdapterOptions {
  /** Provider name as the model catalog refers to it. Default `anthropic`. */
  name?: string;
  /**
   * Base URL up to and including the version segment, e.g. `https://api.anthropic.com/v1`;
   * `/messages` is appended. Default `https://api.anthropic.com/v1`.
   */
  baseUrl?: string;
  /** Sent as `x-api-key`; omitted when absent (a local fake). */
  apiKey?: string;
  /** Longest TCP (and TLS) connect, in milliseconds. Default 10 000. */
  connectTimeoutMs?: number;
  /**
   * Longest wait for the response headers, and the longest silence between two pieces of
   * the body, in milliseconds (a stalled stream fails after it; Anthropic sends `ping`
   * events, so a healthy stream is never silent for long). Checked on undici's coarse clock,
   * so it fires up to ~1 s late. Default 300 000.
   */
  headersTimeoutMs?: number;
  /** Deadline of a whole call, streaming included, in milliseconds. Default 600 000. */
  requestTimeoutMs?: number;
  /** Most keep-alive connections held open to the provider. Default 128. */
  maxConnections?: number;
  /** Clock for the `created` field of translated answers, in ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

const optionsSchema = z.strictObject({
  name: z.string().min(1).default("anthropic"),
  baseUrl: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .default("https://api.anthropic.com/v1"),
  apiKey: z.string().min(1).optional(),
  connectTimeoutMs: z.number().int().positive().default(10_000),
  headersTimeoutMs: z.number().int().positive().default(300_000),
  requestTimeoutMs: z.number().int().positive().default(600_000),
  maxConnections: z.number().int().positive().default(128),
  now: z.custom<() => number>((value) => typeof value === "function").optional(),
});

function parseOptions(options: AnthropicAdapterOptions) {
  const result = optionsSchema.safeParse(options);
  if (!result.success) {
    // Paths and zod's messages only, so a misplaced key never lands in the message.
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new BeamlineError("BL_CONFIG_INVALID", `Invalid Anthropic adapter options: ${problems.join("; ")}`);
  }
  return Object.freeze(result.data);
}

/** Thrown through the stream loop when the caller's `onChunk` throws; rethrown unchanged. */
class CallbackFailure {
  constructor(readonly error: unknown) {}
}

const UNDICI_TIMEOUT_CODES = new Set([
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

function errorCode(error: unknown): string | undefined {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

function hasContent(chunk: ChatCompletionChunk): boolean {
  return chunk.choices.some(
    (choice) => Boolean(choice.delta.content) || (choice.delta.tool_calls?.length ?? 0) > 0,
  );
}

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
  const config = parseOptions(options);
  const now = config.now ?? Date.now;
  const endpoint = new URL(config.baseUrl);
  endpoint.pathname = `${endpoint.pathname.replace(/\/+$/, "")}/messages`;
  const path = endpoint.pathname + endpoint.search;
  const providerName = config.name;
  const redact: Redactor = createRedactor(config.apiKey);
  const pool = new Pool(endpoint.origin, {
    connections: config.maxConnections,
    connectTimeout: config.connectTimeoutMs,
    headersTimeout: config.headersTimeoutMs,
    bodyTimeout: config.headersTimeoutMs,
  });
  const baseHeaders = {
    "content-type": "application/json",
    "anthropic-version": ANTHROPIC_VERSION,
    ...(config.apiKey === undefined ? {} : { "x-api-key": config.apiKey }),
  };
  const plainHeaders = { ...baseHeaders, accept: "application/json" };
  const streamHeaders = { ...baseHeaders, accept: "text/event-stream" };

  function malformed(problem: string): ProviderError {
    // No cause: V8's SyntaxError quotes the body, and a body may echo the credentials.
    return new ProviderError(
      ProviderErrorClass.Malformed,
      `${providerName} ${problem}; ${anthropicAdviceFor("malformed")}`,
    );
  }

  function translateFailure(
    error: unknown,
    call: ProviderCall,
    deadline: AbortSignal,
    chunksDelivered: number,
  ) {
    if (error instanceof CallbackFailure) return error.error;
    if (call.signal?.aborted) return call.signal.reason;
    let failure: ProviderError;
    if (deadline.aborted && deadline.reason instanceof ProviderError) {
      failure = deadline.reason;
    } else if (error instanceof ProviderError) {
      failure = error;
    } else {
      const code = errorCode(error);
      const message = redact(error instanceof Error ? error.message : String(error));
      if (code !== undefined && UNDICI_TIMEOUT_CODES.has(code)) {
        failure = new ProviderError(
          ProviderErrorClass.Timeout,
          `${providerName} timed out (${message}); ${anthropicAdviceFor("timeout")}`,
          { cause: error },
        );
      } else if (code?.startsWith("HPE_")) {
        failure = malformed(`answered invalid HTTP (${message})`);
      } else {
        failure = new ProviderError(
          ProviderErrorClass.Connection,
          `${providerName} connection failed or closed early (${code === undefined ? message : `${code}: ${message}`}); ${anthropicAdviceFor("connection")}`,
          { cause: error },
        );
      }
    }
    if (chunksDelivered > 0 && failure.errorClass !== ProviderErrorClass.Malformed) {
      return new ProviderError(
        ProviderErrorClass.StreamInterrupted,
        `${providerName} stream broke after ${chunksDelivered} chunk(s): ${failure.message}`,
        {
          cause: failure,
          ...(failure.providerStatus === undefined ? {} : { providerStatus: failure.providerStatus }),
        },
      );
    }
    return failure;
  }

  async function readPlain(body: { text(): Promise<string> }): Promise<ChatCompletion> {
    const text = await body.text();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw malformed("answered a body that is not JSON");
    }
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

  async function readStream(
    body: AsyncIterable<Buffer>,
    onChunk: (chunk: ChatCompletionChunk) => void,
    progress: { chunksDelivered: number },
  ): Promise<{ completion: ChatCompletion; usage: ProviderUsage; firstTokenAt: number }> {
    const parser = createSseParser();
    const translator = createAnthropicStreamTranslator(Math.floor(now() / 1000));
    const assembler = createChunkAssembler();
    let firstChunkAt: number | undefined;
    let firstTokenAt: number | undefined;

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
      for (const chunk of translator.push(parsed.data)) {
        const at = performance.now();
        firstChunkAt ??= at;
        if (firstTokenAt === undefined && hasContent(chunk)) firstTokenAt = at;
        assembler.add(chunk);
        progress.chunksDelivered++;
        try {
          onChunk(chunk);
        } catch (error) {
          throw new CallbackFailure(error);
        }
      }
    };

    try {
      for await (const piece of body) {
        // After message_stop the rest is drained, not parsed, so the connection can be reused.
        if (translator.finished) continue;
        for (const event of parser.push(piece)) handle(event);
      }
      if (!translator.finished) for (const event of parser.end()) handle(event);
    } catch (error) {
      // A connection that breaks after message_stop has already delivered the whole answer.
      if (!translator.finished) throw error;
    }
    if (!translator.finished) {
      throw progress.chunksDelivered > 0
        ? new ProviderError(
            ProviderErrorClass.StreamInterrupted,
            `${providerName} stream ended before message_stop; ${anthropicAdviceFor("stream_interrupted")}`,
          )
        : malformed("ended the stream without any event");
    }
    return {
      completion: assembler.completion(),
      usage: translator.usage(),
      firstTokenAt: firstTokenAt ?? firstChunkAt ?? performance.now(),
    };
  }

  async function complete(call: ProviderCall): Promise<ProviderResult> {
    if (call.signal?.aborted) throw call.signal.reason;
    const streaming = call.onChunk !== undefined;
    // Translated before any I/O: a request Anthropic cannot express fails without a call.
    const body = JSON.stringify(toAnthropicRequest(call.request, call.upstreamModel, streaming));
    const controller = new AbortController();
    const deadlineTimer = setTimeout(() => {
      controller.abort(
        new ProviderError(
          ProviderErrorClass.Timeout,
          `${providerName} did not finish within ${config.requestTimeoutMs} ms; ${anthropicAdviceFor("timeout")}`,
        ),
      );
    }, config.requestTimeoutMs);
    const onCallerAbort = () => controller.abort(call.signal?.reason);
    call.signal?.addEventListener("abort", onCallerAbort, { once: true });
    const progress = { chunksDelivered: 0 };
    const startedAt = performance.now();

    try {
      const response = await pool.request({
        path,
        method: "POST",
        headers: streaming ? streamHeaders : plainHeaders,
        body,
        signal: controller.signal,
      });
      const headersAt = performance.now();
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const bodyText = await response.body.text().catch(() => "");
        throw anthropicErrorFromResponse({
          providerName,
          status: response.statusCode,
          headers: response.headers,
          bodyText,
          nowMs: Date.now(),
          redact,
        });
      }
      if (!streaming) {
        const completion = await readPlain(response.body);
        const usage = completion.usage!;
        return {
          completion,
          usage: {
            promptTokens: usage.prompt_tokens,
            completionTokens: usage.completion_tokens,
            cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
          },
          timeToFirstTokenMs: headersAt - startedAt,
        };
      }
      const streamed = await readStream(response.body, call.onChunk!, progress);
      return {
        completion: streamed.completion,
        usage: streamed.usage,
        timeToFirstTokenMs: streamed.firstTokenAt - startedAt,
      };
    } catch (error) {
      throw translateFailure(error, call, controller.signal, progress.chunksDelivered);
    } finally {
      clearTimeout(deadlineTimer);
      call.signal?.removeEventListener("abort", onCallerAbort);
    }
  }

  return { name: providerName, complete, close: () => pool.close() };
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
