/**
 * Scenario 4: many concurrent SSE streams against a provider with a realistic timing (a
 * time to first token, then one chunk every few tens of milliseconds), measured directly
 * against the mock (a) and through Beamline (b) in the same run. It runs on a stack of its
 * own: the mock needs that timing, and the router needs connection and pool limits sized
 * for the streams, which scenarios 1–3 must not get.
 */
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { runClosedLoop } from "./load.js";
import { measureTargetRun } from "./measure.js";
import type { BenchOptions } from "./options.js";
import { persistedCounts } from "./persistence.js";
import { type Child, ResourceSampler } from "./processes.js";
import { compare, type ScenarioResult, type TargetKey, TargetLabels, TargetNames } from "./report.js";
import { scenarioGoals } from "./scenarios.js";
import { type StreamTarget, sseChatTarget } from "./sse-target.js";
import { startSkeleton, startStack, stopStack } from "./stack.js";

export interface StreamingContext {
  repoRoot: string;
  /** A temporary folder of this run; the scenario's stack stores under a subfolder. */
  workDir: string;
  devKey: string;
  routerCpu: number | undefined;
  loadCpu: number | undefined;
  profileDir: string | undefined;
  say(text: string): void;
}

export interface StreamingOutcome {
  result: ScenarioResult;
  /** Peak RSS of this scenario's router over its whole life (start, warm-ups, runs). */
  routerPeakRssBytes: number;
  /** The router's warn-and-above log lines (a clean run has none). */
  routerOutput: string[];
  natsServerVersion: string;
}

/** The smallest pool and connection limits the scenario gives the router. */
const MIN_POOL = 1024;
/** The router's default `BEAMLINE_MAX_ACK_PENDING`: every stream is one unacknowledged message. */
const DEFAULT_MAX_ACK_PENDING = 4096;

/**
 * The router settings 1,000 concurrent streams to one model need. Defaults would queue them:
 * the provider's HTTP pool holds 256 connections (`BEAMLINE_PROVIDER_MAX_CONNECTIONS`), and
 * the execution pool runs 64 calls per provider/model with a queue of 256 before refusing
 * (`BEAMLINE_EXEC_POOL_MAX_CONCURRENT` / `_MAX_QUEUED`). Operators set the same for this load.
 */
export function streamingRouterEnv(streams: number): Record<string, string> {
  const pool = String(Math.max(MIN_POOL, streams));
  const env: Record<string, string> = {
    BEAMLINE_PROVIDER_MAX_CONNECTIONS: pool,
    BEAMLINE_EXEC_POOL_MAX_CONCURRENT: pool,
    BEAMLINE_EXEC_POOL_MAX_QUEUED: pool,
  };
  if (streams > DEFAULT_MAX_ACK_PENDING) env["BEAMLINE_MAX_ACK_PENDING"] = String(streams);
  return env;
}

/** Runs scenario 4 on its own stack (started and stopped here). */
export async function runStreamingScenario(
  opts: BenchOptions,
  ctx: StreamingContext,
): Promise<StreamingOutcome> {
  const timing = {
    latencyMs: opts.streamLatencyMs,
    chunkDelayMs: opts.streamChunkDelayMs,
    chunks: opts.streamChunks,
  };
  const routerEnv = streamingRouterEnv(opts.streams);
  const result: ScenarioResult = {
    id: 4,
    title:
      `${opts.streams} concurrent streams, closed loop for ${opts.streamDurationMs / 1000} s ` +
      `(at most ${opts.streamMaxCalls} per target); provider: ${timing.latencyMs} ms to first token, ` +
      `a chunk every ${timing.chunkDelayMs} ms`,
    params: {
      streams: opts.streams,
      durationMs: opts.streamDurationMs,
      maxStreams: opts.streamMaxCalls,
      ...timing,
    },
    settings: {
      ...routerEnv,
      MOCK_LATENCY_MS: String(timing.latencyMs),
      MOCK_CHUNK_DELAY_MS: String(timing.chunkDelayMs),
      MOCK_CHUNKS: String(timing.chunks),
    },
    runs: {},
    goals: [],
  };
  const stack = await startStack({
    ...ctx,
    workDir: join(ctx.workDir, "streaming"),
    routerNodeFlags: opts.routerNodeFlags,
    routerEnv,
    mockTiming: timing,
  });
  const whole = new ResourceSampler({ router: stack.router.pid });
  whole.start(100);
  let routerPeakRssBytes = 0;
  let routerOutput: string[] = [];
  let natsServerVersion = "unknown";
  let nc: NatsConnection | undefined;
  let skeleton: { child: Child; url: string } | undefined;
  try {
    nc = await connect({ servers: stack.natsUrl, name: "bench-streams", noAsyncTraces: true });
    natsServerVersion = nc.info?.version ?? natsServerVersion;
    const jsm = await jetstreamManager(nc);
    if (opts.targets.includes(TargetLabels.skeleton)) {
      skeleton = await startSkeleton(
        ctx.repoRoot,
        stack.natsUrl,
        stack.mockUrl,
        ctx.routerCpu,
        opts.payloadBytes,
      );
    }
    const sampler = new ResourceSampler({
      router: stack.router.pid,
      "nats-server": stack.nats.pid,
      mock: stack.mock.pid,
      ...(skeleton ? { skeleton: skeleton.child.pid } : {}),
      load: process.pid,
    });
    const mockUrl = new URL(stack.mockUrl);
    ctx.say(`scenario 4 stack: mock ${stack.mockUrl} (timed); router ${stack.routerUrl}`);
    const makers: Partial<Record<TargetKey, () => StreamTarget>> = {
      direct: () =>
        sseChatTarget({
          origin: mockUrl.origin,
          path: `${mockUrl.pathname}/chat/completions`,
          connections: opts.streams,
        }),
      router: () =>
        sseChatTarget({
          origin: stack.routerUrl,
          path: "/v1/chat/completions",
          connections: opts.streams,
          headers: { authorization: `Bearer ${ctx.devKey}` },
        }),
      ...(skeleton
        ? {
            skeleton: () =>
              sseChatTarget({
                origin: skeleton!.url,
                path: "/v1/chat/completions",
                connections: opts.streams,
              }),
          }
        : {}),
    };
    for (const [key, make] of Object.entries(makers) as [TargetKey, () => StreamTarget][]) {
      if (!opts.targets.includes(TargetLabels[key])) continue;
      const target = make();
      try {
        const before = key === "router" ? await persistedCounts(jsm) : undefined;
        // The warm-up opens every connection, so the measured window holds no TCP handshakes.
        await runClosedLoop(target.call, opts.streams, opts.warmupMs, opts.streams * 4);
        target.resetStats();
        const run = await measureTargetRun({ stack, jsm, sampler }, key, before, target.completed, () =>
          runClosedLoop(target.call, opts.streams, opts.streamDurationMs, opts.streamMaxCalls),
        );
        const stats = target.stats();
        const ttfb = stats.ttfb.summarise(run.elapsedMs);
        run.ttfb = { p50: ttfb.p50, p90: ttfb.p90, p99: ttfb.p99, max: ttfb.max };
        if (stats.maxEvents > 0) run.eventsPerStream = { min: stats.minEvents, max: stats.maxEvents };
        result.runs[key] = run;
        ctx.say(
          `  scenario 4 ${TargetNames[key].padEnd(26)} ${run.throughput.toFixed(0).padStart(6)} streams/s` +
            `  ttfb p50 ${run.ttfb.p50.toFixed(1)} ms  total p50 ${run.p50.toFixed(1)} ms  p99 ${run.p99.toFixed(1)} ms` +
            `  errors ${run.errors}`,
        );
      } finally {
        await target.close();
      }
    }
    compare(result);
    result.goals = scenarioGoals(result);
  } finally {
    await nc?.drain().catch(() => undefined);
    await skeleton?.child.stop();
    routerPeakRssBytes = whole.stop()["router"]?.peakRssBytes ?? 0;
    routerOutput = await stopStack(stack);
  }
  return { result, routerPeakRssBytes, routerOutput, natsServerVersion };
}
