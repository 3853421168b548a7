import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { configInputFromEnv, loadConfig, loadConfigFromEnv, ROLES } from "../../src/config/index.js";
import { isBeamlineError } from "../../src/errors/index.js";

/** The nested groups have no defaults of their own: an input always carries them. */
const minimal = { openai: {}, mock: {}, provider: {} };

describe("loadConfig", () => {
  it("fills every default: all roles, port 8080, 30 s ack wait, one replica", () => {
    const config = loadConfig(minimal);
    assert.deepEqual(config.roles, [...ROLES]);
    assert.equal(config.httpPort, 8080);
    assert.equal(config.httpHost, "127.0.0.1");
    assert.equal(config.ackWaitMs, 30_000);
    assert.equal(config.replicas, 1);
    assert.equal(config.persistMode, "default");
    assert.equal(config.natsUrl, undefined);
    assert.equal(config.openai.baseUrl, "https://api.openai.com/v1");
    assert.equal(config.mock.chunkDelayMs, 0);
  });

  it("reports every problem in one BL_CONFIG_INVALID error, each with its path", () => {
    let caught: unknown;
    try {
      loadConfig({
        httpPort: 70_000,
        devKey: "too-short",
        roles: ["gateway", "teleport" as never],
        ackWaitMs: 0,
        persistMode: "eventually" as never,
        openai: { baseUrl: "not a url" },
        mock: { failureRate: 2 },
        provider: { maxConnections: -1 },
      });
    } catch (error) {
      caught = error;
    }
    assert.ok(isBeamlineError(caught, "BL_CONFIG_INVALID"), `expected BL_CONFIG_INVALID, got ${caught}`);
    const lines = caught.message.split("\n").filter((line) => line.startsWith("  - "));
    const paths = lines.map((line) => line.slice(4, line.indexOf(":")));
    assert.deepEqual(paths.sort(), [
      "ackWaitMs",
      "devKey",
      "httpPort",
      "mock.failureRate",
      "openai.baseUrl",
      "persistMode",
      "provider.maxConnections",
      "roles.1",
    ]);
  });

  it("refuses a retention shorter than the duplicate window, naming both (JetStream would refuse the stream)", () => {
    assert.throws(
      () =>
        loadConfig({
          ...minimal,
          requestRetentionDays: 0.002,
          duplicateWindowMs: 600_000,
          usageRetentionDays: 1,
        }),
      (error) =>
        isBeamlineError(error, "BL_CONFIG_INVALID") &&
        /requestRetentionDays: 0\.002 days \(172800 ms\) is shorter than the duplicate window \(BEAMLINE_DUPLICATE_WINDOW_MS, 600000 ms\)/.test(
          error.message,
        ) &&
        !error.message.includes("usageRetentionDays"),
    );
    const short = loadConfig({ ...minimal, requestRetentionDays: 0.002, duplicateWindowMs: 60_000 });
    assert.equal(short.requestRetentionDays, 0.002);
  });

  it("never echoes a secret it refuses", () => {
    const secret = "sk-short-secret";
    assert.throws(
      () => loadConfig({ ...minimal, devKey: secret }),
      (error) => isBeamlineError(error, "BL_CONFIG_INVALID") && !error.message.includes(secret),
    );
  });

  it("returns a deeply frozen object", () => {
    const config = loadConfig({ ...minimal, roles: ["gateway"] });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.mock));
    assert.ok(Object.isFrozen(config.roles));
    assert.throws(() => {
      (config as { httpPort: number }).httpPort = 1;
    }, TypeError);
    assert.throws(() => {
      (config.mock as { latencyMs: number }).latencyMs = 1;
    }, TypeError);
    assert.throws(() => {
      (config.roles as string[]).push("worker");
    }, TypeError);
  });
});

describe("loadConfigFromEnv", () => {
  it("reads and coerces the environment: numbers, the roles list, nested provider settings", () => {
    const config = loadConfigFromEnv({
      BEAMLINE_HTTP_PORT: "9090",
      NATS_URL: "nats://127.0.0.1:4222",
      BEAMLINE_ROLES: "gateway, worker ,,billing",
      BEAMLINE_ACK_WAIT_MS: "5000",
      OPENAI_API_KEY: "sk-test",
      BEAMLINE_MOCK_CHUNK_DELAY_MS: "25",
      BEAMLINE_PROVIDER_MAX_CONNECTIONS: "8",
      LOG_LEVEL: "warn",
    });
    assert.equal(config.httpPort, 9090);
    assert.equal(config.natsUrl, "nats://127.0.0.1:4222");
    assert.deepEqual(config.roles, ["gateway", "worker", "billing"]);
    assert.equal(config.ackWaitMs, 5000);
    assert.equal(config.openai.apiKey, "sk-test");
    assert.equal(config.mock.chunkDelayMs, 25);
    assert.equal(config.provider.maxConnections, 8);
    assert.equal(config.logLevel, "warn");
  });

  it("treats an empty variable as unset", () => {
    assert.deepEqual(configInputFromEnv({ NATS_URL: "", BEAMLINE_HTTP_PORT: "" }), {});
    assert.equal(loadConfigFromEnv({ BEAMLINE_HTTP_PORT: "" }).httpPort, 8080);
  });

  it("lets overrides win over the environment, merging the nested groups field by field", () => {
    const config = loadConfigFromEnv(
      { BEAMLINE_HTTP_PORT: "9090", BEAMLINE_MOCK_LATENCY_MS: "100", BEAMLINE_MOCK_CHUNK_DELAY_MS: "5" },
      { httpPort: 0, mock: { latencyMs: 0 } },
    );
    assert.equal(config.httpPort, 0);
    assert.equal(config.mock.latencyMs, 0);
    assert.equal(config.mock.chunkDelayMs, 5);
  });

  it("names the variable's config path when a value does not parse", () => {
    assert.throws(
      () => loadConfigFromEnv({ BEAMLINE_HTTP_PORT: "eighty", BEAMLINE_PERSIST_MODE: "fast" }),
      (error) =>
        isBeamlineError(error, "BL_CONFIG_INVALID") &&
        /- httpPort:/.test(error.message) &&
        /- persistMode:/.test(error.message),
    );
  });
});
