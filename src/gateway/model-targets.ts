import type { CatalogModel } from "../catalog/index.js";
import type { ChatRequest } from "../chat/index.js";
import { AUTO_MODEL } from "../routing/index.js";
import { promptTokenCounter, tokenizerFor } from "../tokens/index.js";
import type { ModelViews } from "./model-check.js";

/**
 * What the gateway can know about the model a request will reach before the router decides:
 * the catalog models its `model` name may route to for the tenant, the longest answer any of
 * them writes, and the prompt's token count for them. Pure over the live views it is given.
 */

/**
 * The catalog models `model` may route to for `tenant`: a tenant alias listing models → those;
 * an alias that is only a strategy, or `auto` → every catalog model; a catalog id or alias →
 * that model; an unknown name → none. Mirrors the resolution order of the policy engine
 * (tenant aliases shadow catalog names).
 */
export function candidateModels(views: ModelViews, tenant: string, model: string): CatalogModel[] {
  const catalog = views.catalog();
  const aliases = views.policies?.policyFor(tenant).document.routing.aliases;
  if (aliases !== undefined && Object.hasOwn(aliases, model)) {
    const targets = aliases[model]!.models;
    if (targets === undefined) return [...catalog.models];
    return targets.flatMap((name) => catalog.resolve(name) ?? []);
  }
  const direct = catalog.resolve(model);
  if (direct !== undefined) return [direct];
  return model === AUTO_MODEL ? [...catalog.models] : [];
}

/**
 * The largest `maxOutputTokens` among `candidates`: a request asking for more can be served by
 * none of them, so the door lowers it to this. Undefined when any candidate states no limit
 * (only its context window bounds it) or there is no candidate.
 */
export function maxOutputTokensOf(candidates: readonly CatalogModel[]): number | undefined {
  let largest = 0;
  for (const model of candidates) {
    if (model.maxOutputTokens === undefined) return undefined;
    largest = Math.max(largest, model.maxOutputTokens);
  }
  return largest > 0 ? largest : undefined;
}

/**
 * Prompt tokens of `chat` (messages and tools) by the one token counter (src/tokens), for the
 * candidate that counts it highest: the figure is an upper bound whichever model serves it.
 * With no candidate, the approximation is used (the counter's conservative rule).
 */
export function promptTokensFor(chat: ChatRequest, candidates: readonly CatalogModel[]): number {
  const count = promptTokenCounter({ messages: chat.messages, tools: chat.tools });
  if (candidates.length === 0) return count(tokenizerFor({ provider: "unknown", upstreamModel: chat.model }));
  let highest = 0;
  for (const model of candidates) highest = Math.max(highest, count(tokenizerFor(model)));
  return highest;
}
