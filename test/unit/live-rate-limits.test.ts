import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { type EventData, makeEvent } from "../../src/events/index.js";
import { WaiterRegistry } from "../../src/gateway/waiters.js";
import { LiveChannel } from "../../src/nats/live-channel.js";
import type { AcceptedEvent, WorkerDeps } from "../../src/stages/context.js";
import { LiveHeaders, LiveKinds } from "../../src/stages/live.js";
import { notifyRateLimits, type QuotaOutcome } from "../../src/stages/quota.js";
import { chat } from "./policy-fixtures.js";

/**
 * The rate-limit notice of a streamed answer, worker to gateway: the worker tells the figures
 * admission computed before any chunk, the gateway's waiter gets exactly those, and a notice it
 * cannot read is dropped (the stream then has no rate-limit headers), never an error.
 */
type Limits = NonNullable<EventData<"request.completed">["rateLimits"]>;

const limits: Limits = {
  requests: { limit: 20, remaining: 18, resetAt: "2026-12-06T12:01:00.000Z" },
  tokens: { limit: 1_000_000, remaining: 998_000, resetAt: "2026-12-06T12:00:30.500Z" },
};
const admitted: QuotaOutcome = { admitted: true, reserved: true, rateLimits: limits };

/** A connection whose publishes reach its one subscription at once, as the live inbox's would. */
function loopbackConnection() {
  let deliver: ((error: Error | null, msg: unknown) => void) | undefined;
  const published: { subject: string; kind: string | undefined }[] = [];
  const nc = {
    subscribe: (_subject: string, options: { callback: typeof deliver }) => {
      deliver = options.callback;
      return { unsubscribe: () => undefined };
    },
    publish: (subject: string, data: string | Uint8Array, options: { headers: MsgHdrs }) => {
      published.push({ subject, kind: options.headers.get(LiveHeaders.kind) });
      const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
      deliver?.(null, { subject, data: bytes, headers: options.headers });
    },
  };
  return { nc: nc as unknown as NatsConnection, published };
}

function setUp(stream: boolean) {
  const { nc, published } = loopbackConnection();
  const errors: unknown[] = [];
  const registry = new WaiterRegistry(nc, "gw-1", (error) => errors.push(error));
  const received: Limits[] = [];
  registry.register("req_1", { onTerminal: () => undefined, onRateLimits: (told) => received.push(told) });
  const accepted = makeEvent(
    "request.accepted",
    "req_1:accepted",
    { tenant: "acme", requestId: "req_1", correlationId: "req_1" },
    { request: chat({ stream }), frontDoor: "openai", stream, replyTo: registry.replySubject("req_1") },
    new Date("2026-12-06T12:00:00Z"),
  ) as AcceptedEvent;
  return {
    deps: { nc, live: new LiveChannel(nc) } as unknown as WorkerDeps,
    nc,
    accepted,
    registry,
    received,
    published,
    errors,
  };
}

describe("the rate-limit notice of a streamed answer", () => {
  it("gives the waiting gateway exactly the figures admission computed", () => {
    const { deps, accepted, received, published, errors } = setUp(true);
    notifyRateLimits(deps, accepted, admitted);
    assert.deepEqual(
      published.map((notice) => notice.kind),
      [LiveKinds.rateLimits],
    );
    assert.deepEqual(received, [limits]);
    assert.deepEqual(errors, []);
  });

  it("reaches a gateway of the same process in-process, with the same figures", async () => {
    const { nc, accepted, published } = setUp(true);
    const live = new LiveChannel(nc);
    const errors: unknown[] = [];
    const local = new WaiterRegistry(nc, "gw-2", (error) => errors.push(error), undefined, live);
    const received: Limits[] = [];
    local.register("req_1", { onTerminal: () => undefined, onRateLimits: (told) => received.push(told) });
    const toLocal = { ...accepted, data: { ...accepted.data, replyTo: local.replySubject("req_1") } };
    notifyRateLimits({ nc, live } as unknown as WorkerDeps, toLocal as AcceptedEvent, admitted);
    await Promise.resolve();
    assert.deepEqual(published, [], "nothing went through NATS");
    assert.deepEqual(received, [limits]);
    assert.deepEqual(errors, []);
  });

  it("is not sent for a plain answer (its headers wait for request.completed) nor without limits", () => {
    const plain = setUp(false);
    notifyRateLimits(plain.deps, plain.accepted, admitted);
    const unlimited = setUp(true);
    notifyRateLimits(unlimited.deps, unlimited.accepted, { admitted: true, reserved: false });
    assert.deepEqual([...plain.published, ...unlimited.published], []);
  });

  it("is dropped when the gateway cannot read it, and reported as no error", () => {
    const { nc, registry, received, errors } = setUp(true);
    for (const body of ["not json", JSON.stringify({ requests: { limit: "many" } })]) {
      const h = natsHeaders();
      h.set(LiveHeaders.kind, LiveKinds.rateLimits);
      nc.publish(registry.replySubject("req_1"), body, { headers: h });
    }
    assert.deepEqual(received, []);
    assert.deepEqual(errors, []);
  });
});
