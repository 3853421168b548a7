/**
 * The registry of Beamline's stable error codes. A code is never reused for another meaning;
 * `docs/errors.md` documents each one. `httpStatus` is what the gateway answers; `handling`
 * is what a stage consumer does with a message whose processing threw this error:
 * - `retry`: nak with a delay, the message is delivered again;
 * - `terminate`: the message is poison, terminated and dead-lettered;
 * - `fail-request`: the request ends with `request.failed` carrying this code.
 */
export const ErrorCodes = {
  BL_BAD_REQUEST: { httpStatus: 400, type: "invalid_request_error", handling: "fail-request" },
  BL_MALFORMED_JSON: { httpStatus: 400, type: "invalid_request_error", handling: "fail-request" },
  BL_UNSUPPORTED_MEDIA_TYPE: { httpStatus: 415, type: "invalid_request_error", handling: "fail-request" },
  BL_BODY_TOO_LARGE: { httpStatus: 413, type: "invalid_request_error", handling: "fail-request" },
  BL_HEADERS_TOO_LARGE: { httpStatus: 431, type: "invalid_request_error", handling: "fail-request" },
  BL_MALFORMED_HTTP: { httpStatus: 400, type: "invalid_request_error", handling: "fail-request" },
  BL_CLIENT_TIMEOUT: { httpStatus: 408, type: "invalid_request_error", handling: "fail-request" },
  BL_UNKNOWN_MODEL: { httpStatus: 404, type: "invalid_request_error", handling: "fail-request" },
  BL_NOT_FOUND: { httpStatus: 404, type: "invalid_request_error", handling: "fail-request" },
  BL_INVALID_TENANT_ID: { httpStatus: 400, type: "invalid_request_error", handling: "terminate" },
  BL_MISSING_API_KEY: { httpStatus: 401, type: "authentication_error", handling: "fail-request" },
  BL_INVALID_API_KEY: { httpStatus: 401, type: "authentication_error", handling: "fail-request" },
  BL_TENANT_DISABLED: { httpStatus: 403, type: "permission_error", handling: "fail-request" },
  BL_REQUEST_TIMEOUT: { httpStatus: 504, type: "timeout_error", handling: "fail-request" },
  BL_PROVIDER_RATE_LIMITED: { httpStatus: 429, type: "rate_limit_error", handling: "fail-request" },
  BL_PROVIDER_ERROR: { httpStatus: 502, type: "api_error", handling: "fail-request" },
  BL_PROVIDER_TIMEOUT: { httpStatus: 504, type: "timeout_error", handling: "fail-request" },
  BL_PROVIDER_BAD_REQUEST: { httpStatus: 400, type: "invalid_request_error", handling: "fail-request" },
  BL_PROVIDER_AUTH: { httpStatus: 502, type: "api_error", handling: "fail-request" },
  BL_PROVIDER_MALFORMED_RESPONSE: { httpStatus: 502, type: "api_error", handling: "fail-request" },
  BL_PROVIDER_UNAVAILABLE: { httpStatus: 503, type: "api_error", handling: "fail-request" },
  BL_STREAM_INTERRUPTED: { httpStatus: 502, type: "api_error", handling: "fail-request" },
  BL_EVENT_INVALID: { httpStatus: 500, type: "api_error", handling: "terminate" },
  BL_EVENT_VERSION_UNSUPPORTED: { httpStatus: 500, type: "api_error", handling: "terminate" },
  BL_NATS_UNAVAILABLE: { httpStatus: 503, type: "api_error", handling: "retry" },
  BL_NATS_PUBLISH_FAILED: { httpStatus: 500, type: "api_error", handling: "retry" },
  BL_NATS_VERSION_UNSUPPORTED: { httpStatus: 500, type: "api_error", handling: "terminate" },
  BL_NATS_AUTH: { httpStatus: 500, type: "api_error", handling: "terminate" },
  BL_DATA_DIR_IN_USE: { httpStatus: 500, type: "api_error", handling: "terminate" },
  BL_STREAM_CONFLICT: { httpStatus: 500, type: "api_error", handling: "terminate" },
  BL_CONFIG_INVALID: { httpStatus: 500, type: "api_error", handling: "terminate" },
  BL_INTERNAL: { httpStatus: 500, type: "api_error", handling: "retry" },
  BL_DELIVERY_OVERLAP: { httpStatus: 500, type: "api_error", handling: "retry" },
  BL_QUOTA_EXCEEDED: { httpStatus: 429, type: "rate_limit_error", handling: "fail-request" },
  BL_PROVIDER_BACKPRESSURE: { httpStatus: 503, type: "api_error", handling: "fail-request" },
  BL_CIRCUIT_OPEN: { httpStatus: 503, type: "api_error", handling: "fail-request" },
  BL_API_KEY_EXPIRED: { httpStatus: 401, type: "authentication_error", handling: "fail-request" },
  BL_MODEL_NOT_ALLOWED: { httpStatus: 403, type: "permission_error", handling: "fail-request" },
  BL_ADMIN_UNAUTHORIZED: { httpStatus: 401, type: "authentication_error", handling: "fail-request" },
  BL_TENANT_NOT_FOUND: { httpStatus: 404, type: "invalid_request_error", handling: "fail-request" },
  BL_TENANT_EXISTS: { httpStatus: 409, type: "invalid_request_error", handling: "fail-request" },
  BL_API_KEY_NOT_FOUND: { httpStatus: 404, type: "invalid_request_error", handling: "fail-request" },
  BL_API_KEY_NOT_ACTIVE: { httpStatus: 409, type: "invalid_request_error", handling: "fail-request" },
  BL_NO_ELIGIBLE_MODEL: { httpStatus: 400, type: "invalid_request_error", handling: "fail-request" },
  BL_MODEL_KIND_MISMATCH: { httpStatus: 400, type: "invalid_request_error", handling: "fail-request" },
  BL_POLICY_INVALID: { httpStatus: 400, type: "invalid_request_error", handling: "fail-request" },
  BL_CATALOG_INVALID: { httpStatus: 400, type: "invalid_request_error", handling: "fail-request" },
  BL_EXTENSION_REJECTED: { httpStatus: 400, type: "invalid_request_error", handling: "fail-request" },
  BL_EXTENSION_TIMEOUT: { httpStatus: 504, type: "timeout_error", handling: "fail-request" },
  BL_EXTENSION_FAILED: { httpStatus: 502, type: "api_error", handling: "fail-request" },
  BL_EXTENSION_UNAVAILABLE: { httpStatus: 503, type: "api_error", handling: "fail-request" },
  BL_NOTARY_KEY_INVALID: { httpStatus: 500, type: "api_error", handling: "terminate" },
  BL_IDEMPOTENCY_KEY_REUSED: { httpStatus: 422, type: "invalid_request_error", handling: "fail-request" },
  BL_IDEMPOTENCY_KEY_EXPIRED: { httpStatus: 422, type: "invalid_request_error", handling: "fail-request" },
  BL_DRAINING: { httpStatus: 503, type: "api_error", handling: "retry" },
  BL_AUTH_RATE_LIMITED: { httpStatus: 429, type: "rate_limit_error", handling: "fail-request" },
  BL_METRICS_UNAUTHORIZED: { httpStatus: 401, type: "authentication_error", handling: "fail-request" },
  BL_DEV_KEY_ON_NETWORK: { httpStatus: 500, type: "api_error", handling: "terminate" },
  BL_EVENT_SIGNING_KEY_INVALID: { httpStatus: 500, type: "api_error", handling: "terminate" },
  BL_ENVELOPE_REJECTED: { httpStatus: 403, type: "permission_error", handling: "terminate" },
  BL_PRODUCER_UNAUTHORIZED: { httpStatus: 403, type: "permission_error", handling: "terminate" },
  BL_REPLY_TO_FORBIDDEN: { httpStatus: 403, type: "permission_error", handling: "terminate" },
  BL_PRODUCER_NOT_FOUND: { httpStatus: 404, type: "invalid_request_error", handling: "fail-request" },
  BL_MASTER_KEY_INVALID: { httpStatus: 500, type: "api_error", handling: "retry" },
  BL_CONTENT_UNREADABLE: { httpStatus: 500, type: "api_error", handling: "terminate" },
  BL_TENANT_ERASED: { httpStatus: 403, type: "permission_error", handling: "fail-request" },
  BL_NATS_PERMISSION_DENIED: { httpStatus: 403, type: "permission_error", handling: "fail-request" },
  BL_HEDGE_LOST: { httpStatus: 500, type: "api_error", handling: "fail-request" },
} as const satisfies Record<string, ErrorCodeSpec>;

export interface ErrorCodeSpec {
  /** Status the HTTP gateway answers with. */
  httpStatus: number;
  /** The OpenAI-style `error.type` of the body. */
  type: string;
  /** What a stage consumer does with the message. */
  handling: "retry" | "terminate" | "fail-request";
}

export type ErrorCode = keyof typeof ErrorCodes;
