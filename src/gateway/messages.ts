import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../observability/index.js";
import type { Principal } from "./auth.js";
import { fromHttpFrameworkError } from "./error-body.js";
import { applyFailureHeaders } from "./failure-answer.js";
import { parseMessagesRequest, toChatRequest } from "./messages-request.js";
import { anthropicErrorBody, toAnthropicMessage } from "./messages-response.js";
import { AnthropicSseWriter } from "./messages-sse.js";
import { assertKnownModel, type ModelViews } from "./model-check.js";
import {
  acceptAndAwait,
  firstHeader,
  nextRequestId,
  type RequestLifecycleDeps,
} from "./request-lifecycle.js";

export interface MessagesDeps extends RequestLifecycleDeps, ModelViews {
  log: Logger;
  maxBodyBytes: number;
}

/**
 * POST /v1/messages, Anthropic's front door. The body is validated as a Messages API request,
 * translated to the canonical request and handled like any other (`request.accepted` with
 * frontDoor `anthropic`); the answer, streamed chunks and errors are translated back into
 * Anthropic's shapes. The key comes as `x-api-key` or a bearer token (the auth hook reads both).
 */
export async function handleMessages(
  deps: MessagesDeps,
  principal: Principal,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const chat = toChatRequest(parseMessagesRequest(request.body));
  assertKnownModel(deps, principal.tenant, chat.model);
  const requestId = nextRequestId(deps);
  reply.header("x-request-id", requestId).header("request-id", requestId);
  const sse = chat.stream === true ? new AnthropicSseWriter(reply, requestId) : undefined;

  const outcome = await acceptAndAwait(deps, {
    principal,
    requestId,
    chat,
    frontDoor: "anthropic",
    spanName: "POST /v1/messages",
    traceparent: firstHeader(request.headers["traceparent"]),
    ...(sse ? { onChunk: (json: Uint8Array, generation: string) => sse.chunk(json, generation) } : {}),
  });
  if (outcome.kind === "completed") {
    if (sse) sse.complete(outcome.completion, outcome.usage);
    else await reply.code(200).send(toAnthropicMessage(outcome.completion, outcome.usage));
    return;
  }
  if (outcome.kind === "timeout") {
    const body = anthropicErrorBody(outcome.error, requestId);
    if (sse?.started) sse.fail(body);
    else await reply.code(outcome.error.httpStatus).send(body);
    return;
  }
  deps.log
    .child({ tenant: principal.tenant, requestId })
    .info({ code: outcome.error.code }, "request failed");
  // Once the stream is out its status and headers are too: the error event carries the code.
  const body = anthropicErrorBody(outcome.error, requestId, outcome.extension);
  if (sse?.started) {
    sse.fail(body);
    return;
  }
  applyFailureHeaders(reply, outcome);
  await reply.code(outcome.error.httpStatus).send(body);
}

/**
 * Registers POST /v1/messages on the authenticated scope, with its own error handler so
 * every error of this route (authentication, body parsing, validation) has Anthropic's shape.
 */
export function registerMessagesRoute(app: FastifyInstance, deps: MessagesDeps): void {
  app.post(
    "/v1/messages",
    {
      errorHandler: (error, _request, reply) => {
        const beamlineError = fromHttpFrameworkError(error, deps.maxBodyBytes);
        if (beamlineError.httpStatus >= 500) deps.log.error({ err: error }, "gateway error");
        if (beamlineError.retryAfterMs !== undefined) {
          reply.header("retry-after", String(Math.ceil(beamlineError.retryAfterMs / 1000)));
        }
        const requestId = reply.getHeader("request-id");
        void reply
          .code(beamlineError.httpStatus)
          .send(anthropicErrorBody(beamlineError, typeof requestId === "string" ? requestId : undefined));
      },
    },
    async (request, reply) => {
      await handleMessages(deps, request.principal!, request, reply);
    },
  );
}
