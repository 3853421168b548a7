import type { ChatCompletionChunk, ChatRequest, EmbeddingsRequest } from "../chat/index.js";
import { BeamlineError } from "../errors/index.js";
import type { Clock, EventData } from "../events/index.js";
import type { ProviderRegistry } from "../providers/index.js";
import { attemptOnce, ExecutionErrorClass, reachedProvider } from "./attempt.js";
import { sleep } from "./clock.js";
import { type HedgeGrant, type HedgeSettings, type HedgeTicket, hedgedStart } from "./hedge.js";
import type { ExecutionPolicy } from "./policy.js";
import type { ConcurrencyPools } from "./pools.js";

export { ExecutionErrorClass };

/** A ranked candidate of route.decided. */
export type Candidate = EventData<"route.decided">["candidates"][number];

/** An attempt's event type and data, without the envelope (the worker adds it). */
export type AttemptRecord =
  | { type: "attempt.succeeded"; data: EventData<"attempt.succeeded"> }
  | { type: "attempt.failed"; data: EventData<"attempt.failed"> };

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
  /** The tenant's hedging of the request's first attempt (hedge.ts); absent: never hedged. */
  hedge?: HedgeSettings;
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
  /** Reserves one hedge against the tenant's caps before it starts; absent: always granted. */
  reserveHedge?(hedge: HedgeTicket): Promise<HedgeGrant>;
  /**
   * Settles a granted hedge's reservation once both attempts ended, with the record of the
   * attempt whose cost hedging added (the loser, or the hedge when neither answered);
   * undefined when the hedge was granted but not started after all.
   */
  settleHedge?(hedge: HedgeTicket, extra: AttemptRecord | undefined): Promise<void>;
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

export type Skip = { provider: string; model: string; reason: string; retryAfterMs?: number | undefined };

/** The shortest `retry-after` of a circuit-open answer: whole seconds, so never below one. */
const MIN_CIRCUIT_RETRY_AFTER_MS = 1_000;

/** Where the loop stands: which candidate, how many tries of it, what was spent. */
export interface Cursor {
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
 * With `input.hedge`, a fresh request's first attempt may be raced against the next
 * candidate (hedge.ts). The exact rules are in docs/reliability.md.
 */
export async function executeCandidates(
  input: ExecutionInput,
  hooks: ExecutionHooks,
): Promise<ExecutionOutcome> {
  const stored = [...input.storedAttempts].sort((a, b) => a.data.attempt - b.data.attempt);
  // A success ends the request even when a later attempt number failed (a hedge that lost).
  const succeeded = stored.find((r) => r.type === "attempt.succeeded");
  if (succeeded) return outcomeOf(succeeded)!;
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
    const plan = { input, hooks, candidate, cursor, probe: admission.probe, skipped };
    if (input.hedge && cursor.attempt === 1) {
      // Only a request's very first attempt is hedged; a redelivery resumes without it.
      const start = await hedgedStart(plan, input.hedge);
      if (admission.probe && admission.lease !== undefined && !reachedProvider(start.stored[0]!))
        await input.breakers.releaseProbe?.(candidate.provider, candidate.model, admission.lease);
      if (start.success) return { status: "succeeded", attempt: start.success };
      skipped = [];
      const done = outcomeOf(start.last);
      if (done) return done;
      stored.push(...start.stored);
      cursor = cursorAfter(start.last, stored, input);
      continue;
    }
    const mine = await attemptOnce(plan);
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
