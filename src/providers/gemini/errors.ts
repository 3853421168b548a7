import {
  answeredHttpError,
  describeProviderMessage,
  type ErrorAnswer,
  parseRetryAfterMs,
  type Redactor,
} from "../http/errors.js";
import type { ProviderError } from "../provider-error.js";
import { ProviderErrorClass } from "../types.js";

/**
 * Gemini's error body, Google's API error shape:
 * `{"error":{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED","details":[…]}}`.
 * The streaming endpoint without `alt=sse` wraps it in an array; both are read.
 */
export interface GeminiErrorBody {
  /** HTTP status Google put in the body. */
  code: number | undefined;
  message: string;
  /** Canonical status name: RESOURCE_EXHAUSTED, INVALID_ARGUMENT, UNAVAILABLE, … */
  status: string | undefined;
  /** `google.rpc.ErrorInfo.reason`, e.g. API_KEY_INVALID. */
  reason: string | undefined;
  /** `google.rpc.RetryInfo.retryDelay` in milliseconds. */
  retryDelayMs: number | undefined;
}

/** Milliseconds of a protobuf JSON duration (`"58s"`, `"1.500s"`); undefined when malformed. */
export function parseDurationMs(text: unknown): number | undefined {
  if (typeof text !== "string") return undefined;
  const match = /^(\d+(?:\.\d+)?)s$/.exec(text.trim());
  return match === null ? undefined : Math.ceil(Number.parseFloat(match[1]!) * 1000);
}

/** The error a parsed JSON value carries, if it is (or wraps in an array) Google's error shape. */
export function geminiErrorFromValue(value: unknown): GeminiErrorBody | undefined {
  const holder = Array.isArray(value) ? value[0] : value;
  if (typeof holder !== "object" || holder === null) return undefined;
  const inner = (holder as Record<string, unknown>)["error"];
  if (typeof inner !== "object" || inner === null) return undefined;
  const error = inner as Record<string, unknown>;
  let reason: string | undefined;
  let retryDelayMs: number | undefined;
  for (const detail of Array.isArray(error["details"]) ? error["details"] : []) {
    if (typeof detail !== "object" || detail === null) continue;
    const record = detail as Record<string, unknown>;
    const type = typeof record["@type"] === "string" ? record["@type"] : "";
    if (type.endsWith("google.rpc.RetryInfo")) retryDelayMs ??= parseDurationMs(record["retryDelay"]);
    if (type.endsWith("google.rpc.ErrorInfo") && typeof record["reason"] === "string")
      reason ??= record["reason"];
  }
  return {
    code: typeof error["code"] === "number" ? error["code"] : undefined,
    message: typeof error["message"] === "string" ? error["message"] : "",
    status: typeof error["status"] === "string" ? error["status"] : undefined,
    reason,
    retryDelayMs,
  };
}

/** Reads an error answer's body; a body that is not Google's shape keeps its text as the message. */
export function parseGeminiErrorBody(bodyText: string): GeminiErrorBody {
  let value: unknown;
  try {
    value = JSON.parse(bodyText);
  } catch {
    value = undefined;
  }
  return (
    geminiErrorFromValue(value) ?? {
      code: undefined,
      message: bodyText.trim(),
      status: undefined,
      reason: undefined,
      retryDelayMs: undefined,
    }
  );
}

function isContextWindowError(body: GeminiErrorBody): boolean {
  // Gemini: "The input token count (N) exceeds the maximum number of tokens allowed (M)."
  return /exceeds the maximum number of tokens|input token count|context window|too many tokens/i.test(
    body.message,
  );
}

function isAuthError(body: GeminiErrorBody): boolean {
  // A wrong key is a 400 INVALID_ARGUMENT on Gemini, told apart by its ErrorInfo reason.
  return (
    body.status === "UNAUTHENTICATED" ||
    body.status === "PERMISSION_DENIED" ||
    body.reason === "API_KEY_INVALID" ||
    /API key not valid/i.test(body.message)
  );
}

/**
 * The class of a Gemini error, from the HTTP status (0 for an error inside a stream, where
 * only the body's `code`/`status` tell) and the body.
 */
export function classifyGeminiError(httpStatus: number, body: GeminiErrorBody): ProviderErrorClass {
  const status = httpStatus > 0 ? httpStatus : (body.code ?? 0);
  if (status === 429 || body.status === "RESOURCE_EXHAUSTED") return ProviderErrorClass.RateLimited;
  if (status === 401 || status === 403 || isAuthError(body)) return ProviderErrorClass.Auth;
  if (status === 504 || body.status === "DEADLINE_EXCEEDED") return ProviderErrorClass.Timeout;
  if (status === 503 || body.status === "UNAVAILABLE") return ProviderErrorClass.Overloaded;
  if (status >= 500 || body.status === "INTERNAL") return ProviderErrorClass.ServerError;
  if (status >= 400 || body.status === "INVALID_ARGUMENT" || body.status === "FAILED_PRECONDITION") {
    return isContextWindowError(body) ? ProviderErrorClass.ContextWindow : ProviderErrorClass.BadRequest;
  }
  return ProviderErrorClass.ServerError;
}

const adviceByClass: Record<ProviderErrorClass, string> = {
  rate_limited: "Gemini is rate limiting this key or its quota is used up; retry later or route elsewhere",
  overloaded: "Gemini is overloaded; retry later or route to another provider",
  server_error: "Gemini failed; retry or route to another provider",
  timeout: "Gemini did not answer in time; retry or raise the timeout",
  connection: "Gemini could not be reached; check GEMINI_BASE_URL and the network",
  bad_request: "Gemini rejected the request; fix the request or the model mapping",
  context_window: "the prompt does not fit the model's context window; shorten it or pick a larger model",
  auth: "Gemini rejected the credentials; check GEMINI_API_KEY",
  malformed: "Gemini answered something that is not its wire format",
  stream_interrupted: "the stream broke after part of the answer was delivered",
};

/** Human advice for an error class, appended to Gemini error messages. */
export function geminiAdvice(errorClass: ProviderErrorClass): string {
  return adviceByClass[errorClass];
}

/** `message (STATUS)`, clipped and redacted. */
export function describeGeminiError(body: GeminiErrorBody, redact: Redactor): string {
  return describeProviderMessage(body.message, body.status, redact);
}

/**
 * The ProviderError of a non-2xx answer. The wait comes from `retry-after` when Google sends
 * it, else from the body's `RetryInfo.retryDelay`.
 */
export function geminiErrorFromResponse(input: ErrorAnswer): ProviderError {
  const body = parseGeminiErrorBody(input.bodyText);
  const errorClass = classifyGeminiError(input.status, body);
  return answeredHttpError(
    input,
    errorClass,
    describeGeminiError(body, input.redact),
    geminiAdvice(errorClass),
    parseRetryAfterMs(input.headers, input.nowMs) ?? body.retryDelayMs,
  );
}
