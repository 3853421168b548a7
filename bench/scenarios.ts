import { type Call, runClosedLoop, runOpenLoop, runSequential } from "./load.js";
import type { BenchOptions } from "./options.js";
import { cpuPerCallUs, type Goal, goal, ROUTER_CORE_PROCESSES, type ScenarioResult } from "./report.js";
import type { RunSummary } from "./stats.js";

/**
 * What the router is held to (issue 18's targets): latency overhead over a direct call, the
 * share of the core at a steady rate, sustained throughput, streaming, memory.
 */
export const GOALS = {
  overheadP50Ms: 1,
  overheadP99OneInFlightMs: 3,
  /** CPU per request at one in flight, at most this times the CPU per request saturated. */
  fixedCostRatio: 1.3,
  overheadP99Ms: 5,
  /** Router + nats-server at the open loop's rate, as a share of one core. */
  openLoopCoreShare: 0.5,
  throughput: 2500,
  /** Streams per second when few (10) are in flight. */
  streamsPerSecond: 1400,
  firstChunkOverheadP50Ms: 2,
  rssBytes: 150 * 1024 * 1024,
} as const;

/** The streams in flight at which the streaming throughput and first-chunk targets are set. */
const FEW_STREAMS = 10;

/** One scenario: how to drive a target, and the pool size and warm-up that suit it. */
export interface ScenarioSpec {
  id: number;
  title: string;
  params: Record<string, number>;
  /** Keep-alive connections per HTTP target. */
  connections: number;
  warmConcurrency: number;
  run(call: Call): Promise<RunSummary>;
}

/** The scenarios the options select, in order. */
export function scenarioSpecs(opts: BenchOptions): ScenarioSpec[] {
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

/** The targets a scenario is judged by, from its router and direct runs. */
export function scenarioGoals(result: ScenarioResult): Goal[] {
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
        goal(
          "overhead p99, one in flight",
          `≤ ${GOALS.overheadP99OneInFlightMs} ms`,
          ms(result.overhead.p99),
          result.overhead.p99 <= GOALS.overheadP99OneInFlightMs,
        ),
      ];
    case 2: {
      const share = ["router", "nats-server"].reduce(
        (sum, name) => sum + (router.resources[name]?.coreShare ?? 0),
        0,
      );
      return [
        goal(
          `overhead p99 at ${result.params["ratePerSecond"]} req/s`,
          `≤ ${GOALS.overheadP99Ms} ms`,
          ms(result.overhead.p99),
          result.overhead.p99 <= GOALS.overheadP99Ms && router.errors + router.dropped === 0,
        ),
        goal(
          `router + nats-server at ${result.params["ratePerSecond"]} req/s`,
          `≤ ${GOALS.openLoopCoreShare * 100} % of the core`,
          `${(share * 100).toFixed(0)} %`,
          share > 0 && share <= GOALS.openLoopCoreShare,
        ),
      ];
    }
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
    case 4: {
      const failed = router.errors + (result.runs.direct?.errors ?? 0);
      const persisted = router.persistence?.complete === true;
      const rss = router.resources["router"]?.peakRssBytes ?? 0;
      return [
        goal(
          "every stream ended with [DONE] and no error event, every event persisted",
          "0 failed",
          `${failed} failed, ${persisted ? "all persisted" : "NOT all persisted"}`,
          failed === 0 && persisted,
        ),
        goal(
          `router peak RSS with ${result.params["streams"]} streams open`,
          `≤ ${GOALS.rssBytes / 1024 / 1024} MB`,
          `${(rss / 1024 / 1024).toFixed(1)} MB`,
          rss > 0 && rss <= GOALS.rssBytes,
        ),
        ...(result.params["streams"] === FEW_STREAMS ? fewStreamsGoals(result) : []),
      ];
    }
    default:
      return [];
  }
}

/**
 * Issue 18's streaming targets, set at 10 streams in flight: the first-chunk overhead at any
 * provider timing, the throughput only against a mock that answers at once (with a provider's
 * timing, 10 streams of about a second each cannot exceed 10 per second).
 */
function fewStreamsGoals(result: ScenarioResult): Goal[] {
  const router = result.runs.router!;
  const direct = result.runs.direct;
  const goals: Goal[] = [];
  if (result.params["latencyMs"] === 0 && result.params["chunkDelayMs"] === 0) {
    goals.push(
      goal(
        `streams per second, ${FEW_STREAMS} in flight, a mock that answers at once`,
        `≥ ${GOALS.streamsPerSecond}`,
        `${router.throughput.toFixed(0)}`,
        router.throughput >= GOALS.streamsPerSecond,
      ),
    );
  }
  if (router.ttfb && direct?.ttfb) {
    const overhead = router.ttfb.p50 - direct.ttfb.p50;
    goals.push(
      goal(
        "first-chunk overhead p50",
        `≤ ${GOALS.firstChunkOverheadP50Ms} ms`,
        `${overhead.toFixed(2)} ms`,
        overhead <= GOALS.firstChunkOverheadP50Ms,
      ),
    );
  }
  return goals;
}

/**
 * The fixed cost per request: the router core's CPU per request at one in flight over the same
 * at saturation (scenario 1 over scenario 3), when both ran; undefined otherwise.
 */
export function fixedCostGoal(scenarios: readonly ScenarioResult[]): Goal | undefined {
  const one = scenarios.find((s) => s.id === 1)?.runs.router;
  const saturated = scenarios.find((s) => s.id === 3)?.runs.router;
  if (!one || !saturated) return undefined;
  const ratio = cpuPerCallUs(one, ROUTER_CORE_PROCESSES) / cpuPerCallUs(saturated, ROUTER_CORE_PROCESSES);
  if (!Number.isFinite(ratio)) return undefined;
  return goal(
    "router-core CPU per request, one in flight over saturated",
    `≤ ${GOALS.fixedCostRatio}×`,
    `${ratio.toFixed(2)}×`,
    ratio <= GOALS.fixedCostRatio,
  );
}
