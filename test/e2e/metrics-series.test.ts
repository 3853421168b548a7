import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { publishPolicy } from "../../src/policies/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { waitFor } from "../support/index.js";

/** The GenAI conventions' labels of the mock provider's calls. */
const GEN_AI = {
  gen_ai_operation_name: "chat",
  gen_ai_provider_name: "mock",
  gen_ai_request_model: "mock-small",
};

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (label values hold no escaped quotes here). */
function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) {
      labels[pair[1]!] = pair[2]!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * The series an operator's dashboards and alerts rely on exist after traffic, and the whole
 * exposition passes `promtool check metrics` (Prometheus's own linter: names, units, types).
 */
const promtool = spawnSync("promtool", ["--version"], { encoding: "utf8" });
const PROMTOOL_MISSING = promtool.error
  ? "promtool is not installed (Debian package `prometheus`); the lint check is skipped"
  : undefined;

describe("Prometheus metrics after traffic", { timeout: 90_000 }, () => {
  let beamline: TestBeamline;
  let openai: OpenAI;

  before(async () => {
    beamline = await startTestBeamline({ metrics: { lagIntervalMs: 1_000 } });
    await publishPolicy(
      beamline.store,
      "dev",
      {
        pipeline: {
          validate: [
            {
              name: "content-policy",
              version: "v1",
              settings: { categories: [{ name: "weapons", action: "block", patterns: ["build a bomb"] }] },
            },
          ],
        },
        limits: { requestsPerMinute: 1_000, tokensPerMinute: 10_000_000 },
      },
      new Date(),
    );
    openai = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
  });
  after(() => beamline?.stop());

  const scrape = async () => (await fetch(`${beamline.metricsUrl}/metrics`)).text();
  const ask = async () => {
    await openai.chat.completions.create({
      model: "mock-small",
      messages: [{ role: "user", content: "hi" }],
    });
    for await (const _ of await openai.chat.completions.create({
      model: "mock-small",
      messages: [{ role: "user", content: "stream it" }],
      stream: true,
    })) {
      // drained: the streamed attempt is what times the first token
    }
  };

  it("exports the request, provider, GenAI, extension, quota, breaker and lag series", async () => {
    // The policy applies once the worker's live view has it: ask until its steps show up.
    let text = "";
    await waitFor(
      async () => {
        await ask();
        text = await scrape();
        return (
          /beamline_extension_steps_total\{/.test(text) && /beamline_quota_remaining_requests\{/.test(text)
        );
      },
      { what: "the dev policy's extension step and limits in the metrics", timeoutMs: 30_000 },
    );
    // Lag and breaker series come from readings apart from the requests.
    await waitFor(
      async () => {
        text = await scrape();
        return (
          /beamline_projection_lag_messages\{projection="spend"\}/.test(text) &&
          /beamline_breaker_state\{provider="mock",model="mock-small"\}/.test(text)
        );
      },
      { what: "the lag and breaker gauges" },
    );
    const expected: [string, Record<string, string>, "any" | "positive"][] = [
      ["beamline_request_duration_seconds_bucket", { le: "300", tenant: "dev", stream: "true" }, "positive"],
      [
        "beamline_provider_attempts_total",
        { provider: "mock", model: "mock-small", outcome: "ok" },
        "positive",
      ],
      [
        "beamline_provider_latency_seconds_bucket",
        { le: "300", provider: "mock", model: "mock-small" },
        "positive",
      ],
      ["beamline_time_to_first_token_seconds_count", { provider: "mock", model: "mock-small" }, "positive"],
      ["beamline_time_per_output_token_seconds_count", { provider: "mock", model: "mock-small" }, "positive"],
      [
        "gen_ai_client_operation_duration_seconds_bucket",
        { le: "81.92", ...GEN_AI, error_type: "" },
        "positive",
      ],
      [
        "gen_ai_client_token_usage_bucket",
        { le: "67108864", ...GEN_AI, gen_ai_token_type: "input" },
        "positive",
      ],
      ["gen_ai_client_token_usage_count", { ...GEN_AI, gen_ai_token_type: "output" }, "positive"],
      [
        "beamline_extension_steps_total",
        { stage: "validate", extension: "content-policy@v1", verdict: "allow" },
        "positive",
      ],
      [
        "beamline_extension_step_duration_seconds_count",
        { stage: "validate", extension: "content-policy@v1" },
        "positive",
      ],
      ["beamline_admissions_total", { tenant: "dev", outcome: "admitted" }, "positive"],
      ["beamline_quota_remaining_requests", { tenant: "dev" }, "positive"],
      ["beamline_quota_remaining_tokens", { tenant: "dev" }, "positive"],
      ["beamline_breaker_state", { provider: "mock", model: "mock-small" }, "any"],
      ["beamline_consumer_pending_messages", { stream: "BL_REQUESTS", consumer: "worker" }, "any"],
      ["beamline_consumer_ack_pending_messages", { stream: "BL_REQUESTS", consumer: "billing" }, "any"],
      ["beamline_projection_lag_messages", { projection: "spend" }, "any"],
      ["beamline_consumer_lag_sampled_timestamp_seconds", {}, "positive"],
    ];
    const samples = parseSamples(text);
    for (const [name, labels, value] of expected) {
      const found = samples.filter(
        (sample) =>
          sample.name === name && Object.entries(labels).every(([key, want]) => sample.labels[key] === want),
      );
      assert.ok(found.length > 0, `a ${name} sample with ${JSON.stringify(labels)}`);
      if (value === "positive") {
        assert.ok(
          found.some((sample) => sample.value > 0),
          `${name} ${JSON.stringify(labels)} counted the traffic`,
        );
      }
    }
    assert.doesNotMatch(text, /policy_version=/, "no unbounded policy version label");
    // The remaining allowance is below the limit: the admissions above reserved some of it.
    const remaining = Number(/beamline_quota_remaining_requests\{tenant="dev"\} (\d+)/.exec(text)![1]);
    assert.ok(remaining < 1_000 && remaining >= 0, `remaining requests ${remaining}`);
  });

  it("passes promtool check metrics", { skip: PROMTOOL_MISSING }, async () => {
    await ask();
    const text = await scrape();
    const result = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    assert.equal(
      result.status,
      0,
      `promtool check metrics found problems:\n${result.stdout}${result.stderr}`,
    );
    assert.equal(`${result.stdout}${result.stderr}`.trim(), "", "promtool reports nothing");
  });
});
