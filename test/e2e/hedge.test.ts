import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import OpenAI from "openai";
import { openSpendKv, readTenantSpend } from "../../projections/index.js";
import { readUsageRecords } from "../../replay/index.js";
import {
  computeCost,
  formatNanoUsd,
  type ModelCatalog,
  parseCatalog,
  recordedPrices,
} from "../../src/catalog/index.js";
import {
  attemptSubject,
  type BeamlineEvent,
  decodeEvent,
  type EventData,
  makeEvent,
  quotaSubject,
  usageSubject,
} from "../../src/events/index.js";
import type { EventStore } from "../../src/nats/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { publishPolicy } from "../../src/policies/index.js";
import { openTenancyAdmin } from "../../src/tenancy/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { runCliStatus } from "../support/cli.js";
import { assertAuditVerifies, assertBillingReconciles } from "../support/log-checks.js";
import { signedStore } from "../support/signing.js";

/**
 * Hedged requests end to end: the built-in mock answers the `mock-slow` model only after its
 * slow delay (2 s), so a tenant hedging after 200 ms gets its answer from the next candidate;
 * the log holds both attempts, linked, the loser billed on the request's usage record (and
 * counted by spend and the spend quota), the hedge reserved and settled on the tenant's quota
 * log, and every read of the log (billing, decisions, audit) still checks out.
 */
describe("hedged requests through the gateway", { timeout: 180_000 }, () => {
  let beamline: TestBeamline;
  let store: EventStore;
  let dir: string;
  let hedgedClient: OpenAI;
  let cappedClient: OpenAI;
  const ask = [{ role: "user" as const, content: "Where is my parcel?" }];

  let catalog: ModelCatalog;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "beamline-hedge-"));
    const shipped = JSON.parse(
      await readFile(new URL("../../config/catalog.json", import.meta.url), "utf8"),
    ) as {
      models: Array<Record<string, unknown>>;
    };
    const slow = {
      id: "mock-slow",
      provider: "mock",
      upstreamModel: "mock-fault-slow",
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 },
    };
    const document = { ...shipped, models: [...shipped.models, slow] };
    catalog = parseCatalog(document);
    await writeFile(join(dir, "catalog.json"), JSON.stringify(document));
    beamline = await startTestBeamline({
      catalogFile: join(dir, "catalog.json"),
      notary: { checkpointIntervalMs: 200, pollIntervalMs: 100 },
    });
    store = signedStore(beamline.nc);
    const admin = await openTenancyAdmin(store);
    const routing = { aliases: { hedged: { models: ["mock-slow", "mock-small"] } } };
    const clients: OpenAI[] = [];
    // acme also has a spend limit, so its quota settlements show what a spend quota counts.
    for (const [tenant, hedge, limits] of [
      ["acme", { afterMs: 200, maxHedgesPerMinute: 100, maxExtraCostUsdPerDay: 1 }, { spendPerDayUsd: 10 }],
      ["capped", { afterMs: 200, maxHedgesPerMinute: 1 }, undefined],
    ] as const) {
      await admin.createTenant({ id: tenant, name: tenant });
      await publishPolicy(store, tenant, { routing, hedge, ...(limits ? { limits } : {}) }, new Date());
      const key = (await admin.issueKey(tenant, { label: "e2e" })).key;
      clients.push(new OpenAI({ apiKey: key, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 }));
    }
    [hedgedClient, cappedClient] = clients as [OpenAI, OpenAI];
  });
  after(async () => {
    await beamline?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function attempt(tenant: string, requestId: string, n: number) {
    const event = await store.readLast(StreamNames.requests, attemptSubject(tenant, requestId, n));
    assert.ok(event, `attempt ${n} of ${requestId} is stored`);
    return event as unknown as {
      type: string;
      data: EventData<"attempt.failed"> & EventData<"attempt.succeeded">;
    };
  }

  it("a plain request is answered by the hedge, and both attempts are in the log, linked", async () => {
    const answer = await hedgedClient.chat.completions.create({ model: "hedged", messages: ask });
    assert.equal(answer.model, "mock-small");
    const primary = await attempt("acme", answer.id, 1);
    const hedge = await attempt("acme", answer.id, 2);
    assert.equal(primary.type, "attempt.failed");
    assert.equal(primary.data.errorClass, "hedge_lost");
    assert.equal(primary.data.hedge?.outcome, "lost");
    assert.equal(primary.data.hedge?.pairedWith, 2);
    assert.equal(
      primary.data.usageEstimated,
      true,
      "the cancelled call reported nothing: estimated, flagged",
    );
    assert.ok((primary.data.usage?.promptTokens ?? 0) > 0);
    assert.equal(hedge.type, "attempt.succeeded");
    assert.deepEqual(hedge.data.hedge, {
      role: "hedge",
      afterMs: 200,
      basis: "fixed",
      outcome: "won",
      pairedWith: 1,
    });
  });

  it("the loser is billed on the request's one usage record, flagged estimated, and spend counts it", async () => {
    const answer = await hedgedClient.chat.completions.create({ model: "hedged", messages: ask });
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing, 30_000);
    const loser = await attempt("acme", answer.id, 1);
    const winner = await attempt("acme", answer.id, 2);
    const record = await store.readLast(StreamNames.usage, usageSubject("acme", answer.id));
    assert.equal(record?.type, "usage.recorded");
    const usage = record!.data as EventData<"usage.recorded">;
    const prices = (id: string) => recordedPrices(catalog.resolve(id)!);
    const winnerCost = computeCost(catalog.resolve("mock-small")!, winner.data.usage!).costNanoUsd;
    const loserCost = computeCost(catalog.resolve("mock-slow")!, loser.data.usage!).costNanoUsd;
    assert.ok(loserCost > 0, "the loser's prompt costs something");
    assert.equal(usage.model, "mock-small", "the record's tokens are the answer's");
    assert.equal(usage.promptTokens, winner.data.usage!.promptTokens);
    assert.deepEqual(usage.extra, [
      {
        attempt: 1,
        provider: "mock",
        model: "mock-slow",
        ...loser.data.usage!,
        estimated: true,
        costNanoUsd: loserCost,
        costUsd: formatNanoUsd(loserCost),
        prices: prices("mock-slow"),
      },
    ]);
    assert.equal(usage.costNanoUsd, winnerCost + loserCost, "the total is winner + loser");
    assert.equal(usage.costUsd, formatNanoUsd(winnerCost + loserCost));

    // The spend quota counts the loser too: the request's settlement is the record's total.
    const settled = await store.readLast(StreamNames.quota, quotaSubject("acme", answer.id, "settled"));
    assert.equal(settled?.type, "quota.settled");
    assert.deepEqual((settled!.data as EventData<"quota.settled">).actual, {
      tokens: [usage, ...usage.extra!].reduce((sum, u) => sum + u.promptTokens + u.completionTokens, 0),
      costNanoUsd: usage.costNanoUsd,
    });

    // Spend (the projection the admin API and the console read) adds the record's total.
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.usage, ConsumerNames.spendProjector, 30_000);
    const kv = await openSpendKv(beamline.nc);
    let spent = 0;
    for await (const cell of readTenantSpend(kv, "acme")) spent += cell.costNanoUsd;
    let billed = 0;
    for await (const { event } of readUsageRecords(beamline.nc, { tenant: "acme" })) {
      billed += event.data.costNanoUsd;
    }
    assert.equal(spent, billed, "spend equals the usage stream's totals, extras included");
    assert.ok(billed >= winnerCost + loserCost);
  });

  it("a streamed request gets only the winner's chunks", async () => {
    const models = new Set<string>();
    let text = "";
    for await (const chunk of await hedgedClient.chat.completions.create({
      model: "hedged",
      messages: ask,
      stream: true,
    })) {
      models.add(chunk.model);
      text += chunk.choices[0]?.delta.content ?? "";
    }
    assert.deepEqual([...models], ["mock-small"]);
    assert.ok(text.length > 0);
  });

  it("the hedge is reserved and settled with the loser's cost on the tenant's quota log", async () => {
    const answer = await hedgedClient.chat.completions.create({ model: "hedged", messages: ask });
    const settled = await store.readLast(
      StreamNames.quota,
      quotaSubject("acme", answer.id, "hedge.2.settled"),
    );
    const reserved = await store.readLast(
      StreamNames.quota,
      quotaSubject("acme", answer.id, "hedge.2.reserved"),
    );
    assert.equal(reserved?.type, "hedge.reserved");
    assert.equal(settled?.type, "hedge.settled");
    const data = settled!.data as EventData<"hedge.settled">;
    assert.equal(data.extraAttempt, 1);
    assert.equal(data.estimated, true);
    assert.ok(data.costNanoUsd > 0, "the loser's prompt is priced");
  });

  it("past the tenant's hedges per minute, no hedge starts and the attempt says why", async () => {
    const first = await cappedClient.chat.completions.create({ model: "hedged", messages: ask });
    assert.equal(first.model, "mock-small", "the first hedge of the minute is granted");
    const second = await cappedClient.chat.completions.create({ model: "hedged", messages: ask });
    assert.equal(second.model, "mock-slow", "the slow primary answers: no hedge");
    const only = await attempt("capped", second.id, 1);
    assert.equal(only.type, "attempt.succeeded");
    assert.deepEqual(only.data.hedge, {
      role: "primary",
      afterMs: 200,
      basis: "fixed",
      outcome: "declined",
      declined: "max_hedges_per_minute",
    });
  });

  it("the metrics count each first attempt by what its hedge did", async () => {
    const text = await (await fetch(`${beamline.metricsUrl}/metrics`)).text();
    assert.match(
      text,
      /beamline_hedges_total\{tenant="capped",outcome="declined_max_hedges_per_minute"\} 1\b/,
    );
    assert.match(text, /beamline_hedges_total\{tenant="acme",outcome="won_by_hedge"\} 4\b/);
  });

  it("billing reconciles, decisions re-derive and the audit chain verifies with hedges in the log", async () => {
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing, 30_000);
    await assertBillingReconciles(beamline.server.url);
    const run = await runCliStatus(beamline.server.url, ["decisions", "verify"]);
    assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
    const [, verified, total] = /(\d+) of (\d+) decisions re-derived identically/.exec(run.stdout) ?? [];
    assert.equal(verified, total);
    await assertAuditVerifies(beamline.server.url, beamline.config.dataDir);
  });

  // Last: it leaves a forged usage record in the log.
  it("billing reconcile finds a loser billed for less than its tokens and prices give", async () => {
    const answer = await hedgedClient.chat.completions.create({ model: "hedged", messages: ask });
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing, 30_000);
    const jsm = await jetstreamManager(beamline.nc);
    const subject = usageSubject("acme", answer.id);
    const real = await jsm.direct.getMessage(StreamNames.usage, { last_by_subj: subject });
    assert.ok(real, `usage record of ${answer.id}`);
    const recorded = decodeEvent(real.data, real.header) as BeamlineEvent<"usage.recorded">;
    const [loser] = recorded.data.extra ?? [];
    assert.ok(loser, "the record bills the loser");
    // The subject is write-once for billing: the real record goes first. The forgery keeps its
    // total consistent with the cheaper loser, so only the loser's recomputation can tell.
    await jsm.streams.deleteMessage(StreamNames.usage, real.seq);
    const cheaper = {
      ...loser,
      costNanoUsd: loser.costNanoUsd - 1,
      costUsd: formatNanoUsd(loser.costNanoUsd - 1),
    };
    const total = recorded.data.costNanoUsd - 1;
    const forged = makeEvent(
      "usage.recorded",
      `${answer.id}:usage:forged`,
      { tenant: "acme", requestId: answer.id, correlationId: answer.id },
      { ...recorded.data, extra: [cheaper], costNanoUsd: total, costUsd: formatNanoUsd(total) },
      new Date(),
    );
    await store.append(subject, forged);
    const { code, stdout } = await runCliStatus(beamline.server.url, [
      "billing",
      "reconcile",
      "--tenant",
      "acme",
      "--json",
    ]);
    assert.equal(code, 1, stdout);
    const report = JSON.parse(stdout) as {
      discrepancies: Array<{ kind: string; requestId: string | null; field?: string }>;
    };
    assert.ok(
      report.discrepancies.some(
        (d) => d.kind === "cost-mismatch" && d.requestId === answer.id && d.field === "extra[0].costNanoUsd",
      ),
      JSON.stringify(report.discrepancies),
    );
  });
});
