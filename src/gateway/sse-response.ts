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
  private corked = false;

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

  /**
   * Writes bytes of the stream, sending the headers first if they are not out yet. Writes made
   * in one synchronous run (the chunks of one live message, or of one socket read) leave in one
   * socket write: the socket is corked until the run ends.
   */
  write(data: string | Uint8Array): void {
    this.start();
    this.wroteSinceTick = true;
    const raw = this.reply.raw;
    if (!this.corked) {
      this.corked = true;
      raw.cork();
      process.nextTick(() => {
        this.corked = false;
        raw.uncork();
      });
    }
    raw.write(data);
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
 * A front door's translation of the canonical stream into its own SSE text: all a door
 * supplies to {@link TranslatedSseWriter}. Each method returns the bytes to write ("" for none).
 * `Final` is what the door ends a successful stream with, `ErrorBody` its error body.
 */
export interface SseTranslation<Final, ErrorBody> {
  /** Whether any of the answer went out; when not, completing replays the whole completion. */
  readonly started: boolean;
  /** One canonical chunk, as the JSON bytes the executor published. */
  chunk(json: Uint8Array): string | Uint8Array;
  /** A whole completion at once, for an answer that was not streamed live (a cache hit). */
  replay(completion: ChatCompletion): string;
  /** The end of a successful stream. */
  finish(completion: ChatCompletion, final: Final): string;
  /** The end of a failed stream. */
  fail(body: ErrorBody): string;
  /** The error body of a stream whose execution restarted mid-way. */
  interrupted(): ErrorBody;
}

/**
 * The SSE writer of every front door, around the door's {@link SseTranslation}: headers go out
 * with the first write, so an error before any output still gets a proper HTTP status and JSON
 * body. Chunks of one execution generation only: another one means the executor restarted
 * mid-stream, and the client cannot be given a spliced answer. Once bytes are out, a failure
 * ends the stream with the door's error event and no success marker: a cut stream never looks
 * like a success to the client. After the end, every call is a no-op.
 */
export class TranslatedSseWriter<Final, ErrorBody> {
  private readonly response: SseResponse;

  constructor(
    reply: FastifyReply,
    requestId: string,
    requestIdHeaders: readonly string[],
    private readonly translation: SseTranslation<Final, ErrorBody>,
  ) {
    this.response = new SseResponse(reply, requestId, requestIdHeaders);
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
    if (this.response.continues(generation)) this.write(this.translation.chunk(json));
    else this.fail(this.translation.interrupted());
  }

  /** Ends a successful stream with `final`; replays the whole answer if nothing was streamed live. */
  complete(completion: ChatCompletion, final: Final): void {
    if (this.response.ended) return;
    if (!this.translation.started) this.write(this.translation.replay(completion));
    this.write(this.translation.finish(completion, final));
    this.response.end();
  }

  fail(body: ErrorBody): void {
    if (this.response.ended) return;
    this.write(this.translation.fail(body));
    this.response.end();
  }

  private write(data: string | Uint8Array): void {
    if (data.length > 0) this.response.write(data);
  }
}

/** Named SSE events (`event: <type>` + `data: <json>`), as Anthropic and the Responses API send them. */
export function namedSseEvents(events: ReadonlyArray<{ type: string }>): string {
  let text = "";
  for (const event of events) text += `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
  return text;
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
