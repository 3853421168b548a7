import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { type MockProvider, startMockProvider } from "../../../src/providers/mock/server.js";
import { sseData, waitFor } from "../../support/index.js";

const TEST_TIMEOUT_MS = 10_000;
const messages = [
  { role: "system" as const, content: "You are terse." },
  { role: "user" as const, content: "Hello mock" },
];

async function post(mock: MockProvider, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${mock.url}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

describe("mock provider over HTTP", { timeout: TEST_TIMEOUT_MS }, () => {
  let mock: MockProvider;
  let client: OpenAI;

  before(async () => {
    mock = await startMockProvider({ chunks: 3 });
    client = new OpenAI({ apiKey: "unused", baseURL: mock.url, maxRetries: 0 });
  });
  after(() => mock.close());

  it("serves the official OpenAI client a plain completion with usage", async () => {
    const completion = await client.chat.completions.create({ model: "mock-small", messages });
    assert.equal(completion.object, "chat.completion");
    assert.equal(completion.model, "mock-small");
    assert.equal(completion.choices[0]?.message.content, "Mock provider reply to: Hello mock");
    assert.equal(completion.choices[0]?.finish_reason, "stop");
    // The shared token counter's approximation ("mock-small" is no OpenAI model), framing included.
    assert.deepEqual(completion.usage, {
      prompt_tokens: 25,
      completion_tokens: 11,
      total_tokens: 36,
      prompt_tokens_details: { cached_tokens: 12 },
    });
  });

  it("streams to the official OpenAI client, ending with the usage chunk when asked for", async () => {
    const stream = await client.chat.completions.create({
      model: "mock-small",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = "";
    const finishReasons: Array<string | null> = [];
    let usageChunks = 0;
    let lastChoices: number | undefined;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? "";
      if (chunk.choices[0]) finishReasons.push(chunk.choices[0].finish_reason);
      if (chunk.usage) usageChunks++;
      lastChoices = chunk.choices.length;
    }
    assert.equal(content, "Mock provider reply to: Hello mock");
    assert.equal(finishReasons.at(-1), "stop");
    assert.equal(usageChunks, 1);
    assert.equal(lastChoices, 0, "the usage chunk has empty choices");
  });

  it("lists its models to the official OpenAI client", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    assert.deepEqual(ids, ["mock-small", "mock-large"]);
  });

  it("streams without a usage chunk and without usage fields unless include_usage is set", async () => {
    const response = await post(mock, { model: "m", messages, stream: true });
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
    const payloads = sseData(response.text);
    assert.equal(payloads.at(-1), "[DONE]");
    const chunks = payloads.slice(0, -1) as Array<Record<string, unknown>>;
    assert.equal(chunks.length, 1 + 3 + 1, "role chunk, 3 content chunks, finish chunk");
    for (const chunk of chunks) assert.equal("usage" in chunk, false);
  });

  it("rejects stream_options without stream, as OpenAI does", async () => {
    const response = await post(mock, { model: "m", messages, stream_options: { include_usage: true } });
    assert.equal(response.status, 400);
    assert.equal(JSON.parse(response.text).error.param, "stream_options");
  });

  it("answers unknown URLs and unknown faults in OpenAI's error shape", async () => {
    const notFound = await fetch(`${mock.url}/nope`);
    assert.equal(notFound.status, 404);
    const body = (await notFound.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);

    const unknownFault = await post(mock, { model: "m", messages }, { "x-mock-fault": "explode" });
    assert.equal(unknownFault.status, 400);
    assert.match(JSON.parse(unknownFault.text).error.message, /Unknown mock fault "explode"/);
  });

  it("injects a fault chosen by model name or by header", async () => {
    const byModel = await post(mock, { model: "mock-fault-503", messages });
    assert.equal(byModel.status, 503);
    const byHeader = await post(mock, { model: "m", messages }, { "x-mock-fault": "429" });
    assert.equal(byHeader.status, 429);
    assert.equal(byHeader.headers.get("retry-after"), "1");
    assert.deepEqual(JSON.parse(byHeader.text), {
      error: {
        message: "Rate limit reached for the mock provider; retry after the time in the retry-after header.",
        type: "requests",
        param: null,
        code: "rate_limit_exceeded",
      },
    });
  });
});

describe("mock provider options", { timeout: TEST_TIMEOUT_MS }, () => {
  it("requires the configured bearer key and answers 401 in OpenAI's shape otherwise", async () => {
    const mock = await startMockProvider({ apiKey: "sk-mock-key" });
    try {
      const missing = await post(mock, { model: "m", messages });
      assert.equal(missing.status, 401);
      assert.equal(JSON.parse(missing.text).error.type, "invalid_request_error");
      const wrong = await post(mock, { model: "m", messages }, { authorization: "Bearer sk-other" });
      assert.equal(JSON.parse(wrong.text).error.code, "invalid_api_key");
      const right = await post(mock, { model: "m", messages }, { authorization: "Bearer sk-mock-key" });
      assert.equal(right.status, 200);
    } finally {
      await mock.close();
    }
  });

  it("fails the share of requests the injected random source draws below failureRate", async () => {
    const draws = [0.1, 0.9, 0.49, 0.5];
    const mock = await startMockProvider({ failureRate: 0.5, random: () => draws.shift() ?? 1 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await post(mock, { model: "m", messages })).status);
      assert.deepEqual(statuses, [500, 200, 500, 200]);
    } finally {
      await mock.close();
    }
  });

  it("draws the same failures for the same seed", async () => {
    const statusesFor = async (seed: number) => {
      const mock = await startMockProvider({ failureRate: 0.5, seed });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 16; i++) statuses.push((await post(mock, { model: "m", messages })).status);
        return statuses;
      } finally {
        await mock.close();
      }
    };
    const first = await statusesFor(42);
    assert.deepEqual(await statusesFor(42), first);
    assert.ok(first.includes(500) && first.includes(200), `a 0.5 failure rate mixes outcomes: ${first}`);
  });

  it("waits latencyMs before answering", async () => {
    const mock = await startMockProvider({ latencyMs: 50 });
    try {
      const startedAt = performance.now();
      assert.equal((await post(mock, { model: "m", messages })).status, 200);
      assert.ok(performance.now() - startedAt >= 49, "answered before the configured latency");
    } finally {
      await mock.close();
    }
  });

  it("rejects invalid options, naming every problem", async () => {
    await assert.rejects(
      startMockProvider({ failureRate: 2, chunks: 0 }),
      (error: Error) => /failureRate/.test(error.message) && /chunks/.test(error.message),
    );
  });

  it("closes while a request hangs", async () => {
    const mock = await startMockProvider();
    const hanging = post(mock, { model: "mock-fault-hang", messages }).catch((error: unknown) => error);
    await waitFor(() => mock.inFlight === 1, {
      what: "the hanging request to reach the mock",
      timeoutMs: 5000,
    });
    // The hang fault holds the request open; close() must end it rather than wait for it.
    await mock.close();
    assert.ok((await hanging) instanceof Error);
  });
});
