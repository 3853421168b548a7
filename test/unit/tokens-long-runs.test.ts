import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { countTextTokens, MAX_BPE_RUN, TokenizerKinds } from "../../src/tokens/index.js";
import { encoding } from "../../src/tokens/tokenizers.js";

const exact = (text: string) => encoding("o200k_base").count(text);

describe("token counts of long runs without spaces", () => {
  it("stay within a token per slice of the exact count", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("é", "a", "ab", "😀", "!", " ", "字", "Zm9v"),
        fc.integer({ min: 65, max: 1_500 }),
        fc.string({ maxLength: 20 }),
        (unit, repeat, around) => {
          const text = `${around}${unit.repeat(repeat)}${around}`;
          const counted = countTextTokens(TokenizerKinds.o200k, text);
          const expected = exact(text);
          // One token at each end of the run and at each slice boundary, at most.
          const slices = Math.ceil(text.length / MAX_BPE_RUN);
          assert.ok(Math.abs(counted - expected) <= slices + 2, `${counted} vs exact ${expected}`);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("are counted in linear time: 200,000 repeated é in seconds, not minutes", () => {
    const started = performance.now();
    const tokens = countTextTokens(TokenizerKinds.o200k, "é".repeat(200_000));
    const elapsedMs = performance.now() - started;
    assert.ok(tokens >= 100_000, `${tokens} tokens`);
    // Exact BPE on this one pre-token took about eight minutes; sliced, under a second quiet.
    assert.ok(elapsedMs < 15_000, `${elapsedMs} ms`);
  });
});
