import type { z } from "zod";
import { BeamlineError } from "../errors/index.js";
import {
  type ResponsesInputItem,
  type ResponsesOutputItem,
  type ResponsesRequest,
  responsesContentPartSchemas,
  responsesFunctionToolSchema,
  responsesInputItemSchemas,
  responsesRequestSchema,
} from "./responses.js";
import type { ChatMessage, ChatRequest } from "./wire.js";
import { chatRequestSchema } from "./wire.js";

/**
 * The Responses API's request side: validation and translation onto the canonical chat
 * request. Pure: an earlier exchange (`previous_response_id`) and referenced output items
 * (`item_reference`) are read from the log by the gateway and handed in already resolved.
 */

function badRequest(message: string, param?: string): BeamlineError {
  return new BeamlineError("BL_BAD_REQUEST", message, param === undefined ? {} : { param });
}

function checked<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const param = [where, ...issue.path].filter((part) => part !== "").join(".");
  throw badRequest(`Invalid value for '${param || "body"}': ${issue.message}`, param || undefined);
}

/** Validates a Responses API body; the first problem names the parameter. */
export function parseResponsesRequest(body: unknown): ResponsesRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest("The request body must be a JSON object.");
  }
  const request = checked(responsesRequestSchema, body, "");
  if (request.background === true) {
    throw badRequest(
      "background responses are not supported by this gateway; send the request without it.",
      "background",
    );
  }
  if (request.conversation !== undefined && request.conversation !== null) {
    throw badRequest(
      "conversation objects are not supported by this gateway; chain responses with previous_response_id.",
      "conversation",
    );
  }
  if (request.input === undefined && !request.previous_response_id) {
    throw badRequest("input is required.", "input");
  }
  return request;
}

/** The ids of the `item_reference` items of `request`, in order. */
export function referencedItemIds(request: ResponsesRequest): string[] {
  if (!Array.isArray(request.input)) return [];
  return request.input
    .filter((item) => item.type === "item_reference")
    .map((item) => String((item as { id?: unknown }).id ?? ""));
}

type ChatPart =
  | { type: "text"; text: string }
  | { type: "image_url"; image_url: { url: string; detail?: string } };

function partOf(part: { type: string }, where: string): ChatPart {
  switch (part.type) {
    case "input_text":
      return { type: "text", text: checked(responsesContentPartSchemas.input_text, part, where).text };
    case "output_text":
      return { type: "text", text: checked(responsesContentPartSchemas.output_text, part, where).text };
    case "refusal":
      return { type: "text", text: checked(responsesContentPartSchemas.refusal, part, where).refusal };
    case "input_image": {
      const image = checked(responsesContentPartSchemas.input_image, part, where);
      if (!image.image_url) {
        throw badRequest(
          `${where}: images must be given as image_url (a URL or data URL); file ids are not supported by this gateway.`,
          where,
        );
      }
      const detail = image.detail === "original" ? "high" : image.detail;
      return { type: "image_url", image_url: { url: image.image_url, ...(detail ? { detail } : {}) } };
    }
    default:
      throw badRequest(
        `${where}: content parts of type "${part.type}" are not supported by this gateway.`,
        where,
      );
  }
}

/** Text-only content as one string (what every provider takes); mixed content as parts. */
function contentOf(content: string | Array<{ type: string }>, where: string): string | ChatPart[] {
  if (typeof content === "string") return content;
  const parts = content.map((part, index) => partOf(part, `${where}.${index}`));
  return parts.every((part) => part.type === "text")
    ? parts.map((part) => (part as { text: string }).text).join("")
    : parts;
}

function textOf(content: string | Array<{ type: string }>, where: string): string {
  const value = contentOf(content, where);
  if (typeof value !== "string") throw badRequest(`${where}: only text is allowed in this message.`, where);
  return value;
}

/** Appends one input item's canonical message(s) to `messages`. */
function appendItem(messages: ChatMessage[], item: ResponsesInputItem, where: string): void {
  switch (item.type) {
    case "function_call": {
      const call = item as z.infer<typeof responsesInputItemSchemas.function_call>;
      const toolCall = {
        id: call.call_id,
        type: "function" as const,
        function: { name: call.name, arguments: call.arguments },
      };
      // Chat format: the calls of one turn belong to one assistant message, before their results.
      const last = messages.at(-1);
      if (last?.role === "assistant") last.tool_calls = [...(last.tool_calls ?? []), toolCall];
      else messages.push({ role: "assistant", content: null, tool_calls: [toolCall] });
      return;
    }
    case "function_call_output": {
      const output = item as z.infer<typeof responsesInputItemSchemas.function_call_output>;
      messages.push({
        role: "tool",
        tool_call_id: output.call_id,
        content: textOf(output.output, `${where}.output`),
      });
      return;
    }
    case "reasoning":
      return;
    default: {
      const message = item as z.infer<typeof responsesInputItemSchemas.message>;
      if (message.role === "assistant") {
        const text = textOf(message.content, `${where}.content`);
        const last = messages.at(-1);
        // A message item after its turn's tool calls (or vice versa) is still one assistant turn.
        if (last?.role === "assistant" && !last.content) last.content = text;
        else messages.push({ role: "assistant", content: text });
        return;
      }
      const content =
        message.role === "user"
          ? contentOf(message.content, `${where}.content`)
          : textOf(message.content, `${where}.content`);
      messages.push({ role: message.role, content });
    }
  }
}

/** An output item of an earlier response as the input item it stands for. */
function inputItemOfOutput(item: ResponsesOutputItem): ResponsesInputItem {
  if (item.type === "function_call") {
    return { type: "function_call", call_id: item.call_id, name: item.name, arguments: item.arguments };
  }
  return { type: "message", role: "assistant", content: item.content.map((part) => ({ ...part })) };
}

function inputItemsOf(
  request: ResponsesRequest,
  referenced: ReadonlyMap<string, ResponsesOutputItem>,
): Array<{ item: ResponsesInputItem; where: string }> {
  if (request.input === undefined) return [];
  if (typeof request.input === "string") {
    return [{ item: { type: "message", role: "user", content: request.input }, where: "input" }];
  }
  return request.input.map((raw, index) => {
    const where = `input.${index}`;
    const type = raw.type ?? "message";
    if (type === "item_reference") {
      const { id } = checked(responsesInputItemSchemas.item_reference, raw, where);
      const found = referenced.get(id);
      if (!found)
        throw new BeamlineError("BL_NOT_FOUND", `Item with id '${id}' not found.`, { param: where });
      return { item: inputItemOfOutput(found), where };
    }
    const schema = responsesInputItemSchemas[type as keyof typeof responsesInputItemSchemas];
    if (schema === undefined) {
      throw badRequest(`${where}: input items of type "${type}" are not supported by this gateway.`, where);
    }
    return { item: checked(schema, raw, where), where };
  });
}

function toolsOf(request: ResponsesRequest): unknown[] | undefined {
  if (!request.tools || request.tools.length === 0) return undefined;
  return request.tools.map((tool, index) => {
    if (tool.type !== "function") {
      throw badRequest(
        `tools.${index}: tools of type "${tool.type}" (hosted tools) are not supported by this gateway; use function tools.`,
        `tools.${index}`,
      );
    }
    const fn = checked(responsesFunctionToolSchema, tool, `tools.${index}`);
    return {
      type: "function",
      function: {
        name: fn.name,
        ...(fn.description ? { description: fn.description } : {}),
        parameters: fn.parameters ?? { type: "object", properties: {} },
        ...(typeof fn.strict === "boolean" ? { strict: fn.strict } : {}),
      },
    };
  });
}

function toolChoiceOf(choice: ResponsesRequest["tool_choice"]): unknown {
  if (choice === undefined || choice === null || typeof choice === "string") return choice ?? undefined;
  if (choice.type === "function")
    return { type: "function", function: { name: (choice as { name: string }).name } };
  throw badRequest(`tool_choice of type "${choice.type}" is not supported by this gateway.`, "tool_choice");
}

function responseFormatOf(request: ResponsesRequest): unknown {
  const format = request.text?.format;
  if (format === undefined || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  const schema = format as { name: string; schema: unknown; description?: string; strict?: boolean | null };
  return {
    type: "json_schema",
    json_schema: {
      name: schema.name,
      schema: schema.schema,
      ...(schema.description === undefined ? {} : { description: schema.description }),
      ...(typeof schema.strict === "boolean" ? { strict: schema.strict } : {}),
    },
  };
}

/** What the gateway resolved from the log before translating. */
export interface ResponsesContext {
  /** The earlier exchange (`previous_response_id`) as canonical messages, instructions left out. */
  previous?: readonly ChatMessage[];
  /** Output items of earlier responses named by `item_reference`, by id. */
  referenced?: ReadonlyMap<string, ResponsesOutputItem>;
}

/** A translated request and how many of its leading messages are the request's `instructions`. */
export interface ResponsesChat {
  chat: ChatRequest;
  /** A follow-up through `previous_response_id` does not carry these over (OpenAI's rule). */
  instructionMessages: number;
}

/**
 * The canonical request for a Responses API request: `instructions` become the first (system)
 * message, then the earlier exchange, then the input items — messages by role, `function_call`
 * items as the assistant's `tool_calls` and `function_call_output` as `tool` messages.
 * `max_output_tokens` → `max_tokens`, `text.format` → `response_format`, `reasoning.effort` →
 * `reasoning_effort`, function tools and `tool_choice` to their chat shapes. `metadata` and
 * `store` stay with the gateway (echoed in the answer), never sent to a provider.
 */
export function toChatFromResponses(
  request: ResponsesRequest,
  context: ResponsesContext = {},
): ResponsesChat {
  const messages: ChatMessage[] = [];
  if (request.instructions) messages.push({ role: "system", content: request.instructions });
  const instructionMessages = messages.length;
  for (const message of context.previous ?? []) messages.push(structuredClone(message));
  for (const { item, where } of inputItemsOf(request, context.referenced ?? new Map())) {
    appendItem(messages, item, where);
  }
  if (messages.length === instructionMessages)
    throw badRequest("input must hold at least one item.", "input");
  const chat: Record<string, unknown> = { model: request.model, messages };
  if (request.stream === true) chat["stream"] = true;
  if (request.max_output_tokens != null) chat["max_tokens"] = request.max_output_tokens;
  if (request.temperature != null) chat["temperature"] = request.temperature;
  if (request.top_p != null) chat["top_p"] = request.top_p;
  if (request.user !== undefined) chat["user"] = request.user;
  const tools = toolsOf(request);
  if (tools) chat["tools"] = tools;
  const toolChoice = toolChoiceOf(request.tool_choice);
  if (toolChoice !== undefined) chat["tool_choice"] = toolChoice;
  if (request.parallel_tool_calls === false) chat["parallel_tool_calls"] = false;
  const responseFormat = responseFormatOf(request);
  if (responseFormat !== undefined) chat["response_format"] = responseFormat;
  if (request.reasoning?.effort) chat["reasoning_effort"] = request.reasoning.effort;
  return { chat: checked(chatRequestSchema, chat, ""), instructionMessages };
}

/**
 * The earlier exchange as canonical messages: the earlier request's messages without its
 * `instructionMessages` leading instructions (they are not carried over), then its answer.
 */
export function previousExchange(
  earlier: ChatRequest,
  instructionMessages: number,
  answer: ChatMessage,
): ChatMessage[] {
  return [...earlier.messages.slice(instructionMessages), answer];
}
