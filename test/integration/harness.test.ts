import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it, type TestContext } from "node:test";
import { type JetStreamClient, jetstreamManager, type PubAck } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsCluster, startNatsServer, waitFor } from "../support/index.js";

/** Connects and closes the connection when the test ends. */
async function connectFor(t: TestContext, servers: string | string[]): Promise<NatsConnection> {
  const nc = await connect({ servers, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  t.after(() => nc.close());
  return nc;
}

/** Errors a JetStream publish can meet while a cluster re-elects leaders after losing a node. */
function isTransient(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    if (
      /not enabled|temporarily unavailable|no responders|timeout|disconnect|closed/i.test(current.message)
    ) {
      return true;
    }
  }
  return false;
}

/**
 * Publishes, retrying transient failures with the same msgID so a write that did land is
 * deduplicated rather than stored twice; any other failure ends the test at once.
 */
async function publishDespiteFailover(
  js: JetStreamClient,
  subject: string,
  payload: string,
  msgID: string,
): Promise<PubAck> {
  const outcome = await waitFor(
    async () => {
      try {
        return { ack: await js.publish(subject, payload, { msgID, timeout: 2_000 }) };
      } catch (error) {
        if (isTransient(error)) throw error;
        return { failure: error };
      }
    },
    { what: `a publish of ${msgID} to be acknowledged`, timeoutMs: 30_000, intervalMs: 200 },
  );
  if ("failure" in outcome) throw outcome.failure;
  return outcome.ack;
}

describe("waitFor", () => {
  it("returns the first truthy value of the condition", async () => {
    let polls = 0;
    const value = await waitFor(() => (++polls >= 3 ? `after ${polls} polls` : undefined), {
      what: "the third poll",
      intervalMs: 1,
    });
    assert.equal(value, "after 3 polls");
  });

  it("names what is stuck and the last error seen when it times out", async () => {
    await assert.rejects(
      waitFor(
        () => {
          throw new Error("still booting");
        },
        { what: "the widget to boot", timeoutMs: 50, intervalMs: 10 },
      ),
      /stuck waiting for the widget to boot.*last saw error still booting/,
    );
  });
});

describe("a single nats-server", () => {
  it("serves JetStream on a loopback port", async (t) => {
    const server = await startNatsServer();
    t.after(() => server.stop());
    assert.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(server.url, `nats://127.0.0.1:${server.port}`);

    const jsm = await jetstreamManager(await connectFor(t, server.url));
    await jsm.streams.add({ name: "SINGLE", subjects: ["single.>"] });
    const ack = await jsm.jetstream().publish("single.hello", "hello", { msgID: "single-1" });

    assert.equal(ack.seq, 1);
    assert.equal((await jsm.streams.getMessage("SINGLE", { seq: 1 }))?.string(), "hello");
  });

  it("keeps a stored message through a crash and a restart on the same port and storage", async (t) => {
    const server = await startNatsServer();
    t.after(() => server.stop());
    const firstPid = server.pid;
    const writer = await connect({ servers: server.url });
    const jsm = await jetstreamManager(writer);
    await jsm.streams.add({ name: "DURABLE", subjects: ["durable.>"] });
    await jsm.jetstream().publish("durable.fact", "survives", { msgID: "durable-1" });
    await writer.close();

    await server.kill();
    assert.equal(server.pid, undefined);
    assert.ok(existsSync(server.storeDir), "kill keeps the storage");
    await server.restart();

    assert.notEqual(server.pid, firstPid);
    const reader = await jetstreamManager(await connectFor(t, server.url));
    assert.equal((await reader.streams.getMessage("DURABLE", { seq: 1 }))?.string(), "survives");
  });

  it("removes its storage on stop", async () => {
    const server = await startNatsServer();
    await server.stop();
    assert.equal(server.pid, undefined);
    assert.equal(existsSync(server.storeDir), false);
  });
});

describe("a 3-node JetStream cluster", () => {
  it("keeps accepting writes to an R3 stream after its stream leader is killed", async (t) => {
    const cluster = await startNatsCluster({ size: 3 });
    t.after(() => cluster.stop());
    assert.equal(new Set(cluster.urls).size, 3);

    const jsm = await jetstreamManager(await connectFor(t, cluster.urls));
    const stream = await jsm.streams.add({ name: "REPLICATED", subjects: ["replicated.>"], num_replicas: 3 });
    assert.equal(stream.config.num_replicas, 3);
    const js = jsm.jetstream();
    await publishDespiteFailover(js, "replicated.fact", "before", "replicated-1");

    const leaderName = (await jsm.streams.info("REPLICATED")).cluster?.leader;
    const leader = cluster.nodes.find((node) => node.name === leaderName);
    assert.ok(leader, `stream leader ${leaderName} is one of the nodes`);
    await leader.kill();

    const ack = await publishDespiteFailover(js, "replicated.fact", "after", "replicated-2");
    assert.equal(ack.seq, 2);
    const info = await waitFor(
      async () => {
        const current = await jsm.streams.info("REPLICATED");
        return current.cluster?.leader && current.cluster.leader !== leaderName ? current : undefined;
      },
      { what: "REPLICATED to report a new stream leader", timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal(info.state.messages, 2);
  });
});
