import type { Capability, CatalogModel } from "../../catalog/index.js";
import type { ChatRequest } from "../../chat/index.js";
import { promptTokenCounter, TokenizerKinds, tokenizerFor } from "../../tokens/index.js";

/**
 * What a request needs from a model: the capabilities its fields imply, its estimated prompt
 * size (counted by the tokenizers of the models considered), and the completion size it asks for.
 */
export interface RequestNeeds {
  capabilities: Capability[];
  /**
   * Estimated prompt tokens: the most any considered model counts (each with its own
   * tokenizer, src/tokens), so a reservation priced at any candidate bounds its prompt.
   */
  promptTokens: number;
  /** `max_completion_tokens` or `max_tokens` when the request sets one. */
  requestedOutputTokens: number | undefined;
}

const IMAGE_PART_TYPES = new Set(["image_url", "input_image", "image"]);

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

/** A request's needs, plus its prompt tokens as one particular model counts them. */
export interface AnalysedRequest extends RequestNeeds {
  promptTokensFor(model: Pick<CatalogModel, "provider" | "upstreamModel">): number;
}

/**
 * What `request` needs from the models in `considered`. Each tokenizer runs at most once
 * however many models share it; with no model considered the prompt is counted with the
 * conservative approximation.
 */
export function analyseRequest(
  request: ChatRequest,
  considered: readonly Pick<CatalogModel, "provider" | "upstreamModel">[],
): AnalysedRequest {
  const count = promptTokenCounter(request);
  const promptTokensFor = (model: Pick<CatalogModel, "provider" | "upstreamModel">) =>
    count(tokenizerFor(model));
  const promptTokens =
    considered.length === 0
      ? count(TokenizerKinds.approximate)
      : Math.max(...considered.map((model) => promptTokensFor(model)));
  return {
    capabilities: requiredCapabilities(request),
    promptTokens,
    requestedOutputTokens: request.max_completion_tokens ?? request.max_tokens ?? undefined,
    promptTokensFor,
  };
}
