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
 * Cost of one request at the model's catalog prices (per million tokens).
 */
export function computeCost(model: Pick<CatalogModel, "prices">, tokens: TokenCounts): Cost {
  const cached = Math.min(tokens.cachedTokens, tokens.promptTokens);
  const uncached = tokens.promptTokens - cached;
  const cachedPrice = model.prices.cachedInputPerMTokUsd ?? model.prices.inputPerMTokUsd;
  // $/MTok is pico-USD per token: an integer for prices of up to six decimals, so the sum
  // is exact and the one rounding (pico → nano, half up) sees the true value.
  const pico = (usdPerMTok: number) => Math.round(usdPerMTok * 1e6);
  const totalPico =
    uncached * pico(model.prices.inputPerMTokUsd) +
    cached * pico(cachedPrice) +
    tokens.completionTokens * pico(model.prices.outputPerMTokUsd);
  const costNanoUsd = Math.floor((totalPico + 500) / 1000);
  return { costNanoUsd, costUsd: formatNanoUsd(costNanoUsd) };
}

export function formatNanoUsd(nano: number): string {
  const whole = Math.floor(nano / 1e9);
  const fraction = String(nano % 1e9).padStart(9, "0");
  return `${whole}.${fraction}`;
}
