/**
 * A soak's time series and what it says about memory: the figures after warm-up, the trend
 * per minute (least squares, so one GC-timed sample does not decide), and the verdicts.
 */

/** One sample, every `--sample-seconds`. Sizes in MB (2^20 bytes), latencies in ms. */
export interface SoakSample {
  /** Seconds since the fixed-rate run began. */
  t: number;
  routerRssMb: number | undefined;
  natsRssMb: number | undefined;
  /** The router's V8 heap (used) and memory held outside it (buffers), from its /metrics. */
  routerHeapUsedMb: number | undefined;
  routerExternalMb: number | undefined;
  /** Calls completed, failed and not sent (too many in flight) within this sample's window. */
  ok: number;
  errors: number;
  dropped: number;
  plainP50: number;
  plainP99: number;
  streamedP50: number;
  streamedP99: number;
  /** Calls in flight when the sample was taken. */
  inFlight: number;
  /** `--diagnose` only: nats-server's live Go heap (read after a forced GC) and its next GC target. */
  natsHeapAllocMb?: number | undefined;
  natsNextGcMb?: number | undefined;
  /** BL_REQUESTS: messages and distinct subjects stored. */
  requestMessages: number | undefined;
  requestSubjects: number | undefined;
}

/** How one process's RSS behaved after warm-up. */
export interface MemoryTrend {
  /** First sample at or after the end of warm-up, and the last sample. */
  afterWarmupMb: number;
  endMb: number;
  peakMb: number;
  /** Least-squares slope over the samples after warm-up. */
  slopeMbPerMinute: number;
}

/** Keys of {@link SoakSample} that hold a memory figure. */
export type MemoryKey = "routerRssMb" | "natsRssMb" | "routerHeapUsedMb" | "natsHeapAllocMb";

/**
 * The trend of one memory figure over the samples at or after `warmupSeconds`; undefined
 * when fewer than two such samples have the figure.
 */
export function memoryTrend(
  samples: SoakSample[],
  key: MemoryKey,
  warmupSeconds: number,
): MemoryTrend | undefined {
  const points = samples
    .filter((s) => s.t >= warmupSeconds)
    .flatMap((s) => {
      const value = s[key];
      return value === undefined ? [] : [{ minute: s.t / 60, value }];
    });
  if (points.length < 2) return undefined;
  const meanX = points.reduce((sum, p) => sum + p.minute, 0) / points.length;
  const meanY = points.reduce((sum, p) => sum + p.value, 0) / points.length;
  let covariance = 0;
  let variance = 0;
  for (const p of points) {
    covariance += (p.minute - meanX) * (p.value - meanY);
    variance += (p.minute - meanX) ** 2;
  }
  return {
    afterWarmupMb: points[0]!.value,
    endMb: points.at(-1)!.value,
    peakMb: Math.max(...points.map((p) => p.value)),
    slopeMbPerMinute: variance === 0 ? 0 : covariance / variance,
  };
}

/**
 * "Flat" as the soak judges it: growing less than 1 MB a minute after warm-up, i.e. under
 * 13 MB over a 15-minute run's 13 judged minutes, which is within the GC's own sawtooth.
 */
export const FLAT_MB_PER_MINUTE = 1;

/** The memory ceilings of issue 13 at the soak rate. */
export const SOAK_CEILINGS_MB = { router: 200, natsServer: 256 } as const;

/** One line of a verdict: what was held to what, and whether it held. */
export interface SoakGoal {
  what: string;
  limit: string;
  actual: string;
  met: boolean;
}

/** The goals a soak is judged by: each process flat after warm-up and under its ceiling. */
export function soakGoals(router: MemoryTrend | undefined, nats: MemoryTrend | undefined): SoakGoal[] {
  const goals: SoakGoal[] = [];
  const judge = (name: string, trend: MemoryTrend | undefined, ceilingMb: number) => {
    goals.push({
      what: `${name} RSS flat after warm-up`,
      limit: `slope ≤ ${FLAT_MB_PER_MINUTE} MB/min`,
      actual: trend ? `${trend.slopeMbPerMinute.toFixed(2)} MB/min` : "no samples",
      met: trend !== undefined && trend.slopeMbPerMinute <= FLAT_MB_PER_MINUTE,
    });
    goals.push({
      what: `${name} peak RSS after warm-up`,
      limit: `≤ ${ceilingMb} MB`,
      actual: trend ? `${trend.peakMb.toFixed(1)} MB` : "no samples",
      met: trend !== undefined && trend.peakMb <= ceilingMb,
    });
  };
  judge("router", router, SOAK_CEILINGS_MB.router);
  judge("nats-server", nats, SOAK_CEILINGS_MB.natsServer);
  return goals;
}

const CSV_COLUMNS: (keyof SoakSample)[] = [
  "t",
  "routerRssMb",
  "natsRssMb",
  "routerHeapUsedMb",
  "routerExternalMb",
  "ok",
  "errors",
  "dropped",
  "plainP50",
  "plainP99",
  "streamedP50",
  "streamedP99",
  "inFlight",
  "requestMessages",
  "requestSubjects",
  "natsHeapAllocMb",
  "natsNextGcMb",
];

/** The series as CSV, one row per sample; an unknown figure is an empty cell. */
export function samplesToCsv(samples: SoakSample[]): string {
  const cell = (value: number | undefined) =>
    value === undefined || Number.isNaN(value) ? "" : String(Math.round(value * 1000) / 1000);
  const rows = samples.map((s) => CSV_COLUMNS.map((column) => cell(s[column])).join(","));
  return `${[CSV_COLUMNS.join(","), ...rows].join("\n")}\n`;
}
