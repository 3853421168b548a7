import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadedEncodings } from "../../src/tokens/index.js";
import { startTestBeamline } from "../support/beamline.js";

// Each test file runs in its own process, so the encodings loaded here are those the two
// Beamlines below preloaded, in order. The seed catalog lists mock models (approximate counts,
// cl100k) and OpenAI's gpt-4o family (o200k).
describe("a Beamline preloads the encodings of the models it can route to", { timeout: 60_000 }, () => {
  it("without an OpenAI key the seed catalog's gpt-4o models load no o200k", async () => {
    const beamline = await startTestBeamline();
    try {
      assert.deepEqual(loadedEncodings(), ["cl100k_base"]);
    } finally {
      await beamline.stop();
    }
  });

  it("with an OpenAI key configured, o200k is loaded before the first request", async () => {
    // Never called: the key only makes OpenAI's models routable.
    const beamline = await startTestBeamline({
      openai: { apiKey: "sk-test-not-a-real-key", baseUrl: "http://127.0.0.1:9/v1" },
    });
    try {
      assert.deepEqual(loadedEncodings(), ["cl100k_base", "o200k_base"]);
    } finally {
      await beamline.stop();
    }
  });
});
