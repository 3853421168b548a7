import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fromHealthToken, healthToken } from "../../src/nats/index.js";

describe("health names as subject tokens and KV keys", () => {
  it("keeps letters, digits and dashes as they are", () => {
    assert.equal(healthToken("mock-small"), "mock-small");
    assert.equal(healthToken("GPT-4o-2024"), "GPT-4o-2024");
  });

  it("escapes every other UTF-8 byte reversibly, the same way every time", () => {
    for (const name of ["gpt-4.1", "openai/gpt-4o", "claude 3.5 sonnet", "modèle_é", "a.b.c", "_x_"]) {
      const token = healthToken(name);
      assert.match(token, /^[A-Za-z0-9_-]*$/, `${name} → ${token}`);
      assert.equal(healthToken(name), token, "a remembered token is the one first worked out");
      assert.equal(fromHealthToken(token), name);
    }
    assert.equal(healthToken("gpt-4.1"), "gpt-4_2e1");
    assert.equal(healthToken("_x_"), "_5fx_5f");
  });

  it("names beyond those remembered are still escaped correctly", () => {
    for (let i = 0; i < 3_000; i++) {
      const name = `model.${i}`;
      assert.equal(healthToken(name), `model_2e${i}`);
    }
  });
});
