import type {
  AnthropicErrorBody,
  AnthropicMessage,
  AnthropicResponseBlock,
  AnthropicStopReason,
  AnthropicUsage,
  ChatCompletion,
} from "../chat/index.js";
import { thinkingBlocksOf } from "../chat/index.js";
import { type ExtensionRef, extensionFields } from "./failure-answer.js";
import type { CompletedUsage } from "./request-lifecycle.js";

/**
 * The Anthropic front door's answer side: canonical completion → Messages API answer, and
 * Beamline errors in Anthropic's error shape. Pure.
 */

/** Anthropic's `stop_reason` for an OpenAI `finish_reason`. */
export function stopReasonFrom(finishReason: string | null | undefined): AnthropicStopReason {
  switch (finishReason) {
    case "length":
      return "max_tokens";
    case "tool_calls":
    case "function_call":
      return "tool_use";
    case "content_filter":
      return "refusal";
    default:
      return "end_turn";
  }
}

/** Anthropic's usage: `input_tokens` exclude the cached tokens, which are reported as cache reads. */
export function anthropicUsageFrom(usage: CompletedUsage): AnthropicUsage {
  return {
    input_tokens: Math.max(0, usage.promptTokens - usage.cachedTokens),
    output_tokens: usage.completionTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: usage.cachedTokens,
  };
}

/** Tool arguments as an object; arguments that are not a JSON object are kept under `arguments`. */
export function toolInputOf(argumentsJson: string): unknown {
  if (argumentsJson.trim().length === 0) return {};
  try {
    const value: unknown = JSON.parse(argumentsJson);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch {
    // Fall through: a model can emit broken JSON; the client still sees what it sent.
  }
  return { arguments: argumentsJson };
}

/** The Messages API answer for a completed request (first choice; Beamline serves n = 1). */
export function toAnthropicMessage(completion: ChatCompletion, usage: CompletedUsage): AnthropicMessage {
  const choice = completion.choices[0];
  // Thinking comes first, as Anthropic's answers order it.
  const content: AnthropicResponseBlock[] = [...thinkingBlocksOf(choice?.message)];
  if (choice?.message.content) content.push({ type: "text", text: choice.message.content });
  for (const call of choice?.message.tool_calls ?? []) {
    content.push({
      type: "tool_use",
      id: call.id,
      name: call.function.name,
      input: toolInputOf(call.function.arguments),
    });
  }
  return {
    id: completion.id,
    type: "message",
    role: "assistant",
    model: completion.model,
    content,
    stop_reason: stopReasonFrom(choice?.finish_reason),
    stop_sequence: null,
    usage: anthropicUsageFrom(usage),
  };
}

/**
 * The HTTP status the Anthropic door answers for a Beamline status: 529 where the OpenAI door
 * answers 503 (overloaded, a circuit open, backpressure, draining, NATS away). Anthropic's API
 * says "overloaded" with 529, and agent clients switch to their fallback model on it.
 */
export function anthropicHttpStatus(httpStatus: number): number {
  return httpStatus === 503 ? 529 : httpStatus;
}

/**
 * The response header that carries Beamline's stable error code (`BL_*`) on the Anthropic
 * door, beside the body's `error.code`: clients that only read the header see it too.
 */
export const ERROR_CODE_HEADER = "x-beamline-error-code";

/** Anthropic's error `type` for an HTTP status (as Beamline states it), as its API uses them. */
export function anthropicErrorType(httpStatus: number): string {
  switch (httpStatus) {
    case 400:
    case 415:
    case 422:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    case 504:
      return "timeout_error";
    default:
      return httpStatus >= 400 && httpStatus < 500 ? "invalid_request_error" : "api_error";
  }
}

/**
 * `{"type":"error","error":{"type","message","code"},"request_id"}`: Anthropic's shape, plus
 * Beamline's stable `BL_*` code in `error.code` (clients that do not know it ignore it), and,
 * when an extension ended the request, `error.extension` (`name/version`) and `error.stage`.
 */
export function anthropicErrorBody(
  error: { code: string; message: string; httpStatus: number },
  requestId?: string,
  extension?: ExtensionRef,
): AnthropicErrorBody {
  const body: AnthropicErrorBody = {
    type: "error",
    error: {
      type: anthropicErrorType(error.httpStatus),
      message: error.message,
      code: error.code,
      ...extensionFields(extension),
    },
  };
  if (requestId !== undefined) body.request_id = requestId;
  return body;
}
