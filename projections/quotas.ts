import { type BeamlineEvent, isEvent } from "../src/events/index.js";
import {
  charge,
  emptyQuotaState,
  prune,
  type QuotaState,
  type Reservation,
  withoutKey,
} from "../src/quotas/index.js";

/**
 * The pure reducer (state, event, sequence) → state, shared by admission, the KV projector
 * and the rebuild, so live and rebuilt state cannot drift. Time comes only from the events.
 * Repeats are no-ops: a reservation already held, a settlement of a finished request, an
 * expiry of a reservation that is no longer held.
 */
export function reduceQuota(state: QuotaState, event: BeamlineEvent, sequence: number): QuotaState {
  const requestId = event.requestId;
  const atMs = Date.parse(event.time);
  let next = state;
  if (isEvent(event, "quota.reserved")) {
    const held = state.reservations[requestId];
    const done = state.finished[requestId];
    const repeat = held !== undefined || (done !== undefined && done.attempt >= event.data.attempt);
    if (!repeat) {
      const { tokens, costNanoUsd } = event.data.estimate;
      const reservation: Reservation = {
        attempt: event.data.attempt,
        tokens,
        costNanoUsd,
        reservedAtMs: atMs,
        expiresAtMs: Date.parse(event.data.expiresAt),
      };
      if (event.data.apiKeyId !== undefined) reservation.apiKeyId = event.data.apiKeyId;
      // A re-admission after expiry reserves amounts again but is still one request.
      const requests = event.data.attempt === 1 ? 1 : 0;
      next = charge(state, event.data.apiKeyId, atMs, { requests, tokens, costNanoUsd });
      next.reservations = { ...state.reservations, [requestId]: reservation };
      next.finished = withoutKey(state.finished, requestId);
    }
  } else if (isEvent(event, "quota.settled")) {
    const held = state.reservations[requestId];
    const done = state.finished[requestId];
    const { tokens, costNanoUsd } = event.data.actual;
    if (held) {
      // Replace the reservation by the actual use, in the buckets the reservation was counted in.
      next = charge(state, held.apiKeyId, held.reservedAtMs, {
        requests: 0,
        tokens: tokens - held.tokens,
        costNanoUsd: costNanoUsd - held.costNanoUsd,
      });
      next.reservations = withoutKey(state.reservations, requestId);
      next.finished = { ...state.finished, [requestId]: finishedEntry("settled", held, atMs) };
    } else if (done?.outcome === "expired") {
      // The expiry already released the reservation: count the actual use once, release nothing.
      next = charge(state, done.apiKeyId, done.reservedAtMs, { requests: 0, tokens, costNanoUsd });
      next.finished = { ...state.finished, [requestId]: { ...done, outcome: "settled", atMs } };
    }
  } else if (isEvent(event, "quota.expired")) {
    const held = state.reservations[requestId];
    if (held && held.attempt === event.data.attempt) {
      next = charge(state, held.apiKeyId, held.reservedAtMs, {
        requests: 0,
        tokens: -held.tokens,
        costNanoUsd: -held.costNanoUsd,
      });
      next.reservations = withoutKey(state.reservations, requestId);
      next.finished = { ...state.finished, [requestId]: finishedEntry("expired", held, atMs) };
    }
  } else {
    // Other facts on the tenant's quota log (hedge.*) change no quota but take a sequence:
    // the state must know it, or its next write would expect a stale last sequence for ever.
    return { ...state, seq: Math.max(state.seq, sequence) };
  }
  return { ...prune(next, atMs), seq: Math.max(state.seq, sequence) };
}

function finishedEntry(outcome: "settled" | "expired", held: Reservation, atMs: number) {
  const entry: QuotaState["finished"][string] = {
    outcome,
    attempt: held.attempt,
    reservedAtMs: held.reservedAtMs,
    atMs,
  };
  if (held.apiKeyId !== undefined) entry.apiKeyId = held.apiKeyId;
  return entry;
}

/** Folds events (with their stream sequences) from scratch: the rebuild path. */
export function rebuildQuotaState(
  tenant: string,
  events: Iterable<{ event: BeamlineEvent; sequence: number }>,
): QuotaState {
  let state = emptyQuotaState(tenant);
  for (const { event, sequence } of events) state = reduceQuota(state, event, sequence);
  return state;
}
