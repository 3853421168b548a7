import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ChatChunkChoice, ChatCompletionChunk, ChatUsage } from "../../../src/chat/wire.js";
import { createChunkAssembler } from "../../../src/providers/chunk-assembler.js";

function chunk(choices: ChatChunkChoice[], usage?: ChatUsage | null): ChatCompletionChunk {
  const value: ChatCompletionChunk = {
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model: "gpt-test",
    choices,
  };
  if (usage !== undefined) value.usage = usage;
  return value;
}

function delta(
  content: ChatChunkChoice["delta"],
  finishReason: string | null = null,
  index = 0,
): ChatChunkChoice {
  return { index, delta: content, finish_reason: finishReason };
}

const usage: ChatUsage = {
  prompt_tokens: 10,
  completion_tokens: 3,
  total_tokens: 13,
  prompt_tokens_details: { cached_tokens: 4 },
};

describe("chunk assembler", () => {
  it("given content chunks and a usage chunk, assembles the completion a plain call returns", () => {
    const assembler = createChunkAssembler();
    assembler.add(chunk([delta({ role: "assistant", content: "" })], null));
    assembler.add(chunk([delta({ content: "Hel" })], null));
    assembler.add(chunk([delta({ content: "lo" })], null));
    assembler.add(chunk([delta({}, "stop")], null));
    assembler.add(chunk([], usage));

    assert.equal(assembler.chunkCount, 5);
    assert.deepEqual(assembler.usage, usage);
    assert.deepEqual(assembler.completion(), {
      id: "chatcmpl-1",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "gpt-test",
      choices: [{ index: 0, message: { role: "assistant", content: "Hello" }, finish_reason: "stop" }],
      usage,
    });
  });

  it("merges tool-call deltas by index, interleaved, into whole calls in index order", () => {
    const assembler = createChunkAssembler();
    assembler.add(
      chunk([
        delta({
          role: "assistant",
          content: null,
          tool_calls: [
            { index: 1, id: "call_b", type: "function", function: { name: "second", arguments: "" } },
          ],
        }),
      ]),
    );
    assembler.add(
      chunk([
        delta({ tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "first" } }] }),
      ]),
    );
    assembler.add(chunk([delta({ tool_calls: [{ index: 0, function: { arguments: '{"q":' } }] })]));
    assembler.add(chunk([delta({ tool_calls: [{ index: 1, function: { arguments: "{}" } }] })]));
    assembler.add(chunk([delta({ tool_calls: [{ index: 0, function: { arguments: '"x"}' } }] })]));
    assembler.add(chunk([delta({}, "tool_calls")]));

    const [choice] = assembler.completion().choices;
    assert.deepEqual(choice?.message, {
      role: "assistant",
      content: null,
      tool_calls: [
        { id: "call_a", type: "function", function: { name: "first", arguments: '{"q":"x"}' } },
        { id: "call_b", type: "function", function: { name: "second", arguments: "{}" } },
      ],
    });
    assert.equal(choice?.finish_reason, "tool_calls");
  });

  it("keeps choices apart by index and concatenates refusals", () => {
    const assembler = createChunkAssembler();
    assembler.add(chunk([delta({ content: "a" }, null, 1), delta({ refusal: "I can" }, null, 0)]));
    assembler.add(chunk([delta({ content: "b" }, "stop", 1), delta({ refusal: "not." }, "stop", 0)]));

    const { choices } = assembler.completion();
    assert.deepEqual(
      choices.map((choice) => [
        choice.index,
        choice.message.content,
        choice.message.refusal,
        choice.finish_reason,
      ]),
      [
        [0, null, "I cannot.", "stop"],
        [1, "ab", undefined, "stop"],
      ],
    );
  });

  it("given no chunks, assembles an empty completion without usage", () => {
    const assembler = createChunkAssembler();
    assert.equal(assembler.usage, undefined);
    assert.deepEqual(assembler.completion().choices, []);
    assert.equal(assembler.completion().usage, undefined);
  });

  it("assembles the same content however the text is cut into chunks", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 20 }), (pieces) => {
        const assembler = createChunkAssembler();
        for (const piece of pieces) assembler.add(chunk([delta({ content: piece })]));
        assembler.add(chunk([delta({}, "stop")]));
        const expected = pieces.join("");
        assert.equal(
          assembler.completion().choices[0]?.message.content,
          expected.length > 0 ? expected : null,
        );
      }),
    );
  });
});
