import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { JetStreamStatusError, jserrors } from "@nats-io/jetstream/internal";
import {
  ClosedConnectionError,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import { BeamlineError } from "../../src/errors/index.js";
import { JetStreamPublishError } from "../../src/nats/jetstream-publisher.js";
import { isTransientNatsError, isWrongLastSequence } from "../../src/nats/transient.js";

/** What nats.js throws for a JetStream API error in a publish ack or API answer. */
function apiError(status: number, errCode: number, description: string): JetStreamApiError {
  return new JetStreamApiError({ code: status, err_code: errCode, description });
}

describe("isTransientNatsError", () => {
  it("retries nats.js timeouts, bare or wrapped in a RequestError", () => {
    assert.ok(isTransientNatsError(new TimeoutError()));
    assert.ok(isTransientNatsError(new RequestError("timeout", { cause: new TimeoutError() })));
  });

  it("retries no responders (no stream leader yet), bare, wrapped, or as JetStreamNotEnabled", () => {
    const noResponders = new NoRespondersError("bl.req.acme.r1");
    assert.ok(isTransientNatsError(noResponders));
    assert.ok(isTransientNatsError(new RequestError(noResponders.message, { cause: noResponders })));
    const notEnabled = new jserrors.JetStreamNotEnabled("jetstream is not enabled", {
      cause: new RequestError("no responders", { cause: noResponders }),
    });
    assert.ok(isTransientNatsError(notEnabled));
  });

  it("retries JetStream answers that say temporarily unavailable, by code or by status 503", () => {
    assert.ok(isTransientNatsError(apiError(503, 10008, "JetStream system temporarily unavailable")));
    assert.ok(isTransientNatsError(apiError(503, 10076, "JetStream not enabled")));
    assert.ok(isTransientNatsError(apiError(400, 10005, "insufficient resources")));
    assert.ok(isTransientNatsError(new JetStreamPublishError("anything", 99_999, 503)));
    const forAccount = apiError(
      503,
      JetStreamApiCodes.JetStreamNotEnabledForAccount,
      "not enabled for account",
    );
    assert.ok(
      isTransientNatsError(new jserrors.JetStreamNotEnabled(forAccount.message, { cause: forAccount })),
    );
  });

  it("retries a direct get answered 503 (no stream leader), not one answered 404 (no message)", () => {
    assert.ok(isTransientNatsError(new JetStreamStatusError("no responders", 503)));
    assert.ok(!isTransientNatsError(new JetStreamStatusError("no message found", 404)));
  });

  it("retries the publisher's BL_NATS_UNAVAILABLE when nats.js's cause is transient", () => {
    const timedOut = new BeamlineError("BL_NATS_UNAVAILABLE", "no publish ack within 300 ms", {
      cause: new TimeoutError(),
    });
    assert.ok(isTransientNatsError(timedOut));
  });

  it("does not retry final failures: a closed connection or publisher, a rejected write, a bug", () => {
    assert.ok(!isTransientNatsError(new ClosedConnectionError()));
    assert.ok(
      !isTransientNatsError(new RequestError("timeout", { cause: new ClosedConnectionError() })),
      "a closed connection is final even when a timeout follows it",
    );
    assert.ok(
      !isTransientNatsError(new BeamlineError("BL_NATS_UNAVAILABLE", "the JetStream publisher closed")),
    );
    assert.ok(!isTransientNatsError(apiError(400, 10071, "wrong last sequence: 4")));
    assert.ok(!isTransientNatsError(new JetStreamPublishError("maximum message size exceeded", 10054, 400)));
    assert.ok(!isTransientNatsError(new TypeError("cannot read properties of undefined")));
    assert.ok(!isTransientNatsError("timeout"));
    assert.ok(!isTransientNatsError(undefined));
  });

  it("classifies by class and code, not by words in a message", () => {
    assert.ok(!isTransientNatsError(new Error("timeout: no responders, 503, disconnected")));
    assert.ok(!isTransientNatsError(new Error("jetstream is not enabled")));
  });

  it("survives a cause cycle", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    (a as { cause?: unknown }).cause = b;
    assert.ok(!isTransientNatsError(a));
  });
});

describe("isWrongLastSequence", () => {
  it("recognises a failed expected-sequence check from nats.js and from our publisher", () => {
    assert.ok(
      isWrongLastSequence(apiError(400, JetStreamApiCodes.StreamWrongLastSequence, "wrong last sequence: 4")),
    );
    assert.ok(isWrongLastSequence(new JetStreamPublishError("wrong last sequence: 4", 10071, 400)));
    assert.ok(
      isWrongLastSequence(
        apiError(400, JetStreamApiCodes.StreamWrongLastSequenceUnknown, "wrong last sequence"),
      ),
    );
  });

  it("is false for other JetStream errors and for a message that merely says so", () => {
    assert.ok(!isWrongLastSequence(apiError(503, 10008, "JetStream system temporarily unavailable")));
    assert.ok(!isWrongLastSequence(new Error("wrong last sequence")));
    assert.ok(!isWrongLastSequence(new TimeoutError()));
  });
});
