/** The one canonical chat wire shape (OpenAI Chat Completions) and the Anthropic Messages shape. */
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
export type { ThinkingBlock, ThinkingBlockDelta } from "./thinking.js";
export {
  THINKING_BLOCKS_FIELD,
  THINKING_FIELD,
  thinkingBlockSchema,
  thinkingBlocksOf,
  thinkingDeltasOf,
} from "./thinking.js";
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
