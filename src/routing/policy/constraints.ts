import type { CatalogModel } from "../../catalog/index.js";
import type { RoutingConstraints, Strategy } from "./document.js";
import type { ModelHealth } from "./inputs.js";
import type { RequestNeeds } from "./request-needs.js";

/** Why a model was not a candidate. Stable strings: decisions record them and dashboards group by them. */
export const ExclusionReasons = {
  notInCatalog: "not-in-catalog",
  providerNotAllowed: "provider-not-allowed",
  modelNotAllowed: "model-not-allowed",
  missingCapability: "missing-capability",
  contextTooSmall: "context-too-small",
  outputLimit: "output-limit",
  residency: "residency",
  overPriceCap: "over-price-cap",
  overBudget: "over-budget",
  breakerOpen: "breaker-open",
  notInStrategy: "not-in-strategy",
  /** A chat model named for embeddings or the other way round (a tenant alias listing both). */
  wrongKind: "wrong-kind",
} as const;
export type ExclusionReason = (typeof ExclusionReasons)[keyof typeof ExclusionReasons];

export interface Exclusion {
  provider: string;
  model: string;
  reason: ExclusionReason;
  /** What exactly failed, for people: "needs vision", "needs 140000 tokens, window 128000", ... */
  detail: string;
}

/** What the checks know about one model for this request. */
export interface ModelFacts {
  model: CatalogModel;
  /** The request's prompt tokens as this model's tokenizer counts them (src/tokens). */
  promptTokens: number;
  estimatedCostNanoUsd: number;
  health: ModelHealth | undefined;
}

export interface CheckContext {
  needs: RequestNeeds;
  constraints: RoutingConstraints;
  strategy: Strategy;
  remainingSpendNanoUsd: number | undefined;
}

const NANO_PER_USD = 1e9;

/** Models a strategy itself limits the choice to (a priority order, a split's variants), or undefined for all. */
function strategyModels(strategy: Strategy): ReadonlySet<string> | undefined {
  if (strategy.type === "priority") return new Set(strategy.order);
  if (strategy.type === "weighted") return new Set(strategy.variants.map((v) => v.model));
  return undefined;
}

/**
 * The first constraint `facts` breaks, or undefined when the model is eligible. Checks run in
 * a fixed order (policy scope, then fit, then money, then health), so the recorded reason is
 * stable for the same inputs.
 */
export function firstViolation(facts: ModelFacts, context: CheckContext): Exclusion | undefined {
  const { model, promptTokens, estimatedCostNanoUsd, health } = facts;
  const { needs, constraints } = context;
  const exclude = (reason: ExclusionReason, detail: string): Exclusion => ({
    provider: model.provider,
    model: model.id,
    reason,
    detail,
  });
  if (constraints.allowedProviders && !constraints.allowedProviders.includes(model.provider)) {
    return exclude(
      ExclusionReasons.providerNotAllowed,
      `provider ${model.provider} is not allowed by the policy`,
    );
  }
  if (constraints.allowedModels && !constraints.allowedModels.includes(model.id)) {
    return exclude(ExclusionReasons.modelNotAllowed, `model ${model.id} is not allowed by the policy`);
  }
  const inStrategy = strategyModels(context.strategy);
  if (inStrategy && !inStrategy.has(model.id)) {
    return exclude(ExclusionReasons.notInStrategy, `not listed by the ${context.strategy.type} strategy`);
  }
  const wanted = new Set([...needs.capabilities, ...constraints.requiredCapabilities]);
  const missing = [...wanted].filter((capability) => !model.capabilities[capability]);
  if (missing.length > 0) {
    return exclude(ExclusionReasons.missingCapability, `lacks ${missing.join(", ")}`);
  }
  const contextNeeded = promptTokens + (needs.requestedOutputTokens ?? 0);
  if (model.contextWindow !== undefined && contextNeeded > model.contextWindow) {
    return exclude(
      ExclusionReasons.contextTooSmall,
      `needs about ${contextNeeded} tokens, context window is ${model.contextWindow}`,
    );
  }
  if (
    needs.requestedOutputTokens !== undefined &&
    model.maxOutputTokens !== undefined &&
    needs.requestedOutputTokens > model.maxOutputTokens
  ) {
    return exclude(
      ExclusionReasons.outputLimit,
      `asks for ${needs.requestedOutputTokens} output tokens, the model writes at most ${model.maxOutputTokens}`,
    );
  }
  if (constraints.residency && !constraints.residency.some((tag) => model.residency.includes(tag))) {
    return exclude(
      ExclusionReasons.residency,
      `residency [${model.residency.join(", ")}] has none of [${constraints.residency.join(", ")}]`,
    );
  }
  const caps = [constraints.maxPricePerRequestUsd];
  if (context.strategy.type === "quality") caps.push(context.strategy.maxPricePerRequestUsd);
  for (const capUsd of caps) {
    if (capUsd !== undefined && estimatedCostNanoUsd > Math.round(capUsd * NANO_PER_USD)) {
      return exclude(
        ExclusionReasons.overPriceCap,
        `estimated ${estimatedCostNanoUsd} nano-USD is above the cap of ${capUsd} USD per request`,
      );
    }
  }
  if (context.remainingSpendNanoUsd !== undefined && estimatedCostNanoUsd > context.remainingSpendNanoUsd) {
    return exclude(
      ExclusionReasons.overBudget,
      `estimated ${estimatedCostNanoUsd} nano-USD is above the ${Math.max(0, context.remainingSpendNanoUsd)} nano-USD left in the budget`,
    );
  }
  if (health?.breaker === "open" && constraints.openBreaker === "exclude") {
    return exclude(ExclusionReasons.breakerOpen, "circuit breaker is open");
  }
  return undefined;
}
