import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type BeamlineEvent, makeEvent } from "../../src/events/index.js";
import { percentile, RecentRequests } from "../../src/gateway/console/index.js";

const T0 = Date.parse("2026-12-06T10:00:00.000Z");
const at = (ms: number) => new Date(T0 + ms);
const context = (requestId: string) => ({ tenant: "acme", requestId, correlationId: requestId });

function accepted(requestId: string, ms: number): BeamlineEvent {
  return makeEvent(
    "request.accepted",
    `${requestId}:a`,
    context(requestId),
    { frontDoor: "openai", stream: false },
    at(ms),
  );
}

function completed(requestId: string, ms: number): BeamlineEvent {
  const usage = { promptTokens: 3, completionTokens: 5, cachedTokens: 0 };
  const data = { provider: "mock", model: "mock-small", usage, attempts: 1 };
  return makeEvent("request.completed", `${requestId}:t`, context(requestId), data, at(ms));
}

function failed(requestId: string, ms: number): BeamlineEvent {
  const error = { code: "BL_PROVIDER_UNAVAILABLE", message: "down", httpStatus: 503, type: "api_error" };
  return makeEvent(
    "request.failed",
    `${requestId}:t`,
    context(requestId),
    { stage: "execute", error, attempts: 2 },
    at(ms),
  );
}

describe("the console's recent requests", () => {
  it("joins a request's accept and end into one row with its latency, whatever their order", () => {
    const inOrder = new RecentRequests(10);
    inOrder.apply(accepted("r1", 0));
    inOrder.apply(completed("r1", 250));
    const reversed = new RecentRequests(10);
    reversed.apply(completed("r1", 250));
    reversed.apply(accepted("r1", 0));
    for (const recent of [inOrder, reversed]) {
      const [row] = recent.list();
      assert.equal(recent.list().length, 1);
      assert.equal(row?.outcome, "completed");
      assert.equal(row?.latencyMs, 250);
      assert.equal(row?.model, "mock-small");
      assert.equal(row?.completionTokens, 5);
    }
  });

  it("keeps the newest rows up to its capacity, newest first", () => {
    const recent = new RecentRequests(3);
    for (let i = 0; i < 5; i++) recent.apply(accepted(`r${i}`, i * 10));
    assert.deepEqual(
      recent.list().map((row) => row.requestId),
      ["r4", "r3", "r2"],
    );
  });

  it("summarises the requests that ended in the window: rate, failures, percentiles", () => {
    const recent = new RecentRequests(2);
    recent.apply(accepted("old", 0));
    recent.apply(completed("old", 1_000));
    for (let i = 0; i < 10; i++) {
      recent.apply(accepted(`r${i}`, 100_000 + i));
      recent.apply(
        i === 9
          ? failed(`r${i}`, 100_000 + i + (i + 1) * 100)
          : completed(`r${i}`, 100_000 + i + (i + 1) * 100),
      );
    }
    // Ten ended within the last 60 s (the first ended 99 s before "now"), though only two rows are kept.
    const summary = recent.summary(T0 + 100_000 + 30_000, 60);
    assert.equal(summary.ended, 10);
    assert.equal(summary.failed, 1);
    assert.equal(summary.ratePerSecond, 10 / 60);
    assert.equal(summary.p50Ms, 500);
    assert.equal(summary.p95Ms, 1_000);
  });

  it("takes nearest-rank percentiles", () => {
    assert.equal(percentile([], 0.5), null);
    assert.equal(percentile([7], 0.95), 7);
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2);
    assert.equal(percentile([1, 2, 3, 4], 0.75), 3);
  });
});
