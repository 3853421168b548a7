import type { ModelFacts } from "./constraints.js";
import type { Strategy } from "./document.js";
import { pickWeighted, stickyPoint } from "./sticky.js";

/** A candidate with the score its strategy gave it (higher is better, 0..1) and why. */
export interface RankedFacts {
  facts: ModelFacts;
  score: number;
  reason: string;
}

/** What a strategy may read besides the eligible models. */
export interface StrategyContext {
  /** The key that keeps a caller on one split variant, when the request carries one. */
  stickyKey: string | undefined;
  /** Per-request seed: decides the split when there is no sticky key. */
  seed: string;
}

/** Cheaper first, then model id: the tie-break every strategy ends with, so rankings are total. */
function byCostThenId(a: ModelFacts, b: ModelFacts): number {
  return (
    a.estimatedCostNanoUsd - b.estimatedCostNanoUsd ||
    (a.model.id < b.model.id ? -1 : a.model.id > b.model.id ? 1 : 0)
  );
}

function sortByScore(ranked: RankedFacts[]): RankedFacts[] {
  return ranked.sort((a, b) => b.score - a.score || byCostThenId(a.facts, b.facts));
}

/** Normalises `value` into 0..1 where `best` maps to 1 and `worst` to 0; all-equal values map to 1. */
function normalise(value: number, best: number, worst: number): number {
  if (best === worst) return 1;
  return (worst - value) / (worst - best);
}

function latencyOf(facts: ModelFacts, figure: "ewma" | "p95"): number | undefined {
  return figure === "ewma" ? facts.health?.latencyEwmaMs : facts.health?.p95Ms;
}

function cheapest(eligible: ModelFacts[]): RankedFacts[] {
  const minCost = Math.min(...eligible.map((f) => f.estimatedCostNanoUsd));
  return sortByScore(
    eligible.map((facts) => ({
      facts,
      score: facts.estimatedCostNanoUsd === 0 ? 1 : minCost / facts.estimatedCostNanoUsd,
      reason: `estimated cost ${facts.estimatedCostNanoUsd} nano-USD`,
    })),
  );
}

function fastest(eligible: ModelFacts[], figure: "ewma" | "p95"): RankedFacts[] {
  const known = eligible.map((f) => latencyOf(f, figure)).filter((ms): ms is number => ms !== undefined);
  const minLatency = Math.min(...known);
  const ranked = eligible.map((facts) => {
    const ms = latencyOf(facts, figure);
    if (ms === undefined) return { facts, score: 0, reason: `${figure} latency unknown` };
    return { facts, score: ms === 0 ? 1 : minLatency / ms, reason: `${figure} latency ${ms} ms` };
  });
  // Unknown latency ranks after every known one, even a known-slow one: a measured model is a safer bet.
  return ranked.sort((a, b) => {
    const aKnown = latencyOf(a.facts, figure) !== undefined;
    const bKnown = latencyOf(b.facts, figure) !== undefined;
    if (aKnown !== bKnown) return aKnown ? -1 : 1;
    return b.score - a.score || byCostThenId(a.facts, b.facts);
  });
}

function quality(eligible: ModelFacts[]): RankedFacts[] {
  return sortByScore(
    eligible.map((facts) => ({
      facts,
      score: facts.model.qualityScore ?? 0,
      reason:
        facts.model.qualityScore === undefined ? "quality unknown" : `quality ${facts.model.qualityScore}`,
    })),
  );
}

function weighted(
  eligible: ModelFacts[],
  strategy: Extract<Strategy, { type: "weighted" }>,
  context: StrategyContext,
): RankedFacts[] {
  // The wheel spans every configured variant, eligible or not, so one variant dropping out
  // (breaker, budget) moves only its own callers and leaves everyone else's assignment alone.
  const bucketKey = context.stickyKey !== undefined ? `key:${context.stickyKey}` : `seed:${context.seed}`;
  const weights = strategy.variants.map((v) => v.weight);
  const total = weights.reduce((sum, w) => sum + w, 0);
  const chosen = strategy.variants[pickWeighted(weights, stickyPoint(`${strategy.salt}|${bucketKey}`))];
  const via = context.stickyKey !== undefined ? `sticky ${strategy.stickyBy}` : "per-request seed";
  const order = new Map(strategy.variants.map((v, i) => [v.model, i]));
  const weightOf = new Map(strategy.variants.map((v) => [v.model, v.weight]));
  const ranked = eligible.map((facts) => {
    const weight = weightOf.get(facts.model.id) ?? 0;
    const isChosen = facts.model.id === chosen?.model;
    return {
      facts,
      // The assigned variant scores 1; the others their weight share, as fallbacks.
      score: isChosen ? 1 : weight / total,
      reason: isChosen
        ? `split variant assigned by ${via} (weight ${weight} of ${total})`
        : `fallback split variant (weight ${weight} of ${total})`,
    };
  });
  return ranked.sort(
    (a, b) => b.score - a.score || (order.get(a.facts.model.id) ?? 0) - (order.get(b.facts.model.id) ?? 0),
  );
}

function priority(eligible: ModelFacts[], strategy: Extract<Strategy, { type: "priority" }>): RankedFacts[] {
  const n = strategy.order.length;
  const position = new Map(strategy.order.map((model, i) => [model, i]));
  return eligible
    .map((facts) => {
      const i = position.get(facts.model.id) ?? n;
      return { facts, score: (n - i) / n, reason: `priority ${i + 1} of ${n}` };
    })
    .sort((a, b) => b.score - a.score);
}

function balanced(eligible: ModelFacts[], strategy: Extract<Strategy, { type: "balanced" }>): RankedFacts[] {
  const { cost: wCost, latency: wLatency, quality: wQuality } = strategy.weights;
  const costs = eligible.map((f) => f.estimatedCostNanoUsd);
  const latencies = eligible.map((f) => latencyOf(f, "ewma")).filter((ms): ms is number => ms !== undefined);
  const [minCost, maxCost] = [Math.min(...costs), Math.max(...costs)];
  const [minLatency, maxLatency] = [Math.min(...latencies), Math.max(...latencies)];
  return sortByScore(
    eligible.map((facts) => {
      const costPart = normalise(facts.estimatedCostNanoUsd, minCost, maxCost);
      const ms = latencyOf(facts, "ewma");
      // Unknown latency counts as the worst: the score must not reward a lack of data.
      const latencyPart = ms === undefined ? 0 : normalise(ms, minLatency, maxLatency);
      const qualityPart = facts.model.qualityScore ?? 0;
      const score =
        (wCost * costPart + wLatency * latencyPart + wQuality * qualityPart) / (wCost + wLatency + wQuality);
      const show = (x: number) => x.toFixed(3);
      return {
        facts,
        score,
        reason: `balanced: cost ${show(costPart)}, latency ${ms === undefined ? "unknown" : show(latencyPart)}, quality ${show(qualityPart)}`,
      };
    }),
  );
}

/** Ranks eligible models best first, as the strategy says. `eligible` is non-empty. */
export function rankByStrategy(
  eligible: ModelFacts[],
  strategy: Strategy,
  context: StrategyContext,
): RankedFacts[] {
  switch (strategy.type) {
    case "cheapest":
      return cheapest(eligible);
    case "fastest":
      return fastest(eligible, strategy.latency);
    case "quality":
      return quality(eligible);
    case "weighted":
      return weighted(eligible, strategy, context);
    case "priority":
      return priority(eligible, strategy);
    case "balanced":
      return balanced(eligible, strategy);
  }
}
