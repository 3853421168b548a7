import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type BeamlineMetrics,
  createMetrics,
  createTenantLabeller,
  OTHER_TENANTS_LABEL,
  type TenantLabelOptions,
} from "../../src/observability/index.js";

const HASH_KEY = "metrics-hash-key-0123456789";

/** Every series of Beamline's metrics with a tenant label, fed the same traffic for `tenants`. */
async function exported(options: TenantLabelOptions, tenants: readonly string[]): Promise<string> {
  const metrics: BeamlineMetrics = createMetrics({
    defaultMetrics: false,
    tenantLabel: createTenantLabeller(options),
  });
  for (const tenant of tenants) {
    metrics.requestDuration.observe({ tenant, outcome: "completed", stream: "false" }, 0.01);
    metrics.tokens.inc({ tenant, provider: "mock", model: "mock-small", kind: "prompt" }, 5);
    metrics.costNanoUsd.inc({ tenant, provider: "mock", model: "mock-small" }, 100);
    metrics.routingDecisions.inc({
      tenant,
      strategy: "cost",
      model: "mock-small",
      outcome: "routed",
    });
    metrics.admissions.inc({ tenant, outcome: "admitted" });
  }
  return metrics.registry.metrics();
}

/** The distinct `tenant` label values in an exposition. */
function tenantValues(text: string): Set<string> {
  return new Set([...text.matchAll(/tenant="([^"]*)"/g)].map((match) => match[1]!));
}

/** The tenant metrics' sample lines (histogram buckets left out). */
function sampleLines(text: string): string[] {
  return text
    .split("\n")
    .filter((line) => /^beamline_(tokens|cost|routing|admissions|request_duration_seconds_count)/.test(line));
}

describe("metrics tenant label", () => {
  it("on: labels each tenant by its id", async () => {
    const text = await exported({ mode: "on", limit: 10 }, ["acme", "globex"]);
    assert.deepEqual(tenantValues(text), new Set(["acme", "globex"]));
    assert.match(
      text,
      /beamline_tokens_total\{tenant="acme",provider="mock",model="mock-small",kind="prompt"\} 5/,
    );
  });

  it("hashed: labels each tenant by a short keyed hash, stable for one key, never the id", async () => {
    const first = await exported({ mode: "hashed", limit: 10, hashKey: HASH_KEY }, ["acme", "globex"]);
    const again = await exported({ mode: "hashed", limit: 10, hashKey: HASH_KEY }, ["globex", "acme"]);
    const otherKey = await exported({ mode: "hashed", limit: 10, hashKey: `${HASH_KEY}-other` }, ["acme"]);
    const values = tenantValues(first);
    assert.equal(values.size, 2);
    for (const value of values) assert.match(value, /^[0-9a-f]{12}$/);
    assert.equal(first.includes("acme") || first.includes("globex"), false, "a tenant id is exported");
    assert.deepEqual(tenantValues(again), values, "the same key gives the same labels");
    assert.equal(
      [...tenantValues(otherKey)].some((value) => values.has(value)),
      false,
      "another key, other labels",
    );
  });

  it("off: exports no tenant label, summing the tenants' series", async () => {
    const text = await exported({ mode: "off", limit: 10 }, ["acme", "globex"]);
    assert.equal(tenantValues(text).size, 0);
    assert.equal(text.includes("acme"), false);
    assert.match(text, /beamline_tokens_total\{provider="mock",model="mock-small",kind="prompt"\} 10/);
  });

  it("counts the tenants past the cap under one `(other)` value", async () => {
    const text = await exported({ mode: "on", limit: 2 }, ["a", "b", "c", "d", "a"]);
    assert.deepEqual(tenantValues(text), new Set(["a", "b", OTHER_TENANTS_LABEL]));
    assert.match(
      text,
      /beamline_tokens_total\{tenant="a",[^}]*\} 10/,
      "a tenant under the cap keeps its series",
    );
    assert.match(text, /beamline_tokens_total\{tenant="\(other\)",[^}]*\} 10/, "c and d share one series");
  });

  it("never exports more than `limit` + 1 tenant values, in any mode (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("on", "hashed") as fc.Arbitrary<"on" | "hashed">,
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), { maxLength: 40 }),
        async (mode, limit, tenants) => {
          const text = await exported({ mode, limit, hashKey: HASH_KEY }, tenants);
          const values = tenantValues(text);
          assert.ok(values.size <= limit + 1, `${values.size} values for limit ${limit}`);
          assert.equal(sampleLines(text).length <= (limit + 1) * 5, true);
        },
      ),
      { numRuns: 50 },
    );
  });
});
