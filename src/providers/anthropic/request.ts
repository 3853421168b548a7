import {
  type AnthropicContentBlock,
  type AnthropicMessageParam,
  type AnthropicToolChoice,
  type CacheControl,
  type ChatMessage,
  type ChatRequest,
  THINKING_FIELD,
  thinkingBlocksOf,
  withCacheControlOf,
} from "../../chat/index.js";
import { ProviderError } from "../provider-error.js";
import { ProviderErrorClass } from "../types.js";

/** `max_tokens` sent when the request sets none: Anthropic requires it. */
export const DEFAULT_MAX_TOKENS = 4096;

export interface AnthropicRequestBody {
  model: string;
  max_tokens: number;
  messages: AnthropicMessageParam[];
  /** A string, or text blocks when one of them carries a cache breakpoint. */
  system?: string | SystemBlock[];
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  tools?: Array<{
    name: string;
    description?: string;
    input_schema: Record<string, unknown>;
    cache_control?: CacheControl;
  }>;
  tool_choice?: AnthropicToolChoice;
  metadata?: { user_id: string };
  /** Structured output: `response_format` json_schema as Anthropic's `output_config.format`. */
  output_config?: { format: { type: "json_schema"; schema: Record<string, unknown> } };
  /** Extended thinking, as the request asked for it (the canonical `thinking` field). */
  thinking?: Record<string, unknown>;
  stream?: boolean;
}

/** A text block of the top-level `system`. */
export interface SystemBlock {
  type: "text";
  text: string;
  cache_control?: CacheControl;
}

function untranslatable(message: string): ProviderError {
  return new ProviderError(
    ProviderErrorClass.BadRequest,
    `Cannot send this request to Anthropic: ${message}`,
  );
}

function textOf(content: ChatMessage["content"], where: string): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  return content
    .map((part) => {
      if (part.type !== "text" || typeof part["text"] !== "string")
        throw untranslatable(`${where} may hold only text parts, found "${part.type}"`);
      return part["text"] as string;
    })
    .join("");
}

const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;

function imageBlock(part: Record<string, unknown>): AnthropicContentBlock {
  const imageUrl = part["image_url"];
  const url =
    typeof imageUrl === "string"
      ? imageUrl
      : typeof imageUrl === "object" && imageUrl !== null
        ? (imageUrl as { url?: unknown }).url
        : undefined;
  if (typeof url !== "string" || url.length === 0) throw untranslatable("an image_url part has no url");
  const data = DATA_URL.exec(url);
  const source = data ? { type: "base64", media_type: data[1]!, data: data[2]! } : { type: "url", url };
  return { type: "image", source, ...withCacheControlOf(part) } as AnthropicContentBlock;
}

function userBlocks(content: ChatMessage["content"]): AnthropicContentBlock[] {
  if (content === undefined || content === null) return [];
  if (typeof content === "string") return content.length > 0 ? [{ type: "text", text: content }] : [];
  return content.map((part): AnthropicContentBlock => {
    if (part.type === "text" && typeof part["text"] === "string")
      return { type: "text", text: part["text"], ...withCacheControlOf(part) };
    if (part.type === "image_url") return imageBlock(part);
    throw untranslatable(`content parts of type "${part.type}" have no Anthropic equivalent`);
  });
}

function toolInput(argumentsJson: string, callId: string): Record<string, unknown> {
  if (argumentsJson.trim().length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(argumentsJson);
  } catch {
    throw untranslatable(`the arguments of tool call ${callId} are not valid JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw untranslatable(`the arguments of tool call ${callId} are not a JSON object`);
  return value as Record<string, unknown>;
}

function assistantBlocks(message: ChatMessage): AnthropicContentBlock[] {
  // Thinking goes back first and unchanged: Anthropic checks the signatures of a turn's
  // thinking blocks, which must precede its text and tool use.
  const thinking: AnthropicContentBlock[] = thinkingBlocksOf(message);
  const content = message.content;
  if (Array.isArray(content)) textOf(content, "an assistant message"); // Refuses anything but text.
  const blocks = userBlocks(content);
  for (const call of message.tool_calls ?? []) {
    blocks.push({
      type: "tool_use",
      id: call.id,
      name: call.function.name,
      input: toolInput(call.function.arguments, call.id),
      ...withCacheControlOf(call),
    });
  }
  return [...thinking, ...blocks];
}

function toolResultBlock(message: ChatMessage): AnthropicContentBlock {
  if (!message.tool_call_id) throw untranslatable("a tool message has no tool_call_id");
  return {
    type: "tool_result",
    tool_use_id: message.tool_call_id,
    content: textOf(message.content, "a tool message"),
    ...withCacheControlOf(message),
  };
}

/** Appends blocks to the last turn when it has the same role, else starts a turn. */
function appendTurn(
  turns: AnthropicMessageParam[],
  role: "user" | "assistant",
  blocks: AnthropicContentBlock[],
) {
  if (blocks.length === 0) return;
  const last = turns.at(-1);
  if (last !== undefined && last.role === role) {
    const existing: AnthropicContentBlock[] =
      typeof last.content === "string" ? [{ type: "text", text: last.content }] : last.content;
    last.content = [...existing, ...blocks];
    return;
  }
  turns.push({ role, content: blocks });
}

/**
 * A single text block is sent as a plain string, the shape most Anthropic examples use, unless
 * it carries a cache breakpoint, which only a block can hold.
 */
function compact(turn: AnthropicMessageParam): AnthropicMessageParam {
  const only = typeof turn.content === "string" ? undefined : turn.content;
  if (only?.length === 1 && only[0]!.type === "text" && !("cache_control" in only[0]!))
    return { role: turn.role, content: (only[0] as { text: string }).text };
  return turn;
}

function toolChoice(request: ChatRequest): AnthropicToolChoice | undefined {
  const choice = request.tool_choice;
  const parallel = (request as Record<string, unknown>)["parallel_tool_calls"];
  const disableParallel = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined || choice === null) {
    return parallel === false && request.tools?.length ? { type: "auto", ...disableParallel } : undefined;
  }
  if (choice === "none") return { type: "none" };
  if (choice === "auto") return { type: "auto", ...disableParallel };
  if (choice === "required") return { type: "any", ...disableParallel };
  if (typeof choice === "object") {
    const name = (choice as { function?: { name?: unknown } }).function?.name;
    if (typeof name === "string" && name.length > 0) return { type: "tool", name, ...disableParallel };
  }
  throw untranslatable("tool_choice must be none, auto, required or a named function");
}

function tools(request: ChatRequest): AnthropicRequestBody["tools"] {
  if (!request.tools || request.tools.length === 0) return undefined;
  return request.tools.map((tool) => {
    const fn = (tool as { function?: { name?: unknown; description?: unknown; parameters?: unknown } })
      .function;
    if (tool.type !== "function" || typeof fn?.name !== "string")
      throw untranslatable(`tools of type "${tool.type}" have no Anthropic equivalent`);
    const parameters =
      typeof fn.parameters === "object" && fn.parameters !== null
        ? (fn.parameters as Record<string, unknown>)
        : { type: "object", properties: {} };
    return {
      name: fn.name,
      ...(typeof fn.description === "string" ? { description: fn.description } : {}),
      input_schema: parameters,
      ...withCacheControlOf(tool),
    };
  });
}

/** The text blocks of a system or developer message, each keeping its cache breakpoint. */
function systemBlocks(message: ChatMessage): SystemBlock[] {
  const where = `a ${message.role} message`;
  if (!Array.isArray(message.content)) return [{ type: "text", text: textOf(message.content, where) }];
  textOf(message.content, where); // Refuses anything but text.
  return message.content.map((part) => ({
    type: "text",
    text: part["text"] as string,
    ...withCacheControlOf(part),
  }));
}

/**
 * The top-level `system`: the messages' text joined by blank lines, or, when a block carries a
 * cache breakpoint, the blocks themselves (Anthropic caches the prefix up to a marked block).
 */
function systemOf(messages: ChatMessage[]): AnthropicRequestBody["system"] {
  const blocks = messages.map(systemBlocks);
  if (blocks.some((message) => message.some((block) => block.cache_control !== undefined)))
    return blocks.flat().filter((block) => block.text.length > 0 || block.cache_control !== undefined);
  const text = blocks
    .map((message) => message.map((block) => block.text).join(""))
    .filter((part) => part.length > 0)
    .join("\n\n");
  return text.length > 0 ? text : undefined;
}

/** The schema of a `response_format: json_schema`; undefined for any other format. */
function jsonSchemaOf(format: ChatRequest["response_format"]): Record<string, unknown> | undefined {
  if (format?.type !== "json_schema") return undefined;
  const schema = (format as { json_schema?: { schema?: unknown } }).json_schema?.schema;
  return typeof schema === "object" && schema !== null ? (schema as Record<string, unknown>) : undefined;
}

/**
 * Builds the body of `POST /v1/messages` for `upstreamModel` from a canonical
 * (OpenAI-shaped) chat request. Pure.
 *
 * - `system` and `developer` messages, wherever they stand, become the top-level `system`
 *   (Anthropic has no system turn), joined by blank lines in order.
 * - `tool` messages become `tool_result` blocks of a user turn; assistant `tool_calls`
 *   become `tool_use` blocks. Consecutive turns of one role are merged into one turn, which
 *   is what Anthropic expects after a run of parallel tool results.
 * - `max_completion_tokens` ?? `max_tokens` ?? {@link DEFAULT_MAX_TOKENS} (Anthropic requires one).
 * - `temperature` is clamped to Anthropic's 0..1 (OpenAI allows up to 2).
 * - `stop` → `stop_sequences`; `user` → `metadata.user_id`; `tools`/`tool_choice`/
 *   `parallel_tool_calls` → `tools`/`tool_choice`; `thinking` and assistant turns'
 *   `thinking_blocks` (src/chat/thinking.ts) are sent as they are, and so is
 *   `cache_control` on parts, tool calls, tool messages and tools (src/chat/cache-control.ts),
 *   back on the block each became (`system` is then sent as blocks); `response_format`
 *   json_schema → `output_config.format` (structured output). Parameters Anthropic has no equivalent
 *   for (`response_format` json_object, `n`, penalties, ...) are not sent.
 *
 * Throws a `bad_request` {@link ProviderError} for what cannot be expressed (a content part
 * type Anthropic lacks, tool-call arguments that are not a JSON object).
 */
export function toAnthropicRequest(
  request: ChatRequest,
  upstreamModel: string,
  streaming: boolean,
): AnthropicRequestBody {
  const system: ChatMessage[] = [];
  const turns: AnthropicMessageParam[] = [];
  for (const message of request.messages) {
    switch (message.role) {
      case "system":
      case "developer":
        system.push(message);
        break;
      case "user":
        appendTurn(turns, "user", userBlocks(message.content));
        break;
      case "assistant":
        appendTurn(turns, "assistant", assistantBlocks(message));
        break;
      case "tool":
        appendTurn(turns, "user", [toolResultBlock(message)]);
        break;
    }
  }
  if (turns.length === 0) throw untranslatable("it holds no user or assistant message");

  const body: AnthropicRequestBody = {
    model: upstreamModel,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? DEFAULT_MAX_TOKENS,
    messages: turns.map(compact),
  };
  const systemPrompt = systemOf(system);
  if (systemPrompt !== undefined) body.system = systemPrompt;
  if (request.stop !== undefined && request.stop !== null)
    body.stop_sequences = typeof request.stop === "string" ? [request.stop] : request.stop;
  if (request.temperature !== undefined && request.temperature !== null)
    body.temperature = Math.min(1, request.temperature);
  if (request.top_p !== undefined && request.top_p !== null) body.top_p = request.top_p;
  const toolList = tools(request);
  if (toolList !== undefined) body.tools = toolList;
  const choice = toolChoice(request);
  if (choice !== undefined) body.tool_choice = choice;
  if (request.user !== undefined) body.metadata = { user_id: request.user };
  const thinking = (request as Record<string, unknown>)[THINKING_FIELD];
  if (typeof thinking === "object" && thinking !== null) body.thinking = thinking as Record<string, unknown>;
  const schema = jsonSchemaOf(request.response_format);
  if (schema !== undefined) body.output_config = { format: { type: "json_schema", schema } };
  if (streaming) body.stream = true;
  return body;
}
