import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { readRequestHistory, readTenantUsage } from "../../replay/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { waitFor } from "../support/index.js";

/**
 * One trace per request across every NATS hop: the client's `traceparent` continues in the
 * gateway span, the worker's spans (and its provider call), billing, and in the
 * `traceparent` of every event the request left behind.
 */
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

const CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN_ID = "00f067aa0ba902b7";

describe("OpenTelemetry traces", { timeout: 60_000 }, () => {
  let beamline: TestBeamline;
  before(async () => {
    beamline = await startTestBeamline();
  });
  after(() => beamline.stop());

  it("continues the client's trace through gateway, worker, provider call, billing and every event", async () => {
    const response = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${beamline.devKey}`,
        "content-type": "application/json",
        traceparent: `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`,
      },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "trace me" }] }),
    });
    assert.equal(response.status, 200);
    const requestId = response.headers.get("x-request-id")!;
    await waitFor(
      async () =>
        (await readTenantUsage(beamline.nc, "dev")).some(({ event }) => event.requestId === requestId),
      { what: "the usage record" },
    );
    await waitFor(() => exporter.getFinishedSpans().some((span) => span.name === "beamline.billing"), {
      what: "the billing span",
    });

    const spans = exporter
      .getFinishedSpans()
      .filter((span) => span.spanContext().traceId === CLIENT_TRACE_ID);
    const byName = new Map(spans.map((span) => [span.name, span]));
    for (const name of [
      "POST /v1/chat/completions",
      "beamline.worker",
      "provider mock",
      "beamline.billing",
    ]) {
      assert.ok(
        byName.has(name),
        `span ${name} in the client's trace (have: ${[...byName.keys()].join(", ")})`,
      );
    }
    const parentOf = (name: string) => byName.get(name)!.parentSpanContext?.spanId;
    assert.equal(parentOf("POST /v1/chat/completions"), CLIENT_SPAN_ID);
    assert.equal(parentOf("beamline.worker"), byName.get("POST /v1/chat/completions")!.spanContext().spanId);
    assert.equal(parentOf("provider mock"), byName.get("beamline.worker")!.spanContext().spanId);

    const history = await readRequestHistory(beamline.nc, "dev", requestId);
    const usage = (await readTenantUsage(beamline.nc, "dev")).filter(
      ({ event }) => event.requestId === requestId,
    );
    for (const { event } of [...history, ...usage]) {
      assert.match(
        event.traceparent ?? "",
        new RegExp(`^00-${CLIENT_TRACE_ID}-[0-9a-f]{16}-01$`),
        event.type,
      );
    }
  });

  it("starts a new trace when the client sends none", async () => {
    exporter.reset();
    const response = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "mock-small",
        messages: [{ role: "user", content: "x" }],
        "x-unused": 1,
      }),
    });
    assert.equal(response.status, 200);
    await waitFor(() => exporter.getFinishedSpans().some((span) => span.name === "beamline.worker"), {
      what: "the worker span",
    });
    const gatewaySpan = exporter
      .getFinishedSpans()
      .find((span) => span.name === "POST /v1/chat/completions")!;
    assert.equal(gatewaySpan.parentSpanContext, undefined);
    assert.match(gatewaySpan.spanContext().traceId, /^[0-9a-f]{32}$/);
  });
});
