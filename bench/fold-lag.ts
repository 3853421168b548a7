/**
 * Lag of the ordered folds at maximum throughput (issue 13, item 8): the provider-health and
 * spend projectors each fold in stream order, pinned to one instance, so neither may be a
 * single-consumer ceiling. This measures whether either falls behind when two workers run as
 * fast as they can.
 *
 * Runs a nats-server, one `gateway,billing,projector` process and two `worker` processes,
 * then a closed loop of `--concurrency` HTTP requests for `--seconds`. Every 100 ms it samples
 * each fold's consumer: its lag is the age of the oldest event it has not yet acknowledged (0
 * when it is caught up). Reports lag p50/p99/max, requests per second, and how long each fold
 * took to drain once the load stopped; the worker consumer's lag is sampled the same way for
 * comparison.
 *
 *   node --import tsx bench/fold-lag.ts [--seconds 20] [--concurrency 128]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { RequestSlots, SubjectRoots, slotFilter } from "../src/events/index.js";
import { connectNats } from "../src/nats/connect.js";
import { ConsumerNames, StreamNames } from "../src/nats/names.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { waitFor } from "../test/support/wait.js";
import { startBeamlineProcess } from "../test/support/worker-process.js";
import { LatencyRecorder } from "./stats.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: process.env["BENCH_FOLD_SECONDS"] ?? "20" },
    concurrency: { type: "string", default: process.env["BENCH_FOLD_CONCURRENCY"] ?? "128" },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const KEY = "bl_health_lag_bench_key_0123456789abcdef";

const server = await startNatsServer();
const dataDir = await mkdtemp(join(tmpdir(), "bl-fold-lag-"));
const common = { NATS_URL: server.url, BEAMLINE_DATA_DIR: dataDir, LOG_LEVEL: "info" };
const front = startBeamlineProcess("gateway,billing,projector", {
  ...common,
  BEAMLINE_HTTP_PORT: "0",
  BEAMLINE_DEV_KEY: KEY,
});
const workers = [1, 2].map((n) =>
  startBeamlineProcess("worker", { ...common, BEAMLINE_INSTANCE_ID: `w${n}` }),
);
const nc = await connectNats({ servers: server.url, name: "bench-fold-lag" });
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

  /** A consumer whose lag is sampled: its stream and the subjects it folds. */
  interface Watched {
    stream: string;
    consumer: string;
    filter: string;
  }
  const watched = {
    health: {
      stream: StreamNames.requests,
      consumer: ConsumerNames.healthProjector,
      filter: slotFilter(`${RequestSlots.attempt}.*`),
    },
    spend: {
      stream: StreamNames.usage,
      consumer: ConsumerNames.spendProjector,
      filter: `${SubjectRoots.usage}.>`,
    },
    worker: {
      stream: StreamNames.requests,
      consumer: ConsumerNames.worker,
      filter: slotFilter(RequestSlots.accepted),
    },
  } satisfies Record<string, Watched>;

  /** Age in ms of the oldest event under the filter the consumer has not acknowledged; 0 when caught up. */
  async function lagOf({ stream, consumer, filter }: Watched): Promise<number> {
    const info = await jsm.consumers.info(stream, consumer);
    if (info.num_pending === 0 && info.num_ack_pending === 0) return 0;
    const oldest = await jsm.direct.getMessage(stream, {
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

  const lags = { health: new LatencyRecorder(), spend: new LatencyRecorder(), worker: new LatencyRecorder() };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const [health, spend, worker] = await Promise.all([
        lagOf(watched.health),
        lagOf(watched.spend),
        lagOf(watched.worker),
      ]);
      lags.health.recordOk(health);
      lags.spend.recordOk(spend);
      lags.worker.recordOk(worker);
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
  const drained = async (fold: Watched, what: string) => {
    await waitFor(async () => (await lagOf(fold)) === 0, { what, timeoutMs: 120_000, intervalMs: 50 });
    return Math.round(performance.now() - loadEnded);
  };
  const [healthDrainMs, spendDrainMs] = await Promise.all([
    drained(watched.health, "the health projector to catch up"),
    drained(watched.spend, "the spend projector to catch up"),
  ]);
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
    healthLagMs: summary(lags.health),
    spendLagMs: summary(lags.spend),
    workerLagMs: summary(lags.worker),
    healthDrainAfterLoadMs: healthDrainMs,
    spendDrainAfterLoadMs: spendDrainMs,
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  await Promise.all([front, ...workers].map((child) => child.stop()));
  await nc.close();
  await server.stop();
  await rm(dataDir, { recursive: true, force: true });
}
