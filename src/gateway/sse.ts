import type { FastifyReply } from "fastify";
import type { ChatCompletion, ChatUsage } from "../chat/wire.js";
import type { OpenAiErrorBody } from "./error-body.js";

const DATA = Buffer.from("data: ");
const END = Buffer.from("\n\n");

/**
 * Writes an OpenAI-style SSE stream. Headers go out with the first chunk, so an error that
 * happens before any content still gets a proper HTTP status and JSON body. Once bytes are
 * out, a failure ends the stream with an `error` event and no `[DONE]`: a cut stream never
 * looks like a success to the client.
 */
export class SseWriter {
  started = false;
  private ended = false;
  private generation: string | undefined;

  constructor(
    private readonly reply: FastifyReply,
    private readonly requestId: string,
  ) {}

  /** A chunk from the executor. A chunk from another execution generation means the
   * executor restarted mid-stream: the client cannot be given a spliced answer. */
  chunk(json: Uint8Array, generation: string): void {
    if (this.ended) return;
    if (this.generation !== undefined && generation !== this.generation) {
      this.fail({
        error: {
          message: "The stream was interrupted when the provider call was restarted; retry the request.",
          type: "api_error",
          param: null,
          code: "BL_STREAM_INTERRUPTED",
        },
      });
      return;
    }
    this.generation = generation;
    this.start();
    this.reply.raw.write(Buffer.concat([DATA, json, END]));
  }

  /** Ends a successful stream; replays the whole answer if no chunk was streamed live. */
  complete(completion: ChatCompletion, usage: ChatUsage | undefined): void {
    if (this.ended) return;
    if (!this.started) {
      this.start();
      for (const choice of completion.choices) {
        this.write({
          id: completion.id,
          object: "chat.completion.chunk",
          created: completion.created,
          model: completion.model,
          choices: [
            {
              index: choice.index,
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
        });
      }
    }
    if (usage) {
      this.write({
        id: this.requestId,
        object: "chat.completion.chunk",
        created: completion.created,
        model: completion.model,
        choices: [],
        usage,
      });
    }
    this.reply.raw.write("data: [DONE]\n\n");
    this.end();
  }

  fail(body: OpenAiErrorBody): void {
    if (this.ended) return;
    this.start();
    this.write(body);
    this.end();
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
    });
  }

  private write(value: unknown): void {
    this.reply.raw.write(`data: ${JSON.stringify(value)}\n\n`);
  }

  private end(): void {
    this.ended = true;
    this.reply.raw.end();
  }
}
