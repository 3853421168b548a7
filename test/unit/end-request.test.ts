import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../../src/errors/index.js";
import { makeEvent } from "../../src/events/index.js";
import type { OnceResult } from "../../src/nats/event-store.js";
import { LiveChannel } from "../../src/nats/live-channel.js";
import { type AcceptedEvent, endRequest, type StageDeps } from "../../src/stages/context.js";
import { failedEvent } from "../../src/stages/terminal.js";
import { chat } from "./policy-fixtures.js";

const at = new Date("2026-12-07T12:00:00Z");

function accepted(): AcceptedEvent {
  return makeEvent(
    "request.accepted",
    "req_1:accepted",
    { tenant: "acme", requestId: "req_1", correlationId: "req_1" },
    { request: chat(), frontDoor: "openai", stream: false, replyTo: "_INBOX.gw.req_1" },
    at,
  ) as AcceptedEvent;
}

/**
 * A store whose terminal append answers `answer` (a taken slot carries what the leader holds),
 * with the client notices the connection sent.
 */
function setUp(answer: OnceResult) {
  const appends: string[] = [];
  const notices: string[] = [];
  const store = {
    append: async (subject: string) => {
      appends.push(subject);
      return answer;
    },
  };
  const nc = { publish: (subject: string) => notices.push(subject) } as unknown as NatsConnection;
  return { deps: { store, nc, live: new LiveChannel(nc) } as unknown as StageDeps, appends, notices };
}

describe("storing a request's terminal event and telling the client", () => {
  const error = new BeamlineError("BL_PROVIDER_ERROR", "the provider failed");

  it("tells the client of the terminal it stored", async () => {
    const terminal = failedEvent(accepted(), "worker", error, 1, at);
    const { deps, appends, notices } = setUp({ seq: 5, duplicate: false });
    assert.equal(await endRequest(deps, accepted(), terminal), terminal);
    assert.deepEqual(appends, ["bl.req.acme.req_1.terminal"]);
    assert.deepEqual(notices, ["_INBOX.gw.req_1"]);
  });

  it("tells the client of the terminal stored first when the slot is taken", async () => {
    const first = failedEvent(accepted(), "extension", error, 0, at);
    const mine = failedEvent(accepted(), "worker", error, 1, at);
    const { deps, notices } = setUp({ seq: 3, duplicate: true, stored: first });
    assert.equal(await endRequest(deps, accepted(), mine), first);
    assert.deepEqual(notices, ["_INBOX.gw.req_1"]);
  });
});
