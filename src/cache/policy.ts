import { z } from "zod";

/**
 * The `cache` section of a tenant's policy document (docs/caching.md): whether identical
 * requests are answered from a stored answer, for how long, shared by which callers, and what
 * a hit costs. Off unless the tenant asks for it.
 */
export const cachePolicySchema = z.strictObject({
  /** `exact`: a request identical to an earlier one (after pre-processing, same model) is answered from it. */
  mode: z.enum(["exact", "off"]).default("off"),
  /** How long an answer is kept, in seconds (1 s to 30 days). */
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 86_400)
    .default(300),
  /** Who shares entries: every key of the tenant (`tenant`), or only the API key or producer that stored it (`key`). */
  scope: z.enum(["tenant", "key"]).default("tenant"),
  /**
   * Whether requests that sample (temperature above 0, or unset: every provider's default is
   * above 0) are cached too. Off by default: such a caller asked for a fresh answer each time.
   */
  includeNonDeterministic: z.boolean().default(false),
  /** What a hit costs: nothing (`free`), or the answer's price less `discountPercent` (100 = free). */
  billing: z
    .union([z.literal("free"), z.strictObject({ discountPercent: z.number().int().min(0).max(100) })])
    .default("free"),
});

export type CachePolicy = z.infer<typeof cachePolicySchema>;

/** The discount a hit gets under `policy`, in whole percent: 100 means free. */
export function hitDiscountPercent(policy: CachePolicy): number {
  return policy.billing === "free" ? 100 : policy.billing.discountPercent;
}
