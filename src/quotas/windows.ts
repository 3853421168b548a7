/**
 * Bucketed windows: an amount recorded at a time lands in the bucket `floor(ms / bucketMs)`.
 * A rolling window of length L at time `now` sums every bucket that overlaps (now − L, now],
 * including the oldest one in full. So the sum is never below the true sum over the window and
 * exceeds it by at most one bucket's worth of older amounts: admission may refuse up to one
 * bucket early, never admit over a limit. Calendar windows sum the buckets since the start of
 * the UTC day or month, which bucket sizes divide exactly, so they are exact.
 */

/** Amount per bucket index (as a string key, so the series is plain JSON). */
export type BucketSeries = Readonly<Record<string, number>>;

export interface WindowSpec {
  /** Width of one bucket: the window's precision. */
  bucketMs: number;
  /** Length of the rolling window. */
  lengthMs: number;
  /** How long buckets are kept: the longest window (rolling or calendar) they feed, plus one bucket. */
  keepMs: number;
}

const SECOND_MS = 1_000;
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * The windows quotas use. Per minute: 1 s buckets (a rolling minute counts 60–61 s). Per day:
 * 15 min buckets (rolling: 24 h to 24 h 15 min; calendar day exact). Per month: 6 h buckets
 * (rolling: 30 days to 30 days 6 h; calendar month exact, up to 31 days kept).
 */
export const QuotaWindows = {
  minute: { bucketMs: SECOND_MS, lengthMs: MINUTE_MS, keepMs: MINUTE_MS + SECOND_MS },
  day: { bucketMs: 15 * MINUTE_MS, lengthMs: DAY_MS, keepMs: DAY_MS + 15 * MINUTE_MS },
  month: { bucketMs: 6 * HOUR_MS, lengthMs: 30 * DAY_MS, keepMs: 31 * DAY_MS + 6 * HOUR_MS },
} as const satisfies Record<string, WindowSpec>;

export function bucketOf(spec: WindowSpec, atMs: number): number {
  return Math.floor(atMs / spec.bucketMs);
}

/** The series with `amount` added to the bucket of `atMs`; a bucket that reaches 0 is dropped. */
export function addToSeries(
  series: BucketSeries,
  spec: WindowSpec,
  atMs: number,
  amount: number,
): BucketSeries {
  if (amount === 0) return series;
  const key = String(bucketOf(spec, atMs));
  const next = { ...series };
  const value = (next[key] ?? 0) + amount;
  if (value === 0) delete next[key];
  else next[key] = value;
  return next;
}

/** The series without buckets that can no longer feed any window at `nowMs`. */
export function pruneSeries(series: BucketSeries, spec: WindowSpec, nowMs: number): BucketSeries {
  const oldest = bucketOf(spec, nowMs - spec.keepMs);
  let pruned: Record<string, number> | undefined;
  for (const key of Object.keys(series)) {
    if (Number(key) < oldest) {
      pruned ??= { ...series };
      delete pruned[key];
    }
  }
  return pruned ?? series;
}

/** Sum of the buckets from index `fromBucket` on. */
function sumFrom(series: BucketSeries, fromBucket: number): number {
  let sum = 0;
  for (const [key, value] of Object.entries(series)) if (Number(key) >= fromBucket) sum += value;
  return sum;
}

/** Conservative sum over the rolling window ending at `nowMs` (see the module comment). */
export function rollingSum(series: BucketSeries, spec: WindowSpec, nowMs: number): number {
  return sumFrom(series, bucketOf(spec, nowMs - spec.lengthMs));
}

/**
 * Milliseconds until the rolling sum has dropped by at least `excess` through old buckets
 * leaving the window; undefined when the buckets in the window cannot free that much.
 */
export function rollingFreeAfterMs(
  series: BucketSeries,
  spec: WindowSpec,
  nowMs: number,
  excess: number,
): number | undefined {
  const first = bucketOf(spec, nowMs - spec.lengthMs);
  const inWindow = Object.entries(series)
    .map(([key, value]) => [Number(key), value] as const)
    .filter(([index]) => index >= first)
    .sort((a, b) => a[0] - b[0]);
  let freed = 0;
  for (const [index, value] of inWindow) {
    freed += value;
    // Bucket `index` stops counting once floor((t − L) / B) > index, i.e. at t = (index + 1)·B + L.
    if (freed >= excess) return Math.max(0, (index + 1) * spec.bucketMs + spec.lengthMs - nowMs);
  }
  return undefined;
}

/** Milliseconds until every bucket now in the rolling window has left it (0 when empty). */
export function rollingResetMs(series: BucketSeries, spec: WindowSpec, nowMs: number): number {
  const first = bucketOf(spec, nowMs - spec.lengthMs);
  let newest: number | undefined;
  for (const [key, value] of Object.entries(series)) {
    const index = Number(key);
    if (index >= first && value > 0 && (newest === undefined || index > newest)) newest = index;
  }
  return newest === undefined ? 0 : Math.max(0, (newest + 1) * spec.bucketMs + spec.lengthMs - nowMs);
}

/** Start of the UTC calendar day or month containing `nowMs`, and the start of the next one. */
export function calendarPeriod(period: "day" | "month", nowMs: number): { startMs: number; endMs: number } {
  const now = new Date(nowMs);
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  if (period === "day") {
    const startMs = Date.UTC(y, m, now.getUTCDate());
    return { startMs, endMs: startMs + DAY_MS };
  }
  return { startMs: Date.UTC(y, m, 1), endMs: Date.UTC(y, m + 1, 1) };
}

/** Exact sum since the start of the UTC day or month containing `nowMs`. */
export function calendarSum(
  series: BucketSeries,
  spec: WindowSpec,
  period: "day" | "month",
  nowMs: number,
): number {
  return sumFrom(series, bucketOf(spec, calendarPeriod(period, nowMs).startMs));
}
