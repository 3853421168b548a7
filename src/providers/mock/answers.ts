import type { ChatUsage } from "../../chat/index.js";
import {
  countMessageTokens,
  countPromptTokens,
  countTextTokens,
  tokenizerFor,
  truncateToTokens,
} from "../../tokens/index.js";
import { valueForSchema } from "./schema-value.js";

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
  tools?: Array<{ type?: unknown; function?: { name?: unknown; parameters?: unknown } }>;
  /** OpenAI's: `none`, `auto`, `required` or `{type: "function", function: {name}}`. */
  tool_choice?: unknown;
  /** OpenAI's: `{type: "json_object"}` or `{type: "json_schema", json_schema: {schema}}`. */
  response_format?: unknown;
  /** When set, the answer starts with this much thinking (Anthropic's extended thinking). */
  thinking?: boolean;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
}

export interface MockToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface MockAnswer {
  /** The model's thinking before the reply, when the request asked for it. */
  thinking?: string | undefined;
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

interface MockTool {
  name: string;
  parameters: unknown;
}

function functionTools(request: MockChatRequest): MockTool[] {
  if (!Array.isArray(request.tools)) return [];
  return request.tools.flatMap((tool) => {
    const name = tool?.function?.name;
    return tool?.type === "function" && typeof name === "string" && name.length > 0
      ? [{ name, parameters: tool.function?.parameters }]
      : [];
  });
}

/**
 * The tool the mock calls, if any: `tool_choice` naming a function forces it; `required`
 * forces a call; `auto` (the default) calls one at a user turn, as a model asked to use its
 * tools would. Which tool: the one named by the choice, else the first whose name appears in
 * the last message, else the first offered.
 */
function chosenTool(request: MockChatRequest, lastRole: unknown, lastText: string): MockTool | undefined {
  const tools = functionTools(request);
  const choice = request.tool_choice;
  if (tools.length === 0 || choice === "none") return undefined;
  const named = (choice as { function?: { name?: unknown } } | null)?.function?.name;
  if (typeof named === "string") return tools.find((tool) => tool.name === named);
  if (choice !== "required" && lastRole !== "user") return undefined;
  return tools.find((tool) => lastText.includes(tool.name)) ?? tools[0];
}

/** Arguments valid for the tool's parameter schema, strings filled with the prompt's excerpt. */
function toolArguments(tool: MockTool, text: string): string {
  const value = valueForSchema(tool.parameters ?? { type: "object" }, text);
  const object =
    typeof value === "object" && value !== null && !Array.isArray(value) ? value : { input: text };
  return JSON.stringify(object);
}

/**
 * The reply's text under `response_format`: `json_object` wraps the reply in `{"reply": …}`,
 * `json_schema` is a value valid for the schema (strings filled with the reply); undefined
 * for plain text.
 */
function formattedReply(format: unknown, reply: string): string | undefined {
  const record = format as { type?: unknown; json_schema?: { schema?: unknown } } | null | undefined;
  if (record?.type === "json_object") return JSON.stringify({ reply });
  if (record?.type === "json_schema")
    return JSON.stringify(valueForSchema(record.json_schema?.schema ?? {}, reply));
  return undefined;
}

/**
 * The reply to a request. With function tools offered, the mock calls the tool `tool_choice`
 * picks (see `chosenTool`) with arguments valid for its parameter schema, strings filled with
 * an excerpt of the last message; after a tool result it answers in text, as an agent loop
 * expects. A text reply echoes an excerpt of the last message, as JSON under
 * `response_format`, and is cut to `max_completion_tokens`/`max_tokens` (finish reason
 * `length`). With `thinking`, a deterministic thinking text comes first (counted as output).
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

  const thinking = request.thinking ? `Mock thinking about: ${lastText || "the request"}` : undefined;
  const thinkingTokens = thinking === undefined ? 0 : countTextTokens(kind, thinking);

  const tool = chosenTool(request, last?.role, lastText);
  if (tool !== undefined) {
    const args = toolArguments(tool, lastText);
    return {
      thinking,
      content: null,
      toolCall: { id: `call_mock_${request.messages.length}`, name: tool.name, arguments: args },
      finishReason: "tool_calls",
      usage: usage(thinkingTokens + countTextTokens(kind, tool.name) + countTextTokens(kind, args)),
    };
  }

  const reply =
    last?.role === "tool"
      ? `Mock provider received the tool result: ${lastText}`
      : lastText.length > 0
        ? `Mock provider reply to: ${lastText}`
        : "Mock provider reply.";
  let content = formattedReply(request.response_format, reply) ?? reply;
  let finishReason: MockAnswer["finishReason"] = "stop";
  const limit = positiveInteger(request.max_completion_tokens) ?? positiveInteger(request.max_tokens);
  if (limit !== undefined && countTextTokens(kind, content) > limit) {
    content = truncateToTokens(kind, content, limit);
    finishReason = "length";
  }
  return {
    thinking,
    content,
    toolCall: undefined,
    finishReason,
    usage: usage(thinkingTokens + countTextTokens(kind, content)),
  };
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
