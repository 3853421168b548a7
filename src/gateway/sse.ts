import type { FastifyReply } from "fastify";
import type { ChatCompletion, ChatUsage } from "../chat/index.js";
import type { OpenAiErrorBody } from "./error-body.js";
import {
  chunkOfChoice,
  type SseTranslation,
  STREAM_RESTARTED_MESSAGE,
  TranslatedSseWriter,
} from "./sse-response.js";

const DATA = Buffer.from("data: ");
const END = Buffer.from("\n\n");

/** The response headers that carry the request id on OpenAI's front door. */
export const OPENAI_REQUEST_ID_HEADERS = ["x-request-id"] as const;

/**
 * Writes an OpenAI-style SSE stream (`data: <chunk json>`, closed by `data: [DONE]`); a failure
 * once bytes are out is a `data:` error object and no `[DONE]`. Completing takes the usage
 * chunk to send last (`stream_options.include_usage`), or undefined for none.
 */
export class SseWriter extends TranslatedSseWriter<ChatUsage | undefined, OpenAiErrorBody> {
  constructor(reply: FastifyReply, requestId: string) {
    super(reply, requestId, OPENAI_REQUEST_ID_HEADERS, openAiTranslation(requestId));
  }
}

function openAiTranslation(requestId: string): SseTranslation<ChatUsage | undefined, OpenAiErrorBody> {
  const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;
  let started = false;
  return {
    get started() {
      return started;
    },
    chunk(json) {
      started = true;
      // The executor's chunk is already OpenAI's chunk JSON: framed as it is, never re-encoded.
      return Buffer.concat([DATA, json, END]);
    },
    replay: (completion: ChatCompletion) =>
      completion.choices.map((choice) => data(chunkOfChoice(completion, choice, choice.index))).join(""),
    finish(completion, usage) {
      const { created, model } = completion;
      const usageChunk = usage
        ? data({ id: requestId, object: "chat.completion.chunk", created, model, choices: [], usage })
        : "";
      return `${usageChunk}data: [DONE]\n\n`;
    },
    fail: data,
    interrupted: openAiStreamInterrupted,
  };
}

/** The OpenAI-dialect error of a stream whose execution restarted mid-way. */
export function openAiStreamInterrupted(): OpenAiErrorBody {
  return {
    error: {
      message: STREAM_RESTARTED_MESSAGE,
      type: "api_error",
      param: null,
      code: "BL_STREAM_INTERRUPTED",
    },
  };
}
