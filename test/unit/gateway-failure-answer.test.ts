import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { storedErrorBody } from "../../src/gateway/error-body.js";
import { extensionFields, failureHeaders, requestFailureOf } from "../../src/gateway/failure-answer.js";
import { anthropicErrorBody } from "../../src/gateway/messages-response.js";

const rateLimited = {
  code: "BL_QUOTA_EXCEEDED",
  message: "Too many requests; retry later.",
  httpStatus: 429,
  type: "rate_limit_error",
};

describe("failureHeaders", () => {
  it("keeps the recorded headers and adds retry-after in whole seconds, rounded up, from retryAfterMs", () => {
    assert.deepEqual(
      failureHeaders({
        error: rateLimited,
        retryAfterMs: 1_001,
        responseHeaders: { "x-ratelimit-limit-tokens": "1000", "x-ratelimit-reset-tokens": "1s" },
      }),
      { "x-ratelimit-limit-tokens": "1000", "x-ratelimit-reset-tokens": "1s", "retry-after": "2" },
    );
    assert.deepEqual(failureHeaders({ error: rateLimited, retryAfterMs: 0 }), { "retry-after": "0" });
    assert.deepEqual(failureHeaders({ error: rateLimited, retryAfterMs: 3_000 }), { "retry-after": "3" });
  });

  it("prefers a recorded retry-after (any case) to the one computed from retryAfterMs", () => {
    assert.deepEqual(
      failureHeaders({ error: rateLimited, retryAfterMs: 9_000, responseHeaders: { "Retry-After": "4" } }),
      {
        "retry-after": "4",
      },
    );
  });

  it("adds nothing to a failure without rate-limit advice", () => {
    assert.deepEqual(failureHeaders({ error: rateLimited }), {});
  });

  it("never lets a recorded header replace the gateway's framing or request id, nor send an invalid one", () => {
    assert.deepEqual(
      failureHeaders({
        error: rateLimited,
        responseHeaders: {
          "content-type": "text/html",
          "Content-Length": "0",
          "x-request-id": "forged",
          "request-id": "forged",
          "bad header": "x",
          "x-ratelimit-remaining-requests": "line\nbreak",
          "x-ratelimit-limit-requests": "60",
        },
      }),
      { "x-ratelimit-limit-requests": "60" },
    );
  });
});

describe("request.failed → the answer's parts", () => {
  it("takes error, retryAfterMs, responseHeaders and extension, leaving absent fields absent", () => {
    const extension = { name: "pii", version: "1.2.0", stage: "pre" as const };
    assert.deepEqual(
      requestFailureOf({
        stage: "admit",
        attempts: 0,
        error: rateLimited,
        retryAfterMs: 500,
        responseHeaders: { "retry-after": "1" },
        extension,
      }),
      { error: rateLimited, retryAfterMs: 500, responseHeaders: { "retry-after": "1" }, extension },
    );
    assert.deepEqual(requestFailureOf({ stage: "execute", attempts: 2, error: rateLimited }), {
      error: rateLimited,
    });
  });

  it("names the extension as name/version with its stage, in the OpenAI and the Anthropic body", () => {
    const extension = { name: "content-policy", version: "1.0.0", stage: "validate" as const };
    assert.deepEqual(extensionFields(extension), { extension: "content-policy/1.0.0", stage: "validate" });
    assert.deepEqual(extensionFields(undefined), {});
    const rejected = {
      code: "BL_EXTENSION_REJECTED",
      message: "rejected",
      httpStatus: 400,
      type: "invalid_request_error",
    };
    assert.deepEqual(storedErrorBody(rejected, extension), {
      error: {
        message: "rejected",
        type: "invalid_request_error",
        param: null,
        code: "BL_EXTENSION_REJECTED",
        extension: "content-policy/1.0.0",
        stage: "validate",
      },
    });
    assert.deepEqual(anthropicErrorBody(rejected, "req_1", extension), {
      type: "error",
      error: {
        type: "invalid_request_error",
        message: "rejected",
        code: "BL_EXTENSION_REJECTED",
        extension: "content-policy/1.0.0",
        stage: "validate",
      },
      request_id: "req_1",
    });
    assert.deepEqual(Object.keys(storedErrorBody(rejected).error).sort(), [
      "code",
      "message",
      "param",
      "type",
    ]);
  });
});
