import { anthropicErrorBody } from "./anthropic-frames.js";
import { errorBody } from "./frames.js";

/**
 * Faults the mock injects on request, chosen per request by the `x-mock-fault` header or a
 * model named `mock-fault-<fault>` (the header wins).
 */
export const MockFault = {
  /** 400 `invalid_request_error`. */
  BadRequest: "400",
  /** 400 with code `context_length_exceeded`. */
  ContextLength: "context_length_exceeded",
  /** 429 `rate_limit_exceeded` with a `retry-after` header (`retryAfterSeconds`). */
  RateLimited: "429",
  /** 500 `server_error`. */
  ServerError: "500",
  /** 503, the provider is overloaded. */
  Overloaded: "503",
  /** Never answers: no headers, the connection stays open until the client gives up. */
  Hang: "hang",
  /** Closes the connection mid-answer: after two chunks when streaming, mid-body otherwise. */
  Cut: "cut",
  /** Answers 200 with JSON that does not parse (as the body, or as the first SSE event). */
  Malformed: "malformed",
  /** 502, a gateway in front of the provider failed. */
  BadGateway: "502",
  /** 529 `overloaded_error`, Anthropic's "the API is overloaded for everyone". */
  AnthropicOverloaded: "529",
  /**
   * Stops sending mid-answer but keeps the connection open (until the client gives up or the
   * mock closes): after the first content when streaming, half-way through the body otherwise.
   */
  Stall: "stall",
  /** Streams the first content, then an error event in the wire's shape (overloaded), then ends. */
  StreamError: "stream_error",
  /** Answers normally, but only after the server's `slowDelayMs` (a provider's slow tail). */
  Slow: "slow",
} as const;
export type MockFault = (typeof MockFault)[keyof typeof MockFault];

export const MOCK_FAULTS: ReadonlySet<string> = new Set(Object.values(MockFault));

const FAULT_MODEL_PREFIX = "mock-fault-";

/** The random draws of faults a request does not name: each has its own share of requests. */
export interface FaultDraw {
  /** Share of requests (0..1) answered 500. */
  failureRate: number;
  /** Share of requests (0..1) that get the `slow` fault. */
  slowRate: number;
  random: () => number;
}

/**
 * The fault one request gets: the one it names (`x-mock-fault` header, else a
 * `mock-fault-<fault>` model), else a server error drawn with probability `failureRate`, else
 * the slow fault drawn with probability `slowRate` (one draw decides both, so the shares add).
 * A name the mock does not know is refused with `unknownFault`, the message each wire renders
 * in its own error shape.
 */
export function chooseFault(
  header: string | string[] | undefined,
  model: string,
  draw: FaultDraw,
): { fault: MockFault | undefined } | { unknownFault: string } {
  const requested =
    (Array.isArray(header) ? header[0] : header) ??
    (model.startsWith(FAULT_MODEL_PREFIX) ? model.slice(FAULT_MODEL_PREFIX.length) : undefined);
  if (requested !== undefined && !MOCK_FAULTS.has(requested))
    return { unknownFault: `Unknown mock fault "${requested}"; use one of ${[...MOCK_FAULTS].join(", ")}.` };
  if (requested !== undefined) return { fault: requested as MockFault };
  if (draw.failureRate + draw.slowRate <= 0) return { fault: undefined };
  const roll = draw.random();
  if (roll < draw.failureRate) return { fault: MockFault.ServerError };
  if (roll < draw.failureRate + draw.slowRate) return { fault: MockFault.Slow };
  return { fault: undefined };
}

/**
 * Milliseconds to wait before the response headers (and so before the first token): the
 * server's base latency, plus `slowDelayMs` for a request that got the slow fault.
 */
export function answerDelayMs(
  fault: MockFault | undefined,
  timing: { latencyMs: number; slowDelayMs: number },
) {
  return timing.latencyMs + (fault === MockFault.Slow ? timing.slowDelayMs : 0);
}

/** The body of a 500, injected or drawn by `failureRate`. */
export const SERVER_ERROR_BODY = errorBody(
  "The mock provider had an error while processing your request.",
  "server_error",
  null,
);

/** A canned error answer: status, OpenAI-shaped body, extra headers. */
export interface ErrorAnswer {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/** The error answers of the faults that answer with an HTTP error, built once per server. */
export function faultAnswers(retryAfterSeconds: number): ReadonlyMap<MockFault, ErrorAnswer> {
  return new Map<MockFault, ErrorAnswer>([
    [
      MockFault.RateLimited,
      {
        status: 429,
        body: errorBody(
          "Rate limit reached for the mock provider; retry after the time in the retry-after header.",
          "requests",
          "rate_limit_exceeded",
        ),
        headers: { "retry-after": String(retryAfterSeconds) },
      },
    ],
    [MockFault.ServerError, { status: 500, body: SERVER_ERROR_BODY, headers: {} }],
    [
      MockFault.Overloaded,
      {
        status: 503,
        body: errorBody("The mock provider is overloaded, please try again later.", "server_error", null),
        headers: {},
      },
    ],
    [
      MockFault.BadRequest,
      {
        status: 400,
        body: errorBody(
          "The mock provider rejected the request (injected fault).",
          "invalid_request_error",
          null,
        ),
        headers: {},
      },
    ],
    [
      MockFault.ContextLength,
      {
        status: 400,
        body: errorBody(
          "This model's maximum context length is 8192 tokens; your messages resulted in more. Please reduce the length of the messages.",
          "invalid_request_error",
          "context_length_exceeded",
          "messages",
        ),
        headers: {},
      },
    ],
    [
      MockFault.BadGateway,
      {
        status: 502,
        body: errorBody("Bad gateway: the mock provider's upstream failed.", "server_error", null),
        headers: {},
      },
    ],
    [
      MockFault.AnthropicOverloaded,
      {
        status: 529,
        body: errorBody(
          "The mock provider is overloaded, please try again later.",
          "server_error",
          "overloaded",
        ),
        headers: {},
      },
    ],
  ]);
}

/**
 * The same faults in Anthropic's error body shape (`{"type":"error","error":{type,message}}`),
 * with the statuses and error types Anthropic's API uses.
 */
export function anthropicFaultAnswers(retryAfterSeconds: number): ReadonlyMap<MockFault, ErrorAnswer> {
  const answer = (status: number, type: string, message: string, headers: Record<string, string> = {}) => ({
    status,
    body: anthropicErrorBody(type, message),
    headers,
  });
  return new Map<MockFault, ErrorAnswer>([
    [
      MockFault.RateLimited,
      answer(
        429,
        "rate_limit_error",
        "This request would exceed the mock provider's rate limit; retry after the time in the retry-after header.",
        { "retry-after": String(retryAfterSeconds) },
      ),
    ],
    [MockFault.ServerError, answer(500, "api_error", "Internal server error")],
    [MockFault.BadGateway, answer(502, "api_error", "Bad gateway")],
    [MockFault.Overloaded, answer(503, "api_error", "Service unavailable")],
    [MockFault.AnthropicOverloaded, answer(529, "overloaded_error", "Overloaded")],
    [
      MockFault.BadRequest,
      answer(400, "invalid_request_error", "The mock provider rejected the request (injected fault)."),
    ],
    [
      MockFault.ContextLength,
      answer(400, "invalid_request_error", "prompt is too long: 200512 tokens > 200000 maximum"),
    ],
  ]);
}

/** The error event of the `stream_error` fault in Anthropic's SSE shape. */
export const ANTHROPIC_STREAM_ERROR_FRAME = `event: error\ndata: ${anthropicErrorBody("overloaded_error", "Overloaded")}\n\n`;

/** The error of the `stream_error` fault in OpenAI's shape (sent as a 200 body when not streaming). */
export const OPENAI_STREAM_ERROR_BODY = errorBody(
  "The mock provider is overloaded, please try again later.",
  "server_error",
  "overloaded",
);

/** The error event of the `stream_error` fault in OpenAI's SSE shape (a `data:` line with an error). */
export const OPENAI_STREAM_ERROR_FRAME = `data: ${OPENAI_STREAM_ERROR_BODY}\n\n`;
