import type { z } from "zod";
import {
  type AnthropicContentBlock,
  type AnthropicMessageParam,
  type AnthropicRequest,
  anthropicRequestSchema,
  type ChatMessage,
  type ChatRequest,
  THINKING_BLOCKS_FIELD,
  THINKING_FIELD,
  type ThinkingBlock,
  thinkingBlockSchema,
  withCacheControlOf,
} from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import { parseChatRequest } from "./chat-completions.js";

/**
 * The Anthropic front door's request side: validation of a Messages API body and its
 * translation to Beamline's canonical (OpenAI-shaped) chat request. Pure.
 */

/**
 * A `POST /v1/messages/count_tokens` body: a Messages API request whose `max_tokens` may be
 * left out (Anthropic's `MessageCountTokensParams` has none).
 */
export const anthropicCountTokensSchema = anthropicRequestSchema.extend({
  max_tokens: anthropicRequestSchema.shape.max_tokens.optional(),
});
export type AnthropicCountTokensRequest = z.infer<typeof anthropicCountTokensSchema>;

function badRequest(message: string, param?: string): BeamlineError {
  return new BeamlineError("BL_BAD_REQUEST", message, param === undefined ? {} : { param });
}

type SystemBlock = { type: "text"; text: string; [field: string]: unknown };

/** A system entry's content as text blocks; anything but text is refused, naming the entry. */
function systemBlocksOf(content: unknown, where: string): SystemBlock[] {
  if (typeof content === "string") return content.length > 0 ? [{ type: "text", text: content }] : [];
  if (Array.isArray(content)) {
    return content.map((block, at) => {
      const record = block as { type?: unknown; text?: unknown } | null;
      if (record?.type !== "text" || typeof record.text !== "string")
        throw badRequest(`${where}.${at}: a system message may hold only text blocks.`, `${where}.${at}`);
      return record as SystemBlock;
    });
  }
  throw badRequest(`${where}: a system message's content must be a string or text blocks.`, where);
}

/**
 * Agent clients (and the SDK's `SystemMessageParam`) may put `role: "system"` entries inside
 * `messages`. They are hoisted into `system`, in order, after the top-level `system`, so the
 * rest of the door sees the Messages API's one system prompt. A body without such entries is
 * returned as it is.
 */
export function hoistSystemMessages(body: Record<string, unknown>): Record<string, unknown> {
  const messages = body["messages"];
  if (!Array.isArray(messages)) return body;
  const isSystem = (message: unknown) => (message as { role?: unknown } | null)?.role === "system";
  if (!messages.some(isSystem)) return body;
  const hoisted: SystemBlock[] = [];
  const rest: unknown[] = [];
  messages.forEach((message, at) => {
    if (isSystem(message))
      hoisted.push(...systemBlocksOf((message as { content?: unknown }).content, `messages.${at}.content`));
    else rest.push(message);
  });
  const top = body["system"];
  // A top-level system of blocks keeps its blocks (cache_control included); the schema checks them.
  let system: unknown[];
  if (top === undefined) system = [];
  else if (typeof top === "string") system = top.length > 0 ? [{ type: "text", text: top }] : [];
  else if (Array.isArray(top)) system = top;
  else return body; // Not a system prompt at all: the schema names the problem.
  return { ...body, system: [...system, ...hoisted], messages: rest };
}

/**
 * Validates a Messages API body (after {@link hoistSystemMessages}); the first problem names
 * the parameter.
 */
export function parseMessagesRequest<Schema extends z.ZodType<AnthropicCountTokensRequest>>(
  body: unknown,
  schema: Schema,
): z.infer<Schema>;
export function parseMessagesRequest(body: unknown): AnthropicRequest;
export function parseMessagesRequest(
  body: unknown,
  schema: z.ZodType<AnthropicCountTokensRequest> = anthropicRequestSchema,
): AnthropicCountTokensRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest("The request body must be a JSON object.");
  }
  const parsed = schema.safeParse(hoistSystemMessages(body as Record<string, unknown>));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = issue.path.join(".");
    throw badRequest(`${param || "body"}: ${issue.message}`, param || undefined);
  }
  return parsed.data;
}

type TextOrImagePart = (
  | { type: "text"; text: string }
  | { type: "image_url"; image_url: { url: string } }
) & { cache_control?: Record<string, unknown> };

/** A text or image block as a canonical part; its `cache_control` rides along (src/chat/cache-control.ts). */
function partOf(block: AnthropicContentBlock, where: string): TextOrImagePart {
  if (block.type === "text")
    return { type: "text", text: (block as { text: string }).text, ...withCacheControlOf(block) };
  if (block.type === "image") {
    const source = (block as { source: { type: string; media_type?: string; data?: string; url?: string } })
      .source;
    const url = source.type === "base64" ? `data:${source.media_type};base64,${source.data}` : source.url!;
    return { type: "image_url", image_url: { url }, ...withCacheControlOf(block) };
  }
  throw badRequest(
    `${where}: content blocks of type "${block.type}" are not supported by this gateway.`,
    where,
  );
}

function toolResultText(block: AnthropicContentBlock, where: string): string {
  const content = (block as { content?: string | AnthropicContentBlock[] }).content;
  if (content === undefined) return "";
  if (typeof content === "string") return content;
  return content
    .map((inner) => {
      if (inner.type !== "text")
        throw badRequest(`${where}: tool results may hold only text here, found "${inner.type}".`, where);
      return (inner as { text: string }).text;
    })
    .join("");
}

/** One Anthropic turn as canonical messages (a user turn with tool results becomes tool messages). */
function messagesOf(turn: AnthropicMessageParam, at: number): ChatMessage[] {
  const where = `messages.${at}.content`;
  if (typeof turn.content === "string") return [{ role: turn.role, content: turn.content }];
  if (turn.role === "assistant") {
    const texts: TextOrImagePart[] = [];
    const toolCalls: NonNullable<ChatMessage["tool_calls"]> = [];
    const thinking: ThinkingBlock[] = [];
    for (const block of turn.content) {
      if (block.type === "text") texts.push(partOf(block, where));
      else if (block.type === "thinking" || block.type === "redacted_thinking") {
        // Sent back unchanged to Anthropic-wire providers, which check the signatures.
        const parsed = thinkingBlockSchema.safeParse(block);
        if (!parsed.success)
          throw badRequest(
            `${where}: a ${block.type} block needs its ${block.type === "thinking" ? "thinking and signature" : "data"}.`,
            where,
          );
        thinking.push(parsed.data);
      } else if (block.type === "tool_use") {
        const use = block as { id: string; name: string; input: unknown };
        toolCalls.push({
          id: use.id,
          type: "function",
          function: { name: use.name, arguments: JSON.stringify(use.input ?? {}) },
          ...withCacheControlOf(block),
        });
      } else {
        throw badRequest(
          `${where}: assistant blocks of type "${block.type}" are not supported by this gateway.`,
          where,
        );
      }
    }
    const message: ChatMessage = { role: "assistant", content: contentOf(texts) ?? null };
    if (toolCalls.length > 0) message.tool_calls = toolCalls;
    if (thinking.length > 0) message[THINKING_BLOCKS_FIELD] = thinking;
    return [message];
  }
  // Tool results first: OpenAI's format wants them right after the assistant's tool calls.
  const toolMessages: ChatMessage[] = [];
  const parts: TextOrImagePart[] = [];
  for (const block of turn.content) {
    if (block.type === "tool_result") {
      const result = block as { tool_use_id: string; is_error?: boolean };
      const text = toolResultText(block, where);
      toolMessages.push({
        role: "tool",
        tool_call_id: result.tool_use_id,
        // OpenAI's format has no error flag for tool results; the model reads it in the text.
        content: result.is_error ? `Error: ${text}` : text,
        ...withCacheControlOf(block),
      });
    } else {
      parts.push(partOf(block, where));
    }
  }
  const content = contentOf(parts);
  return content === undefined ? toolMessages : [...toolMessages, { role: "user", content }];
}

/**
 * Parts as canonical content: text alone is joined into a string, unless a part carries a
 * cache breakpoint, which only a part can hold. Undefined for no parts.
 */
function contentOf(parts: TextOrImagePart[], separator = ""): ChatMessage["content"] | undefined {
  if (parts.length === 0) return undefined;
  const plainText = parts.every((part) => part.type === "text" && part.cache_control === undefined);
  return plainText ? parts.map((part) => (part as { text: string }).text).join(separator) : parts;
}

function toolChoiceOf(choice: AnthropicRequest["tool_choice"]): unknown {
  switch (choice?.type) {
    case undefined:
      return undefined;
    case "auto":
      return "auto";
    case "any":
      return "required";
    case "none":
      return "none";
    case "tool":
      return { type: "function", function: { name: (choice as { name: string }).name } };
  }
}

/**
 * The canonical request for a Messages API request: `system` becomes the first (system)
 * message, tool results become `tool` messages, `tool_use` blocks become `tool_calls`,
 * `stop_sequences` → `stop`, `metadata.user_id` → `user`, `tool_choice` any → required and
 * `disable_parallel_tool_use` → `parallel_tool_calls: false`, `thinking` and assistant
 * thinking blocks → the canonical `thinking` / `thinking_blocks` (src/chat/thinking.ts),
 * `output_config.format` (json_schema) → `response_format`, and `cache_control` on system,
 * text, image, tool_use and tool_result blocks and on tools → the canonical `cache_control` of
 * the part, tool call, tool message or tool they become (src/chat/cache-control.ts). `top_k`
 * and `output_config.effort` have no canonical equivalent and are not forwarded. The result is
 * checked against the canonical schema, so a request that cannot be expressed (e.g. more than
 * four stop sequences) is a `BL_BAD_REQUEST`.
 */
export function toChatRequest(request: AnthropicRequest): ChatRequest {
  const messages: ChatMessage[] = [];
  if (request.system !== undefined) {
    const system =
      typeof request.system === "string"
        ? request.system
        : contentOf(
            request.system.map((block) => ({ type: "text", text: block.text, ...withCacheControlOf(block) })),
            "\n\n",
          );
    if (system !== undefined && system !== null && system.length > 0)
      messages.push({ role: "system", content: system });
  }
  request.messages.forEach((turn, at) => {
    messages.push(...messagesOf(turn, at));
  });
  const chat: Record<string, unknown> = { model: request.model, messages, max_tokens: request.max_tokens };
  if (request.stream === true) chat["stream"] = true;
  if (request.temperature !== undefined) chat["temperature"] = request.temperature;
  if (request.top_p !== undefined) chat["top_p"] = request.top_p;
  if (request.stop_sequences !== undefined && request.stop_sequences.length > 0)
    chat["stop"] = request.stop_sequences;
  if (request.metadata?.user_id) chat["user"] = request.metadata.user_id;
  if (request.thinking !== undefined) chat[THINKING_FIELD] = request.thinking;
  const format = (request["output_config"] as { format?: { type?: unknown; schema?: unknown } } | undefined)
    ?.format;
  if (format?.type === "json_schema" && typeof format.schema === "object" && format.schema !== null)
    chat["response_format"] = { type: "json_schema", json_schema: { name: "output", schema: format.schema } };
  if (request.tools !== undefined && request.tools.length > 0) {
    chat["tools"] = request.tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        parameters: tool.input_schema,
      },
      ...withCacheControlOf(tool),
    }));
  }
  const toolChoice = toolChoiceOf(request.tool_choice);
  if (toolChoice !== undefined) chat["tool_choice"] = toolChoice;
  if ((request.tool_choice as { disable_parallel_tool_use?: boolean } | undefined)?.disable_parallel_tool_use)
    chat["parallel_tool_calls"] = false;
  return parseChatRequest(chat);
}
