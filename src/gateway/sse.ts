import type { FastifyReply } from "fastify";
import type { ChatCompletion, ChatUsage } from "../chat/index.js";
import type { OpenAiErrorBody } from "./error-body.js";
import { chunkOfChoice, SseResponse, STREAM_RESTARTED_MESSAGE } from "./sse-response.js";

const DATA = Buffer.from("data: ");
const END = Buffer.from("\n\n");

/** The response headers that carry the request id on OpenAI's front door. */
export const OPENAI_REQUEST_ID_HEADERS = ["x-request-id"] as const;

/**
 * Writes an OpenAI-style SSE stream. Headers go out with the first chunk, so an error that
 * happens before any content still gets a proper HTTP status and JSON body. Once bytes are
 * out, a failure ends the stream with an `error` event and no `[DONE]`: a cut stream never
 * looks like a success to the client.
 */
export class SseWriter {
  private readonly response: SseResponse;

  constructor(
    reply: FastifyReply,
    private readonly requestId: string,
  ) {
    this.response = new SseResponse(reply, requestId, OPENAI_REQUEST_ID_HEADERS);
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
    this.response.write(Buffer.concat([DATA, json, END]));
  }

  /** Ends a successful stream; replays the whole answer if no chunk was streamed live. */
  complete(completion: ChatCompletion, usage: ChatUsage | undefined): void {
    if (this.response.ended) return;
    if (!this.response.started) {
      for (const choice of completion.choices) this.write(chunkOfChoice(completion, choice, choice.index));
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
    this.response.write("data: [DONE]\n\n");
    this.response.end();
  }

  fail(body: OpenAiErrorBody): void {
    if (this.response.ended) return;
    this.write(body);
    this.response.end();
  }

  private write(value: unknown): void {
    this.response.write(`data: ${JSON.stringify(value)}\n\n`);
  }
}
