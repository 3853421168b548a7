/**
 * The exact response cache's pure core (docs/caching.md): the policy section, the key, which
 * requests may use the cache and what a stored entry holds. Storage is in src/stages.
 */
export { canonicalJson } from "./canonical.js";
export type { CacheControl, CachePlan, CacheStatus } from "./controls.js";
export { cacheControlOf, planCache } from "./controls.js";
export type { CacheEntry } from "./entry.js";
export { cacheEntrySchema } from "./entry.js";
export type { CacheKeyInput } from "./key.js";
export { cacheKey, FIELDS_OUTSIDE_THE_KEY, isDeterministic } from "./key.js";
export type { CachePolicy } from "./policy.js";
export { cachePolicySchema, hitDiscountPercent } from "./policy.js";
