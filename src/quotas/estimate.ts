import { type CatalogModel, computeCost, discountedCost } from "../catalog/index.js";

/** Tokens and nano-USD cost of a request, as a reservation or a settlement counts them. */
export interface QuotaAmount {
  tokens: number;
  costNanoUsd: number;
}

/**
 * The admission estimate: the prompt's tokens plus the most the model may produce
 * (`max_tokens`), priced at the model's catalog prices with no cache discount, so it bounds
 * the actual cost from above as long as the prompt estimate does.
 */
export function admissionEstimate(
  model: Pick<CatalogModel, "prices">,
  promptTokens: number,
  maxTokens: number,
): QuotaAmount {
  const { costNanoUsd } = computeCost(model, { promptTokens, completionTokens: maxTokens, cachedTokens: 0 });
  return { tokens: promptTokens + maxTokens, costNanoUsd };
}

/**
 * What a finished request used, priced exactly as billing prices its usage record: less
 * `discountPercent` for an answer from the response cache.
 */
export function actualUsage(
  model: Pick<CatalogModel, "prices">,
  usage: { promptTokens: number; completionTokens: number; cachedTokens: number },
  discountPercent = 0,
): QuotaAmount {
  const cost = computeCost(model, usage);
  return {
    tokens: usage.promptTokens + usage.completionTokens,
    costNanoUsd: discountPercent > 0 ? discountedCost(cost, discountPercent).costNanoUsd : cost.costNanoUsd,
  };
}

/**
 * `actual` plus the attempts a hedge added (each already priced, see `priceExtras`): a spend or
 * token limit counts what the request cost in all, as its usage record bills it.
 */
export function withHedgeExtras(
  actual: QuotaAmount,
  extras: ReadonlyArray<{ promptTokens: number; completionTokens: number; costNanoUsd: number }>,
): QuotaAmount {
  return extras.reduce(
    (sum, extra) => ({
      tokens: sum.tokens + extra.promptTokens + extra.completionTokens,
      costNanoUsd: sum.costNanoUsd + extra.costNanoUsd,
    }),
    actual,
  );
}
