import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { z } from "zod";
import type { ChatCompletion, ChatCompletionChunk, ChatUsage } from "../../chat/wire.js";
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
} from "../types.js";
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
export interface GeminiAdapterOptions {
  /** Provider name as the model catalog refers to it. Default `gemini`. */
  name?: string;
  /**
   * Base URL up to and including the API version, e.g.
   * `https://generativelanguage.googleapis.com/v1beta`; `/models/{model}:generateContent` is appended.
   */
  baseUrl?: string;
  /** Sent in the `x-goog-api-key` header, never in the URL, so it cannot reach access logs. */
  apiKey?: string;
  /** Longest TCP (and TLS) connect, in milliseconds. Default 10 000. */
  connectTimeoutMs?: number;
  /**
   * Longest wait for the response headers, and the longest silence between two pieces of the
   * body, in milliseconds (undici checks it about every half second). Default 300 000.
   */
  headersTimeoutMs?: number;
  /** Deadline of a whole call, streaming included, in milliseconds. Default 600 000. */
  requestTimeoutMs?: number;
  /** Most keep-alive connections held open to the provider. Default 128. */
  maxConnections?: number;
  /** Clock for `created`, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

const optionsSchema = z.strictObject({
  name: z.string().min(1).default("gemini"),
  baseUrl: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .default("https://generativelanguage.googleapis.com/v1beta"),
  apiKey: z.string().min(1).optional(),
  connectTimeoutMs: z.number().int().positive().default(10_000),
  headersTimeoutMs: z.number().int().positive().default(300_000),
  requestTimeoutMs: z.number().int().positive().default(600_000),
  maxConnections: z.number().int().positive().default(128),
  now: z.custom<() => number>((value) => typeof value === "function").optional(),
});

function parseOptions(options: GeminiAdapterOptions) {
  const result = optionsSchema.safeParse(options);
  if (!result.success) {
    // Paths and zod's messages only, so a misplaced key never lands in the message.
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new BeamlineError("BL_CONFIG_INVALID", `Invalid Gemini adapter options: ${problems.join("; ")}`);
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

/** The parsed JSON of `text`, or undefined: for events whose failure no longer matters. */
function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toUsage(usage: ChatUsage) {
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
  };
}

function hasContent(chunk: ChatCompletionChunk): boolean {
  return chunk.choices.some(
    (choice) => Boolean(choice.delta.content) || (choice.delta.tool_calls?.length ?? 0) > 0,
  );
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
  const config = parseOptions(options);
  const base = new URL(config.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, "");
  const providerName = config.name;
  const now = config.now ?? Date.now;
  const redact: Redactor = createRedactor(config.apiKey);
  const pool = new Pool(base.origin, {
    connections: config.maxConnections,
    connectTimeout: config.connectTimeoutMs,
    headersTimeout: config.headersTimeoutMs,
    bodyTimeout: config.headersTimeoutMs,
  });
  const apiKeyHeader = config.apiKey === undefined ? {} : { "x-goog-api-key": config.apiKey };

  function pathFor(upstreamModel: string, streaming: boolean): string {
    const search = new URLSearchParams(base.search);
    if (streaming) search.set("alt", "sse");
    const query = search.toString();
    const method = streaming ? "streamGenerateContent" : "generateContent";
    return `${basePath}/${modelResource(upstreamModel)}:${method}${query.length > 0 ? `?${query}` : ""}`;
  }

  function malformed(problem: string): ProviderError {
    // No cause: a JSON SyntaxError quotes the body, and a body may echo credentials.
    return new ProviderError(
      ProviderErrorClass.Malformed,
      `${providerName} ${problem}; ${geminiAdvice("malformed")}`,
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
          `${providerName} timed out (${message}); ${geminiAdvice("timeout")}`,
          { cause: error },
        );
      } else if (code?.startsWith("HPE_")) {
        failure = malformed(`answered invalid HTTP (${message})`);
      } else {
        failure = new ProviderError(
          ProviderErrorClass.Connection,
          `${providerName} connection failed or closed early (${code === undefined ? message : `${code}: ${message}`}); ${geminiAdvice("connection")}`,
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

  function parseJson(text: string, what: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      throw malformed(`answered ${what} that is not JSON`);
    }
  }

  async function readPlain(
    body: { text(): Promise<string> },
    context: ResponseContext,
  ): Promise<ChatCompletion> {
    const value = parseJson(await body.text(), "a body");
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
    onChunk: (chunk: ChatCompletionChunk) => void,
    context: ResponseContext,
    progress: { chunksDelivered: number },
  ) {
    const parser = createSseParser();
    const translator = createStreamTranslator(context);
    const assembler = createChunkAssembler();
    let firstChunkAt: number | undefined;
    let firstTokenAt: number | undefined;

    const deliver = (chunk: ChatCompletionChunk): void => {
      assembler.add(chunk);
      progress.chunksDelivered++;
      try {
        onChunk(chunk);
      } catch (error) {
        throw new CallbackFailure(error);
      }
    };

    const handle = (event: SseEvent): void => {
      if (translator.finished) {
        // Nothing more is delivered, but a later event may still carry the final usage.
        const late = parseGeminiResponse(safeJson(event.data));
        if (late.ok) translator.translate(late.value);
        return;
      }
      const value = parseJson(event.data, "a stream event");
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
      if (chunk === undefined) return;
      const at = performance.now();
      firstChunkAt ??= at;
      if (firstTokenAt === undefined && hasContent(chunk)) firstTokenAt = at;
      deliver(chunk);
    };

    try {
      for await (const piece of body) for (const event of parser.push(piece)) handle(event);
      for (const event of parser.end()) handle(event);
    } catch (error) {
      // A connection that breaks after the finish reason has already delivered the whole answer.
      if (!translator.finished) throw error;
    }
    if (!translator.finished) {
      throw progress.chunksDelivered > 0
        ? new ProviderError(
            ProviderErrorClass.StreamInterrupted,
            `${providerName} stream ended before a finish reason; ${geminiAdvice("stream_interrupted")}`,
          )
        : malformed("ended the stream without a complete response");
    }
    deliver(translator.usageChunk());
    return {
      completion: assembler.completion(),
      usage: assembler.usage ?? translator.usageChunk().usage!,
      firstTokenAt: firstTokenAt ?? firstChunkAt ?? performance.now(),
    };
  }

  async function complete(call: ProviderCall): Promise<ProviderResult> {
    if (call.signal?.aborted) throw call.signal.reason;
    const streaming = call.onChunk !== undefined;
    const controller = new AbortController();
    const deadlineTimer = setTimeout(() => {
      controller.abort(
        new ProviderError(
          ProviderErrorClass.Timeout,
          `${providerName} did not finish within ${config.requestTimeoutMs} ms; ${geminiAdvice("timeout")}`,
        ),
      );
    }, config.requestTimeoutMs);
    const onCallerAbort = () => controller.abort(call.signal?.reason);
    call.signal?.addEventListener("abort", onCallerAbort, { once: true });
    const progress = { chunksDelivered: 0 };
    const startedAt = performance.now();
    const context: ResponseContext = {
      upstreamModel: call.upstreamModel,
      created: Math.floor(now() / 1000),
      fallbackId: `chatcmpl-gemini-${randomUUID()}`,
      newToolCallId: () => `call_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
    };

    try {
      const body = JSON.stringify(toGeminiRequest(call.request));
      const response = await pool.request({
        path: pathFor(call.upstreamModel, streaming),
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: streaming ? "text/event-stream" : "application/json",
          ...apiKeyHeader,
        },
        body,
        signal: controller.signal,
      });
      const headersAt = performance.now();
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const bodyText = await response.body.text().catch(() => "");
        throw geminiErrorFromResponse({
          providerName,
          status: response.statusCode,
          headers: response.headers,
          bodyText,
          nowMs: Date.now(),
          redact,
        });
      }
      if (!streaming) {
        const completion = await readPlain(response.body, context);
        return { completion, usage: toUsage(completion.usage!), timeToFirstTokenMs: headersAt - startedAt };
      }
      const streamed = await readStream(response.body, call.onChunk!, context, progress);
      return {
        completion: streamed.completion,
        usage: toUsage(streamed.usage),
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
