import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { loadCatalogFile, type ModelCatalog } from "../../../src/catalog/index.js";
import type { ChatRequest } from "../../../src/chat/wire.js";
import {
  type BeamlineEvent,
  encodeEvent,
  makeEvent,
  RequestSlots,
  requestSubject,
} from "../../../src/events/index.js";
import { publishCatalog } from "../../../src/policies/catalog-store.js";
import { publishPolicy } from "../../../src/policies/index.js";
import {
  decideWithPolicy,
  type HealthSnapshot,
  NO_QUOTA,
  type RouteDecision,
  type VersionedPolicy,
} from "../../../src/routing/policy/index.js";
import { applyTopology, beamlineTopology } from "../../../streams/index.js";
import { runCli } from "../../support/cli.js";
import { type NatsServer, startNatsServer } from "../../support/index.js";
import { signedStore } from "../../support/signing.js";

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

const TENANTS = ["acme", "globex"] as const;
const DECISIONS = 10_000;
const mockOnly = { allowedProviders: ["mock"] };
/** Three versions per tenant, each ranking differently: cheapest, by quality, a seeded split. */
const POLICY_VERSIONS = [
  { routing: { strategy: { type: "cheapest" }, constraints: mockOnly } },
  { routing: { strategy: { type: "quality" }, constraints: mockOnly } },
  {
    routing: {
      strategy: {
        type: "weighted",
        variants: [
          { model: "mock-small", weight: 3 },
          { model: "mock-large", weight: 1 },
        ],
      },
      constraints: mockOnly,
    },
  },
];

/** One request of the synthetic history: varied text, sometimes tools or a user (sticky key). */
function requestOf(i: number): ChatRequest {
  const request: ChatRequest = {
    model: i % 5 === 0 ? "fast" : "auto",
    messages: [{ role: "user", content: `question ${i}: ${"words ".repeat(i % 40)}` }],
  };
  if (i % 3 === 0) request.user = `user-${i % 17}`;
  if (i % 11 === 0) request.max_tokens = 100 + (i % 50);
  return request;
}

function healthOf(i: number): HealthSnapshot {
  return {
    revision: i,
    models: {
      "mock/mock-small": { breaker: "closed", latencyEwmaMs: 100 + (i % 30), errorRate: (i % 10) / 100 },
      "mock/mock-large": { breaker: i % 13 === 0 ? "open" : "closed", latencyEwmaMs: 300 + (i % 50) },
    },
  };
}

describe("beamline decisions verify over a large history", { timeout: 180_000 }, () => {
  let server: NatsServer;
  let nc: NatsConnection;

  /** Publishes accepted + decided pairs, many writes in flight at once, each acknowledged. */
  async function publishAll(events: Array<{ subject: string; event: BeamlineEvent }>): Promise<void> {
    const js = jetstream(nc);
    const batch = 500;
    for (let start = 0; start < events.length; start += batch) {
      await Promise.all(
        events.slice(start, start + batch).map(({ subject, event }) => {
          const encoded = encodeEvent(event);
          const h = natsHeaders();
          for (const [name, value] of Object.entries(encoded.headers)) h.set(name, value);
          return js.publish(subject, encoded.payload, { headers: h, msgID: event.id });
        }),
      );
    }
  }

  function pairOf(
    tenant: string,
    requestId: string,
    request: ChatRequest,
    decision: RouteDecision,
    time: Date,
  ): Array<{ subject: string; event: BeamlineEvent }> {
    const context = { tenant, requestId, correlationId: requestId };
    const accepted = makeEvent(
      "request.accepted",
      `${requestId}:${RequestSlots.accepted}`,
      context,
      { request, frontDoor: "openai", stream: false },
      time,
    );
    const decided = makeEvent(
      "route.decided",
      `${requestId}:${RequestSlots.decided}`,
      { ...context, causationId: accepted.id },
      decision,
      time,
    );
    return [
      { subject: requestSubject(tenant, requestId, RequestSlots.accepted), event: accepted },
      { subject: requestSubject(tenant, requestId, RequestSlots.decided), event: decided },
    ];
  }

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    await applyTopology(nc, beamlineTopology(settings));
    const store = signedStore(nc);
    const seed = await loadCatalogFile();
    const catalogs: ModelCatalog[] = [
      (await publishCatalog(store, seed.document, new Date())).catalog,
      (
        await publishCatalog(
          store,
          {
            ...seed.document,
            version: `${seed.version}-repriced`,
            models: seed.document.models.map((m) => ({
              ...m,
              prices: { ...m.prices, inputPerMTokUsd: m.prices.inputPerMTokUsd * 3 },
            })),
          },
          new Date(),
        )
      ).catalog,
    ];
    const policies = new Map<string, VersionedPolicy[]>();
    for (const tenant of TENANTS) {
      const versions: VersionedPolicy[] = [];
      for (const document of POLICY_VERSIONS)
        versions.push(await publishPolicy(store, tenant, document, new Date()));
      policies.set(tenant, versions);
    }
    const events: Array<{ subject: string; event: BeamlineEvent }> = [];
    const time = new Date();
    for (let i = 0; i < DECISIONS; i++) {
      const tenant = TENANTS[i % TENANTS.length] ?? "acme";
      const versions = policies.get(tenant) ?? [];
      // Versions change over the history as they would in production: in blocks, not per request.
      const policy = versions[Math.floor((i / DECISIONS) * versions.length)] ?? versions[0];
      const catalog = catalogs[i < DECISIONS / 2 ? 0 : 1] ?? seed;
      assert.ok(policy);
      const requestId = `req_${String(i).padStart(6, "0")}`;
      const accepted = requestOf(i);
      // Every seventh request was rewritten by a pre-processing extension: routed as recorded on the decision.
      const routed =
        i % 7 === 0 ? { ...accepted, messages: [{ role: "user" as const, content: "[masked]" }] } : accepted;
      const decision = decideWithPolicy({
        request: routed,
        policy,
        catalog,
        health: healthOf(i),
        quota: NO_QUOTA,
        seed: requestId,
      });
      if (routed !== accepted) decision.request = routed;
      events.push(...pairOf(tenant, requestId, accepted, decision, time));
    }
    await publishAll(events);
  });

  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("re-derives all 10,000 decisions over three policy versions and two catalogs", async () => {
    const out = await runCli(server.url, ["decisions", "verify"]);
    assert.equal(out.trim(), `${DECISIONS} of ${DECISIONS} decisions re-derived identically`);
  });

  it("reads only the named tenant with --tenant", async () => {
    const out = await runCli(server.url, ["decisions", "verify", "--tenant", "globex", "--json"]);
    const summary = JSON.parse(out.trim());
    assert.deepEqual(summary, {
      kind: "summary",
      decisions: DECISIONS / 2,
      identical: DECISIONS / 2,
      mismatched: 0,
      unreadable: 0,
    });
  });

  it("reports a doctored decision with the field that differs and exits 1", async () => {
    const store = signedStore(nc);
    const catalog = await loadCatalogFile();
    const policy = await publishPolicy(store, "acme", POLICY_VERSIONS[0], new Date());
    const request = requestOf(1);
    const honest = decideWithPolicy({
      request,
      policy,
      catalog,
      health: healthOf(1),
      quota: NO_QUOTA,
      seed: "req_forged",
    });
    // Someone with write access claims the dearer model was chosen.
    const first = honest.candidates[0];
    const second = honest.candidates[1];
    assert.ok(first && second);
    const forged: RouteDecision = { ...honest, candidates: [second, first, ...honest.candidates.slice(2)] };
    await publishAll(pairOf("acme", "req_forged", request, forged, new Date()));

    await assert.rejects(
      runCli(server.url, ["decisions", "verify", "--tenant", "acme", "--json"]),
      (error: Error & { code?: number; stdout?: string }) => {
        assert.equal(error.code, 1);
        const lines = (error.stdout ?? "")
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line));
        const mismatches = lines.filter((line) => line.kind === "mismatch");
        assert.equal(mismatches.length, 1);
        assert.equal(mismatches[0].requestId, "req_forged");
        const model = mismatches[0].differences.find(
          (d: { path: string }) => d.path === "candidates[0].model",
        );
        assert.deepEqual(model, {
          path: "candidates[0].model",
          recorded: second.model,
          recomputed: first.model,
        });
        assert.deepEqual(lines.at(-1), {
          kind: "summary",
          decisions: DECISIONS / 2 + 1,
          identical: DECISIONS / 2,
          mismatched: 1,
          unreadable: 0,
        });
        return true;
      },
    );
  });
});
