import type { ChatChoice, ChatCompletion, ChatCompletionChunk } from "../../chat/index.js";
import { type MockAnswer, splitIntoPieces } from "./answers.js";

/** Identity of one mock completion, shared by all of its chunks. */
export interface CompletionMeta {
  id: string;
  /** Unix time in seconds. */
  created: number;
  model: string;
}

const SYSTEM_FINGERPRINT = "fp_mock";

/** The `chat.completion` body of a non-streamed answer. */
export function completionBody(answer: MockAnswer, meta: CompletionMeta): ChatCompletion {
  const message: ChatChoice["message"] = { role: "assistant", content: answer.content, refusal: null };
  if (answer.toolCall !== undefined) {
    message.tool_calls = [
      {
        id: answer.toolCall.id,
        type: "function",
        function: { name: answer.toolCall.name, arguments: answer.toolCall.arguments },
      },
    ];
  }
  return {
    id: meta.id,
    object: "chat.completion",
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: answer.finishReason }],
    usage: answer.usage,
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
}

/**
 * The SSE frames (`data: {...}\n\n`) of a streamed answer, in OpenAI's order: a first
 * chunk with the role, the content (or tool-call arguments) in `pieces` chunks, a chunk
 * with the finish reason and, when `includeUsage`, a last chunk with empty `choices` and
 * the usage (every other chunk then carries `"usage": null`). `data: [DONE]` is not included.
 */
export function streamFrames(
  answer: MockAnswer,
  meta: CompletionMeta,
  includeUsage: boolean,
  pieces: number,
) {
  const frames: string[] = [];
  const push = (
    delta: ChatCompletionChunk["choices"][number]["delta"],
    finishReason: string | null,
  ): void => {
    const chunk: ChatCompletionChunk = {
      id: meta.id,
      object: "chat.completion.chunk",
      created: meta.created,
      model: meta.model,
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    };
    if (includeUsage) chunk.usage = null;
    frames.push(`data: ${JSON.stringify(chunk)}\n\n`);
  };

  const toolCall = answer.toolCall;
  if (toolCall !== undefined) {
    push(
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { index: 0, id: toolCall.id, type: "function", function: { name: toolCall.name, arguments: "" } },
        ],
      },
      null,
    );
    for (const piece of splitIntoPieces(toolCall.arguments, pieces)) {
      push({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null);
    }
  } else {
    push({ role: "assistant", content: "", refusal: null }, null);
    for (const piece of splitIntoPieces(answer.content ?? "", pieces)) push({ content: piece }, null);
  }
  push({}, answer.finishReason);

  if (includeUsage) {
    const usageChunk: ChatCompletionChunk = {
      id: meta.id,
      object: "chat.completion.chunk",
      created: meta.created,
      model: meta.model,
      system_fingerprint: SYSTEM_FINGERPRINT,
      choices: [],
      usage: answer.usage,
    };
    frames.push(`data: ${JSON.stringify(usageChunk)}\n\n`);
  }
  return frames;
}

/** OpenAI's error body: `{"error":{"message","type","param","code"}}`. */
export function errorBody(
  message: string,
  type: string,
  code: string | null,
  param: string | null = null,
): string {
  return JSON.stringify({ error: { message, type, param, code } });
}
