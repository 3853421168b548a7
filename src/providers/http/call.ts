import { performance } from "node:perf_hooks";
import type { Dispatcher } from "undici";
import { z } from "zod";
import type { ChatCompletion } from "../../chat/index.js";
import { ProviderError } from "../provider-error.js";
import { type ProviderCall, ProviderErrorClass, type ProviderResult, type ProviderUsage } from "../types.js";
import { createRedactor, type ErrorAnswer, type Redactor } from "./errors.js";
import { CallbackFailure, type ChunkSink, createChunkSink, providerUsageOf } from "./stream.js";
import { createPool } from "./undici-pool.js";

/** Connection options every HTTP provider adapter takes. */
export interface HttpAdapterOptions {
  /** The provider's API key, sent in the wire's own header; omitted when absent (local servers, the mock). */
  apiKey?: string;
  /** Longest TCP (and TLS) connect, in milliseconds. Default 10 000. */
  connectTimeoutMs?: number;
  /**
   * Longest wait for the response headers once the request is sent, and the longest silence
   * between two pieces of the body, in milliseconds (a stalled stream fails after it).
   * Non-streamed answers send their headers only when the whole completion is ready, so this
   * bounds generation time too. undici checks it on a coarse clock (about every half second),
   * so it fires up to ~1 s late. Default 300 000.
   */
  headersTimeoutMs?: number;
  /** Deadline of a whole call, streaming included, in milliseconds. Default 600 000. */
  requestTimeoutMs?: number;
  /** Most keep-alive connections held open to the provider. Default 128. */
  maxConnections?: number;
}

/** The zod shape of {@link HttpAdapterOptions}, spread into each adapter's options schema. */
export const httpAdapterOptionsShape = {
  apiKey: z.string().min(1).optional(),
  connectTimeoutMs: z.number().int().positive().default(10_000),
  headersTimeoutMs: z.number().int().positive().default(300_000),
  requestTimeoutMs: z.number().int().positive().default(600_000),
  maxConnections: z.number().int().positive().default(128),
};

/** What the transport needs to know of a wire to report its failures. */
export interface HttpWire {
  providerName: string;
  /** Human advice for an error class, appended to messages. */
  advice(errorClass: ProviderErrorClass): string;
  /** The ProviderError of a non-2xx answer, from the wire's own error body shape. */
  errorFromResponse(answer: ErrorAnswer): ProviderError;
}

/** One POST to the provider, and how the wire reads its answer. */
export interface HttpExchange {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Checks and translates the JSON of a non-streamed answer; the completion carries usage. */
  readPlain(value: unknown): ChatCompletion;
  /** Reads a streamed answer, delivering chunks to `sink`; resolves with the usage. */
  readStream(body: AsyncIterable<Buffer>, sink: ChunkSink): Promise<ProviderUsage>;
}

/** One POST answered by one JSON body, and how the wire reads it. */
export interface JsonExchange<T> {
  path: string;
  headers: Record<string, string>;
  body: string;
  read(value: unknown): T;
}

/** What {@link HttpTransport.exchangeJson} resolves with. */
export interface JsonAnswer<T> {
  value: T;
  /** Milliseconds from sending the request to the answer's headers. */
  headersMs: number;
}

/** An undici keep-alive pool to one provider origin and the call lifecycle every HTTP wire shares. */
export interface HttpTransport {
  /** Removes the API key from any text that may echo it. */
  redact: Redactor;
  /** A `malformed` ProviderError; never with a cause, which could quote a body echoing credentials. */
  malformed(problem: string): ProviderError;
  /**
   * Runs one call: deadline, caller abort, status check, then the wire's reader. Failures reject
   * as the adapters document: `signal.reason` when the caller aborted, an `onChunk` error
   * unchanged, a ProviderError otherwise (`stream_interrupted` once a chunk was delivered).
   */
  exchange(call: ProviderCall, exchange: HttpExchange): Promise<ProviderResult>;
  /**
   * One POST whose answer is a single JSON body (embeddings), with the same deadline, abort,
   * status check and failure translation as {@link exchange}. `read` checks and translates it.
   */
  exchangeJson<T>(
    call: { signal?: AbortSignal | undefined },
    exchange: JsonExchange<T>,
  ): Promise<JsonAnswer<T>>;
  /** Lets calls in flight finish (abort them first for a fast shutdown). */
  close(): Promise<void>;
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

/** The {@link HttpTransport} of one wire to `origin`. */
export function createHttpTransport(
  origin: string,
  config: Required<Omit<HttpAdapterOptions, "apiKey">> & Pick<HttpAdapterOptions, "apiKey">,
  wire: HttpWire,
): HttpTransport {
  const { providerName, advice } = wire;
  const redact = createRedactor(config.apiKey);
  const pool = createPool(origin, {
    connections: config.maxConnections,
    connectTimeout: config.connectTimeoutMs,
    headersTimeout: config.headersTimeoutMs,
    bodyTimeout: config.headersTimeoutMs,
  });

  function malformed(problem: string): ProviderError {
    return new ProviderError(
      ProviderErrorClass.Malformed,
      `${providerName} ${problem}; ${advice("malformed")}`,
    );
  }

  /** Maps whatever a call threw to what the caller sees (see {@link HttpTransport.exchange}). */
  function translateFailure(
    error: unknown,
    call: { signal?: AbortSignal | undefined },
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
          `${providerName} timed out (${message}); ${advice("timeout")}`,
          { cause: error },
        );
      } else if (code?.startsWith("HPE_")) {
        failure = malformed(`answered invalid HTTP (${message})`);
      } else {
        failure = new ProviderError(
          ProviderErrorClass.Connection,
          `${providerName} connection failed or closed early (${code === undefined ? message : `${code}: ${message}`}); ${advice("connection")}`,
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

  /** Sends one POST under the call's deadline and the caller's abort; non-2xx answers throw. */
  async function post<T>(
    call: { signal?: AbortSignal | undefined; traceContext?: Readonly<Record<string, string>> | undefined },
    request: { path: string; headers: Record<string, string>; body: string },
    read: (response: Dispatcher.ResponseData, headersAt: number, deadline: AbortSignal) => Promise<T>,
    chunksDelivered: () => number = () => 0,
  ): Promise<T> {
    if (call.signal?.aborted) throw call.signal.reason;
    const controller = new AbortController();
    const deadlineTimer = setTimeout(() => {
      controller.abort(
        new ProviderError(
          ProviderErrorClass.Timeout,
          `${providerName} did not finish within ${config.requestTimeoutMs} ms; ${advice("timeout")}`,
        ),
      );
    }, config.requestTimeoutMs);
    const onCallerAbort = () => controller.abort(call.signal?.reason);
    call.signal?.addEventListener("abort", onCallerAbort, { once: true });
    try {
      const response = await pool.request({
        ...request,
        method: "POST",
        // The wire's own headers win: a trace header can never replace auth or content-type.
        headers: { ...call.traceContext, ...request.headers },
        signal: controller.signal,
      });
      const headersAt = performance.now();
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const bodyText = await response.body.text().catch(() => "");
        throw wire.errorFromResponse({
          providerName,
          status: response.statusCode,
          headers: response.headers,
          bodyText,
          nowMs: Date.now(),
          redact,
        });
      }
      return await read(response, headersAt, controller.signal);
    } catch (error) {
      throw translateFailure(error, call, controller.signal, chunksDelivered());
    } finally {
      clearTimeout(deadlineTimer);
      call.signal?.removeEventListener("abort", onCallerAbort);
    }
  }

  async function jsonOf(response: Dispatcher.ResponseData): Promise<unknown> {
    const text = await response.body.text();
    try {
      return JSON.parse(text);
    } catch {
      // No cause: V8's SyntaxError quotes the body, and a body may echo the credentials.
      throw malformed("answered a body that is not JSON");
    }
  }

  async function exchangeJson<T>(
    call: { signal?: AbortSignal | undefined },
    exchange: JsonExchange<T>,
  ): Promise<JsonAnswer<T>> {
    const startedAt = performance.now();
    return post(call, exchange, async (response, headersAt) => ({
      value: exchange.read(await jsonOf(response)),
      headersMs: headersAt - startedAt,
    }));
  }

  async function exchange(call: ProviderCall, exchange: HttpExchange): Promise<ProviderResult> {
    const onChunk = call.onChunk;
    const sink = onChunk === undefined ? undefined : createChunkSink(onChunk);
    const startedAt = performance.now();
    return post(
      call,
      exchange,
      async (response, headersAt) => {
        if (sink === undefined) {
          const completion = exchange.readPlain(await jsonOf(response));
          return {
            completion,
            usage: providerUsageOf(completion.usage!),
            timeToFirstTokenMs: headersAt - startedAt,
          };
        }
        const usage = await exchange.readStream(response.body, sink);
        return {
          completion: sink.completion(),
          usage,
          timeToFirstTokenMs: sink.firstTokenAt() - startedAt,
        };
      },
      () => sink?.delivered ?? 0,
    );
  }

  return { redact, malformed, exchange, exchangeJson, close: () => pool.close() };
}
