import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AnthropicErrorBody } from "../chat/index.js";
import type { Principal } from "./auth.js";
import { fromHttpFrameworkError } from "./error-body.js";
import { answerThroughLifecycle, type FrontDoorDeps, type FrontDoorWire } from "./front-door.js";
import { anthropicCountTokensSchema, parseMessagesRequest, toChatRequest } from "./messages-request.js";
import {
  anthropicErrorBody,
  anthropicHttpStatus,
  ERROR_CODE_HEADER,
  toAnthropicMessage,
} from "./messages-response.js";
import { ANTHROPIC_REQUEST_ID_HEADERS, AnthropicSseWriter } from "./messages-sse.js";
import { assertKnownModel } from "./model-check.js";
import { candidateModels, maxOutputTokensOf, promptTokensFor } from "./model-targets.js";
import { anthropicRateLimitHeaders } from "./rate-limit-headers.js";

export interface MessagesDeps extends FrontDoorDeps {
  maxBodyBytes: number;
}

/**
 * The response header naming the `max_tokens` a request was lowered to, when it asked for
 * more than any model its `model` may route to can write (docs/providers.md).
 */
export const MAX_TOKENS_CLAMPED_HEADER = "x-beamline-max-tokens-clamped";

/** Anthropic's status for an error (529 for overloaded), with Beamline's code in a header. */
function anthropicErrorStatus(reply: FastifyReply, error: { code: string; httpStatus: number }): number {
  reply.header(ERROR_CODE_HEADER, error.code);
  return anthropicHttpStatus(error.httpStatus);
}

/** Anthropic's wire format of the answers the shared front-door handling sends, for one request. */
function anthropicWire(inputTokens: number): FrontDoorWire<AnthropicErrorBody, AnthropicSseWriter> {
  return {
    frontDoor: "anthropic",
    spanName: "POST /v1/messages",
    requestIdHeaders: ANTHROPIC_REQUEST_ID_HEADERS,
    openStream: (reply, requestId) => new AnthropicSseWriter(reply, requestId, inputTokens),
    async sendCompletion(reply, _chat, completion, usage, sse) {
      if (sse) sse.complete(completion, usage);
      else await reply.code(200).send(toAnthropicMessage(completion, usage));
    },
    errorBody: anthropicErrorBody,
    errorStatus: anthropicErrorStatus,
    rateLimitHeaders: anthropicRateLimitHeaders,
  };
}

/**
 * POST /v1/messages, Anthropic's front door. The body is validated as a Messages API request
 * (`system`-role entries of `messages` hoisted into `system`), its `max_tokens` lowered to the
 * largest output the models it may route to can write (named in
 * {@link MAX_TOKENS_CLAMPED_HEADER}), translated to the canonical request and handled like any
 * other (`request.accepted` with frontDoor `anthropic`); the answer, streamed chunks and
 * errors are translated back into Anthropic's shapes. The key comes as `x-api-key` or a
 * bearer token (the auth hook reads both).
 */
export async function handleMessages(
  deps: MessagesDeps,
  principal: Principal,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const parsed = parseMessagesRequest(request.body);
  const candidates = candidateModels(deps, principal.tenant, parsed.model);
  const limit = maxOutputTokensOf(candidates);
  if (limit !== undefined && parsed.max_tokens > limit) {
    parsed.max_tokens = limit;
    reply.header(MAX_TOKENS_CLAMPED_HEADER, String(limit));
  }
  const chat = toChatRequest(parsed);
  const inputTokens = promptTokensFor(chat, candidates);
  await answerThroughLifecycle(deps, anthropicWire(inputTokens), principal, chat, request, reply);
}

/**
 * POST /v1/messages/count_tokens: `{ input_tokens }` for a Messages API body, counted by the
 * one token counter (src/tokens) for the models the request's `model` may route to, the
 * highest of their counts. No provider is called and nothing is stored: counting is free and
 * works the same whichever provider would serve the request (docs/providers.md).
 */
export function countTokens(
  deps: MessagesDeps,
  principal: Principal,
  body: unknown,
): { input_tokens: number } {
  const parsed = parseMessagesRequest(body, anthropicCountTokensSchema);
  assertKnownModel(deps, principal.tenant, parsed.model);
  // max_tokens does not reach the prompt; any valid value makes the canonical request.
  const chat = toChatRequest({ ...parsed, max_tokens: parsed.max_tokens ?? 1, stream: false });
  return { input_tokens: promptTokensFor(chat, candidateModels(deps, principal.tenant, parsed.model)) };
}

/**
 * Registers POST /v1/messages and POST /v1/messages/count_tokens on the authenticated scope,
 * with their own error handler so every error of these routes (authentication, body parsing,
 * validation) has Anthropic's shape and status.
 */
export function registerMessagesRoute(app: FastifyInstance, deps: MessagesDeps): void {
  const errorHandler = (error: unknown, _request: FastifyRequest, reply: FastifyReply) => {
    const beamlineError = fromHttpFrameworkError(error, deps.maxBodyBytes);
    if (beamlineError.httpStatus >= 500) deps.log.error({ err: error }, "gateway error");
    if (beamlineError.retryAfterMs !== undefined) {
      reply.header("retry-after", String(Math.ceil(beamlineError.retryAfterMs / 1000)));
    }
    const requestId = reply.getHeader("request-id");
    void reply
      .code(anthropicErrorStatus(reply, beamlineError))
      .send(anthropicErrorBody(beamlineError, typeof requestId === "string" ? requestId : undefined));
  };
  app.post("/v1/messages", { errorHandler }, async (request, reply) => {
    await handleMessages(deps, request.principal!, request, reply);
  });
  app.post("/v1/messages/count_tokens", { errorHandler }, async (request) =>
    countTokens(deps, request.principal!, request.body),
  );
}
