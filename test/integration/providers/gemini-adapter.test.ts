import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import type { ChatCompletionChunk, ChatRequest } from "../../../src/chat/wire.js";
import { createGeminiAdapter, geminiBaseUrl, type ProviderErrorClass } from "../../../src/providers/index.js";
import { faultCallOutcome, providerErrorOf, useMockAdapter } from "../../support/provider-adapter.js";

const TEST_TIMEOUT_MS = 15_000;
const API_KEY = "gemini-test-key-0123456789";
const request: ChatRequest = {
  model: "beamline-alias",
  messages: [
    { role: "system", content: "You are terse and helpful." },
    { role: "user", content: "Hello Gemini" },
  ],
};
const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }];

describe("Gemini adapter against the mock provider", { timeout: TEST_TIMEOUT_MS }, () => {
  const fixture = useMockAdapter({ chunks: 3, retryAfterSeconds: 2, apiKey: API_KEY }, (mock) =>
    createGeminiAdapter({
      baseUrl: geminiBaseUrl(mock.url),
      apiKey: API_KEY,
      headersTimeoutMs: 1_000,
      now: () => 1_700_000_000_000,
    }),
  );

  it("returns a plain completion with usage and cached tokens", async () => {
    const result = await fixture.adapter.complete({ upstreamModel: "gemini-mock", request });
    assert.equal(result.completion.model, "gemini-mock");
    assert.equal(result.completion.created, 1_700_000_000);
    assert.equal(result.completion.choices[0]?.message.content, "Mock provider reply to: Hello Gemini");
    assert.equal(result.completion.choices[0]?.finish_reason, "stop");
    assert.ok(result.usage.promptTokens > 0);
    assert.ok(result.usage.completionTokens > 0);
    assert.ok(result.usage.cachedTokens > 0, "the system prompt counts as a cached prefix on the mock");
    assert.ok(result.timeToFirstTokenMs >= 0);
  });

  it("streams chunks as they arrive, closed by a usage chunk, and assembles the same answer", async () => {
    const chunks: ChatCompletionChunk[] = [];
    const result = await fixture.adapter.complete({
      upstreamModel: "gemini-mock",
      request: { ...request, stream: true },
      onChunk: (chunk) => chunks.push(chunk),
    });
    assert.ok(chunks.length >= 3, `expected several chunks, got ${chunks.length}`);
    assert.equal(chunks[0]?.choices[0]?.delta.role, "assistant");
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.equal(chunks.at(-1)?.usage?.prompt_tokens, result.usage.promptTokens);
    const streamedText = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
    assert.equal(streamedText, "Mock provider reply to: Hello Gemini");
    assert.equal(result.completion.choices[0]?.message.content, streamedText);
    assert.equal(result.completion.choices[0]?.finish_reason, "stop");
    assert.ok(result.usage.cachedTokens > 0);
  });

  for (const streaming of [false, true]) {
    const mode = streaming ? "streaming" : "plain";
    it(`calls a declared function (${mode})`, async () => {
      const chunks: ChatCompletionChunk[] = [];
      const result = await fixture.adapter.complete({
        upstreamModel: "gemini-mock",
        request: { ...request, tools },
        ...(streaming ? { onChunk: (chunk: ChatCompletionChunk) => chunks.push(chunk) } : {}),
      });
      const choice = result.completion.choices[0]!;
      assert.equal(choice.finish_reason, "tool_calls");
      assert.equal(choice.message.tool_calls?.length, 1);
      const call = choice.message.tool_calls![0]!;
      assert.equal(call.function.name, "lookup");
      assert.deepEqual(JSON.parse(call.function.arguments), { input: "Hello Gemini" });
      assert.match(call.id, /^call_/);
      if (streaming) assert.equal(chunks[0]?.choices[0]?.delta.tool_calls?.[0]?.id, call.id);
    });
  }

  const faults: Array<{ fault: string; plain: ProviderErrorClass; streaming: ProviderErrorClass }> = [
    { fault: "400", plain: "bad_request", streaming: "bad_request" },
    { fault: "context_length_exceeded", plain: "context_window", streaming: "context_window" },
    { fault: "429", plain: "rate_limited", streaming: "rate_limited" },
    { fault: "500", plain: "server_error", streaming: "server_error" },
    { fault: "503", plain: "overloaded", streaming: "overloaded" },
    { fault: "hang", plain: "timeout", streaming: "timeout" },
    { fault: "cut", plain: "connection", streaming: "stream_interrupted" },
    { fault: "malformed", plain: "malformed", streaming: "malformed" },
  ];
  for (const { fault, plain, streaming } of faults) {
    for (const stream of [false, true]) {
      const expected = stream ? streaming : plain;
      it(`maps the ${fault} fault to ${expected} (${stream ? "streaming" : "plain"})`, async () => {
        const { error, chunks } = await faultCallOutcome(fixture.adapter, fault, request, stream);
        assert.equal(error.errorClass, expected, error.message);
        if (fault === "429") assert.equal(error.retryAfterMs, 2_000, "RetryInfo.retryDelay of 2s");
        if (expected === "stream_interrupted")
          assert.ok(chunks.length > 0, "part of the answer was delivered");
        assert.ok(!error.message.includes(API_KEY));
      });
    }
  }

  it("reports a wrong key as an auth error without echoing it", async () => {
    const wrongKey = "wrong-key-abcdefghijklmnop";
    const wrong = createGeminiAdapter({ baseUrl: geminiBaseUrl(fixture.mock.url), apiKey: wrongKey });
    try {
      const error = await providerErrorOf(wrong.complete({ upstreamModel: "gemini-mock", request }));
      assert.equal(error.errorClass, "auth");
      assert.ok(!error.retryable);
      assert.ok(!error.message.includes(wrongKey));
    } finally {
      await wrong.close();
    }
  });
});

describe("Gemini adapter on the wire", { timeout: TEST_TIMEOUT_MS }, () => {
  it("sends the key in x-goog-api-key, never in the URL, and the translated body", async () => {
    const seen: Array<{ url: string; key: string | undefined; body: unknown }> = [];
    const server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (part: Buffer) => parts.push(part));
      req.on("end", () => {
        const key = req.headers["x-goog-api-key"];
        seen.push({
          url: req.url ?? "",
          key: Array.isArray(key) ? key[0] : key,
          body: JSON.parse(Buffer.concat(parts).toString("utf8")),
        });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }],
            usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 4 },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const adapter = createGeminiAdapter({ baseUrl: `http://127.0.0.1:${port}/v1beta`, apiKey: API_KEY });
    try {
      const result = await adapter.complete({
        upstreamModel: "gemini-2.5-flash",
        request: { ...request, max_tokens: 5 },
      });
      assert.equal(result.completion.choices[0]?.message.content, "ok");
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.url, "/v1beta/models/gemini-2.5-flash:generateContent");
      assert.ok(!seen[0]?.url.includes(API_KEY));
      assert.equal(seen[0]?.key, API_KEY);
      assert.deepEqual(seen[0]?.body, {
        contents: [{ role: "user", parts: [{ text: "Hello Gemini" }] }],
        systemInstruction: { parts: [{ text: "You are terse and helpful." }] },
        generationConfig: { maxOutputTokens: 5 },
      });
    } finally {
      await adapter.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
