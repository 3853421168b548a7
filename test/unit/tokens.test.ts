import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  APPROXIMATION_FACTOR,
  countMessageTokens,
  countPromptTokens,
  countTextTokens,
  promptTokenCounter,
  TokenizerKinds,
  tokenizerFor,
  truncateToTokens,
} from "../../src/tokens/index.js";

const { o200k, cl100k, approximate } = TokenizerKinds;

describe("token counter: known counts", () => {
  it("counts text as OpenAI's published encodings do", () => {
    assert.equal(countTextTokens(o200k, "hello world"), 2);
    assert.equal(countTextTokens(cl100k, "hello world"), 2);
    assert.equal(countTextTokens(o200k, "tiktoken is great!"), 6);
    assert.equal(countTextTokens(cl100k, "tiktoken is great!"), 6);
    assert.equal(countTextTokens(o200k, ""), 0);
    // The vocabularies differ where it matters: o200k packs non-Latin scripts tighter.
    assert.ok(
      countTextTokens(o200k, "Маршрутизатор выбирает модель") <
        countTextTokens(cl100k, "Маршрутизатор выбирает модель"),
    );
  });

  it("counts special-token text as plain text instead of refusing it", () => {
    assert.ok(countTextTokens(o200k, "a <|endoftext|> b") > 3);
  });

  it("adds OpenAI's framing: 3 per message, the role, 1 more with a name, 3 to prime the reply", () => {
    const hello = { role: "user", content: "hello world" };
    assert.equal(countPromptTokens(o200k, { messages: [hello] }), 3 + (3 + 1 + 2));
    assert.equal(
      countPromptTokens(o200k, { messages: [{ ...hello, name: "alice" }] }),
      3 + (3 + 1 + 2) + 1 + 1,
    );
    assert.equal(countMessageTokens(o200k, hello), 3 + 1 + 2);
    const image = { role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] };
    assert.equal(countPromptTokens(o200k, { messages: [image] }), 3 + 3 + 1 + 765);
    const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }];
    assert.ok(
      countPromptTokens(o200k, { messages: [hello], tools }) >
        countPromptTokens(o200k, { messages: [hello] }) + 12,
    );
  });

  it("approximates by scaling the cl100k count and rounding up", () => {
    const text = "Please summarise the attached meeting notes in three bullet points.";
    assert.equal(
      countTextTokens(approximate, text),
      Math.ceil(countTextTokens(cl100k, text) * APPROXIMATION_FACTOR),
    );
  });
});

describe("token counter: which tokenizer a model uses", () => {
  it("picks OpenAI's encoding by model family, wherever it is hosted", () => {
    const kind = (provider: string, upstreamModel: string) => tokenizerFor({ provider, upstreamModel });
    assert.equal(kind("openai", "gpt-4o-mini"), o200k);
    assert.equal(kind("openai", "gpt-4.1-nano"), o200k);
    assert.equal(kind("openai", "o3-mini"), o200k);
    assert.equal(kind("azure", "openai/gpt-4o"), o200k);
    assert.equal(kind("openai", "gpt-4-turbo"), cl100k);
    assert.equal(kind("openai", "gpt-3.5-turbo"), cl100k);
    assert.equal(kind("anthropic", "claude-sonnet-4"), approximate);
    assert.equal(kind("gemini", "gemini-2.5-flash"), approximate);
    assert.equal(kind("mock", "mock-small"), approximate);
    assert.equal(kind("openai", "gpt-4omega"), approximate);
  });
});

const anyText = fc.string({ unit: "grapheme", maxLength: 300 });
const message = fc.record({ role: fc.constantFrom("system", "user", "assistant"), content: anyText });

describe("token counter: properties", () => {
  it("the approximation never counts fewer tokens than either public encoding", () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const approx = countTextTokens(approximate, text);
        return approx >= countTextTokens(cl100k, text) && approx >= countTextTokens(o200k, text);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), (messages) => {
        const approx = countPromptTokens(approximate, { messages });
        return (
          approx >= countPromptTokens(cl100k, { messages }) &&
          approx >= countPromptTokens(o200k, { messages })
        );
      }),
      { numRuns: 200 },
    );
  });

  it("the memoised per-request counter agrees with counting each tokenizer afresh", () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 4 }), (messages) => {
        const count = promptTokenCounter({ messages });
        return [approximate, o200k, cl100k, approximate].every(
          (kind) => count(kind) === countPromptTokens(kind, { messages }),
        );
      }),
      { numRuns: 100 },
    );
  });

  it("truncation keeps a prefix within the limit, and all of a text that fits", () => {
    fc.assert(
      fc.property(
        anyText,
        fc.integer({ min: 0, max: 60 }),
        fc.constantFrom(o200k, cl100k, approximate),
        (text, max, kind) => {
          const cut = truncateToTokens(kind, text, max);
          assert.ok(text.startsWith(cut));
          assert.ok(countTextTokens(kind, cut) <= max, `${JSON.stringify(cut)} counts over ${max}`);
          if (countTextTokens(kind, text) <= max) assert.equal(cut, text);
        },
      ),
      { numRuns: 300 },
    );
  });
});
