import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../../src/errors/index.js";
import { makeEvent } from "../../src/events/index.js";
import type { AppendResult } from "../../src/nats/event-store.js";
import {
  type AcceptedEvent,
  endRequest,
  type StageDeps,
  type TerminalEvent,
} from "../../src/stages/context.js";
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
 * A store whose terminal appends answer from `answers` in turn, and whose leader holds `held`
 * (what a read of the slot returns), with the client notices the connection sent.
 */
function setUp(answers: AppendResult[], held: () => TerminalEvent | undefined) {
  const appends: string[] = [];
  const notices: string[] = [];
  const store = {
    append: async (subject: string) => {
      appends.push(subject);
      return answers.shift() ?? { seq: 9, duplicate: false };
    },
    readLast: async () => held(),
  };
  const nc = { publish: (subject: string) => notices.push(subject) } as unknown as NatsConnection;
  return { deps: { store, nc } as unknown as StageDeps, appends, notices };
}

describe("storing a request's terminal event and telling the client", () => {
  const error = new BeamlineError("BL_PROVIDER_ERROR", "the provider failed");

  it("tells the client of the terminal it stored", async () => {
    const terminal = failedEvent(accepted(), "worker", error, 1, at);
    const { deps, appends, notices } = setUp([{ seq: 5, duplicate: false }], () => undefined);
    assert.equal(await endRequest(deps, accepted(), terminal), terminal);
    assert.equal(appends.length, 1);
    assert.deepEqual(notices, ["_INBOX.gw.req_1"]);
  });

  it("tells the client of the terminal stored first when the slot is taken", async () => {
    const first = failedEvent(accepted(), "extension", error, 0, at);
    const mine = failedEvent(accepted(), "worker", error, 1, at);
    const { deps, notices } = setUp([{ seq: undefined, duplicate: true }], () => first);
    assert.equal(await endRequest(deps, accepted(), mine), first);
    assert.equal(notices.length, 1);
  });

  it("writes again when the stream calls the slot taken but its leader holds nothing", async () => {
    const terminal = failedEvent(accepted(), "worker", error, 1, at);
    const { deps, appends, notices } = setUp(
      [
        { seq: undefined, duplicate: true },
        { seq: 7, duplicate: false },
      ],
      () => undefined,
    );
    assert.equal(await endRequest(deps, accepted(), terminal), terminal);
    assert.equal(appends.length, 2, "written again after the unconfirmed duplicate");
    assert.equal(notices.length, 1, "the client hears once, after the write that stored it");
  });

  it("never tells the client of a terminal no leader holds: a retryable error for a redelivery", async () => {
    const terminal = failedEvent(accepted(), "worker", error, 1, at);
    const duplicate: AppendResult = { seq: undefined, duplicate: true };
    const { deps, appends, notices } = setUp([duplicate, duplicate, duplicate, duplicate], () => undefined);
    await assert.rejects(endRequest(deps, accepted(), terminal), (thrown: unknown) => {
      assert.ok(thrown instanceof BeamlineError);
      assert.equal(thrown.code, "BL_NATS_UNAVAILABLE");
      return true;
    });
    assert.equal(appends.length, 4);
    assert.deepEqual(notices, []);
  });
});
