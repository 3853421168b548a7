import type { AnthropicErrorBody, AnthropicMessage, AnthropicResponseBlock } from "../../chat/index.js";
import { type MockAnswer, type MockChatRequest, messageText, splitIntoPieces } from "./answers.js";

/**
 * The mock provider's Anthropic dialect: how a Messages API request reads as the mock's
 * generic request, and how a {@link MockAnswer} is framed as a Messages API answer (plain or
 * SSE events). Pure.
 */

/** Identity of one mock message, shared by all of its events. */
export interface MessageMeta {
  id: string;
  model: string;
}

const STOP_REASON = { stop: "end_turn", length: "max_tokens", tool_calls: "tool_use" } as const;

/**
 * Reads a Messages API request as the mock's request: `system` becomes a leading system
 * message (the mock's cached prefix), a user turn holding `tool_result` blocks reads as a
 * tool message, and tools/tool_choice keep their meaning.
 */
export function mockRequestFromAnthropic(body: Record<string, unknown>): MockChatRequest {
  const messages: MockChatRequest["messages"] = [];
  const system = body["system"];
  if (system !== undefined) messages.push({ role: "system", content: system });
  for (const message of body["messages"] as Array<{ role?: unknown; content?: unknown }>) {
    const content = message.content;
    const toolResults = Array.isArray(content)
      ? content.filter((block) => (block as { type?: unknown })?.type === "tool_result")
      : [];
    if (message.role === "user" && toolResults.length > 0) {
      const text = toolResults
        .map((block) => {
          const result = (block as { content?: unknown }).content;
          return typeof result === "string" ? result : messageText(result);
        })
        .join(" ");
      messages.push({ role: "tool", content: text });
    } else {
      messages.push({ role: message.role, content });
    }
  }
  const tools = Array.isArray(body["tools"])
    ? (body["tools"] as Array<{ name?: unknown }>).map((tool) => ({
        type: "function",
        function: { name: tool?.name },
      }))
    : undefined;
  const choice = (body["tool_choice"] as { type?: unknown } | undefined)?.type;
  return {
    model: String(body["model"]),
    messages,
    ...(tools === undefined ? {} : { tools }),
    ...(choice === "none" ? { tool_choice: "none" } : {}),
    max_tokens: body["max_tokens"],
  };
}

function usageOf(answer: MockAnswer) {
  const cached = answer.usage.prompt_tokens_details?.cached_tokens ?? 0;
  // Anthropic's input_tokens exclude the tokens read from the cache.
  return {
    input_tokens: answer.usage.prompt_tokens - cached,
    output_tokens: answer.usage.completion_tokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

function toolUseId(answer: MockAnswer): string {
  return answer.toolCall!.id.replace(/^call_/, "toolu_");
}

/** The body of a non-streamed answer. */
export function anthropicMessageBody(answer: MockAnswer, meta: MessageMeta): AnthropicMessage {
  const content: AnthropicResponseBlock[] =
    answer.toolCall === undefined
      ? [{ type: "text", text: answer.content ?? "" }]
      : [
          {
            type: "tool_use",
            id: toolUseId(answer),
            name: answer.toolCall.name,
            input: JSON.parse(answer.toolCall.arguments) as unknown,
          },
        ];
  return {
    id: meta.id,
    type: "message",
    role: "assistant",
    model: meta.model,
    content,
    stop_reason: STOP_REASON[answer.finishReason],
    stop_sequence: null,
    usage: usageOf(answer),
  };
}

/** One SSE frame: `event: <type>` then its JSON data. */
export function anthropicFrame(data: { type: string }): string {
  return `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * The SSE frames of a streamed answer, in Anthropic's order: `message_start` (input usage,
 * one output token), `content_block_start`, `ping`, the text or tool input in `pieces`
 * `content_block_delta`s, `content_block_stop`, `message_delta` (stop reason, output
 * usage) and `message_stop`.
 */
export function anthropicStreamFrames(answer: MockAnswer, meta: MessageMeta, pieces: number): string[] {
  const usage = usageOf(answer);
  const frames = [
    anthropicFrame({
      type: "message_start",
      message: {
        id: meta.id,
        type: "message",
        role: "assistant",
        model: meta.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 },
      },
    } as { type: string }),
  ];
  const toolCall = answer.toolCall;
  const block =
    toolCall === undefined
      ? { type: "text", text: "" }
      : { type: "tool_use", id: toolUseId(answer), name: toolCall.name, input: {} };
  frames.push(
    anthropicFrame({ type: "content_block_start", index: 0, content_block: block } as { type: string }),
  );
  frames.push(anthropicFrame({ type: "ping" }));
  const deltas =
    toolCall === undefined
      ? splitIntoPieces(answer.content ?? "", pieces).map((text) => ({ type: "text_delta", text }))
      : splitIntoPieces(toolCall.arguments, pieces).map((partial_json) => ({
          type: "input_json_delta",
          partial_json,
        }));
  for (const delta of deltas) {
    frames.push(anthropicFrame({ type: "content_block_delta", index: 0, delta } as { type: string }));
  }
  frames.push(anthropicFrame({ type: "content_block_stop", index: 0 } as { type: string }));
  frames.push(
    anthropicFrame({
      type: "message_delta",
      delta: { stop_reason: STOP_REASON[answer.finishReason], stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    } as { type: string }),
  );
  frames.push(anthropicFrame({ type: "message_stop" }));
  return frames;
}

/** Anthropic's error body: `{"type":"error","error":{"type","message"},"request_id"}`. */
export function anthropicErrorBody(type: string, message: string, requestId = "req_mock"): string {
  const body: AnthropicErrorBody = { type: "error", error: { type, message }, request_id: requestId };
  return JSON.stringify(body);
}
