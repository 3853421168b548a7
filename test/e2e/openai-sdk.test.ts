import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { readTenantUsage } from "../../replay/index.js";
import { formatNanoUsd } from "../../src/catalog/index.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { hashApiKey } from "../../src/tenancy/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { readRequestHistory } from "../support/history.js";
import { waitFor } from "../support/index.js";

/** Spacing of the mock's streamed chunks: enough to tell "streamed live" from "sent at the end". */
const CHUNK_DELAY_MS = 40;

const messages = [
  { role: "system" as const, content: "You are terse and precise." },
  { role: "user" as const, content: "Say hello to the end-to-end test" },
];

/** mock-small in the shipped catalog, in nano-USD per token: $0.15, $0.60, $0.075 per MTok. */
const NANO_PER_TOKEN = { input: 150, output: 600, cached: 75 };

describe("the gateway, through the official OpenAI SDK", { timeout: 40_000 }, () => {
  let beamline: TestBeamline;
  let client: OpenAI;

  before(async () => {
    beamline = await startTestBeamline({ mock: { chunkDelayMs: CHUNK_DELAY_MS } });
    client = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
  });
  after(() => beamline?.stop());

  it("answers a plain completion, with the request id as the completion id and x-request-id", async () => {
    const { data: completion, response } = await client.chat.completions
      .create({ model: "mock-small", messages })
      .withResponse();
    assert.equal(response.status, 200);
    assert.match(completion.id, /^req_[0-9A-Z]{26}$/);
    assert.equal(response.headers.get("x-request-id"), completion.id);
    assert.equal(completion.object, "chat.completion");
    assert.equal(completion.model, "mock-small");
    assert.equal(
      completion.choices[0]?.message.content,
      "Mock provider reply to: Say hello to the end-to-end test",
    );
    assert.equal(completion.choices[0]?.finish_reason, "stop");
    const usage = completion.usage!;
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.ok(usage.prompt_tokens_details?.cached_tokens, "the system prompt counts as cached");
  });

  it("resolves an alias to the catalog model", async () => {
    const completion = await client.chat.completions.create({ model: "fast", messages });
    assert.equal(completion.model, "mock-small");
  });

  it("streams chunks as they are produced, then the usage chunk, all under the request id", async () => {
    const started = performance.now();
    const { data: stream, response } = await client.chat.completions
      .create({ model: "mock-small", messages, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    const requestId = response.headers.get("x-request-id");
    assert.match(requestId ?? "", /^req_/);
    let content = "";
    let firstChunkAt: number | undefined;
    let contentChunks = 0;
    const ids = new Set<string>();
    const finishReasons: Array<string | null> = [];
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      firstChunkAt ??= performance.now();
      ids.add(chunk.id);
      const choice = chunk.choices[0];
      if (choice) {
        finishReasons.push(choice.finish_reason);
        if (choice.delta.content) {
          content += choice.delta.content;
          contentChunks++;
        }
      }
      if (chunk.usage) {
        assert.equal(usage, undefined, "exactly one usage chunk");
        assert.deepEqual(chunk.choices, [], "the usage chunk has no choices");
        usage = chunk.usage;
      }
    }
    const endedAt = performance.now();
    assert.equal(content, "Mock provider reply to: Say hello to the end-to-end test");
    assert.ok(contentChunks > 1, `content came in ${contentChunks} chunk(s)`);
    assert.equal(finishReasons.at(-1), "stop");
    assert.deepEqual([...ids], [requestId]);
    assert.ok(usage, "stream_options.include_usage gives a usage chunk");
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    // The mock waits CHUNK_DELAY_MS between its 7 frames: a gateway that buffered the answer
    // would deliver the first chunk just before the end.
    assert.ok(firstChunkAt !== undefined);
    assert.ok(
      endedAt - firstChunkAt >= 3 * CHUNK_DELAY_MS,
      `first chunk after ${Math.round(firstChunkAt - started)} ms, end after ${Math.round(endedAt - started)} ms`,
    );
  });

  it("sends no usage chunk when the client did not ask for one", async () => {
    const stream = await client.chat.completions.create({ model: "mock-small", messages, stream: true });
    let content = "";
    for await (const chunk of stream) {
      assert.equal(chunk.usage ?? undefined, undefined);
      content += chunk.choices[0]?.delta.content ?? "";
    }
    assert.equal(content, "Mock provider reply to: Say hello to the end-to-end test");
  });

  it("lists the models this deployment can serve (the mock's, no OpenAI key configured), then `auto`", async () => {
    const listed: Array<{ id: string; owned_by: string; resolution: unknown }> = [];
    for await (const model of client.models.list()) {
      assert.equal(model.object, "model");
      const resolution = (model as unknown as { beamline_resolution?: string }).beamline_resolution;
      listed.push({ id: model.id, owned_by: model.owned_by, resolution });
    }
    assert.deepEqual(listed, [
      { id: "mock-small", owned_by: "mock", resolution: undefined },
      { id: "mock-large", owned_by: "mock", resolution: undefined },
      { id: "mock-embed", owned_by: "mock", resolution: undefined },
      { id: "auto", owned_by: "beamline", resolution: "auto" },
    ]);
  });

  it("surfaces Beamline's errors as the SDK's typed errors with the stable code", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "gpt-9", messages }),
      (error) =>
        error instanceof OpenAI.NotFoundError && error.code === "BL_UNKNOWN_MODEL" && error.param === "model",
    );
    const stranger = new OpenAI({ apiKey: "bl-not-a-key-of-ours", baseURL: client.baseURL, maxRetries: 0 });
    await assert.rejects(
      stranger.chat.completions.create({ model: "mock-small", messages }),
      (error) => error instanceof OpenAI.AuthenticationError && error.code === "BL_INVALID_API_KEY",
    );
  });

  it("records the request's whole chain and exactly one usage record with its tokens and cost", async () => {
    const completion = await client.chat.completions.create({ model: "mock-small", messages });
    const requestId = completion.id;

    const history = await readRequestHistory(beamline.nc, "dev", requestId);
    assert.deepEqual(
      history.map(({ event }) => event.type),
      ["request.accepted", "route.decided", "attempt.succeeded", "request.completed"],
    );
    assert.deepEqual(
      history.map(({ subject }) => subject.split(".").slice(4).join(".")),
      ["accepted", "decided", "attempt.1", "terminal"],
    );
    for (const [index, { event }] of history.entries()) {
      assert.equal(event.requestId, requestId);
      assert.equal(event.correlationId, requestId);
      if (index > 0) assert.equal(event.causationId, history[index - 1]!.event.id, `${event.type} cause`);
    }

    const usageOf = async () =>
      (await readTenantUsage(beamline.nc, "dev")).filter(({ event }) => event.requestId === requestId);
    await waitFor(async () => (await usageOf()).length > 0, { what: `the usage record of ${requestId}` });
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing);
    const records = await usageOf();
    assert.equal(records.length, 1, "exactly one usage record per request");
    const usage = completion.usage!;
    const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
    const costNanoUsd =
      (usage.prompt_tokens - cached) * NANO_PER_TOKEN.input +
      cached * NANO_PER_TOKEN.cached +
      usage.completion_tokens * NANO_PER_TOKEN.output;
    const record = records[0]!.event;
    assert.equal(record.type, "usage.recorded");
    assert.deepEqual(record.data, {
      outcome: "completed",
      apiKeyId: `key_dev_${hashApiKey(beamline.devKey).slice(0, 12)}`,
      provider: "mock",
      model: "mock-small",
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      cachedTokens: cached,
      costNanoUsd,
      costUsd: formatNanoUsd(costNanoUsd),
      catalogVersion: (history[1]!.event.data as { catalogVersion: string }).catalogVersion,
      prices: { inputPerMTokUsd: 0.15, outputPerMTokUsd: 0.6, cachedInputPerMTokUsd: 0.075 },
    });
    assert.equal(record.causationId, history[3]!.event.id, "billed from the terminal event");
  });
});
