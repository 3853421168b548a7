import type { FastifyReply } from "fastify";
import type { AnthropicErrorBody, ChatCompletion, ChatCompletionChunk } from "../chat/index.js";
import {
  type AnthropicEvent,
  type ChunkToAnthropicTranslator,
  chunksOfCompletion,
  createChunkToAnthropicTranslator,
} from "./messages-stream.js";
import type { CompletedUsage } from "./request-lifecycle.js";
import { SseResponse, STREAM_RESTARTED_MESSAGE } from "./sse-response.js";

/** The response headers that carry the request id on Anthropic's front door. */
export const ANTHROPIC_REQUEST_ID_HEADERS = ["x-request-id", "request-id"] as const;

/**
 * Writes an Anthropic SSE stream (`event: <type>` + `data: <json>`) from the canonical chunks
 * the executor publishes. Headers go out with the first event, so an error before any output
 * still gets a proper HTTP status and JSON body. Once bytes are out, a failure ends the stream
 * with an `event: error` and no `message_stop`: a cut stream never looks like a success.
 */
export class AnthropicSseWriter {
  private readonly response: SseResponse;
  private readonly translator: ChunkToAnthropicTranslator;

  constructor(
    reply: FastifyReply,
    private readonly requestId: string,
    /** The prompt's counted tokens, for `message_start`. */
    inputTokens = 0,
  ) {
    this.response = new SseResponse(reply, requestId, ANTHROPIC_REQUEST_ID_HEADERS);
    this.translator = createChunkToAnthropicTranslator(requestId, inputTokens);
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
        type: "error",
        error: { type: "api_error", message: STREAM_RESTARTED_MESSAGE, code: "BL_STREAM_INTERRUPTED" },
        request_id: this.requestId,
      });
      return;
    }
    const chunk = JSON.parse(Buffer.from(json).toString("utf8")) as ChatCompletionChunk;
    this.writeAll(this.translator.push(chunk));
  }

  /** Ends a successful stream; replays the whole answer if nothing was streamed live. */
  complete(completion: ChatCompletion, usage: CompletedUsage): void {
    if (this.response.ended) return;
    if (!this.translator.started) {
      for (const chunk of chunksOfCompletion(completion)) this.writeAll(this.translator.push(chunk));
    }
    this.writeAll(this.translator.finish(usage));
    this.response.end();
  }

  fail(body: AnthropicErrorBody): void {
    if (this.response.ended) return;
    // A copy: an interface has no index signature, its spread (a plain object type) does.
    this.writeAll([{ ...body }]);
    this.response.end();
  }

  private writeAll(events: AnthropicEvent[]): void {
    if (events.length === 0) return;
    let text = "";
    for (const event of events) text += `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    this.response.write(text);
  }
}
