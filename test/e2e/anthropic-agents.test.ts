/**
 * The Anthropic door for agent clients (issue 15, items 3, 4 and 6), through real clients:
 * the official `@anthropic-ai/sdk`, the `openai` SDK and the AI SDK's `@ai-sdk/anthropic`,
 * unchanged apart from `baseURL` and the key, against each provider wire format:
 * - `mock`      OpenAI chat completions (the built-in mock);
 * - `anthropic` Anthropic messages (a second mock's `/v1/messages`);
 * - `gemini`    Gemini generateContent (that mock's `/v1beta`).
 * Every model's catalog entry writes at most 4096 tokens, so a larger `max_tokens` is clamped.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createAnthropic } from "@ai-sdk/anthropic";
import Anthropic from "@anthropic-ai/sdk";
import { generateText, stepCountIs, tool } from "ai";
import OpenAI from "openai";
import { z } from "zod";
import { isEvent } from "../../src/events/index.js";
import { geminiBaseUrl, type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { readRequestHistory } from "../support/history.js";
import { requestEvidence } from "../support/request-evidence.js";
import { type TestCatalogFile, writeTestCatalog } from "../support/test-catalog.js";

const PROVIDER_KEY = "sk-e2e-agents-provider-key-0123456789";
const MAX_OUTPUT = 4096;
const MODELS = [
  { id: "mock-small", provider: "mock", upstreamModel: "mock-small", maxOutputTokens: MAX_OUTPUT },
  {
    id: "claude-haiku-4-5",
    provider: "anthropic",
    upstreamModel: "claude-haiku-4-5",
    maxOutputTokens: MAX_OUTPUT,
  },
  {
    id: "gemini-2.5-flash",
    provider: "gemini",
    upstreamModel: "gemini-2.5-flash",
    maxOutputTokens: MAX_OUTPUT,
  },
] as const;
/** Models whose provider fails every call: 429 rate limited, 529 overloaded (Anthropic's wire). */
const FAULT_MODELS = [
  { id: "claude-rate-limited", provider: "anthropic", upstreamModel: "mock-fault-429" },
  { id: "claude-overloaded", provider: "anthropic", upstreamModel: "mock-fault-529" },
] as const;

/** A tool whose schema asks for more than a string: the mock's arguments must satisfy it. */
const weatherTool: Anthropic.Tool = {
  name: "get_weather",
  description: "Current weather of a city",
  input_schema: {
    type: "object",
    properties: {
      city: { type: "string", minLength: 1 },
      unit: { type: "string", enum: ["celsius", "fahrenheit"] },
      days: { type: "integer", minimum: 1, maximum: 7 },
    },
    required: ["city", "unit", "days"],
    additionalProperties: false,
  },
};
const weatherInput = z.strictObject({
  city: z.string().min(1),
  unit: z.enum(["celsius", "fahrenheit"]),
  days: z.number().int().min(1).max(7),
});

describe("the Anthropic door for agent clients", { timeout: 120_000, concurrency: 6 }, () => {
  let beamline: TestBeamline;
  let wire: MockProvider;
  let catalog: TestCatalogFile;
  let anthropic: Anthropic;

  before(async () => {
    wire = await startMockProvider({ apiKey: PROVIDER_KEY, retryAfterSeconds: 0 });
    catalog = await writeTestCatalog("e2e-agents.1", [...MODELS, ...FAULT_MODELS]);
    beamline = await startTestBeamline({
      catalogFile: catalog.path,
      anthropic: { apiKey: PROVIDER_KEY, baseUrl: wire.url },
      gemini: { apiKey: PROVIDER_KEY, baseUrl: geminiBaseUrl(wire.url) },
    });
    anthropic = new Anthropic({ apiKey: beamline.devKey, baseURL: beamline.baseUrl, maxRetries: 0 });
  });
  after(async () => {
    await beamline?.stop();
    await wire?.close();
    await catalog?.remove();
  });

  for (const model of MODELS) {
    const on = `→ ${model.provider}`;

    it(`messages.countTokens counts the prompt as message_start reports it ${on}`, async () => {
      const body = {
        model: model.id,
        system: "You are terse.",
        messages: [{ role: "user" as const, content: "Count these tokens, please." }],
        tools: [weatherTool],
      };
      const counted = await anthropic.messages.countTokens(body);
      assert.ok(counted.input_tokens > 10, `counted ${counted.input_tokens}`);
      let started: number | undefined;
      await anthropic.messages
        .stream({ ...body, max_tokens: 64, tool_choice: { type: "none" } })
        .on("streamEvent", (event) => {
          if (event.type === "message_start") started = event.message.usage.input_tokens;
        })
        .finalMessage();
      assert.equal(started, counted.input_tokens, "message_start carries the counted input tokens");
    });

    it(`hoists a system-role entry of messages into the system prompt ${on}`, async () => {
      const withEntry = await anthropic.messages.create({
        model: model.id,
        max_tokens: 64,
        system: "You are terse.",
        messages: [
          { role: "system", content: "Answer in English." },
          { role: "user", content: "Hello with a system entry" },
        ],
      });
      assert.deepEqual(withEntry.content, [
        { type: "text", text: "Mock provider reply to: Hello with a system entry" },
      ]);
      // The mock reports the leading system prompt as cached: both parts of it reached the provider.
      const alone = await anthropic.messages.create({
        model: model.id,
        max_tokens: 64,
        system: "You are terse.",
        messages: [{ role: "user", content: "Hello with a system entry" }],
      });
      assert.ok(
        (withEntry.usage.cache_read_input_tokens ?? 0) > (alone.usage.cache_read_input_tokens ?? 0),
        "the hoisted entry joined the system prompt",
      );
    });

    it(`clamps max_tokens above the model's maximum and says so ${on}`, async () => {
      const { data, response } = await anthropic.messages
        .create({ model: model.id, max_tokens: 16_000, messages: [{ role: "user", content: "Clamp me" }] })
        .withResponse();
      assert.equal(response.headers.get("x-beamline-max-tokens-clamped"), String(MAX_OUTPUT));
      assert.equal(data.stop_reason, "end_turn");
      await requestEvidence(beamline.nc, "dev", data.id);
      const accepted = (await readRequestHistory(beamline.nc, "dev", data.id))
        .map(({ event }) => event)
        .find((event) => isEvent(event, "request.accepted"));
      assert.ok(accepted && isEvent(accepted, "request.accepted"));
      assert.equal(
        accepted.data.request?.max_tokens,
        MAX_OUTPUT,
        "the stored request holds the clamped value",
      );
    });

    it(`calls the tool tool_choice names, with arguments valid for its schema ${on}`, async () => {
      for (const stream of [false, true]) {
        const body = {
          model: model.id,
          max_tokens: 256,
          tools: [{ name: "other", input_schema: { type: "object" as const } }, weatherTool],
          tool_choice: { type: "tool" as const, name: "get_weather" },
          messages: [{ role: "user" as const, content: "Paris" }],
        };
        const message = stream
          ? await anthropic.messages.stream(body).finalMessage()
          : await anthropic.messages.create(body);
        assert.equal(message.stop_reason, "tool_use");
        const use = message.content.find(
          (block): block is Anthropic.ToolUseBlock => block.type === "tool_use",
        );
        assert.equal(use?.name, "get_weather");
        assert.deepEqual(weatherInput.parse(use?.input), { city: "Paris", unit: "celsius", days: 1 });
      }
    });

    it(`answers JSON valid for output_config's schema ${on}`, async () => {
      const schema = {
        type: "object",
        properties: { answer: { type: "string" }, confidence: { type: "number", minimum: 0, maximum: 1 } },
        required: ["answer", "confidence"],
        additionalProperties: false,
      };
      const message = await anthropic.messages.create({
        model: model.id,
        max_tokens: 256,
        messages: [{ role: "user", content: "Structured please" }],
        output_config: { format: { type: "json_schema", schema } },
      });
      const text = message.content.find((block): block is Anthropic.TextBlock => block.type === "text")?.text;
      const parsed = z
        .strictObject({ answer: z.string(), confidence: z.number().min(0).max(1) })
        .parse(JSON.parse(text ?? ""));
      assert.match(parsed.answer, /Structured please/);
    });

    it(`@ai-sdk/anthropic generateText runs a tool loop ${on}`, async () => {
      const provider = createAnthropic({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1` });
      const seen: unknown[] = [];
      const result = await generateText({
        model: provider(model.id),
        maxRetries: 0,
        prompt: "What is the weather in Oslo?",
        tools: {
          get_weather: tool({
            description: "Current weather of a city",
            inputSchema: weatherInput,
            execute: async (input) => {
              seen.push(input);
              return "Sunny";
            },
          }),
        },
        stopWhen: stepCountIs(3),
      });
      assert.equal(seen.length, 1, "the tool ran once, with input its schema accepted");
      assert.equal(result.steps.length, 2);
      assert.match(result.text, /^Mock provider received the tool result: /);
    });
  }

  it("passes extended thinking through to an Anthropic-wire provider and back, plain and streamed", async () => {
    const body = {
      model: "claude-haiku-4-5",
      max_tokens: 2048,
      thinking: { type: "enabled" as const, budget_tokens: 1024 },
      messages: [{ role: "user" as const, content: "Think first" }],
    };
    const plain = await anthropic.messages.create(body);
    const deltas: string[] = [];
    const streamed = await anthropic.messages
      .stream(body)
      .on("streamEvent", (event) => {
        if (event.type === "content_block_delta") deltas.push(event.delta.type);
      })
      .finalMessage();
    for (const message of [plain, streamed]) {
      assert.deepEqual(
        message.content.map((block) => block.type),
        ["thinking", "text"],
      );
      const thinking = message.content[0] as Anthropic.ThinkingBlock;
      assert.equal(thinking.thinking, "Mock thinking about: Think first");
      assert.match(thinking.signature, /^mock-sig-/);
    }
    assert.ok(deltas.includes("thinking_delta") && deltas.includes("signature_delta"));
    // The thinking goes back with the next turn and is accepted.
    const next = await anthropic.messages.create({
      ...body,
      messages: [
        ...body.messages,
        { role: "assistant", content: plain.content },
        { role: "user", content: "And now?" },
      ],
    });
    assert.equal(next.content.at(-1)?.type, "text");
  });

  it("gives Anthropic clients Anthropic's error types and statuses, with Beamline's code in a header", async () => {
    const stranger = new Anthropic({
      apiKey: "bl-not-a-key-0123456789",
      baseURL: beamline.baseUrl,
      maxRetries: 0,
    });
    const ask = { max_tokens: 16, messages: [{ role: "user" as const, content: "x" }] };
    await assert.rejects(stranger.messages.create({ model: "mock-small", ...ask }), (error) => {
      assert.ok(error instanceof Anthropic.AuthenticationError);
      assert.equal((error.error as { error: { type: string } }).error.type, "authentication_error");
      assert.equal(error.headers?.get("x-beamline-error-code"), "BL_INVALID_API_KEY");
      return true;
    });
    await assert.rejects(anthropic.messages.create({ model: "no-such-model", ...ask }), (error) => {
      assert.ok(error instanceof Anthropic.NotFoundError);
      assert.equal((error.error as { error: { type: string } }).error.type, "not_found_error");
      return true;
    });
    await assert.rejects(anthropic.messages.create({ model: "claude-rate-limited", ...ask }), (error) => {
      assert.ok(error instanceof Anthropic.RateLimitError);
      assert.equal((error.error as { error: { type: string } }).error.type, "rate_limit_error");
      assert.equal(error.headers?.get("x-beamline-error-code"), "BL_PROVIDER_RATE_LIMITED");
      return true;
    });
    await assert.rejects(anthropic.messages.create({ model: "claude-overloaded", ...ask }), (error) => {
      assert.ok(error instanceof Anthropic.InternalServerError);
      assert.equal(error.status, 529, "overloaded is 529, as Anthropic's API says it");
      assert.equal((error.error as { error: { type: string } }).error.type, "overloaded_error");
      return true;
    });
  });

  it("GET /v1/models/{id} answers in the OpenAI dialect, or Anthropic's for Anthropic clients", async () => {
    const openai = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    const model = await openai.models.retrieve("claude-haiku-4-5");
    assert.deepEqual(model, { id: "claude-haiku-4-5", object: "model", created: 0, owned_by: "anthropic" });
    await assert.rejects(openai.models.retrieve("no-such-model"), (error) => {
      assert.ok(error instanceof OpenAI.NotFoundError);
      assert.equal((error.error as { code?: string }).code, "BL_UNKNOWN_MODEL");
      return true;
    });
    const info = await anthropic.models.retrieve("claude-haiku-4-5");
    assert.equal(info.type, "model");
    assert.equal(info.id, "claude-haiku-4-5");
    assert.equal(typeof info.display_name, "string");
    assert.ok(!Number.isNaN(Date.parse(info.created_at)));
    assert.equal(info.max_tokens, MAX_OUTPUT);
    await assert.rejects(anthropic.models.retrieve("no-such-model"), (error) => {
      assert.ok(error instanceof Anthropic.NotFoundError);
      assert.equal((error.error as { error: { type: string } }).error.type, "not_found_error");
      return true;
    });
  });
});
