import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { publishPolicy } from "../../src/policies/index.js";
import { DEV_TENANT } from "../../src/tenancy/bootstrap.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { runCli } from "../support/cli.js";
import { signedStore } from "../support/signing.js";

/**
 * `whatif` with a candidate cache and hedge section over real recorded traffic: the tenant ran
 * with neither, so every request reached the mock. Identical temperature-0 questions are what a
 * cache would have answered; calls to `mock-slow` (the mock's slow fault, 2 s before its answer)
 * are what a hedge after 500 ms would have raced against the next candidate.
 */
describe("whatif evaluates a candidate cache and hedge over real requests", { timeout: 120_000 }, () => {
  let beamline: TestBeamline;
  let dir: string;
  const REPEATS = 3;
  const SLOW = 2;
  /** mock-small's prices (config/catalog.json), nano-USD per token: $0.15 / $0.60 per MTok. */
  let slowTokensAtSmallPrices = 0;
  let repeatCost = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "beamline-whatif-cache-hedge-"));
    const shipped = JSON.parse(
      await readFile(new URL("../../config/catalog.json", import.meta.url), "utf8"),
    ) as { models: Array<Record<string, unknown>> };
    const slow = {
      id: "mock-slow",
      provider: "mock",
      upstreamModel: "mock-fault-slow",
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 },
    };
    await writeFile(
      join(dir, "catalog.json"),
      JSON.stringify({ ...shipped, models: [...shipped.models, slow] }),
    );
    beamline = await startTestBeamline({ catalogFile: join(dir, "catalog.json") });
    const routing = { aliases: { hedged: { models: ["mock-slow", "mock-small"] } } };
    await publishPolicy(signedStore(beamline.nc), DEV_TENANT, { routing }, new Date());
    await writeFile(
      join(dir, "candidate.json"),
      JSON.stringify({ routing, cache: { mode: "exact", ttlSeconds: 300 }, hedge: { afterMs: 500 } }),
    );
    const client = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    for (let i = 0; i < REPEATS; i++) {
      const answer = await client.chat.completions.create({
        model: "mock-small",
        temperature: 0,
        messages: [{ role: "user", content: "What is 2 + 2?" }],
      });
      assert.equal(answer.model, "mock-small");
      const usage = answer.usage;
      assert.ok(usage);
      if (i > 0) repeatCost += usage.prompt_tokens * 150 + usage.completion_tokens * 600;
    }
    for (let i = 0; i < SLOW; i++) {
      const answer = await client.chat.completions.create({
        model: "hedged",
        messages: [{ role: "user", content: `Where is parcel ${i}?` }],
      });
      assert.equal(answer.model, "mock-slow", "recorded without a hedge: the slow model answered");
      const usage = answer.usage;
      assert.ok(usage);
      slowTokensAtSmallPrices += usage.prompt_tokens * 150 + usage.completion_tokens * 600;
    }
  });
  after(async () => {
    await beamline?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reports the repeated temperature-0 requests as cache hits and the sampled ones as not cacheable", async () => {
    const out = await runCli(beamline.server.url, [
      "whatif",
      "--tenant",
      DEV_TENANT,
      "--policy",
      join(dir, "candidate.json"),
      "--json",
    ]);
    const { cache } = JSON.parse(out);
    assert.equal(cache.requests, REPEATS + SLOW);
    assert.equal(cache.hits, REPEATS - 1);
    assert.equal(cache.misses, 1);
    assert.equal(cache.savedNanoUsd, repeatCost, "a free hit saves the repeat's recorded cost");
    assert.deepEqual(cache.notCacheable, { sampled: SLOW, content_store: 0, bypass_header: 0 });
    assert.equal(cache.unknown, 0);
  });

  it("reports the slow first attempts as hedged, with an estimated extra cost and a latency bound", async () => {
    const out = await runCli(beamline.server.url, [
      "whatif",
      "--tenant",
      DEV_TENANT,
      "--policy",
      join(dir, "candidate.json"),
      "--json",
    ]);
    const { hedge } = JSON.parse(out);
    assert.equal(hedge.requests, REPEATS + SLOW);
    assert.equal(hedge.hedged, SLOW);
    assert.equal(hedge.notNeeded, REPEATS);
    assert.equal(hedge.extraCostEstimated, true);
    assert.equal(
      hedge.extraCostNanoUsd,
      slowTokensAtSmallPrices,
      "mock-small's prices × the recorded tokens",
    );
    // mock-small answered the repeats: its recorded median bounds the hedge from below.
    assert.ok(hedge.latency.firstTokenLowerBoundMeanMs >= 500);
    assert.ok(hedge.latency.recordedFirstTokenMeanMs >= 2000);
    assert.equal(hedge.latency.boundUnknown, 0);
  });

  it("prints both sections on a terminal table, saying the cost is an estimate and the latency a bound", async () => {
    const out = await runCli(beamline.server.url, [
      "whatif",
      "--tenant",
      DEV_TENANT,
      "--policy",
      join(dir, "candidate.json"),
    ]);
    assert.match(out, /cache \(exact, ttl 300 s, scope tenant, hits 100% off\)/);
    assert.match(out, /hedge \(after 500 ms\)/);
    assert.match(out, /extra cost is an estimate/);
    assert.match(out, /latency is a bound only/);
  });
});
