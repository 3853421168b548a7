import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AnthropicErrorBody } from "../chat/index.js";
import type { Principal } from "./auth.js";
import { fromHttpFrameworkError } from "./error-body.js";
import { answerThroughLifecycle, type FrontDoorDeps, type FrontDoorWire } from "./front-door.js";
import { parseMessagesRequest, toChatRequest } from "./messages-request.js";
import { anthropicErrorBody, toAnthropicMessage } from "./messages-response.js";
import { ANTHROPIC_REQUEST_ID_HEADERS, AnthropicSseWriter } from "./messages-sse.js";
import { anthropicRateLimitHeaders } from "./rate-limit-headers.js";

export interface MessagesDeps extends FrontDoorDeps {
  maxBodyBytes: number;
}

/** Anthropic's wire format of the answers the shared front-door handling sends. */
const anthropicWire: FrontDoorWire<AnthropicErrorBody, AnthropicSseWriter> = {
  frontDoor: "anthropic",
  spanName: "POST /v1/messages",
  requestIdHeaders: ANTHROPIC_REQUEST_ID_HEADERS,
  openStream: (reply, requestId) => new AnthropicSseWriter(reply, requestId),
  async sendCompletion(reply, _chat, completion, usage, sse) {
    if (sse) sse.complete(completion, usage);
    else await reply.code(200).send(toAnthropicMessage(completion, usage));
  },
  errorBody: anthropicErrorBody,
  rateLimitHeaders: anthropicRateLimitHeaders,
};

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
  await answerThroughLifecycle(deps, anthropicWire, principal, chat, request, reply);
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
