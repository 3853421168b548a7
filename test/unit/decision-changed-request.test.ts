import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideWithPolicy, verifyDecision } from "../../src/routing/policy/index.js";
import { catalog, chat, inputs, policy } from "./policy-fixtures.js";

/**
 * When pre-processing extensions changed a request, the worker routes the changed request and
 * records it on the decision: a replay must recompute from that, not from request.accepted.
 */
describe("decisions over a request changed by pre-processing", () => {
  const tenantPolicy = policy({ routing: { strategy: { type: "cheapest" } } });
  // A long prompt (its estimate differs) stands for what the client sent; the changed request
  // is short, as a pre-processor that trimmed it would leave it.
  const sent = chat({ messages: [{ role: "user", content: "x".repeat(4000) }] });
  const routed = chat({ messages: [{ role: "user", content: "short" }] });

  it("verify against the recorded request, whatever the accepted one said", () => {
    const decision = {
      ...decideWithPolicy(inputs({ policy: tenantPolicy, request: routed })),
      request: routed,
    };
    assert.deepEqual(verifyDecision(decision, { request: sent, policy: tenantPolicy, catalog }), {
      identical: true,
      differences: [],
    });
  });

  it("tell the difference when no changed request was recorded", () => {
    const decision = decideWithPolicy(inputs({ policy: tenantPolicy, request: routed }));
    assert.equal(verifyDecision(decision, { request: sent, policy: tenantPolicy, catalog }).identical, false);
  });
});
