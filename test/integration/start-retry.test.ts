import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadConfig } from "../../src/config/index.js";
import { BeamlineError } from "../../src/errors/index.js";
import { connectNats, StreamNames } from "../../src/nats/index.js";
import { createLogger } from "../../src/observability/index.js";
import { startBeamline } from "../../src/runtime/index.js";
import { capturedLog } from "../support/captured-log.js";
import { TEST_MASTER_KEY } from "../support/cli.js";
import { type NatsCluster, startNatsCluster } from "../support/nats-server.js";
import { TEST_EVENT_SIGNING_KEY } from "../support/signing.js";
import { waitFor } from "../support/wait.js";

/**
 * Issue 13: a role started while its NATS cluster cannot answer JetStream requests (two of
 * three nodes stalled, so no quorum: every JetStream API call times out) does not die on the
 * first timeout. It undoes what it started, tries again, and runs once the cluster answers;
 * when the cluster never answers it fails after its window with BL_NATS_UNAVAILABLE.
 */
describe("start-up against a stalled cluster", { timeout: 180_000 }, () => {
  let cluster: NatsCluster;
  let dataDir: string;
  const stalledPids = new Set<number>();

  before(async () => {
    cluster = await startNatsCluster();
    dataDir = await mkdtemp(join(tmpdir(), "bl-start-retry-"));
  });
  after(async () => {
    for (const pid of stalledPids) process.kill(pid, "SIGCONT");
    await cluster?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** Pauses every node but the first, so the first has no JetStream quorum. */
  function stallMajority(): void {
    for (const node of cluster.nodes.slice(1)) {
      process.kill(node.pid!, "SIGSTOP");
      stalledPids.add(node.pid!);
    }
  }
  function resumeMajority(): void {
    for (const pid of stalledPids) process.kill(pid, "SIGCONT");
    stalledPids.clear();
  }

  function projectorConfig() {
    return loadConfig({
      roles: ["projector"],
      replicas: 3,
      natsUrl: cluster.urls[0],
      dataDir,
      logLevel: "info",
      eventSigning: { key: TEST_EVENT_SIGNING_KEY },
      contentAtRest: { masterKey: TEST_MASTER_KEY },
      metrics: { port: 0 },
    });
  }

  it("retries a start whose JetStream calls time out, and runs once the cluster answers", async () => {
    stallMajority();
    const sink = capturedLog();
    const starting = startBeamline(projectorConfig(), {
      log: createLogger({ level: "info", destination: sink }),
    });
    // Keep a failure for the assertion below instead of an unhandled rejection meanwhile.
    const outcome = starting.then(
      (app) => ({ app }),
      (error: unknown) => ({ error }),
    );
    await waitFor(() => sink.text().includes("failed transiently"), {
      what: "a start-up try to fail on the stalled cluster",
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    resumeMajority();
    const started = await outcome;
    assert.ok("app" in started, `the start succeeded after the cluster came back: ${String(started)}`);
    try {
      const nc = await connectNats({ servers: cluster.urls, name: "start-retry-check" });
      try {
        const info = await (await jetstreamManager(nc)).streams.info(StreamNames.requests);
        assert.equal(info.config.num_replicas, 3);
      } finally {
        await nc.close();
      }
      assert.match(sink.text(), /Beamline is running/);
    } finally {
      await started.app.stop();
    }
  });

  it("gives up after its window with BL_NATS_UNAVAILABLE when the cluster never answers", async () => {
    stallMajority();
    const startedAt = Date.now();
    const windowMs = 3_000;
    try {
      await assert.rejects(
        startBeamline(projectorConfig(), {
          log: createLogger({ level: "silent" }),
          retryWindowMs: windowMs,
        }),
        (error: unknown) => error instanceof BeamlineError && error.code === "BL_NATS_UNAVAILABLE",
      );
      // One try may be in a JetStream call (5 s API timeout) when the window ends.
      const tookMs = Date.now() - startedAt;
      assert.ok(tookMs < windowMs + 15_000, `gave up after ${tookMs} ms`);
    } finally {
      resumeMajority();
    }
  });
});
