import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  auditLineSchema,
  formatAuditLine,
  type HistoryRecord,
  parseEventTypes,
  requestTimeline,
  tenantHistorySources,
} from "../../replay/index.js";
import { isBeamlineError } from "../../src/errors/index.js";
import type { Envelope } from "../../src/events/index.js";

function record(envelope: Partial<Envelope> & { data: unknown }, seq = 7): HistoryRecord {
  return {
    stream: "BL_REQUESTS",
    seq,
    subject: "bl.req.acme.req_1.accepted",
    storedAt: "2026-12-01T10:00:00.123Z",
    envelope: {
      id: "req_1:accepted",
      type: "request.accepted",
      v: 1,
      tenant: "acme",
      requestId: "req_1",
      correlationId: "req_1",
      time: "2026-12-01T10:00:00.100Z",
      ...envelope,
    },
  };
}

describe("audit export line", () => {
  it("is one line of the documented schema, with place, type, version, time and ids", () => {
    const line = formatAuditLine(record({ causationId: "c_1", data: { a: 1 } }));
    assert.equal(line.includes("\n"), false);
    const parsed = auditLineSchema.parse(JSON.parse(line));
    assert.deepEqual(parsed, {
      stream: "BL_REQUESTS",
      seq: 7,
      subject: "bl.req.acme.req_1.accepted",
      storedAt: "2026-12-01T10:00:00.123Z",
      type: "request.accepted",
      v: 1,
      time: "2026-12-01T10:00:00.100Z",
      ids: {
        event: "req_1:accepted",
        tenant: "acme",
        request: "req_1",
        correlation: "req_1",
        causation: "c_1",
      },
      data: { a: 1 },
    });
  });

  it("keeps any data whole on one line: JSON of the line gives the data back unchanged", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (data) => {
        const line = formatAuditLine(record({ data }));
        assert.equal(line.includes("\n"), false);
        assert.deepEqual(JSON.parse(line).data, JSON.parse(JSON.stringify(data)));
      }),
    );
  });

  it("does not cut long text (the old `requests show` cut at 200 characters)", () => {
    const text = "x".repeat(100_000);
    assert.equal(JSON.parse(formatAuditLine(record({ data: { text } }))).data.text, text);
  });

  it("writes binary values (Uint8Array and Buffer) as base64", () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const line = JSON.parse(formatAuditLine(record({ data: { raw: bytes, nested: [Buffer.from("hi")] } })));
    assert.equal(line.data.raw, "AAEC+v8=");
    assert.deepEqual(line.data.nested, ["aGk="]);
  });
});

describe("export filters", () => {
  it("refuses unknown event types and types that are not a tenant's facts", () => {
    for (const value of ["request.acceptd", "catalog.published", "provider.breaker_opened", " , "]) {
      assert.throws(
        () => parseEventTypes(value),
        (error) => isBeamlineError(error) && error.code === "BL_BAD_REQUEST",
        value,
      );
    }
    assert.deepEqual(
      [...(parseEventTypes("request.failed, usage.recorded") ?? [])],
      ["request.failed", "usage.recorded"],
    );
  });

  it("reads only subjects that name the tenant, besides the legacy key subjects it filters by tenant", () => {
    const sources = tenantHistorySources({ tenant: "acme" });
    assert.deepEqual(
      sources.map((s) => s.stream),
      ["BL_REQUESTS", "BL_QUOTA", "BL_USAGE", "BL_CONFIG"],
    );
    const filters = sources.flatMap((s) => [...s.filters, ...(s.optionalFilters ?? [])]);
    assert.deepEqual(
      filters.filter((f) => !f.split(".").includes("acme")),
      ["bl.cfg.apikey.*"],
    );
    // A tenant-scoped auditor is refused that one; it is optional, so it still reads the rest.
    assert.deepEqual(sources[3]!.optionalFilters, ["bl.cfg.apikey.*"]);
    const config = sources[3]!;
    const legacy = (tenant: string) => ({
      stream: "BL_CONFIG",
      seq: 1,
      subject: "bl.cfg.apikey.key_1",
      storedAt: "",
      headers: { get: (name: string) => (name === "bl-tenant" ? tenant : "") } as never,
      data: new Uint8Array(),
    });
    assert.equal(config.keep?.(legacy("acme")), true);
    assert.equal(config.keep?.(legacy("other")), false);
  });

  it("reads one request's streams only, and only the streams of the asked types", () => {
    const one = tenantHistorySources({ tenant: "acme", requestId: "req_1" });
    assert.deepEqual(
      one.flatMap((s) => s.filters),
      ["bl.req.acme.req_1.>", "bl.quota.acme.req_1.>", "bl.usage.acme.req_1"],
    );
    const typed = tenantHistorySources({
      tenant: "acme",
      types: new Set(["usage.recorded", "apikey.issued"]),
    });
    assert.deepEqual(
      typed.map((s) => s.stream),
      ["BL_USAGE", "BL_CONFIG"],
    );
  });
});

describe("request timeline", () => {
  it("measures each step from acceptance and shows the attempt's provider, tokens and error class", () => {
    const accepted = record({
      time: "2026-12-01T10:00:00.000Z",
      data: {
        request: { model: "auto", messages: [{ role: "user", content: "hi" }] },
        frontDoor: "openai",
        stream: true,
      },
    });
    const failed = record(
      {
        id: "req_1:attempt.1",
        type: "attempt.failed",
        time: "2026-12-01T10:00:00.400Z",
        data: {
          attempt: 1,
          provider: "mock",
          model: "mock-small",
          upstreamModel: "m",
          startedAt: "2026-12-01T10:00:00.150Z",
          durationMs: 250,
          streamed: true,
          errorClass: "server_error",
          error: { code: "BL_PROVIDER_ERROR", message: "boom", httpStatus: 502, type: "api_error" },
          providerStatus: 500,
          retryable: true,
          final: false,
          chunksSent: 0,
          next: "failover",
        },
      },
      8,
    );
    const [first, second] = requestTimeline([accepted, failed]);
    assert.equal(first?.offsetMs, 0);
    assert.equal(first?.outcome, "openai, streamed");
    assert.equal(second?.offsetMs, 150);
    assert.equal(second?.durationMs, 250);
    assert.equal(second?.target, "mock/mock-small");
    assert.equal(second?.outcome, "server_error BL_PROVIDER_ERROR (HTTP 500) → failover");
    assert.equal(second?.ref, "BL_REQUESTS#8");
  });
});
