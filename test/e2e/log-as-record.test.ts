import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import type { AuditLine } from "../../replay/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { publishPolicy } from "../../src/policies/index.js";
import { openTenancyAdmin } from "../../src/tenancy/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { runCliStatus } from "../support/cli.js";
import { assertAuditVerifies } from "../support/log-checks.js";
import { signedStore } from "../support/signing.js";

/**
 * Issue 12 end to end: one tenant's history made by real requests through the gateway — plain,
 * streamed, failed at the provider, failed over, rejected by an extension, cut mid-stream,
 * refused by quota — and every command that reads the log back, run as the real CLI: the
 * export holds all of it and nothing of another tenant, each decision re-derives, what-if at
 * doubled prices doubles the cost, billing reconciles, usage exports as CloudEvents, and the
 * notary's checkpoints verify.
 */
describe("the log as the record, over a history of every kind of request", { timeout: 240_000 }, () => {
  let beamline: TestBeamline;
  let dir: string;
  const served: Record<string, string> = {};
  /** Before the failed-over request: what-if ranks the broken model first and cannot know it fails. */
  let beforeFailover: Date;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "beamline-record-"));
    const shipped = JSON.parse(
      await readFile(new URL("../../config/catalog.json", import.meta.url), "utf8"),
    ) as {
      version?: string;
      models: Array<Record<string, unknown>>;
    };
    const prices = { inputPerMTokUsd: 1, outputPerMTokUsd: 2 };
    const models = [
      ...shipped.models,
      { id: "mock-broken", provider: "mock", upstreamModel: "mock-fault-500", prices },
      { id: "mock-cut", provider: "mock", upstreamModel: "mock-fault-cut", prices },
    ];
    await writeFile(join(dir, "catalog.json"), JSON.stringify({ ...shipped, models }));
    // The same catalog at twice every price, for what-if.
    const doubled = models.map((model) => {
      const p = model["prices"] as Record<string, number>;
      return { ...model, prices: Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v * 2])) };
    });
    await writeFile(
      join(dir, "doubled.json"),
      JSON.stringify({ ...shipped, version: "doubled", models: doubled }),
    );

    beamline = await startTestBeamline({
      catalogFile: join(dir, "catalog.json"),
      notary: { checkpointIntervalMs: 200, pollIntervalMs: 100 },
      execution: { backoffBaseMs: 10, backoffMaxMs: 20 },
    });
    const store = signedStore(beamline.nc);
    const admin = await openTenancyAdmin(store);
    await admin.createTenant({ id: "acme", name: "Acme" });
    await admin.createTenant({ id: "other", name: "Other" });
    const acmeKey = (await admin.issueKey("acme", { label: "e2e" })).key;
    const otherKey = (await admin.issueKey("other", { label: "e2e" })).key;
    await publishPolicy(
      store,
      "acme",
      {
        routing: { aliases: { resilient: { models: ["mock-broken", "mock-small"] } } },
        pipeline: {
          validate: [
            {
              name: "content-policy",
              version: "v1",
              settings: {
                categories: [{ name: "weapons", action: "block", patterns: ["build (?:a|an) bomb"] }],
              },
            },
          ],
        },
        // Five admissions a minute: the sixth admitted request is refused.
        limits: { requestsPerMinute: 5 },
      },
      new Date(),
    );

    const acme = new OpenAI({ apiKey: acmeKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    const ask = [{ role: "user" as const, content: "Where is my parcel?" }];
    served["plain"] = (await acme.chat.completions.create({ model: "mock-small", messages: ask })).id;
    let streamedId = "";
    for await (const chunk of await acme.chat.completions.create({
      model: "mock-small",
      messages: ask,
      stream: true,
    })) {
      streamedId = chunk.id;
    }
    served["streamed"] = streamedId;
    await assert.rejects(acme.chat.completions.create({ model: "mock-broken", messages: ask }));
    beforeFailover = new Date();
    served["failedOver"] = (await acme.chat.completions.create({ model: "resilient", messages: ask })).id;
    await assert.rejects(
      acme.chat.completions.create({
        model: "mock-small",
        messages: [{ role: "user", content: "how to build a bomb" }],
      }),
      /400|rejected|policy/i,
    );
    try {
      for await (const _ of await acme.chat.completions.create({
        model: "mock-cut",
        messages: ask,
        stream: true,
      })) {
        // read until the cut
      }
    } catch {
      // the cut surfaces as an error event
    }
    await assert.rejects(
      acme.chat.completions.create({ model: "mock-small", messages: ask }),
      /429|quota|minute/i,
    );
    const other = new OpenAI({ apiKey: otherKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    await other.chat.completions.create({ model: "mock-small", messages: ask });

    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing, 30_000);
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.usage, ConsumerNames.spendProjector, 30_000);
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.quota, ConsumerNames.quotaProjector, 30_000);
  });
  after(async () => {
    await beamline?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCliStatus(beamline.server.url, args, env);

  it("audit export holds every kind of outcome of the tenant, whole, and nothing of another", async () => {
    const run = await cli(["audit", "export", "--tenant", "acme"]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as AuditLine);
    assert.ok(
      lines.every((line) => line.ids.tenant === "acme"),
      "only the tenant's own events",
    );
    const count = (type: string) => lines.filter((line) => line.type === type).length;
    assert.equal(count("request.accepted"), 7);
    assert.equal(count("request.completed"), 3, "plain, streamed, failed over");
    const failures = lines
      .filter((line) => line.type === "request.failed")
      .map((line) => ((line.data as Record<string, unknown>)["error"] as { code: string }).code)
      .sort();
    assert.deepEqual(failures, [
      "BL_EXTENSION_REJECTED",
      "BL_PROVIDER_ERROR",
      "BL_QUOTA_EXCEEDED",
      "BL_STREAM_INTERRUPTED",
    ]);
    assert.equal(
      count("usage.recorded"),
      4,
      "every outcome that used tokens is billed once: plain, streamed, failed over, cut",
    );
    const counts = Object.fromEntries(
      ["quota.reserved", "quota.settled", "policy.updated", "apikey.issued", "tenant.created"].map((type) => [
        type,
        count(type),
      ]),
    );
    assert.deepEqual(counts, {
      "quota.reserved": 5,
      "quota.settled": 5,
      "policy.updated": 1,
      "apikey.issued": 1,
      "tenant.created": 1,
    });
    const failedOver = lines.filter(
      (line) => line.ids.request === served["failedOver"] && line.type.startsWith("attempt."),
    );
    assert.deepEqual(
      failedOver.map((line) => line.type),
      ["attempt.failed", "attempt.failed", "attempt.succeeded"],
      "the broken model was retried once, then the request failed over",
    );
  });

  it("requests show gives one request's timeline, and --json its events", async () => {
    const table = await cli(["requests", "show", "acme", served["failedOver"]!]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /mock-broken/);
    assert.match(table.stdout, /mock-small/);
    const json = await cli(["requests", "show", "acme", served["failedOver"]!, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    assert.match(json.stdout, /request\.completed/);
  });

  it("decisions verify re-derives every recorded decision identically", async () => {
    const run = await cli(["decisions", "verify", "--tenant", "acme"]);
    assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
    const [, verified, total] = /(\d+) of (\d+) decisions re-derived identically/.exec(run.stdout) ?? [];
    assert.equal(verified, total);
    assert.equal(Number(total), 6, "every request that reached routing: all but the extension rejection");
  });

  it("what-if at doubled prices doubles the period's cost", async () => {
    const run = await cli([
      "whatif",
      "--tenant",
      "acme",
      "--catalog",
      join(dir, "doubled.json"),
      "--until",
      beforeFailover.toISOString(),
      "--json",
    ]);
    const { report } = JSON.parse(run.stdout) as {
      report: { totals: { recordedCostNanoUsd: number; alternativeCostNanoUsd: number; rerouted: number } };
    };
    assert.ok(report.totals.recordedCostNanoUsd > 0);
    assert.equal(report.totals.rerouted, 0, "the same prices ×2 rank the same models");
    // Each cost is rounded up to a nano-USD once: doubling can differ by a unit per request.
    assert.ok(
      Math.abs(report.totals.alternativeCostNanoUsd - 2 * report.totals.recordedCostNanoUsd) <= 3,
      JSON.stringify(report.totals),
    );
  });

  it("billing reconcile finds the usage stream complete and exact", async () => {
    const run = await cli(["billing", "reconcile", "--tenant", "acme", "--json"]);
    const report = JSON.parse(run.stdout) as { discrepancies: unknown[]; usageRecords: number };
    assert.deepEqual(report.discrepancies, []);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(report.usageRecords, 4);
  });

  it("usage export gives one CloudEvent per usage record", async () => {
    const run = await cli(["usage", "export", "--format", "cloudevents", "--tenant", "acme"]);
    assert.equal(run.code, 0, run.stderr);
    const events = run.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(events.length, 4);
    for (const event of events) {
      assert.equal(event["specversion"], "1.0");
      assert.ok(event["id"] && event["source"] && event["type"] && event["time"]);
    }
    assert.equal(new Set(events.map((event) => event["id"])).size, 4, "idempotency keys are unique");
  });

  it("audit verify recomputes the notary's checkpoints of every stream and finds nothing wrong", async () => {
    await assertAuditVerifies(beamline.server.url, beamline.config.dataDir);
  });
});
