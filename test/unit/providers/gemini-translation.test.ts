import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChatRequest } from "../../../src/chat/wire.js";
import { createChunkAssembler } from "../../../src/providers/chunk-assembler.js";
import {
  classifyGeminiError,
  geminiErrorFromResponse,
  parseDurationMs,
  parseGeminiErrorBody,
} from "../../../src/providers/gemini/errors.js";
import { toGeminiRequest } from "../../../src/providers/gemini/request.js";
import {
  createStreamTranslator,
  finishReasonOf,
  type ResponseContext,
  toChatCompletion,
} from "../../../src/providers/gemini/response.js";
import { createRedactor } from "../../../src/providers/openai/errors.js";
import { ProviderError } from "../../../src/providers/provider-error.js";

function contextWithIds(): ResponseContext {
  let next = 0;
  return {
    upstreamModel: "gemini-test",
    created: 1_700_000_000,
    fallbackId: "chatcmpl-fallback",
    newToolCallId: () => `call_${++next}`,
  };
}

const weatherTool = {
  type: "function",
  function: {
    name: "weather",
    description: "Weather of a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, additionalProperties: false },
  },
};

describe("toGeminiRequest", () => {
  it("moves system and developer messages to systemInstruction and maps roles to user/model", () => {
    const body = toGeminiRequest({
      model: "x",
      messages: [
        { role: "system", content: "Be terse." },
        { role: "developer", content: [{ type: "text", text: "Use metric units." }] },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello" },
        { role: "user", content: "Weather?" },
      ],
    });
    assert.deepEqual(body.systemInstruction, {
      parts: [{ text: "Be terse." }, { text: "Use metric units." }],
    });
    assert.deepEqual(body.contents, [
      { role: "user", parts: [{ text: "Hi" }] },
      { role: "model", parts: [{ text: "Hello" }] },
      { role: "user", parts: [{ text: "Weather?" }] },
    ]);
    assert.equal(body.generationConfig, undefined, "no generation parameter was asked for");
  });

  it("translates tools, tool calls and tool results, naming each result after its call", () => {
    const body = toGeminiRequest({
      model: "x",
      messages: [
        { role: "user", content: "Weather in Oslo and Rome?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "c1", type: "function", function: { name: "weather", arguments: '{"city":"Oslo"}' } },
            { id: "c2", type: "function", function: { name: "weather", arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: "tool", tool_call_id: "c1", content: '{"celsius":3}' },
        { role: "tool", tool_call_id: "c2", content: "sunny" },
      ],
      tools: [weatherTool],
      tool_choice: { type: "function", function: { name: "weather" } },
    });
    assert.deepEqual(body.tools, [
      {
        functionDeclarations: [
          {
            name: "weather",
            description: "Weather of a city",
            parametersJsonSchema: weatherTool.function.parameters,
          },
        ],
      },
    ]);
    assert.deepEqual(body.toolConfig, {
      functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["weather"] },
    });
    assert.deepEqual(body.contents[1], {
      role: "model",
      parts: [
        { functionCall: { name: "weather", args: { city: "Oslo" } } },
        { functionCall: { name: "weather", args: { city: "Rome" } } },
      ],
    });
    assert.deepEqual(body.contents[2], {
      role: "user",
      parts: [
        { functionResponse: { name: "weather", response: { celsius: 3 } } },
        { functionResponse: { name: "weather", response: { content: "sunny" } } },
      ],
    });
  });

  it("maps generation parameters, stop sequences and JSON mode", () => {
    const body = toGeminiRequest({
      model: "x",
      messages: [{ role: "user", content: "List" }],
      max_tokens: 50,
      max_completion_tokens: 100,
      temperature: 0.2,
      top_p: 0.9,
      stop: "END",
      response_format: { type: "json_schema", json_schema: { name: "list", schema: { type: "array" } } },
    } as ChatRequest);
    assert.deepEqual(body.generationConfig, {
      maxOutputTokens: 100,
      temperature: 0.2,
      topP: 0.9,
      stopSequences: ["END"],
      responseMimeType: "application/json",
      responseJsonSchema: { type: "array" },
    });
    const jsonObject = toGeminiRequest({
      model: "x",
      messages: [{ role: "user", content: "{}" }],
      response_format: { type: "json_object" },
      tool_choice: "none",
    });
    assert.equal(jsonObject.generationConfig?.responseMimeType, "application/json");
    assert.deepEqual(jsonObject.toolConfig, { functionCallingConfig: { mode: "NONE" } });
  });

  it("passes a data-URL image inline", () => {
    const body = toGeminiRequest({
      model: "x",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
          ],
        },
      ],
    });
    assert.deepEqual(body.contents[0]?.parts[1], {
      inlineData: { mimeType: "image/png", data: "iVBORw0KGgo=" },
    });
  });

  it("rejects what Gemini cannot express with a non-retryable bad_request", () => {
    const cases: ChatRequest[] = [
      { model: "x", messages: [{ role: "tool", tool_call_id: "unknown", content: "42" }] },
      { model: "x", messages: [{ role: "system", content: "only a system prompt" }] },
      {
        model: "x",
        messages: [
          {
            role: "assistant",
            tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "not json" } }],
          },
        ],
      },
      {
        model: "x",
        messages: [
          { role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/a.png" } }] },
        ],
      },
    ];
    for (const request of cases) {
      assert.throws(
        () => toGeminiRequest(request),
        (error) => error instanceof ProviderError && error.errorClass === "bad_request" && !error.retryable,
      );
    }
  });
});

describe("toChatCompletion", () => {
  it("maps text, usage with cached and thinking tokens, and the model version", () => {
    const completion = toChatCompletion(
      {
        candidates: [
          {
            index: 0,
            content: {
              role: "model",
              parts: [{ text: "thinking…", thought: true }, { text: "Hello " }, { text: "there" }],
            },
            finishReason: "STOP",
          },
        ],
        usageMetadata: {
          promptTokenCount: 120,
          candidatesTokenCount: 7,
          thoughtsTokenCount: 5,
          cachedContentTokenCount: 100,
          totalTokenCount: 132,
        },
        modelVersion: "gemini-test-001",
        responseId: "resp-1",
      },
      contextWithIds(),
    );
    assert.equal(completion.id, "resp-1");
    assert.equal(completion.model, "gemini-test-001");
    assert.equal(completion.created, 1_700_000_000);
    assert.deepEqual(completion.choices, [
      { index: 0, message: { role: "assistant", content: "Hello there" }, finish_reason: "stop" },
    ]);
    assert.deepEqual(completion.usage, {
      prompt_tokens: 120,
      completion_tokens: 12,
      total_tokens: 132,
      prompt_tokens_details: { cached_tokens: 100 },
    });
  });

  it("turns function calls into tool_calls with generated ids and finish reason tool_calls", () => {
    const completion = toChatCompletion(
      {
        candidates: [
          {
            content: {
              role: "model",
              parts: [
                { functionCall: { name: "weather", args: { city: "Oslo" } } },
                { functionCall: { id: "given", name: "weather", args: { city: "Rome" } } },
              ],
            },
            finishReason: "STOP",
          },
        ],
      },
      contextWithIds(),
    );
    const choice = completion.choices[0]!;
    assert.equal(choice.finish_reason, "tool_calls");
    assert.equal(choice.message.content, null);
    assert.deepEqual(choice.message.tool_calls, [
      { id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Oslo"}' } },
      { id: "given", type: "function", function: { name: "weather", arguments: '{"city":"Rome"}' } },
    ]);
    assert.equal(completion.id, "chatcmpl-fallback");
    assert.equal(completion.model, "gemini-test");
  });

  it("reports a blocked prompt as an empty content_filter choice", () => {
    const completion = toChatCompletion({ promptFeedback: { blockReason: "SAFETY" } }, contextWithIds());
    assert.deepEqual(completion.choices, [
      { index: 0, message: { role: "assistant", content: null }, finish_reason: "content_filter" },
    ]);
  });

  it("maps finish reasons", () => {
    assert.equal(finishReasonOf("STOP", false), "stop");
    assert.equal(finishReasonOf("STOP", true), "tool_calls");
    assert.equal(finishReasonOf("MAX_TOKENS", false), "length");
    assert.equal(finishReasonOf("SAFETY", false), "content_filter");
    assert.equal(finishReasonOf("RECITATION", false), "content_filter");
    assert.equal(finishReasonOf("OTHER", false), "stop");
    assert.equal(finishReasonOf(undefined, false), null);
  });
});

describe("createStreamTranslator", () => {
  it("streams role first, text deltas, the finish reason, then a usage chunk; assembling equals the plain answer", () => {
    const translator = createStreamTranslator(contextWithIds());
    const meta = { modelVersion: "gemini-test-001", responseId: "resp-2" };
    const chunks = [
      translator.translate({
        candidates: [{ content: { role: "model", parts: [{ text: "Hel" }] } }],
        usageMetadata: { promptTokenCount: 10 },
        ...meta,
      }),
      translator.translate({
        candidates: [{ content: { role: "model", parts: [{ text: "lo" }] }, finishReason: "MAX_TOKENS" }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 2, cachedContentTokenCount: 4 },
        ...meta,
      }),
    ];
    assert.equal(translator.finished, true);
    assert.deepEqual(chunks[0]?.choices, [
      { index: 0, delta: { role: "assistant", content: "Hel" }, finish_reason: null },
    ]);
    assert.deepEqual(chunks[1]?.choices, [{ index: 0, delta: { content: "lo" }, finish_reason: "length" }]);
    const usageChunk = translator.usageChunk();
    assert.deepEqual(usageChunk.choices, []);
    assert.deepEqual(usageChunk.usage, {
      prompt_tokens: 10,
      completion_tokens: 2,
      total_tokens: 12,
      prompt_tokens_details: { cached_tokens: 4 },
    });
    const assembler = createChunkAssembler();
    for (const chunk of [...chunks, usageChunk]) assembler.add(chunk!);
    const completion = assembler.completion();
    assert.equal(completion.id, "resp-2");
    assert.equal(completion.model, "gemini-test-001");
    assert.equal(completion.choices[0]?.message.content, "Hello");
    assert.equal(completion.choices[0]?.finish_reason, "length");
  });

  it("numbers streamed function calls across events and finishes with tool_calls", () => {
    const translator = createStreamTranslator(contextWithIds());
    const first = translator.translate({
      candidates: [{ content: { parts: [{ functionCall: { name: "a", args: {} } }] } }],
    });
    const second = translator.translate({
      candidates: [
        { content: { parts: [{ functionCall: { name: "b", args: { x: 1 } } }] }, finishReason: "STOP" },
      ],
    });
    assert.deepEqual(first?.choices[0]?.delta.tool_calls, [
      { index: 0, id: "call_1", type: "function", function: { name: "a", arguments: "{}" } },
    ]);
    assert.deepEqual(second?.choices[0]?.delta.tool_calls, [
      { index: 1, id: "call_2", type: "function", function: { name: "b", arguments: '{"x":1}' } },
    ]);
    assert.equal(second?.choices[0]?.finish_reason, "tool_calls");
  });

  it("is not finished until a finish reason arrives", () => {
    const translator = createStreamTranslator(contextWithIds());
    translator.translate({ candidates: [{ content: { parts: [{ text: "partial" }] } }] });
    assert.equal(translator.finished, false);
  });
});

describe("Gemini errors", () => {
  const classOf = (status: number, body: object) =>
    classifyGeminiError(status, parseGeminiErrorBody(JSON.stringify({ error: body })));

  it("classifies Google's statuses", () => {
    assert.equal(classOf(429, { code: 429, message: "quota", status: "RESOURCE_EXHAUSTED" }), "rate_limited");
    assert.equal(classOf(500, { code: 500, message: "internal", status: "INTERNAL" }), "server_error");
    assert.equal(classOf(503, { code: 503, message: "overloaded", status: "UNAVAILABLE" }), "overloaded");
    assert.equal(classOf(504, { code: 504, message: "deadline", status: "DEADLINE_EXCEEDED" }), "timeout");
    assert.equal(classOf(400, { code: 400, message: "bad", status: "INVALID_ARGUMENT" }), "bad_request");
    assert.equal(
      classOf(400, {
        code: 400,
        message: "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576).",
        status: "INVALID_ARGUMENT",
      }),
      "context_window",
    );
    assert.equal(classOf(403, { code: 403, message: "denied", status: "PERMISSION_DENIED" }), "auth");
    assert.equal(classOf(401, { code: 401, message: "who", status: "UNAUTHENTICATED" }), "auth");
    assert.equal(
      classOf(400, {
        code: 400,
        message: "API key not valid. Please pass a valid API key.",
        status: "INVALID_ARGUMENT",
        details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID" }],
      }),
      "auth",
    );
    assert.equal(classOf(0, { code: 503, message: "in-stream", status: "UNAVAILABLE" }), "overloaded");
  });

  it("takes the wait from retry-after, else from RetryInfo.retryDelay", () => {
    const bodyText = JSON.stringify([
      {
        error: {
          code: 429,
          message: "Resource has been exhausted (e.g. check quota).",
          status: "RESOURCE_EXHAUSTED",
          details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "1.5s" }],
        },
      },
    ]);
    const redact = createRedactor(undefined);
    const fromBody = geminiErrorFromResponse({
      providerName: "gemini",
      status: 429,
      headers: {},
      bodyText,
      nowMs: 0,
      redact,
    });
    assert.equal(fromBody.errorClass, "rate_limited");
    assert.equal(fromBody.retryAfterMs, 1_500);
    assert.equal(fromBody.providerStatus, 429);
    const fromHeader = geminiErrorFromResponse({
      providerName: "gemini",
      status: 429,
      headers: { "retry-after": "3" },
      bodyText,
      nowMs: 0,
      redact,
    });
    assert.equal(fromHeader.retryAfterMs, 3_000);
    assert.equal(parseDurationMs("58s"), 58_000);
    assert.equal(parseDurationMs("0.250s"), 250);
    assert.equal(parseDurationMs("soon"), undefined);
  });

  it("redacts the key when an error body echoes it", () => {
    const key = "AIzaSecretKeyValue123";
    const error = geminiErrorFromResponse({
      providerName: "gemini",
      status: 400,
      headers: {},
      bodyText: JSON.stringify({
        error: { code: 400, message: `API key not valid: ${key}`, status: "INVALID_ARGUMENT" },
      }),
      nowMs: 0,
      redact: createRedactor(key),
    });
    assert.equal(error.errorClass, "auth");
    assert.ok(!error.message.includes(key));
    assert.match(error.message, /\[redacted\]/);
  });
});
