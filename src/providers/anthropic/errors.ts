import {
  adviceWith,
  answeredHttpError,
  describeProviderMessage,
  type ErrorAnswer,
  parseRetryAfterMs,
  type Redactor,
} from "../http/errors.js";
import type { ProviderError } from "../provider-error.js";
import { ProviderErrorClass } from "../types.js";

/** The `error` object of Anthropic's error body `{"type":"error","error":{"type","message"}}`. */
export interface AnthropicErrorDetails {
  type: string | undefined;
  message: string;
}

/** Reads an error body; anything that is not Anthropic's shape is kept as plain text. */
export function parseAnthropicErrorBody(bodyText: string): AnthropicErrorDetails {
  let value: unknown;
  try {
    value = JSON.parse(bodyText);
  } catch {
    return { type: undefined, message: bodyText.trim() };
  }
  return errorDetailsOf(value) ?? { type: undefined, message: bodyText.trim() };
}

/** The error a parsed JSON value carries (`{"error":{...}}`), if any. */
export function errorDetailsOf(value: unknown): AnthropicErrorDetails | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const inner = (value as { error?: unknown }).error;
  if (typeof inner === "string") return { type: undefined, message: inner };
  if (typeof inner !== "object" || inner === null) return undefined;
  const { type, message } = inner as { type?: unknown; message?: unknown };
  return {
    type: typeof type === "string" && type.length > 0 ? type : undefined,
    message: typeof message === "string" ? message : JSON.stringify(inner),
  };
}

function isContextWindowError(details: AnthropicErrorDetails): boolean {
  // Anthropic says "prompt is too long: 201000 tokens > 200000 maximum"; no dedicated type.
  return /prompt is too long|context window|maximum context length/i.test(details.message);
}

/** The class of an error answered with HTTP status `status`. */
export function classifyAnthropicStatus(status: number, details: AnthropicErrorDetails): ProviderErrorClass {
  if (status === 429) return ProviderErrorClass.RateLimited;
  if (status === 529 || status === 503 || details.type === "overloaded_error")
    return ProviderErrorClass.Overloaded;
  if (status === 401 || status === 403) return ProviderErrorClass.Auth;
  if (status === 408 || status === 504) return ProviderErrorClass.Timeout;
  if (status >= 500) return ProviderErrorClass.ServerError;
  if (status >= 400)
    return isContextWindowError(details) ? ProviderErrorClass.ContextWindow : ProviderErrorClass.BadRequest;
  return ProviderErrorClass.Malformed;
}

/** The class of an `event: error` sent inside a stream that had started with HTTP 200. */
export function classifyAnthropicStreamError(details: AnthropicErrorDetails): ProviderErrorClass {
  switch (details.type) {
    case "overloaded_error":
      return ProviderErrorClass.Overloaded;
    case "rate_limit_error":
      return ProviderErrorClass.RateLimited;
    case "authentication_error":
    case "permission_error":
      return ProviderErrorClass.Auth;
    case "invalid_request_error":
    case "request_too_large":
    case "not_found_error":
      return isContextWindowError(details) ? ProviderErrorClass.ContextWindow : ProviderErrorClass.BadRequest;
    default:
      return ProviderErrorClass.ServerError;
  }
}

/** Human advice for an error class, appended to messages. */
export const anthropicAdviceFor = adviceWith(
  "the provider answered something that is not Anthropic's Messages wire format",
);

/** `message (type)`, clipped and with the credential redacted. */
export function describeAnthropicError(details: AnthropicErrorDetails, redact: Redactor): string {
  return describeProviderMessage(details.message, details.type, redact);
}

/** The ProviderError of a non-2xx answer; the message comes from the body, never the headers. */
export function anthropicErrorFromResponse(input: ErrorAnswer): ProviderError {
  const details = parseAnthropicErrorBody(input.bodyText);
  const errorClass = classifyAnthropicStatus(input.status, details);
  return answeredHttpError(
    input,
    errorClass,
    describeAnthropicError(details, input.redact),
    anthropicAdviceFor(errorClass),
    parseRetryAfterMs(input.headers, input.nowMs),
  );
}
