/**
 * Hedged requests against a provider with a slow tail, hedging on and off side by side:
 *
 *   node --import tsx bench/hedge.ts [--requests 400] [--concurrency 8] [--after-ms 250]
 *
 * The mock gives 5 % of calls (seeded draw) a 2 s delay before their headers. One Beamline
 * (all roles, in this process, its own nats-server) serves two tenants with the same alias
 * (`mock-small`, then `mock-large`); tenant `on` hedges after `--after-ms`, tenant `off` does
 * not. Requests alternate between the tenants on every client loop, so both see the same
 * machine and the same mock. Reported per tenant: p50/p99 end to end (OpenAI SDK, plain
 * calls), the hedges started and their extra cost (the losers' usage, settled on the quota
 * log) against the cost billed for the answers. Bounded by the request count and 10 minutes.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import OpenAI from "openai";
import { readUsageRecords } from "../replay/index.js";
import { QuotaLog } from "../src/admission/index.js";
import { isEvent } from "../src/events/index.js";
import { ConsumerNames, StreamNames } from "../src/nats/names.js";
import { publishPolicy } from "../src/policies/index.js";
import { startMockProvider } from "../src/providers/index.js";
import { openTenancyAdmin } from "../src/tenancy/index.js";
import { startTestBeamline, waitForConsumerCaughtUp } from "../test/support/beamline.js";
import { signedStore } from "../test/support/signing.js";
import { machineNote } from "./setup.js";
import { LatencyRecorder } from "./stats.js";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "400" },
    concurrency: { type: "string", default: "8" },
    "after-ms": { type: "string", default: "250" },
  },
});
const requestsPerTenant = Math.min(5_000, Math.max(20, Number(values.requests)));
const concurrency = Math.min(64, Math.max(1, Number(values.concurrency)));
const afterMs = Math.max(1, Number(values["after-ms"]));
const TIME_LIMIT_MS = 10 * 60_000;
const SLOW_RATE = 0.05;
const SLOW_DELAY_MS = 2_000;
/** Caps far above what the run reaches: every hedge is reserved and settled on the quota log, as in production. */
const CAPS = { maxHedgesPerMinute: 100_000, maxExtraCostUsdPerDay: 100 };

const mock = await startMockProvider({ slowRate: SLOW_RATE, slowDelayMs: SLOW_DELAY_MS, seed: 17 });
const dir = await mkdtemp(join(tmpdir(), "beamline-bench-hedge-"));
const shipped = await readFile(new URL("../config/catalog.json", import.meta.url), "utf8");
await writeFile(join(dir, "catalog.json"), shipped);
const beamline = await startTestBeamline({
  catalogFile: join(dir, "catalog.json"),
  mock: { url: mock.url },
  logLevel: "warn",
});

try {
  const store = signedStore(beamline.nc);
  const admin = await openTenancyAdmin(store);
  const routing = { aliases: { tail: { models: ["mock-small", "mock-large"] } } };
  const clients: Record<"on" | "off", OpenAI> = {} as Record<"on" | "off", OpenAI>;
  for (const tenant of ["on", "off"] as const) {
    await admin.createTenant({ id: tenant, name: tenant });
    await publishPolicy(
      store,
      tenant,
      tenant === "on" ? { routing, hedge: { afterMs, ...CAPS } } : { routing },
      new Date(),
    );
    const key = (await admin.issueKey(tenant, { label: "bench" })).key;
    clients[tenant] = new OpenAI({ apiKey: key, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
  }
  const recorders = { on: new LatencyRecorder(), off: new LatencyRecorder() };
  const messages = [{ role: "user" as const, content: "Where is my parcel? Order 1234, shipped Monday." }];
  // Warm-up: connections, catalog and policy views, JIT; not measured.
  for (let i = 0; i < 20; i++) {
    for (const tenant of ["on", "off"] as const)
      await clients[tenant].chat.completions.create({ model: "tail", messages });
  }

  const started = Date.now();
  let next = 0;
  const total = requestsPerTenant * 2;
  async function loop(): Promise<void> {
    while (next < total && Date.now() - started < TIME_LIMIT_MS) {
      const tenant = next++ % 2 === 0 ? "on" : "off";
      const t0 = performance.now();
      try {
        await clients[tenant].chat.completions.create({ model: "tail", messages });
        recorders[tenant].recordOk(performance.now() - t0);
      } catch (error) {
        recorders[tenant].recordError(error);
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsedMs = Date.now() - started;

  await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing, 60_000);
  const billed: Record<string, number> = { on: 0, off: 0 };
  for await (const { event } of readUsageRecords(beamline.nc)) {
    if (event.tenant in billed) billed[event.tenant]! += event.data.costNanoUsd;
  }
  let hedges = 0;
  let extraNanoUsd = 0;
  let estimated = 0;
  for await (const { event } of new QuotaLog(beamline.nc).readAfter("on", 0)) {
    if (isEvent(event, "hedge.reserved")) hedges++;
    if (isEvent(event, "hedge.settled")) {
      extraNanoUsd += event.data.costNanoUsd;
      if (event.data.estimated) estimated++;
    }
  }
  const row = (tenant: "on" | "off") => {
    const s = recorders[tenant].summarise(elapsedMs);
    return {
      ok: s.ok,
      errors: s.errors,
      p50Ms: s.p50,
      p90Ms: s.p90,
      p99Ms: s.p99,
      maxMs: s.max,
      billedUsd: billed[tenant]! / 1e9,
    };
  };
  console.log(
    JSON.stringify(
      {
        machine: machineNote(new URL("..", import.meta.url).pathname),
        settings: {
          requestsPerTenant,
          concurrency,
          afterMs,
          slowRate: SLOW_RATE,
          slowDelayMs: SLOW_DELAY_MS,
        },
        elapsedMs,
        hedgingOff: row("off"),
        hedgingOn: {
          ...row("on"),
          hedges,
          hedgedShare: hedges / Math.max(1, recorders.on.ok),
          extraUsd: extraNanoUsd / 1e9,
          extraShareOfBilled: extraNanoUsd / Math.max(1, billed["on"]!),
          losersEstimated: estimated,
        },
      },
      null,
      2,
    ),
  );
} finally {
  await beamline.stop();
  await mock.close();
  await rm(dir, { recursive: true, force: true });
}
