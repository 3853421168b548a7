/**
 * The soak benchmark: the router with its embedded nats-server (as `npm start` runs it) at a
 * fixed rate of mixed plain and streamed requests for a long time, recording the RSS of both
 * processes every few seconds. See bench/README.md, "Soak".
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import cliProgress from "cli-progress";
import { adminCredsPath, authFromCredsFile } from "../src/access/index.js";
import { runClosedLoop } from "./load.js";
import { type HeapSite, readGoMemory, readHeapSites } from "./nats-memory.js";
import { type Child, cpuTimes, freePort, rssBytes, waitUntil } from "./processes.js";
import { readRouterMemory } from "./router-metrics.js";
import { ensureBuilt, machineNote, reexecPinned } from "./setup.js";
import { freshWindow, isStreamed, type LoadWindow, type MixedTargets, runFixedRate } from "./soak-load.js";
import { parseSoakOptions, type SoakOptions } from "./soak-options.js";
import { memoryTrend, type SoakSample, samplesToCsv, soakGoals } from "./soak-series.js";
import { sseChatTarget } from "./sse-target.js";
import { startMock, startNats, startRouter } from "./stack.js";
import type { RunSummary } from "./stats.js";
import { httpChatTarget } from "./targets.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const options = parseSoakOptions(process.argv.slice(2));
const MB = 2 ** 20;
/** Keep-alive connections per target: enough for the soak rate's calls in flight. */
const CONNECTIONS = 64;

const say = (text: string) => {
  if (!options.json) process.stdout.write(`${text}\n`);
};

/** The router's embedded nats-server: its child process named nats-server. */
function childNamed(parentPid: number, name: string): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const command = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === parentPid && command === name) return Number(entry);
    } catch {
      // The process ended while the table was read.
    }
  }
  return undefined;
}

/** Every call alternates between the two targets as {@link isStreamed} spreads them. */
function mixedCall(targets: MixedTargets): () => Promise<void> {
  let next = 0;
  return () => (isStreamed(next++, targets.streamedShare) ? targets.streamed.call() : targets.plain.call());
}

function windowFigures(window: LoadWindow) {
  const plain = window.plain.summarise(1);
  const streamed = window.streamed.summarise(1);
  return { plain, streamed };
}

async function sample(
  t: number,
  window: LoadWindow,
  inFlight: number,
  pids: { router: number; nats: number | undefined },
  metricsUrl: string,
  nc: NatsConnection,
  natsProfileUrl: string | undefined,
): Promise<SoakSample> {
  const { plain, streamed } = windowFigures(window);
  const memory = await readRouterMemory(metricsUrl);
  const goMemory = natsProfileUrl === undefined ? undefined : await readGoMemory(natsProfileUrl);
  const stream = await jetstreamManager(nc)
    .then((jsm) => jsm.streams.info("BL_REQUESTS"))
    .catch(() => undefined);
  const mb = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / MB);
  return {
    t,
    routerRssMb: mb(rssBytes(pids.router)),
    natsRssMb: mb(pids.nats === undefined ? undefined : rssBytes(pids.nats)),
    routerHeapUsedMb: mb(memory?.heapUsedBytes),
    routerExternalMb: mb(memory?.externalBytes),
    ok: plain.ok + streamed.ok,
    errors: plain.errors + streamed.errors,
    dropped: window.dropped,
    plainP50: plain.p50,
    plainP99: plain.p99,
    streamedP50: streamed.p50,
    streamedP99: streamed.p99,
    inFlight,
    requestMessages: stream?.state.messages,
    requestSubjects: stream?.state.num_subjects,
    ...(goMemory && { natsHeapAllocMb: goMemory.heapAllocMb, natsNextGcMb: goMemory.nextGcMb }),
  };
}

/** A progress bar on a terminal (stderr); a line per sample otherwise, unless `--json`. */
function progressReporter(opts: SoakOptions) {
  const totalSeconds = Math.round(opts.durationMs / 1000);
  const tty = process.stderr.isTTY && !opts.json;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format:
            "soak [{bar}] {value}/{total} s | router {router} MB | nats-server {nats} MB | ok {ok} | errors {errors}",
          fps: 2,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(totalSeconds, 0, { router: "-", nats: "-", ok: 0, errors: 0 });
  let ok = 0;
  let errors = 0;
  return {
    update(s: SoakSample) {
      ok += s.ok;
      errors += s.errors + s.dropped;
      const router = s.routerRssMb?.toFixed(0) ?? "-";
      const nats = s.natsRssMb?.toFixed(0) ?? "-";
      if (bar) bar.update(Math.min(s.t, totalSeconds), { router, nats, ok, errors });
      else
        say(
          `  t=${String(s.t).padStart(4)} s  router ${router} MB (heap ${s.routerHeapUsedMb?.toFixed(0) ?? "-"})` +
            `  nats-server ${nats} MB  ok ${s.ok}  errors ${s.errors + s.dropped}` +
            `  p99 plain ${s.plainP99.toFixed(1)} ms streamed ${s.streamedP99.toFixed(1)} ms` +
            `  BL_REQUESTS ${s.requestMessages ?? "-"} msgs ${s.requestSubjects ?? "-"} subjects`,
        );
    },
    stop() {
      bar?.stop();
    },
  };
}

/** The closed-loop probe's throughput: the maximum the soak rate is a share of. */
async function probeMaximum(call: () => Promise<void>): Promise<RunSummary> {
  await runClosedLoop(call, options.probeConcurrency, 3_000);
  return runClosedLoop(call, options.probeConcurrency, options.probeMs);
}

const latency = (summary: RunSummary) => ({
  ok: summary.ok,
  errors: summary.errors,
  p50: summary.p50,
  p99: summary.p99,
  max: summary.max,
  errorSamples: summary.errorSamples,
});

async function main(): Promise<void> {
  if (await reexecPinned(options)) return;
  ensureBuilt(repoRoot, options);
  const outDir = resolve(repoRoot, options.outDir);
  await mkdir(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const workDir = await mkdtemp(join(tmpdir(), "beamline-soak-"));
  const routerCpu = options.pin ? options.routerCpu : undefined;
  const loadCpu = options.pin ? options.loadCpu : undefined;
  const devKey = `soak-${Date.now().toString(36)}-dev-key`;
  const machine = machineNote(repoRoot);
  say(
    `Beamline soak: ${machine.cores} cores, node ${machine.node}, ` +
      (options.pin
        ? `router + embedded nats-server on core ${options.routerCpu}, load + mock on core ${options.loadCpu}`
        : "unpinned"),
  );
  const started: Child[] = [];
  let nc: NatsConnection | undefined;
  let natsPid: number | undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    const mock = await startMock(repoRoot, loadCpu);
    started.push(mock.child);
    let natsProfileUrl: string | undefined;
    let externalNatsUrl: string | undefined;
    if (options.diagnose) {
      const profilePort = await freePort();
      const nats = await startNats(join(workDir, "nats"), routerCpu, {
        args: ["--profile", String(profilePort)],
        env: options.routerEnv,
      });
      started.push(nats.child);
      natsPid = nats.child.pid;
      externalNatsUrl = nats.url;
      natsProfileUrl = `http://127.0.0.1:${profilePort}`;
    }
    const router = await startRouter(
      {
        repoRoot,
        workDir,
        devKey,
        routerCpu,
        loadCpu,
        profileDir: undefined,
        routerNodeFlags: options.routerNodeFlags,
        routerEnv: options.routerEnv,
      },
      externalNatsUrl,
      mock.url,
    );
    started.push(router.child);
    natsPid ??= await waitUntil(router.child, "the router's embedded nats-server", () =>
      childNamed(router.child.pid, "nats-server"),
    );
    const natsUrl = externalNatsUrl ?? (await readFile(join(workDir, "router", "nats.url"), "utf8")).trim();
    // The embedded server runs with auth: the observer reads stream state as the operator.
    const auth = externalNatsUrl ? {} : await authFromCredsFile(adminCredsPath(join(workDir, "router")));
    nc = await connect({ servers: natsUrl, name: "soak-observer", noAsyncTraces: true, ...auth });
    const natsServerVersion = nc.info?.version ?? "unknown";
    say(
      `nats-server ${natsServerVersion} (${options.diagnose ? "the soak's own child, --diagnose" : "embedded"}, pid ${natsPid}); router ${router.url} (pid ${router.child.pid})`,
    );

    const headers = { authorization: `Bearer ${devKey}` };
    const path = "/v1/chat/completions";
    const targets: MixedTargets = {
      plain: httpChatTarget({ origin: router.url, path, connections: CONNECTIONS, headers }),
      streamed: sseChatTarget({ origin: router.url, path, connections: CONNECTIONS, headers }),
      streamedShare: options.streamedShare,
    };
    closers.push(targets.plain.close, targets.streamed.close);

    let probe: RunSummary | undefined;
    let rate = options.rate;
    if (rate === undefined) {
      probe = await probeMaximum(mixedCall(targets));
      rate = Math.max(1, Math.round(probe.throughput * options.share));
      say(
        `maximum (closed loop, ${options.probeConcurrency} in flight, ${options.probeMs / 1000} s): ` +
          `${probe.throughput.toFixed(0)} req/s, ${probe.errors} errors → soak rate ${rate} req/s (${options.share * 100} %)`,
      );
    }
    say(
      `soak: ${rate} req/s for ${options.durationMs / 60_000} min, ${options.streamedShare * 100} % streamed, ` +
        `RSS every ${options.sampleMs / 1000} s, warm-up ${options.warmupMs / 60_000} min`,
    );

    const pids = { router: router.child.pid, nats: natsPid };
    const samples: SoakSample[] = [];
    const progress = progressReporter(options);
    const taking: Promise<void>[] = [];
    const take = (t: number, window: LoadWindow, inFlight: number) => {
      taking.push(
        sample(t, window, inFlight, pids, router.metricsUrl, nc!, natsProfileUrl).then((s) => {
          samples.push(s);
          progress.update(s);
        }),
      );
    };
    take(0, freshWindow(), 0);
    const cpuBefore = cpuTimes(router.child.pid);
    const natsCpuBefore = natsPid === undefined ? undefined : cpuTimes(natsPid);
    const whole = await runFixedRate({
      targets,
      ratePerSecond: rate,
      durationMs: options.durationMs,
      sampleMs: options.sampleMs,
      onSample: take,
    });
    const cpuAfter = cpuTimes(router.child.pid);
    const natsCpuAfter = natsPid === undefined ? undefined : cpuTimes(natsPid);
    await Promise.all(taking);
    progress.stop();
    samples.sort((a, b) => a.t - b.t);
    const natsHeapSites: HeapSite[] = natsProfileUrl === undefined ? [] : await readHeapSites(natsProfileUrl);

    const warmupSeconds = options.warmupMs / 1000;
    const routerTrend = memoryTrend(samples, "routerRssMb", warmupSeconds);
    const natsTrend = memoryTrend(samples, "natsRssMb", warmupSeconds);
    const heapTrend = memoryTrend(samples, "routerHeapUsedMb", warmupSeconds);
    const natsHeapTrend = memoryTrend(samples, "natsHeapAllocMb", warmupSeconds);
    const goals = soakGoals(routerTrend, natsTrend);
    const plain = whole.plain.summarise(options.durationMs);
    const streamed = whole.streamed.summarise(options.durationMs);
    // CPU per completed request over the fixed-rate run (GC included): what a heap setting
    // (V8's growth rule, Go's GOGC / GOMEMLIMIT) trades against memory.
    const answered = plain.ok + streamed.ok;
    const cpuMsPerRequest = (before: typeof cpuBefore, after: typeof cpuAfter) =>
      before && after && answered > 0
        ? (after.userMs + after.systemMs - before.userMs - before.systemMs) / answered
        : undefined;
    const routerCpuMsPerRequest = cpuMsPerRequest(cpuBefore, cpuAfter);
    const natsCpuMsPerRequest = cpuMsPerRequest(natsCpuBefore, natsCpuAfter);
    const report = {
      date: new Date().toISOString(),
      machine: { ...machine, natsServer: natsServerVersion },
      options,
      rate,
      rateSource: options.rate === undefined ? `${options.share} × measured maximum` : "--rate",
      probe: probe && { throughput: probe.throughput, ...latency(probe) },
      totals: {
        plain: latency(plain),
        streamed: latency(streamed),
        dropped: whole.dropped,
        routerCpuMsPerRequest,
        natsCpuMsPerRequest,
      },
      memory: {
        router: routerTrend,
        natsServer: natsTrend,
        routerHeapUsed: heapTrend,
        natsHeapAlloc: natsHeapTrend,
      },
      natsHeapSites,
      goals,
      samples,
    };
    const base = join(outDir, `soak-${stamp}`);
    await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(`${base}.csv`, samplesToCsv(samples));
    if (options.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    const trendLine = (name: string, trend: typeof routerTrend) =>
      trend
        ? `  ${name.padEnd(20)} after warm-up ${trend.afterWarmupMb.toFixed(1)} MB, end ${trend.endMb.toFixed(1)} MB, ` +
          `peak ${trend.peakMb.toFixed(1)} MB, slope ${trend.slopeMbPerMinute.toFixed(2)} MB/min`
        : `  ${name.padEnd(20)} no samples after warm-up`;
    say("\nMemory after warm-up:");
    say(trendLine("router RSS", routerTrend));
    say(trendLine("router heap used", heapTrend));
    say(trendLine("nats-server RSS", natsTrend));
    if (natsHeapTrend) say(trendLine("nats-server live heap", natsHeapTrend));
    if (natsHeapSites.length > 0) {
      say("nats-server in-use heap by allocation site (sampled), at the end:");
      for (const site of natsHeapSites) say(`  ${site.inuseMb.toFixed(1).padStart(7)} MB  ${site.fn}`);
    }
    const kind = (name: string, s: RunSummary) =>
      `  ${name.padEnd(9)} ${s.ok} ok, ${s.errors} errors, p50 ${s.p50.toFixed(2)} ms, p99 ${s.p99.toFixed(2)} ms, max ${s.max.toFixed(1)} ms` +
      (s.errorSamples.length > 0 ? `\n            first errors: ${s.errorSamples.join(" | ")}` : "");
    say("Requests (latency from the scheduled time):");
    say(kind("plain", plain));
    say(kind("streamed", streamed));
    say(`  dropped   ${whole.dropped} (over 2,048 in flight)`);
    if (routerCpuMsPerRequest !== undefined)
      say(`  router CPU ${routerCpuMsPerRequest.toFixed(2)} ms per request`);
    if (natsCpuMsPerRequest !== undefined)
      say(`  nats-server CPU ${natsCpuMsPerRequest.toFixed(2)} ms per request`);
    say("Goals:");
    for (const g of goals) say(`  ${g.met ? "met   " : "MISSED"}  ${g.what} ${g.limit}: ${g.actual}`);
    say(`\nwrote ${base}.json and ${base}.csv`);
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    for (const child of started.reverse()) await child.stop(30_000);
    // The router stops its embedded nats-server on SIGTERM; make sure nothing outlived it.
    if (natsPid !== undefined && rssBytes(natsPid) !== undefined) process.kill(natsPid, "SIGKILL");
    await rm(workDir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`soak: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
}
