import type { CoreUsage, ProcessUsage } from "./processes.js";
import type { NatsTraffic, RouterMemory } from "./router-metrics.js";
import type { RunSummary } from "./stats.js";

export const TargetNames = {
  direct: "a  mock, direct",
  router: "b  via Beamline",
  jsPublish: "c1 JetStream publish",
  jsChain: "c2 JetStream 4-hop chain",
  skeleton: "c3 Beamline's I/O, no logic",
} as const;
export type TargetKey = keyof typeof TargetNames;

/** The short label of each target (`--targets a,b`). */
export const TargetLabels: Record<TargetKey, string> = {
  direct: "a",
  router: "b",
  jsPublish: "c1",
  jsChain: "c2",
  skeleton: "c3",
};

/** Peak RSS and CPU share of each process during one run, by process name. */
export type Resources = Record<string, ProcessUsage>;

/** What the router left in JetStream after a run, checked once every stage caught up. */
export interface PersistenceCheck {
  okResponses: number;
  requestEvents: number;
  expectedRequestEvents: number;
  usageEvents: number;
  deadLetters: number;
  /** Time after the load ended until every stage consumer had nothing pending. */
  drainMs: number;
  complete: boolean;
}

export interface TargetRun extends RunSummary {
  resources: Resources;
  /** Whole-machine view of each core during the run: our processes and anyone else's. */
  cores?: Record<string, CoreUsage>;
  persistence?: PersistenceCheck;
  /** Messages and bytes through nats-server per successful call (all clients). */
  natsPerCall?: NatsTraffic;
  /** Router runs: V8 heap at the end of the run, and GC seconds spent during it. */
  routerMemory?: RouterMemory;
  /** Streaming runs: request sent → first SSE event, in milliseconds. */
  ttfb?: Percentiles;
  /** Streaming runs: fewest and most chunk events in one successful stream. */
  eventsPerStream?: { min: number; max: number };
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface Goal {
  what: string;
  limit: string;
  actual: string;
  met: boolean;
}

export interface ScenarioResult {
  id: number;
  title: string;
  params: Record<string, number>;
  runs: Partial<Record<TargetKey, TargetRun>>;
  /** Router minus direct, in milliseconds. */
  overhead?: { p50: number; p99: number };
  /** Router over direct (latency) and router over direct (throughput). */
  ratio?: { p50: number; p99: number; throughput: number };
  /** Streaming scenarios: router minus direct time to first byte, in milliseconds. */
  ttfbOverhead?: { p50: number; p99: number };
  /** Settings the scenario ran with beyond its params (the router's and the mock's), to report. */
  settings?: Record<string, string>;
  goals: Goal[];
}

const MB = 1024 * 1024;

/** Which sampled process runs on which side: the router's core, or the load generator's. */
export const ROUTER_CORE_PROCESSES = ["router", "nats-server", "chain worker", "skeleton"] as const;
export const LOAD_CORE_PROCESSES = ["load", "mock"] as const;

/** CPU time (microseconds) the given processes spent per successful call of a run. */
export function cpuPerCallUs(run: TargetRun, processes: readonly string[]): number {
  const share = processes.reduce((sum, name) => sum + (run.resources[name]?.coreShare ?? 0), 0);
  return run.ok > 0 ? (share * run.elapsedMs * 1000) / run.ok : Number.NaN;
}
const f = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : "-");

/** Fills in overhead and ratios of a scenario whose direct and router runs are known. */
export function compare(scenario: ScenarioResult): void {
  const { direct, router } = scenario.runs;
  if (!direct || !router) return;
  scenario.overhead = { p50: router.p50 - direct.p50, p99: router.p99 - direct.p99 };
  if (direct.ttfb && router.ttfb)
    scenario.ttfbOverhead = {
      p50: router.ttfb.p50 - direct.ttfb.p50,
      p99: router.ttfb.p99 - direct.ttfb.p99,
    };
  scenario.ratio = {
    p50: router.p50 / direct.p50,
    p99: router.p99 / direct.p99,
    throughput: router.throughput / direct.throughput,
  };
}

export function goal(what: string, limit: string, actual: string, met: boolean): Goal {
  return { what, limit, actual, met };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
        .join("  "),
    )
    .join("\n");
}

/** Human-readable report of one scenario. */
export function formatScenario(scenario: ScenarioResult): string {
  const rows = [
    [
      "",
      "ok",
      "err",
      "req/s",
      "p50 ms",
      "p90 ms",
      "p99 ms",
      "max ms",
      "router-core µs/call",
      "load-core µs/call",
    ],
  ];
  for (const [key, name] of Object.entries(TargetNames) as [TargetKey, string][]) {
    const run = scenario.runs[key];
    if (!run) continue;
    rows.push([
      name,
      String(run.ok),
      String(run.errors + run.dropped),
      f(run.throughput, 0),
      f(run.p50, 3),
      f(run.p90, 3),
      f(run.p99, 3),
      f(run.max, 1),
      f(cpuPerCallUs(run, ROUTER_CORE_PROCESSES), 0),
      f(cpuPerCallUs(run, LOAD_CORE_PROCESSES), 0),
      run.natsPerCall ? `${f(run.natsPerCall.inMsgs, 1)}/${f(run.natsPerCall.outMsgs, 1)}` : "-",
    ]);
  }
  const lines = [`Scenario ${scenario.id}: ${scenario.title}`, table(rows)];
  if (scenario.settings) {
    lines.push(
      `settings: ${Object.entries(scenario.settings)
        .map(([name, value]) => `${name}=${value}`)
        .join(", ")}`,
    );
  }
  for (const [key, name] of Object.entries(TargetNames) as [TargetKey, string][]) {
    const run = scenario.runs[key];
    if (!run?.ttfb) continue;
    const events = run.eventsPerStream
      ? `; ${run.eventsPerStream.min}–${run.eventsPerStream.max} chunk events per stream`
      : "";
    lines.push(
      `time to first byte, ${name.trim()}: p50 ${f(run.ttfb.p50, 3)} ms, p90 ${f(run.ttfb.p90, 3)} ms, ` +
        `p99 ${f(run.ttfb.p99, 3)} ms, max ${f(run.ttfb.max, 1)} ms${events}`,
    );
  }
  if (scenario.overhead && scenario.ratio) {
    lines.push(
      `overhead b−a: p50 ${f(scenario.overhead.p50, 3)} ms, p99 ${f(scenario.overhead.p99, 3)} ms; ` +
        `ratio b/a: p50 ×${f(scenario.ratio.p50)}, p99 ×${f(scenario.ratio.p99)}, req/s ×${f(scenario.ratio.throughput)}`,
    );
  }
  if (scenario.ttfbOverhead) {
    lines.push(
      `time to first byte overhead b−a: p50 ${f(scenario.ttfbOverhead.p50, 3)} ms, p99 ${f(scenario.ttfbOverhead.p99, 3)} ms`,
    );
  }
  const router = scenario.runs.router;
  if (router) {
    const share = (name: string) => {
      const usage = router.resources[name];
      if (!usage) return `${name} -`;
      const pct = (value: number) => f(value * 100, 0);
      return `${name} ${pct(usage.coreShare)}% (user ${pct(usage.userShare)}, sys ${pct(usage.systemShare)})`;
    };
    lines.push(
      `during b: router peak RSS ${f((router.resources["router"]?.peakRssBytes ?? 0) / MB, 1)} MB; ` +
        `CPU as % of one core: ${["router", "nats-server", "mock", "load"].map(share).join(", ")}`,
    );
    if (router.cores) {
      lines.push(
        `cores during b (all processes): ${Object.entries(router.cores)
          .map(
            ([core, usage]) =>
              `${core} ${f(usage.busyShare * 100, 0)}% busy, ${f(usage.stealShare * 100, 1)}% stolen`,
          )
          .join("; ")}`,
      );
    }
    const memory = router.routerMemory;
    if (memory) {
      const gcMs = Object.values(memory.gcSeconds).reduce((sum, seconds) => sum + seconds, 0) * 1000;
      const kinds = Object.entries(memory.gcSeconds)
        .filter(([, seconds]) => seconds > 0)
        .map(([kind, seconds]) => `${kind} ${f(seconds * 1000, 0)}`)
        .join(", ");
      lines.push(
        `router V8 heap after the run: ${f(memory.heapTotalBytes / MB, 1)} MB (used ${f(memory.heapUsedBytes / MB, 1)}), ` +
          `external ${f(memory.externalBytes / MB, 1)} MB; GC during the run ${f(gcMs, 0)} ms ` +
          `= ${f((gcMs / router.elapsedMs) * 100, 1)}% of wall time (${kinds})`,
      );
    }
    const p = router.persistence;
    if (p) {
      lines.push(
        `persisted: ${p.requestEvents}/${p.expectedRequestEvents} request events, ${p.usageEvents}/${p.okResponses} usage records, ` +
          `${p.deadLetters} dead letters; stages caught up ${f(p.drainMs, 0)} ms after the load → ${p.complete ? "complete" : "INCOMPLETE"}`,
      );
    }
  }
  // The memory floor: the same I/O in a process with none of Beamline's code or state.
  const skeleton = scenario.runs.skeleton?.resources["skeleton"];
  if (skeleton) lines.push(`during c3: skeleton peak RSS ${f(skeleton.peakRssBytes / MB, 1)} MB`);
  const errors = Object.entries(scenario.runs).flatMap(([key, run]) =>
    run && run.errorSamples.length > 0 ? [`errors of ${key}: ${run.errorSamples.join(" | ")}`] : [],
  );
  lines.push(...errors);
  for (const g of scenario.goals) {
    lines.push(`goal: ${g.what} ${g.limit} → ${g.actual} ${g.met ? "MET" : "MISSED"}`);
  }
  return lines.join("\n");
}
