import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { Encoder } from "cbor-x";
import { isBeamlineError } from "../../src/errors/index.js";
import {
  type BeamlineEvent,
  CBOR_CONTENT_TYPE,
  EventHeaders,
  encodeEvent,
  makeEvent,
  SIGNATURE_HEADER,
  signEvent,
} from "../../src/events/index.js";
import { decodeStoredEvent, EventSigner, plainCodec, prepareAppend } from "../../src/nats/index.js";
import { ContentCodec, type DataKey } from "../../src/vault/index.js";

/**
 * Validation at the edges: the factory validates every event once, before it is signed; a
 * reader takes an event signed with the deployment's key at its type's current version as
 * written, and validates everything else as before.
 */
const NOW = new Date("2026-01-02T03:04:05.678Z");
const key = Buffer.alloc(32, 7);
const signer = new EventSigner({ key, since: undefined, source: "test" });
const stranger = new EventSigner({ key: Buffer.alloc(32, 8), since: undefined, source: "stranger" });
const dataKey: DataKey = { key: Buffer.alloc(32, 9), revision: 3 };
const contentCodec = new ContentCodec(
  { forSealing: async () => dataKey, forOpening: async () => dataKey },
  () => "encrypted",
);
const cbor = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });
const subject = "bl.req.acme.req_1.terminal";
const context = {
  tenant: "acme",
  requestId: "req_1",
  correlationId: "req_1",
  causationId: "req_1:attempt.1",
};

function completed(): BeamlineEvent {
  return makeEvent(
    "request.completed",
    "req_1:terminal",
    context,
    {
      completion: {
        id: "req_1",
        object: "chat.completion",
        created: 1_767_000_000,
        model: "mock-small",
        choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: "hi" } }],
      },
      provider: "mock",
      model: "mock-small",
      usage: { promptTokens: 10, completionTokens: 3, cachedTokens: 0 },
      attempts: 1,
    },
    NOW,
  );
}

/** A terminal event whose data breaks its schema, as raw CBOR (no Beamline writer would produce it). */
function invalidPayload(version = 1): Uint8Array {
  const { data: _data, ...envelope } = completed();
  return cbor.encode({ ...envelope, v: version, data: { provider: 42 } });
}

function stored(payload: Uint8Array, signature: string | undefined) {
  const h = natsHeaders();
  h.set(EventHeaders.contentType, CBOR_CONTENT_TYPE);
  if (signature !== undefined) h.set(SIGNATURE_HEADER, signature);
  return { subject, payload, headers: h, storedAt: NOW };
}

const isInvalid = (error: unknown) => isBeamlineError(error, "BL_EVENT_INVALID");

describe("validation at the edges", () => {
  it("the factory refuses data that does not match its type's schema, so it is never signed", () => {
    assert.throws(
      () => makeEvent("request.completed", "req_1:terminal", context, { provider: 42 } as never, NOW),
      isInvalid,
    );
  });

  it("encoding validates an event the factory did not make", () => {
    const handMade = { ...completed(), data: { provider: 42 } } as unknown as BeamlineEvent;
    assert.throws(() => encodeEvent(handMade), isInvalid);
  });

  it("a signed event of the current version is taken as written, without a second schema check", async () => {
    // Only a holder of the signing key can make such bytes; the reader does not parse them again.
    const payload = invalidPayload();
    const { event, trust } = await decodeStoredEvent(
      plainCodec,
      signer,
      stored(payload, signEvent(key, subject, payload)),
    );
    assert.equal(trust, "signed");
    assert.deepEqual(event.data, { provider: 42 });
  });

  it("an unsigned event is still validated and refused when invalid", async () => {
    await assert.rejects(
      decodeStoredEvent(plainCodec, signer, stored(invalidPayload(), undefined)),
      isInvalid,
    );
  });

  it("an event signed with another key is still validated and refused when invalid", async () => {
    const payload = invalidPayload();
    await assert.rejects(
      decodeStoredEvent(plainCodec, signer, stored(payload, stranger.sign(subject, payload))),
      isInvalid,
    );
  });

  it("a signed event of another schema version still goes through the version check", async () => {
    const payload = invalidPayload(2);
    await assert.rejects(
      decodeStoredEvent(plainCodec, signer, stored(payload, signEvent(key, subject, payload))),
      (error) => isBeamlineError(error, "BL_EVENT_VERSION_UNSUPPORTED"),
    );
  });

  for (const open of [true, false]) {
    it(`a sealed event reads the same trusted as validated (content ${open ? "opened" : "left sealed"})`, async () => {
      const { encoded, headers } = await prepareAppend(contentCodec, signer, subject, completed(), true);
      const message = { subject, payload: encoded.payload, headers, storedAt: NOW };
      const trusted = await decodeStoredEvent(contentCodec, signer, message, { open });
      const validated = await decodeStoredEvent(contentCodec, undefined, message, { open });
      assert.equal(trusted.trust, "signed");
      assert.equal(validated.trust, "unsigned");
      assert.deepEqual(trusted.event, validated.event);
      if (open) assert.deepEqual(trusted.event, completed());
      else assert.equal((trusted.event.data as { atRest?: { mode: string } }).atRest?.mode, "encrypted");
    });
  }
});
