import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  createNatsExtensionCaller,
  EXTENSION_CONTRACT_VERSION,
  extensionSubject,
} from "../../src/extensions/index.js";
import { type NatsServer, startNatsServer } from "../support/index.js";

/**
 * An external extension receives the W3C trace context of its step as NATS message headers,
 * so its own spans join the request's trace.
 */
describe("external extension calls carry the trace context", { timeout: 30_000 }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("sends traceparent and tracestate as message headers of the request", async () => {
    const seen: Record<string, string | undefined> = {};
    const subscription = nc.subscribe(extensionSubject("tracer", "v1"), {
      callback: (_error, msg) => {
        seen["traceparent"] = msg.headers?.get("traceparent");
        seen["tracestate"] = msg.headers?.get("tracestate");
        msg.respond(JSON.stringify({ contract: EXTENSION_CONTRACT_VERSION, verdict: "allow" }));
      },
    });
    await nc.flush();
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const reply = await createNatsExtensionCaller(nc).call(
      "tracer",
      "v1",
      {
        contract: EXTENSION_CONTRACT_VERSION,
        stage: "validate",
        tenant: "t1",
        requestId: "r1",
        settings: {},
      },
      5_000,
      { traceparent, tracestate: "vendor=1" },
    );
    subscription.unsubscribe();
    assert.equal(reply.verdict, "allow");
    assert.deepEqual(seen, { traceparent, tracestate: "vendor=1" });
  });
});
