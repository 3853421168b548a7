import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { reduceProducer } from "../../projections/index.js";
import { checkEventSignature, makeEvent, signEvent } from "../../src/events/index.js";
import { EventSigner } from "../../src/nats/index.js";
import { isReplyToAllowed } from "../../src/stages/index.js";

const key = Buffer.alloc(32, 7);
const otherKey = Buffer.alloc(32, 8);
const payload = new TextEncoder().encode("an event");

describe("event signatures", () => {
  it("verify only for the key, subject and payload they were made for", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }),
        fc.uint8Array(),
        fc.string({ minLength: 1 }),
        (subject, bytes, other) => {
          const signature = signEvent(key, subject, bytes);
          assert.equal(checkEventSignature(key, subject, bytes, signature), "valid");
          assert.equal(checkEventSignature(otherKey, subject, bytes, signature), "invalid");
          if (other !== subject) assert.equal(checkEventSignature(key, other, bytes, signature), "invalid");
          assert.equal(checkEventSignature(key, subject, bytes, undefined), "missing");
        },
      ),
    );
  });

  it("trust unsigned events only when stored before signing began", () => {
    const since = new Date("2026-12-01T00:00:00Z");
    const signer = new EventSigner({ key, since, source: "test" });
    const message = (storedAt: string, signature?: string) => ({
      subject: "bl.cfg.tenant.acme",
      payload,
      signature,
      storedAt: new Date(storedAt),
    });
    assert.equal(signer.trust(message("2026-11-30T23:59:59Z")), "history");
    assert.equal(signer.trust(message("2026-12-01T00:00:01Z")), "unsigned");
    assert.equal(
      signer.trust(message("2026-12-02T00:00:00Z", signer.sign("bl.cfg.tenant.acme", payload))),
      "signed",
    );
    assert.equal(
      signer.trust(message("2026-11-01T00:00:00Z", signEvent(otherKey, "bl.cfg.tenant.acme", payload))),
      "forged",
    );
    const noHistory = new EventSigner({ key, since: undefined, source: "test" });
    assert.equal(noHistory.trust(message("2020-01-01T00:00:00Z")), "unsigned");
  });
});

describe("reply subjects", () => {
  it("must lie in the producer's own inbox for a producer's request", () => {
    const origin = { producerId: "pr-0123456789abcdef" };
    assert.equal(isReplyToAllowed("bl.live.pr-0123456789abcdef.r1", origin), true);
    assert.equal(isReplyToAllowed("bl.live.pr-ffffffffffffffff.r1", origin), false);
    assert.equal(isReplyToAllowed("bl.live.pr-0123456789abcdef.*", origin), false);
    assert.equal(isReplyToAllowed("bl.usage.victim.r1", origin), false);
  });

  it("must lie in a gateway's inbox otherwise, never on a stream subject", () => {
    assert.equal(isReplyToAllowed("bl.live.gw-3f2a.req_1", {}), true);
    for (const subject of [
      "bl.usage.victim.r1",
      "bl.req.dev.r1.terminal",
      "_INBOX.abc",
      "bl.live.gw-3f2a",
      "bl.live.pr-1.r",
    ]) {
      assert.equal(isReplyToAllowed(subject, {}), false, subject);
    }
  });
});

describe("producer projection", () => {
  const context = { tenant: "acme", requestId: "", correlationId: "pr-1" };
  const issued = makeEvent(
    "producer.issued",
    "producer.issued:pr-1",
    context,
    { producerId: "pr-1", readUsage: false },
    new Date("2026-12-01T00:00:00Z"),
  );
  const revoked = makeEvent(
    "producer.revoked",
    "producer.revoked:pr-1",
    context,
    { producerId: "pr-1" },
    new Date("2026-12-02T00:00:00Z"),
  );

  it("given issued then revoked, in either order, ends revoked with the same record", () => {
    const inOrder = reduceProducer(reduceProducer(undefined, issued, 1), revoked, 2);
    const reversed = reduceProducer(reduceProducer(undefined, revoked, 2), issued, 1);
    assert.equal(inOrder?.status, "revoked");
    assert.deepEqual(inOrder, reversed);
  });

  it("a replayed event changes nothing", () => {
    const once = reduceProducer(undefined, issued, 1);
    assert.equal(reduceProducer(once, issued, 1), once);
  });
});
