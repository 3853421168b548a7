import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { reduceCatalog, reducePolicy } from "../../projections/index.js";
import { loadCatalogFile, parseCatalog, priceUsage } from "../../src/catalog/index.js";
import { isBeamlineError } from "../../src/errors/index.js";
import { EventTypes, makeEvent } from "../../src/events/index.js";
import {
  analyseRequest,
  decideWithPolicy,
  defaultPolicy,
  parsePolicyDocument,
  verifyDecision,
} from "../../src/routing/policy/index.js";
import { countPromptTokens, TokenizerKinds } from "../../src/tokens/index.js";
import { catalog, catalogDocument, chat, inputs, policy } from "./policy-fixtures.js";

describe("policy documents", () => {
  it("fill every default, so an empty document is a complete policy", () => {
    const parsed = parsePolicyDocument({});
    assert.deepEqual(parsed.routing.strategy, { type: "cheapest" });
    assert.equal(parsed.routing.constraints.openBreaker, "last");
    assert.deepEqual(parsed.pipeline, { pre: [], validate: [], post: [] });
    assert.equal(parsed.limits.spendWindow, "calendar");
    assert.deepEqual(defaultPolicy("acme").document, parsed);
  });

  it("report every problem at once, with its path", () => {
    assert.throws(
      () =>
        parsePolicyDocument({
          routing: {
            strategy: { type: "weighted", variants: [] },
            constraints: { maxPricePerRequestUsd: -1 },
          },
          limits: { requestsPerMinute: 0 },
          extra: true,
        }),
      (error) =>
        isBeamlineError(error, "BL_POLICY_INVALID") &&
        /routing\.strategy\.variants: a weighted split needs at least one variant/.test(error.message) &&
        /routing\.constraints\.maxPricePerRequestUsd/.test(error.message) &&
        /limits\.requestsPerMinute/.test(error.message) &&
        /extra/.test(error.message),
    );
    assert.throws(
      () => parsePolicyDocument({ routing: { strategy: { type: "random" } } }),
      (e) => isBeamlineError(e, "BL_POLICY_INVALID"),
    );
    assert.throws(
      () => parsePolicyDocument({ routing: { aliases: { fast: {} } } }),
      (e) => isBeamlineError(e, "BL_POLICY_INVALID") && /an alias needs/.test(e.message),
    );
  });
});

describe("docs/policies.md", () => {
  it("holds only example documents that Beamline accepts", () => {
    const text = readFileSync(new URL("../../docs/policies.md", import.meta.url), "utf8");
    const examples = [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1] as string));
    assert.ok(examples.length >= 8, "an example per strategy, plus the full policy and the catalog");
    for (const example of examples) {
      if ("models" in example) parseCatalog(example);
      else parsePolicyDocument(example);
    }
  });
});

describe("route.decided from the policy engine", () => {
  it("validates against the event schema and records every input needed to recompute it", () => {
    const decision = decideWithPolicy(
      inputs({
        policy: policy({ routing: { strategy: { type: "fastest" } } }, 4),
        health: {
          revision: 12,
          models: {
            "beta/mid-eu": { breaker: "closed", latencyEwmaMs: 80 },
            "x/unknown": { breaker: "open" },
          },
        },
        quota: { revision: 5, remainingSpendNanoUsd: 900_000_000 },
        seed: "req_42",
      }),
    );
    assert.ok(EventTypes["route.decided"].schema.safeParse(decision).success);
    assert.equal(decision.policy, "tenant:acme");
    assert.equal(decision.policyVersion, 4);
    assert.equal(decision.catalogVersion, "test-1");
    assert.equal(decision.seed, "req_42");
    assert.deepEqual(decision.quota, { revision: 5, remainingSpendNanoUsd: 900_000_000 });
    // Only entries of catalog models are recorded.
    assert.deepEqual(decision.health, {
      revision: 12,
      models: { "beta/mid-eu": { breaker: "closed", latencyEwmaMs: 80 } },
    });
    assert.equal(decision.candidates[0]?.model, "mid-eu");
  });

  it("verifyDecision notices a different policy version, catalog version or outcome", () => {
    const recorded = decideWithPolicy(inputs({ request: chat({ user: "u1" }) }));
    const sources = { request: chat({ user: "u1" }), policy: policy({}), catalog };
    assert.deepEqual(verifyDecision(recorded, sources), { identical: true, differences: [] });
    assert.match(
      verifyDecision(recorded, { ...sources, policy: policy({}, 2) }).differences[0] ?? "",
      /policy version/,
    );
    const tampered = { ...recorded, candidates: [...recorded.candidates].reverse() };
    assert.equal(verifyDecision(tampered, sources).identical, false);
  });
});

describe("prompt token estimate", () => {
  const gpt4o = { provider: "openai", upstreamModel: "gpt-4o" };
  const claude = { provider: "anthropic", upstreamModel: "claude-sonnet-4" };
  const request = chat({
    messages: [{ role: "user", content: "Summarise the meeting notes in three bullets." }],
  });

  it("counts the prompt with each model's own tokenizer", () => {
    const needs = analyseRequest(request, [gpt4o, claude]);
    assert.equal(needs.promptTokensFor(gpt4o), countPromptTokens(TokenizerKinds.o200k, request));
    assert.equal(needs.promptTokensFor(claude), countPromptTokens(TokenizerKinds.approximate, request));
  });

  it("records the largest count among the models considered, so any candidate's reservation covers it", () => {
    const both = analyseRequest(request, [gpt4o, claude]);
    assert.equal(both.promptTokens, Math.max(both.promptTokensFor(gpt4o), both.promptTokensFor(claude)));
    assert.ok(both.promptTokens > analyseRequest(request, [gpt4o]).promptTokens);
  });

  it("counts with the approximation when no model is considered", () => {
    assert.equal(
      analyseRequest(request, []).promptTokens,
      countPromptTokens(TokenizerKinds.approximate, request),
    );
  });
});

describe("catalog as versioned data", () => {
  it("the shipped catalog declares capabilities, quality and residency for every model", async () => {
    const shipped = await loadCatalogFile();
    for (const model of shipped.models) {
      assert.equal(typeof model.qualityScore, "number", model.id);
      assert.ok(model.residency.length > 0, model.id);
      // A chat model bounds its answer; an embedding model answers vectors of a known length.
      if (model.kind === "chat") assert.ok(model.maxOutputTokens, model.id);
      else assert.ok(model.dimensions, model.id);
    }
    assert.ok(
      shipped.models.some((model) => model.kind === "embedding" && model.provider === "mock"),
      "the built-in mock serves an embedding model, so `npm start` answers /v1/embeddings",
    );
  });

  it("priceUsage names the catalog version and the prices it used", () => {
    const priced = priceUsage(catalog, "mid-eu", {
      promptTokens: 1000,
      completionTokens: 100,
      cachedTokens: 0,
    });
    assert.equal(priced.catalogVersion, "test-1");
    assert.equal(priced.costNanoUsd, 1000 * 1000 + 100 * 4000);
    assert.deepEqual(priced.prices, { inputPerMTokUsd: 1, outputPerMTokUsd: 4, cachedInputPerMTokUsd: 1 });
    assert.throws(
      () => priceUsage(catalog, "gone", { promptTokens: 1, completionTokens: 1, cachedTokens: 0 }),
      (e) => isBeamlineError(e, "BL_UNKNOWN_MODEL"),
    );
  });
});

describe("policy and catalog projections (Given events, When folded, Then the latest wins)", () => {
  const context = { tenant: "acme", requestId: "", correlationId: "c" };
  const now = new Date("2026-11-27T00:00:00Z");
  const policyEvent = (version: number) =>
    makeEvent("policy.updated", `p${version}`, context, { version, policy: parsePolicyDocument({}) }, now);
  const catalogEvent = (revision: number) =>
    makeEvent(
      "catalog.published",
      `c${revision}`,
      { ...context, tenant: "_system" },
      { revision, catalog: catalog.document },
      now,
    );

  it("keeps the highest policy version whatever the delivery order, and replays to the same record", () => {
    const events = [policyEvent(1), policyEvent(3), policyEvent(2), policyEvent(3)];
    const folded = events.reduce(reducePolicy, undefined);
    assert.equal(folded?.version, 3);
    assert.equal(folded?.tenant, "acme");
    assert.deepEqual(events.reduce(reducePolicy, folded), folded);
  });

  it("keeps the highest catalog revision and ignores unrelated events", () => {
    const folded = [catalogEvent(2), catalogEvent(1), policyEvent(9)].reduce(reduceCatalog, undefined);
    assert.equal(folded?.revision, 2);
    assert.equal(folded?.catalog.version, catalogDocument.version);
    assert.equal(reducePolicy(undefined, catalogEvent(1)), undefined);
  });
});
