import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ChatCompletion, ChatCompletionChunk } from "../../src/chat/wire.js";
import { isBeamlineError } from "../../src/errors/index.js";
import { parseMessagesRequest, toChatRequest } from "../../src/gateway/messages-request.js";
import {
  anthropicErrorBody,
  anthropicErrorType,
  stopReasonFrom,
  toAnthropicMessage,
} from "../../src/gateway/messages-response.js";
import { chunksOfCompletion, createChunkToAnthropicTranslator } from "../../src/gateway/messages-stream.js";
import { toAnthropicRequest } from "../../src/providers/anthropic/request.js";
import { createAnthropicStreamTranslator } from "../../src/providers/anthropic/stream.js";
import { createChunkAssembler } from "../../src/providers/chunk-assembler.js";

const usage = { promptTokens: 20, completionTokens: 6, cachedTokens: 8 };

describe("Anthropic request → canonical request", () => {
  it("validates the body and names the parameter at fault", () => {
    assert.throws(
      () => parseMessagesRequest({ model: "m", messages: [{ role: "user", content: "x" }] }),
      (error) => isBeamlineError(error, "BL_BAD_REQUEST") && error.param === "max_tokens",
    );
    assert.throws(
      () => parseMessagesRequest({ model: "m", max_tokens: 5, messages: [{ role: "tool", content: "x" }] }),
      (error) => isBeamlineError(error, "BL_BAD_REQUEST") && error.param === "messages.0.role",
    );
    assert.throws(
      () => parseMessagesRequest([]),
      (error) => isBeamlineError(error, "BL_BAD_REQUEST"),
    );
  });

  it("translates system, tools, tool_choice, tool use and tool results", () => {
    const chat = toChatRequest(
      parseMessagesRequest({
        model: "claude",
        max_tokens: 100,
        system: [{ type: "text", text: "Be terse." }],
        stop_sequences: ["END"],
        temperature: 0.5,
        top_p: 0.8,
        stream: true,
        metadata: { user_id: "u-7" },
        tools: [{ name: "lookup", description: "d", input_schema: { type: "object" } }],
        tool_choice: { type: "any", disable_parallel_tool_use: true },
        messages: [
          { role: "user", content: "Find x" },
          {
            role: "assistant",
            content: [
              { type: "text", text: "Looking." },
              { type: "tool_use", id: "toolu_1", name: "lookup", input: { q: "x" } },
            ],
          },
          {
            role: "user",
            content: [
              { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "found" }] },
              { type: "text", text: "Thanks" },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(chat, {
      model: "claude",
      max_tokens: 100,
      stream: true,
      temperature: 0.5,
      top_p: 0.8,
      stop: ["END"],
      user: "u-7",
      tools: [
        { type: "function", function: { name: "lookup", description: "d", parameters: { type: "object" } } },
      ],
      tool_choice: "required",
      parallel_tool_calls: false,
      messages: [
        { role: "system", content: "Be terse." },
        { role: "user", content: "Find x" },
        {
          role: "assistant",
          content: "Looking.",
          tool_calls: [
            { id: "toolu_1", type: "function", function: { name: "lookup", arguments: '{"q":"x"}' } },
          ],
        },
        { role: "tool", tool_call_id: "toolu_1", content: "found" },
        { role: "user", content: "Thanks" },
      ],
    });
  });

  it("keeps images and flags tool errors", () => {
    const chat = toChatRequest(
      parseMessagesRequest({
        model: "m",
        max_tokens: 5,
        messages: [
          {
            role: "user",
            content: [
              { type: "tool_result", tool_use_id: "t", content: "boom", is_error: true },
              { type: "text", text: "see" },
              { type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(chat.messages, [
      { role: "tool", tool_call_id: "t", content: "Error: boom" },
      {
        role: "user",
        content: [
          { type: "text", text: "see" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
        ],
      },
    ]);
  });

  it("round-trips through the provider-side translation to the same Anthropic request", () => {
    const original = {
      model: "claude-x",
      max_tokens: 64,
      system: "Be terse.",
      stop_sequences: ["END"],
      temperature: 0.3,
      tools: [{ name: "lookup", input_schema: { type: "object" } }],
      tool_choice: { type: "tool" as const, name: "lookup" },
      messages: [
        { role: "user" as const, content: "Find x" },
        {
          role: "assistant" as const,
          content: [{ type: "tool_use" as const, id: "toolu_1", name: "lookup", input: { q: "x" } }],
        },
        {
          role: "user" as const,
          content: [{ type: "tool_result" as const, tool_use_id: "toolu_1", content: "found" }],
        },
      ],
    };
    const back = toAnthropicRequest(toChatRequest(parseMessagesRequest(original)), "claude-x", false);
    assert.deepEqual(back, original);
  });
});

const completion: ChatCompletion = {
  id: "req_1",
  object: "chat.completion",
  created: 1,
  model: "mock-small",
  choices: [
    {
      index: 0,
      message: {
        role: "assistant",
        content: "Checking.",
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":"x"}' } },
        ],
      },
      finish_reason: "tool_calls",
    },
  ],
};

describe("canonical answer → Anthropic answer", () => {
  it("builds a message with text and tool_use blocks and Anthropic's usage split", () => {
    assert.deepEqual(toAnthropicMessage(completion, usage), {
      id: "req_1",
      type: "message",
      role: "assistant",
      model: "mock-small",
      content: [
        { type: "text", text: "Checking." },
        { type: "tool_use", id: "call_1", name: "lookup", input: { q: "x" } },
      ],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: {
        input_tokens: 12,
        output_tokens: 6,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 8,
      },
    });
  });

  it("maps finish reasons and error statuses", () => {
    assert.equal(stopReasonFrom("stop"), "end_turn");
    assert.equal(stopReasonFrom("length"), "max_tokens");
    assert.equal(stopReasonFrom("content_filter"), "refusal");
    assert.equal(anthropicErrorType(401), "authentication_error");
    assert.equal(anthropicErrorType(429), "rate_limit_error");
    assert.equal(anthropicErrorType(502), "api_error");
    assert.equal(anthropicErrorType(503), "overloaded_error");
    assert.deepEqual(
      anthropicErrorBody({ code: "BL_UNKNOWN_MODEL", message: "no", httpStatus: 404 }, "req_9"),
      {
        type: "error",
        error: { type: "not_found_error", message: "no", code: "BL_UNKNOWN_MODEL" },
        request_id: "req_9",
      },
    );
  });
});

function chunk(
  delta: ChatCompletionChunk["choices"][number]["delta"],
  finish: string | null = null,
): ChatCompletionChunk {
  return {
    id: "c",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

describe("canonical chunks → Anthropic stream events", () => {
  it("opens and closes blocks in order: text, then each tool call", () => {
    const translator = createChunkToAnthropicTranslator("req_1");
    const events = [
      chunk({ role: "assistant", content: "" }),
      chunk({ content: "Hi" }),
      chunk({
        tool_calls: [{ index: 0, id: "a", type: "function", function: { name: "f", arguments: "" } }],
      }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"x":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: "1}" } }] }),
      chunk({
        tool_calls: [{ index: 1, id: "b", type: "function", function: { name: "g", arguments: "{}" } }],
      }),
      chunk({}, "tool_calls"),
    ].flatMap((value) => translator.push(value));
    events.push(...translator.finish(usage));
    assert.deepEqual(
      events.map((event) => event.type + (event["index"] === undefined ? "" : `:${event["index"]}`)),
      [
        "message_start",
        "content_block_start:0",
        "content_block_delta:0",
        "content_block_stop:0",
        "content_block_start:1",
        "content_block_delta:1",
        "content_block_delta:1",
        "content_block_stop:1",
        "content_block_start:2",
        "content_block_delta:2",
        "content_block_stop:2",
        "message_delta",
        "message_stop",
      ],
    );
    assert.deepEqual(events.at(-2)?.["delta"], { stop_reason: "tool_use", stop_sequence: null });
  });

  it("is read back by the provider-side translator into the same completion (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1 }), { maxLength: 6 }),
        fc.boolean(),
        (pieces, withTool) => {
          const source: ChatCompletion = {
            ...completion,
            choices: [
              {
                index: 0,
                message: {
                  role: "assistant",
                  content: pieces.length > 0 ? pieces.join("") : null,
                  ...(withTool ? { tool_calls: completion.choices[0]!.message.tool_calls! } : {}),
                },
                finish_reason: withTool ? "tool_calls" : "stop",
              },
            ],
          };
          const outbound = createChunkToAnthropicTranslator("req_1");
          const events = chunksOfCompletion(source).flatMap((value) => outbound.push(value));
          events.push(...outbound.finish(usage));
          const inbound = createAnthropicStreamTranslator(1);
          const assembler = createChunkAssembler();
          for (const event of events) {
            // biome-ignore lint/suspicious/noExplicitAny: events are checked by the translator's own contract
            for (const value of inbound.push(event as any)) assembler.add(value);
          }
          const back = assembler.completion();
          assert.equal(back.choices[0]?.message.content, source.choices[0]?.message.content);
          assert.deepEqual(back.choices[0]?.message.tool_calls, source.choices[0]?.message.tool_calls);
          assert.equal(back.choices[0]?.finish_reason, source.choices[0]?.finish_reason);
          assert.deepEqual(inbound.usage(), usage);
        },
      ),
    );
  });
});
