import { attemptHealth } from "../../projections/index.js";
import type { ChatCompletionChunk, ChatRequest, EmbeddingsRequest } from "../chat/index.js";
import { BeamlineError, isBeamlineError } from "../errors/index.js";
import type { Clock, EventData } from "../events/index.js";
import type { ProviderRegistry } from "../providers/index.js";
import { ProviderError, ProviderErrorClass, type ProviderUsage } from "../providers/index.js";
import { countPromptTokens, countTextTokens, tokenizerFor } from "../tokens/index.js";
import { sleep } from "./clock.js";
import { decideNextStep, type ExecutionPolicy, type NextStep } from "./policy.js";
import type { ConcurrencyPools } from "./pools.js";
import { callWithTimeouts, embedWithTimeouts } from "./timeouts.js";

/** A ranked candidate of route.decided. */
export type Candidate = EventData<"route.decided">["candidates"][number];

/** An attempt's event type and data, without the envelope (the worker adds it). */
export type AttemptRecord =
  | { type: "attempt.succeeded"; data: EventData<"attempt.succeeded"> }
  | { type: "attempt.failed"; data: EventData<"attempt.failed"> };

/** Error classes the executor adds to the providers' own (ProviderErrorClass). */
export const ExecutionErrorClass = {
  /** This instance's pool for the provider/model was saturated; the provider was not called. */
  Backpressure: "backpressure",
  /** Every remaining candidate was skipped (open breaker, no probe slot, not configured). */
  CircuitOpen: "circuit_open",
  /** The adapter threw something that is not a ProviderError (a bug). */
  Internal: "internal",
  /**
   * The candidate's wire cannot serve the request's operation (embeddings on a provider without
   * an embeddings API: a catalog mistake); the provider was not called, the next candidate is.
   */
  Unsupported: "unsupported",
} as const;

/** Whether a candidate may be called now, as a circuit breaker sees it. */
export type Admission =
  | { admitted: true; probe: boolean /** The probe slot's lease, to give it back. */; lease?: number }
  | {
      admitted: false;
      reason: "circuit_open" | "probe_limit";
      /** When a call may be admitted again: the breaker's reopen time, or a probe slot's expiry. */
      retryAfterMs?: number;
    };

/** The executor's view of the shared circuit breakers (see src/health). */
export interface BreakerGate {
  /** Synchronous: true while the breaker is open and its cooldown has not ended. */
  isOpen(provider: string, model: string): boolean;
  /** Admits a call: always when closed, never while open, within the probe budget when half-open. */
  admit(provider: string, model: string): Promise<Admission>;
  /** Gives a probe slot back when its call never reached the provider (it says nothing about health). */
  releaseProbe?(provider: string, model: string, lease: number): Promise<void>;
}

export interface ExecutionInput {
  requestId: string;
  /** The canonical request (request.accepted's `request`); for embeddings, its routing view. */
  request: ChatRequest;
  /**
   * Set for an embeddings request: candidates are asked to embed it (`ProviderAdapter.embed`),
   * never streamed, and a success records `embeddings` instead of a completion.
   */
  embeddings?: EmbeddingsRequest | undefined;
  stream: boolean;
  /** route.decided's candidates, best first. */
  candidates: readonly Candidate[];
  /** Attempts already stored for this request (a redelivery after a crash), any order. */
  storedAttempts: readonly AttemptRecord[];
  providers: Pick<ProviderRegistry, "get" | "has">;
  breakers: BreakerGate;
  pools: ConcurrencyPools;
  policy: ExecutionPolicy;
  clock: Clock;
  /** Uniform in [0, 1): backoff jitter. */
  random: () => number;
}

export interface ExecutionHooks {
  /**
   * Stores the attempt in its write-once slot and resolves with what the slot holds: this
   * record, or the one another delivery stored first (which then decides what happens next).
   */
  recordAttempt(record: AttemptRecord): Promise<AttemptRecord>;
  /** Relays a streamed chunk carrying choices to the client; `attempt` identifies the generation. */
  sendChunk?(chunk: ChatCompletionChunk, generation: { attempt: number; model: string }): void;
  /** The caller's cancellation: the executor rejects with its reason and records nothing more. */
  signal?: AbortSignal;
  /**
   * Called as an attempt's provider call starts (after its pool slot is held); returns the
   * W3C trace context to send upstream with it (see ProviderCall.traceContext).
   */
  startCall?(call: AttemptStart): Readonly<Record<string, string>> | undefined;
}

/** The attempt whose provider call is starting. */
export interface AttemptStart {
  attempt: number;
  provider: string;
  model: string;
  upstreamModel: string;
}

/** How the request ended: the attempt the terminal event is made from. */
export type ExecutionOutcome =
  | { status: "succeeded"; attempt: Extract<AttemptRecord, { type: "attempt.succeeded" }> }
  | { status: "failed"; attempt: Extract<AttemptRecord, { type: "attempt.failed" }> };

type Skip = { provider: string; model: string; reason: string; retryAfterMs?: number | undefined };

/** The shortest `retry-after` of a circuit-open answer: whole seconds, so never below one. */
const MIN_CIRCUIT_RETRY_AFTER_MS = 1_000;

/** Where the loop stands: which candidate, how many tries of it, what was spent. */
interface Cursor {
  index: number;
  tries: number;
  attempt: number;
  backoffUsedMs: number;
  retry?: { backoffMs: number; retryOf: number };
}

/**
 * Executes one request along its ranked candidates: retries with backoff, failover, circuit
 * breakers, concurrency pools and timeouts, recording every attempt through
 * `hooks.recordAttempt` before acting on it. Deterministic for a given clock and random
 * source. Resumes after `storedAttempts` (a crash mid-request), honouring their decisions.
 * The exact rules are in docs/reliability.md.
 */
export async function executeCandidates(
  input: ExecutionInput,
  hooks: ExecutionHooks,
): Promise<ExecutionOutcome> {
  const stored = [...input.storedAttempts].sort((a, b) => a.data.attempt - b.data.attempt);
  const last = stored.at(-1);
  if (last) {
    const done = outcomeOf(last);
    if (done) return done;
  }
  let cursor = last ? cursorAfter(last, stored, input) : { index: 0, tries: 0, attempt: 1, backoffUsedMs: 0 };
  let skipped: Skip[] = [];
  for (;;) {
    if (hooks.signal?.aborted) throw hooks.signal.reason;
    const candidate = input.candidates[cursor.index];
    if (!candidate) {
      const record = await hooks.recordAttempt(exhaustedRecord(input, cursor, skipped));
      return outcomeOf(record) ?? failedOutcome(record);
    }
    const admission = input.providers.has(candidate.provider)
      ? await input.breakers.admit(candidate.provider, candidate.model)
      : ({ admitted: false, reason: "not_configured" } as const);
    if (!admission.admitted) {
      skipped.push({
        provider: candidate.provider,
        model: candidate.model,
        reason: admission.reason,
        ...("retryAfterMs" in admission ? { retryAfterMs: admission.retryAfterMs } : {}),
      });
      cursor = {
        index: cursor.index + 1,
        tries: 0,
        attempt: cursor.attempt,
        backoffUsedMs: cursor.backoffUsedMs,
      };
      continue;
    }
    if (cursor.retry) await sleep(input.clock, cursor.retry.backoffMs, hooks.signal);
    const mine = await attemptOnce({ input, hooks, candidate, cursor, probe: admission.probe, skipped });
    if (admission.probe && admission.lease !== undefined && !reachedProvider(mine)) {
      // A refused pool slot says nothing about the provider: let another call probe it now
      // instead of holding the slot until its lease runs out.
      await input.breakers.releaseProbe?.(candidate.provider, candidate.model, admission.lease);
    }
    const record = await hooks.recordAttempt(mine);
    skipped = [];
    const done = outcomeOf(record);
    if (done) return done;
    cursor = cursorAfter(record, [...stored, record], input);
    stored.push(record);
  }
}

/** The outcome when `record` ends the request, else undefined. */
function outcomeOf(record: AttemptRecord): ExecutionOutcome | undefined {
  if (record.type === "attempt.succeeded") return { status: "succeeded", attempt: record };
  if (record.data.final) return { status: "failed", attempt: record };
  return undefined;
}

function failedOutcome(record: AttemptRecord): ExecutionOutcome {
  if (record.type === "attempt.succeeded") return { status: "succeeded", attempt: record };
  return { status: "failed", attempt: record };
}

/** Where to continue after a stored, non-final failed attempt: what it decided, not what we would. */
function cursorAfter(
  record: AttemptRecord,
  history: readonly AttemptRecord[],
  input: ExecutionInput,
): Cursor {
  const data = record.data;
  const index = data.candidate ?? indexOfCandidate(input.candidates, data);
  const backoffUsedMs = history.reduce((sum, r) => sum + (r.data.backoffMs ?? 0), 0);
  const attempt = data.attempt + 1;
  if (record.type === "attempt.failed" && record.data.next === "retry") {
    let tries = 0;
    for (let i = history.length - 1; i >= 0; i--) {
      const earlier = history[i]!.data;
      if ((earlier.candidate ?? indexOfCandidate(input.candidates, earlier)) !== index) break;
      tries++;
    }
    return {
      index,
      tries,
      attempt,
      backoffUsedMs,
      retry: { backoffMs: record.data.retryDelayMs ?? 0, retryOf: data.attempt },
    };
  }
  return { index: index + 1, tries: 0, attempt, backoffUsedMs };
}

/** Index of an attempt's candidate for events written without `candidate` (older executors). */
function indexOfCandidate(
  candidates: readonly Candidate[],
  data: { provider: string; model: string; attempt: number },
) {
  const index = candidates.findIndex((c) => c.provider === data.provider && c.model === data.model);
  return index >= 0 ? index : Math.min(data.attempt - 1, candidates.length - 1);
}

/** One attempt to make: the candidate, where the loop stands, and how the breaker admitted it. */
interface AttemptPlan {
  input: ExecutionInput;
  hooks: ExecutionHooks;
  candidate: Candidate;
  cursor: Cursor;
  /** The breaker let this call through as a half-open probe. */
  probe: boolean;
  /** Candidates skipped on the way to this one. */
  skipped: Skip[];
}

type AttemptBase = ReturnType<typeof attemptBase>;
type Relay = ReturnType<typeof createRelay>;

/** One call of one candidate: pool slot, timeouts, chunk relay, and the decision that follows. */
async function attemptOnce(plan: AttemptPlan): Promise<AttemptRecord> {
  const { input, hooks, candidate } = plan;
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
  const relayed = createRelay(input.request, candidate);
  const onChunk = input.stream ? chunkRelay(plan, relayed) : undefined;
  const traceContext = hooks.startCall?.({
    attempt: plan.cursor.attempt,
    provider: candidate.provider,
    model: candidate.model,
    upstreamModel: candidate.upstreamModel,
  });
  try {
    if (input.embeddings) {
      const embedded = await embedWithTimeouts(
        {
          adapter: input.providers.get(candidate.provider),
          upstreamModel: candidate.upstreamModel,
          request: input.embeddings,
          ...(hooks.signal ? { signal: hooks.signal } : {}),
        },
        input.policy,
        clock,
      );
      return {
        type: "attempt.succeeded",
        data: {
          ...base,
          startedAt: new Date(started).toISOString(),
          durationMs: clock.now() - started,
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
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        ...(traceContext ? { traceContext } : {}),
      },
      input.policy,
      clock,
    );
    return {
      type: "attempt.succeeded",
      data: {
        ...base,
        startedAt: new Date(started).toISOString(),
        durationMs: clock.now() - started,
        timeToFirstTokenMs: result.timeToFirstTokenMs,
        usage: result.usage,
        // The zod type is the loose (pass-through) view of the same OpenAI object.
        completion: result.completion,
      },
    };
  } catch (thrown) {
    if (hooks.signal?.aborted) throw hooks.signal.reason;
    return callFailedRecord(plan, base, started, relayed, thrown);
  } finally {
    slot.release();
  }
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
function chunkRelay({ hooks, cursor, candidate }: AttemptPlan, relayed: Relay) {
  return (chunk: ChatCompletionChunk) => {
    relayed.observe(chunk);
    // A usage-only chunk (no choices) is the gateway's to send, from the stored result.
    if (chunk.choices.length === 0) return;
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

/** The final record when no candidate is left to call: every remaining one was skipped. */
function exhaustedRecord(input: ExecutionInput, cursor: Cursor, skipped: Skip[]): AttemptRecord {
  const lastSkipped = skipped.at(-1);
  const fallback = input.candidates.at(-1)!;
  const target =
    input.candidates.find((c) => c.provider === lastSkipped?.provider && c.model === lastSkipped?.model) ??
    fallback;
  const unconfigured = skipped.length > 0 && skipped.every((s) => s.reason === "not_configured");
  const error = unconfigured
    ? new BeamlineError(
        "BL_PROVIDER_UNAVAILABLE",
        "No candidate provider of this request is configured; add it to the providers configuration or fix the model catalog",
      )
    : new BeamlineError(
        "BL_CIRCUIT_OPEN",
        `Every remaining candidate was skipped (${skipped.map((s) => `${s.provider}/${s.model}: ${s.reason}`).join(", ") || "none left"}); retry after the breakers' cooldown`,
        circuitRetryAfter(skipped),
      );
  const data: EventData<"attempt.failed"> = {
    attempt: cursor.attempt,
    provider: target.provider,
    model: target.model,
    upstreamModel: target.upstreamModel,
    startedAt: new Date(input.clock.now()).toISOString(),
    durationMs: 0,
    streamed: input.stream,
    candidate: input.candidates.indexOf(target),
    errorClass: ExecutionErrorClass.CircuitOpen,
    error: { code: error.code, message: error.message, httpStatus: error.httpStatus, type: error.type },
    retryable: false,
    final: true,
    chunksSent: 0,
    next: "none",
  };
  if (error.retryAfterMs !== undefined) data.retryAfterMs = error.retryAfterMs;
  if (skipped.length > 0) data.skipped = skipped.map(({ retryAfterMs: _, ...skip }) => skip);
  return { type: "attempt.failed", data };
}

/**
 * When the earliest skipped candidate can be called again (its breaker's cooldown end or a
 * probe slot's expiry), at least a second; nothing when no skip knows it.
 */
function circuitRetryAfter(skipped: readonly Skip[]): { retryAfterMs?: number } {
  const waits = skipped.flatMap((skip) => (skip.retryAfterMs === undefined ? [] : [skip.retryAfterMs]));
  if (waits.length === 0) return {};
  return { retryAfterMs: Math.max(MIN_CIRCUIT_RETRY_AFTER_MS, Math.ceil(Math.min(...waits))) };
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
function reachedProvider(record: AttemptRecord): boolean {
  return attemptHealth(record) !== undefined;
}
