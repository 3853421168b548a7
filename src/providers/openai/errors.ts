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

// The retry-after and redaction helpers began here and are shared by every wire now.
export { createRedactor, parseRetryAfterMs, type Redactor, type ResponseHeaders } from "../http/errors.js";

/** The `error` object of an OpenAI error body: `{"error":{"message","type","param","code"}}`. */
export interface OpenAiErrorBody {
  message: string;
  type: string | undefined;
  param: string | undefined;
  code: string | undefined;
}

function optionalString(value: unknown): string | undefined {
  if (typeof value === "string" && value.length > 0) return value;
  if (typeof value === "number") return String(value);
  return undefined;
}

/**
 * Reads an error body in OpenAI's shape, tolerating the variants OpenAI-compatible servers
 * send (`{"error":"text"}`, `{"message":...}`, `{"detail":...}`, plain text).
 */
export function parseErrorBody(bodyText: string): OpenAiErrorBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bodyText);
  } catch {
    return { message: bodyText.trim(), type: undefined, param: undefined, code: undefined };
  }
  return (
    errorFromValue(parsed) ?? { message: bodyText.trim(), type: undefined, param: undefined, code: undefined }
  );
}

/** The error a JSON value carries (`{"error": ...}` or a top-level message), if any. */
export function errorFromValue(value: unknown): OpenAiErrorBody | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const inner = record["error"];
  if (typeof inner === "string")
    return { message: inner, type: undefined, param: undefined, code: undefined };
  if (typeof inner === "object" && inner !== null) {
    const error = inner as Record<string, unknown>;
    return {
      message: optionalString(error["message"]) ?? JSON.stringify(error),
      type: optionalString(error["type"]),
      param: optionalString(error["param"]),
      code: optionalString(error["code"]),
    };
  }
  const message = optionalString(record["message"]) ?? optionalString(record["detail"]);
  return message === undefined ? undefined : { message, type: undefined, param: undefined, code: undefined };
}

function isContextWindowError(body: OpenAiErrorBody): boolean {
  // OpenAI sends the code; several compatible servers send only the message.
  return (
    body.code === "context_length_exceeded" || /maximum context length|context window/i.test(body.message)
  );
}

/** The class of an HTTP error answer, from its status and, for 400, the error code. */
export function classifyStatus(status: number, body: OpenAiErrorBody): ProviderErrorClass {
  if (status === 429) return ProviderErrorClass.RateLimited;
  if (status === 401 || status === 403) return ProviderErrorClass.Auth;
  if (status === 408) return ProviderErrorClass.Timeout;
  if (status === 503 || status === 529) return ProviderErrorClass.Overloaded;
  if (status >= 500) return ProviderErrorClass.ServerError;
  if (status === 400 || status === 413) {
    return isContextWindowError(body) ? ProviderErrorClass.ContextWindow : ProviderErrorClass.BadRequest;
  }
  if (status >= 400) return ProviderErrorClass.BadRequest;
  return ProviderErrorClass.Malformed;
}

/** The class of an error event sent inside a stream, from its type or code. */
export function classifyStreamError(body: OpenAiErrorBody): ProviderErrorClass {
  if (body.code === "rate_limit_exceeded" || body.type === "rate_limit_error")
    return ProviderErrorClass.RateLimited;
  if (isContextWindowError(body)) return ProviderErrorClass.ContextWindow;
  if (body.type === "overloaded_error" || body.code === "overloaded") return ProviderErrorClass.Overloaded;
  return ProviderErrorClass.ServerError;
}

/** Human advice for an error class, appended to error messages. */
export const adviceFor = adviceWith("the provider answered something that is not OpenAI's wire format");

/** Describes a provider's error body in one line: `message (code)`, clipped and redacted. */
export function describeErrorBody(body: OpenAiErrorBody, redact: Redactor): string {
  return describeProviderMessage(body.message, body.code ?? body.type, redact);
}

/** Builds the ProviderError for a non-2xx answer. The message comes from the body, never from headers. */
export function errorFromResponse(input: ErrorAnswer): ProviderError {
  const body = parseErrorBody(input.bodyText);
  const errorClass = classifyStatus(input.status, body);
  return answeredHttpError(
    input,
    errorClass,
    describeErrorBody(body, input.redact),
    adviceFor(errorClass),
    parseRetryAfterMs(input.headers, input.nowMs),
  );
}
