import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig, loadConfigFromEnv } from "../../src/config/index.js";
import { isBeamlineError } from "../../src/errors/index.js";

describe("the anthropic configuration section", () => {
  it("is optional: no key and Anthropic's base URL by default", () => {
    const config = loadConfig({ openai: {}, mock: {}, provider: {} });
    assert.deepEqual(config.anthropic, { baseUrl: "https://api.anthropic.com/v1" });
  });

  it("reads ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL", () => {
    const config = loadConfigFromEnv({
      ANTHROPIC_API_KEY: "sk-ant-config-test",
      ANTHROPIC_BASE_URL: "http://127.0.0.1:9/v1",
    });
    assert.deepEqual(config.anthropic, { apiKey: "sk-ant-config-test", baseUrl: "http://127.0.0.1:9/v1" });
  });

  it("rejects a base URL that is not a URL", () => {
    assert.throws(
      () => loadConfigFromEnv({ ANTHROPIC_BASE_URL: "not a url" }),
      (error) => isBeamlineError(error, "BL_CONFIG_INVALID") && error.message.includes("anthropic.baseUrl"),
    );
  });
});
