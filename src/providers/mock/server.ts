import { setMaxListeners } from "node:events";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { z } from "zod";
import { parseProviderOptions } from "../validation.js";
import { answerFor, type MockChatRequest } from "./answers.js";
import { createAnthropicMessagesHandler } from "./anthropic.js";
import {
  MOCK_EMBEDDING_DIMENSIONS,
  MOCK_EMBEDDING_MAX_DIMENSIONS,
  openAiEmbeddingsBody,
  openAiInputs,
} from "./embeddings.js";
import {
  answerDelayMs,
  chooseFault,
  faultAnswers,
  MockFault,
  OPENAI_STREAM_ERROR_BODY,
  OPENAI_STREAM_ERROR_FRAME,
  SERVER_ERROR_BODY,
} from "./faults.js";
import { type CompletionMeta, completionBody, errorBody, streamFrames } from "./frames.js";
import { answerGemini, GEMINI_PATH_PREFIX } from "./gemini.js";
import { cutAfter, type FramePacing, holdOpen, readBody, readyForFrame, sendJson } from "./http.js";

/** Options of {@link startMockProvider}. Validated once at start. */
export interface MockProviderOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  /** Wait before the response headers (and so before the first token), in milliseconds. Default 0. */
  latencyMs?: number;
  /** Wait between two streamed chunks, in milliseconds. Default 0. */
  chunkDelayMs?: number;
  /** Number of chunks the content (or tool-call arguments) is streamed in. Default 4. */
  chunks?: number;
  /** Share of requests (0..1) answered 500 with OpenAI's error body. Default 0. */
  failureRate?: number;
  /**
   * Share of requests (0..1) that get the `slow` fault: the answer waits `slowDelayMs` more
   * before its headers (a provider's slow tail). Drawn after `failureRate`. Default 0.
   */
  slowRate?: number;
  /** Extra wait of the `slow` fault, in milliseconds. Default 2000. */
  slowDelayMs?: number;
  /** Seed of the default random source that draws failures. Default 1. */
  seed?: number;
  /** Random source in [0, 1) replacing the seeded one, for tests that pick the draws. */
  random?: () => number;
  /** When set, requests must send `Authorization: Bearer <apiKey>`, or get 401. */
  apiKey?: string;
  /** Models listed by `GET /v1/models`. Any model name is answered regardless. */
  models?: string[];
  /** `retry-after` of the 429 fault, in seconds. Default 1. */
  retryAfterSeconds?: number;
  /**
   * Called before each streamed chunk is written (0-based index); the mock waits for the
   * returned promise. Lets tests prove chunks reach the caller before the stream ends.
   */
  beforeChunk?: (index: number) => Promise<void> | undefined;
  /** Clock for `created`, in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  /**
   * Sees the headers of every request, whatever its wire, before it is answered. Lets tests
   * check what Beamline sends upstream (the W3C `traceparent`, for one).
   */
  onRequest?: (headers: IncomingHttpHeaders) => void;
  /**
   * Sees the JSON body of every chat request that parsed as an object, OpenAI's
   * (`/v1/chat/completions`) and Anthropic's (`/v1/messages`), keyed by that path, before it
   * is answered. Lets tests check what Beamline sends upstream (cache breakpoints, metadata).
   */
  onRequestBody?: (path: MockChatPath, body: Record<string, unknown>) => void;
}

/** The chat endpoints whose bodies {@link MockProviderOptions.onRequestBody} sees. */
export type MockChatPath = "/v1/chat/completions" | "/v1/messages";

export interface MockProvider {
  /** Base URL ending in `/v1`, ready for an OpenAI client or adapter. */
  readonly url: string;
  readonly port: number;
  /** Requests being answered right now (hanging ones included). */
  readonly inFlight: number;
  /** Requests whose connection the client closed before the answer was complete (a cancelled call). */
  readonly abandoned: number;
  /** Stops listening, ends hanging and streaming answers, closes all connections. */
  close(): Promise<void>;
}

const millis = z.number().int().nonnegative();
const optionsSchema = z.strictObject({
  host: z.string().min(1).default("127.0.0.1"),
  port: z.number().int().min(0).max(65_535).default(0),
  latencyMs: millis.default(0),
  chunkDelayMs: millis.default(0),
  chunks: z.number().int().positive().default(4),
  failureRate: z.number().min(0).max(1).default(0),
  slowRate: z.number().min(0).max(1).default(0),
  slowDelayMs: millis.default(2_000),
  seed: z.number().int().default(1),
  random: z.custom<() => number>((value) => typeof value === "function").optional(),
  apiKey: z.string().min(1).optional(),
  models: z.array(z.string().min(1)).default(["mock-small", "mock-large"]),
  retryAfterSeconds: z.number().nonnegative().default(1),
  beforeChunk: z
    .custom<(index: number) => Promise<void> | undefined>((value) => typeof value === "function")
    .optional(),
  now: z.custom<() => number>((value) => typeof value === "function").optional(),
  onRequest: z
    .custom<(headers: IncomingHttpHeaders) => void>((value) => typeof value === "function")
    .optional(),
  onRequestBody: z
    .custom<(path: MockChatPath, body: Record<string, unknown>) => void>(
      (value) => typeof value === "function",
    )
    .optional(),
});

/** A small seeded PRNG (mulberry32): deterministic failure draws without global state. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };

type RequestCheck =
  | { ok: true; request: MockChatRequest & Record<string, unknown> }
  | { ok: false; body: string };

function checkRequest(value: unknown): RequestCheck {
  const invalid = (message: string, param: string | null) => ({
    ok: false as const,
    body: errorBody(message, "invalid_request_error", null, param),
  });
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid("The request body must be a JSON object.", null);
  }
  const record = value as Record<string, unknown>;
  if (typeof record["model"] !== "string" || record["model"].length === 0) {
    return invalid("You must provide a model parameter.", "model");
  }
  if (!Array.isArray(record["messages"]) || record["messages"].length === 0) {
    return invalid("'messages' must be a non-empty array.", "messages");
  }
  if (record["stream_options"] != null && record["stream"] !== true) {
    return invalid(
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
      "stream_options",
    );
  }
  return { ok: true, request: record as MockChatRequest & Record<string, unknown> };
}

/**
 * Starts the built-in mock provider: a `node:http` server speaking OpenAI's wire format
 * (`POST /v1/chat/completions`, plain and SSE; `GET /v1/models`) and Anthropic's
 * (`POST /v1/messages`, see `anthropic.ts`) with deterministic answers
 * (see `answers.ts`), configurable latency and failure rate, and per-request faults
 * ({@link MockFault}). It is the baseline of benchmarks, so a request does little more
 * than parse JSON and write the answer.
 */
export async function startMockProvider(options: MockProviderOptions = {}): Promise<MockProvider> {
  const config = parseProviderOptions(optionsSchema, options, "mock provider");
  const random = config.random ?? seededRandom(config.seed);
  const now = config.now ?? Date.now;
  const expectedAuthorization = config.apiKey === undefined ? undefined : `Bearer ${config.apiKey}`;
  const closing = new AbortController();
  // Every pending delay listens on this signal; thousands of concurrent requests are expected.
  setMaxListeners(0, closing.signal);
  let completionCount = 0;
  let inFlight = 0;
  let abandoned = 0;

  const modelsBody = JSON.stringify({
    object: "list",
    data: config.models.map((id) => ({ id, object: "model", created: 0, owned_by: "beamline-mock" })),
  });
  const errorAnswers = faultAnswers(config.retryAfterSeconds);
  const pacing: FramePacing = { ...config, closing: closing.signal };
  const anthropicMessages = createAnthropicMessagesHandler({
    ...config,
    apiKey: config.apiKey,
    random,
    beforeChunk: config.beforeChunk,
    closing: closing.signal,
    nextAnswerNumber: () => ++completionCount,
    onBody: (body) => config.onRequestBody?.("/v1/messages", body),
  });

  async function stream(res: ServerResponse, frames: string[], fault: MockFault | undefined): Promise<void> {
    res.writeHead(200, SSE_HEADERS);
    if (fault === MockFault.Malformed) {
      res.end('data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","choices":[\n\ndata: [DONE]\n\n');
      return;
    }
    for (let index = 0; index < frames.length; index++) {
      if (!(await readyForFrame(res, index, pacing))) return;
      if (fault === MockFault.Cut && index === 1) {
        cutAfter(res, frames[index]!);
        return;
      }
      if (fault === MockFault.Stall && index === 2) return holdOpen(res, closing.signal);
      if (fault === MockFault.StreamError && index === 2) {
        res.end(OPENAI_STREAM_ERROR_FRAME);
        return;
      }
      res.write(frames[index]!);
    }
    res.end("data: [DONE]\n\n");
  }

  async function chatCompletions(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    if (raw === undefined) {
      sendJson(res, 413, errorBody("The request body is too large.", "invalid_request_error", null));
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(raw.toString("utf8"));
    } catch {
      sendJson(
        res,
        400,
        errorBody("We could not parse the JSON body of your request.", "invalid_request_error", null),
      );
      return;
    }
    const checked = checkRequest(value);
    if (!checked.ok) {
      sendJson(res, 400, checked.body);
      return;
    }
    const request = checked.request;
    config.onRequestBody?.("/v1/chat/completions", request);

    const chosen = chooseFault(req.headers["x-mock-fault"], request.model, { ...config, random });
    if ("unknownFault" in chosen) {
      sendJson(res, 400, errorBody(chosen.unknownFault, "invalid_request_error", null));
      return;
    }
    const fault = chosen.fault;

    if (fault === MockFault.Hang) return holdOpen(res, closing.signal);
    const waitMs = answerDelayMs(fault, config);
    if (waitMs > 0) await delay(waitMs, undefined, { signal: closing.signal });
    const errorAnswer = fault === undefined ? undefined : errorAnswers.get(fault);
    if (errorAnswer !== undefined)
      return sendJson(res, errorAnswer.status, errorAnswer.body, errorAnswer.headers);

    const answer = answerFor(request);
    completionCount++;
    const meta: CompletionMeta = {
      id: `chatcmpl-mock-${completionCount}`,
      created: Math.floor(now() / 1000),
      model: request.model,
    };
    if (request["stream"] === true) {
      const options = request["stream_options"] as { include_usage?: unknown } | null | undefined;
      const frames = streamFrames(answer, meta, options?.include_usage === true, config.chunks);
      return stream(res, frames, fault);
    }
    if (fault === MockFault.Malformed) {
      return sendJson(res, 200, '{"id":"chatcmpl-mock","object":"chat.completion","choices":[');
    }
    if (fault === MockFault.StreamError) return sendJson(res, 200, OPENAI_STREAM_ERROR_BODY);
    const body = JSON.stringify(completionBody(answer, meta));
    if (fault === MockFault.Cut || fault === MockFault.Stall) {
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      if (fault === MockFault.Stall) {
        res.write(body.slice(0, body.length >> 1));
        return holdOpen(res, closing.signal);
      }
      cutAfter(res, body.slice(0, body.length >> 1));
      return;
    }
    sendJson(res, 200, body);
  }

  /** `POST /v1/embeddings`: the mock's deterministic vectors (`embeddings.ts`), with the same faults as chat. */
  async function embeddings(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    if (raw === undefined) {
      sendJson(res, 413, errorBody("The request body is too large.", "invalid_request_error", null));
      return;
    }
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(raw.toString("utf8"));
    } catch {
      sendJson(
        res,
        400,
        errorBody("We could not parse the JSON body of your request.", "invalid_request_error", null),
      );
      return;
    }
    const model = value?.["model"];
    if (typeof model !== "string" || model === "") {
      sendJson(
        res,
        400,
        errorBody("you must provide a model parameter", "invalid_request_error", null, "model"),
      );
      return;
    }
    const inputs = openAiInputs(value["input"]);
    if (typeof inputs === "string") {
      sendJson(res, 400, errorBody(inputs, "invalid_request_error", null, "input"));
      return;
    }
    const dimensions = value["dimensions"] ?? MOCK_EMBEDDING_DIMENSIONS;
    if (
      typeof dimensions !== "number" ||
      !Number.isInteger(dimensions) ||
      dimensions < 1 ||
      dimensions > MOCK_EMBEDDING_MAX_DIMENSIONS
    ) {
      sendJson(
        res,
        400,
        errorBody(
          `'dimensions' must be an integer from 1 to ${MOCK_EMBEDDING_MAX_DIMENSIONS}.`,
          "invalid_request_error",
          null,
          "dimensions",
        ),
      );
      return;
    }
    const chosen = chooseFault(req.headers["x-mock-fault"], model, { ...config, random });
    if ("unknownFault" in chosen) {
      sendJson(res, 400, errorBody(chosen.unknownFault, "invalid_request_error", null));
      return;
    }
    if (chosen.fault === MockFault.Hang) return holdOpen(res, closing.signal);
    if (config.latencyMs > 0) await delay(config.latencyMs, undefined, { signal: closing.signal });
    const errorAnswer = chosen.fault === undefined ? undefined : errorAnswers.get(chosen.fault);
    if (errorAnswer !== undefined)
      return sendJson(res, errorAnswer.status, errorAnswer.body, errorAnswer.headers);
    if (chosen.fault === MockFault.Malformed) return sendJson(res, 200, '{"object":"list","data":[');
    const encoding = value["encoding_format"] === "base64" ? "base64" : "float";
    sendJson(res, 200, openAiEmbeddingsBody(model, inputs, dimensions, encoding));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    config.onRequest?.(req.headers);
    if (req.url?.startsWith(GEMINI_PATH_PREFIX))
      return answerGemini(req, res, { ...config, random, now, closing: closing.signal });
    // Anthropic's dialect authenticates with x-api-key and answers in its own error shape.
    if (req.method === "POST" && req.url?.split("?")[0] === "/v1/messages")
      return anthropicMessages(req, res);
    if (expectedAuthorization !== undefined && req.headers.authorization !== expectedAuthorization) {
      const missing = req.headers.authorization === undefined;
      const message = missing
        ? "You didn't provide an API key. Send it in the Authorization header as 'Bearer <key>'."
        : "Incorrect API key provided.";
      return sendJson(
        res,
        401,
        errorBody(message, "invalid_request_error", missing ? null : "invalid_api_key"),
      );
    }
    const query = req.url?.indexOf("?") ?? -1;
    const path = query === -1 ? req.url : req.url?.slice(0, query);
    if (req.method === "POST" && path === "/v1/chat/completions") return chatCompletions(req, res);
    if (req.method === "POST" && path === "/v1/embeddings") return embeddings(req, res);
    if (req.method === "GET" && path === "/v1/models") return sendJson(res, 200, modelsBody);
    sendJson(
      res,
      404,
      errorBody(`Unknown request URL: ${req.method} ${path}.`, "invalid_request_error", "unknown_url"),
    );
  }

  const server = createServer({ noDelay: true, keepAlive: true }, (req, res) => {
    inFlight++;
    res.once("close", () => {
      inFlight--;
      if (!res.writableFinished && !closing.signal.aborted) abandoned++;
    });
    handle(req, res).catch(() => {
      // Delays reject when the mock closes; an answer cut short is the expected outcome.
      if (!res.headersSent && !closing.signal.aborted) sendJson(res, 500, SERVER_ERROR_BODY);
      else res.destroy();
    });
  });
  // Longer than clients' idle timeouts (undici: 4 s), so the client closes idle sockets first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(":") ? `[${config.host}]` : config.host;

  return {
    url: `http://${host}:${port}/v1`,
    port,
    get inFlight() {
      return inFlight;
    },
    get abandoned() {
      return abandoned;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        closing.abort();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
