/**
 * A streaming median of latencies in fixed memory: a histogram over log-spaced buckets, each
 * 2 % wider than the one before, so the median it reports is within 1 % of the true median of
 * the samples whatever their number. Unlike a bounded random sample it needs no randomness, and
 * unlike an order-sensitive estimator (P²) its result depends only on the multiset of samples:
 * the same history always gives the same figure. About 700 buckets cover 1 ms to 10 minutes.
 */
export class LatencyHistogram {
  private readonly buckets = new Map<number, number>();
  private total = 0;

  /** Adds one latency, milliseconds (negative values count as 0). */
  add(ms: number): void {
    const bucket = bucketOf(ms);
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + 1);
    this.total++;
  }

  /** Samples added. */
  get count(): number {
    return this.total;
  }

  /** The median, whole milliseconds (the middle of its bucket), or null with no samples. */
  median(): number | null {
    if (this.total === 0) return null;
    const rank = Math.ceil(this.total / 2);
    let seen = 0;
    for (const bucket of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(bucket) ?? 0;
      if (seen >= rank) return bucketValue(bucket);
    }
    return null;
  }
}

const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Latencies under 1 ms share one bucket reported as 0. */
const SUB_MILLISECOND = -1;

function bucketOf(ms: number): number {
  return ms < 1 ? SUB_MILLISECOND : Math.floor(Math.log(ms) / LOG_GROWTH);
}

function bucketValue(bucket: number): number {
  return bucket === SUB_MILLISECOND ? 0 : Math.round(GROWTH ** (bucket + 0.5));
}
