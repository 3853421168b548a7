import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import OpenAI from "openai";
import { readRequestHistory, readTenantUsage } from "../../replay/index.js";
import { publishPolicy } from "../../src/policies/index.js";
import { type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { waitFor } from "../support/index.js";
import { type NatsProviderService, startNatsProviderService } from "../support/nats-provider-service.js";
import { type TestCatalogFile, writeTestCatalog } from "../support/test-catalog.js";

/**
 * One trace per request across every NATS hop: the client's `traceparent` continues in the
 * gateway span, the worker's spans, its provider call (named and attributed as the
 * OpenTelemetry GenAI conventions say), billing, and in the `traceparent` of every event the
 * request left behind. The provider itself receives the provider span's context.
 */
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
);

const CLIENT_SPAN_ID = "00f067aa0ba902b7";
/** A fresh client trace id per test, so the spans of one test never mix with another's. */
function clientTraceId(n: number): string {
  return `4bf92f3577b34da6a3ce929d0e0e47${n.toString(16).padStart(2, "0")}`;
}

/** Served by an OpenAI-compatible upstream (a mock the test watches) and a NATS-service provider. */
const MODELS = [
  { id: "mock-small", provider: "mock", upstreamModel: "mock-small" },
  { id: "traced-model", provider: "upstream", upstreamModel: "mock-large" },
  { id: "inhouse-1", provider: "inhouse", upstreamModel: "inhouse-1" },
] as const;

describe("OpenTelemetry traces", { timeout: 90_000 }, () => {
  let beamline: TestBeamline;
  let upstream: MockProvider;
  let inhouse: NatsProviderService;
  let catalog: TestCatalogFile;
  const upstreamTraceparents: string[] = [];

  before(async () => {
    upstream = await startMockProvider({
      onRequest: (headers) => {
        if (typeof headers.traceparent === "string") upstreamTraceparents.push(headers.traceparent);
      },
    });
    catalog = await writeTestCatalog("e2e-tracing.1", MODELS);
    beamline = await startTestBeamline({
      catalogFile: catalog.path,
      providers: [
        { kind: "openai-compatible", name: "upstream", baseUrl: upstream.url },
        { kind: "nats-service", name: "inhouse", timeoutMs: 10_000, idleTimeoutMs: 5_000 },
      ],
    });
    inhouse = await startNatsProviderService(beamline.server.url, "inhouse");
  });
  after(async () => {
    await inhouse?.stop();
    await beamline?.stop();
    await upstream?.close();
    await catalog?.remove();
  });

  function client(traceId: string): OpenAI {
    return new OpenAI({
      apiKey: beamline.devKey,
      baseURL: `${beamline.baseUrl}/v1`,
      maxRetries: 0,
      defaultHeaders: { traceparent: `00-${traceId}-${CLIENT_SPAN_ID}-01` },
    });
  }

  /** The finished spans of `traceId` by name, once billing (the last hop) has finished. */
  async function spansOf(traceId: string): Promise<Map<string, ReadableSpan>> {
    await waitFor(
      () =>
        exporter
          .getFinishedSpans()
          .some((span) => span.spanContext().traceId === traceId && span.name === "beamline.billing"),
      { what: `the billing span of trace ${traceId}` },
    );
    const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
    return new Map(spans.map((span) => [span.name, span]));
  }

  /** Gateway → worker → provider call and worker → billing chain, parent by parent. */
  function assertOneTrace(byName: Map<string, ReadableSpan>, providerSpan: string): ReadableSpan {
    for (const name of ["POST /v1/chat/completions", "beamline.worker", providerSpan, "beamline.billing"]) {
      assert.ok(
        byName.has(name),
        `span ${name} in the client's trace (have: ${[...byName.keys()].join(", ")})`,
      );
    }
    const spanId = (name: string) => byName.get(name)!.spanContext().spanId;
    const parentOf = (name: string) => byName.get(name)!.parentSpanContext?.spanId;
    assert.equal(parentOf("POST /v1/chat/completions"), CLIENT_SPAN_ID);
    assert.equal(parentOf("beamline.worker"), spanId("POST /v1/chat/completions"));
    assert.equal(parentOf(providerSpan), spanId("beamline.worker"));
    // Billing handles the terminal event the worker wrote under its span.
    assert.equal(parentOf("beamline.billing"), spanId("beamline.worker"));
    return byName.get(providerSpan)!;
  }

  /** The GenAI conventions' client span attributes of a successful chat call. */
  function assertGenAiAttributes(span: ReadableSpan, expected: { provider: string; requestModel: string }) {
    assert.equal(span.kind, 2 /* SpanKind.CLIENT */);
    const a = span.attributes;
    assert.equal(a["gen_ai.operation.name"], "chat");
    assert.equal(a["gen_ai.provider.name"], expected.provider);
    assert.equal(a["gen_ai.request.model"], expected.requestModel);
    assert.equal(a["gen_ai.response.model"], expected.requestModel);
    assert.equal(typeof a["gen_ai.response.id"], "string");
    assert.deepEqual(a["gen_ai.response.finish_reasons"], ["stop"]);
    assert.ok((a["gen_ai.usage.input_tokens"] as number) > 0, "input tokens");
    assert.ok((a["gen_ai.usage.output_tokens"] as number) > 0, "output tokens");
    assert.equal(a["error.type"], undefined);
  }

  it("continues the client's trace through gateway, worker, provider call, billing and every event", async () => {
    const traceId = clientTraceId(1);
    const { data: completion, response } = await client(traceId)
      .chat.completions.create({
        model: "traced-model",
        messages: [{ role: "user", content: "trace me" }],
        max_tokens: 64,
        temperature: 0.5,
      })
      .withResponse();
    const requestId = response.headers.get("x-request-id")!;
    assert.ok(completion.choices[0]?.message.content);

    const providerSpan = assertOneTrace(await spansOf(traceId), "chat mock-large");
    assertGenAiAttributes(providerSpan, { provider: "upstream", requestModel: "mock-large" });
    const port = Number(new URL(upstream.url).port);
    assert.equal(providerSpan.attributes["server.address"], "127.0.0.1");
    assert.equal(providerSpan.attributes["server.port"], port);
    assert.equal(providerSpan.attributes["gen_ai.request.max_tokens"], 64);
    assert.equal(providerSpan.attributes["gen_ai.request.temperature"], 0.5);

    // The provider was told the provider span is its parent.
    assert.ok(
      upstreamTraceparents.includes(`00-${traceId}-${providerSpan.spanContext().spanId}-01`),
      `the upstream received the provider span's traceparent (got ${upstreamTraceparents.join(", ")})`,
    );

    const history = await readRequestHistory(beamline.nc, "dev", requestId);
    await waitFor(
      async () =>
        (await readTenantUsage(beamline.nc, "dev")).some(({ event }) => event.requestId === requestId),
      { what: "the usage record" },
    );
    const usage = (await readTenantUsage(beamline.nc, "dev")).filter(
      ({ event }) => event.requestId === requestId,
    );
    for (const { event } of [...history, ...usage]) {
      assert.match(event.traceparent ?? "", new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), event.type);
    }
  });

  it("covers a streamed request the same way, and sends its context upstream", async () => {
    const traceId = clientTraceId(2);
    const stream = await client(traceId).chat.completions.create({
      model: "traced-model",
      messages: [{ role: "user", content: "stream and trace me" }],
      stream: true,
    });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    assert.ok(text.length > 0);

    const providerSpan = assertOneTrace(await spansOf(traceId), "chat mock-large");
    assertGenAiAttributes(providerSpan, { provider: "upstream", requestModel: "mock-large" });
    assert.ok(
      upstreamTraceparents.includes(`00-${traceId}-${providerSpan.spanContext().spanId}-01`),
      "the upstream received the streamed call's provider span as parent",
    );
  });

  it("sends the provider span's context to a NATS-service provider as message headers", async () => {
    const traceId = clientTraceId(3);
    await client(traceId).chat.completions.create({
      model: "inhouse-1",
      messages: [{ role: "user", content: "trace me over NATS" }],
    });
    const providerSpan = assertOneTrace(await spansOf(traceId), "chat inhouse-1");
    assert.equal(providerSpan.attributes["gen_ai.provider.name"], "inhouse");
    assert.ok(
      inhouse.traceparents.includes(`00-${traceId}-${providerSpan.spanContext().spanId}-01`),
      `the NATS service received the provider span's traceparent (got ${inhouse.traceparents.join(", ")})`,
    );
  });

  it("starts a new trace when the client sends none", async () => {
    const response = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "x" }] }),
    });
    assert.equal(response.status, 200);
    const requestId = response.headers.get("x-request-id")!;
    await waitFor(
      () =>
        exporter
          .getFinishedSpans()
          .some(
            (span) => span.name === "beamline.worker" && span.attributes["beamline.request_id"] === requestId,
          ),
      { what: "the worker span" },
    );
    const worker = exporter
      .getFinishedSpans()
      .find(
        (span) => span.name === "beamline.worker" && span.attributes["beamline.request_id"] === requestId,
      )!;
    const gatewaySpan = exporter
      .getFinishedSpans()
      .find((span) => span.spanContext().spanId === worker.parentSpanContext?.spanId)!;
    assert.equal(gatewaySpan.name, "POST /v1/chat/completions");
    assert.equal(gatewaySpan.parentSpanContext, undefined);
    assert.match(gatewaySpan.spanContext().traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(gatewaySpan.spanContext().traceId.slice(0, 30), clientTraceId(0).slice(0, 30));
  });
  // Last: it turns the dev tenant's cache on.
  it("records the cache look-up as a span of the worker, with whether it hit", async () => {
    await publishPolicy(beamline.store, "dev", { cache: { mode: "exact", ttlSeconds: 300 } }, new Date());
    const ask = (traceId: string) =>
      client(traceId)
        .chat.completions.create({
          model: "mock-small",
          temperature: 0,
          messages: [{ role: "user", content: "cache me" }],
        })
        .withResponse();
    let n = 10;
    await waitFor(
      async () => (await ask(clientTraceId(n++))).response.headers.get("x-beamline-cache") === "hit",
      {
        what: "a cache hit once the policy reaches the worker",
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    const hitTrace = clientTraceId(n - 1);
    await waitFor(
      () =>
        exporter
          .getFinishedSpans()
          .some((span) => span.spanContext().traceId === hitTrace && span.name === "beamline.cache lookup"),
      { what: "the cache look-up span of the hit" },
    );
    const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === hitTrace);
    const lookup = spans.find((span) => span.name === "beamline.cache lookup")!;
    const worker = spans.find((span) => span.name === "beamline.worker")!;
    assert.equal(lookup.attributes["beamline.cache.hit"], true);
    assert.equal(lookup.parentSpanContext?.spanId, worker.spanContext().spanId, "under the worker span");
    assert.equal(lookup.attributes["beamline.tenant"], "dev");
    assert.ok(!spans.some((span) => span.name.startsWith("chat ")), "a hit calls no provider");
  });
});
