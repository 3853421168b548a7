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

/** The three prices a usage record names: cached input at the input price when the model has none. */
export interface RecordedPrices {
  inputPerMTokUsd: number;
  outputPerMTokUsd: number;
  cachedInputPerMTokUsd: number;
}

/** The prices a usage record names for `model` (the cached price defaults to the input price). */
export function recordedPrices(model: Pick<CatalogModel, "prices">): RecordedPrices {
  return {
    inputPerMTokUsd: model.prices.inputPerMTokUsd,
    outputPerMTokUsd: model.prices.outputPerMTokUsd,
    cachedInputPerMTokUsd: model.prices.cachedInputPerMTokUsd ?? model.prices.inputPerMTokUsd,
  };
}

/**
 * The sum of costs that were each rounded on their own (a request's answer and the attempts a
 * hedge added): exact, because each is a whole number of nano-USD.
 */
export function sumCosts(costs: ReadonlyArray<Pick<Cost, "costNanoUsd">>): Cost {
  const costNanoUsd = costs.reduce((sum, cost) => sum + cost.costNanoUsd, 0);
  return { costNanoUsd, costUsd: formatNanoUsd(costNanoUsd) };
}

/** An attempt's tokens, as the terminal event carries a hedge extra. */
export interface ExtraUsage extends TokenCounts {
  attempt: number;
  provider: string;
  model: string;
  /** The tokens are Beamline's count: the provider reported nothing. */
  estimated: boolean;
}

/** A hedge extra priced: its tokens, the prices used and its own cost. */
export interface PricedExtra extends ExtraUsage, Cost {
  prices: RecordedPrices;
}

/**
 * Prices each extra attempt at its own model's prices in `catalog`. Returns the name of the
 * first model the catalog does not list instead, so the caller refuses to bill with a guess.
 */
export function priceExtras(
  catalog: { resolve(name: string): CatalogModel | undefined },
  extras: readonly ExtraUsage[],
): PricedExtra[] | { unknownModel: string } {
  const priced: PricedExtra[] = [];
  for (const extra of extras) {
    const model = catalog.resolve(extra.model);
    if (!model) return { unknownModel: extra.model };
    priced.push({
      attempt: extra.attempt,
      provider: extra.provider,
      model: extra.model,
      promptTokens: extra.promptTokens,
      completionTokens: extra.completionTokens,
      cachedTokens: extra.cachedTokens,
      estimated: extra.estimated,
      ...computeCost(model, extra),
      prices: recordedPrices(model),
    });
  }
  return priced;
}

/** A cost together with everything needed to recompute it later: the catalog version and prices. */
export interface PricedUsage extends Cost {
  catalogVersion: string;
  provider: string;
  model: string;
  prices: RecordedPrices;
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
    prices: recordedPrices(model),
  };
}
