import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { openSpendKv, readTenantSpend, spendProjector } from "../../projections/index.js";
import { verifyProjections } from "../../replay/index.js";
import { type BeamlineEvent, makeEvent, usageSubject } from "../../src/events/index.js";
import { type RunningStage, runStage } from "../../src/nats/consumer-runner.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { createLogger, createMetrics } from "../../src/observability/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { waitForConsumerCaughtUp } from "../support/beamline.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";
import { signedStore } from "../support/signing.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../support/topology.js";

/**
 * The spend projection is an ordered fold (issue 18): usage records are gathered per window and
 * written with one KV write per cell, by one instance at a time. These tests hold it to what
 * the one-message-at-a-time consumer it replaced guaranteed: every usage record counted exactly
 * once, with two instances running, and after an instance dies holding a window.
 */

/**
 * A spend projector in a process of its own, folding in 10-minute windows (so it holds every
 * record it is given): the instance the crash test kills.
 */
const DOOMED_PROJECTOR = `
import { connect } from "@nats-io/transport-node";
import { spendProjector } from "./projections/index.js";
import { runStage } from "./src/nats/consumer-runner.js";
import { createLogger, createMetrics } from "./src/observability/index.js";
import { signedStore } from "./test/support/signing.js";
const nc = await connect({ servers: process.env.NATS_URL });
const store = signedStore(nc);
await runStage({
  store,
  handler: await spendProjector(store, { windowMs: 600_000 }),
  log: createLogger({ level: "silent" }),
  metrics: createMetrics({ defaultMetrics: false }),
  ackWaitMs: 30_000,
  maxDeliver: 5,
});
process.stdout.write("folding\\n");
`;

const TENANTS = ["acme", "globex", "initech"];
const MODELS = ["gpt-4.1", "claude-sonnet"];

function usage(index: number, cost: number): BeamlineEvent<"usage.recorded"> {
  const tenant = TENANTS[index % TENANTS.length]!;
  const requestId = `req-${index}`;
  return makeEvent(
    "usage.recorded",
    `${requestId}:usage`,
    { tenant, requestId, correlationId: requestId },
    {
      outcome: "completed",
      provider: "mock",
      model: MODELS[index % MODELS.length]!,
      promptTokens: 10,
      completionTokens: 5,
      cachedTokens: 0,
      costNanoUsd: cost,
      costUsd: (cost / 1e9).toFixed(9),
      catalogVersion: "c1",
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 2, cachedInputPerMTokUsd: 1 },
      ...(index % 4 === 0 ? {} : { apiKeyId: `key-${index % 2}` }),
    },
    new Date(),
  );
}

describe("spend projection: an ordered fold, exact across instances and crashes", {
  timeout: 120_000,
}, () => {
  let server: NatsServer;
  let admin: NatsConnection;
  const running: Array<{ stage: RunningStage; nc: NatsConnection }> = [];
  /** Usage records published so far, and their total cost per tenant. */
  let published = 0;
  const costByTenant = new Map<string, number>();

  before(async () => {
    server = await startNatsServer();
    admin = await connect({ servers: server.url });
    await applyTopology(admin, beamlineTopology(SHORT_LIVED_TOPOLOGY_SETTINGS));
  });
  after(async () => {
    for (const { stage, nc } of running) {
      await stage.stop(100).catch(() => undefined);
      await nc.close().catch(() => undefined);
    }
    await admin?.close();
    await server?.stop();
  });

  /** Starts a projector instance on its own connection. */
  async function startInstance(windowMs: number): Promise<{ stage: RunningStage; nc: NatsConnection }> {
    const nc = await connect({ servers: server.url });
    const store = signedStore(nc);
    const stage = await runStage({
      store,
      handler: await spendProjector(store, { windowMs }),
      log: createLogger({ level: "silent" }),
      metrics: createMetrics({ defaultMetrics: false }),
      ackWaitMs: SHORT_LIVED_TOPOLOGY_SETTINGS.ackWaitMs,
      maxDeliver: SHORT_LIVED_TOPOLOGY_SETTINGS.maxDeliver,
    });
    const instance = { stage, nc };
    running.push(instance);
    return instance;
  }

  async function publish(count: number): Promise<void> {
    const store = signedStore(admin);
    await Promise.all(
      Array.from({ length: count }, async () => {
        const index = published++;
        const cost = 1_000 + index;
        const event = usage(index, cost);
        costByTenant.set(event.tenant, (costByTenant.get(event.tenant) ?? 0) + cost);
        await store.append(usageSubject(event.tenant, event.requestId), event, { once: true });
      }),
    );
  }

  /** The live cells equal the replay, and every record published is counted once. */
  async function assertExact(): Promise<void> {
    await waitForConsumerCaughtUp(admin, StreamNames.usage, ConsumerNames.spendProjector, 60_000);
    const spend = (await verifyProjections(admin)).find((check) => check.name === "spend");
    assert.deepEqual(spend?.differing, [], "the live spend cells equal the replay");
    const kv = await openSpendKv(admin);
    let requests = 0;
    for (const tenant of TENANTS) {
      let cost = 0;
      for await (const cell of readTenantSpend(kv, tenant)) {
        requests += cell.requests;
        cost += cell.costNanoUsd;
      }
      assert.equal(cost, costByTenant.get(tenant), `${tenant}'s cost counted once`);
    }
    assert.equal(requests, published, "every usage record counted once");
  }

  it("two instances under a burst: one folds, the cells are exact", async () => {
    await startInstance(20);
    await startInstance(20);
    await publish(400);
    await assertExact();
  });

  it("an instance killed holding a window: its records are folded once, by the next", async () => {
    for (const { stage, nc } of running.splice(0)) {
      await stage.stop(100);
      await nc.close();
    }
    const jsm = await jetstreamManager(admin);
    // Its own process, with a window far longer than the test: it holds what it is given.
    const doomed = spawn(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", DOOMED_PROJECTOR],
      { env: { ...process.env, NATS_URL: server.url }, stdio: ["ignore", "pipe", "inherit"] },
    );
    const exited = new Promise((resolve) => doomed.once("exit", resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        doomed.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("folding") && resolve());
        doomed.once("exit", (code) => reject(new Error(`the projector process exited (${code})`)));
      });
      await publish(120);
      await waitFor(
        async () =>
          (await jsm.consumers.info(StreamNames.usage, ConsumerNames.spendProjector)).num_ack_pending === 120,
        { what: "the doomed process to hold 120 usage records unacknowledged", timeoutMs: 20_000 },
      );
    } finally {
      doomed.kill("SIGKILL");
      await exited;
    }
    await startInstance(20);
    await publish(60);
    await assertExact();
  });
});
