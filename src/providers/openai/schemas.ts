import {
  type ChatChunkDelta,
  type ChatCompletion,
  type ChatCompletionChunk,
  chatAnswerSchema,
  chatChunkChoiceSchema,
  chatChunkDeltaSchema,
  chatCompletionChunkSchema,
  chatUsageSchema,
} from "../../chat/index.js";
import { describeIssues, type ParseOutcome } from "../validation.js";

/**
 * OpenAI's responses as checked at the provider boundary: the canonical schemas of
 * `src/chat/wire.ts`, loosened only where OpenAI-compatible servers are known to differ
 * from OpenAI. The values they produce are canonical; nothing downstream casts.
 */

/**
 * A non-streamed answer. Unlike the canonical completion it must carry usage (quotas and
 * prices need it) and at least one choice; `object` may be left out (some compatible servers).
 */
const completionSchema = chatAnswerSchema.extend({
  object: chatAnswerSchema.shape.object.default("chat.completion"),
  usage: chatUsageSchema,
});

/**
 * A streamed chunk. Some compatible servers send `"choices": null` (or nothing) in the
 * final usage chunk, `"delta": null` in a finishing one, or no `object`.
 */
const chunkSchema = chatCompletionChunkSchema.extend({
  object: chatCompletionChunkSchema.shape.object.default("chat.completion.chunk"),
  choices: chatChunkChoiceSchema
    .extend({
      delta: chatChunkDeltaSchema.nullish().transform((delta): ChatChunkDelta => delta ?? {}),
    })
    .array()
    .nullish()
    .transform((choices) => choices ?? []),
});

/** Checks a parsed non-streamed answer. */
export function parseCompletion(value: unknown): ParseOutcome<ChatCompletion> {
  const result = completionSchema.safeParse(value);
  if (!result.success) return { ok: false, problem: describeIssues(result.error) };
  return { ok: true, value: result.data };
}

/** Checks a parsed `chat.completion.chunk`; `choices` is always an array afterwards. */
export function parseChunk(value: unknown): ParseOutcome<ChatCompletionChunk> {
  const result = chunkSchema.safeParse(value);
  if (!result.success) return { ok: false, problem: describeIssues(result.error) };
  return { ok: true, value: result.data };
}
