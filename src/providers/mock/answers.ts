import type { ChatUsage } from "../../chat/index.js";
import {
  countMessageTokens,
  countPromptTokens,
  countTextTokens,
  tokenizerFor,
  truncateToTokens,
} from "../../tokens/index.js";

/**
 * The mock provider's deterministic answers: the same request always gets the same reply
 * and the same token counts. Pure; the HTTP server in `server.ts` only frames them. Tokens are
 * counted as a provider would for the model asked (src/tokens): OpenAI's encodings for OpenAI
 * model names, the conservative approximation for any other name.
 */

/** The parts of a chat request the mock reads; anything else is ignored. */
export interface MockChatRequest {
  model: string;
  messages: Array<{ role?: unknown; content?: unknown }>;
  tools?: Array<{ type?: unknown; function?: { name?: unknown } }>;
  tool_choice?: unknown;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
}

export interface MockToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface MockAnswer {
  /** Text of the reply; null when the answer is a tool call. */
  content: string | null;
  toolCall: MockToolCall | undefined;
  finishReason: "stop" | "length" | "tool_calls";
  usage: ChatUsage;
}

/** Longest part of the last message echoed back, in characters. */
const EXCERPT_CHARS = 80;

/** The text of a message's content: the string itself or its `text` parts joined. */
export function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  let text = "";
  for (const part of content) {
    if (typeof part === "object" && part !== null && typeof (part as { text?: unknown }).text === "string") {
      text += (part as { text: string }).text;
    }
  }
  return text;
}

function excerpt(text: string): string {
  const collapsed = text.replace(/\s+/g, " ").trim();
  return collapsed.length > EXCERPT_CHARS ? `${collapsed.slice(0, EXCERPT_CHARS)}…` : collapsed;
}

function positiveInteger(value: unknown): number | undefined {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : undefined;
}

function firstFunctionTool(request: MockChatRequest): string | undefined {
  if (request.tool_choice === "none" || !Array.isArray(request.tools)) return undefined;
  for (const tool of request.tools) {
    const name = tool?.function?.name;
    if (tool?.type === "function" && typeof name === "string" && name.length > 0) return name;
  }
  return undefined;
}

/**
 * The reply to a request. With function tools offered (and `tool_choice` not `none`) and a
 * user message last, the mock calls the first tool with `{"input": <excerpt>}`; after a tool
 * result it answers in text, as an agent loop expects. A text reply echoes an excerpt of the
 * last message and is cut to `max_completion_tokens`/`max_tokens` (finish reason `length`).
 * Cached tokens pretend the leading system/developer messages are a cached prefix.
 */
export function answerFor(request: MockChatRequest): MockAnswer {
  const kind = tokenizerFor({ provider: "mock", upstreamModel: request.model });
  const tools = Array.isArray(request.tools) ? request.tools : undefined;
  const promptTokens = countPromptTokens(kind, { messages: request.messages, tools });
  let cachedTokens = 0;
  for (const message of request.messages) {
    if (message.role !== "system" && message.role !== "developer") break;
    cachedTokens += countMessageTokens(kind, message);
  }
  // Rounding per message can exceed the prompt's own rounded total by a token or two.
  cachedTokens = Math.min(cachedTokens, promptTokens);
  const last = request.messages[request.messages.length - 1];
  const lastText = excerpt(messageText(last?.content));
  const usage = (completionTokens: number): ChatUsage => ({
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  });

  const toolName = last?.role === "user" ? firstFunctionTool(request) : undefined;
  if (toolName !== undefined) {
    const args = JSON.stringify({ input: lastText });
    return {
      content: null,
      toolCall: { id: `call_mock_${request.messages.length}`, name: toolName, arguments: args },
      finishReason: "tool_calls",
      usage: usage(countTextTokens(kind, toolName) + countTextTokens(kind, args)),
    };
  }

  let content =
    last?.role === "tool"
      ? `Mock provider received the tool result: ${lastText}`
      : lastText.length > 0
        ? `Mock provider reply to: ${lastText}`
        : "Mock provider reply.";
  let finishReason: MockAnswer["finishReason"] = "stop";
  const limit = positiveInteger(request.max_completion_tokens) ?? positiveInteger(request.max_tokens);
  if (limit !== undefined && countTextTokens(kind, content) > limit) {
    content = truncateToTokens(kind, content, limit);
    finishReason = "length";
  }
  return { content, toolCall: undefined, finishReason, usage: usage(countTextTokens(kind, content)) };
}

/**
 * Splits text into `count` pieces of near-equal length (fewer if the text is shorter),
 * never inside a surrogate pair.
 */
export function splitIntoPieces(text: string, count: number): string[] {
  if (text.length === 0) return [];
  const size = Math.max(1, Math.ceil(text.length / count));
  const pieces: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + size);
    const code = text.charCodeAt(end - 1);
    if (end < text.length && code >= 0xd800 && code <= 0xdbff) end++;
    pieces.push(text.slice(start, end));
    start = end;
  }
  return pieces;
}
