import { ProviderError } from "../provider-error.js";
import type { ProviderErrorClass } from "../types.js";

/** Response headers as undici and `node:http` expose them (lower-case names). */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** Removes the credential from any text that may echo it (some providers quote the key they got). */
export type Redactor = (text: string) => string;

/** A {@link Redactor} for `secret`; the identity when there is no secret. */
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

/** Longest provider message kept in an error; bodies can be whole HTML pages. */
const MAX_MESSAGE_CHARS = 500;

/**
 * A provider's error message in one line, `message (tag)` where `tag` is the wire's error
 * code, type or status: clipped to 500 characters and with the credential redacted.
 */
export function describeProviderMessage(message: string, tag: string | undefined, redact: Redactor): string {
  const text =
    message.length === 0
      ? "no error message"
      : message.length > MAX_MESSAGE_CHARS
        ? `${message.slice(0, MAX_MESSAGE_CHARS)}…`
        : message;
  return redact(tag === undefined ? text : `${text} (${tag})`);
}

/** What every wire's error mapping gets for a non-2xx answer. */
export interface ErrorAnswer {
  providerName: string;
  status: number;
  headers: ResponseHeaders;
  bodyText: string;
  nowMs: number;
  redact: Redactor;
}

/**
 * The ProviderError of a non-2xx answer once the wire has read its body: the message is built
 * from the body's description, never from headers.
 */
export function answeredHttpError(
  answer: ErrorAnswer,
  errorClass: ProviderErrorClass,
  description: string,
  advice: string,
  retryAfterMs: number | undefined,
): ProviderError {
  return new ProviderError(
    errorClass,
    `${answer.providerName} answered HTTP ${answer.status}: ${description}; ${advice}`,
    { providerStatus: answer.status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
  );
}

/**
 * Advice for each error class, appended to error messages, for wires whose only own wording is
 * what a malformed answer breaks (`malformedAdvice`).
 */
export function adviceWith(malformedAdvice: string): (errorClass: ProviderErrorClass) => string {
  const adviceByClass: Record<ProviderErrorClass, string> = {
    rate_limited: "the provider is rate limiting this key; retry later or route to another provider",
    overloaded: "the provider is overloaded; retry later or route to another provider",
    server_error: "the provider failed; retry or route to another provider",
    timeout: "the provider did not answer in time; retry or raise the timeout",
    connection: "the provider could not be reached; check its base URL and the network",
    bad_request: "the provider rejected the request; fix the request or the model mapping",
    context_window: "the prompt does not fit the model's context window; shorten it or pick a larger model",
    auth: "the provider rejected the credentials; check the provider's API key in the configuration",
    malformed: malformedAdvice,
    stream_interrupted: "the stream broke after part of the answer was delivered",
  };
  return (errorClass) => adviceByClass[errorClass];
}
