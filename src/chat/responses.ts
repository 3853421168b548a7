import { z } from "zod";

/**
 * OpenAI's Responses API wire format (`POST /v1/responses`), the third dialect Beamline's
 * gateway speaks. Beamline does not run a second model pipeline for it: a Responses request is
 * translated onto the canonical chat request (src/chat/wire.ts) and the canonical answer back
 * (responses-translate.ts, responses-stream.ts). Requests are checked strictly on the fields
 * Beamline translates and loosely elsewhere; each input item is checked by its own schema
 * (`responsesInputItemSchemas`) so a problem names the item it is in.
 */

/** One input item before its own check: `type` absent means a message (EasyInputMessage). */
const looseItem = z.looseObject({ type: z.string().min(1).optional() });

/** A function tool (`FunctionTool`): the one kind of tool with a canonical equivalent. */
export const responsesFunctionToolSchema = z.looseObject({
  type: z.literal("function"),
  name: z.string().min(1),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

/** A tool as sent; only function tools translate (hosted tools have no canonical equivalent). */
const anyTool = z.looseObject({ type: z.string().min(1) });

const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.looseObject({ type: z.literal("function"), name: z.string().min(1) }),
  z.looseObject({ type: z.string().min(1) }),
]);

const textFormat = z.union([
  z.looseObject({ type: z.literal("text") }),
  z.looseObject({ type: z.literal("json_object") }),
  z.looseObject({
    type: z.literal("json_schema"),
    name: z.string().min(1),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().optional(),
    strict: z.boolean().nullish(),
  }),
]);

/** A Responses API request as clients send it (`ResponseCreateParams`). */
export const responsesRequestSchema = z.looseObject({
  model: z.string().min(1, "model is required").max(256),
  input: z.union([z.string(), z.array(looseItem)]).optional(),
  instructions: z.string().nullish(),
  previous_response_id: z.string().min(1).max(128).nullish(),
  tools: z.array(anyTool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  max_output_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  /** Up to 16 pairs; keys up to 64 characters, values up to 512 (OpenAI's limits). */
  metadata: z
    .record(z.string().max(64), z.string().max(512))
    .refine((value) => Object.keys(value).length <= 16, "metadata holds at most 16 keys")
    .nullish(),
  store: z.boolean().nullish(),
  stream: z.boolean().nullish(),
  user: z.string().max(256).optional(),
  text: z.looseObject({ format: textFormat.optional() }).nullish(),
  reasoning: z.looseObject({ effort: z.string().nullish() }).nullish(),
  background: z.boolean().nullish(),
  conversation: z.unknown().optional(),
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;
export type ResponsesFunctionTool = z.infer<typeof responsesFunctionToolSchema>;

const inputText = z.looseObject({ type: z.literal("input_text"), text: z.string() });
const outputText = z.looseObject({ type: z.literal("output_text"), text: z.string() });
const refusalPart = z.looseObject({ type: z.literal("refusal"), refusal: z.string() });
const inputImage = z.looseObject({
  type: z.literal("input_image"),
  image_url: z.string().nullish(),
  file_id: z.string().nullish(),
  detail: z.enum(["low", "high", "auto", "original"]).nullish(),
});

/** The schemas of the input items Beamline translates, by item `type` (absent = message). */
export const responsesInputItemSchemas = {
  message: z.looseObject({
    type: z.literal("message").optional(),
    role: z.enum(["user", "assistant", "system", "developer"]),
    content: z.union([z.string(), z.array(z.looseObject({ type: z.string().min(1) }))]),
  }),
  function_call: z.looseObject({
    type: z.literal("function_call"),
    call_id: z.string().min(1),
    name: z.string().min(1),
    arguments: z.string(),
  }),
  function_call_output: z.looseObject({
    type: z.literal("function_call_output"),
    call_id: z.string().min(1),
    output: z.union([z.string(), z.array(z.looseObject({ type: z.string().min(1) }))]),
  }),
  item_reference: z.looseObject({ type: z.literal("item_reference"), id: z.string().min(1) }),
  /** A reasoning model's own scratchpad; other providers cannot take it back, so it is skipped. */
  reasoning: z.looseObject({ type: z.literal("reasoning") }),
} as const;

/** The schemas of the content parts of a message item, by part `type`. */
export const responsesContentPartSchemas = {
  input_text: inputText,
  output_text: outputText,
  refusal: refusalPart,
  input_image: inputImage,
} as const;

export type ResponsesInputItem = z.infer<
  (typeof responsesInputItemSchemas)[keyof typeof responsesInputItemSchemas]
>;

/*
 * The answer side: the Response object and its output items, as `openai` (resources/responses)
 * types them. Only the fields Beamline fills; the rest of OpenAI's optional fields are left out.
 */

/** `output_text` content of an assistant message item. */
export interface ResponsesOutputText {
  type: "output_text";
  text: string;
  annotations: unknown[];
  logprobs: unknown[];
}

export interface ResponsesRefusal {
  type: "refusal";
  refusal: string;
}

export type ResponsesOutputContent = ResponsesOutputText | ResponsesRefusal;

export type ResponsesItemStatus = "in_progress" | "completed" | "incomplete";

/** The assistant's message in a response's `output`. */
export interface ResponsesOutputMessage {
  type: "message";
  id: string;
  status: ResponsesItemStatus;
  role: "assistant";
  content: ResponsesOutputContent[];
}

/** A tool call the model made, in a response's `output`. */
export interface ResponsesFunctionCall {
  type: "function_call";
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: ResponsesItemStatus;
}

export type ResponsesOutputItem = ResponsesOutputMessage | ResponsesFunctionCall;

/** Token usage in the Responses API's shape. */
export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponsesStatus = "in_progress" | "completed" | "incomplete" | "failed";

/** A Response object (`object: "response"`), as answered and as carried by stream events. */
export interface ResponsesResponse {
  id: string;
  object: "response";
  created_at: number;
  status: ResponsesStatus;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: "max_output_tokens" | "content_filter" } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  model: string;
  output: ResponsesOutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  store: boolean;
  temperature: number | null;
  text: { format: Record<string, unknown> };
  tool_choice: unknown;
  tools: unknown[];
  top_p: number | null;
  truncation: "disabled";
  usage: ResponsesUsage | null;
  user: string | null;
  metadata: Record<string, string>;
}

/** One event of a streamed response; `type` is also its SSE event name. */
export interface ResponsesStreamEvent {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}
