import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runShutdownSteps, type ShutdownStep } from "../../../src/runtime/shutdown-steps.js";

function recordingLog() {
  const warnings: Array<{ fields: Record<string, unknown>; message: string }> = [];
  return {
    warnings,
    warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }),
  };
}

describe("runShutdownSteps", () => {
  it("runs the steps last-registered first, each after the one before has finished", async () => {
    const order: string[] = [];
    const step = (name: string): ShutdownStep => ({
      name,
      run: async () => {
        order.push(`${name} start`);
        await new Promise((resolve) => setImmediate(resolve));
        order.push(`${name} end`);
      },
    });
    const steps = [step("connection"), step("listener")];
    const log = recordingLog();
    await runShutdownSteps(steps, { stepTimeoutMs: () => 60_000, log });
    assert.deepEqual(order, ["listener start", "listener end", "connection start", "connection end"]);
    assert.deepEqual(log.warnings, []);
    assert.deepEqual(
      steps.map((s) => s.name),
      ["connection", "listener"],
      "the caller's list is left as it was",
    );
  });

  it("goes on without a step that never finishes, naming it and its limit", async () => {
    const ran: string[] = [];
    const log = recordingLog();
    await runShutdownSteps(
      [
        { name: "event store", run: async () => void ran.push("event store") },
        { name: "NATS connection drain", run: () => new Promise<void>(() => undefined) },
        { name: "HTTP gateway", run: async () => void ran.push("HTTP gateway") },
      ],
      { stepTimeoutMs: () => 20, log },
    );
    assert.deepEqual(ran, ["HTTP gateway", "event store"]);
    assert.equal(log.warnings.length, 1);
    assert.deepEqual(log.warnings[0]!.fields, { step: "NATS connection drain", limitMs: 20 });
    assert.match(log.warnings[0]!.message, /did not finish in time/);
  });

  it("logs a failing step and still runs the rest", async () => {
    const ran: string[] = [];
    const log = recordingLog();
    const failure = new Error("socket already closed");
    await runShutdownSteps(
      [
        { name: "metrics listener", run: async () => void ran.push("metrics listener") },
        {
          name: "provider connections",
          run: async () => {
            throw failure;
          },
        },
      ],
      { stepTimeoutMs: () => 60_000, log },
    );
    assert.deepEqual(ran, ["metrics listener"]);
    assert.deepEqual(log.warnings, [
      { fields: { step: "provider connections", err: failure }, message: "shutdown step failed" },
    ]);
  });

  it("asks for each step's limit as that step starts", async () => {
    const asked: number[] = [];
    let left = 3;
    await runShutdownSteps(
      [
        { name: "a", run: async () => undefined },
        { name: "b", run: async () => undefined },
      ],
      {
        stepTimeoutMs: () => {
          asked.push(left);
          left -= 1;
          return 60_000;
        },
        log: recordingLog(),
      },
    );
    assert.deepEqual(asked, [3, 2]);
  });
});
