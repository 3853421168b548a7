import type { FastifyReply, FastifyRequest } from "fastify";
import { type ChatRequest, chatRequestSchema } from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import type { Principal } from "./auth.js";
import { type OpenAiErrorBody, openAiErrorBody, storedErrorBody } from "./error-body.js";
import { answerThroughLifecycle, type FrontDoorDeps, type FrontDoorWire } from "./front-door.js";
import { OPENAI_REQUEST_ID_HEADERS, SseWriter } from "./sse.js";

/** Validates the body against OpenAI's schema; the first problem names the parameter. */
export function parseChatRequest(body: unknown): ChatRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BeamlineError("BL_BAD_REQUEST", "The request body must be a JSON object.");
  }
  const parsed = chatRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = issue.path.join(".");
    throw new BeamlineError("BL_BAD_REQUEST", `Invalid value for '${param || "body"}': ${issue.message}`, {
      param: param || undefined,
    });
  }
  return parsed.data;
}

/** OpenAI's wire format of the answers the shared front-door handling sends. */
const openAiWire: FrontDoorWire<OpenAiErrorBody, SseWriter> = {
  frontDoor: "openai",
  spanName: "POST /v1/chat/completions",
  requestIdHeaders: OPENAI_REQUEST_ID_HEADERS,
  openStream: (reply, requestId) => new SseWriter(reply, requestId),
  async sendCompletion(reply, chat, completion, usage, sse) {
    const openAiUsage = {
      prompt_tokens: usage.promptTokens,
      completion_tokens: usage.completionTokens,
      total_tokens: usage.promptTokens + usage.completionTokens,
      prompt_tokens_details: { cached_tokens: usage.cachedTokens },
    };
    if (sse) sse.complete(completion, chat.stream_options?.include_usage ? openAiUsage : undefined);
    else await reply.code(200).send({ ...completion, usage: openAiUsage });
  },
  errorBody: (error, _requestId, extension) =>
    error instanceof BeamlineError ? openAiErrorBody(error) : storedErrorBody(error, extension),
};

/**
 * POST /v1/chat/completions, OpenAI's front door. The body is validated as a chat request and
 * handed to the shared request lifecycle (`request.accepted` with frontDoor `openai`, then the
 * wait for the terminal event). Streamed chunks are written the moment they arrive; nothing
 * waits for the whole answer.
 */
export async function handleChatCompletions(
  deps: FrontDoorDeps,
  principal: Principal,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const chat = parseChatRequest(request.body);
  await answerThroughLifecycle(deps, openAiWire, principal, chat, request, reply);
}
