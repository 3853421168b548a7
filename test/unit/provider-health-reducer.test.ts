import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type BreakerTransition,
  breakerStateAt,
  healthPolicy,
  type ProviderHealth,
  reduceProviderHealth,
} from "../../projections/index.js";
import type { BeamlineEvent } from "../../src/events/index.js";
import { makeEvent } from "../../src/events/index.js";
import { dataOf } from "../support/index.js";

const T0 = Date.UTC(2026, 0, 1);
const policy = healthPolicy({
  windowMs: 10_000,
  windowBuckets: 10,
  minAttemptsInWindow: 4,
  errorRateToOpen: 0.5,
  consecutiveFailuresToOpen: 3,
  cooldownMs: 5_000,
});

let counter = 0;
/** An attempt event at T0 + atMs: `ok`, a failure class, or `backpressure` (no signal). */
function attempt(outcome: string, atMs: number, durationMs = 100): BeamlineEvent {
  const n = ++counter;
  const context = { tenant: "t", requestId: `r${n}`, correlationId: `r${n}` };
  const base = {
    attempt: 1,
    provider: "p",
    model: "m.1",
    upstreamModel: "m",
    startedAt: new Date(T0 + atMs).toISOString(),
    durationMs,
    streamed: false,
  };
  const time = new Date(T0 + atMs);
  if (outcome === "ok") {
    return makeEvent(
      "attempt.succeeded",
      `r${n}:attempt.1`,
      context,
      {
        ...base,
        timeToFirstTokenMs: 1,
        usage: { promptTokens: 1, completionTokens: 1, cachedTokens: 0 },
        completion: { id: "x", object: "chat.completion", created: 0, model: "m", choices: [] },
      },
      time,
    );
  }
  return makeEvent(
    "attempt.failed",
    `r${n}:attempt.1`,
    context,
    {
      ...base,
      errorClass: outcome,
      error: { code: "BL_PROVIDER_ERROR", message: "x", httpStatus: 502, type: "api_error" },
      retryable: true,
      final: true,
      chunksSent: 0,
    },
    time,
  );
}

/** Given events in order, folds them; returns the record and every transition's type. */
function fold(events: BeamlineEvent[], start?: ProviderHealth) {
  let health = start;
  const transitions: BreakerTransition[] = [];
  const firstSequence = (start?.lastSequence ?? 0) + 1;
  events.forEach((event, i) => {
    const result = reduceProviderHealth(health, event, firstSequence + i, policy);
    health = result.health;
    transitions.push(...result.transitions);
  });
  return { health: health!, transitions, types: transitions.map((t) => t.type) };
}

describe("provider health reducer", () => {
  it("given consecutive failures, when the threshold is reached, then the breaker opens with a cooldown", () => {
    const { health, transitions, types } = fold([
      attempt("ok", 0),
      attempt("server_error", 100),
      attempt("timeout", 200),
      attempt("overloaded", 300),
    ]);
    assert.deepEqual(types, ["provider.breaker_opened"]);
    const opened = transitions[0]!;
    assert.equal(opened.type === "provider.breaker_opened" && opened.data.reason, "consecutive_failures");
    assert.equal(
      opened.type === "provider.breaker_opened" && opened.data.openUntil,
      new Date(T0 + 5_300).toISOString(),
    );
    assert.equal(health.breaker.state, "open");
    assert.equal(health.consecutiveFailures, 3);
    assert.equal(breakerStateAt(health, T0 + 5_299), "open");
    assert.equal(breakerStateAt(health, T0 + 5_300), "half_open");
  });

  it("given a high error rate over the window, the breaker opens even without a failure streak", () => {
    const { types, transitions } = fold([
      attempt("server_error", 0),
      attempt("ok", 100),
      attempt("server_error", 200),
      attempt("ok", 300),
      attempt("server_error", 400),
    ]);
    assert.deepEqual(types, ["provider.breaker_opened"]);
    assert.equal(dataOf(transitions[0], "provider.breaker_opened").reason, "error_rate");
  });

  it("forgets failures older than the window", () => {
    const { types, health } = fold([
      attempt("server_error", 0),
      attempt("ok", 100),
      attempt("server_error", 200),
      attempt("ok", 300),
      attempt("server_error", 20_400),
    ]);
    assert.deepEqual(types, []);
    assert.equal(
      health.window.reduce((n, b) => n + b.ok + b.failed, 0),
      1,
    );
  });

  it("after the cooldown, a successful probe half-opens then closes the breaker and clears the window", () => {
    const opened = fold([attempt("server_error", 0), attempt("server_error", 1), attempt("server_error", 2)]);
    const { health, types, transitions } = fold([attempt("ok", 6_000)], opened.health);
    assert.deepEqual(types, ["provider.breaker_half_opened", "provider.breaker_closed"]);
    assert.equal(
      dataOf(transitions[0], "provider.breaker_half_opened").at,
      new Date(T0 + 5_002).toISOString(),
    );
    assert.equal(health.breaker.state, "closed");
    assert.deepEqual(health.window, []);
    assert.equal(health.breaker.opens, 1);
  });

  it("a failed probe opens the breaker again for another cooldown", () => {
    const opened = fold([attempt("server_error", 0), attempt("server_error", 1), attempt("server_error", 2)]);
    const { health, types } = fold([attempt("connection", 6_000)], opened.health);
    assert.deepEqual(types, ["provider.breaker_half_opened", "provider.breaker_opened"]);
    assert.equal(health.breaker.openUntil, new Date(T0 + 11_000).toISOString());
    assert.equal(health.breaker.opens, 2);
  });

  it("attempts while open change the statistics but not the breaker", () => {
    const opened = fold([attempt("server_error", 0), attempt("server_error", 1), attempt("server_error", 2)]);
    const { health, types } = fold([attempt("server_error", 1_000), attempt("ok", 2_000)], opened.health);
    assert.deepEqual(types, []);
    assert.equal(health.breaker.state, "open");
    assert.equal(health.totals.failed, 4);
  });

  it("ignores attempts that never reached the provider, and counts a caller's bad request as an answer", () => {
    const { health, types } = fold([
      attempt("server_error", 0),
      attempt("server_error", 1),
      attempt("backpressure", 2),
      attempt("circuit_open", 3),
      attempt("context_window", 4),
    ]);
    assert.deepEqual(types, []);
    assert.equal(health.consecutiveFailures, 0);
    assert.deepEqual(health.totals, { ok: 1, failed: 2 });
  });

  it("tracks latency as an EWMA and a p95 of successful attempts", () => {
    const durations = Array.from({ length: 20 }, (_, i) => (i + 1) * 10);
    const { health } = fold(durations.map((d, i) => attempt("ok", i, d)));
    assert.equal(health.latencyP95Ms, 190);
    let ewma = 10;
    for (const d of durations.slice(1)) ewma = 0.2 * d + 0.8 * ewma;
    assert.equal(health.latencyEwmaMs, ewma);
  });

  it("is a no-op for an event at or below the last folded sequence (redelivery, replay)", () => {
    const event = attempt("server_error", 0);
    const first = reduceProviderHealth(undefined, event, 7, policy);
    const again = reduceProviderHealth(first.health, event, 7, policy);
    assert.equal(again.health, first.health);
    assert.deepEqual(again.transitions, []);
  });

  it("property: folding the same history twice gives identical records and transitions", () => {
    const outcomes = fc.constantFrom(
      "ok",
      "server_error",
      "timeout",
      "rate_limited",
      "bad_request",
      "backpressure",
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(outcomes, fc.integer({ min: 0, max: 3_000 })), { maxLength: 60 }),
        (steps) => {
          let at = 0;
          const events = steps.map(([outcome, gap]) => {
            at += gap;
            return attempt(outcome, at);
          });
          const a = fold(events);
          const b = fold(events);
          assert.deepEqual(a.health, b.health);
          assert.deepEqual(a.transitions, b.transitions);
          // The breaker alternates open → half-open → (closed | open): never two opens in a row without a half-open.
          let last = "closed";
          for (const type of a.types) {
            if (type === "provider.breaker_opened") assert.notEqual(last, "open");
            last =
              type === "provider.breaker_opened"
                ? "open"
                : type === "provider.breaker_closed"
                  ? "closed"
                  : "half";
          }
        },
      ),
    );
  });
});
