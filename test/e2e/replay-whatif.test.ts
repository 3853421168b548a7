import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { loadCatalogFile } from "../../src/catalog/index.js";
import { isEvent } from "../../src/events/index.js";
import { publishPolicy } from "../../src/policies/index.js";
import { DEV_TENANT } from "../../src/tenancy/bootstrap.js";
import { countPromptTokens, tokenizerFor } from "../../src/tokens/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { runCli } from "../support/cli.js";
import { readRequestHistory } from "../support/history.js";
import { signedStore } from "../support/signing.js";

const mockOnly = { allowedProviders: ["mock"] };
const QUESTIONS = ["What is a stream?", "Summarise event sourcing in one line.", "Name three colours", "Hi"];

/** What the test knows of each request from its own reading of the log. */
interface Served {
  promptTokens: number;
  completionTokens: number;
  estimatedPrompt: number;
}

describe("decisions verify and whatif over real requests", { timeout: 120_000 }, () => {
  let beamline: TestBeamline;
  let dir: string;
  const served: Served[] = [];

  before(async () => {
    beamline = await startTestBeamline();
    dir = await mkdtemp(join(tmpdir(), "beamline-whatif-"));
    await publishPolicy(
      signedStore(beamline.nc),
      DEV_TENANT,
      { routing: { strategy: { type: "cheapest" }, constraints: mockOnly } },
      new Date(),
    );
    const client = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    for (const content of QUESTIONS) {
      const completion = await client.chat.completions.create({
        model: "auto",
        messages: [{ role: "user", content }],
      });
      const history = (await readRequestHistory(beamline.nc, DEV_TENANT, completion.id)).map((s) => s.event);
      const accepted = history.find((e) => isEvent(e, "request.accepted"));
      const terminal = history.find((e) => isEvent(e, "request.completed"));
      assert.ok(
        accepted &&
          isEvent(accepted, "request.accepted") &&
          terminal &&
          isEvent(terminal, "request.completed"),
      );
      assert.equal(terminal.data.model, "mock-small", "the cheapest policy routed to the cheap model");
      served.push({
        promptTokens: terminal.data.usage.promptTokens,
        completionTokens: terminal.data.usage.completionTokens,
        // The alternative model recounts the prompt with its own tokenizer.
        estimatedPrompt: countPromptTokens(
          tokenizerFor({ provider: "mock", upstreamModel: "mock-large" }),
          accepted.data.request!,
        ),
      });
      assert.equal(terminal.data.usage.cachedTokens, 0);
    }
  });
  after(async () => {
    await beamline?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("re-derives the real decisions identically", async () => {
    const out = await runCli(beamline.server.url, ["decisions", "verify", "--tenant", DEV_TENANT]);
    assert.equal(out.trim(), `${QUESTIONS.length} of ${QUESTIONS.length} decisions re-derived identically`);
  });

  it("prices the period under a policy routing to the dearer model, from re-estimated prompts", async () => {
    const policyFile = join(dir, "quality.json");
    await writeFile(
      policyFile,
      JSON.stringify({ routing: { strategy: { type: "quality" }, constraints: mockOnly } }),
    );
    const out = await runCli(beamline.server.url, [
      "whatif",
      "--tenant",
      DEV_TENANT,
      "--policy",
      policyFile,
      "--json",
    ]);
    const { report } = JSON.parse(out);
    // config/catalog.json: mock-small $0.15 / $0.60 per MTok, mock-large $2.50 / $10.00 (nano-USD per token ×1000).
    const recorded = served.reduce((sum, s) => sum + s.promptTokens * 150 + s.completionTokens * 600, 0);
    const alternative = served.reduce(
      (sum, s) => sum + s.estimatedPrompt * 2500 + s.completionTokens * 10_000,
      0,
    );
    assert.equal(report.totals.requests, QUESTIONS.length);
    assert.equal(report.totals.recordedCostNanoUsd, recorded);
    assert.equal(report.totals.alternativeCostNanoUsd, alternative);
    assert.equal(report.totals.rerouted, QUESTIONS.length);
    assert.equal(report.totals.refused, 0);
    const large = report.models.find((m: { model: string }) => m.model === "mock-large");
    assert.deepEqual(large.alternative, { requests: QUESTIONS.length, costNanoUsd: alternative });
    // Nothing was ever served by mock-large in this history: its latency is unknown, and said so.
    assert.equal(large.latency.medianMs, null);
    assert.equal(report.totals.expectedLatencyChangeMs, null);
    assert.equal(report.totals.latencyUnknown, QUESTIONS.length);
  });

  it("answers what the period costs at doubled prices with --catalog alone", async () => {
    const current = await loadCatalogFile();
    const doubled = {
      ...current.document,
      version: `${current.version}-doubled`,
      models: current.document.models.map((m) => ({
        ...m,
        prices: {
          inputPerMTokUsd: m.prices.inputPerMTokUsd * 2,
          outputPerMTokUsd: m.prices.outputPerMTokUsd * 2,
          ...(m.prices.cachedInputPerMTokUsd === undefined
            ? {}
            : { cachedInputPerMTokUsd: m.prices.cachedInputPerMTokUsd * 2 }),
        },
      })),
    };
    const catalogFile = join(dir, "doubled.json");
    await writeFile(catalogFile, JSON.stringify(doubled));
    const out = await runCli(beamline.server.url, [
      "whatif",
      "--tenant",
      DEV_TENANT,
      "--catalog",
      catalogFile,
      "--json",
    ]);
    const { report } = JSON.parse(out);
    const recorded = served.reduce((sum, s) => sum + s.promptTokens * 150 + s.completionTokens * 600, 0);
    assert.equal(report.totals.recordedCostNanoUsd, recorded);
    assert.equal(report.totals.alternativeCostNanoUsd, 2 * recorded);
    assert.equal(report.totals.rerouted, 0);
    const small = report.models.find((m: { model: string }) => m.model === "mock-small");
    assert.equal(small.latency.samples, QUESTIONS.length);
    assert.equal(small.expectedLatencyChangeMs, 0);
  });

  it("refuses to run without an alternative, naming the options", async () => {
    await assert.rejects(
      runCli(beamline.server.url, ["whatif", "--tenant", DEV_TENANT]),
      (error: Error & { code?: number; stderr?: string }) => {
        assert.equal(error.code, 1);
        assert.match(
          error.stderr ?? "",
          /beamline: whatif needs --policy FILE, --catalog FILE or both \[BL_BAD_REQUEST\]/,
        );
        return true;
      },
    );
  });
});
