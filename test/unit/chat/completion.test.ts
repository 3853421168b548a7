import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ChatCompletion,
  chatCompletionChunkSchema,
  chatCompletionSchema,
} from "../../../src/chat/wire.js";
import { decodeEvent, encodeEvent, makeEvent } from "../../../src/events/index.js";
import { serviceReplySchema } from "../../../src/providers/nats-service/contract.js";
import { parseChunk, parseCompletion } from "../../../src/providers/openai/schemas.js";

/**
 * The one canonical chat completion: what a provider boundary accepts is what an attempt
 * event stores and what the event decodes back to, field for field.
 */

const NOW = new Date("2026-03-04T05:06:07.000Z");
const context = { tenant: "acme", requestId: "req_1", correlationId: "req_1" };

/** An OpenAI answer with fields Beamline does not read and the nulls compatible servers send. */
const providerAnswer = {
  id: "chatcmpl-1",
  object: "chat.completion",
  created: 1_767_000_000,
  model: "gpt-x",
  choices: [
    {
      index: 0,
      message: {
        role: "assistant",
        content: null,
        refusal: null,
        annotations: [],
        tool_calls: [
          { id: "call_1", type: "function", function: { name: "lookup", arguments: '{"q":"x"}' } },
        ],
      },
      logprobs: null,
      finish_reason: "tool_calls",
    },
  ],
  usage: {
    prompt_tokens: 12,
    completion_tokens: 5,
    total_tokens: 17,
    prompt_tokens_details: { cached_tokens: null, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0 },
  },
  service_tier: "default",
  system_fingerprint: null,
};

function attemptWith(completion: ChatCompletion) {
  return makeEvent(
    "attempt.succeeded",
    "req_1:attempt.1",
    context,
    {
      attempt: 1,
      provider: "openai",
      model: "gpt-x",
      upstreamModel: "gpt-x",
      startedAt: NOW.toISOString(),
      durationMs: 40,
      streamed: false,
      timeToFirstTokenMs: 40,
      usage: { promptTokens: 12, completionTokens: 5, cachedTokens: 0 },
      completion,
    },
    NOW,
  );
}

/** The event as a reader gets it from the stream: encoded, then decoded and validated. */
function storedAndRead(completion: ChatCompletion): unknown {
  const { payload, headers } = encodeEvent(attemptWith(completion));
  const decoded = decodeEvent(payload, { get: (name) => headers[name] ?? "" });
  assert.equal(decoded.type, "attempt.succeeded");
  return (decoded.data as { completion: unknown }).completion;
}

describe("the canonical chat completion", () => {
  it("given a provider's answer, when the OpenAI boundary checks it and an attempt event stores it, then it reads back unchanged", () => {
    const parsed = parseCompletion(structuredClone(providerAnswer));
    assert.ok(parsed.ok, parsed.ok ? "" : parsed.problem);
    assert.deepEqual(parsed.value, providerAnswer);
    assert.deepEqual(storedAndRead(parsed.value), providerAnswer);
  });

  it("reads completions stored before the schema was shared (the stored shape did not change)", () => {
    const stored: Record<string, unknown>[] = [
      // A post-processing extension refused the answer: the content was dropped.
      {
        id: "req_2",
        object: "chat.completion",
        created: 1,
        model: "m",
        choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: null } }],
        usage: {
          prompt_tokens: 1,
          completion_tokens: 2,
          total_tokens: 3,
          prompt_tokens_details: { cached_tokens: 0 },
        },
      },
      // A stream that carried only usage assembled to no choice at all.
      { id: "", object: "chat.completion", created: 0, model: "", choices: [] },
      // An OpenAI-compatible server: no total, null details, no content next to tool calls.
      {
        id: "c",
        object: "chat.completion",
        created: 2,
        model: "local",
        choices: [
          {
            index: 0,
            finish_reason: "tool_calls",
            message: {
              role: "assistant",
              tool_calls: [{ id: "t", type: "function", function: { name: "f", arguments: "{}" } }],
            },
          },
        ],
        usage: { prompt_tokens: 4, completion_tokens: 1, prompt_tokens_details: null },
      },
      // A NATS service's minimal completion (its usage travels beside it).
      {
        id: "nats-1",
        object: "chat.completion",
        created: 3,
        model: "faq-1",
        choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }],
      },
    ];
    for (const completion of stored) {
      assert.deepEqual(storedAndRead(completion as ChatCompletion), completion);
    }
  });

  it("refuses what is not an assistant's answer, wherever it is checked", () => {
    const notAnswer = structuredClone(providerAnswer);
    notAnswer.choices[0]!.message.role = "user";
    assert.equal(chatCompletionSchema.safeParse(notAnswer).success, false);
    assert.equal(parseCompletion(notAnswer).ok, false);
    const badUsage = {
      ...structuredClone(providerAnswer),
      usage: { prompt_tokens: -1, completion_tokens: 0 },
    };
    assert.equal(chatCompletionSchema.safeParse(badUsage).success, false);
  });

  it("the OpenAI boundary asks more of a plain answer than the stored schema: usage and a choice", () => {
    const { usage: _usage, ...withoutUsage } = structuredClone(providerAnswer);
    assert.equal(chatCompletionSchema.safeParse(withoutUsage).success, true);
    assert.match((parseCompletion(withoutUsage) as { problem: string }).problem, /usage/);
    const noChoice = { ...structuredClone(providerAnswer), choices: [] };
    assert.match((parseCompletion(noChoice) as { problem: string }).problem, /holds no choice/);
  });

  it("the OpenAI boundary reads compatible servers' chunks as canonical ones", () => {
    const parsed = parseChunk({
      id: "c",
      created: 1,
      model: "m",
      choices: [{ index: 0, delta: null }],
      usage: null,
    });
    assert.ok(parsed.ok);
    // `object` filled in, `delta` an object, a missing finish_reason read as null (not finished).
    assert.deepEqual(parsed.value, {
      id: "c",
      object: "chat.completion.chunk",
      created: 1,
      model: "m",
      choices: [{ index: 0, delta: {}, finish_reason: null }],
      usage: null,
    });
    assert.equal(chatCompletionChunkSchema.safeParse(parsed.value).success, true);
    const usageOnly = parseChunk({
      id: "c",
      object: "chat.completion.chunk",
      created: 1,
      model: "m",
      choices: null,
    });
    assert.ok(usageOnly.ok);
    assert.deepEqual(usageOnly.value.choices, []);
  });

  it("the NATS contract checks embedded chunks and completions with the same schema", () => {
    const chunk = {
      id: "n",
      object: "chat.completion.chunk",
      created: 1,
      model: "faq-1",
      choices: [{ index: 0, delta: { content: 42 }, finish_reason: null }],
    };
    assert.equal(serviceReplySchema.safeParse({ v: 1, type: "chunk", seq: 0, chunk }).success, false);
    assert.equal(chatCompletionChunkSchema.safeParse(chunk).success, false);
    const final = serviceReplySchema.safeParse({
      v: 1,
      type: "final",
      completion: providerAnswer,
      usage: { promptTokens: 12, completionTokens: 5 },
    });
    assert.ok(final.success);
    assert.equal(final.data.type, "final");
    if (final.data.type === "final") assert.deepEqual(storedAndRead(final.data.completion), providerAnswer);
  });
});
