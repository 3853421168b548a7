import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import OpenAI from "openai";
import { computeCost } from "../../src/catalog/index.js";
import {
  type BeamlineEvent,
  decodeEvent,
  makeEvent,
  requestSubject,
  tenantUsageFilter,
  usageSubject,
} from "../../src/events/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { publishPolicy } from "../../src/policies/index.js";
import { openTenancyAdmin } from "../../src/tenancy/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { runCliStatus } from "../support/cli.js";
import { signedStore } from "../support/signing.js";

const ADMIN_TOKEN = "billing-e2e-admin-token-0123456789";

/** Runs the CLI; resolves with its exit code and output whatever the code. */
function cli(natsUrl: string, args: string[]) {
  return runCliStatus(natsUrl, args);
}

/**
 * Billing end to end: a history of real requests through the gateway (plain, streamed, failed
 * at the provider, cut mid-stream, refused by quota, with and without a reservation), then the
 * real CLI: `billing reconcile` passes; the spend API and `usage export` agree with it; and
 * each injected fault (a deleted usage record, a wrong cost, a terminal never billed) is
 * reported with exit 1.
 */
describe("billing reconcile, spend and usage export", { timeout: 180_000 }, () => {
  let beamline: TestBeamline;
  let dir: string;
  let cappedKey: string;
  const settle = async () => {
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing, 20_000);
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.usage, ConsumerNames.spendProjector, 20_000);
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.quota, ConsumerNames.quotaProjector, 20_000);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "beamline-billing-"));
    const shipped = JSON.parse(
      await readFile(new URL("../../config/catalog.json", import.meta.url), "utf8"),
    ) as {
      models: unknown[];
    };
    const prices = { inputPerMTokUsd: 1, outputPerMTokUsd: 1 };
    const catalogFile = join(dir, "catalog.json");
    await writeFile(
      catalogFile,
      JSON.stringify({
        ...shipped,
        models: [
          ...shipped.models,
          { id: "mock-broken", provider: "mock", upstreamModel: "mock-fault-500", prices },
          { id: "mock-cut", provider: "mock", upstreamModel: "mock-fault-cut", prices },
        ],
      }),
    );
    beamline = await startTestBeamline({ catalogFile, adminToken: ADMIN_TOKEN });
    const store = signedStore(beamline.nc);
    const admin = await openTenancyAdmin(store);
    await admin.createTenant({ id: "capped", name: "Capped" });
    cappedKey = (await admin.issueKey("capped", { label: "ci" })).key;
    // Two requests a minute: the first two reserve quota and settle it, the third is refused.
    await publishPolicy(store, "capped", { limits: { requestsPerMinute: 2 } }, new Date());

    const dev = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    const messages = [{ role: "user" as const, content: "what does this cost?" }];
    await dev.chat.completions.create({ model: "mock-small", messages });
    await dev.chat.completions.create({ model: "mock-large", messages });
    for await (const _chunk of await dev.chat.completions.create({
      model: "mock-small",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    })) {
      // drained
    }
    await assert.rejects(dev.chat.completions.create({ model: "mock-broken", messages }));
    try {
      for await (const _chunk of await dev.chat.completions.create({
        model: "mock-cut",
        messages,
        stream: true,
      })) {
        // drained until the cut
      }
    } catch {
      // the cut may surface as an error
    }
    const capped = new OpenAI({ apiKey: cappedKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    await capped.chat.completions.create({ model: "mock-small", messages });
    await capped.chat.completions.create({ model: "mock-small", messages });
    await assert.rejects(
      capped.chat.completions.create({ model: "mock-small", messages }),
      /429|quota|per minute/i,
    );
    await settle();
  });
  after(async () => {
    await beamline?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reconciles a history of real requests: exit 0, settlements and spend agreeing", async () => {
    const { code, stdout, stderr } = await cli(beamline.server.url, ["billing", "reconcile", "--json"]);
    const report = JSON.parse(stdout) as {
      billableTerminals: number;
      usageRecords: number;
      settlements: number;
      spendCellsCompared: number;
      discrepancies: unknown[];
      tenants: Array<{ tenant: string; requests: number; costNanoUsd: number }>;
    };
    assert.deepEqual(report.discrepancies, [], stderr);
    assert.equal(code, 0);
    assert.ok(report.billableTerminals >= 6, `billable: ${report.billableTerminals}`);
    assert.equal(report.usageRecords, report.billableTerminals);
    assert.equal(report.settlements, 2, "the capped tenant's two admitted requests settled");
    assert.ok(report.spendCellsCompared >= 3);
    assert.equal(report.tenants.find((t) => t.tenant === "capped")?.requests, 2);
  });

  it("answers the spend API from the projection, equal to the stream's totals", async () => {
    const today = new Date().toISOString().slice(0, 10);
    const get = (query: string, token = ADMIN_TOKEN) =>
      fetch(`${beamline.baseUrl}/admin/v1/tenants/dev/spend${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
    const byModel = (await (await get(`?since=${today}&until=${today}&groupBy=model`)).json()) as {
      groups: Array<{ group: string; requests: number; costNanoUsd: number }>;
      total: { requests: number; costNanoUsd: number; costUsd: string };
    };
    let streamed = 0;
    let records = 0;
    const jsm = await jetstreamManager(beamline.nc);
    const info = await jsm.streams.info(StreamNames.usage, { subjects_filter: tenantUsageFilter("dev") });
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const msg = await jsm.direct.getMessage(StreamNames.usage, { last_by_subj: subject });
      const event = decodeEvent(msg!.data, msg!.header) as BeamlineEvent<"usage.recorded">;
      streamed += event.data.costNanoUsd;
      records++;
    }
    assert.equal(byModel.total.requests, records);
    assert.equal(byModel.total.costNanoUsd, streamed);
    assert.deepEqual(
      byModel.groups.map((g) => g.group).sort(),
      ["mock-cut", "mock-large", "mock-small"].filter((m) => byModel.groups.some((g) => g.group === m)),
    );
    assert.ok(byModel.groups.some((g) => g.group === "mock-large"));
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const none = (await (await get(`?since=${yesterday}&until=${yesterday}`)).json()) as {
      total: { requests: number };
    };
    assert.equal(none.total.requests, 0, "days outside the range are excluded");
    const bad = await get("?since=yesterday");
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, "BL_BAD_REQUEST");
    assert.equal((await get("?groupBy=week")).status, 400);
    assert.equal((await get("", "wrong-token")).status, 401);
  });

  it("exports usage as CloudEvents 1.0 with every required attribute, one per line", async () => {
    const file = join(dir, "usage.jsonl");
    const { code } = await cli(beamline.server.url, [
      "usage",
      "export",
      "--format",
      "cloudevents",
      "--tenant",
      "capped",
      "--out",
      file,
    ]);
    assert.equal(code, 0);
    const lines = (await readFile(file, "utf8")).trim().split("\n");
    assert.equal(lines.length, 2);
    for (const line of lines) {
      const ce = JSON.parse(line) as Record<string, unknown> & {
        data: { costNanoUsd: number; requestId: string };
      };
      assert.equal(ce.specversion, "1.0");
      for (const attribute of ["id", "source", "type", "subject", "time", "datacontenttype"])
        assert.equal(typeof ce[attribute], "string", attribute);
      assert.equal(ce.id, `capped:${ce.data.requestId}:usage`);
      assert.equal(ce.subject, "capped");
      assert.equal(ce.datacontenttype, "application/json");
      assert.ok(!Number.isNaN(Date.parse(ce.time as string)));
      assert.equal(typeof ce.data.costNanoUsd, "number");
    }
    const jsonl = await cli(beamline.server.url, [
      "usage",
      "export",
      "--format",
      "jsonl",
      "--tenant",
      "capped",
    ]);
    const events = jsonl.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; stream: string; seq: number });
    assert.deepEqual(
      events.map((e) => e.type),
      ["usage.recorded", "usage.recorded"],
    );
    const wrong = await cli(beamline.server.url, ["usage", "export", "--format", "csv"]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /beamline: .*--format.*\[BL_BAD_REQUEST\]/);
  });

  it("reports a deleted usage record, a wrong cost and a terminal never billed, and exits 1", async () => {
    const jsm = await jetstreamManager(beamline.nc);
    const store = signedStore(beamline.nc);
    // 1. Delete the usage record of one real request.
    const info = await jsm.streams.info(StreamNames.usage, { subjects_filter: tenantUsageFilter("dev") });
    const victimSubject = Object.keys(info.state.subjects ?? {}).sort()[0]!;
    const victim = await jsm.direct.getMessage(StreamNames.usage, { last_by_subj: victimSubject });
    const victimRequest = victimSubject.split(".").at(-1)!;
    assert.ok(await jsm.streams.deleteMessage(StreamNames.usage, victim!.seq));

    // 2. A new real request whose usage record is replaced by one with a wrong cost (the
    // subject is write-once for billing, so the real record is removed first).
    const dev = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    const { response } = await dev.chat.completions
      .create({ model: "mock-small", messages: [{ role: "user", content: "bill me wrong" }] })
      .withResponse();
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing, 20_000);
    const wrongRequest = response.headers.get("x-request-id")!;
    const real = await jsm.direct.getMessage(StreamNames.usage, {
      last_by_subj: usageSubject("dev", wrongRequest),
    });
    assert.ok(real, `usage record of ${wrongRequest}`);
    const recorded = decodeEvent(real.data, real.header) as BeamlineEvent<"usage.recorded">;
    await jsm.streams.deleteMessage(StreamNames.usage, real.seq);
    const expectedCost = computeCost({ prices: recorded.data.prices }, recorded.data).costNanoUsd;
    const forged = makeEvent(
      "usage.recorded",
      `${wrongRequest}:usage:forged`,
      { tenant: "dev", requestId: wrongRequest, correlationId: wrongRequest },
      { ...recorded.data, costNanoUsd: expectedCost + 1000, costUsd: "0.000000000" },
      new Date(),
    );
    await store.append(usageSubject("dev", wrongRequest), forged);

    // 3. A billable terminal left without usage: published straight to the log with a catalog
    // version no one published, so billing cannot price it and dead-letters it at once.
    const ghost = "ghost-request-1";
    const realTerminal = await jsm.direct.getMessage(StreamNames.requests, {
      last_by_subj: requestSubject("dev", wrongRequest, "terminal"),
    });
    const completed = decodeEvent(
      realTerminal!.data,
      realTerminal!.header,
    ) as BeamlineEvent<"request.completed">;
    const terminal = makeEvent(
      "request.completed",
      `${ghost}:terminal`,
      { tenant: "nobody", requestId: ghost, correlationId: ghost },
      { ...completed.data, catalogVersion: "never-published" },
      new Date(),
    );
    await store.append(requestSubject("nobody", ghost, "terminal"), terminal);
    await settle();

    const { code, stdout } = await cli(beamline.server.url, ["billing", "reconcile", "--json"]);
    assert.equal(code, 1);
    const report = JSON.parse(stdout) as {
      discrepancies: Array<{ kind: string; tenant: string; requestId: string | null; field?: string }>;
    };
    const found = (kind: string, requestId: string | null) =>
      report.discrepancies.some((d) => d.kind === kind && d.requestId === requestId);
    assert.ok(found("usage-missing", victimRequest), JSON.stringify(report.discrepancies));
    assert.ok(found("cost-mismatch", wrongRequest), JSON.stringify(report.discrepancies));
    assert.ok(found("usage-missing", ghost), JSON.stringify(report.discrepancies));
    assert.ok(
      report.discrepancies.some((d) => d.kind === "spend-projection-mismatch" && d.tenant === "dev"),
      "the projection still counts the deleted records",
    );
    const text = await cli(beamline.server.url, ["billing", "reconcile", "--tenant", "dev"]);
    assert.equal(text.code, 1);
    assert.match(text.stdout, new RegExp(`usage-missing\\tdev\\t${victimRequest}`));
    assert.doesNotMatch(text.stdout, /ghost-request-1/, "--tenant reads that tenant only");
  });
});
