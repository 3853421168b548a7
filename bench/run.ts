/**
 * Beamline's latency and throughput benchmark: the mock provider called directly (a), the
 * same calls through Beamline (b), and raw JetStream on the router's own nats-server (c), side
 * by side in one run. See bench/README.md.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { type Call, runClosedLoop, runOpenLoop, runSequential } from "./load.js";
import { type BenchOptions, parseBenchOptions } from "./options.js";
import { allowedCpus, type Child, pinned, ResourceSampler, startChild, waitUntil } from "./processes.js";
import { formatProfile, type ProfileSummary, summariseLatestProfile } from "./profile.js";
import {
  compare,
  formatScenario,
  type Goal,
  goal,
  type PersistenceCheck,
  type Resources,
  type ScenarioResult,
  type TargetKey,
  TargetLabels,
  TargetNames,
  type TargetRun,
} from "./report.js";
import { gcDelta, readNatsTraffic, readRouterMemory, trafficPerCall } from "./router-metrics.js";
import { startStack } from "./stack.js";
import type { RunSummary } from "./stats.js";
import {
  createBenchStream,
  httpChatTarget,
  jetStreamChainTarget,
  jetStreamPublishTarget,
  type Target,
} from "./targets.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const options = parseBenchOptions(process.argv.slice(2), process.env);

/** What the router is held to: latency overhead, sustained throughput, memory. */
const GOALS = {
  overheadP50Ms: 1,
  overheadP99Ms: 5,
  throughput: 1900,
  rssBytes: 200 * 1024 * 1024,
} as const;

const STAGE_CONSUMERS = ["route", "execute", "finish", "billing"] as const;
/** Events a successful non-streamed request stores on BL_REQUESTS: accepted, decided, attempt, terminal. */
const EVENTS_PER_REQUEST = 4;

const say = (text: string) => process.stdout.write(`${text}\n`);

/**
 * Runs this very script again under `taskset -c <loadCpu>` unless it already runs on that
 * core alone, so the load generator never competes with the router for its core.
 */
async function reexecPinned(opts: BenchOptions): Promise<boolean> {
  if (!opts.pin) return false;
  const want = String(opts.loadCpu);
  if (allowedCpus() === want) return false;
  const haveTaskset = spawnSync("taskset", ["--version"], { stdio: "ignore" }).status === 0;
  if (!haveTaskset || cpus().length < 2 || Math.max(opts.loadCpu, opts.routerCpu) >= cpus().length) {
    say(
      `warning: cannot pin (taskset ${haveTaskset ? "found" : "missing"}, ${cpus().length} cores); running unpinned`,
    );
    opts.pin = false;
    return false;
  }
  if (process.env["BENCH_PINNED"] === "1")
    throw new Error(`re-executed under taskset but runs on cores ${allowedCpus()}`);
  const child = spawn(
    "taskset",
    ["-c", want, process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    {
      stdio: "inherit",
      env: { ...process.env, BENCH_PINNED: "1" },
    },
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  const code = await new Promise<number>((done) => child.once("close", (c) => done(c ?? 1)));
  process.exitCode = code;
  return true;
}

/** Newest modification time (ms) of the TypeScript sources `npm run build` compiles. */
function newestSourceMs(): number {
  let newest = 0;
  for (const folder of ["src", "streams", "projections", "replay"]) {
    const dir = join(repoRoot, folder);
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
      if (file.endsWith(".ts")) newest = Math.max(newest, statSync(join(dir, file)).mtimeMs);
    }
  }
  return newest;
}

/** `bin/beamline.js` runs `dist/`: build it when missing, older than the sources, or asked to. */
function ensureBuilt(opts: BenchOptions): void {
  const entry = join(repoRoot, "dist/src/cli/main.js");
  const reason = opts.build
    ? "--build"
    : !existsSync(entry)
      ? "dist/ is missing"
      : statSync(entry).mtimeMs < newestSourceMs()
        ? "dist/ is older than the sources"
        : undefined;
  if (!reason) return;
  say(`building dist/ (${reason}): npm run build`);
  const result = spawnSync("npm", ["run", "build"], { cwd: repoRoot, stdio: "inherit" });
  if (result.status !== 0) throw new Error("npm run build failed");
}

function machineNote() {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
  const git = (args: string[]) => spawnSync("git", args, { cwd: repoRoot, encoding: "utf8" }).stdout.trim();
  return {
    cpuModel: model ?? "unknown",
    cores: cpus().length,
    node: process.version,
    commit: git(["rev-parse", "--short", "HEAD"]),
    dirtyFiles: git(["status", "--porcelain"]).split("\n").filter(Boolean).length,
  };
}

interface ScenarioSpec {
  id: number;
  title: string;
  params: Record<string, number>;
  /** Keep-alive connections per HTTP target. */
  connections: number;
  warmConcurrency: number;
  run(call: Call): Promise<RunSummary>;
}

function scenarioSpecs(opts: BenchOptions): ScenarioSpec[] {
  const all: ScenarioSpec[] = [
    {
      id: 1,
      title: `one request in flight (${opts.sequentialRequests} sequential calls)`,
      params: { requests: opts.sequentialRequests },
      connections: 1,
      warmConcurrency: 1,
      run: (call) => runSequential(call, opts.sequentialRequests),
    },
    {
      id: 2,
      title: `open loop at ${opts.openRatePerSecond} req/s for ${opts.openDurationMs / 1000} s (latency from the scheduled time)`,
      params: { ratePerSecond: opts.openRatePerSecond, durationMs: opts.openDurationMs },
      connections: 64,
      warmConcurrency: 4,
      run: (call) => runOpenLoop(call, opts.openRatePerSecond, opts.openDurationMs),
    },
    {
      id: 3,
      title: `closed loop, ${opts.concurrency} in flight for ${opts.closedDurationMs / 1000} s (max sustained throughput)`,
      params: { concurrency: opts.concurrency, durationMs: opts.closedDurationMs },
      connections: opts.concurrency,
      warmConcurrency: opts.concurrency,
      run: (call) => runClosedLoop(call, opts.concurrency, opts.closedDurationMs),
    },
  ];
  return all.filter((spec) => opts.scenarios.includes(spec.id));
}

async function main(): Promise<void> {
  if (await reexecPinned(options)) return;
  ensureBuilt(options);
  const outDir = resolve(repoRoot, options.outDir);
  await mkdir(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const profileDir = options.profile ? join(outDir, `profile-${stamp}`) : undefined;
  const workDir = await mkdtemp(join(tmpdir(), "beamline-bench-"));
  const routerCpu = options.pin ? options.routerCpu : undefined;
  const loadCpu = options.pin ? options.loadCpu : undefined;
  const devKey = `bench-${Date.now().toString(36)}-dev-key`;
  const machine = machineNote();

  say(
    `Beamline benchmark${options.quick ? " (quick)" : ""}: ${machine.cores} cores, node ${machine.node}, ` +
      (options.pin
        ? `router + nats-server on core ${options.routerCpu}, load + mock on core ${options.loadCpu}`
        : "unpinned"),
  );
  const stack = await startStack({
    repoRoot,
    workDir,
    devKey,
    routerCpu,
    loadCpu,
    profileDir,
    routerNodeFlags: options.routerNodeFlags,
  });
  const nc = await connect({ servers: stack.natsUrl, name: "bench-load", noAsyncTraces: true });
  const natsServerVersion = nc.info?.version ?? "unknown";
  let chainWorker: Child | undefined;
  const scenarios: ScenarioResult[] = [];
  let profile: ProfileSummary | undefined;
  const whole = new ResourceSampler({ router: stack.router.pid });
  whole.start(100);
  let overall: Goal[] = [];
  let idle: Resources | undefined;
  let routerOutput: string[] = [];
  try {
    await createBenchStream(nc);
    chainWorker = await startChainWorker(stack.natsUrl, routerCpu);
    const jsm = await jetstreamManager(nc);
    const sampler = new ResourceSampler({
      router: stack.router.pid,
      "nats-server": stack.nats.pid,
      mock: stack.mock.pid,
      "chain worker": chainWorker.pid,
      load: process.pid,
    });
    const mockUrl = new URL(stack.mockUrl);
    say(`nats-server ${natsServerVersion}; mock ${stack.mockUrl}; router ${stack.routerUrl}`);
    // What the processes cost doing nothing: the floor under every per-call CPU figure.
    sampler.start(100);
    await sleep(options.quick ? 500 : 2_000);
    idle = sampler.stop();
    say(
      `idle: ${Object.entries(idle)
        .map(
          ([name, usage]) =>
            `${name} ${(usage.coreShare * 100).toFixed(1)}% CPU, ${(usage.peakRssBytes / 2 ** 20).toFixed(0)} MB`,
        )
        .join("; ")}\n`,
    );

    for (const spec of scenarioSpecs(options)) {
      const result: ScenarioResult = {
        id: spec.id,
        title: spec.title,
        params: spec.params,
        runs: {},
        goals: [],
      };
      const makers: Record<TargetKey, () => Target> = {
        direct: () =>
          httpChatTarget({
            origin: mockUrl.origin,
            path: `${mockUrl.pathname}/chat/completions`,
            connections: spec.connections,
          }),
        router: () =>
          httpChatTarget({
            origin: stack.routerUrl,
            path: "/v1/chat/completions",
            connections: spec.connections,
            headers: { authorization: `Bearer ${devKey}` },
          }),
        jsPublish: () => jetStreamPublishTarget(nc, options.payloadBytes),
        jsChain: () => jetStreamChainTarget(nc, options.payloadBytes),
      };
      const keys = (Object.keys(makers) as TargetKey[]).filter((key) =>
        options.targets.includes(TargetLabels[key]),
      );
      for (const key of keys) {
        const target = makers[key]();
        const before = key === "router" ? await persistedCounts(jsm) : undefined;
        try {
          await runClosedLoop(target.call, spec.warmConcurrency, options.warmupMs);
          const memoryBefore = key === "router" ? await readRouterMemory(stack.routerUrl) : undefined;
          const trafficBefore = await readNatsTraffic(stack.natsMonitorUrl);
          sampler.start(100);
          const summary = await spec.run(target.call);
          const run: TargetRun = { ...summary, resources: sampler.stop(), cores: sampler.cores };
          const traffic = trafficPerCall(
            trafficBefore,
            await readNatsTraffic(stack.natsMonitorUrl),
            summary.ok,
          );
          if (traffic) run.natsPerCall = traffic;
          if (key === "router") {
            const memoryAfter = await readRouterMemory(stack.routerUrl);
            if (memoryAfter)
              run.routerMemory = { ...memoryAfter, gcSeconds: gcDelta(memoryBefore, memoryAfter) };
          }
          if (before) run.persistence = await checkPersistence(jsm, before, target.completed());
          result.runs[key] = run;
          say(
            `  scenario ${spec.id} ${TargetNames[key].padEnd(26)} ${run.throughput.toFixed(0).padStart(6)} req/s` +
              `  p50 ${run.p50.toFixed(3)} ms  p99 ${run.p99.toFixed(3)} ms  errors ${run.errors + run.dropped}`,
          );
        } finally {
          await target.close();
        }
      }
      compare(result);
      result.goals = scenarioGoals(result);
      scenarios.push(result);
      say(`\n${formatScenario(result)}\n`);
    }
  } finally {
    const peak = whole.stop()["router"]?.peakRssBytes ?? 0;
    overall = [
      goal(
        "router peak RSS",
        `≤ ${GOALS.rssBytes / 1024 / 1024} MB`,
        `${(peak / 1024 / 1024).toFixed(1)} MB`,
        peak > 0 && peak <= GOALS.rssBytes,
      ),
    ];
    await nc.drain().catch(() => undefined);
    await chainWorker?.stop();
    await stack.router.stop(30_000);
    // Warnings and errors only (LOG_LEVEL=warn), after the start-up banner: a clean run has none.
    routerOutput = stack.router
      .tail()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .slice(-20);
    await stack.mock.stop();
    await stack.nats.stop();
    await rm(workDir, { recursive: true, force: true });
  }
  if (profileDir) {
    profile = await summariseLatestProfile(profileDir);
    if (profile) say(`${formatProfile(profile)}\n`);
  }

  if (routerOutput.length > 0)
    say(`Router log lines (warn and above), last ${routerOutput.length}:\n${routerOutput.join("\n")}\n`);
  const goals = [...scenarios.flatMap((s) => s.goals.map((g) => ({ scenario: s.id, ...g }))), ...overall];
  say("Goals:");
  for (const g of goals) say(`  ${g.met ? "met   " : "MISSED"}  ${g.what} ${g.limit}: ${g.actual}`);
  const report = {
    date: new Date().toISOString(),
    machine: {
      ...machine,
      natsServer: natsServerVersion,
      pinning: options.pin ? { router: options.routerCpu, load: options.loadCpu } : null,
    },
    options,
    idle,
    routerOutput,
    scenarios,
    goals,
    profile,
  };
  const file = join(outDir, `bench-${stamp}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(join(outDir, "latest.json"), `${JSON.stringify(report, null, 2)}\n`);
  say(`\nwrote ${file}`);
}

/** The chain baseline's worker process, on the router's core as Beamline's stages are. */
async function startChainWorker(natsUrl: string, cpu: number | undefined): Promise<Child> {
  let ready = false;
  const [command, args] = pinned(cpu, process.execPath, [
    "--import",
    "tsx",
    join(repoRoot, "bench/chain-worker.ts"),
  ]);
  const child = startChild("chain worker", command, args, {
    cwd: repoRoot,
    env: { ...process.env, BENCH_NATS_URL: natsUrl },
    onLine: (line) => {
      if (line.trim() === "ready") ready = true;
    },
  });
  await waitUntil(child, "the chain worker's consumers", () => (ready ? true : undefined), 30_000);
  return child;
}

interface Counts {
  requests: number;
  usage: number;
  dead: number;
  ok: number;
}

async function persistedCounts(jsm: Awaited<ReturnType<typeof jetstreamManager>>, ok = 0): Promise<Counts> {
  const messages = async (stream: string) => (await jsm.streams.info(stream)).state.messages;
  return {
    requests: await messages("BL_REQUESTS"),
    usage: await messages("BL_USAGE"),
    dead: await messages("BL_DEAD"),
    ok,
  };
}

/**
 * Waits until every stage consumer has nothing pending or unacknowledged (billing runs
 * after the client got its answer, so it may still be catching up when the load ends),
 * then compares what was stored with the answers the client received.
 */
async function checkPersistence(
  jsm: Awaited<ReturnType<typeof jetstreamManager>>,
  before: Counts,
  okResponses: number,
): Promise<PersistenceCheck> {
  const loadEnded = performance.now();
  const deadline = loadEnded + 120_000;
  for (;;) {
    const infos = await Promise.all(STAGE_CONSUMERS.map((name) => jsm.consumers.info("BL_REQUESTS", name)));
    if (infos.every((info) => info.num_pending === 0 && info.num_ack_pending === 0)) break;
    if (performance.now() > deadline) {
      const stuck = infos.map((i) => `${i.name}: ${i.num_pending} pending, ${i.num_ack_pending} unacked`);
      throw new Error(`stage consumers did not catch up within 120 s (${stuck.join("; ")})`);
    }
    await sleep(20);
  }
  const drainMs = performance.now() - loadEnded;
  const after = await persistedCounts(jsm);
  const check: PersistenceCheck = {
    okResponses,
    requestEvents: after.requests - before.requests,
    expectedRequestEvents: okResponses * EVENTS_PER_REQUEST,
    usageEvents: after.usage - before.usage,
    deadLetters: after.dead - before.dead,
    drainMs,
    complete: false,
  };
  check.complete =
    check.requestEvents === check.expectedRequestEvents &&
    check.usageEvents === okResponses &&
    check.deadLetters === 0;
  return check;
}

function scenarioGoals(result: ScenarioResult): Goal[] {
  const router = result.runs.router;
  if (!router || !result.overhead) return [];
  const ms = (value: number) => `${value.toFixed(3)} ms`;
  switch (result.id) {
    case 1:
      return [
        goal(
          "overhead p50, one in flight",
          `≤ ${GOALS.overheadP50Ms} ms`,
          ms(result.overhead.p50),
          result.overhead.p50 <= GOALS.overheadP50Ms,
        ),
      ];
    case 2:
      return [
        goal(
          `overhead p99 at ${result.params["ratePerSecond"]} req/s`,
          `≤ ${GOALS.overheadP99Ms} ms`,
          ms(result.overhead.p99),
          result.overhead.p99 <= GOALS.overheadP99Ms && router.errors + router.dropped === 0,
        ),
      ];
    case 3: {
      const persisted = router.persistence?.complete === true && router.errors === 0;
      return [
        goal(
          "sustained throughput, every event persisted",
          `≥ ${GOALS.throughput} req/s`,
          `${router.throughput.toFixed(0)} req/s, ${persisted ? "all persisted" : "NOT all persisted"}`,
          router.throughput >= GOALS.throughput && persisted,
        ),
      ];
    }
    default:
      return [];
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
}
