import { z } from "zod";
import { chatCompletionSchema } from "../chat/index.js";

/**
 * One stored answer, as the cache keeps it (sealed with the tenant's data key at rest). It
 * names the request that produced it, so every hit can say where its answer came from.
 */
export const cacheEntrySchema = z.object({
  v: z.literal(1),
  sourceRequestId: z.string(),
  provider: z.string(),
  model: z.string(),
  completion: chatCompletionSchema,
  usage: z.object({
    promptTokens: z.number().int().nonnegative(),
    completionTokens: z.number().int().nonnegative(),
    cachedTokens: z.number().int().nonnegative(),
  }),
  /** When the answer was stored (ISO-8601). */
  storedAt: z.string(),
});

export type CacheEntry = z.infer<typeof cacheEntrySchema>;
