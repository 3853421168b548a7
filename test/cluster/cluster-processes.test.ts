import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type ClusterSuite, startClusterSuite } from "../support/cluster-suite.js";
import { waitFor } from "../support/wait.js";

/**
 * Issue 13, fault suite on a 3-node R3 cluster with every role in its own process: processes
 * die under load (mixed plain and streamed requests through both gateways). LONG: about two
 * minutes on a quiet 2-core machine, most of it restarting workers 20 times.
 */

/** The figure; BEAMLINE_FAULT_WORKER_KILLS lowers it for a quick local run. */
const WORKER_KILLS = Number(process.env["BEAMLINE_FAULT_WORKER_KILLS"] ?? 20);

describe("cluster fault suite: Beamline processes die under load", { timeout: 1_200_000 }, () => {
  let suite: ClusterSuite;

  before(async () => {
    suite = await startClusterSuite();
  });
  after(async () => {
    await suite?.stop();
  });

  test(`[long] SIGKILL a worker ${WORKER_KILLS} times in a row, restarting each`, async (t) => {
    const { workers } = suite.topology;
    const { figures } = await suite.scenario(async (load) => {
      for (let kill = 0; kill < WORKER_KILLS; kill += 1) {
        const worker = workers[kill % workers.length]!;
        await worker.kill("SIGKILL");
        assert.equal(worker.process.child.signalCode, "SIGKILL");
        // The survivor keeps serving while this one comes back.
        await load.answered(2);
        await worker.restart();
        t.diagnostic(`worker kill ${kill + 1}/${WORKER_KILLS}: ${load.count} answers so far`);
      }
      return Date.now();
    });
    t.diagnostic(JSON.stringify(figures));
    t.diagnostic(
      `worker starts that crashed and were retried: ${workers.flatMap((w) => w.startCrashes).length}`,
    );
  });

  test("SIGKILL a gateway while streams are in flight", async (t) => {
    const [doomed] = suite.topology.gateways;
    let killedAt = 0;
    const { figures, answers } = await suite.scenario(
      async (load) => {
        await load.answered(8);
        await doomed!.kill("SIGKILL");
        killedAt = Date.now();
        // Its clients move to the other gateway; it comes back on the same port.
        await load.answered(16);
        await doomed!.restart();
        return killedAt;
      },
      {
        // Only a request that was on the killed gateway when it died may see the connection drop.
        connectionErrorAllowed: (answer) => answer.gateway === 0 && answer.startedAt <= killedAt,
      },
    );
    const cut = answers.filter((answer) => answer.outcome === "connection-error");
    t.diagnostic(
      `connection errors on the killed gateway: ${cut.length}, streamed: ${cut.filter((a) => a.stream).length}`,
    );
    t.diagnostic(JSON.stringify(figures));
    t.diagnostic(`gateway starts that crashed and were retried: ${doomed!.startCrashes.length}`);
    await waitFor(() => suite.topology.gateways[0]!.httpUrl, { what: "the gateway back", timeoutMs: 1_000 });
  });
});
