import type { CatalogModel } from "./catalog.js";

export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
  /** Part of `promptTokens` served from the provider's cache. */
  cachedTokens: number;
}

export interface Cost {
  /** Billionths of a US dollar, rounded half up once per request. */
  costNanoUsd: number;
  /** The same amount as a decimal string with nine places. */
  costUsd: string;
}

/**
 * Cost of one request at the model's catalog prices. Prices are per million tokens, so one
 * token at $1/MTok is 1,000 nano-USD: the sum is exact in integers before the single rounding.
 */
export function computeCost(model: Pick<CatalogModel, "prices">, tokens: TokenCounts): Cost {
  const cached = Math.min(tokens.cachedTokens, tokens.promptTokens);
  const uncached = tokens.promptTokens - cached;
  const cachedPrice = model.prices.cachedInputPerMTokUsd ?? model.prices.inputPerMTokUsd;
  const nano =
    uncached * model.prices.inputPerMTokUsd * 1000 +
    cached * cachedPrice * 1000 +
    tokens.completionTokens * model.prices.outputPerMTokUsd * 1000;
  const costNanoUsd = Math.round(nano);
  return { costNanoUsd, costUsd: formatNanoUsd(costNanoUsd) };
}

export function formatNanoUsd(nano: number): string {
  const whole = Math.floor(nano / 1e9);
  const fraction = String(nano % 1e9).padStart(9, "0");
  return `${whole}.${fraction}`;
}
