import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  embeddingInputs,
  embeddingsAnswer,
  embeddingsRequestSchema,
  embeddingsRoutingView,
  embeddingToBase64,
  withRoutedInputs,
} from "../../../src/chat/index.js";
import { fromGeminiBatchEmbed, toGeminiBatchEmbed } from "../../../src/providers/gemini/embeddings.js";
import { mockEmbedding } from "../../../src/providers/mock/embeddings.js";
import { embeddingsRequestBody, parseEmbeddingsAnswer } from "../../../src/providers/openai/embeddings.js";
import { ProviderError } from "../../../src/providers/provider-error.js";

const request = (input: unknown, extra: Record<string, unknown> = {}) =>
  embeddingsRequestSchema.parse({ model: "embed", input, ...extra });

describe("the embeddings wire shape", () => {
  it("reads every input form the openai SDK sends as a list, in order", () => {
    assert.deepEqual(embeddingInputs(request("one")), ["one"]);
    assert.deepEqual(embeddingInputs(request(["a", "b"])), ["a", "b"]);
    assert.deepEqual(embeddingInputs(request([1, 2, 3])), [[1, 2, 3]]);
    assert.deepEqual(embeddingInputs(request([[1], [2, 3]])), [[1], [2, 3]]);
  });

  it("refuses empty inputs and unknown encodings", () => {
    for (const bad of ["", [], [""], [[]], [1, "a"]]) {
      assert.equal(
        embeddingsRequestSchema.safeParse({ model: "m", input: bad }).success,
        false,
        JSON.stringify(bad),
      );
    }
    assert.equal(
      embeddingsRequestSchema.safeParse({ model: "m", input: "x", encoding_format: "int8" }).success,
      false,
    );
  });

  it("routes as one user message per input, and maps masked text back onto text inputs only", () => {
    const original = request(["my mail is a@b.c", "plain"], { user: "u1" });
    const view = embeddingsRoutingView(original);
    assert.deepEqual(
      view.messages.map((m) => m.content),
      ["my mail is a@b.c", "plain"],
    );
    assert.equal(view.user, "u1");
    const masked = {
      ...view,
      messages: [{ role: "user" as const, content: "my mail is [EMAIL]" }, view.messages[1]!],
    };
    assert.deepEqual(withRoutedInputs(original, masked).input, ["my mail is [EMAIL]", "plain"]);
    const single = request("a@b.c");
    assert.equal(
      withRoutedInputs(single, {
        ...embeddingsRoutingView(single),
        messages: [{ role: "user", content: "[EMAIL]" }],
      }).input,
      "[EMAIL]",
    );
    const tokens = request([5, 6]);
    assert.deepEqual(withRoutedInputs(tokens, embeddingsRoutingView(tokens)).input, [5, 6]);
  });

  it("encodes base64 as little-endian float32 that decodes to the same numbers", () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { maxLength: 64 }),
        (values) => {
          const vector = values.map((v) => Math.fround(v));
          const bytes = Buffer.from(embeddingToBase64(vector), "base64");
          const decoded = [...new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)];
          assert.deepEqual(decoded, vector);
        },
      ),
    );
    const result = {
      object: "list" as const,
      data: [{ object: "embedding" as const, index: 0, embedding: [0.5, -1] }],
      model: "m",
      usage: { prompt_tokens: 1, total_tokens: 1 },
    };
    assert.equal(embeddingsAnswer(result, "float"), result);
    assert.equal(typeof embeddingsAnswer(result, "base64").data[0]!.embedding, "string");
  });
});

describe("OpenAI's embeddings wire", () => {
  it("sends the upstream model and always asks for floats", () => {
    const body = JSON.parse(
      embeddingsRequestBody(request("x", { encoding_format: "base64", dimensions: 8 }), "up"),
    );
    assert.deepEqual(body, { model: "up", input: "x", encoding_format: "float", dimensions: 8 });
  });

  it("puts the answer in input order and refuses one vector short", () => {
    const answer = (indexes: number[]) => ({
      object: "list",
      model: "up",
      usage: { prompt_tokens: 3, total_tokens: 3 },
      data: indexes.map((index) => ({ object: "embedding", index, embedding: [index] })),
    });
    const parsed = parseEmbeddingsAnswer(answer([1, 0]), request(["a", "b"]));
    assert.ok(parsed.ok);
    assert.deepEqual(
      parsed.value.data.map((d) => d.embedding),
      [[0], [1]],
    );
    assert.equal(parseEmbeddingsAnswer(answer([0]), request(["a", "b"])).ok, false);
    assert.equal(parseEmbeddingsAnswer(answer([0, 0]), request(["a", "b"])).ok, false);
  });
});

describe("Gemini's batchEmbedContents wire", () => {
  it("sends one EmbedContentRequest per input, with outputDimensionality for dimensions", () => {
    assert.deepEqual(toGeminiBatchEmbed(request(["a", "b"], { dimensions: 16 }), "gemini-embedding-001"), {
      requests: [
        {
          model: "models/gemini-embedding-001",
          content: { parts: [{ text: "a" }] },
          outputDimensionality: 16,
        },
        {
          model: "models/gemini-embedding-001",
          content: { parts: [{ text: "b" }] },
          outputDimensionality: 16,
        },
      ],
    });
  });

  it("refuses token arrays as bad_request before any I/O", () => {
    assert.throws(
      () => toGeminiBatchEmbed(request([1, 2]), "m"),
      (error: unknown) => error instanceof ProviderError && error.errorClass === "bad_request",
    );
  });

  it("answers in OpenAI's shape with the input tokens counted, and refuses a count mismatch", () => {
    const target = { provider: "gemini", upstreamModel: "gemini-embedding-001" };
    const parsed = fromGeminiBatchEmbed(
      { embeddings: [{ values: [1, 2] }, { values: [3, 4] }] },
      request(["hello world", "b"]),
      target,
    );
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value.data, [
      { object: "embedding", index: 0, embedding: [1, 2] },
      { object: "embedding", index: 1, embedding: [3, 4] },
    ]);
    assert.ok(parsed.value.usage.prompt_tokens >= 2);
    assert.equal(
      fromGeminiBatchEmbed({ embeddings: [{ values: [1] }] }, request(["a", "b"]), target).ok,
      false,
    );
    assert.equal(fromGeminiBatchEmbed({ embedding: { values: [1] } }, request("a"), target).ok, false);
  });
});

describe("the mock's embedding model", () => {
  it("gives equal inputs equal unit vectors and different inputs different ones", () => {
    const a = mockEmbedding("same", 64);
    assert.deepEqual(mockEmbedding("same", 64), a);
    assert.notDeepEqual(mockEmbedding("other", 64), a);
    assert.equal(a.length, 64);
    assert.ok(Math.abs(Math.hypot(...a) - 1) < 1e-5);
    assert.notDeepEqual(mockEmbedding([1, 2], 8), mockEmbedding("1,2", 8), "tokens are not text");
  });
});
