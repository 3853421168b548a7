import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  diffDecision,
  LatencyHistogram,
  type RecordedRequest,
  WhatIf,
  whatIfReport,
} from "../../../replay/index.js";
import { parseCatalog } from "../../../src/catalog/index.js";
import type { ChatRequest } from "../../../src/chat/wire.js";
import {
  decideWithPolicy,
  defaultPolicy,
  EMPTY_HEALTH,
  NO_QUOTA,
  parsePolicyDocument,
  type VersionedPolicy,
} from "../../../src/routing/policy/index.js";
import { countPromptTokens, tokenizerFor } from "../../../src/tokens/index.js";

const TENANT = "acme";
const model = (id: string, input: number, output: number, quality: number) => ({
  id,
  provider: "mock",
  upstreamModel: id,
  prices: { inputPerMTokUsd: input, outputPerMTokUsd: output, cachedInputPerMTokUsd: input / 2 },
  qualityScore: quality,
});
const CATALOG = parseCatalog({
  version: "c1",
  models: [model("small", 1, 2, 0.4), model("large", 10, 20, 0.9)],
});
const DOUBLED = parseCatalog({
  version: "c2",
  models: [model("small", 2, 4, 0.4), model("large", 20, 40, 0.9)],
});
const CHEAPEST = defaultPolicy(TENANT);
const policyOf = (document: unknown): VersionedPolicy => ({
  tenant: TENANT,
  version: 1,
  document: parsePolicyDocument(document),
});
const QUALITY = policyOf({ routing: { strategy: { type: "quality" } } });

/** A request recorded as routed by the cheapest policy and served by its first candidate. */
function recorded(
  i: number,
  tokens: { prompt: number; completion: number; cached: number },
  durationMs = 100,
) {
  const request: ChatRequest = { model: "auto", messages: [{ role: "user", content: `hello ${i}` }] };
  const decision = decideWithPolicy({
    request,
    policy: CHEAPEST,
    catalog: CATALOG,
    health: EMPTY_HEALTH,
    quota: NO_QUOTA,
    seed: `r${i}`,
  });
  const served = decision.candidates[0];
  assert.ok(served);
  const fact: RecordedRequest = {
    requestId: `r${i}`,
    time: `2026-12-0${1 + (i % 3)}T10:00:00.000Z`,
    request,
    decision,
    policy: CHEAPEST,
    catalog: CATALOG,
    outcome: "completed",
    served: { provider: served.provider, model: served.model },
    usage: { promptTokens: tokens.prompt, completionTokens: tokens.completion, cachedTokens: tokens.cached },
    attempts: [
      { provider: served.provider, model: served.model, durationMs, succeeded: true, streamed: false },
    ],
  };
  return fact;
}

/** Cost by hand, nano-USD: tokens × $/MTok = tokens × 1000 nano-USD per $/MTok. */
const nano = (prompt: number, cached: number, completion: number, p: { i: number; c: number; o: number }) =>
  (prompt - cached) * p.i * 1000 + cached * p.c * 1000 + completion * p.o * 1000;

describe("what-if replay (pure core)", () => {
  it("prices the recorded tokens at the alternative catalog: doubled prices double the cost", () => {
    const facts = [
      recorded(1, { prompt: 1000, completion: 500, cached: 200 }),
      recorded(2, { prompt: 30, completion: 7, cached: 0 }),
    ];
    const report = whatIfReport({ catalog: DOUBLED }, [facts]);
    const recordedCost =
      nano(1000, 200, 500, { i: 1, c: 0.5, o: 2 }) + nano(30, 0, 7, { i: 1, c: 0.5, o: 2 });
    assert.equal(report.totals.recordedCostNanoUsd, recordedCost);
    assert.equal(report.totals.alternativeCostNanoUsd, 2 * recordedCost);
    assert.equal(report.totals.rerouted, 0);
    assert.equal(report.models[0]?.model, "small");
  });

  it("re-estimates the prompt when the alternative picks another model: estimate in, answer kept, no cache", () => {
    const fact = recorded(1, { prompt: 1000, completion: 500, cached: 200 });
    const report = whatIfReport({ policy: QUALITY }, [[fact]]);
    const prompt = countPromptTokens(
      tokenizerFor({ provider: "mock", upstreamModel: "large" }),
      fact.request,
    );
    assert.equal(report.totals.rerouted, 1);
    assert.equal(report.totals.tokensReestimated, 1);
    assert.equal(report.totals.alternativeCostNanoUsd, nano(prompt, 0, 500, { i: 10, c: 5, o: 20 }));
    const large = report.models.find((m) => m.model === "large");
    assert.deepEqual(large?.alternative, {
      requests: 1,
      costNanoUsd: nano(prompt, 0, 500, { i: 10, c: 5, o: 20 }),
    });
  });

  it("reports the latency change from the medians of recorded attempts, unknown for an unseen model", () => {
    const facts = [recorded(1, { prompt: 10, completion: 10, cached: 0 }, 100)];
    const unknown = whatIfReport({ policy: QUALITY }, [facts]);
    assert.equal(unknown.totals.expectedLatencyChangeMs, null);
    assert.equal(unknown.totals.latencyUnknown, 1);
    // A request once served by the large model gives it a median.
    const onLarge = recorded(2, { prompt: 10, completion: 10, cached: 0 });
    onLarge.served = { provider: "mock", model: "large" };
    onLarge.attempts = [
      { provider: "mock", model: "large", durationMs: 400, succeeded: true, streamed: false },
    ];
    const known = whatIfReport({ policy: QUALITY }, [[...facts, onLarge]]);
    assert.equal(known.models.find((m) => m.model === "small")?.expectedLatencyChangeMs, 300);
  });

  it("lists requests the alternative refuses with the engine's reason", () => {
    const nowhere = policyOf({ routing: { constraints: { allowedProviders: ["elsewhere"] } } });
    const report = whatIfReport({ policy: nowhere }, [
      [recorded(1, { prompt: 10, completion: 10, cached: 0 })],
    ]);
    assert.equal(report.totals.refused, 1);
    assert.equal(report.refusals[0]?.code, "BL_NO_ELIGIBLE_MODEL");
    assert.deepEqual(report.refusals[0]?.examples, ["r1"]);
    assert.equal(report.totals.alternativeCostNanoUsd, 0);
  });

  it("refuses requests over the alternative's daily spend budget, charged in log order", () => {
    // Each request costs 1000 × 1000 + 1000 × 2000 nano-USD = $0.003; the budget holds two a day.
    const budget = policyOf({ limits: { spendPerDayUsd: 0.007 } });
    const sameDay = [0, 3, 6].map((i) => recorded(i, { prompt: 1000, completion: 1000, cached: 0 }));
    const report = whatIfReport({ policy: budget }, [sameDay]);
    assert.equal(report.totals.refused, 1);
    assert.equal(report.refusals[0]?.code, "BL_QUOTA_EXCEEDED");
    assert.deepEqual(report.refusals[0]?.examples, ["r6"]);
  });

  it("gives the same report for the same facts, however the stream is chunked", () => {
    const fact = fc
      .record({
        i: fc.nat(10_000),
        prompt: fc.nat(5000),
        completion: fc.nat(5000),
        cached: fc.nat(100),
        duration: fc.integer({ min: 0, max: 60_000 }),
        large: fc.boolean(),
      })
      .map(({ i, prompt, completion, cached, duration, large }) => {
        const f = recorded(i, { prompt, completion, cached }, duration);
        if (large) {
          f.served = { provider: "mock", model: "large" };
          f.attempts = [
            { provider: "mock", model: "large", durationMs: duration, succeeded: true, streamed: false },
          ];
        }
        return f;
      });
    fc.assert(
      fc.property(
        fc.array(fact, { maxLength: 40 }),
        fc.array(fc.nat(40), { maxLength: 8 }),
        fc.constantFrom({ policy: QUALITY }, { catalog: DOUBLED }, { policy: QUALITY, catalog: DOUBLED }),
        (facts, cuts, alternative) => {
          const bounds = [
            0,
            ...cuts.map((c) => Math.min(c, facts.length)).sort((a, b) => a - b),
            facts.length,
          ];
          const chunks = bounds.slice(1).map((end, k) => facts.slice(bounds[k], end));
          const whole = whatIfReport(alternative, [facts]);
          assert.deepEqual(whatIfReport(alternative, chunks), whole);
          const again = new WhatIf(alternative);
          for (const f of facts) again.add(f);
          assert.deepEqual(again.report(), whole);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("latency median", () => {
  it("stays within 1 % of the true median", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 600_000 }), { minLength: 1, maxLength: 200 }),
        (samples) => {
          const histogram = new LatencyHistogram();
          for (const s of samples) histogram.add(s);
          const sorted = [...samples].sort((a, b) => a - b);
          const truth = sorted[Math.ceil(sorted.length / 2) - 1] ?? 0;
          const median = histogram.median() ?? -1;
          assert.ok(Math.abs(median - truth) <= Math.max(1, truth * 0.01), `${median} vs ${truth}`);
        },
      ),
    );
  });
});

describe("decision diff", () => {
  it("names the leaf paths that differ with both values", () => {
    const request: ChatRequest = { model: "auto", messages: [{ role: "user", content: "hi" }] };
    const inputs = { request, catalog: CATALOG, health: EMPTY_HEALTH, quota: NO_QUOTA, seed: "s" };
    const cheapest = decideWithPolicy({ ...inputs, policy: CHEAPEST });
    const swapped = { ...cheapest, candidates: [...cheapest.candidates].reverse() };
    const paths = diffDecision(swapped, cheapest);
    assert.deepEqual(
      paths.find((d) => d.path === "candidates[0].model"),
      {
        path: "candidates[0].model",
        recorded: "large",
        recomputed: "small",
      },
    );
    assert.deepEqual(diffDecision(cheapest, decideWithPolicy({ ...inputs, policy: CHEAPEST })), []);
  });
});
