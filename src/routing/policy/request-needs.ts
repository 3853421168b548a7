import type { Capability } from "../../catalog/catalog.js";
import type { ChatRequest } from "../../chat/wire.js";

/**
 * What a request needs from a model, derived from the request alone: the capabilities its
 * fields imply, its estimated prompt size, and the completion size it asks for.
 */
export interface RequestNeeds {
  capabilities: Capability[];
  /** Estimated prompt tokens; see {@link estimatePromptTokens} for the approximation. */
  promptTokens: number;
  /** `max_completion_tokens` or `max_tokens` when the request sets one. */
  requestedOutputTokens: number | undefined;
}

/** Tokens an image part is counted as: a high-detail 512-pixel tile plus the base charge. */
export const IMAGE_PART_TOKENS = 765;
/** Per-message framing tokens (role, separators) that chat formats add. */
export const MESSAGE_OVERHEAD_TOKENS = 4;
/** Tokens that prime the assistant's reply. */
export const REPLY_PRIMING_TOKENS = 3;

const IMAGE_PART_TYPES = new Set(["image_url", "input_image", "image"]);

/**
 * Counts text as tokens without a tokenizer: ASCII runs at 4 characters per token (the usual
 * ratio for English prose and code on BPE vocabularies), every other code point as one token
 * (CJK and most non-Latin scripts take about one token per character, accented Latin less).
 * It errs high on non-ASCII Latin text and may err low on unusual ASCII (long digit strings,
 * base64), so context-window checks keep a margin by design rather than by accident.
 */
export function estimateTextTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (const char of text) {
    if (char.charCodeAt(0) < 128) ascii += 1;
    else other += 1;
  }
  return Math.ceil(ascii / 4) + other;
}

function partText(part: Record<string, unknown>): string {
  if (typeof part.text === "string") return part.text;
  if (typeof part.input_text === "string") return part.input_text;
  return "";
}

/**
 * Estimated prompt tokens of a chat request: message text, framing per message, a fixed
 * charge per image part, tool definitions as their JSON text, and reply priming.
 */
export function estimatePromptTokens(request: Pick<ChatRequest, "messages" | "tools">): number {
  let tokens = REPLY_PRIMING_TOKENS;
  for (const message of request.messages) {
    tokens += MESSAGE_OVERHEAD_TOKENS;
    if (typeof message.name === "string") tokens += estimateTextTokens(message.name);
    const content = message.content;
    if (typeof content === "string") tokens += estimateTextTokens(content);
    else if (Array.isArray(content)) {
      for (const part of content) {
        tokens += IMAGE_PART_TYPES.has(part.type) ? IMAGE_PART_TOKENS : estimateTextTokens(partText(part));
      }
    }
    if (message.tool_calls) tokens += estimateTextTokens(JSON.stringify(message.tool_calls));
  }
  if (request.tools && request.tools.length > 0) tokens += estimateTextTokens(JSON.stringify(request.tools));
  return tokens;
}

/** Capabilities the request's own fields imply: tools, image parts, JSON response formats, streaming. */
export function requiredCapabilities(
  request: Pick<ChatRequest, "messages" | "tools" | "response_format" | "stream">,
): Capability[] {
  const needs: Capability[] = [];
  if (request.tools && request.tools.length > 0) needs.push("tools");
  const hasImage = request.messages.some(
    (m) => Array.isArray(m.content) && m.content.some((part) => IMAGE_PART_TYPES.has(part.type)),
  );
  if (hasImage) needs.push("vision");
  const format = request.response_format?.type;
  if (format === "json_object" || format === "json_schema") needs.push("jsonMode");
  if (request.stream === true) needs.push("streaming");
  return needs;
}

export function analyseRequest(request: ChatRequest): RequestNeeds {
  return {
    capabilities: requiredCapabilities(request),
    promptTokens: estimatePromptTokens(request),
    requestedOutputTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
  };
}
