import { type ErrorCode, ErrorCodes } from "./codes.js";

/** Details an error may carry to its HTTP answer or event; never a secret. */
export interface BeamlineErrorOptions {
  cause?: unknown;
  /** Overrides the code's default HTTP status (e.g. a provider's own 4xx). */
  httpStatus?: number;
  /** Milliseconds after which a retry may succeed (from `retry-after`, a quota window, ...). */
  retryAfterMs?: number;
  /** The request parameter at fault, as OpenAI's error body names it. */
  param?: string;
}

/**
 * The one error type Beamline raises on purpose. `message` tells the reader what to do;
 * `code` is stable and documented in `docs/errors.md`.
 */
export class BeamlineError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly retryAfterMs: number | undefined;
  readonly param: string | undefined;

  constructor(code: ErrorCode, message: string, options: BeamlineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BeamlineError";
    this.code = code;
    this.httpStatus = options.httpStatus ?? ErrorCodes[code].httpStatus;
    this.retryAfterMs = options.retryAfterMs;
    this.param = options.param;
  }

  /** OpenAI-style `error.type` of this error's code. */
  get type(): string {
    return ErrorCodes[this.code].type;
  }

  get handling(): "retry" | "terminate" | "fail-request" {
    return ErrorCodes[this.code].handling;
  }
}

/** True for a BeamlineError with the given code (or any code when none is given). */
export function isBeamlineError(error: unknown, code?: ErrorCode): error is BeamlineError {
  return error instanceof BeamlineError && (code === undefined || error.code === code);
}

/** Wraps anything thrown into a BeamlineError without losing the original as `cause`. */
export function toBeamlineError(error: unknown, fallback: ErrorCode = "BL_INTERNAL"): BeamlineError {
  if (error instanceof BeamlineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new BeamlineError(fallback, message, { cause: error });
}
