import type { FastifyReply, FastifyRequest } from "fastify";
import { type CacheStatus, cacheControlOf } from "../cache/index.js";
import type { ChatCompletion, ChatRequest } from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import type { EventData } from "../events/index.js";
import type { Logger } from "../observability/index.js";
import type { Principal } from "./auth.js";
import { applyFailureHeaders, type ExtensionRef, type RequestFailure } from "./failure-answer.js";
import { IDEMPOTENCY_HEADER, idempotentRequestId, parseIdempotencyKey } from "./idempotency.js";
import { assertKnownModel, type ModelViews } from "./model-check.js";
import { openAiRateLimitHeaders, type StoredRateLimits } from "./rate-limit-headers.js";
import {
  acceptAndAwait,
  type CompletedUsage,
  firstHeader,
  type RequestLifecycleDeps,
} from "./request-lifecycle.js";

export interface FrontDoorDeps extends RequestLifecycleDeps, ModelViews {
  log: Logger;
}

/** A front door's SSE writer, as the shared handling drives it. */
export interface FrontDoorStream<ErrorBody> {
  /** Whether bytes are out: from then on a failure can only be an error event. */
  readonly started: boolean;
  /** Headers computed when the stream opens (its first byte); ignored once it is open. */
  headersAtOpen(compute: () => Record<string, string>): void;
  chunk(json: Uint8Array, generation: string): void;
  fail(body: ErrorBody): void;
}

/** What makes a front door's wire format: everything else is the same for every dialect. */
export interface FrontDoorWire<ErrorBody, Stream extends FrontDoorStream<ErrorBody>> {
  frontDoor: EventData<"request.accepted">["frontDoor"];
  /** Span name, e.g. `POST /v1/messages`. */
  spanName: string;
  /** Response headers that carry the request id. */
  requestIdHeaders: readonly string[];
  /** Responses API metadata recorded in `request.accepted`. */
  responses?: EventData<"request.accepted">["responses"];
  openStream(reply: FastifyReply, requestId: string): Stream;
  /** Answers a completed request, plainly or by ending `stream`. */
  sendCompletion(
    reply: FastifyReply,
    chat: ChatRequest,
    completion: ChatCompletion,
    usage: CompletedUsage,
    stream: Stream | undefined,
  ): Promise<void> | void;
  errorBody(
    error: BeamlineError | RequestFailure["error"],
    requestId: string,
    extension?: ExtensionRef,
  ): ErrorBody;
  /** The dialect's rate-limit headers of a success; default OpenAI's `x-ratelimit-*`. */
  rateLimitHeaders?(limits: StoredRateLimits, nowMs: number): Record<string, string>;
  /**
   * The status of an error answer in this dialect, setting any headers it adds; absent means
   * Beamline's own status (`httpStatus`) and no extra header.
   */
  errorStatus?(reply: FastifyReply, error: { code: string; httpStatus: number }): number;
}

function errorStatusOf<ErrorBody, Stream extends FrontDoorStream<ErrorBody>>(
  wire: FrontDoorWire<ErrorBody, Stream>,
  reply: FastifyReply,
  error: { code: string; httpStatus: number },
): number {
  return wire.errorStatus?.(reply, error) ?? error.httpStatus;
}

/**
 * Runs a validated canonical request through the shared lifecycle and answers in `wire`'s
 * format: model check, request id headers, `request.accepted`, chunks streamed the moment they
 * arrive, then the completion, the timeout or the failure (logged, with its rate-limit headers;
 * an error event once the stream is out, since its status and headers are too).
 */
export async function answerThroughLifecycle<ErrorBody, Stream extends FrontDoorStream<ErrorBody>>(
  deps: FrontDoorDeps,
  wire: FrontDoorWire<ErrorBody, Stream>,
  principal: Principal,
  chat: ChatRequest,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  assertKnownModel(deps, principal.tenant, chat.model);
  const idempotencyKey = parseIdempotencyKey(request.headers[IDEMPOTENCY_HEADER]);
  // Without a key, the id the gateway gave this request on arrival (already in x-request-id).
  const requestId =
    idempotencyKey === undefined ? request.id : idempotentRequestId(principal.tenant, idempotencyKey);
  for (const name of wire.requestIdHeaders) reply.header(name, requestId);
  const sse = chat.stream === true ? wire.openStream(reply, requestId) : undefined;
  const rateLimitHeaders = wire.rateLimitHeaders ?? openAiRateLimitHeaders;

  const outcome = await acceptAndAwait(deps, {
    principal,
    requestId,
    chat,
    frontDoor: wire.frontDoor,
    spanName: wire.spanName,
    traceparent: firstHeader(request.headers["traceparent"]),
    idempotencyKey,
    ...(wire.responses ? { responses: wire.responses } : {}),
    ...(sse
      ? {
          onChunk: (json: Uint8Array, generation: string) => sse.chunk(json, generation),
          // A stream's headers go out before the terminal event: the worker tells the limits
          // first, and the reset is computed as the stream opens, as a plain answer's is as it is sent.
          onRateLimits: (limits: StoredRateLimits) =>
            sse.headersAtOpen(() => rateLimitHeaders(limits, deps.now().getTime())),
        }
      : {}),
    cacheControl: cacheControlOf(request.headers),
    onCacheStatus: (status) => setCacheHeader(reply, status),
  });
  if (outcome.kind === "completed" && outcome.cacheStatus) setCacheHeader(reply, outcome.cacheStatus);
  if (outcome.kind === "completed" && outcome.streamGap && sse?.started) {
    // Part of the streamed answer never reached us: end it as cut, never as a whole success.
    const error = new BeamlineError(
      "BL_STREAM_INTERRUPTED",
      `Part of the live stream was lost in a NATS reconnect. The request ${requestId} completed; its whole answer is in the event log.`,
    );
    sse.fail(wire.errorBody(error, requestId));
    return;
  }
  if (outcome.kind === "completed") {
    if (outcome.rateLimits && !sse?.started) {
      for (const [name, value] of Object.entries(
        rateLimitHeaders(outcome.rateLimits, deps.now().getTime()),
      )) {
        reply.header(name, value);
      }
    }
    await wire.sendCompletion(reply, chat, outcome.completion, outcome.usage, sse);
    return;
  }
  if (outcome.kind === "unavailable") {
    // Nothing was streamed (no request ran here), so the answer is a plain 503 naming the
    // request and whether it was stored.
    const body = wire.errorBody(outcome.error, requestId) as { error: Record<string, unknown> };
    body.error["request_id"] = requestId;
    body.error["stored"] = outcome.stored;
    if (sse?.started) {
      // A keep-alive comment already opened the stream: the answer can only be an error event.
      sse.fail(body as ErrorBody);
      return;
    }
    reply.header("retry-after", String(Math.ceil((outcome.error.retryAfterMs ?? 1000) / 1000)));
    await reply.code(errorStatusOf(wire, reply, outcome.error)).send(body);
    return;
  }
  if (outcome.kind === "timeout") {
    const body = wire.errorBody(outcome.error, requestId);
    if (sse?.started) sse.fail(body);
    else await reply.code(errorStatusOf(wire, reply, outcome.error)).send(body);
    return;
  }
  deps.log
    .child({ tenant: principal.tenant, requestId })
    .info({ code: outcome.error.code }, "request failed");
  const body = wire.errorBody(outcome.error, requestId, outcome.extension);
  if (sse?.started) {
    sse.fail(body);
    return;
  }
  applyFailureHeaders(reply, outcome);
  await reply.code(errorStatusOf(wire, reply, outcome.error)).send(body);
}

/** The response header that tells a client what the response cache did (docs/caching.md). */
export const CACHE_STATUS_HEADER = "x-beamline-cache";

/**
 * Sets `x-beamline-cache` while the headers are not out yet. On the raw response, so it goes
 * out with a plain answer and with a stream's first write alike.
 */
function setCacheHeader(reply: FastifyReply, status: CacheStatus): void {
  if (!reply.raw.headersSent) reply.raw.setHeader(CACHE_STATUS_HEADER, status);
}
