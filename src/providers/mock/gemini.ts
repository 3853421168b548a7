import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import { answerFor, type MockAnswer, type MockChatRequest, splitIntoPieces } from "./answers.js";
import { MOCK_EMBEDDING_DIMENSIONS, MOCK_EMBEDDING_MAX_DIMENSIONS, mockEmbedding } from "./embeddings.js";

import { answerDelayMs, chooseFault, faultAnswers, MockFault } from "./faults.js";
import { cutAfter, holdOpen, readBody, readyForFrame, sendJson } from "./http.js";

/**
 * Gemini's wire format on the mock provider: `POST /v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent` (SSE with `?alt=sse`, a JSON array without), answered with the same
 * deterministic answers as the OpenAI endpoints (`answers.ts`), function calls when tools are
 * declared, `usageMetadata`, and the mock's faults rendered as Gemini renders errors:
 * `{"error":{"code","message","status"}}`, a 429 carrying `google.rpc.RetryInfo` instead of
 * a `retry-after` header. The key is checked in `x-goog-api-key`, as Gemini reads it.
 */

/** Path prefix of the Gemini endpoints; the API version Gemini's own base URL ends in. */
export const GEMINI_PATH_PREFIX = "/v1beta/";

/** Base URL a Gemini adapter uses to reach a mock whose OpenAI base URL is `mockUrl` (`…/v1`). */
export function geminiBaseUrl(mockUrl: string): string {
  return `${mockUrl.replace(/\/v1\/?$/, "")}/v1beta`;
}

/** What the Gemini endpoints need from the mock server that serves them. */
export interface GeminiMockContext {
  apiKey?: string | undefined;
  latencyMs: number;
  chunkDelayMs: number;
  chunks: number;
  retryAfterSeconds: number;
  failureRate: number;
  slowRate: number;
  slowDelayMs: number;
  random: () => number;
  now: () => number;
  beforeChunk?: ((index: number) => Promise<void> | undefined) | undefined;
  /** Aborted when the mock closes: ends delays and hanging answers. */
  closing: AbortSignal;
}

const ENDPOINT =
  /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$/;
const RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo";
const ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo";

/** Google's canonical status name of an HTTP status. */
const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/** Google's error body. */
export function geminiErrorBody(code: number, message: string, details?: unknown[]): string {
  const status = STATUS_NAMES[code] ?? (code >= 500 ? "UNAVAILABLE" : "FAILED_PRECONDITION");
  return JSON.stringify({ error: { code, message, status, ...(details === undefined ? {} : { details }) } });
}

/** Gemini's wording for the faults Gemini has its own message for. */
const GEMINI_MESSAGES: ReadonlyMap<string, string> = new Map([
  [MockFault.BadRequest, "Request contains an invalid argument."],
  [
    MockFault.ContextLength,
    "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
  ],
  [MockFault.RateLimited, "Resource has been exhausted (e.g. check quota)."],
  [MockFault.ServerError, "An internal error has occurred. Please retry."],
  [MockFault.Overloaded, "The model is overloaded. Please try again later."],
]);

interface GeminiErrorAnswer {
  status: number;
  body: string;
}

/**
 * The Gemini rendering of every fault that answers with an HTTP error: status taken from the
 * shared fault table (so faults added there are rendered too), body in Google's shape.
 */
function geminiFaultAnswers(retryAfterSeconds: number): ReadonlyMap<string, GeminiErrorAnswer> {
  const answers = new Map<string, GeminiErrorAnswer>();
  for (const [fault, answer] of faultAnswers(retryAfterSeconds)) {
    const message = GEMINI_MESSAGES.get(fault) ?? openAiMessage(answer.body);
    const details =
      answer.status === 429 ? [{ "@type": RETRY_INFO, retryDelay: `${retryAfterSeconds}s` }] : undefined;
    answers.set(fault, { status: answer.status, body: geminiErrorBody(answer.status, message, details) });
  }
  return answers;
}

function openAiMessage(body: string): string {
  try {
    const message = (JSON.parse(body) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === "string") return message;
  } catch {
    // Not JSON: a generic message below.
  }
  return "The mock provider failed (injected fault).";
}

/** Gemini answers JSON with an explicit charset. */
const JSON_HEADERS = { "content-type": "application/json; charset=UTF-8" };

function send(res: ServerResponse, status: number, body: string): void {
  sendJson(res, status, body, JSON_HEADERS);
}

interface GeminiPartIn {
  text?: unknown;
  functionCall?: { name?: unknown; args?: unknown };
  functionResponse?: { name?: unknown; response?: unknown };
}

/** The chat request the shared answer logic reads, from a Gemini body. */
export function mockRequestOf(model: string, body: Record<string, unknown>): MockChatRequest {
  const messages: MockChatRequest["messages"] = [];
  const system = body["systemInstruction"] as { parts?: GeminiPartIn[] } | undefined;
  const systemText = (system?.parts ?? [])
    .map((part) => (typeof part.text === "string" ? part.text : ""))
    .join("");
  if (systemText.length > 0) messages.push({ role: "system", content: systemText });
  for (const content of body["contents"] as Array<{ role?: unknown; parts?: GeminiPartIn[] }>) {
    const parts = Array.isArray(content?.parts) ? content.parts : [];
    const results = parts.filter((part) => part.functionResponse !== undefined);
    if (results.length > 0) {
      for (const part of results)
        messages.push({ role: "tool", content: JSON.stringify(part.functionResponse?.response) });
      continue;
    }
    const text = parts.map((part) => (typeof part.text === "string" ? part.text : "")).join("");
    messages.push({ role: content?.role === "model" ? "assistant" : "user", content: text });
  }
  type Declaration = { name?: unknown; parametersJsonSchema?: unknown; parameters?: unknown };
  const tools = (body["tools"] as Array<{ functionDeclarations?: Declaration[] }> | undefined) ?? [];
  const request: MockChatRequest = {
    model,
    messages,
    tools: tools.flatMap((tool) =>
      (tool.functionDeclarations ?? []).map((declaration) => ({
        type: "function",
        function: {
          name: declaration.name,
          // Gemini takes JSON Schema as parametersJsonSchema, its own subset as parameters.
          parameters: declaration.parametersJsonSchema ?? declaration.parameters,
        },
      })),
    ),
  };
  const toolConfig = body["toolConfig"] as
    | { functionCallingConfig?: { mode?: unknown; allowedFunctionNames?: unknown } }
    | undefined;
  const calling = toolConfig?.functionCallingConfig;
  if (calling?.mode === "NONE") request.tool_choice = "none";
  if (calling?.mode === "ANY") {
    const allowed = Array.isArray(calling.allowedFunctionNames) ? calling.allowedFunctionNames : [];
    request.tool_choice =
      allowed.length === 1 ? { type: "function", function: { name: allowed[0] } } : "required";
  }
  const generation = body["generationConfig"] as
    | {
        maxOutputTokens?: unknown;
        responseMimeType?: unknown;
        responseJsonSchema?: unknown;
        responseSchema?: unknown;
      }
    | undefined;
  if (generation?.maxOutputTokens !== undefined) request.max_tokens = generation.maxOutputTokens;
  if (generation?.responseMimeType === "application/json") {
    const schema = generation.responseJsonSchema ?? generation.responseSchema;
    request.response_format =
      schema === undefined ? { type: "json_object" } : { type: "json_schema", json_schema: { schema } };
  }
  return request;
}

function finishReason(answer: MockAnswer): string {
  return answer.finishReason === "length" ? "MAX_TOKENS" : "STOP";
}

function usageMetadata(answer: MockAnswer): Record<string, number> {
  const usage = answer.usage;
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    promptTokenCount: usage.prompt_tokens,
    candidatesTokenCount: usage.completion_tokens,
    totalTokenCount: usage.total_tokens ?? usage.prompt_tokens + usage.completion_tokens,
    ...(cached > 0 ? { cachedContentTokenCount: cached } : {}),
  };
}

/** The `GenerateContentResponse`s of an answer: one whole, or `pieces` streamed ones. */
export function geminiResponses(
  answer: MockAnswer,
  meta: { model: string; responseId: string },
  pieces: number | undefined,
): Array<Record<string, unknown>> {
  const response = (parts: unknown[], finish: string | undefined, usage: Record<string, number>) => ({
    candidates: [
      {
        content: { role: "model", parts },
        ...(finish === undefined ? {} : { finishReason: finish }),
        index: 0,
      },
    ],
    usageMetadata: usage,
    modelVersion: meta.model,
    responseId: meta.responseId,
  });
  const usage = usageMetadata(answer);
  if (answer.toolCall !== undefined) {
    const call = {
      functionCall: { name: answer.toolCall.name, args: JSON.parse(answer.toolCall.arguments) },
    };
    return [response([call], finishReason(answer), usage)];
  }
  const text = answer.content ?? "";
  if (pieces === undefined) return [response([{ text }], finishReason(answer), usage)];
  const split = splitIntoPieces(text, pieces);
  // Gemini reports the prompt from the first piece on and the output so far in each.
  const partial = { promptTokenCount: usage["promptTokenCount"] ?? 0 };
  return split.map((piece, index) =>
    index === split.length - 1
      ? response([{ text: piece }], finishReason(answer), usage)
      : response([{ text: piece }], undefined, partial),
  );
}

/** The error of the `stream_error` fault: Gemini's overloaded error, as a body or an SSE event. */
const STREAM_ERROR_BODY = geminiErrorBody(503, "The model is overloaded. Please try again later.");

/** Answers one request whose URL starts with {@link GEMINI_PATH_PREFIX}. */
export async function answerGemini(
  req: IncomingMessage,
  res: ServerResponse,
  context: GeminiMockContext,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://mock");
  const endpoint = ENDPOINT.exec(url.pathname);
  if (req.method !== "POST" || endpoint === null) {
    return send(res, 404, geminiErrorBody(404, `Unknown request URL: ${req.method} ${url.pathname}.`));
  }
  const key = req.headers["x-goog-api-key"];
  if (context.apiKey !== undefined && key !== context.apiKey) {
    if (key === undefined) {
      return send(
        res,
        403,
        geminiErrorBody(403, "Method doesn't allow unregistered callers. Please use an API key."),
      );
    }
    return send(
      res,
      400,
      geminiErrorBody(400, "API key not valid. Please pass a valid API key.", [
        { "@type": ERROR_INFO, reason: "API_KEY_INVALID" },
      ]),
    );
  }
  const model = decodeURIComponent(endpoint[1]!);
  const streaming = endpoint[2] === "streamGenerateContent";
  const raw = await readBody(req);
  if (raw === undefined)
    return send(res, 413, geminiErrorBody(400, "Request payload size exceeds the limit."));
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch {
    return send(res, 400, geminiErrorBody(400, "Invalid JSON payload received."));
  }
  if (endpoint[2] === "embedContent" || endpoint[2] === "batchEmbedContents") {
    return answerGeminiEmbeddings(req, res, context, model, endpoint[2], body);
  }
  if (
    typeof body !== "object" ||
    body === null ||
    !Array.isArray((body as { contents?: unknown }).contents)
  ) {
    return send(
      res,
      400,
      geminiErrorBody(400, "* GenerateContentRequest.contents: contents is not specified"),
    );
  }
  if ((body as { contents: unknown[] }).contents.length === 0) {
    return send(
      res,
      400,
      geminiErrorBody(400, "* GenerateContentRequest.contents: contents is not specified"),
    );
  }

  const chosen = chooseFault(req.headers["x-mock-fault"], model, context);
  if ("unknownFault" in chosen) return send(res, 400, geminiErrorBody(400, chosen.unknownFault));
  const fault = chosen.fault;

  if (fault === MockFault.Hang) return holdOpen(res, context.closing);
  const waitMs = answerDelayMs(fault, context);
  if (waitMs > 0) await delay(waitMs, undefined, { signal: context.closing });
  const errorAnswer =
    fault === undefined ? undefined : geminiFaultAnswers(context.retryAfterSeconds).get(fault);
  if (errorAnswer !== undefined) return send(res, errorAnswer.status, errorAnswer.body);

  const answer = answerFor(mockRequestOf(model, body as Record<string, unknown>));
  const meta = { model, responseId: `mock-gemini-${randomUUID()}` };
  if (!streaming) {
    if (fault === MockFault.Malformed) return send(res, 200, '{"candidates":[{"content":');
    // Without a stream to break, the error arrives as the body of a 200, as on the other wires.
    if (fault === MockFault.StreamError) return send(res, 200, STREAM_ERROR_BODY);
    const text = JSON.stringify(geminiResponses(answer, meta, undefined)[0]);
    if (fault === MockFault.Cut || fault === MockFault.Stall) {
      res.writeHead(200, { ...JSON_HEADERS, "content-length": Buffer.byteLength(text) });
      const half = text.slice(0, text.length >> 1);
      if (fault === MockFault.Cut) return cutAfter(res, half);
      res.write(half);
      return holdOpen(res, context.closing);
    }
    return send(res, 200, text);
  }
  const responses = geminiResponses(answer, meta, context.chunks);
  if (url.searchParams.get("alt") !== "sse") {
    // Without alt=sse Gemini streams one JSON array of responses.
    return send(res, 200, JSON.stringify(responses));
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  if (fault === MockFault.Malformed) {
    res.end('data: {"candidates":[{"content":\r\n\r\n');
    return;
  }
  for (let index = 0; index < responses.length; index++) {
    if (!(await readyForFrame(res, index, context))) return;
    // Stall and error event come after the first event, so content has reached the caller.
    if (index === 1 && fault === MockFault.Stall) return holdOpen(res, context.closing);
    if (index === 1 && fault === MockFault.StreamError) {
      res.end(`data: ${STREAM_ERROR_BODY}\r\n\r\n`);
      return;
    }
    // Gemini separates its events with CRLF pairs.
    const frame = `data: ${JSON.stringify(responses[index])}\r\n\r\n`;
    if (fault === MockFault.Cut) {
      // After the first event when there are more, else mid-way through the only one.
      return cutAfter(res, responses.length > 1 ? frame : frame.slice(0, frame.length >> 1));
    }
    res.write(frame);
  }
  res.end();
}

/** The text of an `EmbedContentRequest`'s content, or undefined when it holds no text part. */
function embedText(request: unknown): string | undefined {
  const parts = (request as { content?: { parts?: unknown } } | undefined)?.content?.parts;
  if (!Array.isArray(parts)) return undefined;
  const texts = parts.map((part) => (part as GeminiPartIn).text).filter((t) => typeof t === "string");
  return texts.length > 0 ? texts.join("") : undefined;
}

/**
 * `:embedContent` (`{ content, outputDimensionality? }` → `{ embedding: { values } }`) and
 * `:batchEmbedContents` (`{ requests: [...] }` → `{ embeddings: [{ values }] }`), with the
 * mock's deterministic vectors (`embeddings.ts`) and the same faults as generateContent.
 */
async function answerGeminiEmbeddings(
  req: IncomingMessage,
  res: ServerResponse,
  context: GeminiMockContext,
  model: string,
  method: "embedContent" | "batchEmbedContents",
  body: unknown,
): Promise<void> {
  const requests = method === "embedContent" ? [body] : (body as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(requests) || requests.length === 0) {
    return send(
      res,
      400,
      geminiErrorBody(400, "* BatchEmbedContentsRequest.requests: requests is not specified"),
    );
  }
  const texts: string[] = [];
  const dimensions: number[] = [];
  for (const [index, request] of requests.entries()) {
    const text = embedText(request);
    if (text === undefined) {
      return send(res, 400, geminiErrorBody(400, `* requests[${index}].content: content is not specified`));
    }
    const wanted =
      (request as { outputDimensionality?: unknown }).outputDimensionality ?? MOCK_EMBEDDING_DIMENSIONS;
    if (
      typeof wanted !== "number" ||
      !Number.isInteger(wanted) ||
      wanted < 1 ||
      wanted > MOCK_EMBEDDING_MAX_DIMENSIONS
    ) {
      return send(
        res,
        400,
        geminiErrorBody(
          400,
          `* requests[${index}].outputDimensionality: must be 1 to ${MOCK_EMBEDDING_MAX_DIMENSIONS}`,
        ),
      );
    }
    texts.push(text);
    dimensions.push(wanted);
  }
  const chosen = chooseFault(req.headers["x-mock-fault"], model, context);
  if ("unknownFault" in chosen) return send(res, 400, geminiErrorBody(400, chosen.unknownFault));
  const fault = chosen.fault;
  if (fault === MockFault.Hang) return holdOpen(res, context.closing);
  if (context.latencyMs > 0) await delay(context.latencyMs, undefined, { signal: context.closing });
  const errorAnswer =
    fault === undefined ? undefined : geminiFaultAnswers(context.retryAfterSeconds).get(fault);
  if (errorAnswer !== undefined) return send(res, errorAnswer.status, errorAnswer.body);
  if (fault === MockFault.Malformed) return send(res, 200, '{"embeddings":[{"values":');
  const vectors = texts.map((text, index) => ({ values: mockEmbedding(text, dimensions[index]) }));
  return send(
    res,
    200,
    JSON.stringify(method === "embedContent" ? { embedding: vectors[0] } : { embeddings: vectors }),
  );
}
