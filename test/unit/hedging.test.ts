import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { reduceQuota } from "../../projections/index.js";
import { emptyHedgeBudget, hedgeUsageAt, reduceHedgeBudget } from "../../src/admission/index.js";
import { type BeamlineEvent, makeEvent } from "../../src/events/index.js";
import { decideHedgeBudget, hedgeDeadline, MIN_HEDGE_SAMPLES } from "../../src/execution/index.js";
import { chooseFault, MockFault } from "../../src/providers/mock/faults.js";
import { emptyQuotaState } from "../../src/quotas/index.js";
import { parsePolicyDocument } from "../../src/routing/index.js";

const T0 = Date.parse("2026-03-10T12:00:00.000Z");
const context = (requestId: string) => ({ tenant: "acme", requestId, correlationId: requestId });

function reserved(requestId: string, atMs: number, estimateNanoUsd: number): BeamlineEvent {
  return makeEvent(
    "hedge.reserved",
    `acme.${requestId}:hedge.2.reserved`,
    context(requestId),
    { attempt: 2, provider: "mock", model: "mock-small", estimateNanoUsd },
    new Date(atMs),
  );
}

function settled(requestId: string, atMs: number, costNanoUsd: number): BeamlineEvent {
  return makeEvent(
    "hedge.settled",
    `acme.${requestId}:hedge.2.settled`,
    context(requestId),
    { attempt: 2, costNanoUsd, extraAttempt: 1, estimated: true },
    new Date(atMs),
  );
}

describe("hedge policy document", () => {
  it("accepts a fixed deadline, a percentile, or both, with caps", () => {
    const doc = parsePolicyDocument({
      hedge: { afterPercentile: 95, afterMs: 800, maxHedgesPerMinute: 10, maxExtraCostUsdPerDay: 2.5 },
    });
    assert.deepEqual(doc.hedge, {
      afterPercentile: 95,
      afterMs: 800,
      maxHedgesPerMinute: 10,
      maxExtraCostUsdPerDay: 2.5,
    });
    assert.equal(parsePolicyDocument({}).hedge, undefined, "absent: never hedged");
  });

  it("refuses a hedge without a deadline, and unknown fields", () => {
    assert.throws(() => parsePolicyDocument({ hedge: { maxHedgesPerMinute: 3 } }), /afterMs/);
    assert.throws(
      () => parsePolicyDocument({ hedge: { afterMs: 100, after: 3 } }),
      /BL_POLICY_INVALID|invalid/,
    );
  });
});

describe("hedge deadline", () => {
  it("is the policy's afterMs when no percentile is asked", () => {
    assert.deepEqual(hedgeDeadline({ afterMs: 800 }, [1, 2, 3]), { afterMs: 800, basis: "fixed" });
  });

  it("falls back to afterMs, or declines, until enough latencies are observed", () => {
    const few = Array.from({ length: MIN_HEDGE_SAMPLES - 1 }, () => 100);
    assert.deepEqual(hedgeDeadline({ afterPercentile: 95, afterMs: 700 }, few), {
      afterMs: 700,
      basis: "fixed",
    });
    assert.deepEqual(hedgeDeadline({ afterPercentile: 95 }, few), { declined: "no_latency_data" });
  });

  it("is the nearest-rank percentile of the observed latencies", () => {
    const observed = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, any order
    assert.deepEqual(hedgeDeadline({ afterPercentile: 95 }, observed), {
      afterMs: 95,
      basis: "percentile",
      samples: 100,
    });
  });

  it("never falls below the smallest or above the largest observation", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 60_000 }), { minLength: MIN_HEDGE_SAMPLES, maxLength: 300 }),
        fc.double({ min: 50, max: 99.9, noNaN: true }),
        (observed, afterPercentile) => {
          const deadline = hedgeDeadline({ afterPercentile }, observed);
          assert.ok("afterMs" in deadline);
          assert.ok(deadline.afterMs >= Math.min(...observed) && deadline.afterMs <= Math.max(...observed));
        },
      ),
    );
  });
});

describe("hedge budget", () => {
  const usage = (hedgesLastMinute: number, extraCostNanoUsdToday: number) => ({
    hedgesLastMinute,
    extraCostNanoUsdToday,
  });

  it("allows within both caps and says which cap refuses", () => {
    const caps = { maxHedgesPerMinute: 2, maxExtraCostUsdPerDay: 0.001 };
    assert.deepEqual(decideHedgeBudget(caps, usage(1, 0), 1_000), { allowed: true });
    assert.deepEqual(decideHedgeBudget(caps, usage(2, 0), 1_000), {
      allowed: false,
      reason: "max_hedges_per_minute",
    });
    assert.deepEqual(decideHedgeBudget(caps, usage(0, 999_500), 1_000), {
      allowed: false,
      reason: "max_extra_cost_per_day",
    });
    assert.deepEqual(decideHedgeBudget({}, usage(1_000, 1e15), 1e9), { allowed: true }, "no caps, no limit");
  });

  it("folds reservations at their estimate and settlements at their cost, once each", () => {
    let state = emptyHedgeBudget("acme");
    state = reduceHedgeBudget(state, reserved("r1", T0, 500), 3);
    state = reduceHedgeBudget(state, reserved("r1", T0, 500), 4); // a repeat
    assert.deepEqual(hedgeUsageAt(state, T0 + 1_000), usage(1, 500));
    state = reduceHedgeBudget(state, settled("r1", T0 + 2_000, 120), 5);
    state = reduceHedgeBudget(state, settled("r1", T0 + 3_000, 999), 6); // a repeat
    assert.deepEqual(hedgeUsageAt(state, T0 + 30_000), usage(1, 120));
    assert.equal(state.seq, 6);
  });

  it("counts a minute for the rate and the UTC day for the cost", () => {
    let state = emptyHedgeBudget("acme");
    const dayStart = Date.parse("2026-03-11T00:00:00.000Z");
    state = reduceHedgeBudget(state, reserved("late", dayStart - 30_000, 700), 1);
    state = reduceHedgeBudget(state, reserved("early", dayStart + 10_000, 300), 2);
    assert.deepEqual(
      hedgeUsageAt(state, dayStart + 20_000),
      usage(2, 300),
      "yesterday's cost is not today's",
    );
    assert.deepEqual(hedgeUsageAt(state, dayStart + 75_000), usage(0, 300));
  });

  it("hedge facts on the quota log advance the quota state's sequence and change nothing else", () => {
    const quota = emptyQuotaState("acme");
    const next = reduceQuota(quota, reserved("r1", T0, 500), 9);
    assert.deepEqual(next, { ...quota, seq: 9 });
  });
});

describe("mock slow fault", () => {
  it("is drawn with its share after the failure share, and can be named", () => {
    const draw = (roll: number) =>
      chooseFault(undefined, "m", { failureRate: 0.1, slowRate: 0.05, random: () => roll });
    assert.deepEqual(draw(0.05), { fault: MockFault.ServerError });
    assert.deepEqual(draw(0.12), { fault: MockFault.Slow });
    assert.deepEqual(draw(0.2), { fault: undefined });
    assert.deepEqual(
      chooseFault(undefined, "mock-fault-slow", { failureRate: 0, slowRate: 0, random: () => 0 }),
      {
        fault: MockFault.Slow,
      },
    );
  });
});
