import { z } from "zod";

/**
 * Quota limits, as they appear in a tenant's policy document (per tenant) and on an API key
 * (per key). A shared contract: policies and keys store it, admission enforces it. Every
 * limit is optional; an absent limit does not restrict.
 */
const positiveInt = z.number().int().positive();

export const quotaLimitsSchema = z.object({
  requestsPerMinute: positiveInt.optional(),
  /** Prompt plus completion tokens per minute (reserved at admission, settled to actual use). */
  tokensPerMinute: positiveInt.optional(),
  /** Requests admitted and not yet finished. */
  concurrentRequests: positiveInt.optional(),
  /** Hard spend budgets in US dollars. */
  spendPerDayUsd: z.number().positive().optional(),
  spendPerMonthUsd: z.number().positive().optional(),
  /** `calendar`: UTC day / month; `rolling`: the last 24 h / 30 days. */
  spendWindow: z.enum(["calendar", "rolling"]).default("calendar"),
});

export type QuotaLimits = z.infer<typeof quotaLimitsSchema>;
