import type { JetStreamManager } from "@nats-io/jetstream";
import { type Counts, checkPersistence } from "./persistence.js";
import type { ResourceSampler } from "./processes.js";
import type { TargetKey, TargetRun } from "./report.js";
import { gcDelta, readNatsTraffic, readRouterMemory, trafficPerCall } from "./router-metrics.js";
import type { Stack } from "./stack.js";
import type { RunSummary } from "./stats.js";

/** What measuring one target reads: the stack's endpoints, JetStream, and the per-run sampler. */
export interface MeasureContext {
  stack: Pick<Stack, "routerMetricsUrl" | "natsMonitorUrl">;
  jsm: JetStreamManager;
  sampler: ResourceSampler;
}

/**
 * Runs `load` (the measured window, after any warm-up) while sampling resources, and adds NATS
 * traffic per call. For the router it also adds its memory and GC time over the window and
 * whether JetStream holds every answered request, counted from `before` (taken before the warm-up).
 */
export async function measureTargetRun(
  ctx: MeasureContext,
  key: TargetKey,
  before: Counts | undefined,
  completed: () => number,
  load: () => Promise<RunSummary>,
): Promise<TargetRun> {
  const memoryBefore = key === "router" ? await readRouterMemory(ctx.stack.routerMetricsUrl) : undefined;
  const trafficBefore = await readNatsTraffic(ctx.stack.natsMonitorUrl);
  ctx.sampler.start(100);
  const summary = await load();
  const run: TargetRun = { ...summary, resources: ctx.sampler.stop(), cores: ctx.sampler.cores };
  const traffic = trafficPerCall(trafficBefore, await readNatsTraffic(ctx.stack.natsMonitorUrl), summary.ok);
  if (traffic) run.natsPerCall = traffic;
  if (key === "router") {
    const memoryAfter = await readRouterMemory(ctx.stack.routerMetricsUrl);
    if (memoryAfter) run.routerMemory = { ...memoryAfter, gcSeconds: gcDelta(memoryBefore, memoryAfter) };
  }
  if (before) run.persistence = await checkPersistence(ctx.jsm, before, completed());
  return run;
}
