import { validateHeaderName, validateHeaderValue } from "node:http";
import type { FastifyReply } from "fastify";
import type { EventData } from "../events/index.js";

/**
 * How a failed request (its `request.failed` event) is answered over HTTP, whatever the front
 * door: the rate-limit advice the failure carries becomes response headers, and the extension
 * that ended the request is named in the error body.
 */

type RequestFailedData = EventData<"request.failed">;

/** The extension that ended a request, as `request.failed` records it. */
export type ExtensionRef = NonNullable<RequestFailedData["extension"]>;

/** What the gateway needs of a `request.failed` event to answer the client. */
export interface RequestFailure {
  error: RequestFailedData["error"];
  /** When the client may retry, in milliseconds. */
  retryAfterMs?: number | undefined;
  /** Headers the answer carries, e.g. `retry-after` and `x-ratelimit-*` of a quota refusal. */
  responseHeaders?: Record<string, string> | undefined;
  extension?: ExtensionRef | undefined;
}

/** The parts of `request.failed` the answer uses; fields absent from the event stay absent. */
export function requestFailureOf(data: RequestFailedData): RequestFailure {
  const failure: RequestFailure = { error: data.error };
  if (data.retryAfterMs !== undefined) failure.retryAfterMs = data.retryAfterMs;
  if (data.responseHeaders !== undefined) failure.responseHeaders = data.responseHeaders;
  if (data.extension !== undefined) failure.extension = data.extension;
  return failure;
}

/**
 * Headers the gateway itself owns on every answer: the failure cannot replace them (a
 * recorded header must never change the body's framing or the request's id).
 */
const GATEWAY_OWNED_HEADERS = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "transfer-encoding",
  "connection",
  "x-request-id",
  "request-id",
]);

function isSendableHeader(name: string, value: string): boolean {
  try {
    validateHeaderName(name);
    validateHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

/**
 * The response headers of a failed request's answer: the recorded `responseHeaders`
 * (lower-cased; gateway-owned and unsendable ones left out), plus `retry-after` in whole
 * seconds, rounded up, from `retryAfterMs` when the recorded headers carry none.
 */
export function failureHeaders(failure: RequestFailure): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(failure.responseHeaders ?? {})) {
    const name = rawName.toLowerCase();
    if (GATEWAY_OWNED_HEADERS.has(name) || !isSendableHeader(name, value)) continue;
    headers[name] = value;
  }
  if (headers["retry-after"] === undefined && failure.retryAfterMs !== undefined) {
    headers["retry-after"] = String(Math.ceil(failure.retryAfterMs / 1000));
  }
  return headers;
}

/** Sets the failure's headers on a reply that has not been sent yet. */
export function applyFailureHeaders(reply: FastifyReply, failure: RequestFailure): void {
  for (const [name, value] of Object.entries(failureHeaders(failure))) {
    reply.header(name, value);
  }
}

/** The error-body fields naming the extension that ended the request: `extension: "name/version"` and its `stage`. */
export function extensionFields(extension: ExtensionRef | undefined): { extension?: string; stage?: string } {
  if (extension === undefined) return {};
  return { extension: `${extension.name}/${extension.version}`, stage: extension.stage };
}
