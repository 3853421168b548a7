import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import { type Msg, headers as natsHeaders } from "@nats-io/transport-node";
import { readTenantUsage } from "../../replay/index.js";
import {
  type BeamlineEvent,
  decodeEvent,
  type EventData,
  encodeEvent,
  ingressSubject,
  liveInboxPrefix,
} from "../../src/events/index.js";
import { newRequestId } from "../../src/gateway/request-id.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { LiveHeaders, LiveKinds } from "../../src/stages/index.js";
import { issueProducer } from "../../src/tenancy/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { readRequestHistory } from "../support/history.js";
import { waitFor } from "../support/index.js";
import { producerJsonHeaders, producerRequestEvent } from "../support/producer-events.js";

const TENANT = "dev";

function acceptedEvent(requestId: string, replyTo: string, stream = false, tenant = TENANT) {
  return producerRequestEvent(tenant, requestId, replyTo, stream);
}

/** What a waiting producer receives on its reply inbox. */
interface Received {
  chunks: Array<{ json: unknown; sequence: string }>;
  terminal: Promise<BeamlineEvent>;
}

describe("a producer publishing onto the NATS ingress", { timeout: 60_000 }, () => {
  let beamline: TestBeamline;
  let js: JetStreamClient;
  let producerId: string;

  before(async () => {
    beamline = await startTestBeamline();
    js = jetstream(beamline.nc);
    ({ producerId } = await issueProducer({ store: beamline.store, now: new Date() }, TENANT, {}));
  });
  after(() => beamline?.stop());

  /** Subscribes to a fresh inbox under the producer's own prefix before anything is published. */
  function listen(): { inbox: string; received: Received } {
    const inbox = `${liveInboxPrefix(producerId)}${randomBytes(8).toString("hex")}`;
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

  it("gets the terminal event on its reply inbox for a JSON request.accepted", async () => {
    const requestId = newRequestId();
    const { inbox, received } = listen();
    const event = acceptedEvent(requestId, inbox);
    const ack = await js.publish(ingressSubject(TENANT, producerId, requestId), JSON.stringify(event), {
      msgID: event.id,
      headers: producerJsonHeaders(),
    });
    assert.equal(ack.duplicate, false);

    const terminal = await received.terminal;
    assert.equal(terminal.type, "request.completed");
    assert.equal(terminal.requestId, requestId);
    const completed = terminal.data as EventData<"request.completed">;
    assert.deepEqual(completed.completion?.choices[0]?.["message"], {
      role: "assistant",
      content: `Mock provider reply to: Hello over NATS, ${requestId}`,
      refusal: null,
    });
    assert.equal(completed.apiKeyId, undefined, "no key: the request came in over NATS");
    const [accepted] = await readRequestHistory(beamline.nc, TENANT, requestId);
    assert.ok(accepted, "the ingress stored the request");
    assert.equal((accepted.event.data as EventData<"request.accepted">).producerId, producerId);
  });

  it("gets streamed chunks, in order, before the terminal event for a CBOR request.accepted", async () => {
    const requestId = newRequestId();
    const { inbox, received } = listen();
    const event = acceptedEvent(requestId, inbox, true);
    const encoded = encodeEvent(event);
    const h = natsHeaders();
    for (const [name, value] of Object.entries(encoded.headers)) h.set(name, value);
    await js.publish(ingressSubject(TENANT, producerId, requestId), encoded.payload, {
      msgID: event.id,
      headers: h,
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
  });

  it("gets every chunk on its own even when its event asks for batches (the ingress drops the field)", async () => {
    const requestId = newRequestId();
    const { inbox, received } = listen();
    const event = acceptedEvent(requestId, inbox, true);
    (event.data as Record<string, unknown>)["batchedChunks"] = true;
    const kinds: string[] = [];
    const sub = beamline.nc.subscribe(inbox, {
      callback: (_error, msg) => {
        kinds.push(msg.headers?.get(LiveHeaders.kind) ?? "");
      },
    });
    await js.publish(ingressSubject(TENANT, producerId, requestId), JSON.stringify(event), {
      msgID: event.id,
      headers: producerJsonHeaders(),
    });
    assert.equal((await received.terminal).type, "request.completed");
    sub.unsubscribe();
    assert.ok(received.chunks.length > 1, `${received.chunks.length} chunk(s) before the terminal`);
    assert.deepEqual(
      kinds.filter((kind) => kind !== LiveKinds.terminal),
      received.chunks.map(() => LiveKinds.chunk),
    );
  });

  it("never runs a request twice when the producer publishes it again, with or without its message id", async () => {
    const requestId = newRequestId();
    const { inbox, received } = listen();
    const event = acceptedEvent(requestId, inbox);
    const subject = ingressSubject(TENANT, producerId, requestId);
    const payload = JSON.stringify(event);
    await js.publish(subject, payload, { msgID: event.id, headers: producerJsonHeaders() });
    await received.terminal;

    // A retry with the same message id is de-duplicated by the ingress stream; one under a new
    // id reaches the ingress, whose write-once accepted slot stores the request only once.
    const retry = await js.publish(subject, payload, { msgID: event.id, headers: producerJsonHeaders() });
    assert.equal(retry.duplicate, true);
    await js.publish(subject, payload, { msgID: `${event.id}:again`, headers: producerJsonHeaders() });

    await waitForConsumerCaughtUp(beamline.nc, StreamNames.ingress, ConsumerNames.ingress);
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
});
