import type { ChatRequest } from "../chat/index.js";
import { isDeterministic } from "./key.js";
import type { CachePolicy } from "./policy.js";

/**
 * What the client asked of the cache with its request headers: `no-cache` (`cache-control:
 * no-cache` or `x-beamline-cache: bypass`) skips the look-up but stores the fresh answer;
 * `no-store` (`cache-control: no-store`) neither looks up nor stores.
 */
export type CacheControl = "no-cache" | "no-store";

/** What the `x-beamline-cache` response header says. */
export type CacheStatus = "hit" | "miss" | "bypass";

/** What the worker does with the cache for one request. */
export interface CachePlan {
  lookup: boolean;
  store: boolean;
  /** The status the client is told when the look-up does not hit. */
  status: "miss" | "bypass";
}

/**
 * The cache plan for a request under the tenant's policy, or undefined when the tenant's cache
 * is off (the client then hears nothing about a cache). Sampled requests are `bypass` unless
 * the policy includes them; so is content the tenant does not let Beamline keep (`hashes`,
 * `none`): a cached answer is content at rest.
 */
export function planCache(input: {
  policy: CachePolicy;
  request: ChatRequest;
  control: CacheControl | undefined;
  contentStore: "encrypted" | "hashes" | "none";
}): CachePlan | undefined {
  const { policy, request, control } = input;
  if (policy.mode === "off") return undefined;
  const eligible =
    input.contentStore === "encrypted" && (policy.includeNonDeterministic || isDeterministic(request));
  if (!eligible || control === "no-store") return { lookup: false, store: false, status: "bypass" };
  if (control === "no-cache") return { lookup: false, store: true, status: "bypass" };
  return { lookup: true, store: true, status: "miss" };
}

/** Reads the client's cache controls from its request headers (names lower-case, as Node gives them). */
export function cacheControlOf(headers: {
  "cache-control"?: string | string[] | undefined;
  "x-beamline-cache"?: string | string[] | undefined;
}): CacheControl | undefined {
  const directives = [headers["cache-control"]]
    .flat()
    .filter((value): value is string => typeof value === "string")
    .flatMap((value) => value.split(","))
    .map((directive) => directive.trim().toLowerCase());
  if (directives.includes("no-store")) return "no-store";
  const bypass = [headers["x-beamline-cache"]]
    .flat()
    .some((value) => value?.trim().toLowerCase() === "bypass");
  if (bypass || directives.includes("no-cache")) return "no-cache";
  return undefined;
}
