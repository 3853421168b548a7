import { z } from "zod";

/**
 * Beamline's canonical chat format is OpenAI's chat-completions wire format: requests are
 * validated against this schema at every boundary, and providers translate to and from it.
 * Unknown top-level fields pass through untouched (providers add parameters faster than
 * gateways do); known fields are checked strictly.
 */
const contentPart = z.looseObject({ type: z.string().min(1) });

/**
 * One tool call of an assistant message, in requests (earlier turns) and in answers alike.
 * Unknown fields, here and in `function`, pass through.
 */
export const chatToolCallSchema = z.looseObject({
  id: z.string(),
  type: z.literal("function"),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

export const chatMessageSchema = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z.array(chatToolCallSchema).optional(),
  tool_call_id: z.string().optional(),
});

export const chatRequestSchema = z.looseObject({
  model: z.string().min(1, "model is required").max(256),
  messages: z.array(chatMessageSchema).min(1, "messages must hold at least one message"),
  stream: z.boolean().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  // One request is one routed, billed and recorded answer: several choices would be several
  // provider calls (or none, where the provider has no `n`) under one usage record.
  n: z
    .number()
    .int()
    .min(1)
    .max(
      1,
      "n > 1 is not supported: Beamline routes, bills and records one answer per request; send n requests instead",
    )
    .nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  user: z.string().max(256).optional(),
  tools: z.array(z.looseObject({ type: z.string() })).optional(),
  tool_choice: z.unknown().optional(),
  response_format: z.looseObject({ type: z.string() }).optional(),
});

export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type ChatRequest = z.infer<typeof chatRequestSchema>;

export type ChatToolCall = z.infer<typeof chatToolCallSchema>;

/*
 * The answer side. One schema per object, used unchanged by the event schemas (what is stored
 * in attempt and terminal events), the NATS provider contract and the providers' translations;
 * the OpenAI adapter checks a view derived from it. Objects are loose so fields Beamline does
 * not read (logprobs, annotations, service_tier, ...) pass through; the fields it reads are
 * typed. Where OpenAI-compatible servers send `null` or leave a field out, the schema says so
 * (`nullish`) rather than each reader guessing. History written before this schema existed
 * holds the same shape, so it still reads (test/unit/chat/completion.test.ts).
 */

const tokenCount = z.number().int().nonnegative();

/** Token usage in OpenAI's shape; `prompt_tokens_details.cached_tokens` where reported. */
export const chatUsageSchema = z.looseObject({
  prompt_tokens: tokenCount,
  completion_tokens: tokenCount,
  /** Left out by some OpenAI-compatible servers. */
  total_tokens: tokenCount.optional(),
  prompt_tokens_details: z.looseObject({ cached_tokens: tokenCount.nullish() }).nullish(),
});

/**
 * `finish_reason`: `null` while a stream runs. Servers that leave it out mean the same, so a
 * missing value reads as `null` (readers test `!== null` to find the last chunk).
 */
const finishReason = z.string().nullable().default(null);

/** The assistant's message in a complete answer. */
export const chatAssistantMessageSchema = z.looseObject({
  role: z.literal("assistant"),
  /** Absent or `null` when the answer is only tool calls or a refusal. */
  content: z.string().nullish(),
  tool_calls: z.array(chatToolCallSchema).nullish(),
  refusal: z.string().nullish(),
});

export const chatChoiceSchema = z.looseObject({
  index: z.number().int().nonnegative(),
  message: chatAssistantMessageSchema,
  finish_reason: finishReason,
});

/**
 * A complete (non-streamed) chat completion, as OpenAI returns it. `choices` may be empty
 * here (a stream that carried only usage assembles to none); the provider boundaries ask
 * for at least one.
 */
export const chatCompletionSchema = z.looseObject({
  id: z.string(),
  object: z.literal("chat.completion"),
  created: z.number(),
  model: z.string(),
  choices: z.array(chatChoiceSchema),
  usage: chatUsageSchema.nullish(),
  system_fingerprint: z.string().nullish(),
});

/**
 * A completion as a provider must answer it: at least one choice. (An assembled stream or a
 * stored refusal may hold none, so the stored schema does not ask for one.)
 */
export const chatAnswerSchema = chatCompletionSchema.extend({
  choices: chatCompletionSchema.shape.choices.min(1, "holds no choice"),
});

/** A tool call's fragment in a streamed delta; fragments with the same `index` add up. */
export const chatChunkToolCallDeltaSchema = z.looseObject({
  index: z.number().int().nonnegative(),
  id: z.string().nullish(),
  type: z.literal("function").nullish(),
  function: z.looseObject({ name: z.string().nullish(), arguments: z.string().nullish() }).nullish(),
});

export const chatChunkDeltaSchema = z.looseObject({
  role: z.literal("assistant").nullish(),
  content: z.string().nullish(),
  tool_calls: z.array(chatChunkToolCallDeltaSchema).nullish(),
  refusal: z.string().nullish(),
});

export const chatChunkChoiceSchema = z.looseObject({
  index: z.number().int().nonnegative(),
  delta: chatChunkDeltaSchema,
  finish_reason: finishReason,
});

/**
 * One streamed chunk (`chat.completion.chunk`), as OpenAI sends it in an SSE `data:` line.
 * With `stream_options.include_usage` the last one carries `usage` and no choices.
 */
export const chatCompletionChunkSchema = z.looseObject({
  id: z.string(),
  object: z.literal("chat.completion.chunk"),
  created: z.number(),
  model: z.string(),
  choices: z.array(chatChunkChoiceSchema),
  usage: chatUsageSchema.nullish(),
  system_fingerprint: z.string().nullish(),
});

export type ChatUsage = z.infer<typeof chatUsageSchema>;
export type ChatAssistantMessage = z.infer<typeof chatAssistantMessageSchema>;
export type ChatChoice = z.infer<typeof chatChoiceSchema>;
/** A complete (non-streamed) chat completion. */
export type ChatCompletion = z.infer<typeof chatCompletionSchema>;
export type ChatChunkToolCallDelta = z.infer<typeof chatChunkToolCallDeltaSchema>;
export type ChatChunkDelta = z.infer<typeof chatChunkDeltaSchema>;
export type ChatChunkChoice = z.infer<typeof chatChunkChoiceSchema>;
/** One streamed chunk (`chat.completion.chunk`). */
export type ChatCompletionChunk = z.infer<typeof chatCompletionChunkSchema>;
