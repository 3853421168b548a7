import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ApiKeyRecord, TenantRecord } from "../../projections/index.js";
import { parseCatalog } from "../../src/catalog/index.js";
import { parseDurationSeconds } from "../../src/cli/commands/admin-session.js";
import { formatTable } from "../../src/cli/table.js";
import { isBeamlineError } from "../../src/errors/index.js";
import { adminTokenMatches } from "../../src/gateway/admin/index.js";
import { type AuthViews, assertModelAllowed, authenticate } from "../../src/gateway/auth.js";
import { staticKvView } from "../../src/nats/kv-view.js";
import { resolveExpiry } from "../../src/tenancy/admin-inputs.js";
import {
  hashApiKey,
  issueKeyInputSchema,
  parseAdminInput,
  rotateKeyInputSchema,
} from "../../src/tenancy/index.js";
import { FAST_AND_SMART_CATALOG } from "../support/test-catalog.js";

const KEY = "bl-unit-test-key-000000000000";

const view = staticKvView;

const baseRecord: ApiKeyRecord = {
  keyId: "key_1",
  tenant: "acme",
  keyPrefix: "bl-unit",
  status: "active",
  lastSequence: 1,
};

function views(
  record: Partial<ApiKeyRecord>,
  tenant?: Partial<TenantRecord>,
  now = "2026-05-01T00:00:00Z",
): AuthViews {
  const tenants: Record<string, TenantRecord> = tenant
    ? {
        acme: {
          tenant: "acme",
          name: "Acme",
          status: "active",
          statusSequence: 0,
          lastSequence: 0,
          ...tenant,
        },
      }
    : {};
  return {
    keys: view({ [hashApiKey(KEY)]: { ...baseRecord, ...record } }),
    tenants: view(tenants),
    now: () => new Date(now),
  };
}

const refusedWith = (code: string) => (error: unknown) => isBeamlineError(error) && error.code === code;

describe("authenticate", () => {
  it("resolves an active key to its tenant, scope and limits", () => {
    const principal = authenticate(
      KEY,
      views({ models: ["fast"], limits: { requestsPerMinute: 5, spendWindow: "calendar" } }, {}),
    );
    assert.deepEqual(principal, {
      tenant: "acme",
      apiKeyId: "key_1",
      models: ["fast"],
      limits: { requestsPerMinute: 5, spendWindow: "calendar" },
    });
  });

  it("refuses a missing, unknown or revoked key with 401", () => {
    assert.throws(() => authenticate(undefined, views({})), refusedWith("BL_MISSING_API_KEY"));
    assert.throws(() => authenticate("bl-other", views({})), refusedWith("BL_INVALID_API_KEY"));
    assert.throws(
      () => authenticate(KEY, views({ status: "revoked", revokedAt: "2026-04-30T00:00:00Z" })),
      refusedWith("BL_INVALID_API_KEY"),
    );
  });

  it("accepts a rotated key during its grace period and refuses it from the end of it", () => {
    const rotated = { status: "revoked" as const, revokedAt: "2026-05-01T00:00:10.000Z" };
    assert.equal(authenticate(KEY, views(rotated, undefined, "2026-05-01T00:00:09.999Z")).tenant, "acme");
    assert.throws(
      () => authenticate(KEY, views(rotated, undefined, "2026-05-01T00:00:10Z")),
      refusedWith("BL_INVALID_API_KEY"),
    );
  });

  it("refuses a key from its expiry on, by the injected clock", () => {
    const expiring = { expiresAt: "2026-05-01T00:00:00.000Z" };
    assert.equal(authenticate(KEY, views(expiring, undefined, "2026-04-30T23:59:59.999Z")).tenant, "acme");
    assert.throws(
      () => authenticate(KEY, views(expiring)),
      (error) => {
        return isBeamlineError(error, "BL_API_KEY_EXPIRED") && error.httpStatus === 401;
      },
    );
  });

  it("refuses the keys of a disabled tenant with 403, and accepts them when it is enabled", () => {
    assert.throws(
      () => authenticate(KEY, views({}, { status: "disabled" })),
      (error) => {
        return isBeamlineError(error, "BL_TENANT_DISABLED") && error.httpStatus === 403;
      },
    );
    assert.equal(authenticate(KEY, views({}, { status: "active" })).tenant, "acme");
  });
});

describe("assertModelAllowed", () => {
  const catalog = parseCatalog(FAST_AND_SMART_CATALOG);
  const principal = (models?: string[]) => ({
    tenant: "acme",
    apiKeyId: "key_1",
    ...(models ? { models } : {}),
  });

  it("allows every model to an unscoped key", () => {
    assert.doesNotThrow(() => assertModelAllowed(principal(), "mock-large", catalog));
  });

  it("allows a model named in the scope, by id or through an alias either way", () => {
    assert.doesNotThrow(() => assertModelAllowed(principal(["fast"]), "mock-small", catalog));
    assert.doesNotThrow(() => assertModelAllowed(principal(["mock-small"]), "fast", catalog));
    assert.doesNotThrow(() => assertModelAllowed(principal(["fast"]), "fast", catalog));
  });

  it("refuses any other model with 403 BL_MODEL_NOT_ALLOWED naming the model param", () => {
    assert.throws(
      () => assertModelAllowed(principal(["fast"]), "smart", catalog),
      (error) =>
        isBeamlineError(error, "BL_MODEL_NOT_ALLOWED") && error.httpStatus === 403 && error.param === "model",
    );
    assert.throws(
      () => assertModelAllowed(principal(["fast"]), "not-in-catalog", catalog),
      refusedWith("BL_MODEL_NOT_ALLOWED"),
    );
  });
});

describe("admin token and inputs", () => {
  it("matches only the exact bearer token", () => {
    const token = "admin-token-0123456789";
    assert.equal(adminTokenMatches(`Bearer ${token}`, token), true);
    assert.equal(adminTokenMatches(`bearer ${token}`, token), true);
    assert.equal(adminTokenMatches(undefined, token), false);
    assert.equal(adminTokenMatches(`Bearer ${token}x`, token), false);
    assert.equal(adminTokenMatches(token, token), false, "a token without the Bearer scheme");
  });

  it("reports every problem of an issue input, naming the first field", () => {
    assert.throws(
      () =>
        parseAdminInput(issueKeyInputSchema, {
          models: [],
          labell: "typo",
          limits: { requestsPerMinute: -1 },
        }),
      (error) =>
        isBeamlineError(error, "BL_BAD_REQUEST") &&
        /models/.test(error.message) &&
        /labell/.test(error.message) &&
        /limits\.requestsPerMinute/.test(error.message),
    );
    assert.throws(
      () => parseAdminInput(issueKeyInputSchema, { expiresAt: "2027-01-01T00:00:00Z", expiresInSeconds: 5 }),
      refusedWith("BL_BAD_REQUEST"),
    );
    assert.equal(parseAdminInput(rotateKeyInputSchema, undefined).graceSeconds, 0);
  });

  it("turns a relative or absolute expiry into UTC and refuses the past", () => {
    const now = new Date("2026-05-01T00:00:00Z");
    assert.equal(resolveExpiry({ expiresInSeconds: 60 }, now), "2026-05-01T00:01:00.000Z");
    assert.equal(
      resolveExpiry({ expiresAt: "2026-05-01T02:00:00+02:00" }, new Date("2026-04-30T00:00:00Z")),
      "2026-05-01T00:00:00.000Z",
    );
    assert.equal(resolveExpiry({}, now), undefined);
    assert.throws(
      () => resolveExpiry({ expiresAt: "2026-04-30T00:00:00Z" }, now),
      refusedWith("BL_BAD_REQUEST"),
    );
  });

  it("reads CLI durations and renders tables", () => {
    assert.equal(parseDurationSeconds("90", "--grace"), 90);
    assert.equal(parseDurationSeconds("15m", "--grace"), 900);
    assert.equal(parseDurationSeconds("30d", "--grace"), 2_592_000);
    assert.throws(() => parseDurationSeconds("soon", "--grace"), refusedWith("BL_BAD_REQUEST"));
    assert.equal(
      formatTable(
        ["A", "BB"],
        [
          ["x", undefined],
          ["long", "y"],
        ],
      ),
      "A     BB\nx     -\nlong  y\n",
    );
  });
});
