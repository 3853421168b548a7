import type { FastifyReply } from "fastify";
import {
  type ChatCompletionChunk,
  createChunkToResponsesTranslator,
  type ResponsesResponse,
} from "../chat/index.js";
import type { OpenAiErrorBody } from "./error-body.js";
import { chunksOfCompletion } from "./messages-stream.js";
import { OPENAI_REQUEST_ID_HEADERS, openAiStreamInterrupted } from "./sse.js";
import { namedSseEvents, TranslatedSseWriter } from "./sse-response.js";

/**
 * Writes a Responses API SSE stream (`event: <type>` + `data: <json>`, every event with its
 * `sequence_number`) from the canonical chunks the executor publishes; a failure once bytes are
 * out is `response.failed` and an `error` event, and no `response.completed`. `inProgress(model)`
 * is the Response object before any output; completing takes the final Response object.
 */
export class ResponsesSseWriter extends TranslatedSseWriter<ResponsesResponse, OpenAiErrorBody> {
  constructor(reply: FastifyReply, requestId: string, inProgress: (model: string) => ResponsesResponse) {
    const translator = createChunkToResponsesTranslator(requestId, inProgress);
    const push = (chunk: ChatCompletionChunk) => namedSseEvents(translator.push(chunk));
    super(reply, requestId, OPENAI_REQUEST_ID_HEADERS, {
      get started() {
        return translator.started;
      },
      chunk: (json) => push(JSON.parse(Buffer.from(json).toString("utf8")) as ChatCompletionChunk),
      replay: (completion) => chunksOfCompletion(completion).map(push).join(""),
      finish: (_completion, final) => namedSseEvents(translator.finish(final)),
      fail: (body) => namedSseEvents(translator.fail(body.error)),
      interrupted: openAiStreamInterrupted,
    });
  }
}
