import { setTimeout as sleep } from "node:timers/promises";
import { LatencyRecorder } from "./stats.js";
import type { Target } from "./targets.js";

/** Latencies and failures of the calls that ended within one window, plain and streamed apart. */
export interface LoadWindow {
  plain: LatencyRecorder;
  streamed: LatencyRecorder;
  dropped: number;
}

export function freshWindow(): LoadWindow {
  return { plain: new LatencyRecorder(), streamed: new LatencyRecorder(), dropped: 0 };
}

/**
 * Whether call `index` is streamed: spreads `share` of the calls evenly (0.25 → every 4th).
 * The epsilon absorbs binary rounding (800 × 0.29 is 231.99999999999997), so the first `n`
 * calls hold exactly ⌊n × share⌋ streams.
 */
export function isStreamed(index: number, share: number): boolean {
  const streamsBefore = (calls: number) => Math.floor(calls * share + 1e-9);
  return streamsBefore(index + 1) > streamsBefore(index);
}

/** The two kinds of call a soak mixes. */
export interface MixedTargets {
  plain: Target;
  streamed: Target;
  streamedShare: number;
}

/** Ceiling on a soak's wait for its last calls after the arrivals stop. */
const SETTLE_MS = 30_000;

/**
 * An open loop at a fixed rate for `durationMs` (bounded: `rate × duration` arrivals, and at
 * most `maxInFlight` outstanding; beyond that an arrival is dropped and counted, so a stalled
 * router cannot grow the generator's memory). Latency counts from each call's due time, so a
 * stall shows as what arrivals saw. Every `sampleMs` the current window is handed to
 * `onSample` (with the seconds since the start) and a fresh one begins; `whole` collects all.
 */
export async function runFixedRate(options: {
  targets: MixedTargets;
  ratePerSecond: number;
  durationMs: number;
  sampleMs: number;
  onSample: (t: number, window: LoadWindow, inFlight: number) => void;
  maxInFlight?: number;
}): Promise<LoadWindow> {
  const { targets, ratePerSecond, durationMs, sampleMs, onSample } = options;
  const maxInFlight = options.maxInFlight ?? 2048;
  const whole = freshWindow();
  let window = freshWindow();
  const total = Math.max(1, Math.round((ratePerSecond * durationMs) / 1000));
  const intervalMs = 1000 / ratePerSecond;
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  let nextSampleAt = started + sampleMs;
  const fire = (index: number, dueAt: number) => {
    const streamed = isStreamed(index, targets.streamedShare);
    const call = streamed ? targets.streamed.call : targets.plain.call;
    const done = call().then(
      () => {
        const ms = performance.now() - dueAt;
        (streamed ? window.streamed : window.plain).recordOk(ms);
        (streamed ? whole.streamed : whole.plain).recordOk(ms);
      },
      (error: unknown) => {
        (streamed ? window.streamed : window.plain).recordError(error);
        (streamed ? whole.streamed : whole.plain).recordError(error);
      },
    );
    pending.add(done);
    void done.finally(() => pending.delete(done));
  };
  const sampleIfDue = (now: number) => {
    if (now < nextSampleAt) return;
    onSample(Math.round((nextSampleAt - started) / 1000), window, pending.size);
    window = freshWindow();
    nextSampleAt += sampleMs;
  };
  for (let sent = 0; sent < total; ) {
    const now = performance.now();
    for (let dueAt = started + sent * intervalMs; sent < total && dueAt <= now; dueAt += intervalMs) {
      if (pending.size < maxInFlight) fire(sent, dueAt);
      else {
        window.dropped += 1;
        whole.dropped += 1;
      }
      sent += 1;
    }
    sampleIfDue(now);
    if (sent < total)
      await sleep(Math.max(0, Math.min(started + sent * intervalMs, nextSampleAt) - performance.now()));
  }
  const timer = sleep(SETTLE_MS, undefined, { ref: false });
  await Promise.race([Promise.allSettled([...pending]), timer]);
  onSample(Math.round((performance.now() - started) / 1000), window, pending.size);
  return whole;
}
