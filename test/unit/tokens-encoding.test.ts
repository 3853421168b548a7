import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import fc from "fast-check";
import { BytePairEncoding } from "../../src/tokens/byte-pair-encoding.js";
import { type EncodingName, encoding } from "../../src/tokens/tokenizers.js";

const require = createRequire(import.meta.url);
const NAMES: EncodingName[] = ["cl100k_base", "o200k_base"];

/** The test plans gpt-tokenizer ships (checked by its authors against OpenAI's tiktoken). */
function testPlans(): Array<{ name: string; sample: string; encoded: number[] }> {
  const text = readFileSync(require.resolve("gpt-tokenizer/data/TestPlans.txt"), "utf8");
  const plans: Array<{ name: string; sample: string; encoded: number[] }> = [];
  let name = "";
  let sample: string[] | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("EncodingName: ")) name = line.slice("EncodingName: ".length);
    else if (line.startsWith("Sample: ")) sample = [line.slice("Sample: ".length)];
    else if (line.startsWith("Encoded: ")) {
      plans.push({ name, sample: sample!.join("\n"), encoded: JSON.parse(line.slice("Encoded: ".length)) });
      sample = undefined;
    } else if (sample) sample.push(line);
  }
  return plans;
}

/** gpt-tokenizer's own encoder, the reference this one replaced. */
function reference(name: EncodingName): (text: string) => number[] {
  const module = require(`gpt-tokenizer/cjs/encoding/${name}`) as {
    encode(text: string, options: { disallowedSpecial: Set<string> }): number[];
  };
  return (text) => module.encode(text, { disallowedSpecial: new Set() });
}

describe("the byte-pair encodings", () => {
  for (const name of NAMES) {
    it(`${name} encodes the published test plans exactly, and decodes them back`, () => {
      const plans = testPlans().filter((plan) => plan.name === name);
      assert.ok(plans.length > 50, `${plans.length} test plans for ${name}`);
      const bpe = encoding(name);
      for (const plan of plans) {
        assert.deepEqual(bpe.encode(plan.sample), plan.encoded, JSON.stringify(plan.sample));
        assert.equal(bpe.count(plan.sample), plan.encoded.length);
        assert.equal(bpe.decode(plan.encoded), plan.sample);
      }
    });

    it(`${name} agrees with gpt-tokenizer's encoder on arbitrary text`, () => {
      const bpe = encoding(name);
      const expected = reference(name);
      const words = fc.constantFrom(
        "the",
        " The",
        "don't",
        " I'll",
        "réseau",
        "在线",
        "🎉",
        "\t",
        "\r\n",
        "  ",
        "123456",
        "3.14",
        "<|endoftext|>",
        "http://x.y/z?q=1",
        "naïve",
        "ﬁ",
        "\u0301",
        "\ud800",
      );
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string({ unit: "grapheme", maxLength: 80 }),
            fc.array(words, { maxLength: 30 }).map((w) => w.join("")),
          ),
          (text) => {
            const tokens = expected(text);
            assert.deepEqual(bpe.encode(text), tokens);
            assert.equal(bpe.count(text), tokens.length);
          },
        ),
        { numRuns: 400 },
      );
    });
  }

  it("counts the same after more distinct words than it remembers", () => {
    const bpe = encoding("cl100k_base");
    const expected = reference("cl100k_base");
    const words = Array.from({ length: 10_000 }, (_, i) => ` zq${i.toString(36)}xv`);
    const first = words.slice(0, 50).map((word) => bpe.encode(word));
    for (const word of words) bpe.count(word);
    words.slice(0, 50).forEach((word, i) => {
      assert.deepEqual(bpe.encode(word), first[i]);
      assert.deepEqual(bpe.encode(word), expected(word));
    });
  });

  it("refuses a ranks file whose lines are not rank after rank", () => {
    const pattern = /\S+|\s+/gu;
    assert.equal(BytePairEncoding.fromTiktoken("YQ== 0\nYg== 1\n", pattern).size, 2);
    assert.throws(() => BytePairEncoding.fromTiktoken("YQ== 0\nYg== 2\n", pattern), /line 2/);
    assert.throws(() => BytePairEncoding.fromTiktoken("YQ==0\n", pattern), /line 1/);
    assert.throws(() => BytePairEncoding.fromTiktoken("YQ== 0\n", /\S+/u), /global/);
  });

  it("merges the lowest-ranked pair first and falls back to single bytes", () => {
    // a=0 b=1 c=2 ab=3 bc=4 abc=5: "abc" is one token; "abcb" → "abc" + "b"; "cab" → "c" + "ab".
    const tiny = ["a", "b", "c", "ab", "bc", "abc"].map(
      (t, r) => `${Buffer.from(t).toString("base64")} ${r}`,
    );
    const bpe = BytePairEncoding.fromTiktoken(`${tiny.join("\n")}\n`, /[a-z]+/gu);
    assert.deepEqual(bpe.encode("abc"), [5]);
    assert.deepEqual(bpe.encode("abcb"), [5, 1]);
    assert.deepEqual(bpe.encode("cab"), [2, 3]);
    assert.equal(bpe.decode([2, 3]), "cab");
    assert.throws(() => bpe.decode([6]), RangeError);
  });
});
