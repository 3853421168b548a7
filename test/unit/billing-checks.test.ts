import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkRequest } from "../../replay/index.js";
import { formatNanoUsd, parseCatalog } from "../../src/catalog/index.js";
import { type BeamlineEvent, makeEvent } from "../../src/events/index.js";
import type { TerminalEvent } from "../../src/stages/index.js";

const catalog = parseCatalog({
  version: "c1",
  models: [
    { id: "m", provider: "mock", upstreamModel: "m", prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 } },
  ],
});
const catalogAt = (version: string) => (version === "c1" ? catalog : undefined);
const ctx = { tenant: "acme", requestId: "r1", correlationId: "r1" };
const at = new Date("2026-03-01T10:00:00Z");
const tokens = { promptTokens: 1000, completionTokens: 500, cachedTokens: 0 };

function terminal(reserved = false): TerminalEvent {
  return makeEvent(
    "request.failed",
    "r1:terminal",
    ctx,
    {
      stage: "execute",
      error: { code: "BL_STREAM_INTERRUPTED", message: "cut", httpStatus: 502, type: "api_error" },
      provider: "mock",
      model: "m",
      usage: tokens,
      attempts: 1,
      catalogVersion: "c1",
      quotaReserved: reserved,
    },
    at,
  );
}
function usage(costNanoUsd = 2_000_000): BeamlineEvent<"usage.recorded"> {
  return makeEvent(
    "usage.recorded",
    "r1:usage",
    ctx,
    {
      outcome: "failed",
      provider: "mock",
      model: "m",
      ...tokens,
      costNanoUsd,
      costUsd: formatNanoUsd(costNanoUsd),
      catalogVersion: "c1",
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 2, cachedInputPerMTokUsd: 1 },
    },
    at,
  );
}
function settled(costNanoUsd: number): BeamlineEvent<"quota.settled"> {
  return makeEvent(
    "quota.settled",
    "r1:settled",
    ctx,
    { actual: { tokens: 1500, costNanoUsd }, afterExpiry: false, catalogVersion: "c1" },
    at,
  );
}
const kinds = (facts: Parameters<typeof checkRequest>[0]) =>
  checkRequest(facts, catalogAt).map((d) => d.kind);

describe("billing checks of one request", () => {
  it("given a cut stream billed at the recorded prices and settled alike, then nothing is found", () => {
    assert.deepEqual(
      kinds({ ...ctx, terminal: terminal(true), usage: usage(), settled: settled(2_000_000) }),
      [],
    );
  });
  it("given a billable terminal without usage, then usage-missing", () => {
    assert.deepEqual(kinds({ ...ctx, terminal: terminal() }), ["usage-missing"]);
  });
  it("given a cost the prices do not give, then cost-mismatch naming both sides", () => {
    const [finding] = checkRequest({ ...ctx, terminal: terminal(), usage: usage(2_000_001) }, catalogAt);
    assert.deepEqual(finding, {
      kind: "cost-mismatch",
      tenant: "acme",
      requestId: "r1",
      expected: 2_000_000,
      found: 2_000_001,
      field: "costNanoUsd",
    });
  });
  it("given a settlement that differs from usage, then settlement-mismatch; none at all, settlement-missing", () => {
    assert.deepEqual(kinds({ ...ctx, terminal: terminal(true), usage: usage(), settled: settled(5) }), [
      "settlement-mismatch",
    ]);
    assert.deepEqual(kinds({ ...ctx, terminal: terminal(true), usage: usage() }), ["settlement-missing"]);
  });
  it("given a usage record with no terminal, then usage-orphan", () => {
    assert.deepEqual(kinds({ ...ctx, usage: usage() }), ["usage-orphan"]);
  });
  it("given prices other than the catalog version's, then price-mismatch", () => {
    const repriced = usage();
    repriced.data.prices = { ...repriced.data.prices, outputPerMTokUsd: 3 };
    repriced.data.costNanoUsd = 2_500_000;
    repriced.data.costUsd = formatNanoUsd(2_500_000);
    assert.deepEqual(kinds({ ...ctx, terminal: terminal(), usage: repriced }), ["price-mismatch"]);
  });
});

describe("billing checks of a response-cache hit", () => {
  const hit = (discountPercent: number): TerminalEvent =>
    makeEvent(
      "request.completed",
      "r1:terminal",
      ctx,
      {
        provider: "mock",
        model: "m",
        usage: tokens,
        attempts: 0,
        catalogVersion: "c1",
        cache: { status: "hit", sourceRequestId: "r0", discountPercent },
      },
      at,
    );
  const hitUsage = (costNanoUsd: number, cached: boolean, discountPercent?: number) => {
    const base = usage(costNanoUsd);
    return {
      ...base,
      data: {
        ...base.data,
        outcome: "completed" as const,
        ...(cached ? { cached: true } : {}),
        ...(discountPercent !== undefined ? { cacheDiscountPercent: discountPercent } : {}),
      },
    };
  };

  it("given a hit billed at its discount with cached: true, then nothing is found", () => {
    assert.deepEqual(kinds({ ...ctx, terminal: hit(50), usage: hitUsage(1_000_000, true, 50) }), []);
    assert.deepEqual(kinds({ ...ctx, terminal: hit(100), usage: hitUsage(0, true, 100) }), []);
  });

  it("given a hit billed at full price or without the flag, then the mismatch is found", () => {
    assert.ok(
      kinds({ ...ctx, terminal: hit(50), usage: hitUsage(2_000_000, true, 50) }).includes("cost-mismatch"),
    );
    assert.ok(
      kinds({ ...ctx, terminal: hit(100), usage: hitUsage(2_000_000, false) }).includes("usage-mismatch"),
    );
  });
});
