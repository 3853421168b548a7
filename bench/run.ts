/**
 * Beamline's latency and throughput benchmark: the mock provider called directly (a), the
 * same calls through Beamline (b), and raw JetStream on the router's own nats-server (c), side
 * by side in one run. See bench/README.md.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { runClosedLoop } from "./load.js";
import { measureTargetRun } from "./measure.js";
import { parseBenchOptions } from "./options.js";
import { persistedCounts } from "./persistence.js";
import { type Child, ResourceSampler } from "./processes.js";
import { formatProfile, type ProfileSummary, summariseLatestProfile } from "./profile.js";
import {
  compare,
  formatScenario,
  type Goal,
  goal,
  type Resources,
  type ScenarioResult,
  type TargetKey,
  TargetLabels,
  TargetNames,
} from "./report.js";
import { fixedCostGoal, GOALS, scenarioGoals, scenarioSpecs } from "./scenarios.js";
import { ensureBuilt, machineNote, reexecPinned } from "./setup.js";
import { startChainWorker, startSkeleton, startStack, stopStack } from "./stack.js";
import { runStreamingScenario } from "./streaming.js";
import {
  createBenchStream,
  httpChatTarget,
  jetStreamChainTarget,
  jetStreamPublishTarget,
  type Target,
} from "./targets.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const options = parseBenchOptions(process.argv.slice(2), process.env);

/** The once-per-target warm-up: enough calls in flight to be quick, bounded in time. */
const WARMUP_CONCURRENCY = 8;
const WARMUP_LIMIT_MS = 120_000;

const say = (text: string) => process.stdout.write(`${text}\n`);

async function main(): Promise<void> {
  if (await reexecPinned(options)) return;
  ensureBuilt(repoRoot, options);
  const outDir = resolve(repoRoot, options.outDir);
  await mkdir(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const profileDir = options.profile ? join(outDir, `profile-${stamp}`) : undefined;
  const workDir = await mkdtemp(join(tmpdir(), "beamline-bench-"));
  const routerCpu = options.pin ? options.routerCpu : undefined;
  const loadCpu = options.pin ? options.loadCpu : undefined;
  const devKey = `bench-${Date.now().toString(36)}-dev-key`;
  const machine = machineNote(repoRoot);

  say(
    `Beamline benchmark${options.quick ? " (quick: a smoke test, figures not representative)" : ""}: ${machine.cores} cores, node ${machine.node}, ` +
      (options.pin
        ? `router + nats-server on core ${options.routerCpu}, load + mock on core ${options.loadCpu}`
        : "unpinned"),
  );
  const scenarios: ScenarioResult[] = [];
  let profile: ProfileSummary | undefined;
  const overall: Goal[] = [];
  let idle: Resources | undefined;
  let routerOutput: string[] = [];
  let natsServerVersion = "unknown";
  // Scenarios 1–3 share one stack; scenario 4 starts its own (a timed mock, larger pools).
  const stackPlace = { repoRoot, workDir, devKey, routerCpu, loadCpu, profileDir };
  const requestSpecs = scenarioSpecs(options);
  if (requestSpecs.length > 0) {
    const stack = await startStack({ ...stackPlace, routerNodeFlags: options.routerNodeFlags });
    const nc = await connect({ servers: stack.natsUrl, name: "bench-load", noAsyncTraces: true });
    natsServerVersion = nc.info?.version ?? "unknown";
    let chainWorker: Child | undefined;
    let skeleton: { child: Child; url: string } | undefined;
    const whole = new ResourceSampler({ router: stack.router.pid });
    whole.start(100);
    try {
      await createBenchStream(nc);
      chainWorker = await startChainWorker(repoRoot, stack.natsUrl, routerCpu);
      if (options.targets.includes(TargetLabels.skeleton)) {
        skeleton = await startSkeleton(
          repoRoot,
          stack.natsUrl,
          stack.mockUrl,
          routerCpu,
          options.payloadBytes,
        );
      }
      const jsm = await jetstreamManager(nc);
      const sampler = new ResourceSampler({
        router: stack.router.pid,
        "nats-server": stack.nats.pid,
        mock: stack.mock.pid,
        "chain worker": chainWorker.pid,
        ...(skeleton ? { skeleton: skeleton.child.pid } : {}),
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

      const mockChat = `${mockUrl.pathname}/chat/completions`;
      /** A target's calls over `connections` keep-alive connections (the HTTP ones). */
      const makeTarget = (key: TargetKey, connections: number): Target => {
        switch (key) {
          case "direct":
            return httpChatTarget({ origin: mockUrl.origin, path: mockChat, connections });
          case "router":
            return httpChatTarget({
              origin: stack.routerUrl,
              path: "/v1/chat/completions",
              connections,
              headers: { authorization: `Bearer ${devKey}` },
            });
          case "jsPublish":
            return jetStreamPublishTarget(nc, options.payloadBytes);
          case "jsChain":
            return jetStreamChainTarget(nc, options.payloadBytes);
          case "skeleton":
            return httpChatTarget({ origin: skeleton!.url, path: "/v1/chat/completions", connections });
        }
      };
      const keys = (Object.keys(TargetLabels) as TargetKey[]).filter((key) =>
        options.targets.includes(TargetLabels[key]),
      );

      // Once per HTTP target, before any scenario: the router's code is optimised only after a
      // few thousand requests, and scenario 1 would otherwise measure it warming up.
      if (options.warmupCalls > 0) {
        for (const key of keys.filter((candidate) => ["direct", "router", "skeleton"].includes(candidate))) {
          const target = makeTarget(key, WARMUP_CONCURRENCY);
          try {
            const warm = await runClosedLoop(
              target.call,
              WARMUP_CONCURRENCY,
              WARMUP_LIMIT_MS,
              options.warmupCalls,
            );
            say(
              `warm-up ${TargetLabels[key]}: ${warm.ok} calls in ${(warm.elapsedMs / 1000).toFixed(1)} s` +
                (warm.errors > 0 ? `, ${warm.errors} errors` : ""),
            );
          } finally {
            await target.close();
          }
        }
        say("");
      }

      for (const spec of requestSpecs) {
        const result: ScenarioResult = {
          id: spec.id,
          title: spec.title,
          params: spec.params,
          runs: {},
          goals: [],
        };
        for (const key of keys) {
          const target = makeTarget(key, spec.connections);
          const before = key === "router" ? await persistedCounts(jsm) : undefined;
          try {
            await runClosedLoop(target.call, spec.warmConcurrency, options.warmupMs);
            const run = await measureTargetRun({ stack, jsm, sampler }, key, before, target.completed, () =>
              spec.run(target.call),
            );
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
      overall.push(
        goal(
          "router peak RSS",
          `≤ ${GOALS.rssBytes / 1024 / 1024} MB`,
          `${(peak / 1024 / 1024).toFixed(1)} MB`,
          peak > 0 && peak <= GOALS.rssBytes,
        ),
      );
      await nc.drain().catch(() => undefined);
      await chainWorker?.stop();
      await skeleton?.child.stop();
      routerOutput = await stopStack(stack);
      await rm(workDir, { recursive: true, force: true });
    }
  }
  if (options.scenarios.includes(4)) {
    const streaming = await runStreamingScenario(options, { ...stackPlace, say }).finally(() =>
      rm(workDir, { recursive: true, force: true }),
    );
    scenarios.push(streaming.result);
    say(`\n${formatScenario(streaming.result)}\n`);
    routerOutput.push(...streaming.routerOutput);
    if (natsServerVersion === "unknown") natsServerVersion = streaming.natsServerVersion;
    const peak = streaming.routerPeakRssBytes;
    overall.push(
      goal(
        "router peak RSS, scenario 4's router over its whole life",
        `≤ ${GOALS.rssBytes / 1024 / 1024} MB`,
        `${(peak / 1024 / 1024).toFixed(1)} MB`,
        peak > 0 && peak <= GOALS.rssBytes,
      ),
    );
  }
  if (profileDir) {
    profile = await summariseLatestProfile(profileDir);
    if (profile) say(`${formatProfile(profile)}\n`);
  }

  if (routerOutput.length > 0)
    say(`Router log lines (warn and above), last ${routerOutput.length}:\n${routerOutput.join("\n")}\n`);
  const fixedCost = fixedCostGoal(scenarios);
  if (fixedCost) overall.push(fixedCost);
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

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
}
