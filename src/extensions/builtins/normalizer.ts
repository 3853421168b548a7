import { z } from "zod";
import type { ChatRequest } from "../../chat/index.js";
import type { BuiltinExtension } from "../types.js";

/** Settings of `normalize/v1`. */
export const normalizerSettingsSchema = z.strictObject({
  /** Applied when the request leaves the field out. */
  defaults: z
    .strictObject({
      temperature: z.number().min(0).max(2).optional(),
      max_tokens: z.number().int().positive().optional(),
    })
    .default({}),
  /** Upper bound on `max_tokens` / `max_completion_tokens`; larger values are lowered to it. */
  maxTokensClamp: z.number().int().positive().optional(),
  /** When set, only these models may be requested; others are rejected. */
  allowedModels: z.array(z.string().min(1)).min(1).optional(),
});
export type NormalizerSettings = z.infer<typeof normalizerSettingsSchema>;

/** `normalize/v1`: request defaults, a max-tokens clamp and a model allow-list. */
export const normalizeV1: BuiltinExtension<NormalizerSettings> = {
  name: "normalize",
  version: "v1",
  stages: ["pre", "validate"],
  description: "Fills request defaults, clamps max tokens, enforces a model allow-list",
  parseSettings: (settings) => normalizerSettingsSchema.parse(settings),
  onRequest(request: ChatRequest, settings) {
    if (settings.allowedModels !== undefined && !settings.allowedModels.includes(request.model)) {
      return { verdict: "reject", reason: `model ${request.model} is not allowed for this tenant` };
    }
    const next: ChatRequest = { ...request };
    const changed: string[] = [];
    if (next.temperature == null && settings.defaults.temperature !== undefined) {
      next.temperature = settings.defaults.temperature;
      changed.push("temperature defaulted");
    }
    if (
      next.max_tokens == null &&
      next.max_completion_tokens == null &&
      settings.defaults.max_tokens !== undefined
    ) {
      next.max_tokens = settings.defaults.max_tokens;
      changed.push("max_tokens defaulted");
    }
    const clamp = settings.maxTokensClamp;
    if (clamp !== undefined) {
      for (const field of ["max_tokens", "max_completion_tokens"] as const) {
        const value = next[field];
        if (value != null && value > clamp) {
          next[field] = clamp;
          changed.push(`${field} clamped`);
        }
      }
    }
    if (changed.length === 0) return { verdict: "allow" };
    return { verdict: "modify", value: next, summary: changed.join(", ") };
  },
};
