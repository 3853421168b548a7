import type { ChatCompletionChunk, ChatRequest, EmbeddingsRequest } from "../chat/index.js";
import type { Clock } from "../events/index.js";
import {
  type EmbeddingsProviderResult,
  type ProviderAdapter,
  ProviderError,
  ProviderErrorClass,
  type ProviderResult,
} from "../providers/index.js";

/** The three timeouts the executor enforces around any adapter (connect is the adapter's own). */
export interface CallTimeouts {
  timeToFirstTokenMs: number;
  idleMs: number;
  totalMs: number;
}

export interface TimedCall {
  adapter: ProviderAdapter;
  upstreamModel: string;
  request: ChatRequest;
  /** Streaming when present; see ProviderCall.onChunk. */
  onChunk?: (chunk: ChatCompletionChunk) => void;
  /** The caller's own cancellation (client gone, shutdown): rejects with its reason, unchanged. */
  signal?: AbortSignal;
  /** Passed to the adapter unchanged; see ProviderCall.traceContext. */
  traceContext?: Readonly<Record<string, string>>;
}

/**
 * Calls an adapter under the time-to-first-chunk, idle-between-chunks and total deadlines,
 * whatever its wire protocol. A deadline aborts the call's signal with a `timeout`
 * ProviderError and rejects with it at once, even if the adapter ignores the signal; chunks
 * that arrive after that are dropped, so a zombie call can never reach the client.
 * Time-to-first-token and idle apply to streaming calls; a plain call has only the total.
 */
export function callWithTimeouts(
  call: TimedCall,
  timeouts: CallTimeouts,
  clock: Clock,
): Promise<ProviderResult> {
  const { adapter } = call;
  return underDeadlines(adapter.name, call.signal, call.onChunk, timeouts, clock, (signal, onChunk) =>
    adapter.complete({
      upstreamModel: call.upstreamModel,
      request: call.request,
      signal,
      ...(onChunk ? { onChunk } : {}),
      ...(call.traceContext ? { traceContext: call.traceContext } : {}),
    }),
  );
}

/** An embeddings call to time: never streamed, so only the total deadline applies. */
export interface TimedEmbeddingsCall {
  adapter: ProviderAdapter;
  upstreamModel: string;
  request: EmbeddingsRequest;
  signal?: AbortSignal;
}

/**
 * {@link callWithTimeouts} for embeddings: the adapter's `embed` under the total deadline. An
 * adapter whose wire has no embeddings (Anthropic) fails as `bad_request`, which the executor
 * records like any refusal; routing never picks one unless the catalog says it embeds.
 */
export function embedWithTimeouts(
  call: TimedEmbeddingsCall,
  timeouts: CallTimeouts,
  clock: Clock,
): Promise<EmbeddingsProviderResult> {
  const { adapter } = call;
  const embed = adapter.embed;
  if (!embed) {
    return Promise.reject(
      new ProviderError(
        ProviderErrorClass.BadRequest,
        `${adapter.name} has no embeddings endpoint; list only embedding models of providers that have one`,
      ),
    );
  }
  return underDeadlines(adapter.name, call.signal, undefined, timeouts, clock, (signal) =>
    embed.call(adapter, { upstreamModel: call.upstreamModel, request: call.request, signal }),
  );
}

/** Runs `start` under the deadlines; `onChunk` present means streaming (first-token and idle apply). */
function underDeadlines<T>(
  name: string,
  callerSignal: AbortSignal | undefined,
  onChunk: ((chunk: ChatCompletionChunk) => void) | undefined,
  timeouts: CallTimeouts,
  clock: Clock,
  start: (signal: AbortSignal, onChunk: ((chunk: ChatCompletionChunk) => void) | undefined) => Promise<T>,
): Promise<T> {
  if (callerSignal?.aborted) return Promise.reject(callerSignal.reason);
  const controller = new AbortController();
  const cancels = new Set<() => void>();
  const timeout = (what: string, ms: number) => () =>
    controller.abort(
      new ProviderError(ProviderErrorClass.Timeout, `${name} exceeded the ${what} timeout of ${ms} ms`),
    );
  const arm = (what: string, ms: number): (() => void) => {
    const cancel = clock.setTimeout(timeout(what, ms), ms);
    cancels.add(cancel);
    return () => {
      cancel();
      cancels.delete(cancel);
    };
  };

  arm("total", timeouts.totalMs);
  const streaming = onChunk !== undefined;
  let cancelWait = streaming ? arm("time-to-first-token", timeouts.timeToFirstTokenMs) : () => undefined;
  const relay = onChunk
    ? (chunk: ChatCompletionChunk) => {
        if (controller.signal.aborted) return;
        cancelWait();
        cancelWait = arm("idle", timeouts.idleMs);
        onChunk(chunk);
      }
    : undefined;

  const onCallerAbort = () => controller.abort(callerSignal?.reason);
  callerSignal?.addEventListener("abort", onCallerAbort, { once: true });
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
  });
  const result = start(controller.signal, relay);
  aborted.catch(() => undefined);
  // The adapter's own rejection after an abort is the same reason or noise; never unhandled.
  result.catch(() => undefined);
  return Promise.race([result, aborted]).finally(() => {
    for (const cancel of cancels) cancel();
    callerSignal?.removeEventListener("abort", onCallerAbort);
  });
}
