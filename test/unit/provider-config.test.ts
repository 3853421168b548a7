import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadConfigFromEnv, resolveProviderKeys } from "../../src/config/index.js";
import { isBeamlineError } from "../../src/errors/index.js";
import { createLogger } from "../../src/observability/index.js";
import { setUpProviders } from "../../src/runtime/providers.js";

const groq = {
  kind: "openai-compatible",
  name: "groq",
  baseUrl: "https://groq.test/openai/v1",
  apiKeyEnv: "GROQ_KEY",
};
const ollama = { kind: "openai-compatible", name: "ollama", baseUrl: "http://127.0.0.1:11434/v1" };
const faq = { kind: "nats-service", name: "faq", timeoutMs: 5_000 };

/** The BL_CONFIG_INVALID message of a failing call; fails the test when it succeeds. */
function configError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(isBeamlineError(error, "BL_CONFIG_INVALID"), `expected BL_CONFIG_INVALID, got ${error}`);
    return error.message;
  }
  assert.fail("expected a configuration error");
}

describe("provider configuration", () => {
  it("reads named providers from BEAMLINE_PROVIDERS and Gemini from its variables", () => {
    const config = loadConfigFromEnv({
      BEAMLINE_PROVIDERS: JSON.stringify([groq, ollama, faq]),
      GEMINI_API_KEY: "gemini-key",
    });
    assert.deepEqual(
      config.providers.map((entry) => [entry.kind, entry.name]),
      [
        ["openai-compatible", "groq"],
        ["openai-compatible", "ollama"],
        ["nats-service", "faq"],
      ],
    );
    assert.equal(config.gemini.apiKey, "gemini-key");
    assert.equal(config.gemini.baseUrl, "https://generativelanguage.googleapis.com/v1beta");
    assert.deepEqual(loadConfigFromEnv({}).providers, []);
  });

  it("reads the providers file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "beamline-providers-"));
    try {
      const file = join(dir, "providers.json");
      await writeFile(file, JSON.stringify([ollama]));
      assert.equal(loadConfigFromEnv({ BEAMLINE_PROVIDERS_FILE: file }).providers[0]?.name, "ollama");
      assert.match(
        configError(() => loadConfigFromEnv({ BEAMLINE_PROVIDERS_FILE: join(dir, "missing.json") })),
        /cannot be read \(ENOENT\)/,
      );
      assert.match(
        configError(() => loadConfigFromEnv({ BEAMLINE_PROVIDERS_FILE: file, BEAMLINE_PROVIDERS: "[]" })),
        /not both/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reports JSON that does not parse", () => {
    assert.match(
      configError(() => loadConfigFromEnv({ BEAMLINE_PROVIDERS: "[{" })),
      /providers: is not valid JSON/,
    );
  });

  it("reports every bad entry together, each with its path, without echoing a key", () => {
    const secret = "sk-live-never-in-config";
    const message = configError(() =>
      loadConfigFromEnv({
        BEAMLINE_PROVIDERS: JSON.stringify([
          { ...groq, name: "Bad Name" },
          { ...ollama, baseUrl: "ftp://somewhere" },
          { ...ollama, name: "keyed", apiKey: secret },
          { kind: "carrier-pigeon", name: "coo" },
          { ...ollama, name: "openai" },
          { ...faq },
          { ...faq, apiKeyEnv: "lowercase is fine but not here" },
          { ...groq, apiKeyEnv: "not a name" },
        ]),
      }),
    );
    assert.ok(!message.includes(secret), "the misplaced key is not quoted");
    for (const expected of [
      /providers\.0\.name: must be 1-63 lower-case/,
      /providers\.1\.baseUrl: must be an http\(s\) URL/,
      /providers\.2: holds apiKey; keys never go in provider configuration/,
      /providers\.3\.kind: kind must be "openai-compatible" or "nats-service"|providers\.3: kind must be/,
      /providers\.4\.name: is the name of a built-in provider/,
      /providers\.6: Unrecognized key/,
      /providers\.7\.apiKeyEnv: must be the NAME of an environment variable/,
    ]) {
      assert.match(message, expected);
    }
  });

  it("rejects a provider name configured twice and an authorization header", () => {
    assert.match(
      configError(() => loadConfigFromEnv({ BEAMLINE_PROVIDERS: JSON.stringify([ollama, ollama]) })),
      /providers\.1\.name: "ollama" is configured twice/,
    );
    assert.match(
      configError(() =>
        loadConfigFromEnv({
          BEAMLINE_PROVIDERS: JSON.stringify([{ ...ollama, headers: { Authorization: "Bearer x" } }]),
        }),
      ),
      /providers\.0\.headers: must not set authorization/,
    );
  });

  it("resolves keys from the named variables and lists every missing one", () => {
    const config = loadConfigFromEnv({
      BEAMLINE_PROVIDERS: JSON.stringify([
        groq,
        ollama,
        { ...groq, name: "together", apiKeyEnv: "TOGETHER_KEY" },
      ]),
    });
    const keys = resolveProviderKeys(config.providers, {
      GROQ_KEY: "groq-secret",
      TOGETHER_KEY: "together-secret",
    });
    assert.equal(keys.get("groq"), "groq-secret");
    assert.equal(keys.has("ollama"), false, "a keyless local server gets no key");
    const message = configError(() => resolveProviderKeys(config.providers, { GROQ_KEY: "" }));
    assert.match(message, /providers\.groq: environment variable GROQ_KEY/);
    assert.match(message, /providers\.together: environment variable TOGETHER_KEY/);
  });
});

describe("setUpProviders", () => {
  const log = createLogger({ level: "silent" });

  it("registers Gemini, every OpenAI-compatible provider and every NATS service", async () => {
    const config = loadConfigFromEnv({
      BEAMLINE_PROVIDERS: JSON.stringify([groq, ollama, faq]),
      GEMINI_API_KEY: "gemini-key",
      BEAMLINE_MOCK_URL: "http://127.0.0.1:1/v1",
    });
    const setup = await setUpProviders(config, log, false, {
      env: { GROQ_KEY: "groq-secret" },
      nc: {} as NatsConnection,
    });
    try {
      assert.deepEqual(setup.registry.names(), ["mock", "gemini", "groq", "ollama", "faq"]);
    } finally {
      await setup.close();
    }
  });

  it("refuses NATS services without a connection and providers whose key variable is unset", async () => {
    const config = loadConfigFromEnv({ BEAMLINE_PROVIDERS: JSON.stringify([groq, faq]) });
    await assert.rejects(
      setUpProviders(config, log, false, { env: { GROQ_KEY: "k" } }),
      (error) =>
        isBeamlineError(error, "BL_CONFIG_INVALID") && /faq of kind nats-service/.test(error.message),
    );
    await assert.rejects(
      setUpProviders(config, log, false, { env: {}, nc: {} as NatsConnection }),
      (error) => isBeamlineError(error, "BL_CONFIG_INVALID") && /GROQ_KEY/.test(error.message),
    );
  });
});
