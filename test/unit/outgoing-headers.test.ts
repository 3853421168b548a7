import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import { outgoingHeaders } from "../../src/nats/index.js";

/** The header block nats.js puts on the wire for these headers (its publish calls `encode`). */
const wire = (headers: MsgHdrs) =>
  new TextDecoder().decode((headers as unknown as { encode(): Uint8Array }).encode());

describe("headers built for publishing", () => {
  const entries = {
    "bl-type": "request.accepted",
    "bl-v": "1",
    "bl-tenant": "acme",
    "content-type": "application/cbor",
    traceparent: " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 ",
    "Nats-Msg-Id": "evt-1",
    "bl-sig": "v1:abc=",
  };

  it("puts on the wire exactly what nats.js's append puts there, in the same order", () => {
    const appended = natsHeaders();
    for (const [name, value] of Object.entries(entries)) appended.append(name, value);
    assert.equal(wire(outgoingHeaders(entries)), wire(appended));
    assert.match(wire(outgoingHeaders(entries)), /^NATS\/1\.0\r\nbl-type: request\.accepted\r\n/);
  });

  it("reads back like nats.js's headers", () => {
    const headers = outgoingHeaders(entries);
    assert.equal(headers.get("bl-tenant"), "acme");
    assert.equal(headers.get("traceparent"), entries.traceparent.trim());
    assert.deepEqual(headers.keys(), Object.keys(entries));
  });

  it("refuses a value with a line break, which would forge another header", () => {
    for (const value of ["acme\r\nbl-sig: forged", "a\nb", "a\rb"]) {
      assert.throws(() => outgoingHeaders({ "bl-tenant": value }), /line break/);
    }
  });
});
