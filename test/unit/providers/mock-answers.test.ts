import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { answerFor, splitIntoPieces } from "../../../src/providers/mock/answers.js";
import {
  countMessageTokens,
  countPromptTokens,
  countTextTokens,
  TokenizerKinds,
} from "../../../src/tokens/index.js";

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe("mock answers", () => {
  it("counts tokens as the provider of the model asked would: OpenAI's encoding for gpt-4o", () => {
    const answer = answerFor({ model: "gpt-4o", messages: [{ role: "user", content: "hello world" }] });
    // 3 priming + 3 framing + "user" (1) + "hello world" (2).
    assert.equal(answer.usage.prompt_tokens, 9);
    assert.equal(answer.usage.completion_tokens, countTextTokens(TokenizerKinds.o200k, answer.content ?? ""));
  });

  it("given the same request, answers the same reply and token counts", () => {
    const request = {
      model: "m",
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: [{ type: "text", text: "What is   NATS?" }] },
      ],
    };
    const first = answerFor(request);
    assert.deepEqual(answerFor(structuredClone(request)), first);
    assert.equal(first.content, "Mock provider reply to: What is NATS?");
    assert.equal(first.finishReason, "stop");
    // "m" is no OpenAI model: the conservative approximation counts it.
    const kind = TokenizerKinds.approximate;
    assert.deepEqual(first.usage, {
      prompt_tokens: countPromptTokens(kind, request),
      completion_tokens: countTextTokens(kind, "Mock provider reply to: What is NATS?"),
      total_tokens: first.usage.prompt_tokens + first.usage.completion_tokens,
      prompt_tokens_details: { cached_tokens: countMessageTokens(kind, request.messages[0]!) },
    });
  });

  it("cuts the reply at max_tokens, at a token boundary, with finish reason length", () => {
    const answer = answerFor({ model: "m", messages: [{ role: "user", content: "hello" }], max_tokens: 2 });
    // 2 approximated tokens hold one cl100k token ("Mock" → ceil(1 × 1.45) = 2).
    assert.equal(answer.content, "Mock");
    assert.equal(answer.finishReason, "length");
    assert.equal(answer.usage.completion_tokens, 2);
  });

  it("calls the first function tool after a user message, and answers text after the tool result", () => {
    const tools = [{ type: "function", function: { name: "lookup" } }];
    const call = answerFor({ model: "m", messages: [{ role: "user", content: "find x" }], tools });
    assert.equal(call.finishReason, "tool_calls");
    assert.equal(call.content, null);
    assert.deepEqual(call.toolCall, { id: "call_mock_1", name: "lookup", arguments: '{"input":"find x"}' });

    const after = answerFor({
      model: "m",
      messages: [
        { role: "user", content: "find x" },
        { role: "assistant", content: null },
        { role: "tool", content: "x is 42" },
      ],
      tools,
    });
    assert.equal(after.toolCall, undefined);
    assert.equal(after.content, "Mock provider received the tool result: x is 42");

    const none = answerFor({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      tools,
      tool_choice: "none",
    });
    assert.equal(none.toolCall, undefined);
  });

  it("splits text into at most the requested pieces that join back, never inside a surrogate pair", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 40 }),
        fc.integer({ min: 1, max: 10 }),
        (text, count) => {
          const pieces = splitIntoPieces(text, count);
          assert.equal(pieces.join(""), text);
          assert.ok(pieces.length <= count + 1);
          for (const piece of pieces) assert.doesNotMatch(piece, LONE_SURROGATE);
        },
      ),
    );
  });
});
