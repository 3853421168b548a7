/**
 * The one canonical chat wire shape (OpenAI Chat Completions), the Anthropic Messages shape and
 * the OpenAI Responses shape with its pure translation onto the canonical one.
 */
export type {
  AnthropicContentBlock,
  AnthropicErrorBody,
  AnthropicMessage,
  AnthropicMessageParam,
  AnthropicRequest,
  AnthropicResponseBlock,
  AnthropicStopReason,
  AnthropicStreamEvent,
  AnthropicToolChoice,
  AnthropicUsage,
} from "./anthropic.js";
export {
  ANTHROPIC_VERSION,
  anthropicMessageSchema,
  anthropicRequestSchema,
  anthropicStreamEventSchema,
} from "./anthropic.js";
export type { CacheControl } from "./cache-control.js";
export {
  CACHE_CONTROL_FIELD,
  cacheControlOf,
  cacheControlSchema,
  withCacheControlOf,
  withoutCacheControl,
} from "./cache-control.js";
export type { Embedding, EmbeddingInput, EmbeddingsRequest, EmbeddingsResult } from "./embeddings.js";
export {
  embeddingInputs,
  embeddingSchema,
  embeddingsAnswer,
  embeddingsRequestSchema,
  embeddingsResultSchema,
  embeddingsRoutingView,
  embeddingToBase64,
  MAX_EMBEDDING_INPUTS,
  withRoutedInputs,
} from "./embeddings.js";
export type {
  ResponsesFunctionCall,
  ResponsesInputItem,
  ResponsesOutputItem,
  ResponsesOutputMessage,
  ResponsesRequest,
  ResponsesResponse,
  ResponsesStreamEvent,
  ResponsesUsage,
} from "./responses.js";
export { responsesRequestSchema } from "./responses.js";
export type { ResponsesEcho, ResponsesTokenCounts } from "./responses-answer.js";
export {
  assistantMessageOf,
  inProgressResponse,
  outputItemsOf,
  responsesEchoOf,
  responsesStatusOf,
  responsesUsageOf,
  toResponsesResponse,
} from "./responses-answer.js";
export {
  functionCallItemIdOf,
  messageItemIdOf,
  requestIdOfItem,
  requestIdOfResponse,
  responseIdOf,
} from "./responses-ids.js";
export type { ResponsesChat, ResponsesContext } from "./responses-request.js";
export {
  parseResponsesRequest,
  previousExchange,
  referencedItemIds,
  toChatFromResponses,
} from "./responses-request.js";
export type { ChunkToResponsesTranslator } from "./responses-stream.js";
export { createChunkToResponsesTranslator } from "./responses-stream.js";
export type { ThinkingBlock, ThinkingBlockDelta } from "./thinking.js";
export {
  THINKING_BLOCKS_FIELD,
  THINKING_FIELD,
  thinkingBlockSchema,
  thinkingBlocksOf,
  thinkingDeltasOf,
} from "./thinking.js";
export type {
  ChatChoice,
  ChatChunkChoice,
  ChatChunkDelta,
  ChatCompletion,
  ChatCompletionChunk,
  ChatMessage,
  ChatRequest,
  ChatToolCall,
  ChatUsage,
} from "./wire.js";
export {
  chatAnswerSchema,
  chatChunkChoiceSchema,
  chatChunkDeltaSchema,
  chatCompletionChunkSchema,
  chatCompletionSchema,
  chatRequestSchema,
  chatUsageSchema,
} from "./wire.js";
