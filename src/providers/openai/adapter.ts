import { performance } from "node:perf_hooks";
import { Pool } from "undici";
import { z } from "zod";
import type { ChatCompletion, ChatCompletionChunk, ChatRequest, ChatUsage } from "../../chat/wire.js";
import { BeamlineError } from "../../errors/index.js";
import { createChunkAssembler } from "../chunk-assembler.js";
import { ProviderError } from "../provider-error.js";
import { createSseParser, type SseEvent } from "../sse.js";
import {
  type ProviderAdapter,
  type ProviderCall,
  ProviderErrorClass,
  type ProviderResult,
} from "../types.js";
import {
  adviceFor,
  classifyStreamError,
  createRedactor,
  describeErrorBody,
  errorFromResponse,
  errorFromValue,
  type Redactor,
} from "./errors.js";
import { parseChunk, parseCompletion } from "./schemas.js";

/** Options of {@link createOpenAiAdapter}. Validated once; all problems are reported together. */
export interface OpenAiAdapterOptions {
  /** Provider name as the model catalog refers to it. Default `openai`. */
  name?: string;
  /**
   * Base URL of an OpenAI-compatible API, up to and including its version segment, e.g.
   * `https://api.openai.com/v1`; `/chat/completions` is appended.
   */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; omitted when absent (local servers, the mock). */
  apiKey?: string;
  /** Longest TCP (and TLS) connect, in milliseconds. Default 10 000. */
  connectTimeoutMs?: number;
  /**
   * Longest wait for the response headers once the request is sent, and the longest silence
   * between two pieces of the body, in milliseconds. Non-streamed answers send their headers
   * only when the whole completion is ready, so this bounds generation time too. undici checks
   * it on a coarse clock (about every half second), so it fires up to ~1 s late. Default 300 000.
   */
  headersTimeoutMs?: number;
  /** Deadline of a whole call, streaming included, in milliseconds. Default 600 000. */
  requestTimeoutMs?: number;
  /** Most keep-alive connections held open to the provider. Default 128. */
  maxConnections?: number;
  /**
   * Extra headers sent with every request (OpenAI-compatible servers that want an organisation,
   * project or routing header). They cannot replace content-type, accept or authorization.
   */
  headers?: Record<string, string>;
}

const optionsSchema = z.strictObject({
  name: z.string().min(1).default("openai"),
  baseUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
  apiKey: z.string().min(1).optional(),
  connectTimeoutMs: z.number().int().positive().default(10_000),
  headersTimeoutMs: z.number().int().positive().default(300_000),
  requestTimeoutMs: z.number().int().positive().default(600_000),
  maxConnections: z.number().int().positive().default(128),
  headers: z
    .record(z.string().min(1), z.string())
    .default({})
    // Lower-cased so an extra `Content-Type` cannot sit next to ours as a duplicate.
    .transform((headers) =>
      Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])),
    ),
});

type AdapterConfig = z.infer<typeof optionsSchema>;

function parseOptions(options: OpenAiAdapterOptions): Readonly<AdapterConfig> {
  const result = optionsSchema.safeParse(options);
  if (!result.success) {
    // Paths and zod's messages only, so a misplaced key never lands in the message.
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`,
    );
    throw new BeamlineError("BL_CONFIG_INVALID", `Invalid OpenAI adapter options: ${problems.join("; ")}`);
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

function toUsage(usage: ChatUsage) {
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
  };
}

function hasContent(chunk: ChatCompletionChunk): boolean {
  for (const choice of chunk.choices) {
    const delta = choice.delta;
    if (delta.content || delta.refusal || (delta.tool_calls && delta.tool_calls.length > 0)) return true;
  }
  return false;
}

function requestBody(request: ChatRequest, upstreamModel: string, streaming: boolean): string {
  const body: Record<string, unknown> = { ...request, model: upstreamModel, stream: streaming };
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
  const config = parseOptions(options);
  const endpoint = new URL(config.baseUrl);
  // Appended to the path so a query string (e.g. an API version) stays where it is.
  endpoint.pathname = `${endpoint.pathname.replace(/\/+$/, "")}/chat/completions`;
  const path = endpoint.pathname + endpoint.search;
  const providerName = config.name;
  const redact: Redactor = createRedactor(config.apiKey);
  const pool = new Pool(endpoint.origin, {
    connections: config.maxConnections,
    connectTimeout: config.connectTimeoutMs,
    headersTimeout: config.headersTimeoutMs,
    bodyTimeout: config.headersTimeoutMs,
  });
  const authorization = config.apiKey === undefined ? {} : { authorization: `Bearer ${config.apiKey}` };
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

  function malformed(problem: string, cause?: unknown): ProviderError {
    return new ProviderError(
      ProviderErrorClass.Malformed,
      `${providerName} ${problem}; ${adviceFor("malformed")}`,
      {
        cause,
      },
    );
  }

  /** Maps whatever a call threw to what the caller sees (see the adapter's doc comment). */
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
          `${providerName} timed out (${message}); ${adviceFor("timeout")}`,
          { cause: error },
        );
      } else if (code?.startsWith("HPE_")) {
        failure = malformed(`answered invalid HTTP (${message})`, error);
      } else {
        failure = new ProviderError(
          ProviderErrorClass.Connection,
          `${providerName} connection failed or closed early (${code === undefined ? message : `${code}: ${message}`}); ${adviceFor("connection")}`,
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
      // No cause: V8's SyntaxError quotes the body, and a body may echo the credentials.
      throw malformed("answered a body that is not JSON");
    }
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

  async function readStream(
    body: AsyncIterable<Buffer>,
    onChunk: (chunk: ChatCompletionChunk) => void,
    progress: { chunksDelivered: number },
  ): Promise<{ completion: ChatCompletion; usage: ChatUsage; firstTokenAt: number }> {
    const parser = createSseParser();
    const assembler = createChunkAssembler();
    let done = false;
    let firstChunkAt: number | undefined;
    let firstTokenAt: number | undefined;

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
      const chunk = parsed.value;
      const now = performance.now();
      firstChunkAt ??= now;
      if (firstTokenAt === undefined && hasContent(chunk)) firstTokenAt = now;
      assembler.add(chunk);
      progress.chunksDelivered++;
      try {
        onChunk(chunk);
      } catch (error) {
        throw new CallbackFailure(error);
      }
    };

    try {
      for await (const piece of body) {
        // After [DONE] the rest is drained, not parsed, so the connection can be reused.
        if (done) continue;
        for (const event of parser.push(piece)) handle(event);
      }
      if (!done) for (const event of parser.end()) handle(event);
    } catch (error) {
      // A connection that breaks after [DONE] has already delivered the whole answer.
      if (!done) throw error;
    }

    const usage = assembler.usage;
    // A stream that ends cleanly after the usage chunk but without [DONE] lost nothing: the
    // usage chunk is, by OpenAI's definition, the last one before [DONE].
    if (!done && usage === undefined) {
      throw assembler.chunkCount > 0
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
    return {
      completion: assembler.completion(),
      usage,
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
          `${providerName} did not finish within ${config.requestTimeoutMs} ms; ${adviceFor("timeout")}`,
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
        body: requestBody(call.request, call.upstreamModel, streaming),
        signal: controller.signal,
      });
      const headersAt = performance.now();
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const bodyText = await response.body.text().catch(() => "");
        throw errorFromResponse({
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
        return {
          completion,
          usage: toUsage(completion.usage!),
          timeToFirstTokenMs: headersAt - startedAt,
        };
      }
      const streamed = await readStream(response.body, call.onChunk!, progress);
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

  return {
    name: providerName,
    complete,
    close: () => pool.close(),
  };
}
