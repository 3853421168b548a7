/**
 * Where the tail of one-in-flight latency comes from: sequential chat completions through
 * the router (router and nats-server on core 0, mock and this script on core 1, as
 * `npm run bench` pins them), each call's start time and latency recorded, then the slow ones
 * (above p95) examined for a period: their start phase within 100 ms, 500 ms and 1 s (a
 * periodic task in the router shows as a phase that slow calls share), and gaps between them.
 * With `--profile` the router runs under `--cpu-prof`, and its samples taken during the slow
 * calls are set beside those taken during the typical ones (at or under p50): what the router
 * was doing while a call was slow.
 *
 *   taskset -c 1 node --import tsx bench/tail-latency.ts [--requests 3000] [--warmup 5000]
 *     [--profile] [--json] [--router-node-flags "<node and V8 flags for the router>"]
 *     [--router-env NAME=value]…
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { envPairs } from "./options.js";
import { type ClockWindow, formatProfile, readLatestProfile, summariseProfile } from "./profile.js";
import { startMock, startNats, startRouter } from "./stack.js";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "3000" },
    /** Calls before the measured ones: the router's code is optimised by V8 only after a few thousand. */
    warmup: { type: "string", default: "5000" },
    profile: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    /** Node/V8 flags for the router process, space-separated (e.g. "--single-threaded-gc"). */
    "router-node-flags": { type: "string", default: "" },
    /** Extra environment of the router, NAME=value, repeatable (e.g. operator settings). */
    "router-env": { type: "string", multiple: true },
  },
});
const requests = Number(values.requests);
if (!Number.isInteger(requests) || requests < 100 || requests > 100_000) {
  throw new Error("--requests must be a whole number from 100 to 100000");
}

const warmup = Number(values.warmup);
if (!Number.isInteger(warmup) || warmup < 0 || warmup > 100_000) {
  throw new Error("--warmup must be a whole number from 0 to 100000");
}

const workDir = await mkdtemp(join(tmpdir(), "beamline-tail-"));
const repoRoot = process.cwd();
const devKey = `tail-${Date.now().toString(36)}-dev-key`;
const profileDir = values.profile ? join(workDir, "profile") : undefined;
const place = { repoRoot, workDir, devKey, routerCpu: 0, loadCpu: 1, profileDir };
const nats = await startNats(join(workDir, "nats"), 0);
const mock = await startMock(repoRoot, 1);
const routerNodeFlags = values["router-node-flags"].split(" ").filter((flag) => flag !== "");
const routerEnv = envPairs(values["router-env"]);
const router = await startRouter({ ...place, routerNodeFlags, routerEnv }, nats.url, mock.url);
const pool = new Pool(router.url, { connections: 1, pipelining: 1, keepAliveTimeout: 60_000 });
const body = JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "Hello" }] });

async function call(): Promise<void> {
  const response = await pool.request({
    method: "POST",
    path: "/v1/chat/completions",
    headers: { authorization: `Bearer ${devKey}`, "content-type": "application/json" },
    body,
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`the router answered ${response.statusCode}: ${text}`);
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

try {
  for (let i = 0; i < warmup; i++) await call();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const calls: Array<{ at: number; ms: number; monoUs: number }> = [];
  const origin = performance.now();
  for (let i = 0; i < requests; i++) {
    const at = performance.now();
    const monoUs = Number(process.hrtime.bigint() / 1000n);
    await call();
    calls.push({ at: at - origin, ms: performance.now() - at, monoUs });
  }
  const sorted = calls.map((c) => c.ms).sort((a, b) => a - b);
  const p50 = quantile(sorted, 0.5);
  const p95 = quantile(sorted, 0.95);
  const p99 = quantile(sorted, 0.99);
  const slow = calls.filter((c) => c.ms > p95);
  /** How unevenly slow calls' start phases fall into 10 bins of `periodMs` (1 = even). */
  const phaseSkew = (periodMs: number) => {
    const bins = new Array<number>(10).fill(0);
    for (const c of slow) bins[Math.floor(((c.at % periodMs) / periodMs) * 10)]! += 1;
    return { periodMs, bins, maxOverMean: Math.max(...bins) / (slow.length / 10) };
  };
  const gaps = slow
    .slice(1)
    .map((c, i) => c.at - slow[i]!.at)
    .sort((a, b) => a - b);
  const result = {
    requests,
    p50,
    p90: quantile(sorted, 0.9),
    p95,
    p99,
    max: sorted[sorted.length - 1],
    slowCalls: slow.length,
    /** Share of all latency above p50 that the slow calls hold. */
    slowShareOfExcess:
      slow.reduce((s, c) => s + (c.ms - p50), 0) / calls.reduce((s, c) => s + Math.max(0, c.ms - p50), 0),
    phases: [100, 250, 500, 1_000, 2_000].map(phaseSkew),
    gapBetweenSlowMs: { p10: quantile(gaps, 0.1), p50: quantile(gaps, 0.5), p90: quantile(gaps, 0.9) },
  };
  process.stdout.write(`${JSON.stringify(values.json ? { ...result, calls } : result, null, 2)}\n`);
  if (profileDir) {
    await router.child.stop(); // the profile is written when the router exits
    const latest = await readLatestProfile(profileDir);
    if (!latest) throw new Error(`the router wrote no CPU profile into ${profileDir}`);
    const windowsOf = (selected: typeof calls): ClockWindow[] =>
      selected.map((c) => ({ fromUs: c.monoUs, toUs: c.monoUs + c.ms * 1000 }));
    const views: Array<[string, typeof calls]> = [
      [`the ${slow.length} calls above p95`, slow],
      ["the calls at or under p50", calls.filter((c) => c.ms <= p50)],
    ];
    for (const [what, selected] of views) {
      const summary = summariseProfile(latest.profile, latest.path, 15, windowsOf(selected));
      const wallMs = selected.reduce((sum, c) => sum + c.ms, 0);
      process.stdout.write(
        `\nDuring ${what} (${wallMs.toFixed(0)} ms of wall time):\n` + `${formatProfile(summary, 15)}\n`,
      );
    }
  }
} finally {
  await pool.close();
  for (const child of [router.child, mock.child, nats.child]) await child.stop();
  await rm(workDir, { recursive: true, force: true });
}
