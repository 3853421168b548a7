import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AdmitInput } from "../../src/admission/index.js";
import { makeEvent } from "../../src/events/index.js";
import { staticKvView } from "../../src/nats/kv-view.js";
import type { WorkerDeps } from "../../src/stages/context.js";
import { reserveQuota } from "../../src/stages/quota.js";
import { catalog, chat, policy } from "./policy-fixtures.js";

/**
 * Quota admission prices the estimate at the dearest of the decision's candidates: execution
 * may fail over down the ranking, and a hard budget must hold whichever candidate serves.
 */
const now = new Date("2026-11-27T12:00:00Z");
const context = { tenant: "acme", requestId: "req_1", correlationId: "req_1" };
const accepted = makeEvent(
  "request.accepted",
  "req_1:accepted",
  context,
  { request: chat({ max_tokens: 100 }), frontDoor: "openai", stream: false },
  now,
);

function decided(models: string[]) {
  return makeEvent(
    "route.decided",
    "req_1:decided",
    context,
    {
      policy: "tenant:acme",
      catalogVersion: catalog.version,
      candidates: models.map((model, index) => ({
        provider: catalog.resolve(model)?.provider ?? "gone",
        model,
        upstreamModel: model,
        score: 1 - index / 10,
        reason: "test",
      })),
      estimate: { promptTokens: 1000, capabilities: [] },
    },
    now,
  );
}

function deps(admitted: AdmitInput[]): WorkerDeps {
  return {
    catalog: () => catalog,
    keys: staticKvView({}),
    quotas: {
      admit: async (input: AdmitInput) => {
        admitted.push(input);
        return { admitted: true, reservation: undefined, rateLimits: {} };
      },
    },
    metrics: { admissions: { inc: () => undefined } },
    clock: { now: () => now.getTime() },
  } as unknown as WorkerDeps;
}

const limited = policy({ limits: { spendPerDayUsd: 10 } });

describe("quota admission's estimate", () => {
  it("is priced at the dearest candidate, wherever it is ranked", async () => {
    const calls: AdmitInput[] = [];
    const outcome = await reserveQuota(
      deps(calls),
      accepted,
      decided(["cheap-small", "big-vision", "mid-eu"]),
      limited,
      accepted.data.request!,
    );
    assert.equal(outcome.admitted, true);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.candidate.model.id, "big-vision");
    assert.equal(calls[0]!.maxTokens, 100);
    assert.equal(calls[0]!.promptTokens, 1000);
  });

  it("reserves nothing, and asks nobody, when no limit applies", async () => {
    const calls: AdmitInput[] = [];
    const outcome = await reserveQuota(
      deps(calls),
      accepted,
      decided(["cheap-small"]),
      policy({}),
      accepted.data.request!,
    );
    assert.deepEqual(outcome, { admitted: true, reserved: false });
    assert.equal(calls.length, 0);
  });

  it("refuses, rather than admit unpriced, when no candidate is in the catalog any more", async () => {
    const calls: AdmitInput[] = [];
    const outcome = await reserveQuota(
      deps(calls),
      accepted,
      decided(["retired-model"]),
      limited,
      accepted.data.request!,
    );
    assert.equal(outcome.admitted, false);
    assert.equal(!outcome.admitted && outcome.error.code, "BL_NO_ELIGIBLE_MODEL");
    assert.equal(calls.length, 0);
  });
});
