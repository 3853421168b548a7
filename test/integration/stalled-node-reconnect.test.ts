import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connectNats } from "../../src/nats/index.js";
import { type NatsCluster, startNatsCluster } from "../support/nats-server.js";
import { waitFor } from "../support/wait.js";

/**
 * Issue 13: a stalled cluster node (SIGSTOP: its sockets stay open, nothing answers) is left by
 * every Beamline connection within seconds, through the client's pings, instead of holding the
 * process until nats.js's default ping check gives up minutes later.
 */
describe("a connection to a stalled cluster node", { timeout: 120_000 }, () => {
  let cluster: NatsCluster;
  let stalledPid: number | undefined;

  before(async () => {
    cluster = await startNatsCluster();
  });
  after(async () => {
    if (stalledPid !== undefined) process.kill(stalledPid, "SIGCONT");
    await cluster?.stop();
  });

  it("moves to another node within 20 s", async (t) => {
    const nc = await connectNats({ servers: cluster.urls, name: "stalled-node-test" });
    try {
      const first = nc.info?.server_name;
      const node = cluster.nodes.find((candidate) => candidate.name === first);
      assert.ok(node?.pid, `the connection's node ${first} is one of the cluster's`);
      stalledPid = node.pid;
      process.kill(stalledPid, "SIGSTOP");
      const stalledAt = Date.now();
      // Served again by another node: a round trip answered there.
      await waitFor(
        async () => {
          const answered = await nc.flush().then(
            () => true,
            () => false,
          );
          return answered && nc.info?.server_name !== first;
        },
        { what: `the connection to leave stalled node ${first}`, timeoutMs: 20_000, intervalMs: 50 },
      );
      const movedAfterMs = Date.now() - stalledAt;
      t.diagnostic(`served by ${nc.info?.server_name} ${movedAfterMs} ms after ${first} stalled`);
      assert.ok(
        movedAfterMs >= 2_000,
        `moved after ${movedAfterMs} ms: the pings, not a reset, found the stall`,
      );
    } finally {
      await nc.close();
    }
  });
});
