import { z } from "zod";

/**
 * Extended thinking in the canonical format. OpenAI's chat format has no place for a model's
 * signed reasoning, so Beamline carries Anthropic's blocks as they are, under one extension
 * field, on messages and stream deltas alike:
 * - request: `thinking` (Anthropic's `{type: "enabled", budget_tokens}` ...) at the top level;
 * - messages: `thinking_blocks`, the `thinking` / `redacted_thinking` blocks of an assistant
 *   turn, in answers and in earlier turns sent back (Anthropic checks their signatures);
 * - chunks: `delta.thinking_blocks`, fragments merged by `index` like tool-call deltas.
 * Providers that cannot take them (OpenAI-compatible, Gemini) never receive these fields.
 */

/** The request field that asks for extended thinking, in Anthropic's shape. */
export const THINKING_FIELD = "thinking";
/** The message field that holds the thinking blocks of an assistant turn. */
export const THINKING_BLOCKS_FIELD = "thinking_blocks";

export const thinkingBlockSchema = z.union([
  z.looseObject({ type: z.literal("thinking"), thinking: z.string(), signature: z.string() }),
  z.looseObject({ type: z.literal("redacted_thinking"), data: z.string() }),
]);

/** One thinking block of an assistant turn. */
export type ThinkingBlock = z.infer<typeof thinkingBlockSchema>;

/** A streamed fragment of a thinking block: `thinking` and `signature` add up per `index`. */
export const thinkingBlockDeltaSchema = z.looseObject({
  index: z.number().int().nonnegative(),
  type: z.enum(["thinking", "redacted_thinking"]).optional(),
  thinking: z.string().optional(),
  signature: z.string().optional(),
  data: z.string().optional(),
});

export type ThinkingBlockDelta = z.infer<typeof thinkingBlockDeltaSchema>;

// Built once: a schema made per call cost a zod construction (and, for an absent field, a
// failed parse with its error object) on every streamed chunk, 4 % of a streaming router's CPU.
const thinkingBlocksSchema = z.array(thinkingBlockSchema);
const thinkingDeltasSchema = z.array(thinkingBlockDeltaSchema);

/** The thinking blocks a message carries, or none (a malformed field reads as none). */
export function thinkingBlocksOf(message: Record<string, unknown> | undefined): ThinkingBlock[] {
  const field = message?.[THINKING_BLOCKS_FIELD];
  if (field === undefined) return [];
  const parsed = thinkingBlocksSchema.safeParse(field);
  return parsed.success ? parsed.data : [];
}

/** The thinking fragments a chunk delta carries, or none. */
export function thinkingDeltasOf(delta: Record<string, unknown> | undefined): ThinkingBlockDelta[] {
  const field = delta?.[THINKING_BLOCKS_FIELD];
  if (field === undefined) return [];
  const parsed = thinkingDeltasSchema.safeParse(field);
  return parsed.success ? parsed.data : [];
}
