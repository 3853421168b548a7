import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { computeCost, formatNanoUsd } from "../../src/catalog/index.js";

/** mock-small's prices in the shipped catalog: $0.15 in, $0.60 out, $0.075 cached per MTok. */
const small = { prices: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6, cachedInputPerMTokUsd: 0.075 } };
const noCachePrice = { prices: { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 } };

describe("computeCost", () => {
  it("prices uncached, cached and completion tokens separately, in exact nano-USD", () => {
    // 600 uncached × 150 + 400 cached × 75 + 500 completion × 600 nano-USD.
    assert.deepEqual(computeCost(small, { promptTokens: 1000, completionTokens: 500, cachedTokens: 400 }), {
      costNanoUsd: 90_000 + 30_000 + 300_000,
      costUsd: "0.000420000",
    });
  });

  it("prices cached tokens at the input price when the model has no cached price", () => {
    const withCache = computeCost(noCachePrice, { promptTokens: 100, completionTokens: 0, cachedTokens: 60 });
    const without = computeCost(noCachePrice, { promptTokens: 100, completionTokens: 0, cachedTokens: 0 });
    assert.equal(withCache.costNanoUsd, 250_000);
    assert.deepEqual(withCache, without);
  });

  it("never counts more cached tokens than prompt tokens", () => {
    assert.equal(
      computeCost(small, { promptTokens: 10, completionTokens: 0, cachedTokens: 50 }).costNanoUsd,
      10 * 75,
    );
  });

  it("costs nothing for no tokens", () => {
    assert.deepEqual(computeCost(small, { promptTokens: 0, completionTokens: 0, cachedTokens: 0 }), {
      costNanoUsd: 0,
      costUsd: "0.000000000",
    });
  });

  it("matches integer arithmetic for prices with up to three decimals (whole nano-USD per token)", () => {
    const priceInMilliUsd = fc.integer({ min: 0, max: 100_000 });
    fc.assert(
      fc.property(
        priceInMilliUsd,
        priceInMilliUsd,
        priceInMilliUsd,
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        (input, output, cachedPrice, prompt, completion, cachedTokens) => {
          const model = {
            prices: {
              inputPerMTokUsd: input / 1000,
              outputPerMTokUsd: output / 1000,
              cachedInputPerMTokUsd: cachedPrice / 1000,
            },
          };
          const cached = Math.min(prompt, cachedTokens);
          const expected = (prompt - cached) * input + cached * cachedPrice + completion * output;
          const cost = computeCost(model, {
            promptTokens: prompt,
            completionTokens: completion,
            cachedTokens,
          });
          assert.equal(cost.costNanoUsd, expected);
          assert.equal(cost.costUsd, formatNanoUsd(expected));
        },
      ),
    );
  });

  it("rounds a half nano-USD up, as documented, also for prices with more decimals", () => {
    const model = { prices: { inputPerMTokUsd: 0.01875, outputPerMTokUsd: 0 } };
    assert.equal(
      computeCost(model, { promptTokens: 6, completionTokens: 0, cachedTokens: 0 }).costNanoUsd,
      113,
    );
  });
});

describe("formatNanoUsd", () => {
  it("writes nano-USD as dollars with nine decimals", () => {
    assert.equal(formatNanoUsd(0), "0.000000000");
    assert.equal(formatNanoUsd(1), "0.000000001");
    assert.equal(formatNanoUsd(420_000), "0.000420000");
    assert.equal(formatNanoUsd(12_345_678_901), "12.345678901");
  });

  it("round-trips through the decimal string for any safe integer amount", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (nano) => {
        const [whole, fraction] = formatNanoUsd(nano).split(".") as [string, string];
        assert.equal(fraction.length, 9);
        assert.equal(BigInt(whole) * 1_000_000_000n + BigInt(fraction), BigInt(nano));
      }),
    );
  });
});
