import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  cacheControlOf,
  cacheKey,
  cachePolicySchema,
  canonicalJson,
  hitDiscountPercent,
  planCache,
} from "../../../src/cache/index.js";
import { discountedCost } from "../../../src/catalog/index.js";
import type { ChatRequest } from "../../../src/chat/index.js";
import { parsePolicyDocument } from "../../../src/routing/index.js";

/** Rebuilds `value` with every object's keys in a shuffled order (the seed picks the order). */
function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((item, i) => shuffleKeys(item, seed + i));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  const order = entries
    .map((entry, i) => ({ entry, rank: Math.sin(seed * 31 + i * 17) }))
    .sort((a, b) => a.rank - b.rank);
  return Object.fromEntries(order.map(({ entry: [k, v] }, i) => [k, shuffleKeys(v, seed + i + 1)]));
}

const json = fc.jsonValue({ maxDepth: 3 });
const request = fc.record({
  messages: fc.array(fc.record({ role: fc.constant("user"), content: fc.string() }), {
    minLength: 1,
    maxLength: 3,
  }),
  temperature: fc.constant(0),
  max_tokens: fc.option(fc.integer({ min: 1, max: 4096 }), { nil: undefined }),
  extra: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), json, { maxKeys: 4 }),
});
const asChat = (r: { extra: Record<string, unknown> } & Record<string, unknown>): ChatRequest => {
  const { extra, ...rest } = r;
  return { model: "auto", ...extra, ...rest } as ChatRequest;
};
const base = { tenant: "acme", caller: "key_1", scope: "tenant" as const, model: "mock-small" };

describe("cache key", () => {
  it("does not depend on the order of keys in the request", () => {
    fc.assert(
      fc.property(request, fc.integer(), (r, seed) => {
        const chat = asChat(r);
        const shuffled = shuffleKeys(chat, seed) as ChatRequest;
        assert.equal(cacheKey({ ...base, request: shuffled }), cacheKey({ ...base, request: chat }));
      }),
    );
  });

  it("differs between tenants for every request", () => {
    fc.assert(
      fc.property(request, fc.string({ minLength: 1, maxLength: 12 }), (r, other) => {
        fc.pre(other !== base.tenant);
        const chat = asChat(r);
        assert.notEqual(
          cacheKey({ ...base, tenant: other, request: chat }),
          cacheKey({ ...base, request: chat }),
        );
      }),
    );
  });

  it("separates callers only when the scope is the key", () => {
    const chat = asChat({ messages: [{ role: "user", content: "hi" }], temperature: 0, extra: {} });
    const tenantScoped = (caller: string) => cacheKey({ ...base, caller, request: chat });
    const keyScoped = (caller: string) => cacheKey({ ...base, scope: "key", caller, request: chat });
    assert.equal(tenantScoped("key_1"), tenantScoped("key_2"));
    assert.notEqual(keyScoped("key_1"), keyScoped("key_2"));
  });

  it("leaves out what cannot change the answer, keeps what can, and uses the resolved model", () => {
    const chat = asChat({ messages: [{ role: "user", content: "hi" }], temperature: 0, extra: {} });
    const key = cacheKey({ ...base, request: chat });
    const same = {
      ...chat,
      user: "u-9",
      stream: true,
      stream_options: { include_usage: true },
      model: "alias",
    };
    assert.equal(cacheKey({ ...base, request: same as ChatRequest }), key);
    assert.equal(cacheKey({ ...base, request: { ...chat, metadata: { a: "b" } } as ChatRequest }), key);
    assert.notEqual(cacheKey({ ...base, request: { ...chat, max_tokens: 5 } }), key);
    assert.notEqual(cacheKey({ ...base, request: { ...chat, temperature: 0.5 } }), key);
    assert.notEqual(cacheKey({ ...base, model: "mock-large", request: chat }), key);
  });

  it("canonical JSON sorts keys and drops undefined members", () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: undefined, c: null }] }), '{"a":[{"c":null}],"b":1}');
  });
});

describe("cache plan", () => {
  const policy = cachePolicySchema.parse({ mode: "exact" });
  const chat = (temperature?: number) =>
    ({ model: "m", messages: [{ role: "user", content: "x" }], temperature }) as ChatRequest;
  const plan = (over: Partial<Parameters<typeof planCache>[0]> = {}) =>
    planCache({ policy, request: chat(0), control: undefined, contentStore: "encrypted", ...over });

  it("is off by default and with mode off", () => {
    assert.equal(parsePolicyDocument({}).cache.mode, "off");
    assert.equal(plan({ policy: cachePolicySchema.parse({}) }), undefined);
  });

  it("looks up and stores a deterministic request; bypasses sampling, an unset temperature and hashed content", () => {
    assert.deepEqual(plan(), { lookup: true, store: true, status: "miss" });
    assert.equal(plan({ request: chat(0.7) })?.status, "bypass");
    assert.equal(plan({ request: chat(undefined) })?.status, "bypass");
    assert.equal(plan({ contentStore: "hashes" })?.status, "bypass");
    const sampled = cachePolicySchema.parse({ mode: "exact", includeNonDeterministic: true });
    assert.equal(plan({ policy: sampled, request: chat(0.7) })?.status, "miss");
  });

  it("no-cache skips the look-up but stores; no-store does neither", () => {
    assert.deepEqual(plan({ control: "no-cache" }), { lookup: false, store: true, status: "bypass" });
    assert.deepEqual(plan({ control: "no-store" }), { lookup: false, store: false, status: "bypass" });
  });

  it("reads the client's headers", () => {
    assert.equal(cacheControlOf({}), undefined);
    assert.equal(cacheControlOf({ "cache-control": "max-age=0, No-Cache" }), "no-cache");
    assert.equal(cacheControlOf({ "x-beamline-cache": "bypass" }), "no-cache");
    assert.equal(cacheControlOf({ "cache-control": "no-store", "x-beamline-cache": "bypass" }), "no-store");
  });

  it("bills a hit free by default, or at the policy's discount, rounded half up", () => {
    assert.equal(hitDiscountPercent(policy), 100);
    assert.equal(
      hitDiscountPercent(cachePolicySchema.parse({ mode: "exact", billing: { discountPercent: 30 } })),
      30,
    );
    assert.equal(discountedCost({ costNanoUsd: 1001 }, 50).costNanoUsd, 501);
    assert.equal(discountedCost({ costNanoUsd: 1001 }, 100).costNanoUsd, 0);
    assert.equal(discountedCost({ costNanoUsd: 1001 }, 0).costNanoUsd, 1001);
    assert.throws(() => parsePolicyDocument({ cache: { mode: "exact", billing: { discountPercent: 101 } } }));
  });
});
