import type { ErrorCode } from "../errors/index.js";
import { BeamlineError } from "../errors/index.js";
import { ProviderErrorClass } from "./types.js";

const codeByClass: Record<ProviderErrorClass, ErrorCode> = {
  rate_limited: "BL_PROVIDER_RATE_LIMITED",
  overloaded: "BL_PROVIDER_UNAVAILABLE",
  server_error: "BL_PROVIDER_ERROR",
  timeout: "BL_PROVIDER_TIMEOUT",
  connection: "BL_PROVIDER_UNAVAILABLE",
  bad_request: "BL_PROVIDER_BAD_REQUEST",
  context_window: "BL_PROVIDER_BAD_REQUEST",
  auth: "BL_PROVIDER_AUTH",
  malformed: "BL_PROVIDER_MALFORMED_RESPONSE",
  stream_interrupted: "BL_STREAM_INTERRUPTED",
};

const retryableClasses: ReadonlySet<ProviderErrorClass> = new Set([
  ProviderErrorClass.RateLimited,
  ProviderErrorClass.Overloaded,
  ProviderErrorClass.ServerError,
  ProviderErrorClass.Timeout,
  ProviderErrorClass.Connection,
  ProviderErrorClass.Malformed,
]);

/**
 * A failed provider call. `errorClass` drives retry and failover; `providerStatus` is the
 * upstream HTTP status when there was one. The message never contains credentials: adapters
 * build it from the provider's error body, not from request headers.
 */
export class ProviderError extends BeamlineError {
  readonly errorClass: ProviderErrorClass;
  readonly providerStatus: number | undefined;

  constructor(
    errorClass: ProviderErrorClass,
    message: string,
    options: { providerStatus?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(codeByClass[errorClass], message, {
      cause: options.cause,
      ...(options.retryAfterMs === undefined ? {} : { retryAfterMs: options.retryAfterMs }),
    });
    this.name = "ProviderError";
    this.errorClass = errorClass;
    this.providerStatus = options.providerStatus;
  }

  /** Whether another try (same or next candidate) may succeed. */
  get retryable(): boolean {
    return retryableClasses.has(this.errorClass);
  }
}
