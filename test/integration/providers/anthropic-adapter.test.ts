import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import type { ChatCompletionChunk, ChatRequest } from "../../../src/chat/wire.js";
import {
  createAnthropicAdapter,
  type ProviderError,
  type ProviderErrorClass,
} from "../../../src/providers/index.js";
import { faultCallOutcome, providerErrorOf, useMockAdapter } from "../../support/provider-adapter.js";

const TEST_TIMEOUT_MS = 15_000;
const API_KEY = "sk-ant-test-0123456789";
const request: ChatRequest = {
  model: "beamline-alias",
  messages: [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Hello adapter" },
  ],
};
const tools = [
  { type: "function", function: { name: "lookup", description: "Looks up", parameters: { type: "object" } } },
];

describe("Anthropic adapter against the mock provider's Anthropic wire", { timeout: TEST_TIMEOUT_MS }, () => {
  const fixture = useMockAdapter({ chunks: 3, retryAfterSeconds: 2, apiKey: API_KEY }, (mock) =>
    createAnthropicAdapter({
      baseUrl: mock.url,
      apiKey: API_KEY,
      headersTimeoutMs: 1_000,
      now: () => 1_700_000_000_000,
    }),
  );

  it("returns a plain completion with usage, cache reads as cached tokens", async () => {
    const result = await fixture.adapter.complete({ upstreamModel: "claude-mock", request });
    const choice = result.completion.choices[0]!;
    assert.equal(result.completion.model, "claude-mock");
    assert.equal(result.completion.created, 1_700_000_000);
    assert.match(result.completion.id, /^msg_mock_/);
    assert.equal(choice.message.content, "Mock provider reply to: Hello adapter");
    assert.equal(choice.finish_reason, "stop");
    // Counted by the shared token counter's approximation (a non-OpenAI model), framing
    // included; the system message is the mock's cached prefix: 12 of the 25 prompt tokens.
    assert.deepEqual(result.usage, { promptTokens: 25, completionTokens: 11, cachedTokens: 12 });
    assert.equal(result.completion.usage?.prompt_tokens, 25);
  });

  it("streams chunks before resolving and assembles the same completion", async () => {
    const plain = await fixture.adapter.complete({ upstreamModel: "claude-mock", request });
    const chunks: ChatCompletionChunk[] = [];
    const result = await fixture.adapter.complete({
      upstreamModel: "claude-mock",
      request,
      onChunk: (chunk) => chunks.push(chunk),
    });
    assert.equal(chunks[0]?.choices[0]?.delta.role, "assistant");
    assert.ok(
      chunks.filter((chunk) => chunk.choices[0]?.delta.content).length >= 2,
      "content comes in pieces",
    );
    assert.equal(chunks.at(-1)?.choices.length, 0, "the last chunk carries only the usage");
    assert.deepEqual(chunks.at(-1)?.usage?.prompt_tokens, 25);
    assert.equal(result.completion.choices[0]?.message.content, plain.completion.choices[0]?.message.content);
    assert.equal(result.completion.choices[0]?.finish_reason, "stop");
    assert.deepEqual(result.usage, plain.usage);
    assert.ok(result.timeToFirstTokenMs >= 0);
  });

  it("turns tool_use into tool_calls, plain and streamed, and sends the tool result back", async () => {
    const plain = await fixture.adapter.complete({
      upstreamModel: "claude-mock",
      request: { ...request, tools },
    });
    const call = plain.completion.choices[0]?.message.tool_calls?.[0];
    assert.equal(plain.completion.choices[0]?.finish_reason, "tool_calls");
    assert.equal(call?.function.name, "lookup");
    assert.deepEqual(JSON.parse(call!.function.arguments), { input: "Hello adapter" });

    const chunks: ChatCompletionChunk[] = [];
    const streamed = await fixture.adapter.complete({
      upstreamModel: "claude-mock",
      request: { ...request, tools },
      onChunk: (chunk) => chunks.push(chunk),
    });
    assert.ok(
      chunks.filter((chunk) => chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments).length >= 2,
    );
    assert.deepEqual(
      streamed.completion.choices[0]?.message.tool_calls,
      plain.completion.choices[0]?.message.tool_calls,
    );

    const followUp = await fixture.adapter.complete({
      upstreamModel: "claude-mock",
      request: {
        ...request,
        tools,
        messages: [
          ...request.messages,
          { role: "assistant", content: null, tool_calls: [{ ...call! }] },
          { role: "tool", tool_call_id: call!.id, content: "42 results" },
        ],
      },
    });
    assert.equal(
      followUp.completion.choices[0]?.message.content,
      "Mock provider received the tool result: 42 results",
    );
  });

  const httpFaults: Array<[string, ProviderErrorClass, number, boolean]> = [
    ["429", "rate_limited", 429, true],
    ["500", "server_error", 500, true],
    ["502", "server_error", 502, true],
    ["503", "overloaded", 503, true],
    ["529", "overloaded", 529, true],
    ["400", "bad_request", 400, false],
    ["context_length_exceeded", "context_window", 400, false],
  ];
  for (const [fault, errorClass, status, retryable] of httpFaults) {
    for (const streaming of [false, true]) {
      it(`maps the ${fault} fault to ${errorClass} (${streaming ? "streaming" : "plain"})`, async () => {
        const { error, chunks } = await faultCallOutcome(fixture.adapter, fault, request, streaming);
        assert.equal(error.errorClass, errorClass);
        assert.equal(error.providerStatus, status);
        assert.equal(error.retryable, retryable);
        assert.equal(chunks.length, 0);
        if (fault === "429") assert.equal(error.retryAfterMs, 2_000);
      });
    }
  }

  const bodyFaults: Array<[string, ProviderErrorClass, ProviderErrorClass]> = [
    // [fault, class when plain, class when streaming]
    ["malformed", "malformed", "malformed"],
    ["cut", "connection", "stream_interrupted"],
    ["stall", "timeout", "stream_interrupted"],
    ["hang", "timeout", "timeout"],
    ["stream_error", "server_error", "stream_interrupted"],
  ];
  for (const [fault, plainClass, streamClass] of bodyFaults) {
    for (const streaming of [false, true]) {
      const expected = streaming ? streamClass : plainClass;
      it(`maps the ${fault} fault to ${expected} (${streaming ? "streaming" : "plain"})`, async () => {
        const { error, chunks } = await faultCallOutcome(fixture.adapter, fault, request, streaming);
        assert.equal(error.errorClass, expected, error.message);
        if (expected === "stream_interrupted") assert.ok(chunks.length > 0, "chunks were delivered first");
        if (fault === "stream_error" && streaming) {
          assert.equal(
            (error.cause as ProviderError).errorClass,
            "overloaded",
            "the error event's own class is kept as cause",
          );
        }
      });
    }
  }

  it("maps a wrong key to auth and never shows the key", async () => {
    const wrongKey = "sk-ant-wrong-key-987654321";
    const wrong = createAnthropicAdapter({ baseUrl: fixture.mock.url, apiKey: wrongKey });
    try {
      const error = await providerErrorOf(wrong.complete({ upstreamModel: "claude-mock", request }));
      assert.equal(error.errorClass, "auth");
      assert.equal(error.providerStatus, 401);
      assert.ok(!inspect(error, { depth: 10 }).includes(wrongKey));
    } finally {
      await wrong.close();
    }
  });

  it("fails a request Anthropic cannot express as bad_request without calling the provider", async () => {
    const inFlightBefore = fixture.mock.inFlight;
    const error = await providerErrorOf(
      fixture.adapter.complete({
        upstreamModel: "claude-mock",
        request: {
          ...request,
          messages: [
            { role: "user", content: "hi" },
            {
              role: "assistant",
              tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{not json" } }],
            },
          ],
        },
      }),
    );
    assert.equal(error.errorClass, "bad_request");
    assert.equal(fixture.mock.inFlight, inFlightBefore);
  });
});
