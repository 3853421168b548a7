import { z } from "zod";

/**
 * Anthropic's Messages API wire format (`POST /v1/messages`, API version 2023-06-01), the
 * second dialect Beamline speaks: the gateway accepts it on its Anthropic front door and
 * the Anthropic adapter sends it to providers. Requests are checked strictly on the fields
 * Beamline translates and loosely elsewhere (unknown fields pass through); responses and
 * stream events are checked only on the fields Beamline reads.
 */

/** The API version Beamline speaks, sent as the `anthropic-version` header. */
export const ANTHROPIC_VERSION = "2023-06-01";

const textBlock = z.looseObject({ type: z.literal("text"), text: z.string() });
const imageBlock = z.looseObject({
  type: z.literal("image"),
  source: z.union([
    z.looseObject({ type: z.literal("base64"), media_type: z.string(), data: z.string() }),
    z.looseObject({ type: z.literal("url"), url: z.string() }),
  ]),
});
const toolUseBlock = z.looseObject({
  type: z.literal("tool_use"),
  id: z.string().min(1),
  name: z.string().min(1),
  input: z.unknown(),
});
const toolResultBlock = z.looseObject({
  type: z.literal("tool_result"),
  tool_use_id: z.string().min(1),
  content: z.union([z.string(), z.array(z.union([textBlock, imageBlock]))]).optional(),
  is_error: z.boolean().optional(),
});
/** Block types Beamline does not translate (thinking, documents, ...) keep their shape. */
const otherBlock = z.looseObject({ type: z.string().min(1) });

export const anthropicContentBlockSchema = z.union([
  textBlock,
  imageBlock,
  toolUseBlock,
  toolResultBlock,
  otherBlock,
]);

export const anthropicMessageParamSchema = z.looseObject({
  role: z.enum(["user", "assistant"]),
  content: z.union([z.string(), z.array(anthropicContentBlockSchema)]),
});

export const anthropicToolSchema = z.looseObject({
  name: z.string().min(1),
  description: z.string().optional(),
  input_schema: z.looseObject({ type: z.string() }),
});

export const anthropicToolChoiceSchema = z.union([
  z.looseObject({ type: z.enum(["auto", "any"]), disable_parallel_tool_use: z.boolean().optional() }),
  z.looseObject({
    type: z.literal("tool"),
    name: z.string().min(1),
    disable_parallel_tool_use: z.boolean().optional(),
  }),
  z.looseObject({ type: z.literal("none") }),
]);

/** A Messages API request as clients send it. */
export const anthropicRequestSchema = z.looseObject({
  model: z.string().min(1, "model is required").max(256),
  max_tokens: z.number().int().positive(),
  messages: z.array(anthropicMessageParamSchema).min(1, "messages must hold at least one message"),
  system: z.union([z.string(), z.array(textBlock)]).optional(),
  stop_sequences: z.array(z.string()).optional(),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().nonnegative().optional(),
  tools: z.array(anthropicToolSchema).optional(),
  tool_choice: anthropicToolChoiceSchema.optional(),
  metadata: z.looseObject({ user_id: z.string().max(256).nullish() }).optional(),
  /** Extended thinking: `{type: "enabled", budget_tokens}`, `{type: "disabled"}`, ... */
  thinking: z.looseObject({ type: z.string().min(1) }).optional(),
});

export type AnthropicContentBlock = z.infer<typeof anthropicContentBlockSchema>;
export type AnthropicMessageParam = z.infer<typeof anthropicMessageParamSchema>;
export type AnthropicTool = z.infer<typeof anthropicToolSchema>;
export type AnthropicToolChoice = z.infer<typeof anthropicToolChoiceSchema>;
export type AnthropicRequest = z.infer<typeof anthropicRequestSchema>;

/** Token usage as Anthropic reports it; `input_tokens` excludes cache reads and writes. */
export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

export type AnthropicResponseBlock =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: unknown }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "redacted_thinking"; data: string };

export type AnthropicStopReason =
  | "end_turn"
  | "max_tokens"
  | "stop_sequence"
  | "tool_use"
  | "pause_turn"
  | "refusal";

/** A complete (non-streamed) answer of the Messages API. */
export interface AnthropicMessage {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: AnthropicResponseBlock[];
  stop_reason: AnthropicStopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

/** Anthropic's error body: `{"type":"error","error":{"type","message"}}`. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string; [extra: string]: unknown };
  request_id?: string;
}

const nonNegative = z.number().int().nonnegative();
const usageSchema = z.looseObject({
  input_tokens: nonNegative,
  output_tokens: nonNegative,
  cache_creation_input_tokens: nonNegative.nullish(),
  cache_read_input_tokens: nonNegative.nullish(),
});

const responseBlockSchema = z.union([
  z.looseObject({ type: z.literal("text"), text: z.string() }),
  z.looseObject({ type: z.literal("tool_use"), id: z.string(), name: z.string(), input: z.unknown() }),
  // Thinking and server-tool blocks are read past, not translated.
  z.looseObject({ type: z.string() }),
]);

/** The fields of a Messages API answer Beamline reads. */
export const anthropicMessageSchema = z.looseObject({
  id: z.string(),
  type: z.literal("message"),
  role: z.literal("assistant"),
  model: z.string(),
  content: z.array(responseBlockSchema),
  stop_reason: z.string().nullish(),
  stop_sequence: z.string().nullish(),
  usage: usageSchema,
});

/** One event of a streamed answer, discriminated by `type` (equal to the SSE event name). */
export const anthropicStreamEventSchema = z.discriminatedUnion("type", [
  z.looseObject({
    type: z.literal("message_start"),
    message: z.looseObject({
      id: z.string(),
      model: z.string(),
      usage: usageSchema.partial().extend({ input_tokens: nonNegative }),
    }),
  }),
  z.looseObject({
    type: z.literal("content_block_start"),
    index: nonNegative,
    content_block: responseBlockSchema,
  }),
  z.looseObject({
    type: z.literal("content_block_delta"),
    index: nonNegative,
    delta: z.union([
      z.looseObject({ type: z.literal("text_delta"), text: z.string() }),
      z.looseObject({ type: z.literal("input_json_delta"), partial_json: z.string() }),
      // thinking_delta, signature_delta, citations_delta: read past.
      z.looseObject({ type: z.string() }),
    ]),
  }),
  z.looseObject({ type: z.literal("content_block_stop"), index: nonNegative }),
  z.looseObject({
    type: z.literal("message_delta"),
    delta: z.looseObject({ stop_reason: z.string().nullish(), stop_sequence: z.string().nullish() }),
    // Cumulative counts; recent API versions repeat the input counts here too.
    usage: usageSchema.partial().nullish(),
  }),
  z.looseObject({ type: z.literal("message_stop") }),
  z.looseObject({ type: z.literal("ping") }),
  z.looseObject({
    type: z.literal("error"),
    error: z.looseObject({ type: z.string(), message: z.string() }),
  }),
]);

export type AnthropicStreamEvent = z.infer<typeof anthropicStreamEventSchema>;
