import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import Fastify, { type FastifyInstance } from "fastify";
import { configDocumentsProjector } from "../../projections/index.js";
import { verifyRecordedDecision } from "../../replay/index.js";
import { loadCatalogFile } from "../../src/catalog/index.js";
import { isBeamlineError } from "../../src/errors/index.js";
import { makeEvent, RequestSlots, requestSubject } from "../../src/events/index.js";
import { registerPolicyAdminRoutes } from "../../src/gateway/admin/policies.js";
import { type RunningStage, runStage } from "../../src/nats/consumer-runner.js";
import type { EventStore } from "../../src/nats/event-store.js";
import { createLogger, createMetrics } from "../../src/observability/index.js";
import {
  type CatalogView,
  publishCatalog,
  seedCatalogIfEmpty,
  watchCatalog,
} from "../../src/policies/catalog-store.js";
import {
  type PolicyView,
  publishPolicy,
  readPolicyHistory,
  startConfigViews,
  watchPolicies,
} from "../../src/policies/index.js";
import { decideWithPolicy, EMPTY_HEALTH, NO_QUOTA } from "../../src/routing/policy/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { runCli } from "../support/cli.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";
import { signedStore } from "../support/signing.js";

const settings = {
  replicas: 1,
  requestRetentionDays: 1,
  usageRetentionDays: 1,
  duplicateWindowMs: 120_000,
  persistMode: "default" as const,
  ackWaitMs: 5_000,
  maxDeliver: 5,
  maxAckPending: 1000,
};

const log = createLogger({ level: "silent" });
/** "Applies live" means within a second on every instance, without a restart. */
const LIVE_MS = 1_000;

describe("policies and the catalog apply live", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let store: EventStore;
  let projector: RunningStage;
  let policies: PolicyView;
  let catalogView: CatalogView;
  let admin: FastifyInstance;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    await applyTopology(nc, beamlineTopology(settings));
    store = signedStore(nc);
    projector = await runStage({
      store,
      handler: await configDocumentsProjector(store),
      log,
      metrics: createMetrics({ defaultMetrics: false }),
      ackWaitMs: settings.ackWaitMs,
      maxDeliver: settings.maxDeliver,
    });
    policies = await watchPolicies(nc, log);
    catalogView = await watchCatalog(nc, log, await loadCatalogFile());
    await Promise.all([policies.ready, catalogView.ready]);
    admin = Fastify();
    registerPolicyAdminRoutes(admin, { store, now: () => new Date() });
    await admin.ready();
  });

  after(async () => {
    await admin?.close();
    policies?.stop();
    catalogView?.stop();
    await projector?.stop(1000);
    await nc?.close();
    await server?.stop();
  });

  it("serves the default policy (version 0) to a tenant that has none", () => {
    assert.equal(policies.policyFor("nobody").version, 0);
  });

  it("a published policy reaches the read view within a second and routes the next decision", async () => {
    await publishPolicy(
      store,
      "acme",
      { routing: { strategy: { type: "quality" }, constraints: { allowedProviders: ["openai"] } } },
      new Date(),
    );
    const v1 = await waitFor(
      () => (policies.policyFor("acme").version === 1 ? policies.policyFor("acme") : undefined),
      {
        what: "policy acme v1 in the view",
        timeoutMs: LIVE_MS,
        intervalMs: 10,
      },
    );
    const route = (policy = policies.policyFor("acme")) =>
      decideWithPolicy({
        request: { model: "auto", messages: [{ role: "user", content: "hi" }] },
        policy,
        catalog: catalogView.current(),
        health: EMPTY_HEALTH,
        quota: NO_QUOTA,
        seed: "r",
      });
    assert.equal(route(v1).candidates[0]?.model, "gpt-4o");
    const published = await publishPolicy(
      store,
      "acme",
      { routing: { strategy: { type: "cheapest" }, constraints: { allowedProviders: ["mock"] } } },
      new Date(),
    );
    assert.equal(published.version, 2);
    await waitFor(() => policies.policyFor("acme").version === 2, {
      what: "policy acme v2",
      timeoutMs: LIVE_MS,
      intervalMs: 10,
    });
    const decision = route();
    assert.equal(decision.candidates[0]?.model, "mock-small");
    assert.equal(decision.policyVersion, 2);
  });

  it("assigns distinct, increasing versions to concurrent publishers", async () => {
    const other = signedStore(await connect({ servers: server.url }));
    try {
      const results = await Promise.all(
        [1, 2, 3, 4].map((i) =>
          publishPolicy(i % 2 ? store : other, "race", { limits: { requestsPerMinute: i } }, new Date()),
        ),
      );
      assert.deepEqual(results.map((r) => r.version).sort(), [1, 2, 3, 4]);
      const history = await readPolicyHistory(nc, "race");
      assert.deepEqual(
        history.map((h) => h.version),
        [1, 2, 3, 4],
      );
      await waitFor(() => policies.policyFor("race").version === 4, {
        what: "policy race v4",
        timeoutMs: LIVE_MS,
      });
    } finally {
      await other.nc.close();
    }
  });

  it("seeds the catalog once, and a published catalog reaches the view within a second", async () => {
    const seed = await loadCatalogFile();
    assert.equal(await seedCatalogIfEmpty(store, seed, new Date()), true);
    assert.equal(await seedCatalogIfEmpty(store, seed, new Date()), false);
    await waitFor(() => catalogView.revision() === 1, {
      what: "catalog revision 1",
      timeoutMs: LIVE_MS,
      intervalMs: 10,
    });
    const next = structuredClone(seed.document);
    next.version = "2026-12-01.1";
    next.models[0]!.prices.inputPerMTokUsd = 0.1;
    const published = await publishCatalog(store, next, new Date());
    assert.equal(published.revision, 2);
    await waitFor(() => catalogView.current().version === "2026-12-01.1", {
      what: "catalog 2026-12-01.1 in the view",
      timeoutMs: LIVE_MS,
      intervalMs: 10,
    });
    assert.equal(catalogView.current().resolve(seed.models[0]!.id)?.prices.inputPerMTokUsd, 0.1);
    next.models[0]!.prices.inputPerMTokUsd = 0.2;
    await assert.rejects(publishCatalog(store, next, new Date()), (e) =>
      isBeamlineError(e, "BL_CATALOG_INVALID"),
    );
  });

  it("admin routes publish, read and list policies, and publish the catalog", async () => {
    const put = await admin.inject({
      method: "PUT",
      url: "/policies/globex",
      payload: { routing: { strategy: { type: "priority", order: ["mock-large"] } } },
    });
    assert.equal(put.statusCode, 200);
    assert.deepEqual(put.json(), { tenant: "globex", version: 1 });
    const got = await admin.inject({ method: "GET", url: "/policies/globex" });
    assert.equal(got.json().version, 1);
    assert.deepEqual(got.json().policy.routing.strategy, { type: "priority", order: ["mock-large"] });
    const bad = await admin.inject({
      method: "PUT",
      url: "/policies/globex",
      payload: { routing: { strategy: { type: "fastest", latency: "p50" } } },
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, "BL_POLICY_INVALID");
    assert.match(bad.json().error.message, /routing\.strategy\.latency/);
    const badTenant = await admin.inject({ method: "GET", url: "/policies/a.b" });
    assert.equal(badTenant.json().error.code, "BL_INVALID_TENANT_ID");
    const history = await admin.inject({ method: "GET", url: "/policies/globex/history" });
    assert.deepEqual(
      history.json().versions.map((v: { version: number }) => v.version),
      [1],
    );
    await waitFor(() => policies.policyFor("globex").version === 1, {
      what: "globex v1",
      timeoutMs: LIVE_MS,
    });

    const shown = await admin.inject({ method: "GET", url: "/catalog" });
    const document = shown.json().catalog;
    document.version = "admin-1";
    const publish = await admin.inject({ method: "PUT", url: "/catalog", payload: document });
    assert.equal(publish.statusCode, 200);
    assert.equal(publish.json().version, "admin-1");
    const invalid = await admin.inject({
      method: "PUT",
      url: "/catalog",
      payload: { version: "x", models: [] },
    });
    assert.equal(invalid.statusCode, 400);
    assert.equal(invalid.json().error.code, "BL_CATALOG_INVALID");
    await waitFor(() => catalogView.current().version === "admin-1", {
      what: "catalog admin-1",
      timeoutMs: LIVE_MS,
    });
  });

  it("the CLI sets, gets and lists a tenant's policy versions", async () => {
    const file = join(tmpdir(), `policy-${process.pid}.json`);
    await writeFile(file, JSON.stringify({ routing: { strategy: { type: "fastest" } } }));
    assert.match(
      await runCli(server.url, ["policies", "set", "initech", file]),
      /published policy version 1 for tenant initech/,
    );
    const current = JSON.parse(await runCli(server.url, ["policies", "get", "initech"]));
    assert.equal(current.version, 1);
    assert.equal(current.policy.routing.strategy.type, "fastest");
    assert.match(await runCli(server.url, ["policies", "history", "initech"]), /^v1\t.*\tfastest$/m);
    await waitFor(() => policies.policyFor("initech").version === 1, {
      what: "initech v1",
      timeoutMs: LIVE_MS,
    });
  });

  it("startConfigViews serves the published catalog, restricted to the providers this instance reaches", async () => {
    const seed = await loadCatalogFile();
    const views = await startConfigViews({
      nc,
      store,
      log,
      seedCatalog: seed,
      providers: new Set(["mock"]),
      now: new Date(),
    });
    try {
      await waitFor(() => views.catalog.revision() >= 2, {
        what: "a published catalog in the new view",
        timeoutMs: LIVE_MS,
      });
      assert.notEqual(
        views.catalog.current().version,
        seed.version,
        "the seed must not replace a published catalog",
      );
      assert.deepEqual(new Set(views.catalog.current().models.map((m) => m.provider)), new Set(["mock"]));
      assert.equal(views.policies.policyFor("acme").version, 2);
    } finally {
      views.stop();
    }
  });

  it("a recorded decision replays identically from the log, and a tampered one does not", async () => {
    const policy = policies.policyFor("acme");
    const catalog = catalogView.current();
    const request = {
      model: "auto",
      messages: [{ role: "user" as const, content: "replay me" }],
      user: "u-7",
    };
    const record = async (requestId: string, tamper: boolean) => {
      const context = { tenant: "acme", requestId, correlationId: requestId };
      const decision = decideWithPolicy({
        request,
        policy,
        catalog,
        health: { revision: 3, models: { "mock/mock-large": { breaker: "open" } } },
        quota: { revision: 9, remainingSpendNanoUsd: 5_000_000_000 },
        seed: requestId,
      });
      if (tamper) decision.candidates.reverse();
      const now = new Date();
      await store.append(
        requestSubject("acme", requestId, RequestSlots.accepted),
        makeEvent(
          "request.accepted",
          `${requestId}:accepted`,
          context,
          { request, frontDoor: "nats", stream: false },
          now,
        ),
      );
      await store.append(
        requestSubject("acme", requestId, RequestSlots.decided),
        makeEvent("route.decided", `${requestId}:decided`, context, decision, now),
      );
    };
    await record("req_replay_ok", false);
    await record("req_replay_bad", true);
    assert.deepEqual(await verifyRecordedDecision(nc, "acme", "req_replay_ok"), {
      identical: true,
      differences: [],
    });
    const bad = await verifyRecordedDecision(nc, "acme", "req_replay_bad");
    assert.equal(bad.identical, false);
    assert.match(bad.differences[0] ?? "", /^candidates/);
  });
});
