import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers, type NatsConnection, NoRespondersError, TimeoutError } from "@nats-io/transport-node";
import { isBeamlineError } from "../../src/errors/index.js";
import { connectNats } from "../../src/nats/connect.js";
import { JetStreamPublishError, JetStreamPublisher } from "../../src/nats/jetstream-publisher.js";
import { isTransientNatsError, isWrongLastSequence } from "../../src/nats/transient.js";
import { type NatsServer, startNatsServer } from "../support/index.js";

const encoder = new TextEncoder();

function publishHeaders(msgId: string, once = false) {
  const h = headers();
  h.set("Nats-Msg-Id", msgId);
  if (once) h.set("Nats-Expected-Last-Subject-Sequence", "0");
  return h;
}

describe("JetStreamPublisher", { timeout: 30_000 }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;
  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: [server.url], name: "publisher-test" });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PUB", subjects: ["pub.>"], duplicate_window: 60_000_000_000 });
    publisher = new JetStreamPublisher(nc, 300);
  });
  after(async () => {
    publisher.close();
    await nc.close();
    await server.stop();
  });

  it("stores a message and reports its sequence; the same message id again is a duplicate", async () => {
    const first = await publisher.publish("pub.a", encoder.encode("one"), publishHeaders("m-1"));
    assert.deepEqual(first, { stream: "PUB", seq: 1, duplicate: false });
    const again = await publisher.publish("pub.a", encoder.encode("one"), publishHeaders("m-1"));
    assert.deepEqual(again, { stream: "PUB", seq: 1, duplicate: true });
  });

  it("settles many concurrent publishes each with its own ack", async () => {
    const acks = await Promise.all(
      Array.from({ length: 200 }, (_, n) =>
        publisher.publish(`pub.many.${n}`, encoder.encode(String(n)), publishHeaders(`many-${n}`)),
      ),
    );
    assert.equal(new Set(acks.map((ack) => ack.seq)).size, 200);
  });

  it("surfaces a failed write-once check with JetStream's error code", async () => {
    await publisher.publish("pub.once", encoder.encode("x"), publishHeaders("once-1", true));
    const error = await publisher
      .publish("pub.once", encoder.encode("y"), publishHeaders("once-2", true))
      .catch((e: unknown) => e);
    assert.ok(error instanceof JetStreamPublishError);
    assert.ok(isBeamlineError(error, "BL_NATS_PUBLISH_FAILED"));
    assert.equal(error.apiCode, 10071);
    assert.ok(isWrongLastSequence(error));
    assert.ok(!isTransientNatsError(error));
  });

  it("reports no responders, as a transient error, when no stream holds the subject", async () => {
    // A patient publisher: on a loaded machine the 503 can take longer than the shared one's 300 ms.
    const patient = new JetStreamPublisher(nc, 10_000);
    const error = await patient
      .publish("nowhere.x", encoder.encode("x"), publishHeaders("nr-1"))
      .catch((e: unknown) => e)
      .finally(() => patient.close());
    assert.ok(isBeamlineError(error, "BL_NATS_UNAVAILABLE"));
    assert.ok(error.cause instanceof NoRespondersError);
    assert.ok(isTransientNatsError(error));
  });

  it("times out, as a transient error, when nothing acknowledges", async () => {
    const silent = nc.subscribe("silent.>", { callback: () => undefined });
    try {
      const error = await publisher
        .publish("silent.x", encoder.encode("x"), publishHeaders("to-1"))
        .catch((e: unknown) => e);
      assert.ok(isBeamlineError(error, "BL_NATS_UNAVAILABLE"));
      assert.ok(error.cause instanceof TimeoutError);
      assert.ok(isTransientNatsError(error));
    } finally {
      silent.unsubscribe();
    }
  });

  it("classifies nats.js's own publish errors the same way: no stream is transient, a lost race is not", async () => {
    const js = jetstream(nc, { timeout: 1_000 });
    const noStream = await js.publish("nowhere.js", encoder.encode("x")).catch((e: unknown) => e);
    assert.ok(isTransientNatsError(noStream), `expected a transient error, got ${String(noStream)}`);
    await js.publish("pub.race", encoder.encode("a"), { msgID: "race-1" });
    const lost = await js
      .publish("pub.race", encoder.encode("b"), { msgID: "race-2", expect: { lastSubjectSequence: 0 } })
      .catch((e: unknown) => e);
    assert.ok(isWrongLastSequence(lost), `expected wrong last sequence, got ${String(lost)}`);
    assert.ok(!isTransientNatsError(lost));
  });
});
