import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import type { ChatCompletionChunk, ChatRequest } from "../../../src/chat/wire.js";
import {
  createOpenAiAdapter,
  type MockProvider,
  type ProviderAdapter,
  ProviderError,
  type ProviderErrorClass,
  startMockProvider,
} from "../../../src/providers/index.js";

const request: ChatRequest = { model: "alias", messages: [{ role: "user", content: "Hello faults" }] };

async function providerErrorOf(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ProviderError, `expected a ProviderError, got ${inspect(error)}`);
    return error;
  }
  assert.fail("expected the call to fail");
}

/** The faults added for issue 3 (502, 529, stall, stream error), on the mock's OpenAI wire. */
describe("the mock's newer faults on OpenAI's wire", { timeout: 15_000 }, () => {
  let mock: MockProvider;
  let adapter: ProviderAdapter;

  before(async () => {
    mock = await startMockProvider({ chunks: 3 });
    adapter = createOpenAiAdapter({ name: "mock", baseUrl: mock.url, headersTimeoutMs: 1_000 });
  });
  after(async () => {
    await adapter.close();
    await mock.close();
  });

  const cases: Array<[string, ProviderErrorClass, ProviderErrorClass, number | undefined]> = [
    // [fault, class when plain, class when streaming, HTTP status]
    ["502", "server_error", "server_error", 502],
    ["529", "overloaded", "overloaded", 529],
    ["stall", "timeout", "stream_interrupted", undefined],
    ["stream_error", "server_error", "stream_interrupted", undefined],
  ];
  for (const [fault, plainClass, streamClass, status] of cases) {
    for (const streaming of [false, true]) {
      const expected = streaming ? streamClass : plainClass;
      it(`answers the ${fault} fault so the adapter sees ${expected} (${streaming ? "streaming" : "plain"})`, async () => {
        const chunks: ChatCompletionChunk[] = [];
        const error = await providerErrorOf(
          adapter.complete({
            upstreamModel: `mock-fault-${fault}`,
            request,
            ...(streaming ? { onChunk: (chunk: ChatCompletionChunk) => chunks.push(chunk) } : {}),
          }),
        );
        assert.equal(error.errorClass, expected, error.message);
        assert.equal(error.providerStatus, status);
        if (expected === "stream_interrupted") assert.ok(chunks.length > 0);
      });
    }
  }
});
