import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type Msg, type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { connectNats } from "../../src/nats/connect.js";
import { headersOf, type MessageHeaders, parseHeaderBlock, rawHeaderBlock } from "../../src/nats/index.js";
import { type NatsServer, startNatsServer } from "../support/nats-server.js";

/** Every header with all its values, as an iteration gives them. */
const listed = (headers: MessageHeaders | MsgHdrs | undefined) => (headers ? [...headers] : undefined);

function sampleHeaders(): MsgHdrs {
  const h = natsHeaders();
  h.append("bl-type", "usage.recorded");
  h.append("bl-tenant", "acme");
  h.append("BL-Tenant", "other case, another header");
  h.append("bl-sig", "v1:abc=");
  h.append("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  h.append("multi", "first");
  h.append("multi", "second: with a colon");
  h.append("note", "  padded  ");
  h.append("bl-request", "réquest-✓");
  return h;
}

describe("headers read straight from a delivered message's header block", { timeout: 30_000 }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: [server.url], name: "message-headers-test" });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  const deliveredCore = async (headers: MsgHdrs | undefined): Promise<Msg> => {
    const sub = nc.subscribe("test.headers", { max: 1 });
    nc.publish("test.headers", "payload", headers ? { headers } : {});
    for await (const msg of sub) return msg;
    throw new Error("no message");
  };

  it("reads this nats.js's raw header block (a nats.js upgrade that moves it fails here)", async () => {
    const msg = await deliveredCore(sampleHeaders());
    const block = rawHeaderBlock(msg);
    assert.ok(block instanceof Uint8Array, "the fast path is taken");
    assert.match(new TextDecoder().decode(block), /^NATS\/1\.0\r\n/);
    assert.equal(rawHeaderBlock(await deliveredCore(undefined)), null);
  });

  it("gives what nats.js's own decoding gives, for a core message", async () => {
    const msg = await deliveredCore(sampleHeaders());
    const ours = headersOf(msg)!;
    assert.deepEqual(listed(ours), listed(msg.headers));
    for (const name of ["bl-type", "bl-tenant", "BL-Tenant", "multi", "note", "bl-request", "absent"])
      assert.equal(ours.get(name), msg.headers!.get(name), name);
    assert.equal(ours.get("multi"), "first");
    assert.equal(ours.get("note"), "padded");
    assert.equal(ours.get("bl-request"), "réquest-✓");
    assert.equal(headersOf(await deliveredCore(undefined)), undefined);
    assert.equal(new TextDecoder().decode(msg.data), "payload", "the payload is untouched");
  });

  it("gives what nats.js's own decoding gives, for a JetStream delivery", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "HEADERS_TEST", subjects: ["test.js.>"] });
    const js = jetstream(nc);
    const h = sampleHeaders();
    h.append("Nats-Msg-Id", "m-1");
    await js.publish("test.js.one", "stored", { headers: h });
    const consumer = await js.consumers.get("HEADERS_TEST");
    const msg = await consumer.next({ expires: 5_000 });
    assert.ok(msg);
    assert.ok(rawHeaderBlock(msg) instanceof Uint8Array, "the fast path is taken");
    const ours = headersOf(msg)!;
    assert.deepEqual(listed(ours), listed(msg.headers));
    assert.equal(ours.get("Nats-Msg-Id"), "m-1");
    assert.equal(ours.get("bl-sig"), "v1:abc=");
  });
});

describe("parsing a header block", () => {
  const parse = (text: string) => [...parseHeaderBlock(new TextEncoder().encode(text))];

  it("skips the status line and blank lines, keeps names as sent and values trimmed", () => {
    assert.deepEqual(parse("NATS/1.0 503\r\n\r\n"), []);
    assert.deepEqual(parse("NATS/1.0\r\nA: 1\r\n\r\nb:2 \r\nA:  3\r\n\r\n"), [
      ["A", ["1", "3"]],
      ["b", ["2"]],
    ]);
  });

  it("ignores a line without a colon and keeps everything after the first colon", () => {
    assert.deepEqual(parse("NATS/1.0\r\nno colon here\r\nurl: http://x:1/y\r\n\r\n"), [
      ["url", ["http://x:1/y"]],
    ]);
    assert.equal(parseHeaderBlock(new TextEncoder().encode("NATS/1.0\r\nk: v\r\n\r\n")).get("K"), "");
  });
});
