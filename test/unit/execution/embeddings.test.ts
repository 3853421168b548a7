import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { embeddingsRequestSchema } from "../../../src/chat/index.js";
import { executeCandidates } from "../../../src/execution/index.js";
import type { EmbeddingsCall, ProviderAdapter } from "../../../src/providers/index.js";
import { VirtualClock } from "../../support/index.js";
import { candidate, harness, scriptedAdapter } from "./fakes.js";

const embeddings = embeddingsRequestSchema.parse({ model: "e", input: ["a", "b"] });

/** An adapter that embeds every input as `[index]` and reports 3 input tokens. */
function embedder(name: string, calls: EmbeddingsCall[]): ProviderAdapter {
  return {
    name,
    complete: () => Promise.reject(new Error(`${name}: a chat call for an embeddings request`)),
    async embed(call) {
      calls.push(call);
      return {
        embeddings: {
          object: "list",
          model: call.upstreamModel,
          data: [0, 1].map((index) => ({ object: "embedding", index, embedding: [index] })),
          usage: { prompt_tokens: 3, total_tokens: 3 },
        },
        usage: { promptTokens: 3, completionTokens: 0, cachedTokens: 0 },
        timeToFirstTokenMs: 1,
      };
    },
    close: async () => undefined,
  };
}

describe("the executor on an embeddings request", () => {
  it("asks the adapter to embed and records the vectors in place of a completion", async () => {
    const clock = new VirtualClock();
    const calls: EmbeddingsCall[] = [];
    const h = harness(clock, [embedder("a", calls)], [candidate("a")]);
    const outcome = await clock.run(executeCandidates({ ...h.input, embeddings }, h.hooks));
    assert.equal(outcome.status, "succeeded");
    assert.equal(calls[0]!.upstreamModel, "a-model-up");
    const data = outcome.attempt.data as { embeddings?: unknown; completion?: unknown; usage: unknown };
    assert.equal(data.completion, undefined);
    assert.deepEqual(data.usage, { promptTokens: 3, completionTokens: 0, cachedTokens: 0 });
    assert.ok(data.embeddings);
  });

  it("fails over from a provider without embeddings, uncalled, to one with them", async () => {
    const clock = new VirtualClock();
    const calls: EmbeddingsCall[] = [];
    const chatOnly = scriptedAdapter("chat-only", clock, []);
    const h = harness(
      clock,
      [chatOnly.adapter, embedder("b", calls)],
      [candidate("chat-only"), candidate("b")],
    );
    const outcome = await clock.run(executeCandidates({ ...h.input, embeddings }, h.hooks));
    assert.deepEqual(
      h.recorded.map((r) => [r.type, r.data.provider]),
      [
        ["attempt.failed", "chat-only"],
        ["attempt.succeeded", "b"],
      ],
    );
    const failed = h.recorded[0]!.data as { errorClass: string; next?: string };
    assert.equal(failed.errorClass, "unsupported");
    assert.equal(failed.next, "failover");
    assert.equal(chatOnly.calls.length, 0, "no chat call was made");
    assert.equal(outcome.status, "succeeded");
  });
});
