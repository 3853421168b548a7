import { performance } from "node:perf_hooks";
import type { ChatCompletion, ChatCompletionChunk, ChatUsage } from "../../chat/index.js";
import { createChunkAssembler } from "../chunk-assembler.js";
import { createSseParser, type SseEvent } from "../sse.js";
import type { ProviderUsage } from "../types.js";

/** Thrown through the stream loop when the caller's `onChunk` throws; rethrown unchanged. */
export class CallbackFailure {
  constructor(readonly error: unknown) {}
}

/** Beamline's usage of an OpenAI-shaped `usage` object. */
export function providerUsageOf(usage: ChatUsage): ProviderUsage {
  return {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
  };
}

function hasContent(chunk: ChatCompletionChunk): boolean {
  for (const choice of chunk.choices) {
    const delta = choice.delta;
    if (delta.content || delta.refusal || (delta.tool_calls && delta.tool_calls.length > 0)) return true;
  }
  return false;
}

/**
 * Where a wire's stream reader hands its translated chunks: each is timed, assembled into the
 * whole completion, counted and passed to the caller's `onChunk`.
 */
export interface ChunkSink {
  /** Delivers one chunk; an `onChunk` that throws surfaces as a {@link CallbackFailure}. */
  deliver(chunk: ChatCompletionChunk): void;
  /** Chunks delivered so far: after the first, a failure is `stream_interrupted`. */
  readonly delivered: number;
  /** The usage carried by the chunks delivered so far, if any. */
  readonly usage: ChatUsage | undefined;
  /** The completion the delivered chunks add up to. */
  completion(): ChatCompletion;
  /** `performance.now()` of the first chunk with content, else of the first chunk, else now. */
  firstTokenAt(): number;
}

/** A {@link ChunkSink} delivering to `onChunk`. */
export function createChunkSink(onChunk: (chunk: ChatCompletionChunk) => void): ChunkSink {
  const assembler = createChunkAssembler();
  let delivered = 0;
  let firstChunkAt: number | undefined;
  let firstContentAt: number | undefined;
  return {
    deliver(chunk) {
      const now = performance.now();
      firstChunkAt ??= now;
      if (firstContentAt === undefined && hasContent(chunk)) firstContentAt = now;
      assembler.add(chunk);
      delivered++;
      try {
        onChunk(chunk);
      } catch (error) {
        throw new CallbackFailure(error);
      }
    },
    get delivered() {
      return delivered;
    },
    get usage() {
      return assembler.usage;
    },
    completion: () => assembler.completion(),
    firstTokenAt: () => firstContentAt ?? firstChunkAt ?? performance.now(),
  };
}

/**
 * Feeds the SSE events of a response body to `handle` until the body ends. Once `isComplete()`
 * the rest of the body is drained unparsed so the connection can be reused, unless
 * `parseAfterComplete` (a wire whose late events may still carry usage), and a connection that
 * breaks then is no failure: the whole answer was already delivered.
 */
export async function pumpSseEvents(
  body: AsyncIterable<Buffer>,
  handle: (event: SseEvent) => void,
  isComplete: () => boolean,
  parseAfterComplete = false,
): Promise<void> {
  const parser = createSseParser();
  try {
    for await (const piece of body) {
      if (!parseAfterComplete && isComplete()) continue;
      for (const event of parser.push(piece)) handle(event);
    }
    if (parseAfterComplete || !isComplete()) for (const event of parser.end()) handle(event);
  } catch (error) {
    if (!isComplete()) throw error;
  }
}
