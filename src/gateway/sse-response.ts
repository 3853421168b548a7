import type { FastifyReply } from "fastify";
import type { ChatCompletion, ChatCompletionChunk } from "../chat/index.js";

/** What a front door tells the client when the executor restarted mid-stream. */
export const STREAM_RESTARTED_MESSAGE =
  "The stream was interrupted when the provider call was restarted; retry the request.";

/**
 * The lifecycle every front door's SSE answer shares, whatever its event format: headers go
 * out with the first write (so an error before any output still gets a proper HTTP status and
 * JSON body), the stream is ended once, and chunks of one execution generation only.
 */
export class SseResponse {
  started = false;
  ended = false;
  private generation: string | undefined;

  /** `requestIdHeaders` name the response headers that carry `requestId`. */
  constructor(
    private readonly reply: FastifyReply,
    private readonly requestId: string,
    private readonly requestIdHeaders: readonly string[],
  ) {}

  /**
   * Records the execution generation of a chunk; false when it differs from the one streamed
   * so far: the executor restarted mid-stream, and the client cannot be given a spliced answer.
   */
  continues(generation: string): boolean {
    if (this.generation !== undefined && generation !== this.generation) return false;
    this.generation = generation;
    return true;
  }

  /** Writes bytes of the stream, sending the headers first if they are not out yet. */
  write(data: string | Uint8Array): void {
    this.start();
    this.reply.raw.write(data);
  }

  end(): void {
    this.ended = true;
    this.reply.raw.end();
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.reply.hijack();
    const headers: Record<string, string> = {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
    };
    for (const name of this.requestIdHeaders) headers[name] = this.requestId;
    this.reply.raw.writeHead(200, headers);
  }
}

/**
 * The canonical chunk that streams one choice of a whole completion at once (as choice
 * `index`), for replaying an answer that was not streamed live.
 */
export function chunkOfChoice(
  completion: ChatCompletion,
  choice: ChatCompletion["choices"][number],
  index: number,
): ChatCompletionChunk {
  return {
    id: completion.id,
    object: "chat.completion.chunk",
    created: completion.created,
    model: completion.model,
    choices: [
      {
        index,
        delta: {
          role: "assistant",
          content: choice.message.content,
          ...(choice.message.tool_calls
            ? { tool_calls: choice.message.tool_calls.map((call, index) => ({ index, ...call })) }
            : {}),
        },
        finish_reason: choice.finish_reason,
      },
    ],
  };
}
