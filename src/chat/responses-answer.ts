import type {
  ResponsesOutputContent,
  ResponsesOutputItem,
  ResponsesRequest,
  ResponsesResponse,
  ResponsesStatus,
  ResponsesUsage,
} from "./responses.js";
import { functionCallItemIdOf, messageItemIdOf, responseIdOf } from "./responses-ids.js";
import type { ChatCompletion } from "./wire.js";

/**
 * The Responses API's answer side: a canonical completion as a Response object. Pure; the
 * stream translator (responses-stream.ts) builds its items with the same ids and shapes.
 */

/** Normalised token counts, as `request.completed` stores them. */
export interface ResponsesTokenCounts {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

/** The Responses API's usage for the authoritative counts (and reasoning tokens where reported). */
export function responsesUsageOf(tokens: ResponsesTokenCounts, reasoningTokens = 0): ResponsesUsage {
  return {
    input_tokens: tokens.promptTokens,
    input_tokens_details: { cached_tokens: tokens.cachedTokens },
    output_tokens: tokens.completionTokens,
    output_tokens_details: { reasoning_tokens: reasoningTokens },
    total_tokens: tokens.promptTokens + tokens.completionTokens,
  };
}

/** `status` and `incomplete_details` for a chat `finish_reason`. */
export function responsesStatusOf(finishReason: string | null | undefined): {
  status: Extract<ResponsesStatus, "completed" | "incomplete">;
  incomplete_details: ResponsesResponse["incomplete_details"];
} {
  if (finishReason === "length")
    return { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } };
  if (finishReason === "content_filter")
    return { status: "incomplete", incomplete_details: { reason: "content_filter" } };
  return { status: "completed", incomplete_details: null };
}

/** What the request said that the Response object repeats back. */
export type ResponsesEcho = Pick<
  ResponsesResponse,
  | "instructions"
  | "max_output_tokens"
  | "metadata"
  | "parallel_tool_calls"
  | "previous_response_id"
  | "store"
  | "temperature"
  | "text"
  | "tool_choice"
  | "tools"
  | "top_p"
  | "user"
>;

/** The echoed fields of `request`, with OpenAI's defaults for those it left out. */
export function responsesEchoOf(request: ResponsesRequest): ResponsesEcho {
  return {
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    metadata: request.metadata ?? {},
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    store: request.store ?? true,
    temperature: request.temperature ?? null,
    text: { format: request.text?.format ?? { type: "text" } },
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    top_p: request.top_p ?? null,
    user: request.user ?? null,
  };
}

/** A Response object that has not answered yet (`response.created`, `response.in_progress`). */
export function inProgressResponse(
  requestId: string,
  model: string,
  createdAt: number,
  echo: ResponsesEcho,
): ResponsesResponse {
  return {
    id: responseIdOf(requestId),
    object: "response",
    created_at: createdAt,
    status: "in_progress",
    error: null,
    incomplete_details: null,
    model,
    output: [],
    truncation: "disabled",
    usage: null,
    ...echo,
  };
}

/**
 * The output items of a completion: the assistant message (when it holds text or a refusal),
 * then one `function_call` per tool call. Ids follow responses-ids.ts, so an item can be
 * rebuilt from the log and found by its id later.
 */
export function outputItemsOf(
  completion: ChatCompletion,
  requestId: string,
  itemStatus: "completed" | "incomplete" = "completed",
): ResponsesOutputItem[] {
  const message = completion.choices[0]?.message;
  if (!message) return [];
  const items: ResponsesOutputItem[] = [];
  const content: ResponsesOutputContent[] = [];
  if (message.content)
    content.push({ type: "output_text", text: message.content, annotations: [], logprobs: [] });
  if (message.refusal) content.push({ type: "refusal", refusal: message.refusal });
  if (content.length > 0) {
    items.push({
      type: "message",
      id: messageItemIdOf(requestId),
      status: itemStatus,
      role: "assistant",
      content,
    });
  }
  (message.tool_calls ?? []).forEach((call, index) => {
    items.push({
      type: "function_call",
      id: functionCallItemIdOf(requestId, index),
      call_id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
      status: "completed",
    });
  });
  return items;
}

/** Reasoning tokens a provider reported in the completion's usage, else 0. */
export function reasoningTokensOf(completion: ChatCompletion): number {
  const details = (
    completion.usage as { completion_tokens_details?: { reasoning_tokens?: unknown } } | null | undefined
  )?.completion_tokens_details;
  return typeof details?.reasoning_tokens === "number" ? details.reasoning_tokens : 0;
}

/** The Response object of a completed request; `tokens` are the authoritative (billed) counts. */
export function toResponsesResponse(
  completion: ChatCompletion,
  tokens: ResponsesTokenCounts,
  requestId: string,
  createdAt: number,
  echo: ResponsesEcho,
): ResponsesResponse {
  const { status, incomplete_details } = responsesStatusOf(completion.choices[0]?.finish_reason);
  return {
    ...inProgressResponse(requestId, completion.model, createdAt, echo),
    status,
    incomplete_details,
    output: outputItemsOf(completion, requestId, status),
    usage: responsesUsageOf(tokens, reasoningTokensOf(completion)),
  };
}

/** The assistant message of a completion, as the canonical message a follow-up carries. */
export function assistantMessageOf(completion: ChatCompletion): {
  role: "assistant";
  content: string | null;
  tool_calls?: NonNullable<ChatCompletion["choices"][number]["message"]["tool_calls"]>;
} {
  const message = completion.choices[0]?.message;
  const calls = message?.tool_calls ?? [];
  return {
    role: "assistant",
    content: message?.content ?? null,
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
  };
}
