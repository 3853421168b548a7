import type { FastifyReply } from "fastify";
import type { AnthropicErrorBody, ChatCompletionChunk } from "../chat/index.js";
import { chunksOfCompletion, createChunkToAnthropicTranslator } from "./messages-stream.js";
import type { CompletedUsage } from "./request-lifecycle.js";
import { namedSseEvents, STREAM_RESTARTED_MESSAGE, TranslatedSseWriter } from "./sse-response.js";

/** The response headers that carry the request id on Anthropic's front door. */
export const ANTHROPIC_REQUEST_ID_HEADERS = ["x-request-id", "request-id"] as const;

/**
 * Writes an Anthropic SSE stream (`event: <type>` + `data: <json>`) from the canonical chunks
 * the executor publishes; a failure once bytes are out is an `event: error` and no
 * `message_stop`. `inputTokens` (the prompt's counted tokens) goes in `message_start`.
 */
export class AnthropicSseWriter extends TranslatedSseWriter<CompletedUsage, AnthropicErrorBody> {
  constructor(reply: FastifyReply, requestId: string, inputTokens = 0) {
    const translator = createChunkToAnthropicTranslator(requestId, inputTokens);
    const push = (chunk: ChatCompletionChunk) => namedSseEvents(translator.push(chunk));
    super(reply, requestId, ANTHROPIC_REQUEST_ID_HEADERS, {
      get started() {
        return translator.started;
      },
      chunk: (json) => push(JSON.parse(Buffer.from(json).toString("utf8")) as ChatCompletionChunk),
      replay: (completion) => chunksOfCompletion(completion).map(push).join(""),
      finish: (_completion, usage) => namedSseEvents(translator.finish(usage)),
      fail: (body) => namedSseEvents([body]),
      interrupted: () => ({
        type: "error",
        error: { type: "api_error", message: STREAM_RESTARTED_MESSAGE, code: "BL_STREAM_INTERRUPTED" },
        request_id: requestId,
      }),
    });
  }
}
