import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ApiKeyRecord, TenantRecord } from "../../projections/index.js";
import { isBeamlineError } from "../../src/errors/index.js";
import {
  type ApiKeyCache,
  assertNoActiveDevKey,
  isLoopbackHost,
  planDevKey,
  type TenantCache,
} from "../../src/tenancy/index.js";

const NOW = new Date("2026-06-01T12:00:00Z");

/** A read-only KV view over fixed entries, as the gateway's watched views look once loaded. */
function viewOf<T>(entries: Record<string, T>) {
  const map = new Map(Object.entries(entries));
  return {
    get: (key: string) => map.get(key),
    lookupBy: () => undefined,
    entries: () => map,
    ready: Promise.resolve(),
    stop: () => undefined,
  };
}

function devKey(keyId: string, extra: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return { keyId, tenant: "dev", status: "active", ...extra } as ApiKeyRecord;
}

const refused = (error: unknown) => isBeamlineError(error, "BL_DEV_KEY_ON_NETWORK");

describe("dev key guard", () => {
  it("knows loopback addresses from the others", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]) {
      assert.equal(isLoopbackHost(host), true, host);
    }
    for (const host of ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "example.internal", "::ffff:10.0.0.1"]) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });

  it("issues the dev key on loopback, and beyond it only with the opt-in", () => {
    assert.equal(planDevKey({ httpHost: "127.0.0.1", devKeySet: true, allowOnNetwork: false }), "bootstrap");
    assert.equal(planDevKey({ httpHost: "0.0.0.0", devKeySet: true, allowOnNetwork: true }), "bootstrap");
    assert.equal(planDevKey({ httpHost: "0.0.0.0", devKeySet: false, allowOnNetwork: false }), "withhold");
  });

  it("refuses a dev key fixed by env on a network address without the opt-in", () => {
    assert.throws(
      () => planDevKey({ httpHost: "0.0.0.0", devKeySet: true, allowOnNetwork: false }),
      (error) => refused(error) && /0\.0\.0\.0/.test((error as Error).message),
    );
  });

  it("refuses to withhold while a dev key issued earlier is still active", () => {
    const keys = viewOf({ h1: devKey("key_dev_default") }) as unknown as ApiKeyCache;
    const tenants = viewOf<TenantRecord>({}) as unknown as TenantCache;
    assert.throws(
      () => assertNoActiveDevKey("0.0.0.0", { keys, tenants, now: NOW }),
      (error) => refused(error) && /key_dev_default/.test((error as Error).message),
    );
  });

  it("starts when the dev keys are revoked or expired, the dev tenant disabled, or only other keys exist", () => {
    const tenants = viewOf<TenantRecord>({}) as unknown as TenantCache;
    const cases: Record<string, ApiKeyRecord> = {
      revoked: devKey("key_dev_default", { status: "revoked", revokedAt: "2026-05-01T00:00:00Z" }),
      expired: devKey("key_dev_abc", { expiresAt: "2026-05-01T00:00:00Z" }),
      operators: { keyId: "key_7f3a", tenant: "dev", status: "active" } as ApiKeyRecord,
      otherTenant: { keyId: "key_dev_default", tenant: "acme", status: "active" } as ApiKeyRecord,
    };
    const keys = viewOf(cases) as unknown as ApiKeyCache;
    assert.doesNotThrow(() => assertNoActiveDevKey("0.0.0.0", { keys, tenants, now: NOW }));

    const active = viewOf({ h1: devKey("key_dev_default") }) as unknown as ApiKeyCache;
    const disabled = viewOf({ dev: { status: "disabled" } as TenantRecord }) as unknown as TenantCache;
    assert.doesNotThrow(() => assertNoActiveDevKey("0.0.0.0", { keys: active, tenants: disabled, now: NOW }));
  });
});
