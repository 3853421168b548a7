import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ChatCompletion,
  type ChatCompletionChunk,
  createChunkToResponsesTranslator,
  inProgressResponse,
  outputItemsOf,
  parseResponsesRequest,
  requestIdOfItem,
  requestIdOfResponse,
  responseIdOf,
  responsesEchoOf,
  toChatFromResponses,
  toResponsesResponse,
} from "../../../src/chat/index.js";
import { isBeamlineError } from "../../../src/errors/index.js";

const REQUEST_ID = "req_01JRESPONSESUNIT000000000";

function chunk(
  delta: ChatCompletionChunk["choices"][number]["delta"],
  finish: string | null = null,
): ChatCompletionChunk {
  return {
    id: REQUEST_ID,
    object: "chat.completion.chunk",
    created: 1,
    model: "mock-small",
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

function completion(message: ChatCompletion["choices"][number]["message"], finish: string): ChatCompletion {
  return {
    id: REQUEST_ID,
    object: "chat.completion",
    created: 1,
    model: "mock-small",
    choices: [{ index: 0, message, finish_reason: finish }],
  };
}

describe("Responses API ids", () => {
  it("derive every id from the request id and read it back", () => {
    assert.equal(requestIdOfResponse(responseIdOf(REQUEST_ID)), REQUEST_ID);
    const items = outputItemsOf(
      completion(
        {
          role: "assistant",
          content: "hi",
          tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }],
        },
        "tool_calls",
      ),
      REQUEST_ID,
    );
    assert.deepEqual(
      items.map((item) => requestIdOfItem(item.id)),
      [REQUEST_ID, REQUEST_ID],
    );
    assert.equal(requestIdOfResponse("chatcmpl-123"), undefined);
    assert.equal(requestIdOfItem("rs_123"), undefined);
  });
});

describe("Responses request → canonical chat request", () => {
  it("translates items, instructions and parameters", () => {
    const request = parseResponsesRequest({
      model: "mock-small",
      instructions: "Be brief.",
      input: [
        { role: "user", content: [{ type: "input_text", text: "Weather?" }] },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "Checking." }] },
        { type: "function_call", call_id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' },
        { type: "function_call_output", call_id: "call_1", output: "Sunny" },
        { type: "reasoning", id: "rs_1", summary: [] },
      ],
      tools: [{ type: "function", name: "get_weather", parameters: { type: "object" }, strict: true }],
      tool_choice: { type: "function", name: "get_weather" },
      max_output_tokens: 50,
      text: { format: { type: "json_schema", name: "w", schema: { type: "object" } } },
      metadata: { a: "b" },
      store: false,
    });
    const { chat, instructionMessages } = toChatFromResponses(request);
    assert.equal(instructionMessages, 1);
    assert.deepEqual(chat.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Weather?" },
      {
        role: "assistant",
        content: "Checking.",
        tool_calls: [
          {
            id: "call_1",
            type: "function",
            function: { name: "get_weather", arguments: '{"city":"Paris"}' },
          },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: "Sunny" },
    ]);
    assert.equal(chat.max_tokens, 50);
    assert.deepEqual(chat.tools, [
      { type: "function", function: { name: "get_weather", parameters: { type: "object" }, strict: true } },
    ]);
    assert.deepEqual(chat.tool_choice, { type: "function", function: { name: "get_weather" } });
    assert.deepEqual(chat.response_format, {
      type: "json_schema",
      json_schema: { name: "w", schema: { type: "object" } },
    });
    // metadata and store stay with the gateway: a provider never sees them.
    assert.equal((chat as Record<string, unknown>)["metadata"], undefined);
    assert.equal((chat as Record<string, unknown>)["store"], undefined);
  });

  it("puts the earlier exchange between the instructions and the new input", () => {
    const request = parseResponsesRequest({ model: "m", instructions: "New rules.", input: "And now?" });
    const { chat } = toChatFromResponses(request, {
      previous: [
        { role: "user", content: "Before" },
        { role: "assistant", content: "Answer" },
      ],
    });
    assert.deepEqual(
      chat.messages.map((message) => message.content),
      ["New rules.", "Before", "Answer", "And now?"],
    );
  });

  it("resolves item_reference from the items handed in, and 404s an unknown one", () => {
    const request = parseResponsesRequest({
      model: "m",
      input: [
        { role: "user", content: "Hi" },
        { type: "item_reference", id: `msg_${REQUEST_ID}` },
        { role: "user", content: "Again" },
      ],
    });
    const referenced = new Map(
      outputItemsOf(completion({ role: "assistant", content: "Hello" }, "stop"), REQUEST_ID).map((item) => [
        item.id,
        item,
      ]),
    );
    assert.deepEqual(toChatFromResponses(request, { referenced }).chat.messages[1], {
      role: "assistant",
      content: "Hello",
    });
    assert.throws(
      () => toChatFromResponses(request),
      (error: unknown) => isBeamlineError(error, "BL_NOT_FOUND"),
    );
  });

  it("refuses hosted tools, unknown items and background with a 400 naming the parameter", () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ input: "x", tools: [{ type: "web_search" }] }, "tools.0"],
      [{ input: [{ type: "computer_call", id: "c" }] }, "input.0"],
      [{ input: [{ role: "user", content: [{ type: "input_file", file_id: "f" }] }] }, "input.0.content.0"],
      [{ input: "x", background: true }, "background"],
      [{ input: [{ type: "function_call", name: "f", arguments: "{}" }] }, "input.0.call_id"],
      [{}, "input"],
    ];
    for (const [body, param] of cases) {
      assert.throws(
        () => toChatFromResponses(parseResponsesRequest({ model: "m", ...body })),
        (error: unknown) => isBeamlineError(error, "BL_BAD_REQUEST") && error.param === param,
        `${JSON.stringify(body)} → ${param}`,
      );
    }
  });
});

describe("canonical answer → Response object", () => {
  it("reports a length finish as incomplete with the billed usage", () => {
    const echo = responsesEchoOf(parseResponsesRequest({ model: "m", input: "x", max_output_tokens: 3 }));
    const response = toResponsesResponse(
      completion({ role: "assistant", content: "cut" }, "length"),
      { promptTokens: 10, completionTokens: 3, cachedTokens: 4 },
      REQUEST_ID,
      1000,
      echo,
    );
    assert.equal(response.status, "incomplete");
    assert.deepEqual(response.incomplete_details, { reason: "max_output_tokens" });
    assert.equal(response.output[0]?.status, "incomplete");
    assert.deepEqual(response.usage, {
      input_tokens: 10,
      input_tokens_details: { cached_tokens: 4 },
      output_tokens: 3,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 13,
    });
    assert.equal(response.max_output_tokens, 3);
  });
});

describe("canonical chunks → Responses stream events", () => {
  const echo = responsesEchoOf(parseResponsesRequest({ model: "mock-small", input: "x" }));
  const inProgress = (model: string) => inProgressResponse(REQUEST_ID, model, 1000, echo);

  it("streams text then a tool call as items one after another, numbered from 0", () => {
    const translator = createChunkToResponsesTranslator(REQUEST_ID, inProgress);
    const events = [
      ...translator.push(chunk({ role: "assistant", content: "Let me " })),
      ...translator.push(chunk({ content: "check." })),
      ...translator.push(
        chunk({
          tool_calls: [
            { index: 0, id: "call_1", type: "function", function: { name: "f", arguments: '{"a"' } },
          ],
        }),
      ),
      ...translator.push(chunk({ tool_calls: [{ index: 0, function: { arguments: ":1}" } }] }, "tool_calls")),
    ];
    const final = toResponsesResponse(
      completion(
        {
          role: "assistant",
          content: "Let me check.",
          tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
        },
        "tool_calls",
      ),
      { promptTokens: 1, completionTokens: 1, cachedTokens: 0 },
      REQUEST_ID,
      1000,
      echo,
    );
    events.push(...translator.finish(final));
    assert.deepEqual(
      events.map((event) => event.sequence_number),
      events.map((_event, index) => index),
    );
    assert.deepEqual(
      events.map((event) => event.type),
      [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
      ],
    );
    const argumentsDone = events.find((event) => event.type === "response.function_call_arguments.done");
    assert.equal(argumentsDone?.["arguments"], '{"a":1}');
    assert.equal(argumentsDone?.["output_index"], 1);
    // The streamed items are the final object's items, ids included.
    const streamedItems = events
      .filter((event) => event.type === "response.output_item.done")
      .map((event) => event["item"]);
    assert.deepEqual(streamedItems, final.output);
  });

  it("ends a failed stream with response.failed and an error event", () => {
    const translator = createChunkToResponsesTranslator(REQUEST_ID, inProgress);
    translator.push(chunk({ content: "partial" }));
    const events = translator.fail({ code: "BL_STREAM_INTERRUPTED", message: "cut" });
    assert.deepEqual(
      events.map((event) => event.type),
      ["response.failed", "error"],
    );
    assert.equal((events[0]!["response"] as { status: string }).status, "failed");
    assert.equal(events[1]?.["code"], "BL_STREAM_INTERRUPTED");
  });
});
