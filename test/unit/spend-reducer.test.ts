import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  parseSpendKey,
  reduceSpend,
  type SpendRecord,
  spendKey,
  spendKvKey,
  summariseSpend,
} from "../../projections/index.js";
import { type BeamlineEvent, makeEvent } from "../../src/events/index.js";

function usage(
  requestId: string,
  time: string,
  amounts: { model?: string; apiKeyId?: string; prompt?: number; completion?: number; cost?: number } = {},
): BeamlineEvent<"usage.recorded"> {
  const data: BeamlineEvent<"usage.recorded">["data"] = {
    outcome: "completed",
    provider: "openai",
    model: amounts.model ?? "gpt-4.1",
    promptTokens: amounts.prompt ?? 10,
    completionTokens: amounts.completion ?? 5,
    cachedTokens: 0,
    costNanoUsd: amounts.cost ?? 1_000,
    costUsd: "0.000001000",
    catalogVersion: "c1",
    prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 2, cachedInputPerMTokUsd: 1 },
  };
  if (amounts.apiKeyId !== undefined) data.apiKeyId = amounts.apiKeyId;
  return makeEvent(
    "usage.recorded",
    `${requestId}:usage`,
    { tenant: "acme", requestId, correlationId: requestId },
    data,
    new Date(time),
  );
}

type Stored = [event: BeamlineEvent, sequence: number];

/** Folds a history into cells by KV key, as the projector and the rebuild do. */
function fold(history: Stored[], cells = new Map<string, SpendRecord>()): Map<string, SpendRecord> {
  for (const [event, sequence] of history) {
    const key = spendKvKey(event);
    if (!key) continue;
    const next = reduceSpend(cells.get(key), event, sequence);
    if (next) cells.set(key, next);
  }
  return cells;
}

describe("spend projection reducer", () => {
  it("given nothing, when a usage record arrives, then its cell counts one request with its tokens and cost", () => {
    const cells = fold([[usage("r1", "2026-03-01T10:00:00Z", { apiKeyId: "key_1" }), 7]]);
    assert.deepEqual(
      [...cells.entries()],
      [
        [
          "acme.2026-03-01.key_5f1.gpt-4_2e1",
          {
            tenant: "acme",
            day: "2026-03-01",
            apiKeyId: "key_1",
            model: "gpt-4.1",
            requests: 1,
            promptTokens: 10,
            completionTokens: 5,
            cachedTokens: 0,
            costNanoUsd: 1_000,
            lastSequence: 7,
          },
        ],
      ],
    );
  });

  it("given a cell, when the same usage record is delivered again, then nothing changes", () => {
    const event = usage("r1", "2026-03-01T10:00:00Z");
    const cell = reduceSpend(undefined, event, 3);
    assert.equal(reduceSpend(cell, event, 3), cell, "the very same record object: no KV write");
  });

  it("given a cell, when a later record of the same key, model and day arrives, then it adds up", () => {
    const cells = fold([
      [usage("r1", "2026-03-01T10:00:00Z", { cost: 100 }), 1],
      [usage("r2", "2026-03-01T23:59:59Z", { cost: 250 }), 2],
    ]);
    assert.equal(cells.size, 1);
    const [cell] = cells.values();
    assert.equal(cell?.requests, 2);
    assert.equal(cell?.costNanoUsd, 350);
  });

  it("given records on two UTC days, then they land in two cells, one per day", () => {
    const cells = fold([
      [usage("r1", "2026-03-01T23:59:59.999Z"), 1],
      [usage("r2", "2026-03-02T00:00:00.000Z"), 2],
    ]);
    assert.deepEqual(
      [...cells.values()].map((c) => c.day),
      ["2026-03-01", "2026-03-02"],
    );
  });

  it("ignores events that are not usage records", () => {
    const other = makeEvent(
      "tenant.created",
      "t",
      { tenant: "acme", requestId: "", correlationId: "t" },
      { name: "Acme" },
      new Date(),
    );
    assert.equal(spendKvKey(other), undefined);
    assert.equal(reduceSpend(undefined, other, 1), undefined);
  });

  it("escapes key ids and models reversibly, with `_` for no key", () => {
    for (const [apiKeyId, model] of [
      ["key_1", "gpt-4.1"],
      [undefined, "claude-3.5.sonnet@2024"],
      ["k.é", "a_b"],
    ] as const) {
      const key = spendKey("acme", "2026-03-01", apiKeyId, model);
      assert.match(key, /^[-/_=.a-zA-Z0-9]+$/, "a valid KV key");
      assert.equal(key.split(".").length, 4);
      const parsed = parseSpendKey(key);
      assert.deepEqual(parsed, {
        tenant: "acme",
        day: "2026-03-01",
        model,
        ...(apiKeyId === undefined ? {} : { apiKeyId }),
      });
    }
  });

  it("replaying a history twice gives the state of replaying it once, for any history", () => {
    const record = fc.record({
      day: fc.integer({ min: 1, max: 3 }),
      key: fc.constantFrom(undefined, "key_a", "key_b"),
      model: fc.constantFrom("m.1", "m.2"),
      cost: fc.integer({ min: 0, max: 1e9 }),
      prompt: fc.integer({ min: 0, max: 10_000 }),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 40 }), (records) => {
        const history: Stored[] = records.map((r, i) => [
          usage(`r${i}`, `2026-03-0${r.day}T12:00:00Z`, {
            model: r.model,
            cost: r.cost,
            prompt: r.prompt,
            ...(r.key === undefined ? {} : { apiKeyId: r.key }),
          }),
          i + 1,
        ]);
        const once = fold(history);
        const twice = fold(history, fold(history));
        assert.deepEqual(twice, once);
        const total = summariseSpend(once.values(), "day").total;
        assert.equal(total.requests, records.length);
        assert.equal(
          total.costNanoUsd,
          records.reduce((sum, r) => sum + r.cost, 0),
        );
      }),
    );
  });

  it("summarises by key, model or day, excluding days outside the range, with totals", () => {
    const cells = fold([
      [usage("r1", "2026-03-01T10:00:00Z", { apiKeyId: "key_a", model: "m.1", cost: 1 }), 1],
      [usage("r2", "2026-03-02T10:00:00Z", { apiKeyId: "key_b", model: "m.1", cost: 10 }), 2],
      [usage("r3", "2026-03-02T11:00:00Z", { model: "m.2", cost: 100 }), 3],
      [usage("r4", "2026-03-03T10:00:00Z", { apiKeyId: "key_a", model: "m.2", cost: 1000 }), 4],
    ]);
    const range = { sinceDay: "2026-03-02", untilDay: "2026-03-03" };
    const byKey = summariseSpend(cells.values(), "key", range);
    assert.deepEqual(
      byKey.groups.map((g) => [g.group, g.costNanoUsd]),
      [
        ["key_a", 1000],
        ["key_b", 10],
        [null, 100],
      ],
    );
    assert.equal(byKey.total.costNanoUsd, 1110);
    assert.equal(byKey.total.requests, 3);
    assert.deepEqual(
      summariseSpend(cells.values(), "model", range).groups.map((g) => [g.group, g.costNanoUsd]),
      [
        ["m.1", 10],
        ["m.2", 1100],
      ],
    );
    assert.deepEqual(
      summariseSpend(cells.values(), "day").groups.map((g) => [g.group, g.requests]),
      [
        ["2026-03-01", 1],
        ["2026-03-02", 2],
        ["2026-03-03", 1],
      ],
    );
  });
});
