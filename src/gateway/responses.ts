import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  inProgressResponse,
  parseResponsesRequest,
  referencedItemIds,
  responsesEchoOf,
  toChatFromResponses,
  toResponsesResponse,
} from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import type { Principal } from "./auth.js";
import { type OpenAiErrorBody, openAiErrorBody, storedErrorBody } from "./error-body.js";
import { answerThroughLifecycle, type FrontDoorDeps, type FrontDoorWire } from "./front-door.js";
import { loadPreviousExchange, loadReferencedItems } from "./responses-history.js";
import { ResponsesSseWriter } from "./responses-sse.js";
import { OPENAI_REQUEST_ID_HEADERS } from "./sse.js";

/**
 * POST /v1/responses, OpenAI's Responses API. The body is validated, the earlier exchange
 * (`previous_response_id`) and referenced items (`item_reference`) are read from the event log,
 * and the whole is translated onto the canonical chat request and handled like any other
 * (`request.accepted` with frontDoor `responses`: same events, quotas, billing, idempotency).
 * The answer, its stream events and errors are translated back into the Responses API's
 * shapes; the response id is `resp_<requestId>`, so the log is where a follow-up finds it.
 */
export async function handleResponses(
  deps: FrontDoorDeps,
  principal: Principal,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const body = parseResponsesRequest(request.body);
  const previous = body.previous_response_id
    ? await loadPreviousExchange(deps.store, principal.tenant, body.previous_response_id)
    : undefined;
  const itemIds = referencedItemIds(body);
  const referenced =
    itemIds.length > 0 ? await loadReferencedItems(deps.store, principal.tenant, itemIds) : undefined;
  const { chat, instructionMessages } = toChatFromResponses(body, {
    ...(previous ? { previous: previous.messages } : {}),
    ...(referenced ? { referenced } : {}),
  });
  const echo = responsesEchoOf(body);
  const createdAt = Math.floor(deps.now().getTime() / 1000);
  const wire: FrontDoorWire<OpenAiErrorBody, ResponsesSseWriter> = {
    frontDoor: "responses",
    spanName: "POST /v1/responses",
    requestIdHeaders: OPENAI_REQUEST_ID_HEADERS,
    responses: { instructionMessages, store: echo.store },
    openStream: (streamReply, requestId) =>
      new ResponsesSseWriter(streamReply, requestId, (model) =>
        inProgressResponse(requestId, model || chat.model, createdAt, echo),
      ),
    async sendCompletion(answerReply, _chat, completion, usage, sse) {
      const response = toResponsesResponse(completion, usage, completion.id, createdAt, echo);
      if (sse) sse.complete(completion, response);
      else await answerReply.code(200).send(response);
    },
    errorBody: (error, _requestId, extension) =>
      error instanceof BeamlineError ? openAiErrorBody(error) : storedErrorBody(error, extension),
  };
  await answerThroughLifecycle(deps, wire, principal, chat, request, reply);
}

/** Registers POST /v1/responses on the authenticated scope (errors in OpenAI's shape). */
export function registerResponsesRoute(app: FastifyInstance, deps: FrontDoorDeps): void {
  app.post("/v1/responses", async (request, reply) => {
    await handleResponses(deps, request.principal!, request, reply);
  });
}
