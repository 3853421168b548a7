import { z } from "zod";
import type { ChatCompletion, ChatCompletionChunk } from "../../chat/wire.js";
import { describeIssues, type ParseOutcome } from "../validation.js";

/**
 * The parts of OpenAI's responses Beamline relies on, checked at the provider boundary.
 * Loose objects: fields we do not read pass through untouched.
 */
const usageSchema = z.looseObject({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative().optional(),
  prompt_tokens_details: z.looseObject({ cached_tokens: z.number().int().nonnegative().nullish() }).nullish(),
});

const toolCallSchema = z.looseObject({
  id: z.string(),
  type: z.literal("function"),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

const completionSchema = z.looseObject({
  id: z.string(),
  created: z.number(),
  model: z.string(),
  choices: z
    .array(
      z.looseObject({
        index: z.number().int().nonnegative(),
        message: z.looseObject({
          role: z.string(),
          content: z.string().nullish(),
          tool_calls: z.array(toolCallSchema).nullish(),
        }),
        finish_reason: z.string().nullish(),
      }),
    )
    .min(1, "holds no choice"),
  usage: usageSchema,
});

const chunkSchema = z.looseObject({
  id: z.string(),
  created: z.number(),
  model: z.string(),
  // Some compatible servers send `"choices": null` (or nothing) in the final usage chunk.
  choices: z
    .array(
      z.looseObject({
        index: z.number().int().nonnegative(),
        delta: z
          .looseObject({
            content: z.string().nullish(),
            refusal: z.string().nullish(),
            tool_calls: z
              .array(
                z.looseObject({
                  index: z.number().int().nonnegative(),
                  id: z.string().nullish(),
                  type: z.literal("function").nullish(),
                  function: z
                    .looseObject({ name: z.string().nullish(), arguments: z.string().nullish() })
                    .nullish(),
                }),
              )
              .nullish(),
          })
          .nullish()
          .transform((delta) => delta ?? {}),
        finish_reason: z.string().nullish(),
      }),
    )
    .nullish()
    .transform((choices) => choices ?? []),
  usage: usageSchema.nullish(),
});

/** Checks a parsed non-streamed answer. */
export function parseCompletion(value: unknown): ParseOutcome<ChatCompletion> {
  const result = completionSchema.safeParse(value);
  if (!result.success) return { ok: false, problem: describeIssues(result.error) };
  return { ok: true, value: result.data as unknown as ChatCompletion };
}

/** Checks a parsed `chat.completion.chunk`; `choices` is always an array afterwards. */
export function parseChunk(value: unknown): ParseOutcome<ChatCompletionChunk> {
  const result = chunkSchema.safeParse(value);
  if (!result.success) return { ok: false, problem: describeIssues(result.error) };
  return { ok: true, value: result.data as unknown as ChatCompletionChunk };
}
