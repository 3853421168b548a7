import { type BeamlineEvent, isEvent } from "../events/index.js";

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/**
 * What a tenant's quota log says about its hedges, folded by {@link reduceHedgeBudget}: every
 * hedge of the last two days with its extra cost (the estimate while reserved, the real cost
 * once settled), and the last sequence of the tenant's quota log that was folded.
 */
export interface HedgeBudgetState {
  tenant: string;
  /** Last sequence folded of the tenant's quota subjects (every fact, not only hedges). */
  seq: number;
  /** By `<requestId>:<attempt>`. */
  hedges: Record<string, { atMs: number; nanoUsd: number; settled: boolean }>;
}

export function emptyHedgeBudget(tenant: string): HedgeBudgetState {
  return { tenant, seq: 0, hedges: {} };
}

/** The key of one hedge in the state. */
export function hedgeKey(requestId: string, attempt: number): string {
  return `${requestId}:${attempt}`;
}

/**
 * Folds one event of the tenant's quota log (pure). Any event advances `seq`, since the next
 * write expects the log's last sequence; hedge.reserved adds a hedge (once: a repeat is
 * ignored), hedge.settled replaces its estimate with the real cost. Hedges older than two
 * days are dropped: no cap looks back further.
 */
export function reduceHedgeBudget(
  state: HedgeBudgetState,
  event: BeamlineEvent,
  sequence: number,
): HedgeBudgetState {
  const seq = Math.max(state.seq, sequence);
  const atMs = Date.parse(event.time);
  if (isEvent(event, "hedge.reserved")) {
    const key = hedgeKey(event.requestId, event.data.attempt);
    if (state.hedges[key]) return { ...state, seq };
    const hedges = prune(state.hedges, atMs);
    hedges[key] = { atMs, nanoUsd: event.data.estimateNanoUsd, settled: false };
    return { ...state, seq, hedges };
  }
  if (isEvent(event, "hedge.settled")) {
    const key = hedgeKey(event.requestId, event.data.attempt);
    const held = state.hedges[key];
    if (!held || held.settled) return { ...state, seq };
    return {
      ...state,
      seq,
      hedges: { ...state.hedges, [key]: { atMs: held.atMs, nanoUsd: event.data.costNanoUsd, settled: true } },
    };
  }
  return { ...state, seq };
}

function prune(hedges: HedgeBudgetState["hedges"], nowMs: number): HedgeBudgetState["hedges"] {
  const kept: HedgeBudgetState["hedges"] = {};
  for (const [key, hedge] of Object.entries(hedges)) {
    if (hedge.atMs > nowMs - 2 * DAY_MS) kept[key] = hedge;
  }
  return kept;
}

/**
 * The tenant's hedging at `nowMs` (pure): hedges started in the last minute, and the extra
 * cost of this UTC day's hedges (settled, or still held at their estimate).
 */
export function hedgeUsageAt(
  state: HedgeBudgetState,
  nowMs: number,
): { hedgesLastMinute: number; extraCostNanoUsdToday: number } {
  const today = Math.floor(nowMs / DAY_MS);
  let hedgesLastMinute = 0;
  let extraCostNanoUsdToday = 0;
  for (const hedge of Object.values(state.hedges)) {
    if (hedge.atMs > nowMs - MINUTE_MS) hedgesLastMinute++;
    if (Math.floor(hedge.atMs / DAY_MS) === today) extraCostNanoUsdToday += hedge.nanoUsd;
  }
  return { hedgesLastMinute, extraCostNanoUsdToday };
}
