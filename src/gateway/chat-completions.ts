import type { FastifyReply, FastifyRequest } from "fastify";
import { type ChatRequest, chatRequestSchema } from "../chat/wire.js";
import { BeamlineError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import type { Principal } from "./auth.js";
import { openAiErrorBody, storedErrorBody } from "./error-body.js";
import { applyFailureHeaders } from "./failure-answer.js";
import { assertKnownModel, type ModelViews } from "./model-check.js";
import {
  acceptAndAwait,
  firstHeader,
  nextRequestId,
  type RequestLifecycleDeps,
} from "./request-lifecycle.js";
import { SseWriter } from "./sse.js";

export interface ChatCompletionsDeps extends RequestLifecycleDeps, ModelViews {
  log: Logger;
}

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

/**
 * POST /v1/chat/completions, OpenAI's front door. The body is validated as a chat request and
 * handed to the shared request lifecycle (`request.accepted` with frontDoor `openai`, then the
 * wait for the terminal event). Streamed chunks are written the moment they arrive; nothing
 * waits for the whole answer.
 */
export async function handleChatCompletions(
  deps: ChatCompletionsDeps,
  principal: Principal,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  const chat = parseChatRequest(request.body);
  assertKnownModel(deps, principal.tenant, chat.model);
  const requestId = nextRequestId(deps);
  reply.header("x-request-id", requestId);
  const sse = chat.stream === true ? new SseWriter(reply, requestId) : undefined;

  const outcome = await acceptAndAwait(deps, {
    principal,
    requestId,
    chat,
    frontDoor: "openai",
    spanName: "POST /v1/chat/completions",
    traceparent: firstHeader(request.headers["traceparent"]),
    ...(sse ? { onChunk: (json: Uint8Array, generation: string) => sse.chunk(json, generation) } : {}),
  });
  if (outcome.kind === "completed") {
    const { completion, usage } = outcome;
    const openAiUsage = {
      prompt_tokens: usage.promptTokens,
      completion_tokens: usage.completionTokens,
      total_tokens: usage.promptTokens + usage.completionTokens,
      prompt_tokens_details: { cached_tokens: usage.cachedTokens },
    };
    if (sse) sse.complete(completion, chat.stream_options?.include_usage ? openAiUsage : undefined);
    else await reply.code(200).send({ ...completion, usage: openAiUsage });
    return;
  }
  if (outcome.kind === "timeout") {
    const body = openAiErrorBody(outcome.error);
    if (sse?.started) sse.fail(body);
    else await reply.code(outcome.error.httpStatus).send(body);
    return;
  }
  deps.log
    .child({ tenant: principal.tenant, requestId })
    .info({ code: outcome.error.code }, "request failed");
  // Once the stream is out its status and headers are too: the error event carries the code.
  const body = storedErrorBody(outcome.error, outcome.extension);
  if (sse?.started) {
    sse.fail(body);
    return;
  }
  applyFailureHeaders(reply, outcome);
  await reply.code(outcome.error.httpStatus).send(body);
}
