import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createFoldWindow, type WindowedEvent } from "../../projections/fold-window.js";
import { type BeamlineEvent, makeEvent } from "../../src/events/index.js";

function attempt(n: number): BeamlineEvent {
  return makeEvent(
    "attempt.succeeded",
    `r${n}:attempt.1`,
    { tenant: "t", requestId: `r${n}`, correlationId: `r${n}` },
    {
      attempt: 1,
      provider: "p",
      model: "m",
      upstreamModel: "m",
      startedAt: new Date(0).toISOString(),
      durationMs: 1,
      streamed: false,
      timeToFirstTokenMs: 1,
      usage: { promptTokens: 1, completionTokens: 1, cachedTokens: 0 },
      completion: { id: "x", object: "chat.completion", created: 0, model: "m", choices: [] },
    },
    new Date(0),
  );
}

/** Records every fold call: the key and the sequences it got, in order. */
function recorder() {
  const calls: Array<[string, number[]]> = [];
  const foldKey = async (key: string, events: readonly WindowedEvent[]) => {
    calls.push([key, events.map((e) => e.sequence)]);
  };
  return { calls, foldKey };
}

describe("ordered fold window", () => {
  it("folds a window's events with one call per key, each key's events in stream order", async () => {
    const { calls, foldKey } = recorder();
    const window = createFoldWindow({ windowMs: 20, foldKey });
    // Delivered out of order within the window (a redelivery may overtake): folded sorted.
    await Promise.all([
      window.add("a", attempt(3), 3),
      window.add("b", attempt(2), 2),
      window.add("a", attempt(1), 1),
      window.add(undefined, attempt(4), 4),
    ]);
    assert.deepEqual(
      calls.sort(([x], [y]) => x.localeCompare(y)),
      [
        ["a", [1, 3]],
        ["b", [2]],
      ],
    );
  });

  it("acknowledges nothing before the write that covers it is stored", async () => {
    let release!: () => void;
    const stored = new Promise<void>((resolve) => {
      release = resolve;
    });
    const window = createFoldWindow({ windowMs: 5, foldKey: () => stored });
    let acked = false;
    const done = window.add("a", attempt(1), 1).then(() => {
      acked = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(acked, false);
    release();
    await done;
    assert.equal(acked, true);
  });

  it("retries a failed write in place, and an event delivered meanwhile waits for the next window", async () => {
    const calls: Array<[string, number[]]> = [];
    let failures = 1;
    const window = createFoldWindow({
      windowMs: 5,
      retryDelayMs: () => 30,
      foldKey: async (key, events) => {
        calls.push([key, events.map((e) => e.sequence)]);
        if (failures-- > 0) throw new Error("KV unavailable");
      },
    });
    const first = window.add("a", attempt(1), 1);
    await new Promise((resolve) => setTimeout(resolve, 15));
    const second = window.add("a", attempt(2), 2);
    await Promise.all([first, second]);
    assert.deepEqual(calls, [
      ["a", [1]],
      ["a", [1]],
      ["a", [2]],
    ]);
  });

  it("holds a window while an earlier event is held elsewhere, and folds it in order once it arrives", async () => {
    const { calls, foldKey } = recorder();
    let missingArrived = false;
    const window = createFoldWindow({
      windowMs: 5,
      foldKey,
      inOrder: async (lowest) => missingArrived || lowest <= 5,
    });
    const later = window.add("a", attempt(9), 9);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.deepEqual(calls, [], "nothing written while sequence 5 is missing");
    missingArrived = true;
    await Promise.all([window.add("a", attempt(5), 5), later]);
    assert.deepEqual(calls, [["a", [5, 9]]]);
  });

  it("a redelivery of an event still in the window joins it instead of folding twice", async () => {
    const { calls, foldKey } = recorder();
    const window = createFoldWindow({ windowMs: 10, foldKey });
    await Promise.all([window.add("a", attempt(1), 1), window.add("a", attempt(1), 1)]);
    assert.deepEqual(calls, [["a", [1]]]);
  });
});
