import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { AnthropicStreamEvent } from "../../../src/chat/anthropic.js";
import type { ChatCompletionChunk, ChatRequest } from "../../../src/chat/wire.js";
import {
  classifyAnthropicStatus,
  classifyAnthropicStreamError,
  createAnthropicStreamTranslator,
  DEFAULT_MAX_TOKENS,
  finishReasonFrom,
  parseAnthropicErrorBody,
  toAnthropicRequest,
  toChatCompletion,
  usageFrom,
} from "../../../src/providers/anthropic/index.js";
import { createChunkAssembler } from "../../../src/providers/chunk-assembler.js";
import { ProviderError } from "../../../src/providers/provider-error.js";

const call = {
  id: "toolu_1",
  type: "function" as const,
  function: { name: "lookup", arguments: '{"q":"x"}' },
};

describe("canonical request → Anthropic request", () => {
  it("hoists system and developer messages into system and defaults max_tokens", () => {
    const body = toAnthropicRequest(
      {
        model: "alias",
        messages: [
          { role: "system", content: "Be terse." },
          { role: "developer", content: [{ type: "text", text: "Answer in French." }] },
          { role: "user", content: "Hello" },
        ],
      },
      "claude-x",
      false,
    );
    assert.deepEqual(body, {
      model: "claude-x",
      max_tokens: DEFAULT_MAX_TOKENS,
      system: "Be terse.\n\nAnswer in French.",
      messages: [{ role: "user", content: "Hello" }],
    });
  });

  it("maps sampling, stop, user, max_completion_tokens and streaming", () => {
    const body = toAnthropicRequest(
      {
        model: "alias",
        messages: [{ role: "user", content: "Hi" }],
        max_tokens: 100,
        max_completion_tokens: 50,
        temperature: 1.5,
        top_p: 0.9,
        stop: "END",
        user: "u-1",
      },
      "claude-x",
      true,
    );
    assert.equal(body.max_tokens, 50, "max_completion_tokens wins over max_tokens");
    assert.equal(body.temperature, 1, "clamped to Anthropic's range");
    assert.equal(body.top_p, 0.9);
    assert.deepEqual(body.stop_sequences, ["END"]);
    assert.deepEqual(body.metadata, { user_id: "u-1" });
    assert.equal(body.stream, true);
  });

  it("turns assistant tool calls into tool_use blocks and merges tool results into one user turn", () => {
    const second = { ...call, id: "toolu_2" };
    const body = toAnthropicRequest(
      {
        model: "alias",
        messages: [
          { role: "user", content: "Look up x" },
          { role: "assistant", content: "Looking.", tool_calls: [call, second] },
          { role: "tool", tool_call_id: "toolu_1", content: "one" },
          { role: "tool", tool_call_id: "toolu_2", content: [{ type: "text", text: "two" }] },
          { role: "user", content: "Thanks" },
        ],
        tools: [
          {
            type: "function",
            function: { name: "lookup", description: "d", parameters: { type: "object" } },
          },
        ],
        tool_choice: "required",
        parallel_tool_calls: false,
      } as ChatRequest,
      "claude-x",
      false,
    );
    assert.deepEqual(body.messages, [
      { role: "user", content: "Look up x" },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Looking." },
          { type: "tool_use", id: "toolu_1", name: "lookup", input: { q: "x" } },
          { type: "tool_use", id: "toolu_2", name: "lookup", input: { q: "x" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_1", content: "one" },
          { type: "tool_result", tool_use_id: "toolu_2", content: "two" },
          { type: "text", text: "Thanks" },
        ],
      },
    ]);
    assert.deepEqual(body.tools, [{ name: "lookup", description: "d", input_schema: { type: "object" } }]);
    assert.deepEqual(body.tool_choice, { type: "any", disable_parallel_tool_use: true });
  });

  it("maps every tool_choice form", () => {
    const base: ChatRequest = {
      model: "a",
      messages: [{ role: "user", content: "x" }],
      tools: [{ type: "function", function: { name: "f" } }],
    };
    const choice = (toolChoice: unknown) =>
      toAnthropicRequest({ ...base, tool_choice: toolChoice }, "m", false).tool_choice;
    assert.deepEqual(choice("auto"), { type: "auto" });
    assert.deepEqual(choice("none"), { type: "none" });
    assert.deepEqual(choice({ type: "function", function: { name: "f" } }), { type: "tool", name: "f" });
    assert.equal(choice(undefined), undefined);
    assert.deepEqual(toAnthropicRequest(base, "m", false).tools?.[0]?.input_schema, {
      type: "object",
      properties: {},
    });
  });

  it("translates images: data URLs to base64 sources, others to url sources", () => {
    const body = toAnthropicRequest(
      {
        model: "a",
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "What is this?" },
              { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
              { type: "image_url", image_url: { url: "https://example.test/cat.png" } },
            ],
          },
        ],
      },
      "m",
      false,
    );
    assert.deepEqual(body.messages[0]?.content, [
      { type: "text", text: "What is this?" },
      { type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } },
      { type: "image", source: { type: "url", url: "https://example.test/cat.png" } },
    ]);
  });

  it("rejects what Anthropic cannot express as bad_request", () => {
    const bad = (request: ChatRequest) => () => toAnthropicRequest(request, "m", false);
    const isBadRequest = (error: unknown) =>
      error instanceof ProviderError && error.errorClass === "bad_request";
    assert.throws(
      bad({ model: "a", messages: [{ role: "system", content: "only a system prompt" }] }),
      isBadRequest,
    );
    assert.throws(
      bad({ model: "a", messages: [{ role: "user", content: [{ type: "input_audio", input_audio: {} }] }] }),
      isBadRequest,
    );
    assert.throws(
      bad({
        model: "a",
        messages: [
          { role: "assistant", tool_calls: [{ ...call, function: { name: "f", arguments: "[1]" } }] },
        ],
      }),
      isBadRequest,
    );
    assert.throws(bad({ model: "a", messages: [{ role: "tool", content: "x" }] }), isBadRequest);
  });
});

describe("Anthropic answer → canonical completion", () => {
  it("maps stop reasons to finish reasons", () => {
    assert.equal(finishReasonFrom("end_turn"), "stop");
    assert.equal(finishReasonFrom("stop_sequence"), "stop");
    assert.equal(finishReasonFrom("pause_turn"), "stop");
    assert.equal(finishReasonFrom("max_tokens"), "length");
    assert.equal(finishReasonFrom("tool_use"), "tool_calls");
    assert.equal(finishReasonFrom("refusal"), "content_filter");
    assert.equal(finishReasonFrom(null), null);
  });

  it("counts cache reads and writes as prompt tokens and cache reads as cached", () => {
    assert.deepEqual(
      usageFrom({
        input_tokens: 10,
        output_tokens: 5,
        cache_read_input_tokens: 100,
        cache_creation_input_tokens: 7,
      }),
      { promptTokens: 117, completionTokens: 5, cachedTokens: 100 },
    );
    assert.deepEqual(usageFrom({ input_tokens: 3, output_tokens: 1 }), {
      promptTokens: 3,
      completionTokens: 1,
      cachedTokens: 0,
    });
  });

  it("joins text blocks, turns tool_use into tool_calls and keeps thinking blocks", () => {
    const completion = toChatCompletion(
      {
        id: "msg_1",
        model: "claude-x",
        content: [
          { type: "thinking", thinking: "hmm", signature: "s" },
          { type: "text", text: "Let me " },
          { type: "text", text: "check." },
          { type: "tool_use", id: "toolu_1", name: "lookup", input: { q: "x" } },
        ],
        stop_reason: "tool_use",
        usage: { input_tokens: 5, output_tokens: 7, cache_read_input_tokens: 2 },
      },
      1_700_000_000,
    );
    assert.deepEqual(completion, {
      id: "msg_1",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "claude-x",
      choices: [
        {
          index: 0,
          message: {
            role: "assistant",
            content: "Let me check.",
            tool_calls: [call],
            thinking_blocks: [{ type: "thinking", thinking: "hmm", signature: "s" }],
          },
          finish_reason: "tool_calls",
        },
      ],
      usage: {
        prompt_tokens: 7,
        completion_tokens: 7,
        total_tokens: 14,
        prompt_tokens_details: { cached_tokens: 2 },
      },
    });
  });
});

type DataEvent = Exclude<AnthropicStreamEvent, { type: "error" }>;

function streamOf(
  text: string[],
  tool: { id: string; name: string; json: string[] } | undefined,
): DataEvent[] {
  const events: DataEvent[] = [
    {
      type: "message_start",
      message: {
        id: "msg_s",
        model: "claude-x",
        usage: { input_tokens: 9, output_tokens: 1, cache_read_input_tokens: 3 },
      },
    },
    { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
    { type: "ping" },
    ...text.map(
      (piece): DataEvent => ({
        type: "content_block_delta",
        index: 0,
        delta: { type: "text_delta", text: piece },
      }),
    ),
    { type: "content_block_stop", index: 0 },
  ];
  if (tool) {
    events.push({
      type: "content_block_start",
      index: 1,
      content_block: { type: "tool_use", id: tool.id, name: tool.name, input: {} },
    });
    for (const partial of tool.json) {
      events.push({
        type: "content_block_delta",
        index: 1,
        delta: { type: "input_json_delta", partial_json: partial },
      });
    }
    events.push({ type: "content_block_stop", index: 1 });
  }
  events.push(
    {
      type: "message_delta",
      delta: { stop_reason: tool ? "tool_use" : "end_turn" },
      usage: { output_tokens: 12 },
    },
    { type: "message_stop" },
  );
  return events;
}

describe("Anthropic stream → canonical chunks", () => {
  it("emits role, content, tool call, finish and usage chunks that assemble into the answer", () => {
    const translator = createAnthropicStreamTranslator(1_700_000_000);
    const chunks: ChatCompletionChunk[] = streamOf(["Hel", "lo"], {
      id: "toolu_9",
      name: "lookup",
      json: ['{"q":', '"x"}'],
    }).flatMap((event) => translator.push(event));
    assert.equal(translator.finished, true);
    assert.deepEqual(chunks[0]?.choices[0]?.delta, { role: "assistant", content: "" });
    assert.deepEqual(chunks.at(-1)?.usage, {
      prompt_tokens: 12,
      completion_tokens: 12,
      total_tokens: 24,
      prompt_tokens_details: { cached_tokens: 3 },
    });
    const assembler = createChunkAssembler();
    for (const chunk of chunks) assembler.add(chunk);
    const completion = assembler.completion();
    assert.equal(completion.id, "msg_s");
    assert.equal(completion.choices[0]?.message.content, "Hello");
    assert.deepEqual(completion.choices[0]?.message.tool_calls, [
      { id: "toolu_9", type: "function", function: { name: "lookup", arguments: '{"q":"x"}' } },
    ]);
    assert.equal(completion.choices[0]?.finish_reason, "tool_calls");
  });

  it("reassembles any split of the text into the same content (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 8 }), (pieces) => {
        const translator = createAnthropicStreamTranslator(0);
        const assembler = createChunkAssembler();
        for (const event of streamOf(pieces, undefined))
          for (const chunk of translator.push(event)) assembler.add(chunk);
        const joined = pieces.join("");
        assert.equal(assembler.completion().choices[0]?.message.content, joined.length > 0 ? joined : null);
      }),
    );
  });

  it("rejects events out of protocol order as malformed", () => {
    const isMalformed = (error: unknown) =>
      error instanceof ProviderError && error.errorClass === "malformed";
    assert.throws(
      () =>
        createAnthropicStreamTranslator(0).push({
          type: "content_block_start",
          index: 0,
          content_block: { type: "text", text: "" },
        }),
      isMalformed,
    );
    const translator = createAnthropicStreamTranslator(0);
    translator.push(streamOf([], undefined)[0]!);
    assert.throws(
      () =>
        translator.push({
          type: "content_block_delta",
          index: 4,
          delta: { type: "input_json_delta", partial_json: "{" },
        }),
      isMalformed,
    );
  });
});

describe("Anthropic error classification", () => {
  it("classifies statuses and bodies", () => {
    const body = (type: string, message: string) =>
      parseAnthropicErrorBody(JSON.stringify({ type: "error", error: { type, message } }));
    assert.equal(classifyAnthropicStatus(429, body("rate_limit_error", "slow down")), "rate_limited");
    assert.equal(classifyAnthropicStatus(529, body("overloaded_error", "Overloaded")), "overloaded");
    assert.equal(classifyAnthropicStatus(500, body("api_error", "boom")), "server_error");
    assert.equal(classifyAnthropicStatus(401, body("authentication_error", "bad key")), "auth");
    assert.equal(classifyAnthropicStatus(403, body("permission_error", "no")), "auth");
    assert.equal(
      classifyAnthropicStatus(
        400,
        body("invalid_request_error", "prompt is too long: 201000 tokens > 200000 maximum"),
      ),
      "context_window",
    );
    assert.equal(
      classifyAnthropicStatus(400, body("invalid_request_error", "max_tokens: Field required")),
      "bad_request",
    );
    assert.deepEqual(parseAnthropicErrorBody("<html>bad gateway</html>"), {
      type: undefined,
      message: "<html>bad gateway</html>",
    });
  });

  it("classifies error events sent inside a stream", () => {
    assert.equal(
      classifyAnthropicStreamError({ type: "overloaded_error", message: "Overloaded" }),
      "overloaded",
    );
    assert.equal(classifyAnthropicStreamError({ type: "rate_limit_error", message: "x" }), "rate_limited");
    assert.equal(classifyAnthropicStreamError({ type: "api_error", message: "x" }), "server_error");
    assert.equal(classifyAnthropicStreamError({ type: undefined, message: "x" }), "server_error");
  });
});
