import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ChatRequest } from "../../src/chat/index.js";
import { isBeamlineError } from "../../src/errors/index.js";
import { isSafeToken } from "../../src/events/index.js";
import {
  checkIdempotentRetry,
  IdempotentInFlight,
  idempotentRequestId,
  parseIdempotencyKey,
  requestFingerprint,
} from "../../src/gateway/idempotency.js";

const tenant = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const key = fc.stringMatching(/^[\x21-\x7e]{1,255}$/);

const request = (content: string, extra: Partial<ChatRequest> = {}): ChatRequest =>
  ({ model: "mock-small", messages: [{ role: "user", content }], ...extra }) as ChatRequest;

describe("Idempotency-Key: the request id", () => {
  it("is the same for the same tenant and key, on any gateway, and a safe subject token", () => {
    fc.assert(
      fc.property(tenant, key, (t, k) => {
        const id = idempotentRequestId(t, k);
        assert.equal(id, idempotentRequestId(t, k));
        assert.ok(isSafeToken(id), id);
        assert.match(id, /^idk_[0-9A-HJKMNP-TV-Z]{26}$/);
      }),
    );
  });

  it("differs between tenants and between keys", () => {
    fc.assert(
      fc.property(tenant, tenant, key, key, (t1, t2, k1, k2) => {
        fc.pre(t1 !== t2 || k1 !== k2);
        assert.notEqual(idempotentRequestId(t1, k1), idempotentRequestId(t2, k2));
      }),
    );
  });

  it("does not confuse a tenant/key split: (a, bc) and (ab, c) are different keys", () => {
    assert.notEqual(idempotentRequestId("a", "bc"), idempotentRequestId("ab", "c"));
  });
});

describe("Idempotency-Key: the header", () => {
  it("is optional", () => {
    assert.equal(parseIdempotencyKey(undefined), undefined);
  });

  it("accepts printable ASCII up to 255 characters", () => {
    fc.assert(fc.property(key, (k) => assert.equal(parseIdempotencyKey(k), k)));
  });

  it("refuses an empty, over-long, non-printable or repeated key with BL_BAD_REQUEST naming the header", () => {
    for (const bad of ["", "x".repeat(256), "has space", "tab\tkey", "ünïcode", ["a", "b"]]) {
      assert.throws(
        () => parseIdempotencyKey(bad),
        (error) => isBeamlineError(error, "BL_BAD_REQUEST") && error.param === "Idempotency-Key",
        JSON.stringify(bad),
      );
    }
  });
});

describe("Idempotency-Key: is the retry the same request?", () => {
  it("has one fingerprint whatever the key order or undefined fields of the body", () => {
    const a = { model: "m", temperature: 0.5, messages: [{ role: "user", content: "hi" }] } as ChatRequest;
    const b = {
      messages: [{ content: "hi", role: "user" }],
      temperature: 0.5,
      user: undefined,
      model: "m",
    } as ChatRequest;
    assert.equal(requestFingerprint(a), requestFingerprint(b));
  });

  it("has another fingerprint when any field differs, the stream flag included", () => {
    const base = request("hi");
    for (const changed of [
      request("hi!"),
      request("hi", { stream: true }),
      request("hi", { temperature: 1 }),
      { ...base, model: "other" },
    ]) {
      assert.notEqual(requestFingerprint(base), requestFingerprint(changed as ChatRequest));
    }
  });

  it("lets a same-body retry inside the window through", () => {
    checkIdempotentRetry({
      requestId: "idk_X",
      retry: request("hi"),
      original: request("hi"),
      originalTimeMs: 0,
      nowMs: 1_000,
      windowMs: 1_000,
    });
  });

  it("refuses another body with BL_IDEMPOTENCY_KEY_REUSED (422) naming the original request", () => {
    assert.throws(
      () =>
        checkIdempotentRetry({
          requestId: "idk_X",
          retry: request("b"),
          original: request("a"),
          originalTimeMs: 0,
          nowMs: 0,
          windowMs: 1_000,
        }),
      (error) =>
        isBeamlineError(error, "BL_IDEMPOTENCY_KEY_REUSED") &&
        error.httpStatus === 422 &&
        error.message.includes("idk_X"),
    );
  });

  it("refuses a key older than the window with BL_IDEMPOTENCY_KEY_EXPIRED (422)", () => {
    assert.throws(
      () =>
        checkIdempotentRetry({
          requestId: "idk_X",
          retry: request("a"),
          original: request("a"),
          originalTimeMs: 0,
          nowMs: 1_001,
          windowMs: 1_000,
        }),
      (error) => isBeamlineError(error, "BL_IDEMPOTENCY_KEY_EXPIRED") && error.httpStatus === 422,
    );
  });
});

describe("Idempotency-Key: requests in flight on one gateway", () => {
  it("shares one answer with a second request of the same id and forgets it once settled", async () => {
    const inFlight = new IdempotentInFlight<string>();
    let release: (value: string) => void = () => undefined;
    let runs = 0;
    const first = inFlight.run("idk_A", "fp", () => {
      runs++;
      return new Promise<string>((resolve) => {
        release = resolve;
      });
    });
    const joined = inFlight.get("idk_A");
    assert.equal(joined?.fingerprint, "fp");
    release("outcome");
    assert.equal(await first, "outcome");
    assert.equal(await joined!.outcome, "outcome");
    assert.equal(runs, 1);
    assert.equal(inFlight.get("idk_A"), undefined);
  });

  it("forgets a request whose answer failed, so a later retry runs again", async () => {
    const inFlight = new IdempotentInFlight<string>();
    await assert.rejects(inFlight.run("idk_B", "fp", () => Promise.reject(new Error("boom"))));
    assert.equal(inFlight.get("idk_B"), undefined);
  });
});
