import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { readRequestHistory } from "../support/history.js";

const CHUNK_DELAY_MS = 20;
const PROVIDER_KEY = "sk-ant-e2e-provider-key-0123456789";
const tools: Anthropic.Tool[] = [
  {
    name: "get_weather",
    description: "Current weather of a city",
    input_schema: { type: "object", properties: { city: { type: "string" } } },
  },
];

describe("the Anthropic front door, through the official Anthropic SDK", { timeout: 60_000 }, () => {
  let beamline: TestBeamline;
  let anthropicWire: MockProvider;
  let client: Anthropic;
  let catalogDir: string | undefined;

  before(async () => {
    // A second mock, reached over Anthropic's wire by the `anthropic` provider.
    anthropicWire = await startMockProvider({ apiKey: PROVIDER_KEY, chunkDelayMs: CHUNK_DELAY_MS });
    // The shipped catalog plus a Claude model whose provider cuts every stream mid-way.
    catalogDir = await mkdtemp(join(tmpdir(), "beamline-catalog-"));
    const catalog = JSON.parse(
      await readFile(new URL("../../config/catalog.json", import.meta.url), "utf8"),
    ) as {
      models: unknown[];
    };
    catalog.models.push({
      id: "claude-cut",
      provider: "anthropic",
      upstreamModel: "mock-fault-cut",
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 5, cachedInputPerMTokUsd: 0.1 },
      contextWindow: 200000,
    });
    const catalogFile = join(catalogDir, "catalog.json");
    await writeFile(catalogFile, JSON.stringify(catalog));
    beamline = await startTestBeamline({
      catalogFile,
      mock: { chunkDelayMs: CHUNK_DELAY_MS },
      anthropic: { apiKey: PROVIDER_KEY, baseUrl: anthropicWire.url },
    });
    client = new Anthropic({ apiKey: beamline.devKey, baseURL: beamline.baseUrl, maxRetries: 0 });
  });
  after(async () => {
    await beamline?.stop();
    await anthropicWire?.close();
    if (catalogDir) await rm(catalogDir, { recursive: true, force: true });
  });

  it("answers a plain message with the system prompt, usage and the request id", async () => {
    const { data: message, response } = await client.messages
      .create({
        model: "mock-small",
        max_tokens: 256,
        system: "You are terse.",
        messages: [{ role: "user", content: "Hello from the Anthropic SDK" }],
      })
      .withResponse();
    assert.equal(response.status, 200);
    assert.match(message.id, /^req_[0-9A-Z]{26}$/);
    assert.equal(response.headers.get("request-id"), message.id);
    assert.equal(message.type, "message");
    assert.equal(message.role, "assistant");
    assert.equal(message.model, "mock-small");
    assert.deepEqual(message.content, [
      { type: "text", text: "Mock provider reply to: Hello from the Anthropic SDK" },
    ]);
    assert.equal(message.stop_reason, "end_turn");
    // The mock counts with the shared token counter (approximation for a non-OpenAI model, framing included).
    assert.equal(message.usage.cache_read_input_tokens, 12, "the system prompt is the mock's cached prefix");
    assert.ok(message.usage.input_tokens > 0 && message.usage.output_tokens > 0);

    const history = await readRequestHistory(beamline.nc, "dev", message.id);
    const accepted = history.find(({ event }) => event.type === "request.accepted")!.event;
    assert.equal((accepted.data as { frontDoor: string }).frontDoor, "anthropic");
  });

  it("streams Anthropic events live and the SDK assembles the final message", async () => {
    const stream = client.messages.stream({
      model: "mock-small",
      max_tokens: 256,
      messages: [{ role: "user", content: "Stream to the Anthropic SDK" }],
    });
    const types: string[] = [];
    const texts: string[] = [];
    stream.on("streamEvent", (event) => types.push(event.type));
    stream.on("text", (text) => texts.push(text));
    const message = await stream.finalMessage();
    assert.equal(types[0], "message_start");
    assert.equal(types.at(-1), "message_stop");
    assert.ok(types.includes("content_block_start") && types.includes("content_block_stop"));
    assert.ok(texts.length >= 2, "text arrived in several deltas");
    assert.equal(texts.join(""), "Mock provider reply to: Stream to the Anthropic SDK");
    assert.equal(message.stop_reason, "end_turn");
    assert.ok(message.usage.output_tokens > 0);
  });

  for (const stream of [false, true]) {
    it(`runs a tool-use round trip (${stream ? "streaming" : "plain"}) to an OpenAI-wire provider`, async () => {
      const ask: Anthropic.MessageParam = { role: "user", content: "Weather in Paris?" };
      const first = stream
        ? await client.messages
            .stream({ model: "mock-small", max_tokens: 256, tools, messages: [ask] })
            .finalMessage()
        : await client.messages.create({ model: "mock-small", max_tokens: 256, tools, messages: [ask] });
      assert.equal(first.stop_reason, "tool_use");
      const use = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === "tool_use");
      assert.ok(use, "the answer holds a tool_use block");
      assert.equal(use.name, "get_weather");
      assert.deepEqual(use.input, { city: "Weather in Paris?" });

      const second = await client.messages.create({
        model: "mock-small",
        max_tokens: 256,
        tools,
        messages: [
          ask,
          { role: "assistant", content: first.content },
          { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "Sunny, 21 °C" }] },
        ],
      });
      assert.deepEqual(second.content, [
        { type: "text", text: "Mock provider received the tool result: Sunny, 21 °C" },
      ]);
    });
  }

  it("reaches an Anthropic-wire provider through /v1/messages, plain and streaming", async () => {
    const message = await client.messages.create({
      model: "claude-haiku-4-5",
      max_tokens: 256,
      system: "Be brief.",
      messages: [{ role: "user", content: "Anthropic both ways" }],
    });
    assert.deepEqual(message.content, [
      { type: "text", text: "Mock provider reply to: Anthropic both ways" },
    ]);
    assert.equal(message.usage.cache_read_input_tokens, 11, "the system message, as the mock counts it");
    const texts: string[] = [];
    const streamed = await client.messages
      .stream({ model: "claude-haiku-4-5", max_tokens: 256, messages: [{ role: "user", content: "again" }] })
      .on("text", (text) => texts.push(text))
      .finalMessage();
    assert.equal(texts.join(""), "Mock provider reply to: again");
    assert.equal(streamed.stop_reason, "end_turn");
  });

  it("accepts the key as a bearer token too, and answers errors in Anthropic's shape with the BL code", async () => {
    const bearer = new Anthropic({
      authToken: beamline.devKey,
      apiKey: null,
      baseURL: beamline.baseUrl,
      maxRetries: 0,
    });
    const message = await bearer.messages.create({
      model: "mock-small",
      max_tokens: 16,
      messages: [{ role: "user", content: "bearer" }],
    });
    assert.equal(message.type, "message");

    const stranger = new Anthropic({
      apiKey: "bl-not-a-key-of-ours",
      baseURL: beamline.baseUrl,
      maxRetries: 0,
    });
    await assert.rejects(
      stranger.messages.create({
        model: "mock-small",
        max_tokens: 16,
        messages: [{ role: "user", content: "x" }],
      }),
      (error) =>
        error instanceof Anthropic.AuthenticationError &&
        (error.error as { type: string; error: { type: string; code: string } }).error.type ===
          "authentication_error" &&
        (error.error as { error: { code: string } }).error.code === "BL_INVALID_API_KEY",
    );
    await assert.rejects(
      client.messages.create({
        model: "claude-9",
        max_tokens: 16,
        messages: [{ role: "user", content: "x" }],
      }),
      (error) =>
        error instanceof Anthropic.NotFoundError &&
        (error.error as { error: { type: string; code: string } }).error.code === "BL_UNKNOWN_MODEL",
    );
    const response = await fetch(`${beamline.baseUrl}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": beamline.devKey, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "no max_tokens" }] }),
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as {
      type: string;
      error: { type: string; code: string; message: string };
    };
    assert.equal(body.type, "error");
    assert.equal(body.error.type, "invalid_request_error");
    assert.equal(body.error.code, "BL_BAD_REQUEST");
    assert.match(body.error.message, /max_tokens/);

    // Errors raised before the handler (authentication, body parsing) have the same shape.
    const anonymous = await fetch(`${beamline.baseUrl}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(anonymous.status, 401);
    assert.deepEqual(
      ((await anonymous.json()) as { error: { type: string; code: string } }).error.code,
      "BL_MISSING_API_KEY",
    );
    const broken = await fetch(`${beamline.baseUrl}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": beamline.devKey, "content-type": "application/json" },
      body: "{not json",
    });
    assert.equal(broken.status, 400);
    const brokenBody = (await broken.json()) as { type: string; error: { type: string; code: string } };
    assert.equal(brokenBody.type, "error");
    assert.deepEqual(brokenBody.error.type, "invalid_request_error");
    assert.equal(brokenBody.error.code, "BL_MALFORMED_JSON");
  });

  it("ends a stream the provider cut mid-way with an error event, never a clean message_stop", async () => {
    const types: string[] = [];
    const cut = client.messages.stream({
      model: "claude-cut",
      max_tokens: 256,
      messages: [{ role: "user", content: "cut me" }],
    });
    cut.on("streamEvent", (event) => types.push(event.type));
    await assert.rejects(
      cut.finalMessage(),
      (error) =>
        error instanceof Anthropic.APIError &&
        (error.error as { error?: { code?: string } } | undefined)?.error?.code === "BL_STREAM_INTERRUPTED",
    );
    assert.equal(types[0], "message_start", "part of the answer was streamed before the cut");
    assert.ok(!types.includes("message_stop"));
  });
});

describe("the OpenAI front door reaching an Anthropic-wire provider", { timeout: 60_000 }, () => {
  let beamline: TestBeamline;
  let anthropicWire: MockProvider;
  let client: OpenAI;

  before(async () => {
    anthropicWire = await startMockProvider({ apiKey: PROVIDER_KEY });
    beamline = await startTestBeamline({ anthropic: { apiKey: PROVIDER_KEY, baseUrl: anthropicWire.url } });
    client = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await beamline?.stop();
    await anthropicWire?.close();
  });

  it("lists the Claude models once the anthropic provider is configured", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.ok(ids.includes("claude-sonnet-4-5") && ids.includes("claude-haiku-4-5"), ids.join(", "));
  });

  it("answers a plain chat completion with usage and cached tokens", async () => {
    const completion = await client.chat.completions.create({
      model: "claude-sonnet-4-5",
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: "OpenAI in, Anthropic out" },
      ],
    });
    assert.equal(completion.choices[0]?.message.content, "Mock provider reply to: OpenAI in, Anthropic out");
    assert.equal(completion.choices[0]?.finish_reason, "stop");
    // The mock counts with the shared token counter's approximation (a Claude model), framing included.
    assert.equal(completion.usage?.prompt_tokens_details?.cached_tokens, 12);
    assert.equal(completion.usage?.prompt_tokens, 32);
  });

  it("streams chunks and a tool call translated from Anthropic's events", async () => {
    const stream = await client.chat.completions.create({
      model: "claude-sonnet-4-5",
      messages: [{ role: "user", content: "Weather in Oslo?" }],
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let name = "";
    let args = "";
    let finish: string | null | undefined;
    let usageSeen = false;
    for await (const chunk of stream) {
      const call = chunk.choices[0]?.delta.tool_calls?.[0];
      name += call?.function?.name ?? "";
      args += call?.function?.arguments ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usageSeen = true;
    }
    assert.equal(name, "get_weather");
    assert.deepEqual(JSON.parse(args), { input: "Weather in Oslo?" });
    assert.equal(finish, "tool_calls");
    assert.ok(usageSeen);
  });
});
