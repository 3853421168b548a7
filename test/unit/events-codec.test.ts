import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isBeamlineError } from "../../src/errors/index.js";
import {
  type BeamlineEvent,
  CBOR_CONTENT_TYPE,
  decodeEvent,
  EventHeaders,
  encodeEvent,
  type HeaderReader,
  JSON_CONTENT_TYPE,
  makeEvent,
} from "../../src/events/index.js";

const NOW = new Date("2026-01-02T03:04:05.678Z");

/** Header access as a NATS message offers it: exact names, "" when absent. */
function headerReader(headers: Record<string, string>): HeaderReader {
  return { get: (name) => headers[name] ?? "" };
}

function acceptedEvent(content: string) {
  return makeEvent(
    "request.accepted",
    "req_1:accepted",
    { tenant: "acme", requestId: "req_1", correlationId: "req_1", traceparent: "00-abc-def-01" },
    {
      request: { model: "mock-small", messages: [{ role: "user", content }], temperature: 0.5 },
      frontDoor: "openai",
      stream: false,
      apiKeyId: "key_1",
      replyTo: "bl.live.gw-1.req_1",
    },
    NOW,
  );
}

const completedEvent = makeEvent(
  "request.completed",
  "req_1:terminal",
  { tenant: "acme", requestId: "req_1", correlationId: "req_1", causationId: "req_1:attempt.1" },
  {
    completion: {
      id: "req_1",
      object: "chat.completion",
      created: 1_767_000_000,
      model: "mock-small",
      choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: "hi" } }],
      // A provider's extra field: the loose completion schema must keep it.
      system_fingerprint: "fp_1",
    },
    provider: "mock",
    model: "mock-small",
    usage: { promptTokens: 10, completionTokens: 3, cachedTokens: 4 },
    attempts: 1,
  },
  NOW,
);

describe("event codec", () => {
  it("round-trips an event through CBOR, the default encoding", () => {
    const encoded = encodeEvent(completedEvent);
    assert.equal(encoded.headers[EventHeaders.contentType], CBOR_CONTENT_TYPE);
    const decoded = decodeEvent(encoded.payload, headerReader(encoded.headers));
    assert.deepEqual(decoded, completedEvent);
  });

  it("reads CBOR when a message carries no content-type header at all", () => {
    const { payload } = encodeEvent(completedEvent);
    assert.deepEqual(decodeEvent(payload), completedEvent);
  });

  it("repeats type, version, tenant, request and trace in headers so consumers can route unread", () => {
    const { headers } = encodeEvent(acceptedEvent("hello"));
    assert.deepEqual(headers, {
      [EventHeaders.type]: "request.accepted",
      [EventHeaders.version]: "1",
      [EventHeaders.tenant]: "acme",
      [EventHeaders.requestId]: "req_1",
      [EventHeaders.traceparent]: "00-abc-def-01",
      [EventHeaders.contentType]: CBOR_CONTENT_TYPE,
    });
  });

  it("reads an event a foreign producer wrote as JSON with content-type application/json", () => {
    const event = makeEvent(
      "request.accepted",
      "req_2:accepted",
      { tenant: "acme", requestId: "req_2", correlationId: "req_2" },
      {
        request: { model: "mock-small", messages: [{ role: "user", content: "from a Python producer" }] },
        frontDoor: "nats",
        stream: false,
      },
      NOW,
    );
    const payload = new TextEncoder().encode(JSON.stringify(event));
    const decoded = decodeEvent(payload, headerReader({ [EventHeaders.contentType]: JSON_CONTENT_TYPE }));
    assert.deepEqual(decoded, event);
  });

  it("reads JSON whose content-type carries a charset parameter", () => {
    const payload = new TextEncoder().encode(JSON.stringify(completedEvent));
    const decoded = decodeEvent(
      payload,
      headerReader({ [EventHeaders.contentType]: "application/json; charset=utf-8" }),
    );
    assert.deepEqual(decoded, completedEvent);
  });

  it("refuses JSON sent without the content-type header as BL_EVENT_INVALID (poison), not a crash", () => {
    const payload = new TextEncoder().encode(JSON.stringify(completedEvent));
    assert.throws(
      () => decodeEvent(payload),
      (error) => isBeamlineError(error, "BL_EVENT_INVALID"),
    );
  });

  it("refuses to write an event at another version than its type's current one", () => {
    const stale = { ...completedEvent, v: 2 } as BeamlineEvent;
    assert.throws(
      () => encodeEvent(stale),
      (error) => isBeamlineError(error, "BL_EVENT_INVALID") && /version 1, got 2/.test(error.message),
    );
  });

  it("refuses an envelope without its required fields", () => {
    const { tenant: _tenant, ...withoutTenant } = completedEvent;
    const payload = new TextEncoder().encode(JSON.stringify(withoutTenant));
    assert.throws(
      () => decodeEvent(payload, headerReader({ [EventHeaders.contentType]: JSON_CONTENT_TYPE })),
      (error) => isBeamlineError(error, "BL_EVENT_INVALID") && /envelope/.test(error.message),
    );
  });

  it("refuses an unknown event type and data that does not match the type's schema", () => {
    const asJson = (value: unknown) => ({
      payload: new TextEncoder().encode(JSON.stringify(value)),
      headers: headerReader({ [EventHeaders.contentType]: JSON_CONTENT_TYPE }),
    });
    const unknown = asJson({ ...completedEvent, type: "request.teleported" });
    assert.throws(
      () => decodeEvent(unknown.payload, unknown.headers),
      (error) => isBeamlineError(error, "BL_EVENT_INVALID") && /request\.teleported/.test(error.message),
    );
    const badData = asJson({ ...completedEvent, data: { ...completedEvent.data, attempts: -1 } });
    assert.throws(
      () => decodeEvent(badData.payload, badData.headers),
      (error) => isBeamlineError(error, "BL_EVENT_INVALID") && /request\.completed v1/.test(error.message),
    );
  });

  it("refuses an event newer than this reader understands as BL_EVENT_VERSION_UNSUPPORTED", () => {
    const payload = new TextEncoder().encode(JSON.stringify({ ...completedEvent, v: 7 }));
    assert.throws(
      () => decodeEvent(payload, headerReader({ [EventHeaders.contentType]: JSON_CONTENT_TYPE })),
      (error) => isBeamlineError(error, "BL_EVENT_VERSION_UNSUPPORTED") && /upgrade/.test(error.message),
    );
  });

  it("round-trips any message text through CBOR and JSON alike", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.boolean(), (content, asJson) => {
        const event = acceptedEvent(content);
        const encoded = encodeEvent(event);
        const payload = asJson ? new TextEncoder().encode(JSON.stringify(event)) : encoded.payload;
        const contentType = asJson ? JSON_CONTENT_TYPE : CBOR_CONTENT_TYPE;
        const decoded = decodeEvent(payload, headerReader({ [EventHeaders.contentType]: contentType }));
        assert.deepEqual(decoded, event);
      }),
    );
  });
});
