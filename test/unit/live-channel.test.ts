import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../../src/errors/index.js";
import { makeEvent } from "../../src/events/index.js";
import { type TerminalDelivery, WaiterRegistry } from "../../src/gateway/waiters.js";
import { LiveChannel } from "../../src/nats/live-channel.js";
import { type AcceptedEvent, notifyTerminal, type TerminalEvent } from "../../src/stages/context.js";
import { LiveHeaders, LiveKinds } from "../../src/stages/live.js";
import { failedEvent } from "../../src/stages/terminal.js";
import { chat } from "./policy-fixtures.js";

/**
 * The live channel of one connection: a notice to the inbox of a gateway in the same process
 * stays in the process (in order, after the sender's code, the terminal event handed over as
 * the object the worker made), and every other notice is published on NATS as before.
 */
const at = new Date("2026-12-07T12:00:00Z");

/** A connection that records what it publishes and delivers nothing. */
function recordingConnection() {
  const published: Array<{ subject: string; headers: Record<string, string>; data: Uint8Array }> = [];
  const nc = {
    subscribe: () => ({ unsubscribe: () => undefined }),
    publish: (subject: string, data: Uint8Array, options: { headers: MsgHdrs }) => {
      const headers: Record<string, string> = {};
      for (const [name, values] of options.headers) headers[name] = values.join(",");
      published.push({ subject, headers, data });
    },
  };
  return { nc: nc as unknown as NatsConnection, published };
}

function accepted(replyTo: string): AcceptedEvent {
  return makeEvent(
    "request.accepted",
    "req_1:accepted",
    { tenant: "acme", requestId: "req_1", correlationId: "req_1" },
    { request: chat({ stream: true }), frontDoor: "openai", stream: true, replyTo },
    at,
  ) as AcceptedEvent;
}

function failed(request: AcceptedEvent): TerminalEvent {
  return failedEvent(request, "worker", new BeamlineError("BL_PROVIDER_ERROR", "the provider failed"), 1, at);
}

function setUp() {
  const { nc, published } = recordingConnection();
  const live = new LiveChannel(nc);
  const errors: unknown[] = [];
  const registry = new WaiterRegistry(nc, "gw-1", (error) => errors.push(error), undefined, live);
  const seen: string[] = [];
  const terminals: Array<{ event: TerminalEvent; delivery: TerminalDelivery | undefined }> = [];
  registry.register("req_1", {
    onChunk: (json, generation) => seen.push(`chunk ${generation} ${Buffer.from(json).toString()}`),
    onTerminal: (event, delivery) => {
      seen.push("terminal");
      terminals.push({ event, delivery });
    },
  });
  return { nc, live, registry, published, errors, seen, terminals };
}

const chunkHeaders = (sequence: number, kind: string = LiveKinds.chunk) => ({
  [LiveHeaders.kind]: kind,
  [LiveHeaders.generation]: "1.1",
  [LiveHeaders.sequence]: String(sequence),
});
const bytes = (text: string) => new TextEncoder().encode(text);

describe("the live channel", () => {
  it("hands notices to a gateway of this process after the sender's code, in order, without NATS", async () => {
    const { live, registry, published, errors, seen, terminals } = setUp();
    const request = accepted(registry.replySubject("req_1"));
    const terminal = failed(request);
    live.send(request.data.replyTo!, {
      headers: chunkHeaders(1),
      body: () => ({ payload: bytes('{"a":1}') }),
    });
    live.send(request.data.replyTo!, {
      headers: chunkHeaders(2, LiveKinds.chunks),
      body: () => ({ payload: bytes('{"b":2}\n{"c":3}') }),
    });
    notifyTerminal(live, request, terminal);
    assert.deepEqual(seen, [], "nothing is delivered inside send");
    await Promise.resolve();
    assert.deepEqual(seen, ['chunk 1.1 {"a":1}', 'chunk 1.1 {"b":2}', 'chunk 1.1 {"c":3}', "terminal"]);
    assert.equal(terminals[0]!.event, terminal, "the worker's own event, not a decoded copy");
    assert.deepEqual(terminals[0]!.delivery, { source: "live", streamGap: false });
    assert.deepEqual(published, []);
    assert.deepEqual(errors, []);
  });

  it("builds no payload for an in-process terminal notice", async () => {
    const { live, registry, terminals } = setUp();
    const request = accepted(registry.replySubject("req_1"));
    const terminal = failed(request);
    let built = 0;
    live.send(request.data.replyTo!, {
      headers: { [LiveHeaders.kind]: LiveKinds.terminal },
      body: () => {
        built += 1;
        return { payload: new Uint8Array(0) };
      },
      value: terminal,
    });
    await Promise.resolve();
    assert.equal(terminals.length, 1);
    assert.equal(built, 0);
  });

  it("checks an in-process terminal value it has not seen validated, and refuses a forged one", async () => {
    const { live, registry, errors, terminals } = setUp();
    const request = accepted(registry.replySubject("req_1"));
    const forged = { ...failed(request), type: "request.smuggled" };
    live.send(request.data.replyTo!, {
      headers: { [LiveHeaders.kind]: LiveKinds.terminal },
      body: () => ({ payload: new Uint8Array(0) }),
      value: forged,
    });
    await Promise.resolve();
    assert.equal(terminals.length, 0);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as BeamlineError).code, "BL_EVENT_INVALID");
  });

  it("publishes a notice to any other inbox on NATS, with the payload's own headers", () => {
    const { live, published, seen } = setUp();
    const producerRequest = accepted("bl.live.producer-7.req_1");
    notifyTerminal(live, producerRequest, failed(producerRequest));
    assert.equal(published.length, 1);
    assert.equal(published[0]!.subject, "bl.live.producer-7.req_1");
    assert.equal(published[0]!.headers[LiveHeaders.kind], LiveKinds.terminal);
    assert.ok(published[0]!.headers["bl-type"], "the event's own headers travel with it");
    assert.ok(published[0]!.data.length > 0);
    assert.deepEqual(seen, []);
  });

  it("publishes on NATS again once the gateway's registry has closed", () => {
    const { live, registry, published } = setUp();
    const replyTo = registry.replySubject("req_1");
    registry.close();
    live.send(replyTo, { headers: chunkHeaders(1), body: () => ({ payload: bytes("{}") }) });
    assert.deepEqual(
      published.map((notice) => notice.subject),
      [replyTo],
    );
  });
});
