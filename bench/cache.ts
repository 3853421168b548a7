/**
 * The response cache's cost and gain (issue 17): the same chat request sent, side by side in one
 * run, to
 *   a     the mock provider directly;
 *   hit   Beamline, answered from its exact response cache (every call checked to be a hit);
 *   miss  Beamline with the cache on, each call a new prompt (a provider call, then a store).
 * each in two modes: one call in flight (`--sequential` calls), and a closed loop of
 * `--concurrency` calls in flight for `--seconds`. Reports req/s and p50/p90/p99 per target and
 * mode, and the added latency of a hit over the direct call (hit − a).
 *
 * nats-server, the mock and the router run as separate processes (bench/stack.ts); the dev
 * tenant's policy turns the cache on (`ttlSeconds` 3600, billed free).
 *
 *   node --import tsx bench/cache.ts [--sequential 500] [--concurrency 32] [--seconds 8]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { connectNats } from "../src/nats/connect.js";
import { EventSigner, EventStore } from "../src/nats/index.js";
import { publishPolicy } from "../src/policies/index.js";
import { waitFor } from "../test/support/wait.js";
import { startStack, stopStack } from "./stack.js";
import { LatencyRecorder, type RunSummary } from "./stats.js";

const { values } = parseArgs({
  options: {
    sequential: { type: "string", default: "500" },
    concurrency: { type: "string", default: "32" },
    seconds: { type: "string", default: "8" },
  },
});
const sequential = Number(values.sequential);
const concurrency = Number(values.concurrency);
const seconds = Number(values.seconds);
/** Upper bound of calls per closed-loop run, whatever the time allows. */
const MAX_CALLS = 200_000;
const CALL_TIMEOUT_MS = 30_000;
const DEV_KEY = "bl_cache_bench_key_0123456789abcdef";
const SIGNING_KEY = Buffer.from("cache-bench-event-signing-key-0123456789").toString("base64url");
const repoRoot = new URL("..", import.meta.url).pathname;

type Call = (n: number) => Promise<void>;

const workDir = await mkdtemp(join(tmpdir(), "bl-cache-bench-"));
const stack = await startStack({
  repoRoot,
  workDir,
  devKey: DEV_KEY,
  routerCpu: undefined,
  loadCpu: undefined,
  profileDir: undefined,
  routerNodeFlags: [],
  routerEnv: { BEAMLINE_EVENT_SIGNING_KEY: SIGNING_KEY },
});
const nc = await connectNats({ servers: stack.natsUrl, name: "bench-cache" });
const pools: Pool[] = [];

function chatCall(
  origin: string,
  path: string,
  headers: Record<string, string>,
  check: (status: string | undefined) => void,
  body: (n: number) => string,
): Call {
  const pool = new Pool(origin, {
    connections: concurrency,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: CALL_TIMEOUT_MS,
    bodyTimeout: CALL_TIMEOUT_MS,
  });
  pools.push(pool);
  return async (n) => {
    const response = await pool.request({
      method: "POST",
      path,
      headers: { "content-type": "application/json", ...headers },
      body: body(n),
    });
    const text = await response.body.text();
    if (response.statusCode !== 200 || !text.includes('"chat.completion"'))
      throw new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
    check(response.headers["x-beamline-cache"] as string | undefined);
  };
}

const request = (content: string) =>
  JSON.stringify({ model: "mock-small", temperature: 0, messages: [{ role: "user", content }] });
const FIXED = request("Hello from the cache benchmark");
const runId = Date.now().toString(36);
const router = new URL(stack.routerUrl);
const mock = new URL(stack.mockUrl);
const expect = (wanted: string) => (status: string | undefined) => {
  if (status !== wanted) throw new Error(`x-beamline-cache ${status ?? "(none)"}, expected ${wanted}`);
};
const targets: Record<string, Call> = {
  a: chatCall(
    mock.origin,
    `${mock.pathname}/chat/completions`,
    {},
    () => undefined,
    () => FIXED,
  ),
  hit: chatCall(
    router.origin,
    "/v1/chat/completions",
    { authorization: `Bearer ${DEV_KEY}` },
    expect("hit"),
    () => FIXED,
  ),
  miss: chatCall(
    router.origin,
    "/v1/chat/completions",
    { authorization: `Bearer ${DEV_KEY}` },
    expect("miss"),
    (n) => request(`prompt ${runId} ${n}`),
  ),
};

async function oneInFlight(call: Call, offset: number): Promise<RunSummary> {
  const recorder = new LatencyRecorder();
  const started = performance.now();
  for (let i = 0; i < sequential; i++) {
    const t = performance.now();
    try {
      await call(offset + i);
      recorder.recordOk(performance.now() - t);
    } catch (error) {
      recorder.recordError(error);
    }
  }
  return recorder.summarise(performance.now() - started);
}

async function closedLoop(call: Call, offset: number): Promise<RunSummary> {
  const recorder = new LatencyRecorder();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let next = 0;
  const lane = async () => {
    while (performance.now() < deadline && next < MAX_CALLS) {
      const n = offset + next++;
      const t = performance.now();
      try {
        await call(n);
        recorder.recordOk(performance.now() - t);
      } catch (error) {
        recorder.recordError(error);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return recorder.summarise(performance.now() - started);
}

const results: Array<{ mode: string; target: string } & RunSummary> = [];
try {
  await publishPolicy(
    new EventStore(nc, {
      signer: new EventSigner({
        key: Buffer.from(SIGNING_KEY, "base64url"),
        since: undefined,
        source: "bench",
      }),
    }),
    "dev",
    { cache: { mode: "exact", ttlSeconds: 3600 } },
    new Date(),
  );
  // The policy reaches the worker through its projection; the first call then stores the entry.
  const probe = chatCall(
    router.origin,
    "/v1/chat/completions",
    { authorization: `Bearer ${DEV_KEY}` },
    () => undefined,
    () => FIXED,
  );
  await waitFor(
    async () => {
      const response = await fetch(`${stack.routerUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${DEV_KEY}` },
        body: FIXED,
      });
      await response.text();
      return response.headers.get("x-beamline-cache") === "hit";
    },
    {
      what: "the cache policy to apply and the fixed request to be stored",
      timeoutMs: 60_000,
      intervalMs: 200,
    },
  );
  // Warm-up: connections, JIT, the tenant's data key in cache.
  for (let i = 0; i < 50; i++) {
    await probe(i);
    await targets["a"]!(i);
    await targets["miss"]!(1_000_000 + i);
  }
  let offset = 0;
  for (const [mode, run] of [
    ["one in flight", oneInFlight],
    [`closed loop, ${concurrency} in flight`, closedLoop],
  ] as const) {
    for (const target of ["a", "hit", "miss"]) {
      offset += MAX_CALLS;
      const summary = await run(targets[target]!, offset);
      results.push({ mode, target, ...summary });
      console.error(`${mode} ${target}: ${summary.ok} ok, ${summary.errors} errors`);
    }
  }
} finally {
  await Promise.all(pools.map((pool) => pool.close()));
  await nc.close();
  await stopStack(stack);
  await rm(workDir, { recursive: true, force: true });
}

const f = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "—");
console.log("| mode | target | ok | errors | req/s | p50 ms | p90 ms | p99 ms |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const r of results) {
  console.log(
    `| ${r.mode} | ${r.target} | ${r.ok} | ${r.errors} | ${r.throughput.toFixed(1)} | ${f(r.p50)} | ${f(r.p90)} | ${f(r.p99)} |`,
  );
}
for (const mode of new Set(results.map((r) => r.mode))) {
  const of = (target: string) => results.find((r) => r.mode === mode && r.target === target)!;
  const [a, hit, miss] = [of("a"), of("hit"), of("miss")];
  console.log(
    `${mode}: hit − a  p50 ${f(hit.p50 - a.p50)} ms, p99 ${f(hit.p99 - a.p99)} ms; miss − hit p50 ${f(miss.p50 - hit.p50)} ms`,
  );
  for (const r of [a, hit, miss])
    if (r.errorSamples.length) console.log(`  ${r.target} errors: ${r.errorSamples.join(" | ")}`);
}
