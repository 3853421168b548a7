import type { BeamlineEvent } from "../../events/index.js";

/** One request as the console lists it: envelope facts and outcome, never content. */
export interface RequestRow {
  tenant: string;
  requestId: string;
  /** When the gateway (or ingress) accepted it, ISO-8601; undefined when only its end was seen. */
  acceptedAt?: string;
  frontDoor?: string;
  stream?: boolean;
  /** `pending` until its terminal event is read. */
  outcome: "pending" | "completed" | "failed";
  endedAt?: string;
  /** Accepted to terminal, ms; known once both events were read. */
  latencyMs?: number;
  provider?: string;
  model?: string;
  /** The error code of a failed request. */
  errorCode?: string;
  promptTokens?: number;
  completionTokens?: number;
}

/** Requests over a recent time window. */
export interface WindowSummary {
  windowSeconds: number;
  /** Requests that ended in the window. */
  ended: number;
  failed: number;
  /** Ended requests per second over the window. */
  ratePerSecond: number;
  /** Latency percentiles of the requests that ended in the window, ms; null when none did. */
  p50Ms: number | null;
  p95Ms: number | null;
}

/**
 * The most recent requests, newest first, bounded to `capacity`: a pure fold of the log's
 * `request.accepted` and terminal events, in any order (a terminal read before its accept, as
 * a cut-over start may deliver, still gives one row).
 */
export class RecentRequests {
  readonly #rows = new Map<string, RequestRow>();
  /**
   * Every end seen, oldest first, for the window summary: kept apart from the rows so the rate
   * holds past `capacity` requests per window. Pruned to the longest window asked for, and
   * bounded by {@link MAX_ENDS} whatever the rate.
   */
  #ends: Array<{ atMs: number; latencyMs: number | undefined; failed: boolean }> = [];

  constructor(readonly capacity: number) {}

  /** Folds one event in; events of other types are ignored. */
  apply(event: BeamlineEvent): void {
    if (!TRACKED.has(event.type)) return;
    const key = `${event.tenant}/${event.requestId}`;
    const row = this.#rows.get(key) ?? {
      tenant: event.tenant,
      requestId: event.requestId,
      outcome: "pending",
    };
    const data = event.data as Record<string, unknown>;
    if (event.type === "request.accepted") {
      row.acceptedAt = event.time;
      row.frontDoor = typeof data.frontDoor === "string" ? data.frontDoor : undefined;
      row.stream = data.stream === true;
    } else {
      row.outcome = event.type === "request.completed" ? "completed" : "failed";
      row.endedAt = event.time;
      if (typeof data.provider === "string") row.provider = data.provider;
      if (typeof data.model === "string") row.model = data.model;
      const error = data.error as { code?: unknown } | undefined;
      if (typeof error?.code === "string") row.errorCode = error.code;
      const usage = data.usage as { promptTokens?: unknown; completionTokens?: unknown } | undefined;
      if (typeof usage?.promptTokens === "number") row.promptTokens = usage.promptTokens;
      if (typeof usage?.completionTokens === "number") row.completionTokens = usage.completionTokens;
    }
    if (row.acceptedAt !== undefined && row.endedAt !== undefined) {
      row.latencyMs = Math.max(0, Date.parse(row.endedAt) - Date.parse(row.acceptedAt));
    }
    if (event.type !== "request.accepted") {
      this.#ends.push({
        atMs: Date.parse(event.time),
        latencyMs: row.latencyMs,
        failed: row.outcome === "failed",
      });
      if (this.#ends.length > MAX_ENDS) this.#ends = this.#ends.slice(-MAX_ENDS);
    }
    // Re-inserting keeps the map in order of last change, so the oldest is evicted first.
    this.#rows.delete(key);
    this.#rows.set(key, row);
    if (this.#rows.size > this.capacity) {
      const oldest = this.#rows.keys().next().value;
      if (oldest !== undefined) this.#rows.delete(oldest);
    }
  }

  /** The rows, newest accepted first (a row seen only by its end sorts by its end). */
  list(limit = this.capacity): RequestRow[] {
    const started = (row: RequestRow) => row.acceptedAt ?? row.endedAt ?? "";
    return [...this.#rows.values()]
      .sort((a, b) => started(b).localeCompare(started(a)))
      .slice(0, limit)
      .map((row) => ({ ...row }));
  }

  /** Rate, failures and latency percentiles of the requests that ended in the last `windowSeconds`. */
  summary(nowMs: number, windowSeconds: number): WindowSummary {
    const since = nowMs - windowSeconds * 1000;
    const firstKept = this.#ends.findIndex((end) => end.atMs > since);
    this.#ends = firstKept === -1 ? [] : this.#ends.slice(firstKept);
    const ended = this.#ends;
    const latencies = ended
      .map((end) => end.latencyMs)
      .filter((ms): ms is number => ms !== undefined)
      .sort((a, b) => a - b);
    return {
      windowSeconds,
      ended: ended.length,
      failed: ended.filter((end) => end.failed).length,
      ratePerSecond: ended.length / windowSeconds,
      p50Ms: percentile(latencies, 0.5),
      p95Ms: percentile(latencies, 0.95),
    };
  }
}

/** Ends kept for the summary: 200 000 is over 3 000 requests per second in a 60 s window. */
const MAX_ENDS = 200_000;

const TRACKED = new Set(["request.accepted", "request.completed", "request.failed"]);

/** Nearest-rank percentile of sorted values; null for none. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1]!;
}
