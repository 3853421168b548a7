/** Anthropic's Messages API: the adapter and the pure translations it is built from. */
export { type AnthropicAdapterOptions, createAnthropicAdapter } from "./adapter.js";
export { classifyAnthropicStatus, classifyAnthropicStreamError, parseAnthropicErrorBody } from "./errors.js";
export { type AnthropicRequestBody, DEFAULT_MAX_TOKENS, toAnthropicRequest } from "./request.js";
export { chatUsageFrom, finishReasonFrom, toChatCompletion, usageFrom } from "./response.js";
export { type AnthropicStreamTranslator, createAnthropicStreamTranslator } from "./stream.js";
