import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCatalog } from "../../src/catalog/index.js";
import { isBeamlineError } from "../../src/errors/index.js";
import { EventTypes } from "../../src/events/index.js";
import { decideRoute } from "../../src/routing/index.js";

const catalog = parseCatalog({
  version: "test-1",
  models: [
    {
      id: "mock-small",
      provider: "mock",
      upstreamModel: "mock-small-2026",
      aliases: ["fast"],
      prices: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6 },
    },
    {
      id: "gpt-4o",
      provider: "openai",
      upstreamModel: "gpt-4o",
      prices: { inputPerMTokUsd: 2.5, outputPerMTokUsd: 10 },
    },
  ],
});

describe("decideRoute", () => {
  it("routes a model id to its provider and upstream name, recording policy and catalog version", () => {
    assert.deepEqual(decideRoute({ model: "mock-small" }, catalog), {
      policy: "catalog-direct",
      catalogVersion: "test-1",
      candidates: [
        {
          provider: "mock",
          model: "mock-small",
          upstreamModel: "mock-small-2026",
          score: 1,
          reason: "requested model",
        },
      ],
    });
  });

  it("resolves an alias to the catalog's model id and says so in the reason", () => {
    const decision = decideRoute({ model: "fast" }, catalog);
    assert.equal(decision.candidates[0]?.model, "mock-small");
    assert.equal(decision.candidates[0]?.reason, "alias fast");
  });

  it("decides the same way every time, and the decision is a valid route.decided event", () => {
    const first = decideRoute({ model: "gpt-4o" }, catalog);
    assert.deepEqual(decideRoute({ model: "gpt-4o" }, catalog), first);
    assert.equal(EventTypes["route.decided"].schema.safeParse(first).success, true);
  });

  it("refuses an unknown model with BL_UNKNOWN_MODEL (404) on param model, pointing at /v1/models", () => {
    assert.throws(
      () => decideRoute({ model: "gpt-9" }, catalog),
      (error) =>
        isBeamlineError(error, "BL_UNKNOWN_MODEL") &&
        error.httpStatus === 404 &&
        error.param === "model" &&
        /GET \/v1\/models/.test(error.message),
    );
  });
});
