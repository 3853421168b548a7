import { decideHedgeBudget, hedgeDeadline, LatencySamples } from "../src/execution/index.js";
import { type HedgePolicy, healthKey } from "../src/routing/index.js";
import { LatencyHistogram } from "./whatif-latency.js";

/** One recorded attempt as a hedge what-if reads it. */
export interface HedgeAttemptFacts {
  provider: string;
  model: string;
  streamed: boolean;
  durationMs: number;
  /** Time to first token of a successful attempt (a plain call's whole answer), ms; absent for a failed one. */
  firstTokenMs?: number;
  /** A failed attempt: whether chunks of it reached the client (then its first token time is unknown). */
  chunksSent?: number;
  /** A failed attempt: true when it was a hedge race's cancelled loser (it stopped for another reason than its own failure). */
  cancelled?: boolean;
}

/** What a hedge what-if needs of one recorded request. */
export interface HedgeFacts {
  requestId: string;
  /** When the request was accepted (ISO-8601): places hedges in the caps' minute and UTC day. */
  acceptedAt: string;
  /** Every recorded attempt in order; the first is the one a hedge races. */
  attempts: HedgeAttemptFacts[];
  /** The decision's candidate after the first attempt's: the hedge's; absent when there is none. */
  next: { provider: string; model: string } | undefined;
  /** The hedge's extra cost estimate: the next candidate's prices × the request's recorded tokens, nano-USD. */
  extraCostNanoUsd: number;
}

export interface HedgeWhatIfReport {
  /** The candidate hedge section, as evaluated. */
  policy: HedgePolicy;
  /** Requests with a recorded first attempt (an answer from the cache has none). */
  requests: number;
  /** First attempts with no first token by the deadline whose hedge would have started. */
  hedged: number;
  /** First attempts that produced a token (or failed) by the deadline. */
  notNeeded: number;
  /** Deadline passed but no hedge started, by reason (the live `declined` reasons). */
  declined: {
    no_latency_data: number;
    no_candidate: number;
    max_hedges_per_minute: number;
    max_extra_cost_per_day: number;
  };
  /** First attempts whose first-token time the log does not give (a stream cut after chunks, a cancelled loser stopped before the deadline). */
  unknown: number;
  /** Sum of the hedged requests' extra cost estimates, nano-USD. */
  extraCostNanoUsd: number;
  /** Always true: no hedge was run, so its cost is the next candidate's prices × the recorded tokens. */
  extraCostEstimated: true;
  /**
   * The latency effect, as a bound only: a hedge cannot produce its first token before its
   * deadline + the next candidate's recorded median time to first token, so
   * `firstTokenLowerBoundMeanMs` is the earliest the hedged requests could have had a token, on
   * average; `recordedFirstTokenMeanMs` is what their first attempts recorded (successful ones).
   */
  latency: {
    recordedFirstTokenMeanMs: number | null;
    firstTokenLowerBoundMeanMs: number | null;
    /** Hedged requests left out of the bound: the next candidate has no recorded first-token time. */
    boundUnknown: number;
  };
}

/**
 * The hedge what-if accumulator: feed it a tenant's requests in stored order ({@link add}), then
 * read {@link report}. Pure. The deadline is src/execution's `hedgeDeadline`, an
 * `afterPercentile` read from the recorded first-token times of the provider/model (and call
 * kind) seen so far, in the same bounded ring a live instance keeps (its last 256 successful
 * calls); the caps are `decideHedgeBudget` over the hedges it has started (rolling minute, UTC
 * day, reserving each hedge's estimate).
 */
export class HedgeWhatIf {
  private readonly samples = new LatencySamples();
  /** provider/model → recorded times to first token, every successful attempt in the window. */
  private readonly firstToken = new Map<string, LatencyHistogram>();
  /** next candidate → hedged requests routed there and the sum of their deadlines, for the bound. */
  private readonly toNext = new Map<string, { requests: number; deadlineSumMs: number }>();
  private readonly recentHedges: number[] = [];
  private readonly extraPerDay = new Map<string, number>();
  private readonly totals = {
    requests: 0,
    hedged: 0,
    notNeeded: 0,
    unknown: 0,
    extra: 0,
    recordedSum: 0,
    recordedKnown: 0,
    declined: { no_latency_data: 0, no_candidate: 0, max_hedges_per_minute: 0, max_extra_cost_per_day: 0 },
  };

  constructor(private readonly policy: HedgePolicy) {}

  add(facts: HedgeFacts): void {
    const first = facts.attempts[0];
    if (first) {
      this.totals.requests++;
      this.decide(facts, first);
    }
    // Observed after deciding: a live instance's deadline only knows calls that ended before.
    for (const attempt of facts.attempts) {
      if (attempt.firstTokenMs === undefined) continue;
      this.samples.observe(attempt.provider, attempt.model, attempt.streamed, attempt.firstTokenMs);
      const key = healthKey(attempt.provider, attempt.model);
      let histogram = this.firstToken.get(key);
      if (!histogram) {
        histogram = new LatencyHistogram();
        this.firstToken.set(key, histogram);
      }
      histogram.add(attempt.firstTokenMs);
    }
  }

  report(): HedgeWhatIfReport {
    let boundSum = 0;
    let boundKnown = 0;
    let boundUnknown = 0;
    for (const [key, entry] of this.toNext) {
      const median = this.firstToken.get(key)?.median() ?? null;
      if (median === null) boundUnknown += entry.requests;
      else {
        boundSum += entry.deadlineSumMs + entry.requests * median;
        boundKnown += entry.requests;
      }
    }
    const t = this.totals;
    return {
      policy: this.policy,
      requests: t.requests,
      hedged: t.hedged,
      notNeeded: t.notNeeded,
      declined: { ...t.declined },
      unknown: t.unknown,
      extraCostNanoUsd: t.extra,
      extraCostEstimated: true,
      latency: {
        recordedFirstTokenMeanMs: t.recordedKnown > 0 ? round1(t.recordedSum / t.recordedKnown) : null,
        firstTokenLowerBoundMeanMs: boundKnown > 0 ? round1(boundSum / boundKnown) : null,
        boundUnknown,
      },
    };
  }

  private decide(facts: HedgeFacts, first: HedgeAttemptFacts): void {
    const deadline = hedgeDeadline(
      this.policy,
      this.samples.samples(first.provider, first.model, first.streamed),
    );
    if ("declined" in deadline) {
      this.totals.declined.no_latency_data++;
      return;
    }
    const afterMs = deadline.afterMs;
    // Did the first attempt still have no token at the deadline?
    let late: boolean | undefined;
    if (first.firstTokenMs !== undefined) late = first.firstTokenMs > afterMs;
    else if ((first.chunksSent ?? 0) > 0) late = undefined;
    else if (first.durationMs > afterMs) late = true;
    else late = first.cancelled ? undefined : false; // a failure before the deadline goes to failover
    if (late === undefined) {
      this.totals.unknown++;
      return;
    }
    if (!late) {
      this.totals.notNeeded++;
      return;
    }
    if (!facts.next) {
      this.totals.declined.no_candidate++;
      return;
    }
    const now = Date.parse(facts.acceptedAt) + afterMs;
    while (this.recentHedges.length > 0 && this.recentHedges[0]! <= now - 60_000) this.recentHedges.shift();
    const day = new Date(now).toISOString().slice(0, 10);
    const budget = decideHedgeBudget(
      this.policy,
      { hedgesLastMinute: this.recentHedges.length, extraCostNanoUsdToday: this.extraPerDay.get(day) ?? 0 },
      facts.extraCostNanoUsd,
    );
    if (!budget.allowed) {
      this.totals.declined[budget.reason]++;
      return;
    }
    this.recentHedges.push(now);
    if (this.extraPerDay.size > 0 && !this.extraPerDay.has(day)) this.extraPerDay.clear(); // days pass in order
    this.extraPerDay.set(day, (this.extraPerDay.get(day) ?? 0) + facts.extraCostNanoUsd);
    this.totals.hedged++;
    this.totals.extra += facts.extraCostNanoUsd;
    if (first.firstTokenMs !== undefined) {
      this.totals.recordedSum += first.firstTokenMs;
      this.totals.recordedKnown++;
    }
    const key = healthKey(facts.next.provider, facts.next.model);
    const entry = this.toNext.get(key) ?? { requests: 0, deadlineSumMs: 0 };
    entry.requests++;
    entry.deadlineSumMs += afterMs;
    this.toNext.set(key, entry);
  }
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}
