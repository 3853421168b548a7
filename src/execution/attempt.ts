import { attemptHealth } from "../../projections/index.js";
import type { ChatCompletionChunk, ChatRequest } from "../chat/index.js";
import { BeamlineError, isBeamlineError } from "../errors/index.js";
import type { EventData } from "../events/index.js";
import { ProviderError, ProviderErrorClass, type ProviderUsage } from "../providers/index.js";
import { countPromptTokens, countTextTokens, tokenizerFor } from "../tokens/index.js";
import type { AttemptRecord, Candidate, Cursor, ExecutionHooks, ExecutionInput, Skip } from "./executor.js";
import { decideNextStep, type NextStep } from "./policy.js";
import { callWithTimeouts, embedWithTimeouts } from "./timeouts.js";

// One call of one candidate and the attempt record it makes: pool slot, timeouts, chunk relay,
// and, for a failure, the executor's decision of what follows. Shared by the plain loop
// (executor.ts) and the hedged race (hedge.ts).

/** Error classes the executor adds to the providers' own (ProviderErrorClass). */
export const ExecutionErrorClass = {
  /** This instance's pool for the provider/model was saturated; the provider was not called. */
  Backpressure: "backpressure",
  /** Every remaining candidate was skipped (open breaker, no probe slot, not configured). */
  CircuitOpen: "circuit_open",
  /** The adapter threw something that is not a ProviderError (a bug). */
  Internal: "internal",
  /** The attempt lost a hedged race and was cancelled; the other attempt answered. */
  HedgeLost: "hedge_lost",
  /**
   * The candidate's wire cannot serve the request's operation (embeddings on a provider without
   * an embeddings API: a catalog mistake); the provider was not called, the next candidate is.
   */
  Unsupported: "unsupported",
} as const;

/** One attempt to make: the candidate, where the loop stands, and how the breaker admitted it. */
export interface AttemptPlan {
  input: ExecutionInput;
  hooks: ExecutionHooks;
  candidate: Candidate;
  cursor: Cursor;
  /** The breaker let this call through as a half-open probe. */
  probe: boolean;
  /** Candidates skipped on the way to this one. */
  skipped: Skip[];
  /** Set when the attempt runs in a hedged race (hedge.ts). */
  race?: RaceControl;
}

/** How a hedged race steers one of its two attempts. */
export interface RaceControl {
  /** Aborts this attempt alone, with {@link HedgeLostError}, when the other one won. */
  signal: AbortSignal;
  /**
   * Called at the attempt's first token (the first streamed chunk with choices, or the whole
   * answer of a plain call): true when this attempt won the race, false when the other had.
   */
  claim(): boolean;
}

/** The reason a race aborts its losing attempt with. */
export class HedgeLostError extends Error {
  constructor() {
    super("the other attempt of the hedged pair produced a token first");
    this.name = "HedgeLostError";
  }
}

type AttemptBase = ReturnType<typeof attemptBase>;
type Relay = ReturnType<typeof createRelay>;

/** One call of one candidate: pool slot, timeouts, chunk relay, and the decision that follows. */
export async function attemptOnce(plan: AttemptPlan): Promise<AttemptRecord> {
  const { input, hooks, candidate, race } = plan;
  const { clock } = input;
  const base = attemptBase(plan);
  if (input.embeddings && !input.providers.get(candidate.provider).embed) {
    const error = new BeamlineError(
      "BL_PROVIDER_UNAVAILABLE",
      `${candidate.provider} has no embeddings API; list embedding models only for providers that have one`,
    );
    return failedRecord(input, base, error, {
      errorClass: ExecutionErrorClass.Unsupported,
      retryable: false,
      chunksSent: 0,
      ...triesAndBackoff(plan),
    });
  }
  const slot = await acquireSlot(plan, base);
  if (slot.refused) return slot.refused;
  const started = clock.now();
  const timing = () => ({ startedAt: new Date(started).toISOString(), durationMs: clock.now() - started });
  const relayed = createRelay(input.request, candidate);
  const onChunk = input.stream ? chunkRelay(plan, relayed) : undefined;
  // In a race the attempt's own signal carries the caller's cancellation and the race's.
  const signal = race?.signal ?? hooks.signal;
  const traceContext = hooks.startCall?.({
    attempt: plan.cursor.attempt,
    provider: candidate.provider,
    model: candidate.model,
    upstreamModel: candidate.upstreamModel,
  });
  try {
    if (input.embeddings) {
      // Embeddings are never hedged (no first token to race for) and never streamed.
      const embedded = await embedWithTimeouts(
        {
          adapter: input.providers.get(candidate.provider),
          upstreamModel: candidate.upstreamModel,
          request: input.embeddings,
          ...(signal ? { signal } : {}),
        },
        input.policy,
        clock,
      );
      return {
        type: "attempt.succeeded",
        data: {
          ...base,
          ...timing(),
          timeToFirstTokenMs: embedded.timeToFirstTokenMs,
          usage: embedded.usage,
          embeddings: embedded.embeddings,
        },
      };
    }
    const result = await callWithTimeouts(
      {
        adapter: input.providers.get(candidate.provider),
        upstreamModel: candidate.upstreamModel,
        request: input.request,
        ...(onChunk ? { onChunk } : {}),
        ...(signal ? { signal } : {}),
        ...(traceContext ? { traceContext } : {}),
      },
      input.policy,
      clock,
    );
    // A plain call's first token is its whole answer, so it claims the race only now; an
    // answer that lost is billed with the usage its provider reported.
    if (race && !race.claim())
      return lostRecord(plan, base, timing(), { usage: result.usage, estimated: false });
    return {
      type: "attempt.succeeded",
      data: {
        ...base,
        ...timing(),
        timeToFirstTokenMs: result.timeToFirstTokenMs,
        usage: result.usage,
        // The zod type is the loose (pass-through) view of the same OpenAI object.
        completion: result.completion,
      },
    };
  } catch (thrown) {
    if (hooks.signal?.aborted) throw hooks.signal.reason;
    if (race?.signal.aborted && race.signal.reason instanceof HedgeLostError)
      return lostRecord(plan, base, timing(), relayed.usage());
    return callFailedRecord(plan, base, started, relayed, thrown);
  } finally {
    slot.release();
  }
}

/**
 * The record of an attempt that lost a hedged race and was cancelled: never final (the
 * winner decides the request), no health signal, and billed with what its provider reported
 * before the cancellation, or an estimate of the prompt and of the text it had streamed.
 */
function lostRecord(
  plan: AttemptPlan,
  base: AttemptBase,
  timing: { startedAt: string; durationMs: number },
  spent: { usage: ProviderUsage; estimated: boolean },
): AttemptRecord {
  const error = new BeamlineError(
    "BL_HEDGE_LOST",
    `${plan.candidate.provider}/${plan.candidate.model} lost the hedged race (the other attempt produced a token first) and was cancelled`,
  );
  const data: EventData<"attempt.failed"> = {
    ...base,
    ...timing,
    errorClass: ExecutionErrorClass.HedgeLost,
    error: { code: error.code, message: error.message, httpStatus: error.httpStatus, type: error.type },
    retryable: false,
    final: false,
    chunksSent: 0,
    next: "none",
    usage: spent.usage,
  };
  if (spent.estimated) data.usageEstimated = true;
  return { type: "attempt.failed", data };
}

/** The fields every record of this attempt carries, whatever its outcome. */
function attemptBase({ input, candidate, cursor, probe, skipped }: AttemptPlan) {
  return {
    attempt: cursor.attempt,
    provider: candidate.provider,
    model: candidate.model,
    upstreamModel: candidate.upstreamModel,
    startedAt: new Date(input.clock.now()).toISOString(),
    durationMs: 0,
    streamed: input.stream,
    candidate: cursor.index,
    ...(cursor.retry ? { retryOf: cursor.retry.retryOf, backoffMs: cursor.retry.backoffMs } : {}),
    ...(probe ? { probe: true } : {}),
    ...(skipped.length > 0 ? { skipped } : {}),
  };
}

/** What a failure of this attempt counts against: tries of the candidate and backoff spent. */
function triesAndBackoff({ cursor }: AttemptPlan): Pick<FailureDetails, "tries" | "backoffUsedMs"> {
  return { tries: cursor.tries + 1, backoffUsedMs: cursor.backoffUsedMs + (cursor.retry?.backoffMs ?? 0) };
}

/**
 * A slot of the candidate's concurrency pool, or, when the pool stays full, the backpressure
 * failure to record instead of calling.
 */
async function acquireSlot(
  plan: AttemptPlan,
  base: AttemptBase,
): Promise<{ refused?: undefined; release: () => void } | { refused: AttemptRecord }> {
  const { input, hooks, candidate } = plan;
  const waitStarted = input.clock.now();
  try {
    return { release: await input.pools.acquire(candidate.provider, candidate.model, hooks.signal) };
  } catch (error) {
    if (hooks.signal?.aborted || !isBeamlineError(error, "BL_PROVIDER_BACKPRESSURE")) throw error;
    const refused = failedRecord(input, { ...base, durationMs: input.clock.now() - waitStarted }, error, {
      errorClass: ExecutionErrorClass.Backpressure,
      retryable: true,
      chunksSent: 0,
      ...triesAndBackoff(plan),
    });
    return { refused };
  }
}

/** Relays streamed chunks that carry choices to the client, observing every chunk for usage. */
function chunkRelay({ hooks, cursor, candidate, race }: AttemptPlan, relayed: Relay) {
  return (chunk: ChatCompletionChunk) => {
    relayed.observe(chunk);
    // A usage-only chunk (no choices) is the gateway's to send, from the stored result.
    if (chunk.choices.length === 0) return;
    // In a race only the winner's chunks reach the client: two answers are never spliced.
    if (race && !race.claim()) return;
    relayed.sent++;
    hooks.sendChunk?.(chunk, { attempt: cursor.attempt, model: candidate.model });
  };
}

/** The failed record of a call that threw, with the usage of what was relayed before it broke. */
function callFailedRecord(
  plan: AttemptPlan,
  base: AttemptBase,
  started: number,
  relayed: Relay,
  thrown: unknown,
): AttemptRecord {
  const error = asStreamInterruption(plan.candidate, relayed.sent, thrown);
  const providerError = error instanceof ProviderError ? error : undefined;
  const data = {
    ...base,
    startedAt: new Date(started).toISOString(),
    durationMs: plan.input.clock.now() - started,
  };
  return failedRecord(plan.input, data, error, {
    errorClass: providerError?.errorClass ?? ExecutionErrorClass.Internal,
    retryable: providerError?.retryable ?? false,
    chunksSent: relayed.sent,
    ...triesAndBackoff(plan),
    ...(relayed.sent > 0 ? { partialUsage: relayed.usage() } : {}),
  });
}

/** Once the client started reading, any failure (our own idle/total deadline too) is an interrupted stream. */
function asStreamInterruption(candidate: Candidate, sent: number, thrown: unknown): unknown {
  if (sent === 0 || (thrown instanceof ProviderError && thrown.errorClass === "stream_interrupted"))
    return thrown;
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return new ProviderError(
    ProviderErrorClass.StreamInterrupted,
    `${candidate.provider} stream broke after ${sent} chunk(s): ${message}`,
    { cause: thrown },
  );
}

interface FailureDetails {
  errorClass: string;
  retryable: boolean;
  chunksSent: number;
  tries: number;
  backoffUsedMs: number;
  partialUsage?: { usage: ProviderUsage; estimated: boolean };
}

function failedRecord(
  input: ExecutionInput,
  base: Omit<EventData<"attempt.failed">, "errorClass" | "error" | "retryable" | "final" | "chunksSent">,
  thrown: unknown,
  details: FailureDetails,
): AttemptRecord {
  const error =
    thrown instanceof BeamlineError
      ? thrown
      : new BeamlineError("BL_PROVIDER_ERROR", thrown instanceof Error ? thrown.message : String(thrown), {
          cause: thrown,
        });
  const index = base.candidate ?? 0;
  const step: NextStep = decideNextStep(
    input.policy,
    {
      errorClass: details.errorClass,
      retryable: details.retryable,
      chunksSent: details.chunksSent,
      retryAfterMs: error.retryAfterMs,
      triesOfCandidate: details.tries,
      attemptsUsed: base.attempt,
      backoffUsedMs: details.backoffUsedMs,
      hasNextCandidate: input.candidates
        .slice(index + 1)
        .some((c) => input.providers.has(c.provider) && !input.breakers.isOpen(c.provider, c.model)),
    },
    input.random,
  );
  const data: EventData<"attempt.failed"> = {
    ...base,
    errorClass: details.errorClass,
    error: { code: error.code, message: error.message, httpStatus: error.httpStatus, type: error.type },
    retryable: details.retryable,
    final: step.action === "stop",
    chunksSent: details.chunksSent,
    next: step.action === "stop" ? "none" : step.action,
  };
  if (step.action === "retry") data.retryDelayMs = step.backoffMs;
  if (error instanceof ProviderError && error.providerStatus !== undefined)
    data.providerStatus = error.providerStatus;
  if (error.retryAfterMs !== undefined) data.retryAfterMs = error.retryAfterMs;
  if (details.partialUsage) {
    data.usage = details.partialUsage.usage;
    if (details.partialUsage.estimated) data.usageEstimated = true;
  }
  return { type: "attempt.failed", data };
}

/**
 * What a stream relayed so far: chunks that reached the client, and the usage to bill if it
 * breaks — the provider's own usage chunk when one arrived, else the shared token counter's
 * count (src/tokens) of the prompt and of the text relayed, with the candidate's tokenizer.
 */
function createRelay(request: ChatRequest, target: Pick<Candidate, "provider" | "upstreamModel">) {
  let reported: ProviderUsage | undefined;
  // Kept as pieces and counted only if the provider never reports usage (rare).
  const completion: string[] = [];
  return {
    sent: 0,
    observe(chunk: ChatCompletionChunk) {
      if (chunk.usage) {
        reported = {
          promptTokens: chunk.usage.prompt_tokens,
          completionTokens: chunk.usage.completion_tokens,
          cachedTokens: chunk.usage.prompt_tokens_details?.cached_tokens ?? 0,
        };
      }
      for (const choice of chunk.choices) {
        if (choice.delta.content) completion.push(choice.delta.content);
        if (choice.delta.refusal) completion.push(choice.delta.refusal);
        for (const call of choice.delta.tool_calls ?? []) {
          if (call.function?.arguments) completion.push(call.function.arguments);
        }
      }
    },
    usage(): { usage: ProviderUsage; estimated: boolean } {
      if (reported) return { usage: reported, estimated: false };
      const kind = tokenizerFor(target);
      return {
        usage: {
          promptTokens: countPromptTokens(kind, request),
          completionTokens: countTextTokens(kind, completion.join("")),
          cachedTokens: 0,
        },
        estimated: true,
      };
    },
  };
}

/** Whether an attempt reached the provider (a success, or a failure the provider caused). */
export function reachedProvider(record: AttemptRecord): boolean {
  return attemptHealth(record) !== undefined;
}
