/**
 * Admission cost: quota admission latency under load on one tenant (the worst case: every
 * admission contends on the tenant's quota log), side by side with a raw KV baseline — a get
 * plus a revision-checked update of one key, retried on conflict, the least any
 * "state in KV with revision checks" design pays — in the same run, same server, same load shape.
 *
 *   node --import tsx bench/quota-admission.ts [--count 400] [--seconds 20] [--connections 4] [--in-flight 16]
 *
 * Bounded by count and by time, whichever comes first. Each admitted request is settled right
 * after (settlement latency is reported too), so reservations do not pile up.
 */
import { parseArgs } from "node:util";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { QuotaLedger } from "../src/admission/index.js";
import { makeEvent } from "../src/events/index.js";
import { systemClock } from "../src/execution/index.js";
import { quotaLimitsSchema } from "../src/quotas/index.js";
import { applyTopology, beamlineTopology } from "../streams/index.js";
import { startNatsServer } from "../test/support/nats-server.js";
import { pricedCatalog } from "../test/support/test-catalog.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../test/support/topology.js";
import { LatencyRecorder, type RunSummary } from "./stats.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "400" },
    seconds: { type: "string", default: "20" },
    connections: { type: "string", default: "4" },
    "in-flight": { type: "string", default: "16" },
  },
});
const COUNT = Number(values.count);
const DEADLINE_MS = Number(values.seconds) * 1000;
const CONNECTIONS = Number(values.connections);
const IN_FLIGHT = Number(values["in-flight"]);

const catalog = pricedCatalog("bench-1");
const model = catalog.resolve("priced")!;
/** Limits set but wide: every admission checks them and reserves, none is refused. */
const limits = {
  tenant: quotaLimitsSchema.parse({
    requestsPerMinute: 1_000_000,
    tokensPerMinute: 1_000_000_000,
    concurrentRequests: 100_000,
    spendPerDayUsd: 1_000_000,
    spendPerMonthUsd: 1_000_000,
  }),
};

/** Runs `task(i)` for i < COUNT with IN_FLIGHT workers, until the count or the deadline. */
async function drive(task: (i: number) => Promise<void>): Promise<RunSummary> {
  const recorder = new LatencyRecorder();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < COUNT && performance.now() - started < DEADLINE_MS) {
        const i = next++;
        const t0 = performance.now();
        try {
          await task(i);
          recorder.recordOk(performance.now() - t0);
        } catch (error) {
          recorder.recordError(error);
        }
      }
    }),
  );
  return recorder.summarise(performance.now() - started);
}

async function main() {
  const server = await startNatsServer();
  const connections: NatsConnection[] = [];
  try {
    const admin = await connect({ servers: server.url });
    connections.push(admin);
    await applyTopology(admin, beamlineTopology(SHORT_LIVED_TOPOLOGY_SETTINGS));
    for (let i = 0; i < CONNECTIONS; i++) connections.push(await connect({ servers: server.url }));
    const workers = connections.slice(1);

    // Baseline: get + update(revision) of one KV key, retried on conflict, from every connection.
    const kvs = await Promise.all(workers.map((nc) => new Kvm(nc).create("bench_raw", { history: 1 })));
    await kvs[0]!.put("tenant", new TextEncoder().encode("0"));
    const raw = await drive(async (i) => {
      const kv = kvs[i % kvs.length]!;
      for (;;) {
        const entry = await kv.get("tenant");
        try {
          await kv.update("tenant", new TextEncoder().encode(String(i)), entry!.revision);
          return;
        } catch (error) {
          if (!/wrong last sequence/i.test((error as Error).message)) throw error;
        }
      }
    });

    // Quota admission (and settlement) on one tenant from every connection.
    const ledgers = workers.map(
      (nc) => new QuotaLedger({ nc, clock: systemClock, reservationTtlMs: 900_000 }),
    );
    const settle = new LatencyRecorder();
    const admit = await drive(async (i) => {
      const requestId = `req_${i}`;
      const context = { tenant: "bench", requestId, correlationId: requestId };
      const ledger = ledgers[i % ledgers.length]!;
      const result = await ledger.admit({
        cause: makeEvent(
          "request.accepted",
          `${requestId}:accepted`,
          context,
          {
            request: { model: "priced", messages: [{ role: "user", content: "hi" }] },
            frontDoor: "nats",
            stream: false,
          },
          new Date(),
        ),
        limits,
        promptTokens: 100,
        maxTokens: 100,
        candidate: { provider: "mock", model },
        catalogVersion: catalog.version,
      });
      if (!result.admitted) throw result.error;
      // Settlement is billing's work, off the request's path: timed apart, not in the admission figure.
      void (async () => {
        const t0 = performance.now();
        await ledger.settle(
          makeEvent(
            "request.completed",
            `${requestId}:terminal`,
            context,
            {
              provider: "mock",
              model: "priced",
              attempts: 1,
              usage: { promptTokens: 100, completionTokens: 50, cachedTokens: 0 },
              completion: {
                id: requestId,
                object: "chat.completion",
                created: 0,
                model: "priced",
                choices: [],
              },
            },
            new Date(),
          ),
          catalog,
        );
        settle.recordOk(performance.now() - t0);
      })().catch((error) => settle.recordError(error));
    });
    // Let the last settlements finish.
    while (settle.ok + settle.errors < admit.ok) await new Promise((resolve) => setTimeout(resolve, 20));
    const settled = settle.summarise(admit.elapsedMs);

    const row = (name: string, s: RunSummary) =>
      `| ${name} | ${s.ok} | ${s.errors} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.max.toFixed(2)} | ${s.throughput.toFixed(0)} |`;
    console.log(
      `${CONNECTIONS} connections × ${IN_FLIGHT / CONNECTIONS} in flight each (${IN_FLIGHT} total), one tenant / one key`,
    );
    console.log("| operation | ok | errors | p50 ms | p99 ms | max ms | ops/s |");
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    console.log(row("raw KV get + update(revision), retried on conflict", raw));
    console.log(row("quota admit (reserve)", admit));
    console.log(row("quota settle (concurrent with the admissions)", settled));
    console.log(
      `ratio admit / raw KV: p50 ${(admit.p50 / raw.p50).toFixed(2)}×, p99 ${(admit.p99 / raw.p99).toFixed(2)}×, ` +
        `throughput ${(admit.throughput / raw.throughput).toFixed(2)}×`,
    );
    for (const s of [raw, admit, settled]) if (s.errorSamples.length) console.log("errors:", s.errorSamples);
  } finally {
    await Promise.all(connections.map((nc) => nc.close()));
    await server.stop();
  }
}

await main();
