import assert from "node:assert/strict";
import crypto from "node:crypto";
import { syncBuiltinESMExports } from "node:module";
import { describe, it, mock } from "node:test";
import fc from "fast-check";
import { AuthFailureLimiter, bearerTokenMatches } from "../../src/gateway/index.js";

const TOKEN = "operator-token-0123456789abcdef";

/**
 * Runs `body` with `crypto.timingSafeEqual` observed (named imports of a builtin follow its
 * default export once `syncBuiltinESMExports` runs), returning the byte lengths it compared.
 */
function comparedLengths(body: () => void): Array<[number, number]> {
  const spy = mock.method(crypto, "timingSafeEqual");
  syncBuiltinESMExports();
  try {
    body();
    return spy.mock.calls.map((call) => {
      const [a, b] = call.arguments as unknown as [Uint8Array, Uint8Array];
      return [a.byteLength, b.byteLength];
    });
  } finally {
    spy.mock.restore();
    syncBuiltinESMExports();
  }
}

describe("operator token comparison", () => {
  it("accepts the exact bearer token, through one constant-time comparison of two digests", () => {
    let matched = false;
    const lengths = comparedLengths(() => {
      matched = bearerTokenMatches(`Bearer ${TOKEN}`, TOKEN);
    });
    assert.equal(matched, true);
    assert.deepEqual(lengths, [[32, 32]]);
  });

  it("refuses any other header through the same comparison, whatever its length", () => {
    const presented = [
      `Bearer ${TOKEN.slice(0, -1)}x`,
      `Bearer ${TOKEN}x`,
      "Bearer a",
      `Bearer ${"z".repeat(4096)}`,
      TOKEN,
      "",
      undefined,
    ];
    for (const header of presented) {
      let matched = true;
      const lengths = comparedLengths(() => {
        matched = bearerTokenMatches(header, TOKEN);
      });
      assert.equal(matched, false, `header ${String(header).slice(0, 40)}`);
      assert.deepEqual(lengths, [[32, 32]], "a wrong token is compared like the right one");
    }
  });

  it("never matches a token other than the configured one (property)", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 200 }), (other) => {
        fc.pre(other !== TOKEN && !/\s/.test(other));
        assert.equal(bearerTokenMatches(`Bearer ${other}`, TOKEN), false);
      }),
    );
  });
});

describe("failed authentication limiter", () => {
  const limits = { failureBurst: 3, failureRefillMs: 1_000 };

  it("lets an address fail `failureBurst` times, then asks it to wait one refill", () => {
    let now = 0;
    const limiter = new AuthFailureLimiter(limits, () => now);
    for (let attempt = 0; attempt < 3; attempt++) {
      assert.equal(limiter.waitMs("10.0.0.1"), 0, `attempt ${attempt + 1} is allowed`);
      limiter.recordFailure("10.0.0.1");
    }
    assert.equal(limiter.waitMs("10.0.0.1"), 1_000);
    now = 400;
    assert.equal(limiter.waitMs("10.0.0.1"), 600, "the wait shrinks as time passes");
  });

  it("lets the address try again once a token is earned back", () => {
    let now = 0;
    const limiter = new AuthFailureLimiter(limits, () => now);
    for (let attempt = 0; attempt < 3; attempt++) limiter.recordFailure("10.0.0.1");
    now = 1_000;
    assert.equal(limiter.waitMs("10.0.0.1"), 0);
    limiter.recordFailure("10.0.0.1");
    assert.equal(limiter.waitMs("10.0.0.1"), 1_000, "one earned attempt, then a wait again");
  });

  it("limits each address on its own", () => {
    const limiter = new AuthFailureLimiter(limits, () => 0);
    for (let attempt = 0; attempt < 3; attempt++) limiter.recordFailure("10.0.0.1");
    assert.ok(limiter.waitMs("10.0.0.1") > 0);
    assert.equal(limiter.waitMs("10.0.0.2"), 0);
  });

  it("never makes an address wait longer than one refill after its last failure (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gapMs: fc.nat(3_000), address: fc.constantFrom("a", "b") }), { maxLength: 60 }),
        (failures) => {
          let now = 0;
          const limiter = new AuthFailureLimiter(limits, () => now);
          for (const { gapMs, address } of failures) {
            now += gapMs;
            if (limiter.waitMs(address) === 0) limiter.recordFailure(address);
            assert.ok(limiter.waitMs(address) <= limits.failureRefillMs);
          }
          now += limits.failureRefillMs;
          assert.equal(limiter.waitMs("a"), 0);
          assert.equal(limiter.waitMs("b"), 0);
        },
      ),
    );
  });
});
