import { z } from "zod";

// The quota facts' data, owned by the quota arithmetic that produces them; the event catalogue
// (`quota.reserved` / `settled` / `expired`, src/events) stores exactly these.

/** Tokens and cost a quota reservation holds or a settlement records. Cost in nano-USD. */
const quotaAmountSchema = z.object({
  tokens: z.number().int().nonnegative(),
  costNanoUsd: z.number().int().nonnegative(),
});

export const quotaReservedV1 = z.object({
  apiKeyId: z.string().optional(),
  /** 1 for the first reservation of a request; a re-admission after expiry reserves again as 2, … */
  attempt: z.number().int().positive(),
  /** Prompt tokens plus max tokens, priced at the candidate's catalog price. */
  estimate: quotaAmountSchema,
  /** ISO time after which an unsettled reservation may be expired by any admitter. */
  expiresAt: z.string(),
  provider: z.string(),
  model: z.string(),
  catalogVersion: z.string(),
});

export const quotaSettledV1 = z.object({
  apiKeyId: z.string().optional(),
  /** What the request used, from its terminal event at the catalog price. */
  actual: quotaAmountSchema,
  /** True when the reservation had already expired: the actual use is added, nothing released. */
  afterExpiry: z.boolean(),
  catalogVersion: z.string(),
});

export const quotaExpiredV1 = z.object({
  apiKeyId: z.string().optional(),
  attempt: z.number().int().positive(),
  /** The reserved amounts handed back. */
  released: quotaAmountSchema,
});

export type QuotaReserved = z.infer<typeof quotaReservedV1>;
export type QuotaSettled = z.infer<typeof quotaSettledV1>;
export type QuotaExpired = z.infer<typeof quotaExpiredV1>;
