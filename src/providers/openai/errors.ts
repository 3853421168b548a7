import { ProviderError } from "../provider-error.js";
import { ProviderErrorClass } from "../types.js";

/** Response headers as undici and `node:http` expose them (lower-case names). */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** The `error` object of an OpenAI error body: `{"error":{"message","type","param","code"}}`. */
export interface OpenAiErrorBody {
  message: string;
  type: string | undefined;
  param: string | undefined;
  code: string | undefined;
}

/** Longest provider message kept in an error; bodies can be whole HTML pages. */
const MAX_MESSAGE_CHARS = 500;

/** Removes the credential from any text that may echo it (some providers quote the key they got). */
export type Redactor = (text: string) => string;

export function createRedactor(secret: string | undefined): Redactor {
  if (secret === undefined || secret.length === 0) return (text) => text;
  return (text) => (text.includes(secret) ? text.split(secret).join("[redacted]") : text);
}

function firstHeader(headers: ResponseHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Milliseconds the provider asks us to wait, from `retry-after-ms` (a non-standard header
 * OpenAI sends), else `retry-after` as delta-seconds or as an HTTP date relative to `nowMs`.
 * Undefined when neither header is present or parseable; never negative.
 */
export function parseRetryAfterMs(headers: ResponseHeaders, nowMs: number): number | undefined {
  const millis = firstHeader(headers, "retry-after-ms");
  if (millis !== undefined) {
    const value = Number.parseFloat(millis);
    if (Number.isFinite(value) && value >= 0) return Math.ceil(value);
  }
  const retryAfter = firstHeader(headers, "retry-after")?.trim();
  if (retryAfter === undefined || retryAfter.length === 0) return undefined;
  if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.ceil(Number.parseFloat(retryAfter) * 1000);
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
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

const adviceByClass: Record<ProviderErrorClass, string> = {
  rate_limited: "the provider is rate limiting this key; retry later or route to another provider",
  overloaded: "the provider is overloaded; retry later or route to another provider",
  server_error: "the provider failed; retry or route to another provider",
  timeout: "the provider did not answer in time; retry or raise the timeout",
  connection: "the provider could not be reached; check its base URL and the network",
  bad_request: "the provider rejected the request; fix the request or the model mapping",
  context_window: "the prompt does not fit the model's context window; shorten it or pick a larger model",
  auth: "the provider rejected the credentials; check the provider's API key in the configuration",
  malformed: "the provider answered something that is not OpenAI's wire format",
  stream_interrupted: "the stream broke after part of the answer was delivered",
};

/** Human advice for an error class, appended to error messages. */
export function adviceFor(errorClass: ProviderErrorClass): string {
  return adviceByClass[errorClass];
}

function clip(text: string): string {
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS)}…` : text;
}

/** Describes a provider's error body in one line: `message (code)`, clipped and redacted. */
export function describeErrorBody(body: OpenAiErrorBody, redact: Redactor): string {
  const code = body.code ?? body.type;
  const message = body.message.length > 0 ? clip(body.message) : "no error message";
  return redact(code === undefined ? message : `${message} (${code})`);
}

/** Builds the ProviderError for a non-2xx answer. The message comes from the body, never from headers. */
export function errorFromResponse(input: {
  providerName: string;
  status: number;
  headers: ResponseHeaders;
  bodyText: string;
  nowMs: number;
  redact: Redactor;
}): ProviderError {
  const body = parseErrorBody(input.bodyText);
  const errorClass = classifyStatus(input.status, body);
  const retryAfterMs = parseRetryAfterMs(input.headers, input.nowMs);
  return new ProviderError(
    errorClass,
    `${input.providerName} answered HTTP ${input.status}: ${describeErrorBody(body, input.redact)}; ${adviceFor(errorClass)}`,
    { providerStatus: input.status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
  );
}
