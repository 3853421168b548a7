import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  classifyStatus,
  classifyStreamError,
  createRedactor,
  errorFromResponse,
  parseErrorBody,
  parseRetryAfterMs,
} from "../../../src/providers/openai/errors.js";

const NOW = Date.parse("2025-01-01T00:00:00Z");

describe("retry-after parsing", () => {
  it("reads delta-seconds, fractional seconds included", () => {
    assert.equal(parseRetryAfterMs({ "retry-after": "3" }, NOW), 3000);
    assert.equal(parseRetryAfterMs({ "retry-after": "0.25" }, NOW), 250);
  });

  it("reads an HTTP date relative to now, never negative", () => {
    assert.equal(parseRetryAfterMs({ "retry-after": "Wed, 01 Jan 2025 00:00:05 GMT" }, NOW), 5000);
    assert.equal(parseRetryAfterMs({ "retry-after": "Tue, 31 Dec 2024 23:59:00 GMT" }, NOW), 0);
  });

  it("prefers retry-after-ms", () => {
    assert.equal(parseRetryAfterMs({ "retry-after-ms": "120.5", "retry-after": "9" }, NOW), 121);
  });

  it("is undefined when absent or unreadable", () => {
    assert.equal(parseRetryAfterMs({}, NOW), undefined);
    assert.equal(parseRetryAfterMs({ "retry-after": "soon" }, NOW), undefined);
    assert.equal(parseRetryAfterMs({ "retry-after-ms": "x" }, NOW), undefined);
  });
});

describe("error body parsing", () => {
  it("reads OpenAI's shape", () => {
    const body = parseErrorBody(
      JSON.stringify({
        error: { message: "Too long", type: "invalid_request_error", param: "messages", code: "c" },
      }),
    );
    assert.deepEqual(body, {
      message: "Too long",
      type: "invalid_request_error",
      param: "messages",
      code: "c",
    });
  });

  it("tolerates the variants compatible servers send", () => {
    assert.equal(parseErrorBody('{"error":"plain"}').message, "plain");
    assert.equal(parseErrorBody('{"message":"top"}').message, "top");
    assert.equal(parseErrorBody('{"detail":"fastapi"}').message, "fastapi");
    assert.equal(parseErrorBody("<html>Bad Gateway</html>\n").message, "<html>Bad Gateway</html>");
  });
});

describe("status classification", () => {
  const body = (code?: string, message = "m") => ({ message, type: undefined, param: undefined, code });

  it("maps statuses to error classes", () => {
    const cases: Array<[number, string]> = [
      [429, "rate_limited"],
      [401, "auth"],
      [403, "auth"],
      [400, "bad_request"],
      [404, "bad_request"],
      [422, "bad_request"],
      [408, "timeout"],
      [500, "server_error"],
      [502, "server_error"],
      [504, "server_error"],
      [503, "overloaded"],
    ];
    for (const [status, errorClass] of cases)
      assert.equal(classifyStatus(status, body()), errorClass, `HTTP ${status}`);
  });

  it("recognises a context-window 400 by code, or by message when the code is missing", () => {
    assert.equal(classifyStatus(400, body("context_length_exceeded")), "context_window");
    assert.equal(
      classifyStatus(400, body(undefined, "This model's maximum context length is 4096 tokens")),
      "context_window",
    );
  });

  it("classifies errors sent inside a stream", () => {
    assert.equal(classifyStreamError(body("rate_limit_exceeded")), "rate_limited");
    assert.equal(classifyStreamError(body(undefined, "boom")), "server_error");
  });
});

describe("errors built from a response", () => {
  it("carry the provider's message, status and retry-after", () => {
    const error = errorFromResponse({
      providerName: "openai",
      status: 429,
      headers: { "retry-after": "2" },
      bodyText: JSON.stringify({
        error: { message: "Slow down", type: "requests", code: "rate_limit_exceeded" },
      }),
      nowMs: NOW,
      redact: createRedactor(undefined),
    });
    assert.equal(error.errorClass, "rate_limited");
    assert.equal(error.code, "BL_PROVIDER_RATE_LIMITED");
    assert.equal(error.providerStatus, 429);
    assert.equal(error.retryAfterMs, 2000);
    assert.match(error.message, /openai answered HTTP 429: Slow down \(rate_limit_exceeded\)/);
  });

  it("redact a key the provider echoes back", () => {
    const key = "sk-test-0123456789abcdef";
    const error = errorFromResponse({
      providerName: "openai",
      status: 401,
      headers: {},
      bodyText: JSON.stringify({ error: { message: `Incorrect API key provided: ${key}` } }),
      nowMs: NOW,
      redact: createRedactor(key),
    });
    assert.equal(error.message.includes(key), false);
    assert.match(error.message, /\[redacted\]/);
  });
});
