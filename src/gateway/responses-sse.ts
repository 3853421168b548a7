import type { FastifyReply } from "fastify";
import {
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChunkToResponsesTranslator,
  createChunkToResponsesTranslator,
  type ResponsesResponse,
  type ResponsesStreamEvent,
} from "../chat/index.js";
import type { OpenAiErrorBody } from "./error-body.js";
import { chunksOfCompletion } from "./messages-stream.js";
import { OPENAI_REQUEST_ID_HEADERS } from "./sse.js";
import { SseResponse, STREAM_RESTARTED_MESSAGE } from "./sse-response.js";

/**
 * Writes a Responses API SSE stream (`event: <type>` + `data: <json>`, every event with its
 * `sequence_number`) from the canonical chunks the executor publishes. Headers go out with the
 * first event, so an error before any output still gets a proper HTTP status and JSON body.
 * Once bytes are out, a failure ends the stream with `response.failed` and an `error` event and
 * no `response.completed`: a cut stream never looks like a success.
 */
export class ResponsesSseWriter {
  private readonly response: SseResponse;
  private readonly translator: ChunkToResponsesTranslator;

  /** `inProgress(model)` is the Response object before any output. */
  constructor(reply: FastifyReply, requestId: string, inProgress: (model: string) => ResponsesResponse) {
    this.response = new SseResponse(reply, requestId, OPENAI_REQUEST_ID_HEADERS);
    this.translator = createChunkToResponsesTranslator(requestId, inProgress);
  }

  /** Whether bytes of the stream are out (and with them its status and headers). */
  get started(): boolean {
    return this.response.started;
  }

  /** Headers computed when the stream opens; ignored once it is open (see {@link SseResponse}). */
  headersAtOpen(compute: () => Record<string, string>): void {
    this.response.headersAtOpen(compute);
  }

  /** A chunk (OpenAI chunk JSON) from the executor; another generation means it restarted mid-stream. */
  chunk(json: Uint8Array, generation: string): void {
    if (this.response.ended) return;
    if (!this.response.continues(generation)) {
      this.fail({
        error: {
          message: STREAM_RESTARTED_MESSAGE,
          type: "api_error",
          param: null,
          code: "BL_STREAM_INTERRUPTED",
        },
      });
      return;
    }
    const chunk = JSON.parse(Buffer.from(json).toString("utf8")) as ChatCompletionChunk;
    this.writeAll(this.translator.push(chunk));
  }

  /** Ends a successful stream with `final`; replays the whole answer if nothing was streamed live. */
  complete(completion: ChatCompletion, final: ResponsesResponse): void {
    if (this.response.ended) return;
    if (!this.translator.started) {
      for (const chunk of chunksOfCompletion(completion)) this.writeAll(this.translator.push(chunk));
    }
    this.writeAll(this.translator.finish(final));
    this.response.end();
  }

  fail(body: OpenAiErrorBody): void {
    if (this.response.ended) return;
    this.writeAll(this.translator.fail(body.error));
    this.response.end();
  }

  private writeAll(events: ResponsesStreamEvent[]): void {
    if (events.length === 0) return;
    let text = "";
    for (const event of events) text += `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    this.response.write(text);
  }
}
