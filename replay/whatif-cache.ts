import {
  type CacheControl,
  type CachePolicy,
  cacheKey,
  hitDiscountPercent,
  isDeterministic,
  planCache,
} from "../src/cache/index.js";
import type { ChatRequest } from "../src/chat/index.js";

/** What a cache what-if needs of one recorded request (one with a recorded decision). */
export interface CacheFacts {
  requestId: string;
  /** When the request was accepted (ISO-8601): the look-up time. */
  acceptedAt: string;
  /** When it completed (ISO-8601), its answer then stored; absent for a failed request, which stores nothing. */
  completedAt?: string;
  /** The API key or producer that sent it (the key of a `key`-scoped cache). */
  caller: string | undefined;
  /** The request as routed; absent when its content did not open here (counted as unknown). */
  request: ChatRequest | undefined;
  /** The catalog model the decision ranked first (the model a cache key names). */
  model: string | undefined;
  /** The client's cache controls, as `request.accepted` recorded them. */
  control: CacheControl | undefined;
  /** The recorded usage priced at the recorded catalog's prices, nano-USD (0 without usage). */
  costNanoUsd: number;
}

/** Why a request could not use the candidate cache. */
export const NotCacheableReasons = {
  /** Temperature above 0 or unset, and the policy does not include sampled requests. */
  sampled: "sampled",
  /** The candidate policy keeps content as `hashes` or `none`: a cached answer is content at rest. */
  contentStore: "content_store",
  /** The client sent `cache-control: no-cache`/`no-store` or `x-beamline-cache: bypass`. */
  bypassHeader: "bypass_header",
} as const;
export type NotCacheableReason = (typeof NotCacheableReasons)[keyof typeof NotCacheableReasons];

export interface CacheWhatIfReport {
  /** The candidate cache section, as evaluated. */
  policy: {
    ttlSeconds: number;
    scope: CachePolicy["scope"];
    includeNonDeterministic: boolean;
    discountPercent: number;
  };
  /** Requests evaluated (unknown ones included). */
  requests: number;
  /** Requests that would have been answered from the cache. */
  hits: number;
  /** Cacheable requests looked up without a live entry. */
  misses: number;
  /** What the hits would have saved: their recorded cost × the policy's hit discount, nano-USD. */
  savedNanoUsd: number;
  /** Requests that could not use the cache, by reason. */
  notCacheable: Record<NotCacheableReason, number>;
  /** Requests whose content did not open here: their key is unknown, so they are neither hits nor misses. */
  unknown: number;
}

/** Live entries kept before expired ones are swept (expired entries never hit; sweeping bounds memory). */
const SWEEP_AT = 10_000;

/**
 * The cache what-if accumulator: feed it a tenant's requests in stored order ({@link add}), then
 * read {@link report}. Pure: keys come from src/cache's `cacheKey`, eligibility from its
 * `planCache`, time from the requests' recorded times. An answer is stored when its request
 * completes and kept `ttlSeconds` from then; a request accepted before that time misses (no
 * coalescing, as live). A hit stores nothing and does not extend the entry.
 */
export class CacheWhatIf {
  /** key → when its answer was stored and when it expires, epoch ms. */
  private readonly entries = new Map<string, { storedAt: number; expiresAt: number }>();
  private readonly totals = {
    requests: 0,
    hits: 0,
    misses: 0,
    saved: 0,
    unknown: 0,
    notCacheable: { sampled: 0, content_store: 0, bypass_header: 0 } as Record<NotCacheableReason, number>,
  };

  constructor(
    private readonly tenant: string,
    private readonly policy: CachePolicy,
    private readonly contentStore: "encrypted" | "hashes" | "none",
  ) {}

  add(facts: CacheFacts): void {
    this.totals.requests++;
    if (!facts.request || facts.model === undefined) {
      this.totals.unknown++;
      return;
    }
    const plan = planCache({
      policy: this.policy,
      request: facts.request,
      control: facts.control,
      contentStore: this.contentStore,
    });
    if (!plan) return; // the candidate cache is off: the CLI only builds this accumulator for `exact`
    const now = Date.parse(facts.acceptedAt);
    if (!plan.lookup) this.totals.notCacheable[this.whyNot(facts)]++;
    const key = cacheKey({
      tenant: this.tenant,
      caller: facts.caller,
      scope: this.policy.scope,
      request: facts.request,
      model: facts.model,
    });
    if (plan.lookup) {
      const entry = this.entries.get(key);
      if (entry && entry.storedAt <= now && entry.expiresAt > now) {
        this.totals.hits++;
        this.totals.saved += Math.round((facts.costNanoUsd * hitDiscountPercent(this.policy)) / 100);
        return;
      }
      this.totals.misses++;
    }
    if (plan.store && facts.completedAt !== undefined) {
      if (this.entries.size >= SWEEP_AT) this.sweep(now);
      const storedAt = Date.parse(facts.completedAt);
      this.entries.set(key, { storedAt, expiresAt: storedAt + this.policy.ttlSeconds * 1000 });
    }
  }

  report(): CacheWhatIfReport {
    return {
      policy: {
        ttlSeconds: this.policy.ttlSeconds,
        scope: this.policy.scope,
        includeNonDeterministic: this.policy.includeNonDeterministic,
        discountPercent: hitDiscountPercent(this.policy),
      },
      requests: this.totals.requests,
      hits: this.totals.hits,
      misses: this.totals.misses,
      savedNanoUsd: this.totals.saved,
      notCacheable: { ...this.totals.notCacheable },
      unknown: this.totals.unknown,
    };
  }

  /** The reason `planCache` declined the look-up, checked in its order. */
  private whyNot(facts: CacheFacts): NotCacheableReason {
    if (this.contentStore !== "encrypted") return NotCacheableReasons.contentStore;
    if (!this.policy.includeNonDeterministic && facts.request && !isDeterministic(facts.request))
      return NotCacheableReasons.sampled;
    return NotCacheableReasons.bypassHeader;
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }
}
