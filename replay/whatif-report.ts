import { computeCost, type ModelCatalog, type TokenCounts, withProviders } from "../src/catalog/index.js";
import type { ChatRequest } from "../src/chat/index.js";
import { isBeamlineError } from "../src/errors/index.js";
import {
  decideWithPolicy,
  EMPTY_HEALTH,
  healthKey,
  NO_QUOTA,
  type RouteDecision,
  type VersionedPolicy,
} from "../src/routing/index.js";
import { countPromptTokens, tokenizerFor } from "../src/tokens/index.js";
import { LatencyHistogram } from "./whatif-latency.js";

/** One attempt of a recorded request: who served it and how long it took. */
export interface RecordedAttempt {
  provider: string;
  model: string;
  durationMs: number;
  succeeded: boolean;
  streamed: boolean;
  /** 0-based index of the decision's candidate it tried (absent on old events). */
  candidate?: number;
  /** A successful attempt's time to first token (a plain call's whole answer), ms. */
  firstTokenMs?: number;
  /** A failed attempt: chunks that reached the client. */
  chunksSent?: number;
  /** A failed attempt cancelled as a hedge race's loser. */
  cancelled?: boolean;
}

/**
 * Everything the log says about one finished request that a what-if needs: the request as
 * routed, its recorded decision (seed, health, reachable providers), the policy and catalog
 * versions it was routed with (read from the log), what served it, the tokens billed and the
 * attempts' durations.
 */
export interface RecordedRequest {
  requestId: string;
  /** When the request was accepted (ISO-8601): places it in quota windows. */
  time: string;
  request: ChatRequest;
  decision: RouteDecision;
  /** The tenant's policy at the decision's version. */
  policy: VersionedPolicy;
  /** The catalog at the version the request was routed and billed with. */
  catalog: ModelCatalog;
  outcome: "completed" | "failed";
  /** The error code of a failed request (`BL_QUOTA_EXCEEDED`, `BL_PROVIDER_ERROR`, ...). */
  errorCode?: string;
  /** The model that served the request (the terminal's); absent when none did. */
  served?: { provider: string; model: string };
  /** Tokens billed (a failed request's partial usage included); absent when nothing was billed. */
  usage?: TokenCounts;
  attempts: RecordedAttempt[];
}

/** What to route the recorded requests with instead; an absent field keeps the recorded one. */
export interface WhatIfAlternative {
  /** Another policy document for the tenant, applied to every request. */
  policy?: VersionedPolicy;
  /** Another catalog (models and prices), applied to every request. */
  catalog?: ModelCatalog;
}

/** Latency per model: the median of recorded successful attempts. */
export interface ModelLatency {
  medianMs: number | null;
  samples: number;
}

export interface WhatIfModelRow {
  provider: string;
  model: string;
  recorded: { requests: number; costNanoUsd: number };
  alternative: { requests: number; costNanoUsd: number };
  latency: ModelLatency;
  /**
   * For the requests recorded on this model, the mean of (median latency of the model the
   * alternative picks − median latency of this model), ms; null when no such pair is known.
   */
  expectedLatencyChangeMs: number | null;
}

export interface WhatIfRefusal {
  code: string;
  /** The engine's reason, e.g. the exclusions of BL_NO_ELIGIBLE_MODEL or the budget exceeded. */
  reason: string;
  requests: number;
  /** The first few request ids, in log order. */
  examples: string[];
}

export interface WhatIfReport {
  totals: {
    requests: number;
    recordedCostNanoUsd: number;
    alternativeCostNanoUsd: number;
    costChangeNanoUsd: number;
    /** Requests the alternative routes to another model than the one that served them. */
    rerouted: number;
    /** Of those, requests whose prompt tokens were re-estimated (they had usage). */
    tokensReestimated: number;
    /** Requests the alternative refuses. */
    refused: number;
    expectedLatencyChangeMs: number | null;
    /** Requests left out of the latency change: a median of either model is unknown, or nothing served them. */
    latencyUnknown: number;
  };
  /** Sorted by provider, then model. */
  models: WhatIfModelRow[];
  /** Sorted by code, then reason. */
  refusals: WhatIfRefusal[];
}

/** Distinct refusal reasons kept; later ones are counted under their code with a generic reason. */
const MAX_REFUSAL_GROUPS = 100;
const MAX_EXAMPLES = 5;

interface ModelTotals {
  provider: string;
  model: string;
  recordedRequests: number;
  recordedCost: number;
  alternativeRequests: number;
  alternativeCost: number;
}

/**
 * The what-if accumulator: feed it recorded requests in log order ({@link add}), then read
 * {@link report}. Pure: it routes with the policy engine and prices with the catalog, calls no
 * provider, reads no clock or randomness. It keeps per-model aggregates, one latency histogram
 * per model, model-to-model transition counts, quota spend per calendar day and month, and
 * refusal groups — never the requests — so memory does not grow with the history.
 */
export class WhatIf {
  private readonly models = new Map<string, ModelTotals>();
  private readonly latency = new Map<string, LatencyHistogram>();
  /** `from\nto` → requests: latency changes are computed from final medians at report time. */
  private readonly transitions = new Map<string, number>();
  private readonly refusals = new Map<string, WhatIfRefusal>();
  private readonly daySpend = new Map<string, number>();
  private readonly monthSpend = new Map<string, number>();
  private readonly restricted = new WeakMap<ModelCatalog, Map<string, ModelCatalog>>();
  private requests = 0;
  private rerouted = 0;
  private tokensReestimated = 0;
  private refused = 0;
  private unserved = 0;

  constructor(private readonly alternative: WhatIfAlternative) {}

  /** Adds one recorded request (in log order: quota windows fill in that order). */
  add(recorded: RecordedRequest): void {
    this.requests++;
    for (const attempt of recorded.attempts) {
      if (attempt.succeeded)
        this.histogram(healthKey(attempt.provider, attempt.model)).add(attempt.durationMs);
    }
    const first = recorded.decision.candidates[0];
    const servedBy =
      recorded.served ?? (first ? { provider: first.provider, model: first.model } : undefined);
    const recordedCost =
      recorded.usage && recorded.served
        ? priceOn(recorded.catalog, recorded.served.model, recorded.usage)
        : 0;
    if (servedBy) {
      const row = this.row(servedBy.provider, servedBy.model);
      row.recordedRequests++;
      row.recordedCost += recordedCost;
    }

    const policy = this.alternative.policy ?? recorded.policy;
    const catalog = this.catalogFor(recorded);
    let decision: RouteDecision;
    try {
      decision = decideWithPolicy({
        request: recorded.request,
        operation: recorded.decision.operation,
        policy,
        catalog,
        health: recorded.decision.health ?? EMPTY_HEALTH,
        quota: recorded.decision.quota ?? NO_QUOTA,
        seed: recorded.decision.seed ?? recorded.requestId,
      });
    } catch (error) {
      if (!isBeamlineError(error)) throw error;
      this.refuse(error.code, error.message, recorded.requestId);
      this.unserved++;
      return;
    }
    const pick = decision.candidates[0];
    const model = pick ? catalog.resolve(pick.model) : undefined;
    if (!pick || !model) {
      this.refuse("BL_NO_ELIGIBLE_MODEL", "the policy ranked no candidate", recorded.requestId);
      this.unserved++;
      return;
    }
    const sameModel =
      recorded.served !== undefined &&
      recorded.served.provider === pick.provider &&
      recorded.served.model === pick.model;
    if (recorded.served && !sameModel) this.rerouted++;
    let cost = 0;
    if (recorded.usage) {
      // Another model tokenizes differently and has no warm prompt cache: its prompt is counted
      // with that model's tokenizer (src/tokens, as the router counts it), the answer's length
      // is kept, nothing is served from cache.
      const tokens: TokenCounts = sameModel
        ? recorded.usage
        : {
            promptTokens: countPromptTokens(tokenizerFor(model), recorded.request),
            completionTokens: recorded.usage.completionTokens,
            cachedTokens: 0,
          };
      if (!sameModel) this.tokensReestimated++;
      cost = computeCost(model, tokens).costNanoUsd;
    }
    const refusal = this.overBudget(policy, recorded.time, cost);
    if (refusal) {
      this.refuse("BL_QUOTA_EXCEEDED", refusal, recorded.requestId);
      this.unserved++;
      return;
    }
    const row = this.row(pick.provider, pick.model);
    row.alternativeRequests++;
    row.alternativeCost += cost;
    if (recorded.served && recorded.outcome === "completed") {
      const key = `${healthKey(recorded.served.provider, recorded.served.model)}\n${healthKey(pick.provider, pick.model)}`;
      this.transitions.set(key, (this.transitions.get(key) ?? 0) + 1);
    } else this.unserved++;
  }

  /** The report over every request added so far. */
  report(): WhatIfReport {
    const medians = new Map<string, number | null>();
    for (const [key, histogram] of this.latency) medians.set(key, histogram.median());
    const change = new Map<string, { sum: number; n: number }>();
    let totalSum = 0;
    let totalKnown = 0;
    let unknown = this.unserved;
    for (const [key, count] of [...this.transitions].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const [from = "", to = ""] = key.split("\n");
      const before = medians.get(from) ?? null;
      const after = medians.get(to) ?? null;
      if (before === null || after === null) {
        unknown += count;
        continue;
      }
      const entry = change.get(from) ?? { sum: 0, n: 0 };
      entry.sum += count * (after - before);
      entry.n += count;
      change.set(from, entry);
      totalSum += count * (after - before);
      totalKnown += count;
    }
    const models = [...this.models.values()]
      .sort((a, b) => compare(a.provider, b.provider) || compare(a.model, b.model))
      .map((m): WhatIfModelRow => {
        const key = healthKey(m.provider, m.model);
        const entry = change.get(key);
        return {
          provider: m.provider,
          model: m.model,
          recorded: { requests: m.recordedRequests, costNanoUsd: m.recordedCost },
          alternative: { requests: m.alternativeRequests, costNanoUsd: m.alternativeCost },
          latency: { medianMs: medians.get(key) ?? null, samples: this.latency.get(key)?.count ?? 0 },
          expectedLatencyChangeMs: entry ? round1(entry.sum / entry.n) : null,
        };
      });
    const recordedCost = models.reduce((sum, m) => sum + m.recorded.costNanoUsd, 0);
    const alternativeCost = models.reduce((sum, m) => sum + m.alternative.costNanoUsd, 0);
    return {
      totals: {
        requests: this.requests,
        recordedCostNanoUsd: recordedCost,
        alternativeCostNanoUsd: alternativeCost,
        costChangeNanoUsd: alternativeCost - recordedCost,
        rerouted: this.rerouted,
        tokensReestimated: this.tokensReestimated,
        refused: this.refused,
        expectedLatencyChangeMs: totalKnown > 0 ? round1(totalSum / totalKnown) : null,
        latencyUnknown: unknown,
      },
      models,
      refusals: [...this.refusals.values()]
        .map((r) => ({ ...r, examples: [...r.examples] }))
        .sort((a, b) => compare(a.code, b.code) || compare(a.reason, b.reason)),
    };
  }

  private histogram(key: string): LatencyHistogram {
    let histogram = this.latency.get(key);
    if (!histogram) {
      histogram = new LatencyHistogram();
      this.latency.set(key, histogram);
    }
    return histogram;
  }

  private row(provider: string, model: string): ModelTotals {
    const key = healthKey(provider, model);
    let row = this.models.get(key);
    if (!row) {
      row = {
        provider,
        model,
        recordedRequests: 0,
        recordedCost: 0,
        alternativeRequests: 0,
        alternativeCost: 0,
      };
      this.models.set(key, row);
    }
    return row;
  }

  /** The catalog to route a request with: the alternative's or the recorded one, restricted as the decision was. */
  private catalogFor(recorded: RecordedRequest): ModelCatalog {
    const catalog = this.alternative.catalog ?? recorded.catalog;
    const providers = recorded.decision.catalogProviders;
    if (!providers) return catalog;
    let byProviders = this.restricted.get(catalog);
    if (!byProviders) {
      byProviders = new Map();
      this.restricted.set(catalog, byProviders);
    }
    const key = providers.join(",");
    let restricted = byProviders.get(key);
    if (!restricted) {
      restricted = withProviders(catalog, new Set(providers));
      byProviders.set(key, restricted);
    }
    return restricted;
  }

  /**
   * Spend budgets of the policy over calendar UTC days and months, charged in log order with
   * the alternative's costs: the reason a request would be refused, or undefined (and the
   * spend is charged). Rolling windows, rate, token and concurrency limits are not modelled.
   */
  private overBudget(policy: VersionedPolicy, time: string, cost: number): string | undefined {
    const limits = policy.document.limits;
    if (limits.spendWindow !== "calendar") return undefined;
    const day = time.slice(0, 10);
    const month = time.slice(0, 7);
    const checks = [
      { budget: limits.spendPerDayUsd, spent: this.daySpend, key: day, name: "spendPerDayUsd" },
      { budget: limits.spendPerMonthUsd, spent: this.monthSpend, key: month, name: "spendPerMonthUsd" },
    ];
    for (const check of checks) {
      if (check.budget === undefined) continue;
      const budgetNano = Math.round(check.budget * 1e9);
      if ((check.spent.get(check.key) ?? 0) + cost > budgetNano) {
        return `${check.name} ${check.budget} would be exceeded on ${check.key}`;
      }
    }
    for (const check of checks) check.spent.set(check.key, (check.spent.get(check.key) ?? 0) + cost);
    return undefined;
  }

  private refuse(code: string, message: string, requestId: string): void {
    this.refused++;
    let key = `${code}\n${message}`;
    if (!this.refusals.has(key) && this.refusals.size >= MAX_REFUSAL_GROUPS) key = `${code}\n(other reasons)`;
    let group = this.refusals.get(key);
    if (!group) {
      group = { code, reason: key.slice(code.length + 1), requests: 0, examples: [] };
      this.refusals.set(key, group);
    }
    group.requests++;
    if (group.examples.length < MAX_EXAMPLES) group.examples.push(requestId);
  }
}

/** Cost of recorded tokens at the recorded catalog's prices; 0 when that catalog lacks the model. */
function priceOn(catalog: ModelCatalog, model: string, usage: TokenCounts): number {
  const entry = catalog.resolve(model);
  return entry ? computeCost(entry, usage).costNanoUsd : 0;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Runs a what-if over recorded requests given in any number of chunks; same facts → same report. */
export function whatIfReport(
  alternative: WhatIfAlternative,
  chunks: Iterable<Iterable<RecordedRequest>>,
): WhatIfReport {
  const whatIf = new WhatIf(alternative);
  for (const chunk of chunks) for (const recorded of chunk) whatIf.add(recorded);
  return whatIf.report();
}
