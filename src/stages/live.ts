/**
 * The live channel: core NATS messages (not persisted) from the stages to the client
 * waiting on a request's `replyTo` subject. Chunks are the OpenAI chunk JSON, ready to be
 * written as an SSE `data:` line; the terminal message is the stored terminal event.
 */
export const LiveHeaders = {
  kind: "bl-live",
  /** Which execution produced a chunk: `<delivery>.<attempt>`. A change mid-stream means a
   * redelivered executor started over, and the client must not see two answers spliced. */
  generation: "bl-gen",
  sequence: "bl-seq",
  /** On a `cache` notice: what the response cache did (`miss`, `bypass`), sent before any chunk. */
  cache: "bl-cache",
} as const;

export const LiveKinds = {
  chunk: "chunk",
  /**
   * Several chunks of one generation in one message, newline-separated; `bl-seq` numbers the
   * first, the others follow it.
   */
  chunks: "chunks",
  terminal: "terminal",
  /** The response cache's status for a request that goes to a provider (docs/caching.md). */
  cache: "cache",
  /**
   * The rate limits as quota admission left them (the body: `request.completed`'s `rateLimits`
   * as JSON), sent before any chunk of a streamed answer, so its headers can carry them.
   */
  rateLimits: "rate-limits",
} as const;
