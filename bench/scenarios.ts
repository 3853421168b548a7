import { type Call, runClosedLoop, runOpenLoop, runSequential } from "./load.js";
import type { BenchOptions } from "./options.js";
import { type Goal, goal, type ScenarioResult } from "./report.js";
import type { RunSummary } from "./stats.js";

/** What the router is held to: latency overhead, sustained throughput, memory. */
export const GOALS = {
  overheadP50Ms: 1,
  overheadP99Ms: 5,
  throughput: 1900,
  rssBytes: 200 * 1024 * 1024,
} as const;

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
      ];
    }
    default:
      return [];
  }
}
