import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkRequest } from "../../replay/index.js";
import {
  computeCost,
  formatNanoUsd,
  parseCatalog,
  priceExtras,
  recordedPrices,
  sumCosts,
} from "../../src/catalog/index.js";
import {
  type BeamlineEvent,
  type Envelope,
  type EventData,
  makeEvent,
  upcastAndValidate,
} from "../../src/events/index.js";
import { withHedgeExtras } from "../../src/quotas/index.js";
import { hedgeExtrasOf, type TerminalEvent } from "../../src/stages/index.js";

/**
 * A hedged request is billed on its one usage record: the answer, plus each cancelled loser
 * as an `extra` with its own prices and cost, the record's cost being the sum. These specs
 * cover the pure parts — which attempts are extras, their pricing and sum, what a spend or
 * token limit counts, and what reconciliation recomputes.
 */

const catalog = parseCatalog({
  version: "c1",
  models: [
    {
      id: "fast",
      provider: "mock",
      upstreamModel: "fast",
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 },
    },
    {
      id: "slow",
      provider: "other",
      upstreamModel: "slow",
      prices: { inputPerMTokUsd: 3, outputPerMTokUsd: 6, cachedInputPerMTokUsd: 1.5 },
    },
  ],
});
const catalogAt = (version: string) => (version === "c1" ? catalog : undefined);
const ctx = { tenant: "acme", requestId: "r1", correlationId: "r1" };
const at = new Date("2026-03-01T10:00:00Z");
const answerTokens = { promptTokens: 1000, completionTokens: 500, cachedTokens: 0 };
const loser = {
  attempt: 1,
  provider: "other",
  model: "slow",
  promptTokens: 1000,
  completionTokens: 0,
  cachedTokens: 0,
  estimated: true,
};

function attemptFailed(
  n: number,
  errorClass: string,
  usage?: EventData<"attempt.failed">["usage"],
  estimated = false,
): BeamlineEvent<"attempt.failed"> {
  const data: EventData<"attempt.failed"> = {
    attempt: n,
    provider: "other",
    model: "slow",
    upstreamModel: "slow",
    startedAt: at.toISOString(),
    durationMs: 10,
    streamed: false,
    candidate: 0,
    errorClass,
    error: { code: "BL_HEDGE_LOST", message: "lost", httpStatus: 500, type: "api_error" },
    retryable: false,
    final: false,
    chunksSent: 0,
    next: "none",
  } as EventData<"attempt.failed">;
  if (usage) data.usage = usage;
  if (estimated) data.usageEstimated = true;
  return makeEvent("attempt.failed", `r1:attempt.${n}`, ctx, data, at);
}

function terminal(extras = [loser], reserved = false): TerminalEvent {
  return makeEvent(
    "request.completed",
    "r1:terminal",
    ctx,
    {
      provider: "mock",
      model: "fast",
      usage: answerTokens,
      attempts: 2,
      catalogVersion: "c1",
      ...(reserved ? { quotaReserved: true } : {}),
      ...(extras.length > 0 ? { hedgeExtra: extras } : {}),
    },
    at,
  );
}

/** The usage record billing writes for `terminal()`, built with the pure helpers. */
function usage(edit: (data: EventData<"usage.recorded">) => void = () => undefined) {
  const answer = computeCost(catalog.resolve("fast")!, answerTokens);
  const extra = priceExtras(catalog, [loser]);
  assert.ok(Array.isArray(extra));
  const data: EventData<"usage.recorded"> = {
    outcome: "completed",
    provider: "mock",
    model: "fast",
    ...answerTokens,
    ...sumCosts([answer, ...extra]),
    catalogVersion: "c1",
    prices: recordedPrices(catalog.resolve("fast")!),
    extra,
  };
  edit(data);
  return makeEvent("usage.recorded", "r1:usage", ctx, data, at);
}

const kinds = (facts: Parameters<typeof checkRequest>[0]) =>
  checkRequest(facts, catalogAt).map((d) => `${d.kind} ${d.field ?? ""}`.trim());

describe("pricing a hedge's extra attempts", () => {
  it("prices each extra at its own model's catalog prices, and the total is winner + extras", () => {
    const extras = priceExtras(catalog, [loser]);
    assert.ok(Array.isArray(extras));
    // 1000 prompt tokens at $3/MTok = 3,000,000 nano-USD.
    assert.deepEqual(extras, [
      {
        ...loser,
        costNanoUsd: 3_000_000,
        costUsd: "0.003000000",
        prices: { inputPerMTokUsd: 3, outputPerMTokUsd: 6, cachedInputPerMTokUsd: 1.5 },
      },
    ]);
    // The answer: 1000 × $1 + 500 × $2 per MTok = 2,000,000 nano-USD.
    const answer = computeCost(catalog.resolve("fast")!, answerTokens);
    assert.deepEqual(sumCosts([answer, ...extras]), { costNanoUsd: 5_000_000, costUsd: "0.005000000" });
  });

  it("names a model the catalog does not list instead of guessing a price", () => {
    assert.deepEqual(priceExtras(catalog, [{ ...loser, model: "gone" }]), { unknownModel: "gone" });
  });

  it("sums to the answer alone when there is no extra, and formats the total", () => {
    assert.deepEqual(sumCosts([{ costNanoUsd: 1_234_567_891 }]), {
      costNanoUsd: 1_234_567_891,
      costUsd: formatNanoUsd(1_234_567_891),
    });
    assert.deepEqual(sumCosts([]), { costNanoUsd: 0, costUsd: "0.000000000" });
  });

  it("counts the extras' tokens and cost in what a quota settles", () => {
    assert.deepEqual(
      withHedgeExtras({ tokens: 1500, costNanoUsd: 2_000_000 }, [
        { promptTokens: 1000, completionTokens: 7, costNanoUsd: 3_000_042 },
      ]),
      { tokens: 2507, costNanoUsd: 5_000_042 },
    );
  });
});

describe("which attempts are a hedge's extras", () => {
  it("given a cancelled loser with estimated usage and other failures, then only the loser, flagged", () => {
    const prompt = { promptTokens: 1000, completionTokens: 0, cachedTokens: 0 };
    const attempts = [
      attemptFailed(1, "hedge_lost", prompt, true),
      attemptFailed(2, "provider_5xx"),
      attemptFailed(3, "hedge_lost", { promptTokens: 0, completionTokens: 0, cachedTokens: 0 }),
    ];
    assert.deepEqual(hedgeExtrasOf(attempts), [loser]);
  });
  it("given a loser whose provider reported usage, then it is not flagged estimated", () => {
    const reported = { promptTokens: 9, completionTokens: 4, cachedTokens: 2 };
    assert.deepEqual(hedgeExtrasOf([attemptFailed(2, "hedge_lost", reported)]), [
      { attempt: 2, provider: "other", model: "slow", ...reported, estimated: false },
    ]);
  });
});

describe("reconciliation of a usage record with hedge extras", () => {
  it("given the record billing writes, settled alike, then nothing is found", () => {
    const settled = makeEvent(
      "quota.settled",
      "r1:settled",
      ctx,
      { actual: { tokens: 2500, costNanoUsd: 5_000_000 }, afterExpiry: false, catalogVersion: "c1" },
      at,
    );
    assert.deepEqual(kinds({ ...ctx, terminal: terminal([loser], true), usage: usage(), settled }), []);
  });
  it("given an extra whose tokens were tampered with, then usage-mismatch and cost-mismatch", () => {
    const tampered = usage((d) => {
      d.extra![0]!.promptTokens = 10;
    });
    assert.deepEqual(kinds({ ...ctx, terminal: terminal(), usage: tampered }), [
      "usage-mismatch extra[0].promptTokens",
      "cost-mismatch extra[0].costNanoUsd",
      "cost-mismatch extra[0].costUsd",
      "cost-mismatch costNanoUsd",
    ]);
  });
  it("given an extra's cost lowered and the total to match, then cost-mismatch on the extra", () => {
    const tampered = usage((d) => {
      d.extra![0]!.costNanoUsd -= 1;
      d.extra![0]!.costUsd = formatNanoUsd(d.extra![0]!.costNanoUsd);
      d.costNanoUsd -= 1;
      d.costUsd = formatNanoUsd(d.costNanoUsd);
    });
    assert.deepEqual(kinds({ ...ctx, terminal: terminal(), usage: tampered }), [
      "cost-mismatch extra[0].costNanoUsd",
      "cost-mismatch extra[0].costUsd",
      "cost-mismatch costNanoUsd",
    ]);
  });
  it("given an extra priced off the catalog, or dropped, then price-mismatch, or usage-mismatch", () => {
    const cheaper = usage((d) => {
      d.extra![0]!.prices.inputPerMTokUsd = 0;
      d.extra![0]!.costNanoUsd = 0;
      d.extra![0]!.costUsd = formatNanoUsd(0);
      d.costNanoUsd = 2_000_000;
      d.costUsd = formatNanoUsd(2_000_000);
    });
    assert.deepEqual(kinds({ ...ctx, terminal: terminal(), usage: cheaper }), [
      "price-mismatch extra[0].prices.inputPerMTokUsd",
    ]);
    const dropped = usage((d) => {
      delete d.extra;
      d.costNanoUsd = 2_000_000;
      d.costUsd = formatNanoUsd(2_000_000);
    });
    assert.deepEqual(kinds({ ...ctx, terminal: terminal(), usage: dropped }), [
      "usage-mismatch extra.length",
    ]);
  });
  it("given a settlement that left the extra out, then settlement-mismatch", () => {
    const settled = makeEvent(
      "quota.settled",
      "r1:settled",
      ctx,
      { actual: { tokens: 1500, costNanoUsd: 2_000_000 }, afterExpiry: false, catalogVersion: "c1" },
      at,
    );
    assert.deepEqual(kinds({ ...ctx, terminal: terminal([loser], true), usage: usage(), settled }), [
      "settlement-mismatch actual",
    ]);
  });
});

describe("events written before hedge billing", () => {
  it("decode unchanged: no hedgeExtra on the terminal, no extra on the usage record", () => {
    const data = {
      outcome: "completed",
      provider: "mock",
      model: "fast",
      ...answerTokens,
      costNanoUsd: 2_000_000,
      costUsd: "0.002000000",
      catalogVersion: "c1",
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 2, cachedInputPerMTokUsd: 1 },
    };
    const envelope = {
      id: "r1:usage",
      type: "usage.recorded",
      v: 1,
      tenant: "acme",
      requestId: "r1",
      correlationId: "r1",
      causationId: "r1:terminal",
      time: at.toISOString(),
      data,
    } as Envelope;
    assert.deepEqual(upcastAndValidate(envelope).data, data);
    const old = terminal([]);
    assert.equal("hedgeExtra" in old.data, false);
    const plain = usage((d) => {
      delete d.extra;
      d.costNanoUsd = 2_000_000;
      d.costUsd = formatNanoUsd(2_000_000);
    });
    assert.deepEqual(kinds({ ...ctx, terminal: old, usage: plain }), []);
  });
});
