import {
  type AnthropicStreamEvent,
  type AnthropicUsage,
  type ChatChunkChoice,
  type ChatCompletionChunk,
  THINKING_BLOCKS_FIELD,
} from "../../chat/index.js";
import { ProviderError } from "../provider-error.js";
import { ProviderErrorClass, type ProviderUsage } from "../types.js";
import { chatUsageFrom, finishReasonFrom, usageFrom } from "./response.js";

/**
 * Anthropic stream events → canonical `chat.completion.chunk`s, one event at a time. Pure.
 *
 * `message_start` gives the first chunk (role), text deltas give content chunks, a
 * `tool_use` block start gives the tool call's id and name and its `input_json_delta`s give
 * argument fragments (tool calls are numbered 0, 1, ... in the order their blocks start),
 * `message_delta` gives the finish reason, and `message_stop` the final usage chunk
 * (empty `choices`, as OpenAI's `include_usage` does). Thinking blocks stream as
 * `delta.thinking_blocks` fragments (src/chat/thinking.ts), numbered like tool calls.
 * `ping` and blocks Beamline does not translate (server tools) give nothing. `error` events are the caller's to handle; passing one
 * here is a programming error.
 *
 * Throws a `malformed` {@link ProviderError} when events break the protocol's order (content
 * before `message_start`, a delta for a block that never started, anything after `message_stop`).
 */
export interface AnthropicStreamTranslator {
  push(event: Exclude<AnthropicStreamEvent, { type: "error" }>): ChatCompletionChunk[];
  /** True once `message_stop` arrived: the answer is complete. */
  readonly finished: boolean;
  /** Usage reported so far (input from `message_start`, output from `message_delta`). */
  usage(): ProviderUsage;
}

function protocolError(problem: string): ProviderError {
  return new ProviderError(ProviderErrorClass.Malformed, `anthropic stream ${problem}`);
}

export function createAnthropicStreamTranslator(createdSeconds: number): AnthropicStreamTranslator {
  let id: string | undefined;
  let model = "";
  let finished = false;
  let usage: Partial<AnthropicUsage> = {};
  /** Content block index → tool call index, for tool_use blocks. */
  const toolIndexByBlock = new Map<number, number>();
  const textBlocks = new Set<number>();
  /** Content block index → thinking block index, for thinking and redacted_thinking blocks. */
  const thinkingIndexByBlock = new Map<number, number>();

  function chunk(delta: ChatChunkChoice["delta"], finishReason: string | null = null): ChatCompletionChunk {
    return {
      id: id!,
      object: "chat.completion.chunk",
      created: createdSeconds,
      model,
      choices: [{ index: 0, delta, finish_reason: finishReason }],
    };
  }

  function started(what: string): void {
    if (id === undefined) throw protocolError(`sent ${what} before message_start`);
    if (finished) throw protocolError(`sent ${what} after message_stop`);
  }

  return {
    push(event) {
      switch (event.type) {
        case "ping":
          return [];
        case "message_start":
          if (id !== undefined) throw protocolError("sent a second message_start");
          id = event.message.id;
          model = event.message.model;
          usage = { ...event.message.usage };
          return [chunk({ role: "assistant", content: "" })];
        case "content_block_start": {
          started("content_block_start");
          const block = event.content_block;
          if (block.type === "text") {
            textBlocks.add(event.index);
            const text = (block as { text?: unknown }).text;
            return typeof text === "string" && text.length > 0 ? [chunk({ content: text })] : [];
          }
          if (block.type === "tool_use") {
            const toolIndex = toolIndexByBlock.size;
            toolIndexByBlock.set(event.index, toolIndex);
            const { id: callId, name } = block as { id: string; name: string };
            return [
              chunk({
                tool_calls: [
                  { index: toolIndex, id: callId, type: "function", function: { name, arguments: "" } },
                ],
              }),
            ];
          }
          if (block.type === "thinking" || block.type === "redacted_thinking") {
            const thinkingIndex = thinkingIndexByBlock.size;
            thinkingIndexByBlock.set(event.index, thinkingIndex);
            const { type: _type, ...fields } = block as Record<string, unknown>;
            return [
              chunk({ [THINKING_BLOCKS_FIELD]: [{ index: thinkingIndex, type: block.type, ...fields }] }),
            ];
          }
          return [];
        }
        case "content_block_delta": {
          started("content_block_delta");
          const delta = event.delta;
          if (delta.type === "text_delta") {
            if (!textBlocks.has(event.index))
              throw protocolError(`sent text for block ${event.index}, not a text block`);
            const text = (delta as { text: string }).text;
            return text.length > 0 ? [chunk({ content: text })] : [];
          }
          if (delta.type === "input_json_delta") {
            const toolIndex = toolIndexByBlock.get(event.index);
            if (toolIndex === undefined)
              throw protocolError(`sent tool input for block ${event.index}, not a tool_use block`);
            const fragment = (delta as { partial_json: string }).partial_json;
            return fragment.length > 0
              ? [chunk({ tool_calls: [{ index: toolIndex, function: { arguments: fragment } }] })]
              : [];
          }
          if (delta.type === "thinking_delta" || delta.type === "signature_delta") {
            const thinkingIndex = thinkingIndexByBlock.get(event.index);
            if (thinkingIndex === undefined)
              throw protocolError(`sent ${delta.type} for block ${event.index}, not a thinking block`);
            const { type: _type, ...fragment } = delta as Record<string, unknown>;
            return [chunk({ [THINKING_BLOCKS_FIELD]: [{ index: thinkingIndex, ...fragment }] })];
          }
          return [];
        }
        case "content_block_stop":
          started("content_block_stop");
          return [];
        case "message_delta": {
          started("message_delta");
          // Counts in message_delta are cumulative: they replace, never add.
          if (event.usage) {
            for (const [key, value] of Object.entries(event.usage)) {
              if (typeof value === "number") (usage as Record<string, number>)[key] = value;
            }
          }
          const finishReason = finishReasonFrom(event.delta.stop_reason);
          return finishReason === null ? [] : [chunk({}, finishReason)];
        }
        case "message_stop": {
          started("message_stop");
          finished = true;
          const usageChunk = chunk({});
          usageChunk.choices = [];
          usageChunk.usage = chatUsageFrom(usageFrom(usage));
          return [usageChunk];
        }
      }
    },
    get finished() {
      return finished;
    },
    usage: () => usageFrom(usage),
  };
}
