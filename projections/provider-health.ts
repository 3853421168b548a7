import { type HealthSettings, type HealthSettingsInput, healthSettingsSchema } from "../src/config/index.js";
import type { BeamlineEvent, EventData } from "../src/events/index.js";
import { isEvent } from "../src/events/index.js";

/**
 * Provider health: a pure fold of attempt events into one record per provider/model, with a
 * circuit breaker. Time is the events' own time, so a replay gives the same records and the
 * same breaker transitions. The exact semantics are in docs/reliability.md.
 */

/**
 * How health is measured and when a breaker trips. Every projector and view must share it.
 * The fields, their defaults and their environment variables are the config's `health`
 * section (src/config/reliability.ts); the projection receives them parsed.
 */
export const healthPolicySchema = healthSettingsSchema;
export type HealthPolicy = HealthSettings;
export type HealthPolicyInput = HealthSettingsInput;

/** A policy from a partial input, the rest from the config's defaults (tests, tools). */
export function healthPolicy(input: HealthPolicyInput = {}): HealthPolicy {
  return Object.freeze(healthSettingsSchema.parse(input));
}

export type BreakerState = "closed" | "open" | "half_open";

export interface WindowBucket {
  /** Start of the bucket, ms since the epoch (a multiple of windowMs / windowBuckets). */
  start: number;
  ok: number;
  failed: number;
}

/** The projected health of one provider/model, stored in KV. */
export interface ProviderHealth {
  provider: string;
  model: string;
  /** Attempts in the sliding window, oldest first. */
  window: WindowBucket[];
  consecutiveFailures: number;
  /** Moving average of successful attempts' duration, ms; null before the first. */
  latencyEwmaMs: number | null;
  latencyP95Ms: number | null;
  /** Latest successful durations, oldest first (at most policy.latencySamples). */
  latencySamples: number[];
  breaker: {
    /** As of `lastEventAt`; an `open` breaker past `openUntil` reads as half-open (see breakerStateAt). */
    state: BreakerState;
    /** When the breaker entered `state` (ISO-8601, event time). */
    since: string;
    openUntil?: string;
    /** Successes seen since it went half-open. */
    probeSuccesses: number;
    /** Times it opened so far. */
    opens: number;
  };
  totals: { ok: number; failed: number };
  /** Latest event time folded in (ISO-8601); the reducer's clock never goes back. */
  lastEventAt: string;
  /** Highest stream sequence folded in: a redelivered or replayed older event is a no-op. */
  lastSequence: number;
}

/** A breaker transition the fold produced, ready to become an event. */
export type BreakerTransition =
  | { type: "provider.breaker_opened"; data: EventData<"provider.breaker_opened"> }
  | { type: "provider.breaker_half_opened"; data: EventData<"provider.breaker_half_opened"> }
  | { type: "provider.breaker_closed"; data: EventData<"provider.breaker_closed"> };

/** Provider failures: the provider (not the caller, not Beamline) is unwell. */
const FAILURE_CLASSES: ReadonlySet<string> = new Set([
  "rate_limited",
  "overloaded",
  "server_error",
  "timeout",
  "connection",
  "malformed",
  "stream_interrupted",
  "auth",
]);
/** The provider answered properly; the request itself was at fault. Count as healthy. */
const ANSWERED_CLASSES: ReadonlySet<string> = new Set(["bad_request", "context_window"]);

type AttemptEvent = BeamlineEvent<"attempt.succeeded"> | BeamlineEvent<"attempt.failed">;

/** An attempt's type and data, with or without its envelope (the executor has no envelope yet). */
export type AttemptFact =
  | { type: "attempt.succeeded"; data: EventData<"attempt.succeeded"> }
  | { type: "attempt.failed"; data: EventData<"attempt.failed"> };

/** What an attempt says about its provider: ok (with latency), failed, or nothing. */
export function attemptHealth(attempt: AttemptFact): { ok: boolean; latencyMs?: number } | undefined {
  if (attempt.type === "attempt.succeeded") return { ok: true, latencyMs: attempt.data.durationMs };
  if (FAILURE_CLASSES.has(attempt.data.errorClass)) return { ok: false };
  if (ANSWERED_CLASSES.has(attempt.data.errorClass)) return { ok: true };
  // Backpressure, open circuits and Beamline's own bugs never reached the provider.
  return undefined;
}

/** What an event says about its provider's health: only attempts say anything. */
export function healthSignal(event: BeamlineEvent): { ok: boolean; latencyMs?: number } | undefined {
  if (isEvent(event, "attempt.succeeded") || isEvent(event, "attempt.failed")) return attemptHealth(event);
  return undefined;
}

/** KV identity of the record an event folds into, or undefined when it carries no health signal. */
export function healthTarget(event: BeamlineEvent): { provider: string; model: string } | undefined {
  if (!healthSignal(event)) return undefined;
  const attempt = event as AttemptEvent;
  return { provider: attempt.data.provider, model: attempt.data.model };
}

/** The breaker state at `nowMs`: an open breaker whose cooldown has ended reads as half-open. */
export function breakerStateAt(health: ProviderHealth | undefined, nowMs: number): BreakerState {
  if (!health) return "closed";
  const { breaker } = health;
  if (breaker.state === "open" && breaker.openUntil !== undefined && nowMs >= Date.parse(breaker.openUntil)) {
    return "half_open";
  }
  return breaker.state;
}

/** Failed share of the window's attempts, 0 when it is empty. */
export function errorRate(health: Pick<ProviderHealth, "window">): number {
  let ok = 0;
  let failed = 0;
  for (const bucket of health.window) {
    ok += bucket.ok;
    failed += bucket.failed;
  }
  return ok + failed === 0 ? 0 : failed / (ok + failed);
}

function emptyHealth(provider: string, model: string, at: string): ProviderHealth {
  return {
    provider,
    model,
    window: [],
    consecutiveFailures: 0,
    latencyEwmaMs: null,
    latencyP95Ms: null,
    latencySamples: [],
    breaker: { state: "closed", since: at, probeSuccesses: 0, opens: 0 },
    totals: { ok: 0, failed: 0 },
    lastEventAt: at,
    lastSequence: 0,
  };
}

function p95(samples: number[]): number | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.ceil(0.95 * sorted.length) - 1]!;
}

/**
 * Pure reducer (health, attempt event, stream sequence) → (health, transitions). Shared by
 * the live projector and the rebuild, so the two cannot drift. Folding must follow stream
 * order (the projector's consumer delivers one message at a time); an event at or below
 * `lastSequence` changes nothing, so redelivery and replay are harmless.
 *
 * Open → half-open: the stored record stays `open` until the first attempt event at or after
 * `openUntil`; the reducer then records the half-open transition (dated `openUntil`) before
 * folding that attempt. Readers do not wait for it: {@link breakerStateAt} derives half-open
 * from `openUntil` at read time.
 */
export function reduceProviderHealth(
  current: ProviderHealth | undefined,
  event: BeamlineEvent,
  sequence: number,
  policy: HealthPolicy,
): { health: ProviderHealth | undefined; transitions: BreakerTransition[] } {
  const signal = healthSignal(event);
  if (!signal) return { health: current, transitions: [] };
  if (current && sequence <= current.lastSequence) return { health: current, transitions: [] };
  const attempt = event as AttemptEvent;
  const { provider, model } = attempt.data;
  const base = current ?? emptyHealth(provider, model, attempt.time);
  const nowMs = Math.max(Date.parse(base.lastEventAt), Date.parse(attempt.time));
  const fold: Fold = { attempt, signal, policy, nowMs, now: new Date(nowMs).toISOString() };
  const transitions: BreakerTransition[] = [];
  // A copy: the steps below change it, never the record passed in.
  const breaker = { ...base.breaker };
  halfOpenIfCooledDown(fold, breaker, transitions);
  const counted: Counts = {
    window: countInWindow(fold, base.window),
    consecutiveFailures: signal.ok ? 0 : base.consecutiveFailures + 1,
  };
  const { window, consecutiveFailures } = stepBreaker(fold, breaker, counted, transitions);
  const { latencySamples, latencyEwmaMs } = foldLatency(fold, base);
  return {
    health: {
      provider,
      model,
      window,
      consecutiveFailures,
      latencyEwmaMs,
      latencyP95Ms: p95(latencySamples),
      latencySamples,
      breaker,
      totals: {
        ok: base.totals.ok + (signal.ok ? 1 : 0),
        failed: base.totals.failed + (signal.ok ? 0 : 1),
      },
      lastEventAt: fold.now,
      lastSequence: sequence,
    },
    transitions,
  };
}

/** One attempt being folded: what every step of the fold reads. */
interface Fold {
  attempt: AttemptEvent;
  signal: NonNullable<ReturnType<typeof healthSignal>>;
  policy: HealthPolicy;
  /** The fold's clock: the latest event time seen, so it never goes back. */
  nowMs: number;
  now: string;
}

/** What decides whether the breaker trips. */
interface Counts {
  window: WindowBucket[];
  consecutiveFailures: number;
}

type Breaker = ProviderHealth["breaker"];

/** An open breaker whose cooldown ended goes half-open, dated when the cooldown ended. */
function halfOpenIfCooledDown(fold: Fold, breaker: Breaker, transitions: BreakerTransition[]): void {
  if (breaker.state !== "open" || breaker.openUntil === undefined) return;
  if (!(fold.nowMs >= Date.parse(breaker.openUntil))) return;
  const at = breaker.openUntil;
  breaker.state = "half_open";
  breaker.since = at;
  breaker.probeSuccesses = 0;
  delete breaker.openUntil;
  const { provider, model } = fold.attempt.data;
  transitions.push({
    type: "provider.breaker_half_opened",
    data: { provider, model, at, causeEventId: fold.attempt.id },
  });
}

/** The window slid to the fold's time (new buckets), with the attempt counted in its bucket. */
function countInWindow(fold: Fold, buckets: readonly WindowBucket[]): WindowBucket[] {
  const { policy, nowMs, signal } = fold;
  const eventMs = Date.parse(fold.attempt.time);
  const bucketMs = Math.max(1, Math.floor(policy.windowMs / policy.windowBuckets));
  const windowStart = nowMs - policy.windowMs;
  const window = buckets
    .filter((bucket) => bucket.start + bucketMs > windowStart)
    .map((bucket) => ({ ...bucket }));
  // An attempt older than the window (folded late) is not counted in it.
  if (eventMs <= windowStart) return window;
  const start = Math.floor(eventMs / bucketMs) * bucketMs;
  let bucket = window.find((b) => b.start === start);
  if (!bucket) {
    bucket = { start, ok: 0, failed: 0 };
    window.push(bucket);
    window.sort((a, b) => a.start - b.start);
  }
  if (signal.ok) bucket.ok++;
  else bucket.failed++;
  return window;
}

function foldLatency(
  fold: Fold,
  base: ProviderHealth,
): Pick<ProviderHealth, "latencySamples" | "latencyEwmaMs"> {
  const { latencyMs } = fold.signal;
  if (latencyMs === undefined)
    return { latencySamples: base.latencySamples, latencyEwmaMs: base.latencyEwmaMs };
  const alpha = fold.policy.latencyEwmaAlpha;
  return {
    latencySamples: [...base.latencySamples, latencyMs].slice(-fold.policy.latencySamples),
    latencyEwmaMs:
      base.latencyEwmaMs === null ? latencyMs : alpha * latencyMs + (1 - alpha) * base.latencyEwmaMs,
  };
}

/**
 * Moves the breaker on the attempt: a closed one may trip, a half-open one reopens on a failed
 * probe or closes after enough successes. Returns the counts to keep (a closed breaker starts
 * afresh).
 */
function stepBreaker(fold: Fold, breaker: Breaker, counts: Counts, transitions: BreakerTransition[]): Counts {
  if (breaker.state === "closed" && !fold.signal.ok) {
    const reason = tripReason(fold.policy, counts);
    if (reason) openBreaker(fold, breaker, counts, reason, transitions);
  } else if (breaker.state === "half_open") {
    if (!fold.signal.ok) openBreaker(fold, breaker, counts, "probe_failed", transitions);
    else if (++breaker.probeSuccesses >= fold.policy.successesToClose)
      return closeBreaker(fold, breaker, transitions);
  }
  return counts;
}

type OpenReason = EventData<"provider.breaker_opened">["reason"];

/** Why a closed breaker trips on these counts, if it does. */
function tripReason(policy: HealthPolicy, { window, consecutiveFailures }: Counts): OpenReason | undefined {
  if (consecutiveFailures >= policy.consecutiveFailuresToOpen) return "consecutive_failures";
  const attempts = window.reduce((sum, b) => sum + b.ok + b.failed, 0);
  if (attempts >= policy.minAttemptsInWindow && errorRate({ window }) >= policy.errorRateToOpen)
    return "error_rate";
  return undefined;
}

function openBreaker(
  fold: Fold,
  breaker: Breaker,
  { window, consecutiveFailures }: Counts,
  reason: OpenReason,
  transitions: BreakerTransition[],
): void {
  const { provider, model } = fold.attempt.data;
  const openUntil = new Date(fold.nowMs + fold.policy.cooldownMs).toISOString();
  transitions.push({
    type: "provider.breaker_opened",
    data: {
      provider,
      model,
      reason,
      openedAt: fold.now,
      openUntil,
      consecutiveFailures,
      errorRate: errorRate({ window }),
      causeEventId: fold.attempt.id,
    },
  });
  breaker.state = "open";
  breaker.since = fold.now;
  breaker.openUntil = openUntil;
  breaker.probeSuccesses = 0;
  breaker.opens++;
}

/** Closes the breaker; the failures that opened it must not re-open it, so the counts restart. */
function closeBreaker(fold: Fold, breaker: Breaker, transitions: BreakerTransition[]): Counts {
  const { provider, model } = fold.attempt.data;
  breaker.state = "closed";
  breaker.since = fold.now;
  breaker.probeSuccesses = 0;
  transitions.push({
    type: "provider.breaker_closed",
    data: { provider, model, at: fold.now, causeEventId: fold.attempt.id },
  });
  return { window: [], consecutiveFailures: 0 };
}
