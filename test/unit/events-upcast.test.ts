import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { z } from "zod";
import { isBeamlineError } from "../../src/errors/index.js";
import {
  decodeEvent,
  type Envelope,
  EventHeaders,
  type EventTypeSpec,
  EventTypes,
  JSON_CONTENT_TYPE,
  upcastAndValidate,
} from "../../src/events/index.js";

/**
 * `upcastAndValidate` reads the one registry, `EventTypes`, so a future v2 of a type is
 * simulated by swapping that type's spec for the length of one test. Each test file runs in
 * its own process, and the original spec is put back when the test ends.
 */
function withSpec(t: TestContext, type: keyof typeof EventTypes, spec: EventTypeSpec): void {
  const registry = EventTypes as unknown as Record<string, EventTypeSpec>;
  const original = registry[type]!;
  registry[type] = spec;
  t.after(() => {
    registry[type] = original;
  });
}

/** `tenant.created` v2: the display name moved from `name` to `displayName`, and gained a plan. */
const tenantCreatedV2 = z.object({ displayName: z.string(), plan: z.enum(["free", "paid"]) });
const upcastV1ToV2 = (data: unknown) => {
  const { name } = data as { name: string };
  return { displayName: name, plan: "free" };
};

const v1Envelope: Envelope = {
  id: "tenant.created:acme",
  type: "tenant.created",
  v: 1,
  tenant: "acme",
  requestId: "",
  correlationId: "bootstrap",
  time: "2025-06-01T00:00:00.000Z",
  data: { name: "Acme Corp" },
};

describe("upcasting old event versions", () => {
  it("given a v2 schema with a v1→v2 upcaster, when a v1 event is read, then it comes out as v2", (t) => {
    withSpec(t, "tenant.created", { version: 2, schema: tenantCreatedV2, upcasters: { 1: upcastV1ToV2 } });
    const event = upcastAndValidate(v1Envelope);
    assert.equal(event.v, 2);
    assert.deepEqual(event.data, { displayName: "Acme Corp", plan: "free" });
    assert.equal(event.id, v1Envelope.id, "the envelope is kept as it was stored");
    assert.equal(event.time, v1Envelope.time);
  });

  it("upcasts on the decode path too, and reading the same old bytes twice gives the same event", (t) => {
    withSpec(t, "tenant.created", { version: 2, schema: tenantCreatedV2, upcasters: { 1: upcastV1ToV2 } });
    const stored = new TextEncoder().encode(JSON.stringify(v1Envelope));
    const headers = { get: (name: string) => (name === EventHeaders.contentType ? JSON_CONTENT_TYPE : "") };
    const first = decodeEvent(stored, headers);
    const second = decodeEvent(stored, headers);
    assert.deepEqual(first, second);
    assert.equal(first.v, 2);
    assert.deepEqual(v1Envelope.data, { name: "Acme Corp" }, "the upcaster does not mutate what it read");
  });

  it("chains upcasters v1→v2→v3 in order", (t) => {
    const v3 = z.object({ displayName: z.string(), plan: z.enum(["free", "paid"]), region: z.string() });
    withSpec(t, "tenant.created", {
      version: 3,
      schema: v3,
      upcasters: { 1: upcastV1ToV2, 2: (data) => ({ ...(data as object), region: "eu" }) },
    });
    const event = upcastAndValidate(v1Envelope);
    assert.equal(event.v, 3);
    assert.deepEqual(event.data, { displayName: "Acme Corp", plan: "free", region: "eu" });
  });

  it("refuses an old version that has no upcaster as BL_EVENT_VERSION_UNSUPPORTED", (t) => {
    withSpec(t, "tenant.created", { version: 2, schema: tenantCreatedV2, upcasters: {} });
    assert.throws(
      () => upcastAndValidate(v1Envelope),
      (error) => isBeamlineError(error, "BL_EVENT_VERSION_UNSUPPORTED") && /v1/.test(error.message),
    );
  });

  it("validates the upcaster's output against the current schema (a buggy upcaster is poison)", (t) => {
    withSpec(t, "tenant.created", {
      version: 2,
      schema: tenantCreatedV2,
      upcasters: { 1: (data) => data },
    });
    assert.throws(
      () => upcastAndValidate(v1Envelope),
      (error) => isBeamlineError(error, "BL_EVENT_INVALID") && /tenant\.created v2/.test(error.message),
    );
  });

  it("leaves the registry as it was after a test swapped a spec", () => {
    assert.equal(EventTypes["tenant.created"].version, 1);
    assert.deepEqual(upcastAndValidate(v1Envelope).data, { name: "Acme Corp" });
  });
});
