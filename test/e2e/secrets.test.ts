/**
 * No secret Beamline holds ever leaves it: not in its logs, its events and KV entries (every
 * stream is scanned), its metrics, the error bodies it answers, or the output of CLI commands
 * run with the secrets in their environment. The secrets are one table: a new one (producer
 * credentials, the master key, …) is one line in {@link SECRETS}, and every check covers it.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { type BeamlineConfigInput, configInputFromEnv } from "../../src/config/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { geminiBaseUrl, type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { hashApiKey } from "../../src/tenancy/index.js";
import {
  startTestBeamline,
  TEST_DEV_KEY,
  type TestBeamline,
  waitForConsumerCaughtUp,
} from "../support/beamline.js";
import { runCliStatus } from "../support/cli.js";
import { everyStoredMessage } from "../support/stored-messages.js";
import { type TestCatalogFile, writeTestCatalog } from "../support/test-catalog.js";
import { waitFor } from "../support/wait.js";
import { startBeamlineProcess } from "../support/worker-process.js";

/**
 * Every secret of this test. `env` is the variable that configures it (absent: the secret is
 * only ever sent by a client); the value is distinctive, so finding it anywhere is a leak.
 */
interface Secret {
  name: string;
  value: string;
  env?: string;
}

const SECRETS: readonly Secret[] = [
  { name: "dev tenant key", value: TEST_DEV_KEY, env: "BEAMLINE_DEV_KEY" },
  { name: "a client key never issued", value: "bl-stranger-key-that-was-never-issued" },
  { name: "OpenAI upstream key", value: "sk-upstream-openai-5ecret-0a1b2c3d", env: "OPENAI_API_KEY" },
  { name: "Anthropic upstream key", value: "sk-ant-upstream-5ecret-4e5f6a7b", env: "ANTHROPIC_API_KEY" },
  { name: "Gemini upstream key", value: "gemini-upstream-5ecret-8c9d0e1f", env: "GEMINI_API_KEY" },
  {
    name: "named provider key (echoed upstream)",
    value: "sk-echoed-upstream-5ecret-2a3b4c",
    env: "SECRETS_ECHO_KEY",
  },
  { name: "admin token", value: "admin-token-5ecret-5d6e7f8a9b0c", env: "BEAMLINE_ADMIN_TOKEN" },
  { name: "metrics token", value: "metrics-token-5ecret-1c2d3e4f5a", env: "BEAMLINE_METRICS_TOKEN" },
  {
    name: "metrics tenant hash key",
    value: "tenant-hash-key-5ecret-6b7c8d9e",
    env: "BEAMLINE_METRICS_TENANT_HASH_KEY",
  },
  // 32 distinctive bytes, base64, as the settings require.
  {
    name: "master key (content at rest)",
    value: Buffer.from("master-key-5ecret-0123456789abcd").toString("base64"),
    env: "BEAMLINE_MASTER_KEY",
  },
  {
    name: "event signing key",
    value: Buffer.from("event-signing-5ecret-0123456789a").toString("base64"),
    env: "BEAMLINE_EVENT_SIGNING_KEY",
  },
];

const secret = (name: string): string => SECRETS.find((s) => s.name === name)!.value;

/** An admin token the configuration refuses (under 16 characters): refused without being quoted. */
const TOO_SHORT_ADMIN_TOKEN = "sh0rt-adm1n-5ec";

/** The configured secrets as environment variables. */
const SECRET_ENV: Record<string, string> = Object.fromEntries(
  SECRETS.filter((s) => s.env !== undefined).map((s) => [s.env!, s.value]),
);

/** Asserts that no secret occurs in `text`, naming the secret and where it was found. */
function assertNoSecretIn(text: string | Buffer, where: string): void {
  for (const { name, value } of SECRETS) {
    assert.equal(text.includes(value), false, `the ${name} is in ${where}`);
  }
}

/**
 * An OpenAI-compatible upstream that refuses every key and quotes it back in its error, as
 * some providers do: what Beamline records and answers must still not hold it.
 */
async function startEchoingUpstream(): Promise<{ url: string; seenKeys: string[]; server: Server }> {
  const seenKeys: string[] = [];
  const server = createServer((req, res) => {
    const key = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    seenKeys.push(key);
    req.resume();
    res.writeHead(401, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        error: { message: `Incorrect API key provided: ${key}`, type: "invalid_request_error" },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, seenKeys, server };
}

const MODELS = [
  { id: "mock-small", provider: "mock", upstreamModel: "mock-small" },
  // The mock answers 500 for this upstream name: the failure path logs the most context.
  { id: "mock-broken", provider: "mock", upstreamModel: "mock-fault-500" },
  { id: "secret-openai", provider: "openai", upstreamModel: "mock-small" },
  { id: "secret-anthropic", provider: "anthropic", upstreamModel: "mock-small" },
  { id: "secret-gemini", provider: "gemini", upstreamModel: "mock-small" },
  { id: "secret-echo", provider: "echo", upstreamModel: "mock-small" },
] as const;

describe("secrets", { timeout: 180_000 }, () => {
  let beamline: TestBeamline;
  let catalog: TestCatalogFile;
  const upstreams: MockProvider[] = [];
  let echo: Awaited<ReturnType<typeof startEchoingUpstream>>;
  /** Every HTTP answer body Beamline gave a client that was refused or failed. */
  const errorBodies: string[] = [];
  let stored: Map<string, Buffer[]>;
  let metricsText: string;
  /** Output of CLI commands run with every secret in their environment. */
  const cliOutputs: Array<{ command: string; output: string }> = [];

  before(async () => {
    // One upstream per provider, each accepting only its own key: a 200 proves the key was sent.
    const openaiUpstream = await startMockProvider({ apiKey: secret("OpenAI upstream key") });
    const anthropicUpstream = await startMockProvider({ apiKey: secret("Anthropic upstream key") });
    const geminiUpstream = await startMockProvider({ apiKey: secret("Gemini upstream key") });
    upstreams.push(openaiUpstream, anthropicUpstream, geminiUpstream);
    echo = await startEchoingUpstream();
    catalog = await writeTestCatalog("secrets.1", MODELS);
    // Named providers read their key from the variable they name, in this process's environment.
    process.env["SECRETS_ECHO_KEY"] = secret("named provider key (echoed upstream)");
    const env = {
      ...SECRET_ENV,
      OPENAI_BASE_URL: openaiUpstream.url,
      ANTHROPIC_BASE_URL: anthropicUpstream.url,
      GEMINI_BASE_URL: geminiBaseUrl(geminiUpstream.url),
      BEAMLINE_PROVIDERS: JSON.stringify([
        { kind: "openai-compatible", name: "echo", baseUrl: echo.url, apiKeyEnv: "SECRETS_ECHO_KEY" },
      ]),
      BEAMLINE_METRICS_TENANT_LABEL: "hashed",
    };
    beamline = await startTestBeamline({
      ...(configInputFromEnv(env) as Partial<BeamlineConfigInput>),
      logLevel: "trace",
      catalogFile: catalog.path,
    } as Parameters<typeof startTestBeamline>[0]);

    const baseURL = `${beamline.baseUrl}/v1`;
    const client = new OpenAI({ apiKey: TEST_DEV_KEY, baseURL, maxRetries: 0 });
    const messages = [{ role: "user" as const, content: "keep it secret" }];
    for (const model of ["mock-small", "secret-openai", "secret-anthropic", "secret-gemini"]) {
      await client.chat.completions.create({ model, messages });
    }
    for await (const _chunk of await client.chat.completions.create({
      model: "secret-openai",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    })) {
      // Drained: the streamed path writes its own events and logs.
    }
    const viaHeader = await fetch(`${baseURL}/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": TEST_DEV_KEY, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages }),
    });
    assert.equal(viaHeader.status, 200);

    const refusals: Array<[string, RequestInit]> = [
      [
        `${baseURL}/chat/completions`,
        {
          method: "POST",
          headers: {
            authorization: `Bearer ${secret("a client key never issued")}`,
            "content-type": "application/json",
          },
          body: JSON.stringify({ model: "mock-small", messages }),
        },
      ],
      [
        `${baseURL}/chat/completions`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${TEST_DEV_KEY}`, "content-type": "application/json" },
          body: "{broken",
        },
      ],
      ...["mock-broken", "secret-echo"].map((model): [string, RequestInit] => [
        `${baseURL}/chat/completions`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${TEST_DEV_KEY}`, "content-type": "application/json" },
          body: JSON.stringify({ model, messages }),
        },
      ]),
      // A tenant key is not an admin token, and the admin token is not a metrics token.
      [`${beamline.baseUrl}/admin/v1/tenants`, { headers: { authorization: `Bearer ${TEST_DEV_KEY}` } }],
      [`${beamline.metricsUrl}/metrics`, { headers: { authorization: `Bearer ${secret("admin token")}` } }],
      [`${beamline.baseUrl}/metrics`, { headers: { authorization: `Bearer ${secret("metrics token")}` } }],
    ];
    for (const [url, init] of refusals) {
      const response = await fetch(url, init);
      assert.ok(response.status >= 400, `${url} was refused (${response.status})`);
      errorBodies.push(await response.text());
    }
    assert.ok(
      echo.seenKeys.includes(secret("named provider key (echoed upstream)")),
      "the echo upstream got its key",
    );
    const admin = await fetch(`${beamline.baseUrl}/admin/v1/tenants`, {
      headers: { authorization: `Bearer ${secret("admin token")}` },
    });
    assert.equal(admin.status, 200, "the admin token works");

    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing);
    const scraped = await fetch(`${beamline.metricsUrl}/metrics`, {
      headers: { authorization: `Bearer ${secret("metrics token")}` },
    });
    assert.equal(scraped.status, 200);
    metricsText = await scraped.text();
    stored = await everyStoredMessage(beamline.nc);

    // The CLI, with every secret in its environment: commands that read the configuration
    // (providers included), one whose configuration is invalid, and `start` itself.
    const cliEnv = { ...env, SECRETS_ECHO_KEY: secret("named provider key (echoed upstream)") };
    for (const args of [
      ["providers", "health"],
      ["tenants", "list"],
      ["keys", "list", "--tenant", "dev"],
    ]) {
      const result = await runCliStatus(beamline.server.url, args, cliEnv);
      assert.equal(result.code, 0, `beamline ${args.join(" ")}: ${result.stderr}`);
      cliOutputs.push({ command: args.join(" "), output: result.stdout + result.stderr });
    }
    const invalid = await runCliStatus(beamline.server.url, ["tenants", "list"], {
      ...cliEnv,
      BEAMLINE_ADMIN_TOKEN: TOO_SHORT_ADMIN_TOKEN,
    });
    assert.match(invalid.stderr, /BL_CONFIG_INVALID/);
    assert.equal(invalid.stderr.includes(TOO_SHORT_ADMIN_TOKEN), false, "an invalid admin token is echoed");
    cliOutputs.push({ command: "tenants list (invalid config)", output: invalid.stdout + invalid.stderr });
    const started = startBeamlineProcess("gateway", {
      ...cliEnv,
      NATS_URL: beamline.server.url,
      BEAMLINE_HTTP_PORT: "0",
      LOG_LEVEL: "trace",
    });
    try {
      await waitFor(() => started.output().includes("metrics: http://"), {
        what: "a `beamline start` to print its banner",
        timeoutMs: 60_000,
      });
    } finally {
      await started.stop();
    }
    cliOutputs.push({ command: "start", output: started.output() });
  });
  after(async () => {
    delete process.env["SECRETS_ECHO_KEY"];
    await beamline?.stop();
    for (const upstream of upstreams) await upstream.close();
    await new Promise((resolve) => echo?.server.close(resolve));
    await catalog?.remove();
  });

  it("logs no secret", () => {
    const logs = beamline.logs();
    assert.match(logs, /Beamline is running/, "the logs were captured");
    assert.match(logs, /provider attempt failed/, "the failure path was logged");
    assertNoSecretIn(logs, "the logs");
  });

  it("stores API keys as hashes, and no secret in any event or KV entry", () => {
    const config = stored.get(StreamNames.config)!;
    assert.ok(
      config.some((message) => message.includes(hashApiKey(TEST_DEV_KEY))),
      "the apikey.issued event holds the hash (the scan reads the right bytes)",
    );
    assert.ok(stored.get(StreamNames.requests)!.length >= 20, "the requests' events were scanned");
    assert.ok(stored.get(StreamNames.usage)!.length >= 6, "the usage records were scanned");
    for (const [stream, messages] of stored) {
      for (const [index, message] of messages.entries())
        assertNoSecretIn(message, `${stream} message ${index}`);
    }
  });

  it("exports no secret in the metrics", () => {
    assert.match(metricsText, /beamline_tokens_total\{tenant="[0-9a-f]{12}"/, "tenant metrics were scraped");
    assertNoSecretIn(metricsText, "the metrics");
  });

  it("answers no secret in an error body, even when the upstream quoted its key", () => {
    assert.ok(
      errorBodies.some((body) => body.includes("BL_PROVIDER_AUTH")),
      "the echoing upstream's refusal was answered",
    );
    for (const [index, body] of errorBodies.entries()) assertNoSecretIn(body, `error body ${index}: ${body}`);
  });

  it("prints no configured secret from CLI commands", () => {
    for (const { command, output } of cliOutputs) {
      assert.ok(output.length > 0, `beamline ${command} printed something`);
      for (const { name, value, env } of SECRETS) {
        // `start` shows the dev key once, by design: it is how a laptop user gets it.
        if (command === "start" && env === "BEAMLINE_DEV_KEY") continue;
        assert.equal(output.includes(value), false, `the ${name} is in the output of beamline ${command}`);
      }
    }
  });
});
