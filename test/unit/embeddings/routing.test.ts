import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCatalog } from "../../../src/catalog/index.js";
import { embeddingsRequestSchema, embeddingsRoutingView } from "../../../src/chat/index.js";
import { isBeamlineError } from "../../../src/errors/index.js";
import { decideWithPolicy, recomputeDecision, verifyDecision } from "../../../src/routing/index.js";
import { catalogDocument, chat, inputs, policy } from "../policy-fixtures.js";

const catalog = parseCatalog({
  ...catalogDocument,
  models: [
    ...catalogDocument.models,
    {
      id: "embed-small",
      provider: "alpha",
      kind: "embedding",
      upstreamModel: "embed-small-up",
      dimensions: 256,
      prices: { inputPerMTokUsd: 0.02, outputPerMTokUsd: 0 },
    },
    {
      id: "embed-large",
      provider: "beta",
      kind: "embedding",
      upstreamModel: "embed-large-up",
      dimensions: 1024,
      prices: { inputPerMTokUsd: 0.13, outputPerMTokUsd: 0 },
    },
  ],
});

const view = (model: string) =>
  embeddingsRoutingView(embeddingsRequestSchema.parse({ model, input: ["one", "two"] }));

describe("routing by operation", () => {
  it("given auto for embeddings, when routed, then only embedding models are candidates", () => {
    const decision = decideWithPolicy(inputs({ request: view("auto"), catalog, operation: "embeddings" }));
    assert.deepEqual(decision.candidates.map((c) => c.model).sort(), ["embed-large", "embed-small"]);
    assert.equal(decision.operation, "embeddings");
    assert.ok(
      decision.candidates.every((c) => (c.estimatedCostNanoUsd ?? 0) > 0),
      "input tokens are priced",
    );
  });

  it("given auto for chat, when routed, then no embedding model is a candidate", () => {
    const decision = decideWithPolicy(inputs({ request: chat({ model: "auto" }), catalog }));
    assert.ok(decision.candidates.every((c) => !c.model.startsWith("embed-")));
    assert.equal(decision.operation, undefined, "chat decisions are written as before");
  });

  it("given a model of the wrong kind named directly, then BL_MODEL_KIND_MISMATCH (400) either way", () => {
    for (const [request, operation] of [
      [view("cheap-small"), "embeddings"],
      [chat({ model: "embed-small" }), undefined],
    ] as const) {
      assert.throws(
        () => decideWithPolicy(inputs({ request, catalog, operation })),
        (error: unknown) => isBeamlineError(error, "BL_MODEL_KIND_MISMATCH") && error.httpStatus === 400,
      );
    }
  });

  it("given a tenant alias listing both kinds, then the wrong kind is excluded with its reason", () => {
    const mixed = policy({ routing: { aliases: { both: { models: ["embed-small", "cheap-small"] } } } });
    const decision = decideWithPolicy(
      inputs({ request: view("both"), catalog, policy: mixed, operation: "embeddings" }),
    );
    assert.deepEqual(
      decision.candidates.map((c) => c.model),
      ["embed-small"],
    );
    assert.deepEqual(
      decision.excluded?.map((e) => [e.model, e.reason]),
      [["cheap-small", "wrong-kind"]],
    );
  });

  it("given a recorded embeddings decision, when recomputed, then it replays identically", () => {
    const recorded = decideWithPolicy(inputs({ request: view("auto"), catalog, operation: "embeddings" }));
    recorded.request = view("auto");
    const sources = { request: chat(), policy: inputs().policy, catalog };
    assert.deepEqual(recomputeDecision(recorded, sources).candidates, recorded.candidates);
    assert.equal(verifyDecision(recorded, sources).identical, true);
  });
});
