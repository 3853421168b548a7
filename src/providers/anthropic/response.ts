import {
  type AnthropicUsage,
  type ChatCompletion,
  type ChatToolCall,
  type ChatUsage,
  THINKING_BLOCKS_FIELD,
  type ThinkingBlock,
  thinkingBlockSchema,
} from "../../chat/index.js";
import type { ProviderUsage } from "../types.js";

/**
 * Anthropic Messages API answer → canonical (OpenAI-shaped) completion. Pure; the clock
 * comes in as `createdSeconds` because Anthropic's answers carry no timestamp.
 */

/** OpenAI's `finish_reason` for an Anthropic `stop_reason`; null while the stream runs. */
export function finishReasonFrom(stopReason: string | null | undefined): string | null {
  switch (stopReason) {
    case undefined:
    case null:
      return null;
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    // end_turn, stop_sequence, pause_turn and reasons added later all end the turn normally.
    default:
      return "stop";
  }
}

/**
 * Anthropic counts cache reads and cache writes apart from `input_tokens`; Beamline's prompt
 * tokens are all of them (that is what OpenAI's `prompt_tokens` means), and cache reads are
 * the cached tokens, priced at the cached-input rate.
 */
export function usageFrom(usage: Partial<AnthropicUsage>): ProviderUsage {
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheWrite = usage.cache_creation_input_tokens ?? 0;
  return {
    promptTokens: (usage.input_tokens ?? 0) + cacheRead + cacheWrite,
    completionTokens: usage.output_tokens ?? 0,
    cachedTokens: cacheRead,
  };
}

/** Normalised usage in OpenAI's `usage` shape. */
export function chatUsageFrom(usage: ProviderUsage): ChatUsage {
  return {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens },
  };
}

/** The subset of an Anthropic message this translation reads (already checked by zod). */
export interface AnthropicMessageLike {
  id: string;
  model: string;
  content: Array<{ type: string; [field: string]: unknown }>;
  stop_reason?: string | null | undefined;
  usage: AnthropicUsage;
}

/**
 * Text blocks are concatenated into `content` (null when there are none), `tool_use` blocks
 * become `tool_calls` with the input serialised as the arguments string, `thinking` and
 * `redacted_thinking` blocks are kept as they are in `thinking_blocks`; other blocks (server
 * tools) are dropped.
 */
export function toChatCompletion(message: AnthropicMessageLike, createdSeconds: number): ChatCompletion {
  const texts: string[] = [];
  const toolCalls: ChatToolCall[] = [];
  const thinking: ThinkingBlock[] = [];
  for (const block of message.content) {
    if (block.type === "text" && typeof block["text"] === "string") texts.push(block["text"]);
    else if (block.type === "thinking" || block.type === "redacted_thinking") {
      const parsed = thinkingBlockSchema.safeParse(block);
      if (parsed.success) thinking.push(parsed.data);
    } else if (block.type === "tool_use") {
      toolCalls.push({
        id: String(block["id"]),
        type: "function",
        function: { name: String(block["name"]), arguments: JSON.stringify(block["input"] ?? {}) },
      });
    }
  }
  const completion: ChatCompletion = {
    id: message.id,
    object: "chat.completion",
    created: createdSeconds,
    model: message.model,
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: texts.length > 0 ? texts.join("") : null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
          ...(thinking.length > 0 ? { [THINKING_BLOCKS_FIELD]: thinking } : {}),
        },
        finish_reason: finishReasonFrom(message.stop_reason) ?? "stop",
      },
    ],
    usage: chatUsageFrom(usageFrom(message.usage)),
  };
  return completion;
}
