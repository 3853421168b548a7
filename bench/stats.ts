import { createHistogram, type RecordableHistogram } from "node:perf_hooks";

/** What one measured run produced. Latencies in milliseconds, throughput in requests per second. */
export interface RunSummary {
  ok: number;
  errors: number;
  /** Open loop only: arrivals not sent because too many were already in flight. */
  dropped: number;
  elapsedMs: number;
  throughput: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** First error messages, to tell what failed. */
  errorSamples: string[];
}

/**
 * Latency recorder: an HDR histogram in microseconds (three significant digits), so a
 * long run costs constant memory and recording costs no allocation.
 */
export class LatencyRecorder {
  readonly #histogram: RecordableHistogram = createHistogram({ lowest: 1, highest: 600_000_000, figures: 3 });
  ok = 0;
  errors = 0;
  dropped = 0;
  readonly errorSamples: string[] = [];

  recordOk(latencyMs: number): void {
    this.ok += 1;
    this.#histogram.record(Math.max(1, Math.round(latencyMs * 1000)));
  }

  recordError(error: unknown): void {
    this.errors += 1;
    if (this.errorSamples.length < 5) {
      this.errorSamples.push(error instanceof Error ? error.message : String(error));
    }
  }

  summarise(elapsedMs: number): RunSummary {
    const h = this.#histogram;
    const ms = (us: number) => (this.ok === 0 ? Number.NaN : us / 1000);
    return {
      ok: this.ok,
      errors: this.errors,
      dropped: this.dropped,
      elapsedMs,
      throughput: (this.ok / elapsedMs) * 1000,
      p50: ms(h.percentile(50)),
      p90: ms(h.percentile(90)),
      p99: ms(h.percentile(99)),
      max: ms(h.max),
      mean: ms(h.mean),
      errorSamples: [...this.errorSamples],
    };
  }
}
