import { BeamlineError } from "../errors/index.js";
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

/**
 * `cost` less `discountPercent` (0-100) of it, rounded half up to the nano-USD: what a cache
 * hit billed at a discount costs. Billing, quota settlement and reconciliation all use this.
 */
export function discountedCost(cost: Pick<Cost, "costNanoUsd">, discountPercent: number): Cost {
  const costNanoUsd = Math.floor((cost.costNanoUsd * (100 - discountPercent) + 50) / 100);
  return { costNanoUsd, costUsd: formatNanoUsd(costNanoUsd) };
}

export function formatNanoUsd(nano: number): string {
  const whole = Math.floor(nano / 1e9);
  const fraction = String(nano % 1e9).padStart(9, "0");
  return `${whole}.${fraction}`;
}

/** A cost together with everything needed to recompute it later: the catalog version and prices. */
export interface PricedUsage extends Cost {
  catalogVersion: string;
  provider: string;
  model: string;
  prices: { inputPerMTokUsd: number; outputPerMTokUsd: number; cachedInputPerMTokUsd: number };
}

/**
 * Cost of one request at the prices of `modelId` in `catalog`, naming the catalog version it
 * used, so a usage record can say exactly which price list produced its figure.
 * Throws `BL_UNKNOWN_MODEL` when the catalog does not list the model (e.g. removed since routing).
 */
export function priceUsage(
  catalog: { version: string; resolve(name: string): CatalogModel | undefined },
  modelId: string,
  tokens: TokenCounts,
): PricedUsage {
  const model = catalog.resolve(modelId);
  if (!model) {
    throw new BeamlineError(
      "BL_UNKNOWN_MODEL",
      `catalog ${catalog.version} has no model ${modelId}; price it with the catalog version that routed it`,
    );
  }
  return {
    ...computeCost(model, tokens),
    catalogVersion: catalog.version,
    provider: model.provider,
    model: model.id,
    prices: {
      inputPerMTokUsd: model.prices.inputPerMTokUsd,
      outputPerMTokUsd: model.prices.outputPerMTokUsd,
      cachedInputPerMTokUsd: model.prices.cachedInputPerMTokUsd ?? model.prices.inputPerMTokUsd,
    },
  };
}
