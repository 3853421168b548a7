import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import { createInbox, type Msg, headers as natsHeaders } from "@nats-io/transport-node";
import { readTenantUsage } from "../../replay/index.js";
import {
  type BeamlineEvent,
  decodeEvent,
  type EventData,
  EventHeaders,
  encodeEvent,
  JSON_CONTENT_TYPE,
  makeEvent,
  RequestSlots,
  requestSubject,
} from "../../src/events/index.js";
import { newRequestId } from "../../src/gateway/request-id.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { LiveHeaders, LiveKinds } from "../../src/stages/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { readRequestHistory } from "../support/history.js";
import { waitFor } from "../support/index.js";

const TENANT = "dev";

function acceptedEvent(requestId: string, replyTo: string, stream = false, tenant = TENANT) {
  const data: EventData<"request.accepted"> = {
    request: { model: "mock-small", messages: [{ role: "user", content: `Hello over NATS, ${requestId}` }] },
    frontDoor: "nats",
    stream,
    replyTo,
  };
  return makeEvent(
    "request.accepted",
    `${requestId}:${RequestSlots.accepted}`,
    { tenant, requestId, correlationId: requestId },
    data,
    new Date(),
  );
}

/** What a waiting producer receives on its reply inbox. */
interface Received {
  chunks: Array<{ json: unknown; sequence: string }>;
  terminal: Promise<BeamlineEvent>;
}

describe("a producer publishing straight onto NATS", { timeout: 40_000 }, () => {
  let beamline: TestBeamline;
  let js: JetStreamClient;

  before(async () => {
    beamline = await startTestBeamline();
    js = jetstream(beamline.nc);
  });
  after(() => beamline?.stop());

  /** Subscribes to a fresh inbox before anything is published, as a producer must. */
  function listen(): { inbox: string; received: Received } {
    const inbox = createInbox();
    const chunks: Received["chunks"] = [];
    const terminal = new Promise<BeamlineEvent>((resolve, reject) => {
      beamline.nc.subscribe(inbox, {
        callback: (error, msg: Msg) => {
          if (error) return reject(error);
          const kind = msg.headers?.get(LiveHeaders.kind);
          if (kind === LiveKinds.chunk) {
            chunks.push({ json: msg.json(), sequence: msg.headers!.get(LiveHeaders.sequence) });
          } else if (kind === LiveKinds.terminal) {
            resolve(decodeEvent(msg.data, msg.headers));
          }
        },
      });
    });
    return { inbox, received: { chunks, terminal } };
  }

  function jsonHeaders() {
    const h = natsHeaders();
    h.set(EventHeaders.contentType, JSON_CONTENT_TYPE);
    h.set(EventHeaders.type, "request.accepted");
    h.set(EventHeaders.version, "1");
    return h;
  }

  it("gets the terminal event on its reply inbox for a JSON request.accepted", async () => {
    const requestId = newRequestId();
    const { inbox, received } = listen();
    const event = acceptedEvent(requestId, inbox);
    const ack = await js.publish(
      requestSubject(TENANT, requestId, RequestSlots.accepted),
      JSON.stringify(event),
      {
        msgID: event.id,
        headers: jsonHeaders(),
        expect: { lastSubjectSequence: 0 },
      },
    );
    assert.equal(ack.duplicate, false);

    const terminal = await received.terminal;
    assert.equal(terminal.type, "request.completed");
    assert.equal(terminal.requestId, requestId);
    const completed = terminal.data as EventData<"request.completed">;
    assert.equal(completed.completion?.id, requestId);
    assert.deepEqual(completed.completion?.choices[0]?.["message"], {
      role: "assistant",
      content: `Mock provider reply to: Hello over NATS, ${requestId}`,
      refusal: null,
    });
    assert.equal(completed.apiKeyId, undefined, "no key: the request came in over NATS");
  });

  it("gets streamed chunks, in order, before the terminal event for a CBOR request.accepted", async () => {
    const requestId = newRequestId();
    const { inbox, received } = listen();
    const event = acceptedEvent(requestId, inbox, true);
    const encoded = encodeEvent(event);
    const h = natsHeaders();
    for (const [name, value] of Object.entries(encoded.headers)) h.set(name, value);
    await js.publish(requestSubject(TENANT, requestId, RequestSlots.accepted), encoded.payload, {
      msgID: event.id,
      headers: h,
      expect: { lastSubjectSequence: 0 },
    });

    const terminal = await received.terminal;
    assert.equal(terminal.type, "request.completed");
    assert.ok(received.chunks.length > 1, `${received.chunks.length} chunk(s) before the terminal`);
    assert.deepEqual(
      received.chunks.map((c) => c.sequence),
      received.chunks.map((_, index) => String(index + 1)),
    );
    const content = received.chunks
      .map(
        ({ json }) => (json as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content,
      )
      .join("");
    assert.equal(content, `Mock provider reply to: Hello over NATS, ${requestId}`);
    for (const { json } of received.chunks) assert.equal((json as { id: string }).id, requestId);
  });

  it("never runs a request twice when the producer publishes it again", async () => {
    const requestId = newRequestId();
    const { inbox, received } = listen();
    const event = acceptedEvent(requestId, inbox);
    const subject = requestSubject(TENANT, requestId, RequestSlots.accepted);
    const payload = JSON.stringify(event);
    await js.publish(subject, payload, { msgID: event.id, headers: jsonHeaders() });
    await received.terminal;

    // A producer's retry of the same event: de-duplicated by its message id.
    const retry = await js.publish(subject, payload, { msgID: event.id, headers: jsonHeaders() });
    assert.equal(retry.duplicate, true);
    // The same request id under a new event id, with the documented write-once check: refused.
    const again = acceptedEvent(requestId, inbox);
    await assert.rejects(
      js.publish(subject, JSON.stringify({ ...again, id: `${requestId}:accepted-again` }), {
        msgID: `${requestId}:accepted-again`,
        headers: jsonHeaders(),
        expect: { lastSubjectSequence: 0 },
      }),
      /wrong last sequence/i,
    );

    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.worker);
    await waitFor(
      async () =>
        (await readTenantUsage(beamline.nc, TENANT)).some(({ event }) => event.requestId === requestId),
      { what: `the usage record of ${requestId}` },
    );
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing);
    const history = await readRequestHistory(beamline.nc, TENANT, requestId);
    assert.deepEqual(
      history.map(({ event }) => event.type),
      ["request.accepted", "route.decided", "attempt.succeeded", "request.completed"],
    );
    const usage = (await readTenantUsage(beamline.nc, TENANT)).filter(
      ({ event }) => event.requestId === requestId,
    );
    assert.equal(usage.length, 1);
  });

  it("a producer's retry without the write-once check adds an event but not a second request", async () => {
    const requestId = newRequestId();
    const { inbox, received } = listen();
    const subject = requestSubject(TENANT, requestId, RequestSlots.accepted);
    const first = acceptedEvent(requestId, inbox);
    await js.publish(subject, JSON.stringify(first), { msgID: first.id, headers: jsonHeaders() });
    await received.terminal;
    const second = { ...acceptedEvent(requestId, inbox), id: `${requestId}:accepted:retry` };
    await js.publish(subject, JSON.stringify(second), { msgID: second.id, headers: jsonHeaders() });

    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.worker);
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing);
    const types = (await readRequestHistory(beamline.nc, TENANT, requestId)).map(({ event }) => event.type);
    assert.deepEqual(
      types.filter((type) => type !== "request.accepted"),
      ["route.decided", "attempt.succeeded", "request.completed"],
    );
    const usage = (await readTenantUsage(beamline.nc, TENANT)).filter(
      ({ event }) => event.requestId === requestId,
    );
    assert.equal(usage.length, 1);
  });

  // Last in this file on purpose: the stray event keeps the worker consumer busy retrying.
  it("writes nothing into another tenant's history for an event whose envelope names that tenant", async () => {
    const requestId = newRequestId();
    const { inbox } = listen();
    const event = acceptedEvent(requestId, inbox, false, "victim");
    await js.publish(requestSubject(TENANT, requestId, RequestSlots.accepted), JSON.stringify(event), {
      msgID: event.id,
      headers: jsonHeaders(),
    });
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.worker);
    const victimHistory = await readRequestHistory(beamline.nc, "victim", requestId);
    assert.deepEqual(
      victimHistory.map(({ subject, event }) => `${subject} ${event.type}`),
      [],
    );
  });
});
