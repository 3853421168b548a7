import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { BeamlineError, isBeamlineError } from "../../src/errors/index.js";
import { type BeamlineEvent, makeEvent, RequestSlots, requestSubject } from "../../src/events/index.js";
import { connectNats } from "../../src/nats/connect.js";
import { EventStore, type StorePublisher } from "../../src/nats/event-store.js";
import { JetStreamPublishError, JetStreamPublisher } from "../../src/nats/jetstream-publisher.js";
import { StreamNames } from "../../src/nats/names.js";
import { WRONG_LAST_SEQUENCE } from "../../src/nats/transient.js";
import { type NatsServer, startNatsServer } from "../support/index.js";

/**
 * A write-once slot is "taken" only when the stream's leader shows what it holds. The cluster
 * fault suite once saw a resumed, stale leader answer "wrong last sequence" about a write it
 * never committed; here a publisher puts that answer in front of a real server.
 */

const TENANT = "acme";
const at = new Date("2026-12-07T12:00:00Z");

/** Any event will do for the store: `name` tells two writes of one slot apart. */
function written(requestId: string, name: string): BeamlineEvent {
  return makeEvent(
    "tenant.created",
    `${requestId}:terminal`,
    { tenant: TENANT, requestId, correlationId: requestId },
    { name },
    at,
  );
}

/** A stale leader's refusal: the check failed, and nothing was stored. */
function staleRefusal(): JetStreamPublishError {
  return new JetStreamPublishError(
    "wrong last sequence: 0 (JetStream error 10071)",
    WRONG_LAST_SEQUENCE,
    400,
  );
}

/** Answers the first `refusals` publishes with a stale refusal, then publishes for real. */
function staleThenReal(nc: NatsConnection, refusals: number) {
  const real = new JetStreamPublisher(nc, 2_000);
  let calls = 0;
  const publisher: StorePublisher = {
    publish(subject: string, payload: Uint8Array, headers: MsgHdrs, timeoutMs?: number) {
      calls += 1;
      if (calls <= refusals) return Promise.reject(staleRefusal());
      return real.publish(subject, payload, headers, timeoutMs);
    },
    close: () => real.close(),
  };
  return { publisher, calls: () => calls };
}

describe("write-once slots", { timeout: 60_000 }, () => {
  let server: NatsServer;
  let nc: NatsConnection;

  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: [server.url], name: "write-once-test" });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: StreamNames.requests, subjects: ["bl.req.>"], allow_direct: true });
  });
  after(async () => {
    await nc.close();
    await server.stop();
  });

  async function messagesOn(subject: string): Promise<number> {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(StreamNames.requests, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  it("stores the first event, and answers a second write with the one stored", async () => {
    const store = new EventStore(nc);
    const subject = requestSubject(TENANT, "req_taken", RequestSlots.terminal);
    const first = await store.append(subject, written("req_taken", "first"), { once: true });
    assert.equal(first.duplicate, false);
    const second = await store.append(subject, written("req_taken", "second"), { once: true });
    assert.ok(second.duplicate);
    assert.equal(second.seq, first.seq);
    assert.equal((second.stored.data as { name: string }).name, "first");
    assert.equal(await messagesOn(subject), 1);
    store.close();
  });

  it("writes again when the slot is called taken but the leader holds nothing", async () => {
    const { publisher, calls } = staleThenReal(nc, 2);
    const store = new EventStore(nc, { publisher });
    const subject = requestSubject(TENANT, "req_stale", RequestSlots.terminal);
    const result = await store.append(subject, written("req_stale", "mine"), { once: true });
    assert.equal(result.duplicate, false, "the event was stored, not passed off as a duplicate");
    assert.equal(calls(), 3);
    assert.equal(await messagesOn(subject), 1);
    store.close();
  });

  it("fails retryably, never as a duplicate, when the refusal outlasts the write's deadline", async () => {
    const { publisher, calls } = staleThenReal(nc, Number.POSITIVE_INFINITY);
    const store = new EventStore(nc, { publisher });
    const subject = requestSubject(TENANT, "req_never", RequestSlots.terminal);
    await assert.rejects(
      store.append(subject, written("req_never", "mine"), { once: true, timeoutMs: 600 }),
      (error: unknown) => {
        assert.ok(isBeamlineError(error, "BL_NATS_UNAVAILABLE"), String(error));
        assert.match((error as BeamlineError).message, /leader holds nothing/);
        return true;
      },
    );
    assert.ok(calls() >= 2, "written again before giving up");
    assert.equal(await messagesOn(subject), 0);
    store.close();
  });

  it("refuses a write-once slot on a subject no Beamline stream stores, before publishing", async () => {
    const { publisher, calls } = staleThenReal(nc, 0);
    const store = new EventStore(nc, { publisher });
    await assert.rejects(
      store.append("elsewhere.acme.x", written("req_x", "mine"), { once: true }),
      (error: unknown) => error instanceof BeamlineError && error.code === "BL_INTERNAL",
    );
    assert.equal(calls(), 0);
    store.close();
  });
});
