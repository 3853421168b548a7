import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import {
  createSseParser,
  geminiBaseUrl,
  type MockProvider,
  type SseEvent,
  startMockProvider,
} from "../../../src/providers/index.js";
import { sseData } from "../../support/index.js";

const KEY = "mock-gemini-key-123456";
const body = JSON.stringify({ contents: [{ role: "user", parts: [{ text: "Hello" }] }] });

describe("the mock provider's Gemini endpoints", { timeout: 10_000 }, () => {
  let mock: MockProvider;
  let base: string;
  const post = (path: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": KEY, ...headers },
      body,
    });

  before(async () => {
    mock = await startMockProvider({ apiKey: KEY, retryAfterSeconds: 7, chunks: 2 });
    base = geminiBaseUrl(mock.url);
  });
  after(() => mock.close());

  it("renders faults in Google's error shape, a 429 with RetryInfo", async () => {
    const response = await post("/models/gemini-mock:generateContent", { "x-mock-fault": "429" });
    assert.equal(response.status, 429);
    assert.equal(response.headers.get("retry-after"), null, "Gemini tells the wait in the body");
    assert.deepEqual(await response.json(), {
      error: {
        code: 429,
        message: "Resource has been exhausted (e.g. check quota).",
        status: "RESOURCE_EXHAUSTED",
        details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "7s" }],
      },
    });
    const overloaded = await post("/models/mock-fault-503:streamGenerateContent?alt=sse");
    assert.equal(overloaded.status, 503);
    assert.equal(((await overloaded.json()) as { error: { status: string } }).error.status, "UNAVAILABLE");
  });

  it("sends an error event after the first response (stream_error), and the error as a 200 body when plain", async () => {
    const sse = await post("/models/gemini-mock:streamGenerateContent?alt=sse", {
      "x-mock-fault": "stream_error",
    });
    assert.equal(sse.status, 200);
    const events = sseData(await sse.text()) as Array<{ candidates?: unknown[]; error?: { status: string } }>;
    assert.equal(events.length, 2);
    assert.ok(JSON.stringify(events[0]!.candidates).includes('"text"'), "the first response carries content");
    assert.equal(events[1]!.error?.status, "UNAVAILABLE");
    const plain = await post("/models/mock-fault-stream_error:generateContent");
    assert.equal(plain.status, 200);
    assert.equal(((await plain.json()) as { error: { code: number } }).error.code, 503);
  });

  it("stalls after the first streamed response (stall) and keeps the connection open", async () => {
    const response = await post("/models/gemini-mock:streamGenerateContent?alt=sse", {
      "x-mock-fault": "stall",
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const parser = createSseParser();
    let received: SseEvent[] = [];
    while (received.length === 0) {
      const { value, done } = await reader.read();
      assert.ok(!done, "the stream ended before its first response");
      received = parser.push(value!);
    }
    assert.ok(received[0]!.data.includes('"text"'), "the first response arrived");
    // Nothing more comes: proving an absence needs a bounded wait; 300 ms is ample on loopback.
    const next = reader.read();
    const outcome = await Promise.race([next.then(() => "more"), delay(300, "stalled")]);
    assert.equal(outcome, "stalled");
    await reader.cancel();
  });

  it("checks the key in x-goog-api-key as Gemini does", async () => {
    const missing = await fetch(`${base}/models/gemini-mock:generateContent`, { method: "POST", body });
    assert.equal(missing.status, 403);
    const wrong = await post("/models/gemini-mock:generateContent", { "x-goog-api-key": "nope" });
    assert.equal(wrong.status, 400);
    assert.match(JSON.stringify(await wrong.json()), /API_KEY_INVALID/);
  });

  it("streams SSE with alt=sse and one JSON array without it", async () => {
    const sse = await post("/models/gemini-mock:streamGenerateContent?alt=sse");
    assert.match(sse.headers.get("content-type") ?? "", /text\/event-stream/);
    const text = await sse.text();
    // Gemini ends its lines with CRLF; the mock does too, so adapters meet that line ending.
    assert.ok(text.endsWith("\r\n\r\n") && !/[^\r]\n/.test(text), "lines end in CRLF");
    const events = sseData(text) as Array<{
      candidates: Array<{ finishReason: string }>;
      usageMetadata: { candidatesTokenCount: number };
    }>;
    assert.equal(events.length, 2);
    const last = events[1]!;
    assert.equal(last.candidates[0]?.finishReason, "STOP");
    assert.ok(last.usageMetadata.candidatesTokenCount > 0);

    const array = await post("/models/gemini-mock:streamGenerateContent");
    const responses = (await array.json()) as unknown[];
    assert.ok(Array.isArray(responses) && responses.length === 2);
  });
});
