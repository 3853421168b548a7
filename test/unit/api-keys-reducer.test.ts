import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type ApiKeyRecord, apiKeyKvKey, keyStateAt, reduceApiKey } from "../../projections/index.js";
import { type BeamlineEvent, decodeEvent, encodeEvent, makeEvent } from "../../src/events/index.js";

const KEY_HASH = "a".repeat(64);
const context = { tenant: "acme", requestId: "", correlationId: "key_1" };

const issued = makeEvent(
  "apikey.issued",
  "apikey.issued:key_1",
  context,
  { keyId: "key_1", keyHash: KEY_HASH, keyPrefix: "bl-abcd", label: "ci" },
  new Date("2026-01-01T00:00:00.000Z"),
);
const revoked = makeEvent(
  "apikey.revoked",
  "apikey.revoked:key_1",
  context,
  { keyId: "key_1", keyHash: KEY_HASH },
  new Date("2026-01-02T00:00:00.000Z"),
);
const unrelated = makeEvent("tenant.created", "tenant.created:acme", context, { name: "Acme" }, new Date());

type Stored = [event: BeamlineEvent, sequence: number];

/** Given stored events (with their stream sequences), in delivery order: the folded record. */
function given(...history: Stored[]): ApiKeyRecord | undefined {
  return history.reduce<ApiKeyRecord | undefined>(
    (record, [event, seq]) => reduceApiKey(record, event, seq),
    undefined,
  );
}

const activeRecord: ApiKeyRecord = {
  keyId: "key_1",
  tenant: "acme",
  keyPrefix: "bl-abcd",
  status: "active",
  label: "ci",
  issuedAt: "2026-01-01T00:00:00.000Z",
  lastSequence: 4,
};

describe("API key projection reducer", () => {
  it("given nothing, when the key is issued, then it is active for its tenant", () => {
    assert.deepEqual(given([issued, 4]), activeRecord);
  });

  it("given an issued key, when it is revoked, then it is revoked and keeps what it was issued with", () => {
    assert.deepEqual(given([issued, 4], [revoked, 5]), {
      ...activeRecord,
      status: "revoked",
      revokedAt: "2026-01-02T00:00:00.000Z",
      lastSequence: 5,
    });
  });

  it("given a revocation (seq 5) delivered first, when the issue (seq 4) arrives late, then the key stays revoked", () => {
    const record = given([revoked, 5], [issued, 4]);
    assert.equal(record?.status, "revoked");
    assert.equal(record?.lastSequence, 5);
    assert.equal(record?.tenant, "acme");
  });

  it("converges on the same record whichever order the two events are delivered in", () => {
    assert.deepEqual(given([revoked, 5], [issued, 4]), given([issued, 4], [revoked, 5]));
  });

  it("given a folded history, when the same events are replayed again, then nothing changes", () => {
    const history: Stored[] = [
      [issued, 4],
      [revoked, 5],
    ];
    const once = given(...history);
    const twice = given(...history, ...history);
    assert.deepEqual(twice, once);
    for (const [event, seq] of history) {
      assert.equal(reduceApiKey(once, event, seq), once, "a redelivered event returns the record as it is");
    }
  });

  it("given any record, when an unrelated event arrives, then the record is returned unchanged", () => {
    const record = given([issued, 4]);
    assert.equal(reduceApiKey(record, unrelated, 9), record);
    assert.equal(reduceApiKey(undefined, unrelated, 9), undefined);
  });

  it("keys the record by the key's hash, and only for API key events", () => {
    assert.equal(apiKeyKvKey(issued), KEY_HASH);
    assert.equal(apiKeyKvKey(revoked), KEY_HASH);
    assert.equal(apiKeyKvKey(unrelated), undefined);
  });
});

describe("API key projection reducer: expiry, scope, limits and rotation", () => {
  const scoped = makeEvent(
    "apikey.issued",
    "apikey.issued:key_2",
    context,
    {
      keyId: "key_2",
      keyHash: KEY_HASH,
      keyPrefix: "bl-abcd",
      expiresAt: "2026-03-01T00:00:00.000Z",
      models: ["fast", "mock-large"],
      limits: { requestsPerMinute: 60, spendWindow: "calendar" },
      rotatedFrom: "key_1",
    },
    new Date("2026-01-01T00:00:00.000Z"),
  );
  const revokeAt = (id: string, time: string, effectiveAt?: string) =>
    makeEvent(
      "apikey.revoked",
      id,
      context,
      {
        keyId: "key_2",
        keyHash: KEY_HASH,
        ...(effectiveAt ? { effectiveAt, reason: "rotated" as const, replacedBy: "key_3" } : {}),
      },
      new Date(time),
    );
  const graceRevocation = revokeAt("r1", "2026-01-10T00:00:00.000Z", "2026-01-10T01:00:00.000Z");
  const immediateRevocation = revokeAt("r2", "2026-01-10T00:30:00.000Z");

  it("given an issue with expiry, scope and limits, then the record carries all of them", () => {
    const record = given([scoped, 7]);
    assert.equal(record?.expiresAt, "2026-03-01T00:00:00.000Z");
    assert.deepEqual(record?.models, ["fast", "mock-large"]);
    assert.deepEqual(record?.limits, { requestsPerMinute: 60, spendWindow: "calendar" });
    assert.equal(record?.rotatedFrom, "key_1");
  });

  it("given a rotation's revocation with a grace period, then the key is in grace until it takes effect", () => {
    const record = given([scoped, 7], [graceRevocation, 8])!;
    assert.equal(record.revokedAt, "2026-01-10T01:00:00.000Z");
    assert.equal(record.replacedBy, "key_3");
    assert.equal(keyStateAt(record, new Date("2026-01-10T00:59:59.999Z")), "grace");
    assert.equal(keyStateAt(record, new Date("2026-01-10T01:00:00.000Z")), "revoked");
  });

  it("given a grace period, when the key is revoked at once, then the earliest revocation wins in any order", () => {
    const orders: Stored[][] = [
      [
        [scoped, 7],
        [graceRevocation, 8],
        [immediateRevocation, 9],
      ],
      [
        [immediateRevocation, 9],
        [scoped, 7],
        [graceRevocation, 8],
      ],
      [
        [graceRevocation, 8],
        [immediateRevocation, 9],
        [scoped, 7],
      ],
    ];
    const records = orders.map((history) => given(...history));
    for (const record of records) {
      assert.deepEqual(record, records[0]);
      assert.equal(record?.revokedAt, "2026-01-10T00:30:00.000Z");
      assert.equal(keyStateAt(record!, new Date("2026-01-10T00:45:00.000Z")), "revoked");
    }
  });

  it("expires at its expiry time with no event, judged by the clock it is given", () => {
    const record = given([scoped, 7])!;
    assert.equal(keyStateAt(record, new Date("2026-02-28T23:59:59.999Z")), "active");
    assert.equal(keyStateAt(record, new Date("2026-03-01T00:00:00.000Z")), "expired");
  });

  it("reads a revocation written before effectiveAt existed as taking effect at its own time", () => {
    const record = given([issued, 4], [revoked, 5])!;
    assert.equal(record.revokedAt, revoked.time);
    assert.equal(keyStateAt(record, new Date("2026-01-02T00:00:00.000Z")), "revoked");
  });

  it("a redelivered revocation with the same effect writes nothing", () => {
    const record = given([scoped, 7], [graceRevocation, 8]);
    assert.equal(reduceApiKey(record, graceRevocation, 8), record);
  });
});

describe("API key events written before expiry, scope and rotation existed", () => {
  it("still decode, and fold into an active-then-revoked key with none of the new fields", () => {
    const stored = [issued, revoked].map((event) => {
      const encoded = encodeEvent(event);
      return decodeEvent(encoded.payload, { get: (name: string) => encoded.headers[name] ?? "" });
    });
    assert.deepEqual(
      stored.map((event) => event.data),
      [issued.data, revoked.data],
    );
    const record = stored.reduce<ApiKeyRecord | undefined>(
      (r, e, i) => reduceApiKey(r, e, i + 1),
      undefined,
    )!;
    assert.equal(record.expiresAt, undefined);
    assert.equal(record.models, undefined);
    assert.equal(record.limits, undefined);
    assert.equal(keyStateAt(record, new Date("2026-06-01T00:00:00.000Z")), "revoked");
  });
});
