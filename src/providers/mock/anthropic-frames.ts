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
    ? (body["tools"] as Array<{ name?: unknown; input_schema?: unknown }>).map((tool) => ({
        type: "function",
        function: { name: tool?.name, parameters: tool?.input_schema },
      }))
    : undefined;
  const format = (body["output_config"] as { format?: { type?: unknown; schema?: unknown } } | undefined)
    ?.format;
  const thinking = (body["thinking"] as { type?: unknown } | undefined)?.type;
  return {
    model: String(body["model"]),
    messages,
    ...(tools === undefined ? {} : { tools }),
    ...toolChoiceOf(body["tool_choice"]),
    ...(format?.type === "json_schema"
      ? { response_format: { type: "json_schema", json_schema: { schema: format.schema } } }
      : {}),
    ...(thinking === "enabled" || thinking === "adaptive" ? { thinking: true } : {}),
    max_tokens: body["max_tokens"],
  };
}

/** Anthropic's `tool_choice` in OpenAI's terms: any → required, tool → the named function. */
function toolChoiceOf(choice: unknown): Pick<MockChatRequest, "tool_choice"> {
  const record = choice as { type?: unknown; name?: unknown } | undefined;
  switch (record?.type) {
    case "none":
      return { tool_choice: "none" };
    case "any":
      return { tool_choice: "required" };
    case "tool":
      return { tool_choice: { type: "function", function: { name: record.name } } };
    default:
      return {};
  }
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

/**
 * The signature of the mock's thinking: derived from the text, so the same thinking is
 * signed alike and a client that sends it back unchanged can be recognised.
 */
export function mockThinkingSignature(thinking: string): string {
  return `mock-sig-${Buffer.from(thinking, "utf8").toString("base64url").slice(0, 24)}`;
}

function thinkingBlock(answer: MockAnswer): AnthropicResponseBlock[] {
  if (answer.thinking === undefined) return [];
  return [{ type: "thinking", thinking: answer.thinking, signature: mockThinkingSignature(answer.thinking) }];
}

/** The body of a non-streamed answer. */
export function anthropicMessageBody(answer: MockAnswer, meta: MessageMeta): AnthropicMessage {
  const reply: AnthropicResponseBlock =
    answer.toolCall === undefined
      ? { type: "text", text: answer.content ?? "" }
      : {
          type: "tool_use",
          id: toolUseId(answer),
          name: answer.toolCall.name,
          input: JSON.parse(answer.toolCall.arguments) as unknown,
        };
  return {
    id: meta.id,
    type: "message",
    role: "assistant",
    model: meta.model,
    content: [...thinkingBlock(answer), reply],
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
 * one output token), then per block (thinking first, when asked for) `content_block_start`
 * (the first followed by a `ping`), the thinking, text or tool input in `pieces`
 * `content_block_delta`s (a thinking block ends with its `signature_delta`),
 * `content_block_stop`; then `message_delta` (stop reason, output usage) and `message_stop`.
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
  const blocks: Array<{ start: Record<string, unknown>; deltas: Array<Record<string, unknown>> }> = [];
  if (answer.thinking !== undefined) {
    blocks.push({
      start: { type: "thinking", thinking: "", signature: "" },
      deltas: [
        ...splitIntoPieces(answer.thinking, pieces).map((thinking) => ({ type: "thinking_delta", thinking })),
        { type: "signature_delta", signature: mockThinkingSignature(answer.thinking) },
      ],
    });
  }
  blocks.push(
    toolCall === undefined
      ? {
          start: { type: "text", text: "" },
          deltas: splitIntoPieces(answer.content ?? "", pieces).map((text) => ({ type: "text_delta", text })),
        }
      : {
          start: { type: "tool_use", id: toolUseId(answer), name: toolCall.name, input: {} },
          deltas: splitIntoPieces(toolCall.arguments, pieces).map((partial_json) => ({
            type: "input_json_delta",
            partial_json,
          })),
        },
  );
  blocks.forEach((block, index) => {
    frames.push(
      anthropicFrame({ type: "content_block_start", index, content_block: block.start } as { type: string }),
    );
    if (index === 0) frames.push(anthropicFrame({ type: "ping" }));
    for (const delta of block.deltas) {
      frames.push(anthropicFrame({ type: "content_block_delta", index, delta } as { type: string }));
    }
    frames.push(anthropicFrame({ type: "content_block_stop", index } as { type: string }));
  });
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
