import { BeamlineError } from "../errors/index.js";
import { isTransientNatsError } from "../nats/index.js";
import { type ExtensionRef, extensionFields } from "./failure-answer.js";

/**
 * OpenAI's error body: `{ error: { message, type, param, code } }`; `code` is our stable code.
 * When an extension ended the request, `extension` (`name/version`) and its `stage` name it.
 */
export interface OpenAiErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string;
    extension?: string;
    stage?: string;
  };
}

export function openAiErrorBody(error: BeamlineError): OpenAiErrorBody {
  return {
    error: { message: error.message, type: error.type, param: error.param ?? null, code: error.code },
  };
}

/** Stored error details (from a request.failed event) as an OpenAI error body, naming the extension that ended it. */
export function storedErrorBody(
  error: { code: string; message: string; type: string },
  extension?: ExtensionRef,
): OpenAiErrorBody {
  return {
    error: {
      message: error.message,
      type: error.type,
      param: null,
      code: error.code,
      ...extensionFields(extension),
    },
  };
}

/** What a client answered 503 because a NATS read timed out is told to wait, in seconds. */
const NATS_RETRY_AFTER_MS = 1_000;

/**
 * Translates Fastify's own errors (body parsing, limits, content type) into Beamline errors
 * with stable codes, so every 4xx has the same shape whatever layer raised it. A NATS failure
 * that passes by itself (a read that timed out while the connection or the process stalled)
 * is a 503 with `retry-after`, not a 500: nothing is wrong with the request or with Beamline.
 */
export function fromHttpFrameworkError(error: unknown, maxBodyBytes: number): BeamlineError {
  if (error instanceof BeamlineError) return error;
  const e = error as { code?: string; statusCode?: number; message?: string };
  switch (e.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new BeamlineError(
        "BL_BODY_TOO_LARGE",
        `The request body is larger than the limit of ${maxBodyBytes} bytes.`,
      );
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new BeamlineError(
        "BL_UNSUPPORTED_MEDIA_TYPE",
        "Send the request body as JSON with `Content-Type: application/json`.",
      );
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new BeamlineError("BL_MALFORMED_JSON", "The request body is empty; send a JSON object.");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new BeamlineError("BL_MALFORMED_JSON", "The request body is not valid JSON.");
  }
  if (error instanceof SyntaxError || e.statusCode === 400) {
    return new BeamlineError("BL_MALFORMED_JSON", "The request body is not valid JSON.");
  }
  if (e.statusCode === 404) return new BeamlineError("BL_NOT_FOUND", "No such endpoint.");
  if (isTransientNatsError(error)) {
    return new BeamlineError("BL_NATS_UNAVAILABLE", "NATS did not answer in time; retry later.", {
      retryAfterMs: NATS_RETRY_AFTER_MS,
      cause: error,
    });
  }
  return new BeamlineError("BL_INTERNAL", "Internal error; the request was not accepted. Retry later.", {
    cause: error,
  });
}
