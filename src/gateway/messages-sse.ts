import type { FastifyReply } from "fastify";
import type { AnthropicErrorBody } from "../chat/anthropic.js";
import type { ChatCompletion, ChatCompletionChunk } from "../chat/wire.js";
import {
  type AnthropicEvent,
  type ChunkToAnthropicTranslator,
  chunksOfCompletion,
  createChunkToAnthropicTranslator,
} from "./messages-stream.js";
import type { CompletedUsage } from "./request-lifecycle.js";

/**
 * Writes an Anthropic SSE stream (`event: <type>` + `data: <json>`) from the canonical chunks
 * the executor publishes. Headers go out with the first event, so an error before any output
 * still gets a proper HTTP status and JSON body. Once bytes are out, a failure ends the stream
 * with an `event: error` and no `message_stop`: a cut stream never looks like a success.
 */
export class AnthropicSseWriter {
  started = false;
  private ended = false;
  private generation: string | undefined;
  private readonly translator: ChunkToAnthropicTranslator;

  constructor(
    private readonly reply: FastifyReply,
    private readonly requestId: string,
  ) {
    this.translator = createChunkToAnthropicTranslator(requestId);
  }

  /** A chunk (OpenAI chunk JSON) from the executor; another generation means it restarted mid-stream. */
  chunk(json: Uint8Array, generation: string): void {
    if (this.ended) return;
    if (this.generation !== undefined && generation !== this.generation) {
      this.fail({
        type: "error",
        error: {
          type: "api_error",
          message: "The stream was interrupted when the provider call was restarted; retry the request.",
          code: "BL_STREAM_INTERRUPTED",
        },
        request_id: this.requestId,
      });
      return;
    }
    this.generation = generation;
    const chunk = JSON.parse(Buffer.from(json).toString("utf8")) as ChatCompletionChunk;
    this.writeAll(this.translator.push(chunk));
  }

  /** Ends a successful stream; replays the whole answer if nothing was streamed live. */
  complete(completion: ChatCompletion, usage: CompletedUsage): void {
    if (this.ended) return;
    if (!this.translator.started) {
      for (const chunk of chunksOfCompletion(completion)) this.writeAll(this.translator.push(chunk));
    }
    this.writeAll(this.translator.finish(usage));
    this.end();
  }

  fail(body: AnthropicErrorBody): void {
    if (this.ended) return;
    this.writeAll([body as unknown as AnthropicEvent]);
    this.end();
  }

  private writeAll(events: AnthropicEvent[]): void {
    if (events.length === 0) return;
    this.start();
    let text = "";
    for (const event of events) text += `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    this.reply.raw.write(text);
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.reply.hijack();
    this.reply.raw.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-request-id": this.requestId,
      "request-id": this.requestId,
    });
  }

  private end(): void {
    this.ended = true;
    this.reply.raw.end();
  }
}
