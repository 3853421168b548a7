import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isBeamlineError } from "../../src/errors/index.js";
import { evaluatePolicy, type HealthSnapshot } from "../../src/routing/policy/index.js";
import { catalog, chat, inputs, policy } from "./policy-fixtures.js";

const ids = (result: ReturnType<typeof evaluatePolicy>) => result.candidates.map((c) => c.model);
const excludedAs = (result: ReturnType<typeof evaluatePolicy>, model: string) =>
  result.excluded.find((e) => e.model === model)?.reason;

const health = (models: HealthSnapshot["models"], revision = 7): HealthSnapshot => ({ revision, models });

describe("policy engine: strategies", () => {
  it("cheapest ranks by the estimated cost of this request", () => {
    const result = evaluatePolicy(
      inputs({ policy: policy({ routing: { strategy: { type: "cheapest" } } }) }),
    );
    assert.deepEqual(ids(result), ["cheap-small", "no-stream", "mid-eu", "big-vision"]);
    assert.equal(result.candidates[0]?.score, 1);
    const costs = result.candidates.map((c) => c.estimatedCostNanoUsd);
    assert.deepEqual(
      [...costs].sort((a, b) => a - b),
      costs,
    );
  });

  it("fastest ranks by latency EWMA, unknown latency after every known one", () => {
    const result = evaluatePolicy(
      inputs({
        policy: policy({ routing: { strategy: { type: "fastest" } } }),
        health: health({
          "alpha/big-vision": { breaker: "closed", latencyEwmaMs: 300 },
          "beta/mid-eu": { breaker: "closed", latencyEwmaMs: 900 },
        }),
      }),
    );
    assert.deepEqual(ids(result).slice(0, 2), ["big-vision", "mid-eu"]);
    assert.match(result.candidates[2]?.reason ?? "", /unknown/);
  });

  it("fastest can rank by p95 instead", () => {
    const result = evaluatePolicy(
      inputs({
        policy: policy({ routing: { strategy: { type: "fastest", latency: "p95" } } }),
        health: health({
          "alpha/big-vision": { breaker: "closed", latencyEwmaMs: 100, p95Ms: 2000 },
          "beta/mid-eu": { breaker: "closed", latencyEwmaMs: 900, p95Ms: 1000 },
        }),
      }),
    );
    assert.deepEqual(ids(result).slice(0, 2), ["mid-eu", "big-vision"]);
  });

  it("quality picks the best model within the strategy's price cap", () => {
    const uncapped = evaluatePolicy(
      inputs({ policy: policy({ routing: { strategy: { type: "quality" } } }) }),
    );
    assert.equal(ids(uncapped)[0], "big-vision");
    // 1024 assumed output tokens: big-vision costs ~0.0154 USD, mid-eu ~0.0041 USD.
    const capped = evaluatePolicy(
      inputs({ policy: policy({ routing: { strategy: { type: "quality", maxPricePerRequestUsd: 0.01 } } }) }),
    );
    assert.equal(ids(capped)[0], "mid-eu");
    assert.equal(excludedAs(capped, "big-vision"), "over-price-cap");
  });

  it("priority keeps the listed order and leaves unlisted models out", () => {
    const result = evaluatePolicy(
      inputs({
        policy: policy({ routing: { strategy: { type: "priority", order: ["mid-eu", "cheap-small"] } } }),
      }),
    );
    assert.deepEqual(ids(result), ["mid-eu", "cheap-small"]);
    assert.equal(excludedAs(result, "big-vision"), "not-in-strategy");
  });

  it("balanced weights normalised cost, latency and quality as the tenant sets them", () => {
    const qualityOnly = evaluatePolicy(
      inputs({
        policy: policy({
          routing: { strategy: { type: "balanced", weights: { cost: 0, latency: 0, quality: 1 } } },
        }),
      }),
    );
    assert.equal(ids(qualityOnly)[0], "big-vision");
    const costOnly = evaluatePolicy(
      inputs({
        policy: policy({
          routing: { strategy: { type: "balanced", weights: { cost: 1, latency: 0, quality: 0 } } },
        }),
      }),
    );
    assert.equal(ids(costOnly)[0], "cheap-small");
    assert.equal(costOnly.candidates[0]?.score, 1);
    assert.equal(costOnly.candidates.at(-1)?.score, 0);
  });

  it("weighted split sticks to the user across requests and seeds", () => {
    const split = policy({
      routing: {
        strategy: {
          type: "weighted",
          variants: [
            { model: "cheap-small", weight: 1 },
            { model: "mid-eu", weight: 1 },
          ],
        },
      },
    });
    const first = (seed: string, user: string) =>
      evaluatePolicy(inputs({ policy: split, seed, request: chat({ user }) })).candidates[0]?.model;
    for (const user of ["u1", "u2", "u3", "u4"]) {
      assert.equal(first("req_a", user), first("req_b", user), `user ${user} moved between variants`);
    }
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    assert.equal(new Set(users.map((u) => first("s", u))).size, 2, "forty users all landed on one variant");
  });

  it("weighted split sticks to metadata.conversation_id when asked", () => {
    const split = policy({
      routing: {
        strategy: {
          type: "weighted",
          stickyBy: "conversation",
          variants: [
            { model: "cheap-small", weight: 1 },
            { model: "mid-eu", weight: 3 },
          ],
        },
      },
    });
    const pick = (seed: string, user: string) =>
      evaluatePolicy(
        inputs({ policy: split, seed, request: chat({ user, metadata: { conversation_id: "conv-9" } }) }),
      ).candidates[0];
    assert.equal(pick("a", "x")?.model, pick("b", "y")?.model);
    assert.match(pick("a", "x")?.reason ?? "", /sticky conversation/);
  });
});

describe("policy engine: constraints", () => {
  it("excludes providers and models the policy does not allow", () => {
    const result = evaluatePolicy(
      inputs({
        policy: policy({
          routing: {
            constraints: {
              allowedProviders: ["alpha", "beta"],
              allowedModels: ["mid-eu", "big-vision", "no-stream"],
            },
          },
        }),
      }),
    );
    assert.deepEqual(ids(result).sort(), ["big-vision", "mid-eu"]);
    assert.equal(excludedAs(result, "cheap-small"), "model-not-allowed");
    assert.equal(excludedAs(result, "no-stream"), "provider-not-allowed");
  });

  it("derives required capabilities from tools, image parts, JSON formats and streaming", () => {
    const tools = evaluatePolicy(inputs({ request: chat({ tools: [{ type: "function" }] }) }));
    assert.equal(excludedAs(tools, "cheap-small"), "missing-capability");
    const image = evaluatePolicy(
      inputs({
        request: chat({
          messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }],
        }),
      }),
    );
    assert.deepEqual(ids(image), ["big-vision"]);
    const json = evaluatePolicy(inputs({ request: chat({ response_format: { type: "json_object" } }) }));
    assert.equal(excludedAs(json, "no-stream"), "missing-capability");
    const stream = evaluatePolicy(inputs({ request: chat({ stream: true }) }));
    assert.match(stream.excluded.find((e) => e.model === "no-stream")?.detail ?? "", /streaming/);
  });

  it("excludes models whose context window cannot hold prompt plus requested output", () => {
    // Varied words, not one repeated character: a real tokenizer packs "xxxx…" many to a token.
    const long = Array.from({ length: 6_000 }, (_, i) => `item${i}`).join(" ");
    const result = evaluatePolicy(inputs({ request: chat({ messages: [{ role: "user", content: long }] }) }));
    assert.equal(excludedAs(result, "cheap-small"), "context-too-small");
    assert.ok(ids(result).includes("mid-eu"));
    const output = evaluatePolicy(inputs({ request: chat({ max_tokens: 7000 }) }));
    assert.equal(excludedAs(output, "cheap-small"), "output-limit");
  });

  it("excludes models above the per-request price cap and above the remaining budget", () => {
    const capped = evaluatePolicy(
      inputs({ policy: policy({ routing: { constraints: { maxPricePerRequestUsd: 0.001 } } }) }),
    );
    assert.deepEqual(ids(capped), ["cheap-small"]);
    const budget = evaluatePolicy(inputs({ quota: { revision: 3, remainingSpendNanoUsd: 2_000_000 } }));
    assert.deepEqual(ids(budget).sort(), ["cheap-small", "no-stream"]);
    assert.equal(excludedAs(budget, "big-vision"), "over-budget");
  });

  it("keeps only models with a required residency tag", () => {
    const result = evaluatePolicy(
      inputs({ policy: policy({ routing: { constraints: { residency: ["eu"] } } }) }),
    );
    assert.deepEqual(ids(result).sort(), ["big-vision", "mid-eu"]);
    assert.equal(excludedAs(result, "no-stream"), "residency");
  });

  it("ranks open breakers last by default and excludes them when the policy says so", () => {
    const snapshot = health({
      "alpha/cheap-small": { breaker: "open" },
      "gamma/no-stream": { breaker: "half_open" },
    });
    const last = evaluatePolicy(inputs({ health: snapshot }));
    // Half-open keeps its strategy position (its probe must be able to happen); open goes last.
    assert.deepEqual(ids(last), ["no-stream", "mid-eu", "big-vision", "cheap-small"]);
    assert.match(last.candidates[0]!.reason, /half-open, tried only with a probe slot/);
    const excluded = evaluatePolicy(
      inputs({ health: snapshot, policy: policy({ routing: { constraints: { openBreaker: "exclude" } } }) }),
    );
    assert.equal(excludedAs(excluded, "cheap-small"), "breaker-open");
  });

  it("fails with BL_NO_ELIGIBLE_MODEL naming every exclusion", () => {
    assert.throws(
      () => evaluatePolicy(inputs({ policy: policy({ routing: { constraints: { residency: ["ch"] } } }) })),
      (error) =>
        isBeamlineError(error, "BL_NO_ELIGIBLE_MODEL") &&
        /cheap-small: residency/.test(error.message) &&
        /big-vision: residency/.test(error.message),
    );
  });

  it("fails with BL_UNKNOWN_MODEL for a name neither the policy nor the catalog knows", () => {
    assert.throws(
      () => evaluatePolicy(inputs({ request: chat({ model: "nope" }) })),
      (e) => isBeamlineError(e, "BL_UNKNOWN_MODEL"),
    );
  });
});

describe("policy engine: model names and aliases", () => {
  it("honours a concrete model or catalog alias as asked, constraints still applying", () => {
    assert.deepEqual(ids(evaluatePolicy(inputs({ request: chat({ model: "smart" }) }))), ["big-vision"]);
    assert.throws(
      () =>
        evaluatePolicy(
          inputs({
            request: chat({ model: "big-vision" }),
            policy: policy({ routing: { constraints: { allowedProviders: ["beta"] } } }),
          }),
        ),
      (e) => isBeamlineError(e, "BL_NO_ELIGIBLE_MODEL"),
    );
  });

  it("resolves tenant aliases before catalog aliases: to a model list or to a strategy", () => {
    const tenant = policy({
      routing: {
        aliases: {
          fast: { models: ["mid-eu", "cheap-small"] },
          smart: { strategy: { type: "quality" } },
          team: { models: ["big-vision", "cheap-small", "ghost"], strategy: { type: "cheapest" } },
        },
      },
    });
    const fast = evaluatePolicy(inputs({ policy: tenant, request: chat({ model: "fast" }) }));
    assert.equal(fast.resolution, "tenant-alias");
    assert.deepEqual(ids(fast), ["mid-eu", "cheap-small"]);
    const smart = evaluatePolicy(inputs({ policy: tenant, request: chat({ model: "smart" }) }));
    assert.equal(ids(smart).length, catalog.models.length);
    assert.equal(ids(smart)[0], "big-vision");
    const team = evaluatePolicy(inputs({ policy: tenant, request: chat({ model: "team" }) }));
    assert.deepEqual(ids(team), ["cheap-small", "big-vision"]);
    assert.equal(excludedAs(team, "ghost"), "not-in-catalog");
  });
});
