import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RequestError, TimeoutError } from "@nats-io/transport-node";
import { fromHttpFrameworkError } from "../../src/gateway/error-body.js";

describe("fromHttpFrameworkError", () => {
  // Found by the 100,000-case fuzz run: `GET /admin/v1/tenants` reads NATS, and a read that
  // timed out while the process stalled answered 500 BL_INTERNAL.
  it("answers a NATS read that timed out 503 BL_NATS_UNAVAILABLE with a retry delay, not 500", () => {
    const error = fromHttpFrameworkError(new TimeoutError(), 1024);
    assert.equal(error.code, "BL_NATS_UNAVAILABLE");
    assert.equal(error.httpStatus, 503);
    assert.equal(error.retryAfterMs, 1_000);
  });

  it("sees the timeout through the RequestError nats.js wraps it in", () => {
    const error = fromHttpFrameworkError(new RequestError("timeout", { cause: new TimeoutError() }), 1024);
    assert.equal(error.code, "BL_NATS_UNAVAILABLE");
  });

  it("keeps any other unexpected error a 500 BL_INTERNAL", () => {
    const error = fromHttpFrameworkError(new TypeError("x is undefined"), 1024);
    assert.equal(error.code, "BL_INTERNAL");
    assert.equal(error.httpStatus, 500);
  });
});
