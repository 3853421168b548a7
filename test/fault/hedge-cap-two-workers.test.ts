import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { readRequestHistory } from "../../replay/index.js";
import { QuotaLog } from "../../src/admission/index.js";
import { isEvent, makeEvent, RequestSlots, requestSubject } from "../../src/events/index.js";
import { newRequestId } from "../../src/gateway/request-id.js";
import { connectNats } from "../../src/nats/connect.js";
import type { EventStore } from "../../src/nats/event-store.js";
import { ConsumerNames, KvBuckets, StreamNames } from "../../src/nats/names.js";
import { publishPolicy } from "../../src/policies/index.js";
import { type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { waitForConsumerCaughtUp } from "../support/beamline.js";
import { type CountingUpstream, startCountingUpstream } from "../support/counting-upstream.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";
import { assertLogIsTheRecord, type LogKeeper, startLogKeeper } from "../support/log-checks.js";
import { createTestTenant, signedStore } from "../support/signing.js";
import { tearDown } from "../support/teardown.js";
import { type BeamlineProcess, startBeamlineProcess } from "../support/worker-process.js";

/**
 * The tenant's hedging cap holds across instances (issue 17): two worker processes share one
 * nats-server; the tenant may start 3 hedges a minute. Every request's first candidate is
 * slow (the mock's slow fault), so every request wants a hedge; requests go out in rounds
 * until both workers have served some. Exactly 3 hedges are reserved on the tenant's quota
 * log, every other request records `declined: "max_hedges_per_minute"`, and the log still
 * reconciles and verifies.
 */

const TENANT = "hedgecap";
const CAP = 3;
const ROUND = 4;
const MAX_ROUNDS = 5;

describe("the hedging cap across two worker processes", { timeout: 240_000 }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let store: EventStore;
  let mock: MockProvider;
  let dir: string;
  const upstreams: CountingUpstream[] = [];
  const workers: BeamlineProcess[] = [];
  let keeper: LogKeeper;

  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url, name: "hedge-cap-test" });
    store = signedStore(nc);
    mock = await startMockProvider({ slowDelayMs: 1_500 });
    dir = await mkdtemp(join(tmpdir(), "beamline-hedge-cap-"));
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
    await writeFile(
      join(dir, "catalog.json"),
      JSON.stringify({ ...shipped, models: [...shipped.models, slow] }),
    );
    for (let i = 0; i < 2; i++) {
      const upstream = await startCountingUpstream(mock.url);
      upstreams.push(upstream);
      workers.push(
        startBeamlineProcess("worker,billing", {
          NATS_URL: server.url,
          BEAMLINE_MOCK_URL: upstream.url,
          BEAMLINE_CATALOG_FILE: join(dir, "catalog.json"),
        }),
      );
    }
    for (const [i, worker] of workers.entries()) {
      await waitFor(() => worker.output().includes("Beamline is running"), {
        what: `worker ${i} to start`,
        timeoutMs: 60_000,
      });
    }
    keeper = await startLogKeeper(server.url);
    await createTestTenant(store, TENANT);
    await publishPolicy(
      store,
      TENANT,
      {
        routing: { aliases: { hedged: { models: ["mock-slow", "mock-small"] } } },
        hedge: { afterMs: 100, maxHedgesPerMinute: CAP },
      },
      new Date(),
    );
    // Workers route by the projected policy (KV, watched live): a request sent before the
    // projector wrote it would be served unhedged and counted as neither hedged nor refused.
    const policies = await new Kvm(nc).open(KvBuckets.policies);
    await waitFor(async () => (await policies.get(TENANT))?.string().includes('"hedge"') || undefined, {
      what: "the hedging policy to be projected",
      timeoutMs: 30_000,
    });
  });

  after(() =>
    tearDown(
      async () => keeper?.stop(),
      () => Promise.all(workers.map((worker) => worker.stop())),
      () => Promise.all(upstreams.map((upstream) => upstream.close())),
      async () => mock?.close(),
      async () => nc?.close(),
      async () => server?.stop(),
      async () => dir && rm(dir, { recursive: true, force: true }),
    ),
  );

  async function accept(marker: string): Promise<string> {
    const requestId = newRequestId();
    const accepted = makeEvent(
      "request.accepted",
      `${requestId}:${RequestSlots.accepted}`,
      { tenant: TENANT, requestId, correlationId: requestId },
      {
        request: { model: "hedged", messages: [{ role: "user", content: marker }] },
        frontDoor: "nats",
        stream: false,
      },
      new Date(),
    );
    await store.append(requestSubject(TENANT, requestId, RequestSlots.accepted), accepted, { once: true });
    return requestId;
  }

  async function firstAttemptHedge(requestId: string) {
    const history = await readRequestHistory(nc, TENANT, requestId);
    if (!history.some((h) => h.event.type === "request.completed" || h.event.type === "request.failed"))
      return;
    const first = history.find(
      (h) =>
        (isEvent(h.event, "attempt.failed") || isEvent(h.event, "attempt.succeeded")) &&
        h.event.data.attempt === 1,
    );
    const data = first?.event.data as { hedge?: { outcome: string; declined?: string } } | undefined;
    return data?.hedge ?? { outcome: "missing" };
  }

  test("exactly the cap's hedges start, whichever instance serves the requests", async () => {
    const sent: string[] = [];
    const servedBy = () => upstreams.map((u) => new Set(u.calls.map((c) => c.marker)).size);
    for (let round = 0; round < MAX_ROUNDS && servedBy().some((n) => n === 0); round++) {
      const ids = await Promise.all(
        Array.from({ length: ROUND }, (_, i) => accept(`hedge cap ${round}.${i}`)),
      );
      sent.push(...ids);
      for (const id of ids)
        await waitFor(() => firstAttemptHedge(id), { what: `request ${id} to end`, timeoutMs: 60_000 });
    }
    assert.ok(
      servedBy().every((n) => n > 0),
      `both workers served requests (distinct requests per worker: ${servedBy().join(", ")})`,
    );

    const outcomes = await Promise.all(sent.map((id) => firstAttemptHedge(id)));
    const hedged = outcomes.filter(
      (h) => h?.outcome === "lost" || h?.outcome === "won" || h?.outcome === "failed",
    );
    const refused = outcomes.filter((h) => h?.declined === "max_hedges_per_minute");
    assert.equal(hedged.length, CAP, JSON.stringify(outcomes));
    assert.equal(refused.length, sent.length - CAP, JSON.stringify(outcomes));

    let reserved = 0;
    for await (const { event } of new QuotaLog(nc).readAfter(TENANT, 0)) {
      if (isEvent(event, "hedge.reserved")) reserved++;
    }
    assert.equal(reserved, CAP, "one reservation per hedge on the tenant's quota log");

    for (const name of [ConsumerNames.worker, ConsumerNames.billing]) {
      await waitForConsumerCaughtUp(nc, StreamNames.requests, name, 30_000);
    }
    await assertLogIsTheRecord(server.url, keeper);
  });
});
