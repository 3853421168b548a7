import { setTimeout as sleep } from "node:timers/promises";
import { LatencyRecorder, type RunSummary } from "./stats.js";

/** One operation under test; resolves when it completed, throws when it failed. */
export type Call = () => Promise<void>;

/**
 * Hard ceiling on any run's wall time beyond its planned duration: a stuck target ends the
 * run (its calls are counted as they settle) instead of hanging the benchmark.
 */
const GRACE_MS = 30_000;

/** Scenario 1: one call in flight, `count` times (or until `count` calls' worth of grace has passed). */
export async function runSequential(call: Call, count: number): Promise<RunSummary> {
  const recorder = new LatencyRecorder();
  const started = performance.now();
  const deadline = started + GRACE_MS + count * 50;
  for (let index = 0; index < count && performance.now() < deadline; index++) {
    const t0 = performance.now();
    try {
      await call();
      recorder.recordOk(performance.now() - t0);
    } catch (error) {
      recorder.recordError(error);
    }
  }
  return recorder.summarise(performance.now() - started);
}

/**
 * Scenario 2: an open loop. Call i is due at `start + i / rate`, whether or not earlier
 * calls have answered, and its latency is measured from that due time, not from when it
 * was actually sent: a stall then shows as the latency the arrivals really saw (no
 * coordinated omission). Arrivals beyond `maxInFlight` outstanding calls are dropped and
 * counted, so an overloaded target cannot grow memory without bound.
 */
export async function runOpenLoop(
  call: Call,
  ratePerSecond: number,
  durationMs: number,
  maxInFlight = 4096,
): Promise<RunSummary> {
  const recorder = new LatencyRecorder();
  const total = Math.max(1, Math.round((ratePerSecond * durationMs) / 1000));
  const intervalMs = 1000 / ratePerSecond;
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  const fire = (dueAt: number) => {
    const done = call().then(
      () => recorder.recordOk(performance.now() - dueAt),
      (error: unknown) => recorder.recordError(error),
    );
    pending.add(done);
    void done.finally(() => pending.delete(done));
  };
  for (let sent = 0; sent < total; ) {
    const now = performance.now();
    for (let dueAt = started + sent * intervalMs; sent < total && dueAt <= now; dueAt += intervalMs) {
      if (pending.size < maxInFlight) fire(dueAt);
      else recorder.dropped += 1;
      sent += 1;
    }
    if (sent < total) await sleep(Math.max(0, started + sent * intervalMs - performance.now()));
  }
  await settleWithin([...pending], GRACE_MS);
  return recorder.summarise(performance.now() - started);
}

/**
 * Scenario 3: a closed loop. `concurrency` workers each issue their next call as soon as the
 * previous one answers, for `durationMs` (and at most `maxCalls` calls in all). Throughput is
 * completed calls over the time until the last worker finished.
 */
export async function runClosedLoop(
  call: Call,
  concurrency: number,
  durationMs: number,
  maxCalls = 10_000_000,
): Promise<RunSummary> {
  const recorder = new LatencyRecorder();
  const started = performance.now();
  const stopAt = started + durationMs;
  let issued = 0;
  const worker = async () => {
    while (performance.now() < stopAt && issued < maxCalls) {
      issued += 1;
      const t0 = performance.now();
      try {
        await call();
        recorder.recordOk(performance.now() - t0);
      } catch (error) {
        recorder.recordError(error);
      }
    }
  };
  await settleWithin(
    Array.from({ length: concurrency }, () => worker()),
    durationMs + GRACE_MS,
  );
  return recorder.summarise(performance.now() - started);
}

async function settleWithin(work: Promise<unknown>[], timeoutMs: number): Promise<void> {
  const timer = sleep(timeoutMs, undefined, { ref: false });
  await Promise.race([Promise.allSettled(work), timer]);
}
