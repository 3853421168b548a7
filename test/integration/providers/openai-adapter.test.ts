import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import type { ChatCompletionChunk, ChatRequest } from "../../../src/chat/wire.js";
import { isBeamlineError } from "../../../src/errors/index.js";
import {
  createOpenAiAdapter,
  type MockProvider,
  type OpenAiAdapterOptions,
  type ProviderAdapter,
  ProviderError,
  startMockProvider,
} from "../../../src/providers/index.js";
import { waitFor } from "../../support/index.js";
import { providerErrorOf, useMockAdapter } from "../../support/provider-adapter.js";

const TEST_TIMEOUT_MS = 10_000;
const request: ChatRequest = {
  model: "beamline-alias",
  messages: [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Hello adapter" },
  ],
};
const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }];

/** Every string an error exposes: messages, stacks and inspected form, down its cause chain. */
function errorStrings(error: unknown): string[] {
  const strings: string[] = [inspect(error, { depth: 10 })];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 10; depth++) {
    strings.push(String(current));
    if (current instanceof Error) {
      strings.push(current.message, current.stack ?? "");
      current = current.cause;
    } else {
      current = undefined;
    }
  }
  return strings;
}

describe("OpenAI adapter against the mock provider", { timeout: TEST_TIMEOUT_MS }, () => {
  let release: () => void = () => {};
  let gate: Promise<void> | undefined;
  // Registered before the fixture's own after(), so a gated stream is released before the mock closes.
  after(() => release());
  // Chunk 3 waits for the gate when a test sets one, so a test can observe the stream mid-way.
  const fixture = useMockAdapter(
    { chunks: 3, retryAfterSeconds: 2, beforeChunk: (index) => (index === 3 ? gate : undefined) },
    (mock) => createOpenAiAdapter({ name: "mock", baseUrl: mock.url, headersTimeoutMs: 2_000 }),
  );

  it("returns a plain completion with usage, cached tokens and time to first token", async () => {
    const result = await fixture.adapter.complete({ upstreamModel: "mock-small", request });
    assert.equal(result.completion.model, "mock-small", "the upstream model replaces the alias");
    assert.equal(result.completion.choices[0]?.message.content, "Mock provider reply to: Hello adapter");
    assert.equal(result.completion.choices[0]?.finish_reason, "stop");
    // The shared token counter's approximation ("mock-small" is no OpenAI model), framing included.
    assert.deepEqual(result.usage, { promptTokens: 25, completionTokens: 11, cachedTokens: 12 });
    assert.ok(result.timeToFirstTokenMs >= 0);
  });

  it("delivers streamed chunks before the call resolves, then assembles the same completion", async () => {
    gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const chunks: ChatCompletionChunk[] = [];
    let settled = false;
    const call = fixture.adapter
      .complete({
        upstreamModel: "mock-small",
        // The caller did not ask for usage; the adapter asks anyway.
        request: { ...request, stream: true, stream_options: { include_usage: false } },
        onChunk: (chunk) => chunks.push(chunk),
      })
      .finally(() => {
        settled = true;
      });
    // The mock holds chunk 3 until the gate opens: if the adapter waited for the whole
    // stream, the first chunks would never arrive and this wait would time out.
    await waitFor(() => chunks.length === 3, {
      what: "the first 3 streamed chunks to reach onChunk",
      timeoutMs: 5000,
    });
    assert.equal(settled, false);
    release();
    const result = await call;
    gate = undefined;

    const plain = await fixture.adapter.complete({ upstreamModel: "mock-small", request });
    assert.equal(result.completion.choices[0]?.message.content, plain.completion.choices[0]?.message.content);
    assert.equal(result.completion.choices[0]?.finish_reason, "stop");
    assert.deepEqual(result.usage, plain.usage);
    assert.equal(chunks.length, 1 + 3 + 1 + 1, "role, 3 content, finish and usage chunks");
    assert.deepEqual(chunks.at(-1)?.choices, []);
    assert.ok(result.timeToFirstTokenMs >= 0);
  });

  it("assembles a streamed tool call into the call a plain request returns", async () => {
    const streamed = await fixture.adapter.complete({
      upstreamModel: "mock-small",
      request: { ...request, tools, stream: true },
      onChunk: () => {},
    });
    const plain = await fixture.adapter.complete({
      upstreamModel: "mock-small",
      request: { ...request, tools },
    });
    const toolCalls = streamed.completion.choices[0]?.message.tool_calls;
    assert.deepEqual(toolCalls, [
      {
        id: "call_mock_2",
        type: "function",
        function: { name: "lookup", arguments: '{"input":"Hello adapter"}' },
      },
    ]);
    assert.deepEqual(toolCalls, plain.completion.choices[0]?.message.tool_calls);
    assert.equal(streamed.completion.choices[0]?.finish_reason, "tool_calls");
  });

  it("maps 429 to rate_limited with retry-after in milliseconds", async () => {
    const error = await providerErrorOf(
      fixture.adapter.complete({ upstreamModel: "mock-fault-429", request }),
    );
    assert.equal(error.errorClass, "rate_limited");
    assert.equal(error.code, "BL_PROVIDER_RATE_LIMITED");
    assert.equal(error.providerStatus, 429);
    assert.equal(error.retryAfterMs, 2000);
    assert.equal(error.retryable, true);
    assert.match(error.message, /Rate limit reached for the mock provider/);
  });

  it("maps 500 to server_error and 503 to overloaded, both retryable", async () => {
    const serverError = await providerErrorOf(
      fixture.adapter.complete({ upstreamModel: "mock-fault-500", request }),
    );
    assert.equal(serverError.errorClass, "server_error");
    assert.equal(serverError.retryable, true);
    const overloaded = await providerErrorOf(
      fixture.adapter.complete({ upstreamModel: "mock-fault-503", request, onChunk: () => {} }),
    );
    assert.equal(overloaded.errorClass, "overloaded");
    assert.equal(overloaded.retryable, true);
  });

  it("maps a context-length 400 to context_window and other 400s to bad_request, not retryable", async () => {
    const contextWindow = await providerErrorOf(
      fixture.adapter.complete({ upstreamModel: "mock-fault-context_length_exceeded", request }),
    );
    assert.equal(contextWindow.errorClass, "context_window");
    assert.equal(contextWindow.retryable, false);
    const badRequest = await providerErrorOf(
      fixture.adapter.complete({ upstreamModel: "mock-fault-400", request }),
    );
    assert.equal(badRequest.errorClass, "bad_request");
  });

  it("maps malformed answers to malformed, plain and streamed", async () => {
    const plain = await providerErrorOf(
      fixture.adapter.complete({ upstreamModel: "mock-fault-malformed", request }),
    );
    assert.equal(plain.errorClass, "malformed");
    const chunks: ChatCompletionChunk[] = [];
    const streamed = await providerErrorOf(
      fixture.adapter.complete({
        upstreamModel: "mock-fault-malformed",
        request,
        onChunk: (chunk) => chunks.push(chunk),
      }),
    );
    assert.equal(streamed.errorClass, "malformed");
    assert.equal(chunks.length, 0);
  });

  it("maps a stream cut after chunks were delivered to stream_interrupted", async () => {
    const chunks: ChatCompletionChunk[] = [];
    const error = await providerErrorOf(
      fixture.adapter.complete({
        upstreamModel: "mock-fault-cut",
        request,
        onChunk: (chunk) => chunks.push(chunk),
      }),
    );
    assert.equal(error.errorClass, "stream_interrupted");
    assert.equal(error.retryable, false);
    assert.ok(chunks.length > 0, "chunks before the cut reached onChunk");
  });

  it("maps a plain answer cut mid-body to connection", async () => {
    const error = await providerErrorOf(
      fixture.adapter.complete({ upstreamModel: "mock-fault-cut", request }),
    );
    assert.equal(error.errorClass, "connection");
  });

  it("rethrows an onChunk failure unchanged", async () => {
    const failure = new Error("client went away");
    await assert.rejects(
      fixture.adapter.complete({
        upstreamModel: "mock-small",
        request,
        onChunk: () => {
          throw failure;
        },
      }),
      (error) => error === failure,
    );
  });

  it("rejects with the caller's abort reason", async () => {
    const controller = new AbortController();
    const reason = new Error("shutting down");
    await waitFor(() => fixture.mock.inFlight === 0, {
      what: "earlier requests to finish on the mock",
      timeoutMs: 5000,
    });
    const call = fixture.adapter.complete({
      upstreamModel: "mock-fault-hang",
      request,
      signal: controller.signal,
    });
    await waitFor(() => fixture.mock.inFlight === 1, {
      what: "the hanging request to reach the mock",
      timeoutMs: 5000,
    });
    controller.abort(reason);
    await assert.rejects(call, (error) => error === reason);
    await assert.rejects(
      fixture.adapter.complete({ upstreamModel: "mock-small", request, signal: controller.signal }),
      (error) => error === reason,
      "an already aborted signal fails the call before it is sent",
    );
  });
});

describe("OpenAI adapter timeouts and connection failures", { timeout: TEST_TIMEOUT_MS }, () => {
  let mock: MockProvider;
  before(async () => {
    mock = await startMockProvider({ chunkDelayMs: 60_000 });
  });
  after(() => mock.close());

  async function withAdapter<T>(
    options: Partial<OpenAiAdapterOptions>,
    use: (adapter: ProviderAdapter) => Promise<T>,
  ) {
    const adapter = createOpenAiAdapter({ baseUrl: mock.url, ...options });
    try {
      return await use(adapter);
    } finally {
      await adapter.close();
    }
  }

  it("maps a provider that never sends headers to timeout", async () => {
    const error = await withAdapter({ headersTimeoutMs: 100 }, (adapter) =>
      providerErrorOf(adapter.complete({ upstreamModel: "mock-fault-hang", request })),
    );
    assert.equal(error.errorClass, "timeout");
    assert.equal(error.code, "BL_PROVIDER_TIMEOUT");
    assert.equal(error.retryable, true);
  });

  it("maps the whole-call deadline to timeout before any chunk, and to stream_interrupted after one", async () => {
    const beforeHeaders = await withAdapter({ requestTimeoutMs: 100 }, (adapter) =>
      providerErrorOf(adapter.complete({ upstreamModel: "mock-fault-hang", request })),
    );
    assert.equal(beforeHeaders.errorClass, "timeout");
    assert.match(beforeHeaders.message, /did not finish within 100 ms/);

    // The mock waits a minute between chunks, so the deadline falls after the first chunk.
    const chunks: ChatCompletionChunk[] = [];
    const midStream = await withAdapter({ requestTimeoutMs: 200 }, (adapter) =>
      providerErrorOf(
        adapter.complete({ upstreamModel: "mock-small", request, onChunk: (c) => chunks.push(c) }),
      ),
    );
    assert.equal(chunks.length, 1);
    assert.equal(midStream.errorClass, "stream_interrupted");
    assert.ok(midStream.cause instanceof ProviderError && midStream.cause.errorClass === "timeout");
  });

  it("maps a refused connection to connection", async () => {
    const closed = await startMockProvider();
    await closed.close();
    const adapter = createOpenAiAdapter({ baseUrl: closed.url });
    try {
      const error = await providerErrorOf(adapter.complete({ upstreamModel: "mock-small", request }));
      assert.equal(error.errorClass, "connection");
      assert.equal(error.retryable, true);
    } finally {
      await adapter.close();
    }
  });
});

describe("OpenAI adapter credentials", { timeout: TEST_TIMEOUT_MS }, () => {
  const apiKey = "sk-beamline-test-7f3a9c1e5d";

  it("authenticates with the configured key", async () => {
    const mock = await startMockProvider({ apiKey });
    const adapter = createOpenAiAdapter({ baseUrl: mock.url, apiKey });
    try {
      const result = await adapter.complete({ upstreamModel: "mock-small", request });
      assert.equal(result.completion.choices[0]?.finish_reason, "stop");
    } finally {
      await adapter.close();
      await mock.close();
    }
  });

  it("maps 401 to auth", async () => {
    const mock = await startMockProvider({ apiKey: "sk-the-right-one" });
    const adapter = createOpenAiAdapter({ baseUrl: mock.url, apiKey });
    try {
      const error = await providerErrorOf(adapter.complete({ upstreamModel: "mock-small", request }));
      assert.equal(error.errorClass, "auth");
      assert.equal(error.code, "BL_PROVIDER_AUTH");
      assert.equal(error.providerStatus, 401);
      assert.equal(error.retryable, false);
    } finally {
      await adapter.close();
      await mock.close();
    }
  });

  it("never puts the key in an error, even when the provider echoes it back", async () => {
    // A provider that quotes the Authorization header back: in an error body (model "401"),
    // in a body that is not JSON (model "garbage"), or in an SSE event that is not JSON.
    const echo = createServer(async (req, res) => {
      let raw = "";
      for await (const part of req) raw += part;
      const { model, stream } = JSON.parse(raw) as { model: string; stream: boolean };
      const quoted = `Rejected ${req.headers.authorization}`;
      const garbage = `{"echo": ${req.headers.authorization?.slice("Bearer ".length)}}`;
      if (model === "401") {
        const body = JSON.stringify({
          error: { message: quoted, type: "invalid_request_error", code: null },
        });
        res.writeHead(401, { "content-type": "application/json" }).end(body);
      } else if (stream) {
        res.writeHead(200, { "content-type": "text/event-stream" }).end(`data: ${garbage}\n\n`);
      } else {
        res.writeHead(200, { "content-type": "application/json" }).end(garbage);
      }
    });
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const port = (echo.address() as AddressInfo).port;
    const adapter = createOpenAiAdapter({ baseUrl: `http://127.0.0.1:${port}/v1`, apiKey });
    const errors: unknown[] = [];
    try {
      for (const upstreamModel of ["401", "garbage"]) {
        errors.push(await providerErrorOf(adapter.complete({ upstreamModel, request })));
        errors.push(await providerErrorOf(adapter.complete({ upstreamModel, request, onChunk: () => {} })));
      }
      // The other failure paths, with the key sent (this mock does not check it).
      const mock = await startMockProvider();
      const mockAdapter = createOpenAiAdapter({ baseUrl: mock.url, apiKey, headersTimeoutMs: 100 });
      for (const model of ["mock-fault-500", "mock-fault-hang", "mock-fault-cut", "mock-fault-malformed"]) {
        errors.push(
          await mockAdapter.complete({ upstreamModel: model, request }).catch((error: unknown) => error),
        );
      }
      await mockAdapter.close();
      await mock.close();
    } finally {
      await adapter.close();
      await new Promise((resolve) => echo.close(resolve));
    }
    assert.match((errors[0] as Error).message, /Rejected Bearer \[redacted\]/);
    // Not even a part of it: V8's JSON errors, for one, quote a window of the input.
    const keyParts = Array.from({ length: apiKey.length - 9 }, (_, start) => apiKey.slice(start, start + 10));
    for (const error of errors) {
      for (const text of errorStrings(error)) {
        const leaked = keyParts.find((part) => text.includes(part));
        assert.equal(leaked, undefined, `key part ${leaked} leaked in: ${text}`);
      }
    }
  });
});

describe("OpenAI adapter options", () => {
  it("rejects invalid options, naming every problem and never the key", () => {
    assert.throws(
      () => createOpenAiAdapter({ baseUrl: "ftp://example.com", apiKey: "sk-secret", maxConnections: 0 }),
      (error) =>
        isBeamlineError(error, "BL_CONFIG_INVALID") &&
        /baseUrl/.test(error.message) &&
        /maxConnections/.test(error.message) &&
        !error.message.includes("sk-secret"),
    );
  });

  it("defaults its name to openai", async () => {
    const adapter = createOpenAiAdapter({ baseUrl: "https://api.openai.com/v1" });
    assert.equal(adapter.name, "openai");
    await adapter.close();
  });
});
