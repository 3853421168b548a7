/**
 * Health-projection lag at maximum throughput (issue 13, item 8). The provider-health
 * projector folds attempt events one at a time (`max_ack_pending` 1, so the live projection
 * equals a replay); this measures whether that single consumer falls behind when two workers
 * run as fast as they can.
 *
 * Runs a nats-server, one `gateway,billing,projector` process and two `worker` processes,
 * then a closed loop of `--concurrency` HTTP requests for `--seconds`. Every 100 ms it samples
 * the health consumer: its lag is the age of the oldest attempt event it has not yet
 * acknowledged (0 when it is caught up). Reports lag p50/p99/max, requests per second, and how
 * long the projector took to drain once the load stopped; the worker consumer's lag is
 * sampled the same way for comparison.
 *
 *   node --import tsx bench/health-lag.ts [--seconds 20] [--concurrency 128]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { RequestSlots, slotFilter } from "../src/events/index.js";
import { connectNats } from "../src/nats/connect.js";
import { ConsumerNames, StreamNames } from "../src/nats/names.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { waitFor } from "../test/support/wait.js";
import { startBeamlineProcess } from "../test/support/worker-process.js";
import { LatencyRecorder } from "./stats.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: process.env["BENCH_HEALTH_SECONDS"] ?? "20" },
    concurrency: { type: "string", default: process.env["BENCH_HEALTH_CONCURRENCY"] ?? "128" },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const KEY = "bl_health_lag_bench_key_0123456789abcdef";

const server = await startNatsServer();
const dataDir = await mkdtemp(join(tmpdir(), "bl-health-lag-"));
const common = { NATS_URL: server.url, BEAMLINE_DATA_DIR: dataDir, LOG_LEVEL: "info" };
const front = startBeamlineProcess("gateway,billing,projector", {
  ...common,
  BEAMLINE_HTTP_PORT: "0",
  BEAMLINE_DEV_KEY: KEY,
});
const workers = [1, 2].map((n) =>
  startBeamlineProcess("worker", { ...common, BEAMLINE_INSTANCE_ID: `w${n}` }),
);
const nc = await connectNats({ servers: server.url, name: "bench-health-lag" });
try {
  for (const child of [front, ...workers]) {
    await waitFor(
      () => {
        if (child.hasExited()) throw new Error(`exited during start:\n${child.output().slice(-2_000)}`);
        return child.output().includes("Beamline is running");
      },
      { what: "Beamline to start", timeoutMs: 300_000 },
    );
  }
  const line = front
    .output()
    .split("\n")
    .find((candidate) => candidate.includes("Beamline is running"))!;
  const baseUrl = (JSON.parse(line) as { httpUrl: string }).httpUrl;
  const jsm = await jetstreamManager(nc);

  /** Age in ms of the oldest event under `filter` that `consumer` has not acknowledged; 0 when caught up. */
  async function lagOf(consumer: string, filter: string): Promise<number> {
    const info = await jsm.consumers.info(StreamNames.requests, consumer);
    if (info.num_pending === 0 && info.num_ack_pending === 0) return 0;
    const oldest = await jsm.direct.getMessage(StreamNames.requests, {
      seq: info.ack_floor.stream_seq + 1,
      next_by_subj: filter,
    });
    return oldest ? Math.max(0, Date.now() - oldest.time.getTime()) : 0;
  }

  const ask = async () => {
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "health lag" }] }),
    });
    await response.text();
    return response.status;
  };
  await waitFor(async () => (await ask()) === 200, { what: "the dev key to work", timeoutMs: 30_000 });

  const healthLag = new LatencyRecorder();
  const workerLag = new LatencyRecorder();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const [health, worker] = await Promise.all([
        lagOf(ConsumerNames.healthProjector, slotFilter(`${RequestSlots.attempt}.*`)),
        lagOf(ConsumerNames.worker, slotFilter(RequestSlots.accepted)),
      ]);
      healthLag.recordOk(health);
      workerLag.recordOk(worker);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  let ok = 0;
  let failed = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        if ((await ask()) === 200) ok += 1;
        else failed += 1;
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  const loadEnded = performance.now();
  await waitFor(
    async () => (await lagOf(ConsumerNames.healthProjector, slotFilter(`${RequestSlots.attempt}.*`))) === 0,
    {
      what: "the health projector to catch up",
      timeoutMs: 120_000,
      intervalMs: 50,
    },
  );
  const drainMs = performance.now() - loadEnded;
  sampling = false;
  await sampler;

  const summary = (recorder: LatencyRecorder) => {
    const s = recorder.summarise(elapsedS * 1000);
    return { p50: Math.round(s.p50), p99: Math.round(s.p99), max: Math.round(s.max), samples: s.ok };
  };
  const result = {
    concurrency,
    seconds: Number(elapsedS.toFixed(1)),
    requestsPerSecond: Number((ok / elapsedS).toFixed(0)),
    ok,
    failed,
    healthLagMs: summary(healthLag),
    workerLagMs: summary(workerLag),
    healthDrainAfterLoadMs: Math.round(drainMs),
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  await Promise.all([front, ...workers].map((child) => child.stop()));
  await nc.close();
  await server.stop();
  await rm(dataDir, { recursive: true, force: true });
}
