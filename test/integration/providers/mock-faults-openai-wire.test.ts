import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChatRequest } from "../../../src/chat/wire.js";
import { createOpenAiAdapter, type ProviderErrorClass } from "../../../src/providers/index.js";
import { faultCallOutcome, useMockAdapter } from "../../support/provider-adapter.js";

const request: ChatRequest = { model: "alias", messages: [{ role: "user", content: "Hello faults" }] };

/** The faults added for issue 3 (502, 529, stall, stream error), on the mock's OpenAI wire. */
describe("the mock's newer faults on OpenAI's wire", { timeout: 15_000 }, () => {
  const fixture = useMockAdapter({ chunks: 3 }, (mock) =>
    createOpenAiAdapter({ name: "mock", baseUrl: mock.url, headersTimeoutMs: 1_000 }),
  );

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
        const { error, chunks } = await faultCallOutcome(fixture.adapter, fault, request, streaming);
        assert.equal(error.errorClass, expected, error.message);
        assert.equal(error.providerStatus, status);
        if (expected === "stream_interrupted") assert.ok(chunks.length > 0);
      });
    }
  }
});
