import type { FastifyReply } from "fastify";
import type { ChatCompletion, ChatCompletionChunk } from "../chat/index.js";

/** What a front door tells the client when the executor restarted mid-stream. */
export const STREAM_RESTARTED_MESSAGE =
  "The stream was interrupted when the provider call was restarted; retry the request.";

/** The SSE comment a silent stream sends; every SSE parser skips lines starting with `:`. */
export const SSE_KEEP_ALIVE = ": keep-alive\n\n";

/**
 * The lifecycle every front door's SSE answer shares, whatever its event format: headers go
 * out with the first write (so an error before any output still gets a proper HTTP status and
 * JSON body), the stream is ended once, and chunks of one execution generation only.
 *
 * While the stream is silent for the gateway's `sseKeepAliveMs` (waiting for the first chunk
 * or between slow ones), it writes a keep-alive comment, so a proxy's idle timeout does not cut
 * it. The first one starts the stream: from then on a failure is an error event, the price of
 * holding a connection open through a long wait.
 */
export class SseResponse {
  started = false;
  ended = false;
  private generation: string | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  /** Whether anything was written since the last keep-alive tick. */
  private wroteSinceTick = false;
  private openHeaders: (() => Record<string, string>) | undefined;

  /** `requestIdHeaders` name the response headers that carry `requestId`. */
  constructor(
    private readonly reply: FastifyReply,
    private readonly requestId: string,
    private readonly requestIdHeaders: readonly string[],
  ) {
    const intervalMs = reply.server.sseKeepAliveMs;
    if (intervalMs !== undefined) {
      this.keepAlive = setInterval(() => this.tick(), intervalMs);
      // "close": the answer is finished (streamed or plain JSON) or the client went away.
      reply.raw.once("close", () => this.stopKeepAlive());
    }
  }

  /**
   * Records the execution generation of a chunk; false when it differs from the one streamed
   * so far: the executor restarted mid-stream, and the client cannot be given a spliced answer.
   */
  continues(generation: string): boolean {
    if (this.generation !== undefined && generation !== this.generation) return false;
    this.generation = generation;
    return true;
  }

  /**
   * Headers computed when the stream opens (its first write), so a value relative to "now" (a
   * rate limit's reset) is as of the moment the client gets it. A later call replaces an earlier
   * one; once the stream is open it is ignored: the headers are out.
   */
  headersAtOpen(compute: () => Record<string, string>): void {
    if (!this.started) this.openHeaders = compute;
  }

  /** Writes bytes of the stream, sending the headers first if they are not out yet. */
  write(data: string | Uint8Array): void {
    this.start();
    this.wroteSinceTick = true;
    this.reply.raw.write(data);
  }

  end(): void {
    this.ended = true;
    this.stopKeepAlive();
    this.reply.raw.end();
  }

  private tick(): void {
    // Answered plainly (an error before any output) or finished: nothing to keep alive.
    if (this.ended || (!this.started && this.reply.sent)) {
      this.stopKeepAlive();
      return;
    }
    if (this.wroteSinceTick) {
      this.wroteSinceTick = false;
      return;
    }
    this.write(SSE_KEEP_ALIVE);
    this.wroteSinceTick = false;
  }

  private stopKeepAlive(): void {
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.reply.hijack();
    // The headers the hooks set (request id, CORS) go out too: a hijacked reply skips Fastify's
    // own header writing. Never a content-encoding: a stream is not buffered for compression.
    const headers: Record<string, string | number | string[]> = {};
    for (const [name, value] of Object.entries(this.reply.getHeaders())) {
      if (value !== undefined && name !== "content-length" && name !== "content-encoding")
        headers[name] = value;
    }
    Object.assign(headers, this.openHeaders?.());
    headers["content-type"] = "text/event-stream; charset=utf-8";
    headers["cache-control"] = "no-cache";
    headers["connection"] = "keep-alive";
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
