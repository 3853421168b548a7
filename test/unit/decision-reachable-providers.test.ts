import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { withProviders } from "../../src/catalog/index.js";
import { decideWithPolicy, verifyDecision } from "../../src/routing/policy/index.js";
import { catalog, chat, inputs, policy } from "./policy-fixtures.js";

/**
 * A worker routes over the catalog restricted to the providers it can reach (those with keys),
 * under the published catalog's version. A replay only finds that version's full document in
 * the log, so the decision must record the restriction, or it never reproduces.
 */
describe("decisions over a catalog restricted to reachable providers", () => {
  const reachable = withProviders(catalog, new Set(["alpha"]));

  it("record which providers the catalog was restricted to", () => {
    const decision = decideWithPolicy(inputs({ catalog: reachable }));
    assert.deepEqual(decision.catalogProviders, ["alpha"]);
    assert.equal(decideWithPolicy(inputs()).catalogProviders, undefined, "the whole catalog records none");
  });

  it("verify against the published (whole) catalog of the version they name", () => {
    const tenantPolicy = policy({ routing: { strategy: { type: "cheapest" } } });
    const request = chat();
    const decision = decideWithPolicy(inputs({ catalog: reachable, policy: tenantPolicy, request }));
    assert.deepEqual(
      decision.candidates.map((c) => c.model),
      ["cheap-small", "big-vision"],
    );
    assert.deepEqual(verifyDecision(decision, { request, policy: tenantPolicy, catalog }), {
      identical: true,
      differences: [],
    });
  });

  it("still tell a decision apart that the restriction does not explain", () => {
    const tenantPolicy = policy({ routing: { strategy: { type: "cheapest" } } });
    const request = chat();
    const decision = decideWithPolicy(inputs({ catalog: reachable, policy: tenantPolicy, request }));
    const forged = { ...decision, catalogProviders: ["alpha", "gamma"] };
    assert.equal(verifyDecision(forged, { request, policy: tenantPolicy, catalog }).identical, false);
  });
});
