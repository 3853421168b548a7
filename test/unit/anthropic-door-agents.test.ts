import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseCatalog } from "../../src/catalog/index.js";
import type { ChatCompletionChunk } from "../../src/chat/index.js";
import { isBeamlineError } from "../../src/errors/index.js";
import { parseMessagesRequest, toChatRequest } from "../../src/gateway/messages-request.js";
import { anthropicHttpStatus, toAnthropicMessage } from "../../src/gateway/messages-response.js";
import { createChunkToAnthropicTranslator } from "../../src/gateway/messages-stream.js";
import { candidateModels, maxOutputTokensOf } from "../../src/gateway/model-targets.js";
import type { PolicyView } from "../../src/policies/view.js";
import { createAnthropicStreamTranslator } from "../../src/providers/anthropic/stream.js";
import { createChunkAssembler } from "../../src/providers/chunk-assembler.js";
import { answerFor } from "../../src/providers/mock/answers.js";
import { valueForSchema } from "../../src/providers/mock/schema-value.js";
import { policyDocumentSchema } from "../../src/routing/policy/document.js";

const usage = { promptTokens: 20, completionTokens: 6, cachedTokens: 0 };

describe("Anthropic door: system-role entries of messages", () => {
  it("hoists them into system, in order, after the top-level system", () => {
    const chat = toChatRequest(
      parseMessagesRequest({
        model: "m",
        max_tokens: 8,
        system: "First.",
        messages: [
          { role: "system", content: "Second." },
          { role: "user", content: "Hi" },
          { role: "system", content: [{ type: "text", text: "Third." }] },
        ],
      }),
    );
    assert.deepEqual(chat.messages, [
      { role: "system", content: "First.\n\nSecond.\n\nThird." },
      { role: "user", content: "Hi" },
    ]);
  });

  it("keeps a top-level system of blocks and refuses a system entry that is not text", () => {
    const parsed = parseMessagesRequest({
      model: "m",
      max_tokens: 8,
      system: [{ type: "text", text: "Cached.", cache_control: { type: "ephemeral" } }],
      messages: [
        { role: "system", content: "More." },
        { role: "user", content: "Hi" },
      ],
    });
    assert.deepEqual(parsed.system, [
      { type: "text", text: "Cached.", cache_control: { type: "ephemeral" } },
      { type: "text", text: "More." },
    ]);
    assert.throws(
      () =>
        parseMessagesRequest({
          model: "m",
          max_tokens: 8,
          messages: [
            { role: "system", content: [{ type: "image", source: {} }] },
            { role: "user", content: "Hi" },
          ],
        }),
      (error) => isBeamlineError(error, "BL_BAD_REQUEST") && error.param === "messages.0.content.0",
    );
  });
});

describe("Anthropic door: the models a name may route to", () => {
  const catalog = parseCatalog({
    version: "t",
    models: [
      {
        id: "small",
        provider: "mock",
        upstreamModel: "s",
        prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 },
        maxOutputTokens: 1000,
        aliases: ["tiny"],
      },
      {
        id: "big",
        provider: "mock",
        upstreamModel: "b",
        prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 },
        maxOutputTokens: 8000,
      },
      {
        id: "open",
        provider: "mock",
        upstreamModel: "o",
        prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 },
      },
    ],
  });
  const policies: PolicyView = {
    policyFor: (tenant) => ({
      tenant,
      version: 1,
      document: policyDocumentSchema.parse({
        routing: { aliases: { pair: { models: ["tiny", "big"] }, any: { strategy: { type: "quality" } } } },
      }),
    }),
    ready: Promise.resolve(),
    stop: () => undefined,
  };
  const views = { catalog: () => catalog, policies };

  it("clamps to the largest limit of the alias's models, and not at all when one is unbounded", () => {
    assert.deepEqual(
      candidateModels(views, "t", "pair").map((model) => model.id),
      ["small", "big"],
    );
    assert.equal(maxOutputTokensOf(candidateModels(views, "t", "pair")), 8000);
    assert.equal(maxOutputTokensOf(candidateModels(views, "t", "tiny")), 1000);
    assert.equal(maxOutputTokensOf(candidateModels(views, "t", "any")), undefined, "`open` states no limit");
    assert.equal(maxOutputTokensOf(candidateModels(views, "t", "auto")), undefined);
    assert.deepEqual(candidateModels({ catalog: () => catalog, policies: undefined }, "t", "nope"), []);
  });
});

describe("Anthropic door: errors and thinking", () => {
  it("answers 529 where Beamline says 503, and every other status unchanged", () => {
    assert.equal(anthropicHttpStatus(503), 529);
    for (const status of [400, 401, 403, 404, 413, 429, 500, 502, 504])
      assert.equal(anthropicHttpStatus(status), status);
  });

  it("round-trips thinking: provider stream → canonical chunks → assembled → Anthropic answer and stream", () => {
    const provider = createAnthropicStreamTranslator(1);
    const assembler = createChunkAssembler();
    const door = createChunkToAnthropicTranslator("req_1", 42);
    const doorEvents: Array<{ type: string; [field: string]: unknown }> = [];
    const events = [
      {
        type: "message_start",
        message: { id: "msg", model: "claude", usage: { input_tokens: 5, output_tokens: 1 } },
      },
      {
        type: "content_block_start",
        index: 0,
        content_block: { type: "thinking", thinking: "", signature: "" },
      },
      { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Let me " } },
      { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "think." } },
      { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "sig" } },
      { type: "content_block_stop", index: 0 },
      { type: "content_block_start", index: 1, content_block: { type: "text", text: "" } },
      { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "Done." } },
      { type: "content_block_stop", index: 1 },
      { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 9 } },
      { type: "message_stop" },
    ] as const;
    for (const event of events) {
      for (const chunk of provider.push(event as Parameters<typeof provider.push>[0])) {
        assembler.add(chunk as ChatCompletionChunk);
        doorEvents.push(...door.push(chunk as ChatCompletionChunk));
      }
    }
    const completion = assembler.completion();
    assert.deepEqual(completion.choices[0]?.message["thinking_blocks"], [
      { type: "thinking", thinking: "Let me think.", signature: "sig" },
    ]);
    assert.deepEqual(toAnthropicMessage(completion, usage).content, [
      { type: "thinking", thinking: "Let me think.", signature: "sig" },
      { type: "text", text: "Done." },
    ]);
    assert.equal((doorEvents[0]!["message"] as { usage: { input_tokens: number } }).usage.input_tokens, 42);
    assert.deepEqual(
      doorEvents.filter((event) => event.type === "content_block_delta").map((event) => event["delta"]),
      [
        { type: "thinking_delta", thinking: "Let me " },
        { type: "thinking_delta", thinking: "think." },
        { type: "signature_delta", signature: "sig" },
        { type: "text_delta", text: "Done." },
      ],
    );
  });

  it("hands thinking blocks of earlier turns and the thinking parameter to the canonical request", () => {
    const chat = toChatRequest(
      parseMessagesRequest({
        model: "m",
        max_tokens: 2048,
        thinking: { type: "enabled", budget_tokens: 1024 },
        messages: [
          { role: "user", content: "Q" },
          {
            role: "assistant",
            content: [
              { type: "thinking", thinking: "hm", signature: "s" },
              { type: "text", text: "A" },
            ],
          },
          { role: "user", content: "Q2" },
        ],
      }),
    );
    assert.deepEqual(chat["thinking"], { type: "enabled", budget_tokens: 1024 });
    assert.deepEqual(chat.messages[1], {
      role: "assistant",
      content: "A",
      thinking_blocks: [{ type: "thinking", thinking: "hm", signature: "s" }],
    });
  });
});

describe("mock provider: tools and JSON mode", () => {
  const user = [{ role: "user", content: "Use lookup please" }];
  const tools = [
    { type: "function", function: { name: "first", parameters: { type: "object" } } },
    {
      type: "function",
      function: {
        name: "lookup",
        parameters: {
          type: "object",
          properties: { q: { type: "string", maxLength: 5 }, n: { type: "integer", minimum: 3 } },
        },
      },
    },
  ];

  it("calls the tool tool_choice names, else the one the prompt names; none calls nothing", () => {
    const named = answerFor({
      model: "m",
      messages: user,
      tools,
      tool_choice: { type: "function", function: { name: "first" } },
    });
    assert.equal(named.toolCall?.name, "first");
    const prompted = answerFor({ model: "m", messages: user, tools });
    assert.deepEqual(prompted.toolCall && JSON.parse(prompted.toolCall.arguments), { q: "Use l", n: 3 });
    assert.equal(answerFor({ model: "m", messages: user, tools, tool_choice: "none" }).toolCall, undefined);
    const afterResult = [...user, { role: "tool", content: "42" }];
    assert.equal(
      answerFor({ model: "m", messages: afterResult, tools }).toolCall,
      undefined,
      "auto answers a tool result",
    );
    assert.equal(
      answerFor({ model: "m", messages: afterResult, tools, tool_choice: "required" }).toolCall?.name,
      "first",
    );
  });

  it("answers JSON under response_format: json_object and json_schema", () => {
    const object = answerFor({ model: "m", messages: user, response_format: { type: "json_object" } });
    assert.deepEqual(JSON.parse(object.content!), { reply: "Mock provider reply to: Use lookup please" });
    const schema = {
      type: "object",
      properties: { tags: { type: "array", items: { enum: ["a", "b"] }, minItems: 2 } },
    };
    const shaped = answerFor({
      model: "m",
      messages: user,
      response_format: { type: "json_schema", json_schema: { schema } },
    });
    assert.deepEqual(JSON.parse(shaped.content!), { tags: ["a", "a"] });
  });

  it("builds values that satisfy the schema's bounds, whatever the seed", () => {
    const schema = {
      $defs: { id: { type: "string", minLength: 3, maxLength: 6 } },
      type: "object",
      properties: {
        id: { $ref: "#/$defs/id" },
        when: { type: "string", format: "date-time" },
        score: { type: "number", exclusiveMinimum: 0, maximum: 10 },
        kind: { const: "fixed" },
        maybe: { anyOf: [{ type: "null" }, { type: "boolean" }] },
      },
    };
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (seed) => {
        const value = valueForSchema(schema, seed) as Record<string, unknown>;
        const id = value["id"] as string;
        assert.ok(id.length >= 3 && id.length <= 6, `id ${JSON.stringify(id)}`);
        assert.ok(!Number.isNaN(Date.parse(value["when"] as string)));
        assert.ok((value["score"] as number) > 0 && (value["score"] as number) <= 10);
        assert.equal(value["kind"], "fixed");
        assert.equal(value["maybe"], true);
      }),
    );
  });
});
