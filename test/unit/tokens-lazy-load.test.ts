import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  countPromptTokens,
  countTextTokens,
  loadEncodingsFor,
  loadedEncodings,
  TokenizerKinds,
} from "../../src/tokens/index.js";

// Each test file runs in its own process, so the encodings loaded here start from none. The
// tests run in order and each builds on the state the previous one left.
describe("encodings load only when a model needs them", () => {
  it("importing the counter loads no encoding", () => {
    assert.deepEqual(loadedEncodings(), []);
  });

  it("preloading for models without a public tokenizer loads cl100k alone", () => {
    const loaded = loadEncodingsFor([
      { provider: "mock", upstreamModel: "mock-small" },
      { provider: "anthropic", upstreamModel: "claude-sonnet-4" },
    ]);
    assert.deepEqual(loaded, ["cl100k_base"]);
    assert.deepEqual(loadedEncodings(), ["cl100k_base"]);
  });

  it("an approximate count reuses cl100k and loads nothing more", () => {
    assert.ok(countTextTokens(TokenizerKinds.approximate, "Hello there") > 0);
    assert.deepEqual(loadedEncodings(), ["cl100k_base"]);
  });

  it("the first count for an o200k model loads o200k, exactly", () => {
    // "Hello world" is two tokens in o200k_base; the chat framing adds 3 + role + 3 priming.
    assert.equal(countTextTokens(TokenizerKinds.o200k, "Hello world"), 2);
    assert.deepEqual(loadedEncodings(), ["cl100k_base", "o200k_base"]);
    assert.equal(
      countPromptTokens(TokenizerKinds.o200k, { messages: [{ role: "user", content: "Hello world" }] }),
      9,
    );
  });
});
