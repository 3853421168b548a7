import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type HedgeAttemptFacts, type HedgeFacts, HedgeWhatIf } from "../../../replay/index.js";
import type { HedgePolicy } from "../../../src/routing/index.js";

const T0 = Date.parse("2026-03-01T10:00:00.000Z");
const NEXT = { provider: "mock", model: "small" };

const succeeded = (model: string, firstTokenMs: number): HedgeAttemptFacts => ({
  provider: "mock",
  model,
  streamed: false,
  durationMs: firstTokenMs,
  firstTokenMs,
});

function request(n: number, attempts: HedgeAttemptFacts[], more: Partial<HedgeFacts> = {}): HedgeFacts {
  return {
    requestId: `r${n}`,
    acceptedAt: new Date(T0 + n * 1000).toISOString(),
    attempts,
    next: NEXT,
    extraCostNanoUsd: 500,
    ...more,
  };
}

function run(policy: HedgePolicy, all: HedgeFacts[]) {
  const whatIf = new HedgeWhatIf(policy);
  for (const f of all) whatIf.add(f);
  return whatIf.report();
}

describe("hedge what-if", () => {
  it("given a fixed deadline, then first attempts slower than it are hedged, at the next candidate's estimated cost", () => {
    const report = run({ afterMs: 800 }, [
      request(1, [succeeded("slow", 2000)]),
      request(2, [succeeded("slow", 300)]),
      request(3, [succeeded("slow", 2100)]),
    ]);
    assert.equal(report.requests, 3);
    assert.equal(report.hedged, 2);
    assert.equal(report.notNeeded, 1);
    assert.equal(report.extraCostNanoUsd, 1000);
    assert.equal(report.extraCostEstimated, true);
  });

  it("bounds the latency by the deadline plus the next candidate's recorded median first-token time", () => {
    const report = run({ afterMs: 800 }, [
      request(1, [succeeded("small", 100)]),
      request(2, [succeeded("slow", 2000)]),
    ]);
    // LatencyHistogram reports 100 ms as the middle of its 2 % bucket: 100.
    assert.equal(report.latency.firstTokenLowerBoundMeanMs, 900);
    assert.equal(report.latency.recordedFirstTokenMeanMs, 2000);
    assert.equal(report.latency.boundUnknown, 0);
    const unknown = run({ afterMs: 800 }, [request(1, [succeeded("slow", 2000)])]);
    assert.equal(unknown.latency.firstTokenLowerBoundMeanMs, null);
    assert.equal(unknown.latency.boundUnknown, 1);
  });

  it("given a percentile, then it declines until 20 first-token times of the model are recorded, then reads them", () => {
    const history = Array.from({ length: 20 }, (_, i) => request(i, [succeeded("slow", 100 + i)]));
    const report = run({ afterPercentile: 90 }, [...history, request(30, [succeeded("slow", 150)])]);
    assert.equal(report.declined.no_latency_data, 20);
    // p90 of 100..119 by nearest rank is 117: 150 is late.
    assert.equal(report.hedged, 1);
  });

  it("a failure before the deadline fails over (not hedged); a silent attempt past it is hedged", () => {
    const failedFast: HedgeAttemptFacts = {
      provider: "mock",
      model: "slow",
      streamed: true,
      durationMs: 50,
      chunksSent: 0,
    };
    const hung: HedgeAttemptFacts = { ...failedFast, durationMs: 30_000 };
    const cut: HedgeAttemptFacts = { ...failedFast, durationMs: 3000, chunksSent: 2 };
    const report = run({ afterMs: 800 }, [request(1, [failedFast]), request(2, [hung]), request(3, [cut])]);
    assert.deepEqual([report.notNeeded, report.hedged, report.unknown], [1, 1, 1]);
  });

  it("holds the caps: hedges per rolling minute and extra cost per UTC day", () => {
    const slow = (n: number) => request(n, [succeeded("slow", 2000)]);
    const perMinute = run({ afterMs: 800, maxHedgesPerMinute: 2 }, [slow(0), slow(10), slow(20), slow(70)]);
    assert.equal(perMinute.hedged, 3);
    assert.equal(perMinute.declined.max_hedges_per_minute, 1);
    const perDay = run({ afterMs: 800, maxExtraCostUsdPerDay: 0.000001 }, [slow(0), slow(10), slow(20)]);
    assert.equal(perDay.hedged, 2, "1000 nano-USD a day holds two 500 nano-USD hedges");
    assert.equal(perDay.declined.max_extra_cost_per_day, 1);
  });

  it("a request without a next candidate is declined, one without attempts is not counted", () => {
    const report = run({ afterMs: 800 }, [
      request(1, [succeeded("slow", 2000)], { next: undefined }),
      request(2, []),
    ]);
    assert.equal(report.requests, 1);
    assert.equal(report.declined.no_candidate, 1);
  });
});
