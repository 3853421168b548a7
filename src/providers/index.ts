/**
 * Providers: the wire protocols Beamline speaks to model providers, the registry the
 * router looks them up in, and the built-in mock provider.
 */
export { type AnthropicAdapterOptions, createAnthropicAdapter } from "./anthropic/index.js";
export { type ChunkAssembler, createChunkAssembler } from "./chunk-assembler.js";
export { createGeminiAdapter, type GeminiAdapterOptions } from "./gemini/adapter.js";
export { MockFault } from "./mock/faults.js";
export { geminiBaseUrl } from "./mock/gemini.js";
export {
  type MockChatPath,
  type MockProvider,
  type MockProviderOptions,
  startMockProvider,
} from "./mock/server.js";
export {
  createNatsServiceAdapter,
  type NatsServiceAdapterOptions,
} from "./nats-service/adapter.js";
export {
  CONTRACT_VERSION as NATS_SERVICE_CONTRACT_VERSION,
  type ServiceChunk,
  type ServiceError,
  type ServiceFinal,
  type ServiceRequest,
  serviceSubject,
} from "./nats-service/contract.js";
export { createOpenAiAdapter, type OpenAiAdapterOptions } from "./openai/adapter.js";
export { ProviderError } from "./provider-error.js";
export { createProviderRegistry, type ProviderRegistry } from "./registry.js";
export { createSseParser, type SseEvent, type SseParser } from "./sse.js";
export {
  type EmbeddingsCall,
  type EmbeddingsProviderResult,
  httpProviderTelemetry,
  type ProviderAdapter,
  type ProviderCall,
  ProviderErrorClass,
  type ProviderResult,
  type ProviderTelemetry,
  type ProviderUsage,
} from "./types.js";
