import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatRequest,
  EmbeddingsRequest,
  EmbeddingsResult,
} from "../chat/index.js";

/** Why a provider call failed, in words every adapter maps its wire errors to. */
export const ProviderErrorClass = {
  RateLimited: "rate_limited",
  Overloaded: "overloaded",
  ServerError: "server_error",
  Timeout: "timeout",
  Connection: "connection",
  BadRequest: "bad_request",
  ContextWindow: "context_window",
  Auth: "auth",
  Malformed: "malformed",
  StreamInterrupted: "stream_interrupted",
} as const;
export type ProviderErrorClass = (typeof ProviderErrorClass)[keyof typeof ProviderErrorClass];

/** Token counts of one call, normalised across providers. */
export interface ProviderUsage {
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served from the provider's cache, where it reports them. */
  cachedTokens: number;
}

export interface ProviderCall {
  /** The model name the provider knows (not Beamline's alias). */
  upstreamModel: string;
  request: ChatRequest;
  /** Aborts the HTTP exchange (timeouts, client gone, shutdown). */
  signal?: AbortSignal;
  /**
   * Present for streaming calls: receives every chunk as soon as it is parsed, before the
   * call resolves. Chunks carry the provider's own id/model; the caller rewrites them.
   */
  onChunk?: (chunk: ChatCompletionChunk) => void;
  /**
   * W3C trace context of the call's span (`traceparent`, and `tracestate` when the trace has
   * one): sent to the provider as request headers (HTTP) or message headers (NATS), so its own
   * spans join the request's trace.
   */
  traceContext?: Readonly<Record<string, string>>;
}

/** How a provider appears in OpenTelemetry GenAI telemetry (spans and `gen_ai_*` metrics). */
export interface ProviderTelemetry {
  /** `gen_ai.provider.name`: the convention's well-known value where one applies. */
  genAiProviderName: string;
  /** `server.address` / `server.port` of an HTTP provider. */
  serverAddress?: string;
  serverPort?: number;
}

/** The {@link ProviderTelemetry} of an HTTP provider at `url`. */
export function httpProviderTelemetry(genAiProviderName: string, url: URL): ProviderTelemetry {
  const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
  return { genAiProviderName, serverAddress: url.hostname, serverPort: port };
}

export interface ProviderResult {
  /** The whole answer; for a streamed call, assembled from the chunks. */
  completion: ChatCompletion;
  usage: ProviderUsage;
  /** Milliseconds from sending the request to the first content byte. */
  timeToFirstTokenMs: number;
}

export interface EmbeddingsCall {
  /** The model name the provider knows (not Beamline's alias). */
  upstreamModel: string;
  request: EmbeddingsRequest;
  /** Aborts the HTTP exchange (timeouts, client gone, shutdown). */
  signal?: AbortSignal;
}

export interface EmbeddingsProviderResult {
  /** The vectors as floats, in input order, in OpenAI's shape. */
  embeddings: EmbeddingsResult;
  /** Input tokens in `promptTokens`; an embedding produces no completion tokens. */
  usage: ProviderUsage;
  /** Milliseconds from sending the request to the answer's headers. */
  timeToFirstTokenMs: number;
}

/** One provider's wire protocol. Implementations are stateless apart from connection pools. */
export interface ProviderAdapter {
  /** Provider name as the model catalog refers to it (`openai`, `mock`, ...). */
  readonly name: string;
  /** How its calls are described in traces and GenAI metrics; by default the name is the provider. */
  readonly telemetry?: ProviderTelemetry;
  complete(call: ProviderCall): Promise<ProviderResult>;
  /**
   * Embeds the request's inputs; absent on wires that have no embeddings (Anthropic), where a
   * call fails as `bad_request` and the executor fails over.
   */
  embed?(call: EmbeddingsCall): Promise<EmbeddingsProviderResult>;
  /** Releases pooled connections. */
  close(): Promise<void>;
}
