import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { reduceTenant, type TenantRecord, tenantKvKey } from "../../projections/index.js";
import { type BeamlineEvent, makeEvent } from "../../src/events/index.js";

const context = { tenant: "acme", requestId: "", correlationId: "tenant:acme" };
const at = (time: string) => new Date(time);
const created = makeEvent(
  "tenant.created",
  "tenant.created:acme",
  context,
  { name: "Acme" },
  at("2026-01-01T00:00:00Z"),
);
const disabled = makeEvent(
  "tenant.disabled",
  "tenant.disabled:acme:1",
  context,
  { reason: "unpaid invoice" },
  at("2026-01-02T00:00:00Z"),
);
const enabled = makeEvent("tenant.enabled", "tenant.enabled:acme:2", context, {}, at("2026-01-03T00:00:00Z"));
const keyIssued = makeEvent(
  "apikey.issued",
  "apikey.issued:key_1",
  context,
  { keyId: "key_1", keyHash: "a".repeat(64), keyPrefix: "bl-abcd" },
  at("2026-01-01T00:00:00Z"),
);

type Stored = [event: BeamlineEvent, sequence: number];

function given(...history: Stored[]): TenantRecord | undefined {
  return history.reduce<TenantRecord | undefined>(
    (record, [event, seq]) => reduceTenant(record, event, seq),
    undefined,
  );
}

/** Every order of a list (small lists only). */
function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

describe("tenant projection reducer", () => {
  it("given nothing, when the tenant is created, then it is active with its name", () => {
    assert.deepEqual(given([created, 1]), {
      tenant: "acme",
      name: "Acme",
      status: "active",
      createdAt: "2026-01-01T00:00:00.000Z",
      statusSequence: 0,
      lastSequence: 1,
    });
  });

  it("given a created tenant, when it is disabled, then it is disabled with the reason", () => {
    const record = given([created, 1], [disabled, 5]);
    assert.equal(record?.status, "disabled");
    assert.equal(record?.disabledReason, "unpaid invoice");
    assert.equal(record?.statusChangedAt, "2026-01-02T00:00:00.000Z");
  });

  it("given a disabled tenant, when it is enabled again, then it is active and the reason is gone", () => {
    const record = given([created, 1], [disabled, 5], [enabled, 9]);
    assert.equal(record?.status, "active");
    assert.equal(record?.disabledReason, undefined);
  });

  it("the latest status in the log wins whatever the delivery order", () => {
    const history: Stored[] = [
      [created, 1],
      [disabled, 5],
      [enabled, 9],
    ];
    const expected = given(...history);
    for (const order of permutations(history)) assert.deepEqual(given(...order), expected);
    const reDisabled: Stored = [{ ...disabled, id: "tenant.disabled:acme:3" }, 12];
    for (const order of permutations([...history, reDisabled]))
      assert.equal(given(...order)?.status, "disabled");
  });

  it("given a folded history, when it is replayed, then the same record object comes back (no KV write)", () => {
    const history: Stored[] = [
      [created, 1],
      [disabled, 5],
    ];
    const once = given(...history);
    for (const [event, seq] of history) assert.equal(reduceTenant(once, event, seq), once);
  });

  it("ignores other events and keys records by tenant id", () => {
    const record = given([created, 1]);
    assert.equal(reduceTenant(record, keyIssued, 2), record);
    assert.equal(tenantKvKey(disabled), "acme");
    assert.equal(tenantKvKey(keyIssued), undefined);
  });
});
