import type { ChatCompletionChunk, ChatRequest } from "../chat/index.js";
import type { Clock } from "../events/index.js";
import {
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
  if (call.signal?.aborted) return Promise.reject(call.signal.reason);
  const controller = new AbortController();
  const cancels = new Set<() => void>();
  const timeout = (what: string, ms: number) => () =>
    controller.abort(
      new ProviderError(
        ProviderErrorClass.Timeout,
        `${adapter.name} exceeded the ${what} timeout of ${ms} ms`,
      ),
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
  const streaming = call.onChunk !== undefined;
  let cancelWait = streaming ? arm("time-to-first-token", timeouts.timeToFirstTokenMs) : () => undefined;
  const onChunk = call.onChunk;
  const relay = onChunk
    ? (chunk: ChatCompletionChunk) => {
        if (controller.signal.aborted) return;
        cancelWait();
        cancelWait = arm("idle", timeouts.idleMs);
        onChunk(chunk);
      }
    : undefined;

  const onCallerAbort = () => controller.abort(call.signal?.reason);
  call.signal?.addEventListener("abort", onCallerAbort, { once: true });
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
  });
  const result = adapter.complete({
    upstreamModel: call.upstreamModel,
    request: call.request,
    signal: controller.signal,
    ...(relay ? { onChunk: relay } : {}),
    ...(call.traceContext ? { traceContext: call.traceContext } : {}),
  });
  aborted.catch(() => undefined);
  // The adapter's own rejection after an abort is the same reason or noise; never unhandled.
  result.catch(() => undefined);
  return Promise.race([result, aborted]).finally(() => {
    for (const cancel of cancels) cancel();
    call.signal?.removeEventListener("abort", onCallerAbort);
  });
}
