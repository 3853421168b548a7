import {
  type ChatCompletion,
  type ChatCompletionChunk,
  THINKING_BLOCKS_FIELD,
  thinkingBlocksOf,
  thinkingDeltasOf,
} from "../chat/index.js";
import { anthropicUsageFrom, stopReasonFrom } from "./messages-response.js";
import type { CompletedUsage } from "./request-lifecycle.js";
import { chunkOfChoice } from "./sse-response.js";

/** One Anthropic stream event; `type` is also its SSE event name. */
export interface AnthropicEvent {
  type: string;
  [field: string]: unknown;
}

/**
 * Canonical `chat.completion.chunk`s → Anthropic stream events, for the Anthropic front door.
 * Pure and stateful: one translator per response.
 *
 * The first chunk opens the message (`message_start`); thinking fragments open thinking
 * blocks (`thinking_delta`, `signature_delta`; a redacted block arrives whole); content opens a text block, each new
 * tool call (a delta with an id, or another tool index) closes the open block and opens a
 * `tool_use` block whose arguments stream as `input_json_delta`s; `finish()` closes the open
 * block and ends with `message_delta` (stop reason and the final usage) and `message_stop`.
 * `message_start` carries the prompt's input tokens as the door counted them (src/tokens);
 * `message_delta` at the end carries the provider's own figures from the terminal event.
 */
export interface ChunkToAnthropicTranslator {
  push(chunk: ChatCompletionChunk): AnthropicEvent[];
  /** Whether `message_start` went out. */
  readonly started: boolean;
  /** The closing events; `usage` is the authoritative count from the terminal event. */
  finish(usage: CompletedUsage): AnthropicEvent[];
}

type OpenBlock =
  | { kind: "text" }
  | { kind: "tool"; toolIndex: number }
  | { kind: "thinking"; thinkingIndex: number };

export function createChunkToAnthropicTranslator(
  messageId: string,
  /** The prompt's token count, reported by `message_start` before the provider's figure exists. */
  inputTokens = 0,
): ChunkToAnthropicTranslator {
  let started = false;
  let model = "";
  let blockIndex = -1;
  let open: OpenBlock | undefined;
  let finishReason: string | null = null;

  function start(chunk: ChatCompletionChunk, out: AnthropicEvent[]): void {
    if (started) return;
    started = true;
    model = chunk.model;
    out.push({
      type: "message_start",
      message: {
        id: messageId,
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: inputTokens, output_tokens: 0 },
      },
    });
  }

  function close(out: AnthropicEvent[]): void {
    if (open === undefined) return;
    out.push({ type: "content_block_stop", index: blockIndex });
    open = undefined;
  }

  function openBlock(block: OpenBlock, contentBlock: Record<string, unknown>, out: AnthropicEvent[]): void {
    close(out);
    blockIndex++;
    open = block;
    out.push({ type: "content_block_start", index: blockIndex, content_block: contentBlock });
  }

  return {
    push(chunk) {
      const out: AnthropicEvent[] = [];
      start(chunk, out);
      // Beamline serves n = 1; only the first choice exists.
      const choice = chunk.choices.find((candidate) => candidate.index === 0);
      if (choice === undefined) return out;
      const delta = choice.delta ?? {};
      for (const fragment of thinkingDeltasOf(delta)) {
        const continuing = open?.kind === "thinking" && open.thinkingIndex === fragment.index;
        if (!continuing) {
          const redacted = fragment.type === "redacted_thinking";
          openBlock(
            { kind: "thinking", thinkingIndex: fragment.index },
            redacted
              ? { type: "redacted_thinking", data: fragment.data ?? "" }
              : { type: "thinking", thinking: "", signature: "" },
            out,
          );
          if (redacted) continue;
        }
        if (fragment.thinking) {
          out.push({
            type: "content_block_delta",
            index: blockIndex,
            delta: { type: "thinking_delta", thinking: fragment.thinking },
          });
        }
        if (fragment.signature) {
          out.push({
            type: "content_block_delta",
            index: blockIndex,
            delta: { type: "signature_delta", signature: fragment.signature },
          });
        }
      }
      if (typeof delta.content === "string" && delta.content.length > 0) {
        if (open?.kind !== "text") openBlock({ kind: "text" }, { type: "text", text: "" }, out);
        out.push({
          type: "content_block_delta",
          index: blockIndex,
          delta: { type: "text_delta", text: delta.content },
        });
      }
      for (const toolDelta of delta.tool_calls ?? []) {
        const continuing = open?.kind === "tool" && open.toolIndex === toolDelta.index && !toolDelta.id;
        if (!continuing) {
          openBlock(
            { kind: "tool", toolIndex: toolDelta.index },
            { type: "tool_use", id: toolDelta.id ?? "", name: toolDelta.function?.name ?? "", input: {} },
            out,
          );
        }
        const fragment = toolDelta.function?.arguments;
        if (fragment) {
          out.push({
            type: "content_block_delta",
            index: blockIndex,
            delta: { type: "input_json_delta", partial_json: fragment },
          });
        }
      }
      if (choice.finish_reason) finishReason = choice.finish_reason;
      return out;
    },
    get started() {
      return started;
    },
    finish(usage) {
      const out: AnthropicEvent[] = [];
      close(out);
      out.push({
        type: "message_delta",
        delta: { stop_reason: stopReasonFrom(finishReason), stop_sequence: null },
        usage: anthropicUsageFrom(usage),
      });
      out.push({ type: "message_stop" });
      return out;
    },
  };
}

/** The canonical chunks a whole completion streams as, for replaying an answer that was not streamed live. */
export function chunksOfCompletion(completion: ChatCompletion): ChatCompletionChunk[] {
  const choice = completion.choices[0];
  if (choice === undefined) {
    const { id, created, model } = completion;
    return [{ id, object: "chat.completion.chunk", created, model, choices: [] }];
  }
  const chunk = chunkOfChoice(completion, choice, 0);
  const thinking = thinkingBlocksOf(choice.message);
  if (thinking.length > 0) {
    chunk.choices[0]!.delta[THINKING_BLOCKS_FIELD] = thinking.map((block, index) => ({ index, ...block }));
  }
  return [chunk];
}
