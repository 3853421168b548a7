import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as delay } from "node:timers/promises";
import { answerFor } from "./answers.js";
import {
  anthropicErrorBody,
  anthropicMessageBody,
  anthropicStreamFrames,
  type MessageMeta,
  mockRequestFromAnthropic,
} from "./anthropic-frames.js";
import {
  ANTHROPIC_STREAM_ERROR_FRAME,
  answerDelayMs,
  anthropicFaultAnswers,
  chooseFault,
  MockFault,
} from "./faults.js";
import { cutAfter, holdOpen, readBody, readyForFrame, sendJson } from "./http.js";

/** What the Anthropic dialect shares with the mock server that hosts it. */
export interface MockWireContext {
  latencyMs: number;
  chunkDelayMs: number;
  chunks: number;
  failureRate: number;
  slowRate: number;
  slowDelayMs: number;
  retryAfterSeconds: number;
  /** When set, requests must send it as `x-api-key`. */
  apiKey: string | undefined;
  random: () => number;
  beforeChunk: ((index: number) => Promise<void> | undefined) | undefined;
  /** Aborted when the mock closes: ends held-open answers and pending delays. */
  closing: AbortSignal;
  /** A fresh number for the next answer's id. */
  nextAnswerNumber: () => number;
  /** Sees every request body that is a JSON object, before it is checked further. */
  onBody: (body: Record<string, unknown>) => void;
}

const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };
/** Frames written before a cut, a stall or an error event: message_start, block start, ping, first delta. */
const FRAMES_BEFORE_FAULT = 4;

function invalid(res: ServerResponse, message: string, status = 400): void {
  sendJson(res, status, anthropicErrorBody("invalid_request_error", message));
}

/**
 * `POST /v1/messages` in Anthropic's wire format: `x-api-key` (when the mock has a key) and
 * `anthropic-version` required, plain JSON or SSE answers with tool use when tools are
 * offered, usage with the system prompt counted as cache reads, and every {@link MockFault}
 * in Anthropic's error shapes (chosen by `x-mock-fault` or a `mock-fault-<fault>` model).
 */
export function createAnthropicMessagesHandler(context: MockWireContext) {
  const errorAnswers = anthropicFaultAnswers(context.retryAfterSeconds);

  async function stream(res: ServerResponse, frames: string[], fault: MockFault | undefined): Promise<void> {
    res.writeHead(200, SSE_HEADERS);
    if (fault === MockFault.Malformed) {
      res.end('event: message_start\ndata: {"type":"message_start","message":{\n\n');
      return;
    }
    for (let index = 0; index < frames.length; index++) {
      if (!(await readyForFrame(res, index, context))) return;
      if (index === FRAMES_BEFORE_FAULT) {
        if (fault === MockFault.Cut) return cutAfter(res, frames[index]!);
        if (fault === MockFault.Stall) return holdOpen(res, context.closing);
        if (fault === MockFault.StreamError) {
          res.end(ANTHROPIC_STREAM_ERROR_FRAME);
          return;
        }
      }
      res.write(frames[index]!);
    }
    res.end();
  }

  return async function messages(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (context.apiKey !== undefined && req.headers["x-api-key"] !== context.apiKey) {
      const missing = req.headers["x-api-key"] === undefined;
      sendJson(
        res,
        401,
        anthropicErrorBody(
          "authentication_error",
          missing ? "x-api-key header is required" : "invalid x-api-key",
        ),
      );
      return;
    }
    if (req.headers["anthropic-version"] === undefined)
      return invalid(res, "anthropic-version: header is required");
    const raw = await readBody(req);
    if (raw === undefined)
      return sendJson(res, 413, anthropicErrorBody("request_too_large", "Request exceeds the maximum size"));
    let value: unknown;
    try {
      value = JSON.parse(raw.toString("utf8"));
    } catch {
      return invalid(res, "The request body is not valid JSON.");
    }
    if (typeof value !== "object" || value === null || Array.isArray(value))
      return invalid(res, "The request body must be a JSON object.");
    const body = value as Record<string, unknown>;
    context.onBody(body);
    if (typeof body["model"] !== "string" || body["model"].length === 0)
      return invalid(res, "model: Field required");
    if (typeof body["max_tokens"] !== "number") return invalid(res, "max_tokens: Field required");
    if (!Array.isArray(body["messages"]) || body["messages"].length === 0)
      return invalid(res, "messages: at least one message is required");
    const model = body["model"];

    const chosen = chooseFault(req.headers["x-mock-fault"], model, context);
    if ("unknownFault" in chosen) return invalid(res, chosen.unknownFault);
    const fault = chosen.fault;

    if (fault === MockFault.Hang) return holdOpen(res, context.closing);
    const waitMs = answerDelayMs(fault, context);
    if (waitMs > 0) await delay(waitMs, undefined, { signal: context.closing });
    const errorAnswer = fault === undefined ? undefined : errorAnswers.get(fault);
    if (errorAnswer !== undefined)
      return sendJson(res, errorAnswer.status, errorAnswer.body, errorAnswer.headers);

    const answer = answerFor(mockRequestFromAnthropic(body));
    const meta: MessageMeta = { id: `msg_mock_${context.nextAnswerNumber()}`, model };
    if (body["stream"] === true)
      return stream(res, anthropicStreamFrames(answer, meta, context.chunks), fault);
    if (fault === MockFault.Malformed)
      return sendJson(res, 200, '{"id":"msg_mock","type":"message","content":[');
    // Without a stream to break, the error arrives as the body of a 200, as some proxies do it.
    if (fault === MockFault.StreamError)
      return sendJson(res, 200, anthropicErrorBody("overloaded_error", "Overloaded"));
    const json = JSON.stringify(anthropicMessageBody(answer, meta));
    if (fault === MockFault.Cut || fault === MockFault.Stall) {
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
      const half = json.slice(0, json.length >> 1);
      if (fault === MockFault.Cut) return cutAfter(res, half);
      res.write(half);
      return holdOpen(res, context.closing);
    }
    sendJson(res, 200, json);
  };
}
