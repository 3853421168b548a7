import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type CatalogModel, computeCost, parseCatalog } from "../../src/catalog/index.js";
import type { ChatRequest } from "../../src/chat/wire.js";
import { isBeamlineError } from "../../src/errors/index.js";
import {
  decideWithPolicy,
  evaluatePolicy,
  type PolicyInputs,
  policyDocumentSchema,
  verifyDecision,
} from "../../src/routing/policy/index.js";
import { countPromptTokens, tokenizerFor } from "../../src/tokens/index.js";

const PROVIDERS = ["p1", "p2", "p3"];
const TAGS = ["eu", "us", "ch"];
const CAPS = ["tools", "vision", "jsonMode", "streaming"] as const;

/** Usually absent: a constraint present on every run would leave almost no model eligible. */
const sometimes = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: arb, weight: 1 });
/** True three times in four: models mostly have a capability, requests mostly do not need it. */
const mostly = fc.integer({ min: 0, max: 3 }).map((n) => n > 0);
const rarely = mostly.map((b) => !b);

const modelArb = (id: string) =>
  fc.record({
    id: fc.constant(id),
    provider: fc.constantFrom(...PROVIDERS),
    upstreamModel: fc.constant(`${id}-up`),
    prices: fc.record({
      inputPerMTokUsd: fc.integer({ min: 0, max: 20_000 }).map((n) => n / 1000),
      outputPerMTokUsd: fc.integer({ min: 0, max: 60_000 }).map((n) => n / 1000),
    }),
    contextWindow: fc.option(fc.integer({ min: 50, max: 40_000 }), { nil: undefined }),
    maxOutputTokens: fc.option(fc.integer({ min: 10, max: 4000 }), { nil: undefined }),
    capabilities: fc.record({ tools: mostly, vision: mostly, jsonMode: mostly, streaming: mostly }),
    qualityScore: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    residency: fc.subarray(TAGS, { minLength: 1 }),
  });

const catalogArb = fc
  .integer({ min: 2, max: 6 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => modelArb(`m${i}`))))
  .map((models) => parseCatalog({ version: "prop", models }));

const strategyArb = fc.oneof(
  fc.constant({ type: "cheapest" as const }),
  fc.record({
    type: fc.constant("fastest" as const),
    latency: fc.constantFrom("ewma" as const, "p95" as const),
  }),
  fc.record({
    type: fc.constant("quality" as const),
    maxPricePerRequestUsd: fc.option(fc.double({ min: 0, max: 0.5, noNaN: true }), { nil: undefined }),
  }),
  fc.record({
    type: fc.constant("weighted" as const),
    variants: fc
      .uniqueArray(fc.constantFrom("m0", "m1", "m2", "m3", "m4", "m5"), { minLength: 1, maxLength: 4 })
      .chain((models) =>
        fc.tuple(
          ...models.map((model) => fc.integer({ min: 1, max: 10 }).map((weight) => ({ model, weight }))),
        ),
      ),
  }),
  fc.record({
    type: fc.constant("priority" as const),
    order: fc.uniqueArray(fc.constantFrom("m0", "m1", "m2", "m3", "m4", "m5"), { minLength: 1 }),
  }),
  fc.record({
    type: fc.constant("balanced" as const),
    weights: fc.record({
      cost: fc.integer({ min: 1, max: 5 }),
      latency: fc.integer({ min: 0, max: 5 }),
      quality: fc.integer({ min: 0, max: 5 }),
    }),
  }),
);

const constraintsArb = fc
  .record({
    allowedProviders: sometimes(fc.subarray(PROVIDERS, { minLength: 1 })),
    allowedModels: sometimes(fc.subarray(["m0", "m1", "m2", "m3", "m4", "m5"], { minLength: 2 })),
    requiredCapabilities: sometimes(fc.subarray([...CAPS], { maxLength: 1 })),
    maxPricePerRequestUsd: sometimes(fc.double({ min: 0, max: 0.2, noNaN: true })),
    residency: sometimes(fc.subarray(TAGS, { minLength: 1 })),
    openBreaker: fc.constantFrom("last" as const, "exclude" as const),
  })
  // Absent keys, not keys set to undefined: that is how a policy document leaves a constraint out.
  .map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)));

const requestArb: fc.Arbitrary<ChatRequest> = fc
  .record({
    text: fc.string({ maxLength: 3000 }),
    image: rarely,
    tools: rarely,
    json: rarely,
    stream: rarely,
    maxTokens: fc.option(fc.integer({ min: 1, max: 5000 }), { nil: undefined }),
    user: fc.option(fc.string({ minLength: 1, maxLength: 8 }), { nil: undefined }),
  })
  .map(({ text, image, tools, json, stream, maxTokens, user }) => {
    const request: ChatRequest = {
      model: "auto",
      messages: [
        {
          role: "user",
          content: image
            ? [
                { type: "text", text },
                { type: "image_url", image_url: { url: "u" } },
              ]
            : text,
        },
      ],
      stream,
    };
    if (tools) request.tools = [{ type: "function", function: { name: "f" } }];
    if (json) request.response_format = { type: "json_object" };
    if (maxTokens !== undefined) request.max_tokens = maxTokens;
    if (user !== undefined) request.user = user;
    return request;
  });

const healthArb = fc
  .record({
    revision: fc.nat(),
    models: fc.dictionary(
      fc.constantFrom(
        ...PROVIDERS.flatMap((p) => ["m0", "m1", "m2", "m3", "m4", "m5"].map((m) => `${p}/${m}`)),
      ),
      fc.record(
        {
          breaker: fc.constantFrom("closed" as const, "open" as const, "half_open" as const),
          latencyEwmaMs: fc.nat(5000),
          p95Ms: fc.nat(9000),
        },
        { requiredKeys: ["breaker"] },
      ),
    ),
  })
  // Plain objects, as a snapshot read from JSON is (fast-check builds null-prototype dictionaries).
  .map((health) => JSON.parse(JSON.stringify(health)) as PolicyInputs["health"]);

const inputsArb: fc.Arbitrary<PolicyInputs> = fc
  .record({
    catalog: catalogArb,
    strategy: strategyArb,
    constraints: constraintsArb,
    request: requestArb,
    health: healthArb,
    remaining: sometimes(fc.integer({ min: -1000, max: 200_000_000 })),
    seed: fc.string({ maxLength: 12 }),
  })
  .map(({ catalog, strategy, constraints, request, health, remaining, seed }) => ({
    request,
    policy: {
      tenant: "t",
      version: 3,
      document: policyDocumentSchema.parse({ routing: { strategy, constraints } }),
    },
    catalog,
    health,
    quota: remaining === undefined ? { revision: 1 } : { revision: 1, remainingSpendNanoUsd: remaining },
    seed,
  }));

/** The test's own statement of the hard constraints, written independently of the engine. */
function violatesHardConstraint(model: CatalogModel, inputs: PolicyInputs): string | undefined {
  const c = inputs.policy.document.routing.constraints;
  const r = inputs.request;
  if (c.allowedProviders && !c.allowedProviders.includes(model.provider)) return "provider";
  if (c.allowedModels && !c.allowedModels.includes(model.id)) return "model";
  const needs = new Set(c.requiredCapabilities);
  if (r.tools?.length) needs.add("tools");
  if (Array.isArray(r.messages[0]?.content) && r.messages[0].content.some((p) => p.type === "image_url"))
    needs.add("vision");
  if (r.response_format?.type === "json_object") needs.add("jsonMode");
  if (r.stream) needs.add("streaming");
  for (const cap of needs) if (!model.capabilities[cap]) return `capability ${cap}`;
  const prompt = countPromptTokens(tokenizerFor(model), r);
  if (model.contextWindow !== undefined && prompt + (r.max_tokens ?? 0) > model.contextWindow)
    return "context";
  if (r.max_tokens != null && model.maxOutputTokens !== undefined && r.max_tokens > model.maxOutputTokens)
    return "output";
  const output =
    r.max_tokens ?? Math.min(c.assumedOutputTokens, model.maxOutputTokens ?? Number.POSITIVE_INFINITY);
  const cost = computeCost(model, {
    promptTokens: prompt,
    completionTokens: output,
    cachedTokens: 0,
  }).costNanoUsd;
  if (c.maxPricePerRequestUsd !== undefined && cost > Math.round(c.maxPricePerRequestUsd * 1e9))
    return "price cap";
  if (inputs.quota.remainingSpendNanoUsd !== undefined && cost > inputs.quota.remainingSpendNanoUsd)
    return "budget";
  if (c.residency && !c.residency.some((t) => model.residency.includes(t))) return "residency";
  return undefined;
}

describe("policy engine properties", () => {
  it("never picks a disallowed, over-budget, capability-lacking or context-too-small candidate", () => {
    fc.assert(
      fc.property(inputsArb, (inputs) => {
        let result: ReturnType<typeof evaluatePolicy>;
        try {
          result = evaluatePolicy(inputs);
        } catch (error) {
          assert.ok(isBeamlineError(error, "BL_NO_ELIGIBLE_MODEL"), String(error));
          return;
        }
        assert.ok(result.candidates.length > 0);
        for (const candidate of result.candidates) {
          const model = inputs.catalog.resolve(candidate.model);
          assert.ok(model, `candidate ${candidate.model} is not in the catalog`);
          assert.equal(violatesHardConstraint(model, inputs), undefined, `picked ${candidate.model}`);
          if (inputs.policy.document.routing.constraints.openBreaker === "exclude")
            assert.notEqual(candidate.breaker, "open");
        }
        // Every model the engine looked at is either a candidate or excluded, never both.
        const picked = new Set(result.candidates.map((c) => c.model));
        for (const exclusion of result.excluded) assert.ok(!picked.has(exclusion.model));
      }),
      { numRuns: 400 },
    );
  });

  it("whenever it fails for lack of candidates, the test's own check also finds none", () => {
    fc.assert(
      fc.property(inputsArb, (inputs) => {
        const strategy = inputs.policy.document.routing.strategy;
        if (strategy.type !== "cheapest") return; // no strategy-specific limits in play
        const anyFits = inputs.catalog.models.some((m) => {
          const breakerOpen = inputs.health.models[`${m.provider}/${m.id}`]?.breaker === "open";
          return (
            violatesHardConstraint(m, inputs) === undefined &&
            !(breakerOpen && inputs.policy.document.routing.constraints.openBreaker === "exclude")
          );
        });
        let failed = false;
        try {
          evaluatePolicy(inputs);
        } catch {
          failed = true;
        }
        assert.equal(failed, !anyFits);
      }),
      { numRuns: 300 },
    );
  });

  it("gives the same ranking for the same inputs and seed, and recorded decisions replay identically", () => {
    fc.assert(
      fc.property(inputsArb, (inputs) => {
        let decision: ReturnType<typeof decideWithPolicy>;
        try {
          decision = decideWithPolicy(inputs);
        } catch {
          return;
        }
        const copy: PolicyInputs = {
          ...structuredClone({ ...inputs, catalog: undefined }),
          catalog: parseCatalog(inputs.catalog.document),
        } as PolicyInputs;
        assert.deepEqual(decideWithPolicy(copy), decision);
        // Through JSON, as an event stores it; health, quota and seed come from the record.
        const recorded = JSON.parse(JSON.stringify(decision));
        const verdict = verifyDecision(recorded, {
          request: inputs.request,
          policy: inputs.policy,
          catalog: inputs.catalog,
        });
        assert.deepEqual(verdict, { identical: true, differences: [] });
      }),
      { numRuns: 300 },
    );
  });

  it("weighted splits converge to their weights over many keys", () => {
    const catalog = parseCatalog({
      version: "split",
      models: ["a", "b", "c", "d"].map((id) => ({
        id,
        provider: "p",
        upstreamModel: id,
        prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 },
      })),
    });
    fc.assert(
      fc.property(
        fc
          .uniqueArray(fc.constantFrom("a", "b", "c", "d"), { minLength: 2, maxLength: 4 })
          .chain((models) =>
            fc.tuple(
              fc.constant(models),
              fc.tuple(...models.map(() => fc.integer({ min: 1, max: 9 }))),
              fc.string({ maxLength: 6 }),
            ),
          ),
        ([models, weights, salt]) => {
          const variants = models.map((model, i) => ({ model, weight: weights[i] as number }));
          const policy = {
            tenant: "t",
            version: 1,
            document: policyDocumentSchema.parse({
              routing: { strategy: { type: "weighted", variants, salt } },
            }),
          };
          const keys = 4000;
          const counts = new Map<string, number>();
          for (let k = 0; k < keys; k++) {
            const chosen = evaluatePolicy({
              request: { model: "auto", messages: [{ role: "user", content: "hi" }], user: `user-${k}` },
              policy,
              catalog,
              health: { revision: 0, models: {} },
              quota: { revision: 0 },
              seed: "same-seed",
            }).candidates[0]?.model as string;
            counts.set(chosen, (counts.get(chosen) ?? 0) + 1);
          }
          const total = weights.reduce((s, w) => s + w, 0);
          for (const { model, weight } of variants) {
            const share = (counts.get(model) ?? 0) / keys;
            // 4000 draws: one standard deviation of a share is at most 0.008; allow five.
            assert.ok(
              Math.abs(share - weight / total) < 0.04,
              `${model}: share ${share}, weight ${weight / total}`,
            );
          }
        },
      ),
      { numRuns: 8 },
    );
  });
});
