/**
 * `POST /v1/embeddings` end to end (issue 15, item 2), with the official `openai` SDK's
 * `embeddings.create` pointed at Beamline, unchanged apart from `baseURL` and the key.
 *
 * Providers, each behind its own adapter and wire format, both answering with the mock's
 * deterministic vectors (src/providers/mock/embeddings.ts), so an answer can be checked
 * exactly and equal inputs must embed equal on either wire:
 * - `mock`   OpenAI's `POST /v1/embeddings` (the built-in mock);
 * - `gemini` Gemini's `:batchEmbedContents` (a second mock's `/v1beta`).
 *
 * Asserted: single and array input, the SDK's default base64 encoding and explicit floats,
 * failover from a failing OpenAI-wire model to the Gemini wire, usage as billed (one
 * `usage.recorded` per request, input tokens only, priced per input token), a quota refusal,
 * the 400 for a model of the wrong kind on either door, the content sealed at rest, and at
 * the end that the log is the record: decisions re-derive, billing reconciles, audit verifies.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import OpenAI from "openai";
import { decodeEvent, RequestSlots, requestSubject } from "../../src/events/index.js";
import { StreamNames } from "../../src/nats/names.js";
import { publishPolicy } from "../../src/policies/index.js";
import { geminiBaseUrl, type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { MOCK_EMBEDDING_DIMENSIONS, mockEmbedding } from "../../src/providers/mock/embeddings.js";
import { openTenancyAdmin } from "../../src/tenancy/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { runCliStatus } from "../support/cli.js";
import { assertAuditVerifies, assertBillingReconciles } from "../support/log-checks.js";
import { requestEvidence } from "../support/request-evidence.js";
import { writeCatalogDocument } from "../support/test-catalog.js";

const PROVIDER_KEY = "sk-e2e-embeddings-provider-key-0123";
/** USD per million input tokens of every embedding model here: costs are easy to check. */
const EMBED_PRICE = 0.5;
/** The catalog's vector length of every embedding model here: the mock's default. */
const DIMENSIONS = MOCK_EMBEDDING_DIMENSIONS;

const embeddingModel = (id: string, provider: string, upstreamModel: string) => ({
  id,
  provider,
  kind: "embedding" as const,
  upstreamModel,
  dimensions: DIMENSIONS,
  prices: { inputPerMTokUsd: EMBED_PRICE, outputPerMTokUsd: 0 },
});

const CATALOG = {
  version: "e2e-embeddings.1",
  models: [
    embeddingModel("mock-embed", "mock", "mock-embed"),
    embeddingModel("gemini-embed", "gemini", "gemini-embed"),
    // The OpenAI-wire mock answers every call to this upstream name with a 500.
    embeddingModel("mock-embed-broken", "mock", "mock-fault-500"),
    {
      id: "mock-small",
      provider: "mock",
      upstreamModel: "mock-small",
      prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 2 },
    },
  ],
};

describe("POST /v1/embeddings with the openai SDK", { timeout: 180_000 }, () => {
  let beamline: TestBeamline;
  let wire: MockProvider;
  let catalog: Awaited<ReturnType<typeof writeCatalogDocument>>;
  let openai: OpenAI;
  let cappedKey: string;

  before(async () => {
    wire = await startMockProvider({ apiKey: PROVIDER_KEY });
    catalog = await writeCatalogDocument(CATALOG);
    beamline = await startTestBeamline({
      catalogFile: catalog.path,
      gemini: { apiKey: PROVIDER_KEY, baseUrl: geminiBaseUrl(wire.url) },
      notary: { checkpointIntervalMs: 200, pollIntervalMs: 100 },
      execution: { backoffBaseMs: 10, backoffMaxMs: 20 },
    });
    await publishPolicy(
      beamline.store,
      "dev",
      { routing: { aliases: { "resilient-embed": { models: ["mock-embed-broken", "gemini-embed"] } } } },
      new Date(),
    );
    const admin = await openTenancyAdmin(beamline.store);
    await admin.createTenant({ id: "capped", name: "Capped" });
    cappedKey = (await admin.issueKey("capped", { label: "e2e" })).key;
    await publishPolicy(beamline.store, "capped", { limits: { tokensPerMinute: 40 } }, new Date());
    openai = new OpenAI({ apiKey: beamline.devKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await beamline?.stop();
    await wire?.close();
    await catalog?.remove();
  });

  /** The request id of the SDK's last answer (`x-request-id`). */
  async function embedWithId(params: OpenAI.EmbeddingCreateParams, client = openai) {
    const { data, response } = await client.embeddings.create(params).withResponse();
    return { answer: data, requestId: response.headers.get("x-request-id")! };
  }

  /** Billed once, input tokens only, at the embedding price; served by `provider`/`model`. */
  async function assertBilledOnce(requestId: string, provider: string, model: string, promptTokens: number) {
    const { terminal, usage } = await requestEvidence(beamline.nc, "dev", requestId);
    assert.equal(terminal.type, "request.completed");
    assert.equal(terminal.data.provider, provider);
    assert.equal(terminal.data.model, model);
    assert.equal(usage.length, 1, "exactly one usage.recorded per request");
    const record = usage[0]!;
    assert.deepEqual(
      [record.outcome, record.provider, record.model, record.promptTokens, record.completionTokens],
      ["completed", provider, model, promptTokens, 0],
    );
    assert.equal(record.costNanoUsd, Math.ceil(promptTokens * EMBED_PRICE * 1000));
  }

  it("embeds a single string (the SDK's default base64 encoding) through the OpenAI wire", async () => {
    const { answer, requestId } = await embedWithId({ model: "mock-embed", input: "hello vectors" });
    assert.equal(answer.object, "list");
    assert.equal(answer.model, "mock-embed");
    assert.equal(answer.data.length, 1);
    assert.deepEqual(answer.data[0]!.embedding, mockEmbedding("hello vectors", DIMENSIONS));
    assert.ok(answer.usage.prompt_tokens > 0);
    assert.equal(answer.usage.total_tokens, answer.usage.prompt_tokens);
    await assertBilledOnce(requestId, "mock", "mock-embed", answer.usage.prompt_tokens);
  });

  it("embeds an array as floats, in input order: equal inputs embed equal", async () => {
    const input = ["alpha", "beta", "alpha"];
    const { answer, requestId } = await embedWithId({
      model: "mock-embed",
      input,
      encoding_format: "float",
    });
    assert.deepEqual(
      answer.data.map((item) => item.index),
      [0, 1, 2],
    );
    assert.deepEqual(answer.data[0]!.embedding, answer.data[2]!.embedding);
    assert.notDeepEqual(answer.data[0]!.embedding, answer.data[1]!.embedding);
    assert.deepEqual(answer.data[1]!.embedding, mockEmbedding("beta", DIMENSIONS));
    await assertBilledOnce(requestId, "mock", "mock-embed", answer.usage.prompt_tokens);
  });

  it("answers base64 as little-endian float32 when asked, over plain HTTP", async () => {
    const response = await fetch(`${beamline.baseUrl}/v1/embeddings`, {
      method: "POST",
      headers: { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-embed", input: "raw bytes", encoding_format: "base64" }),
    });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { data: Array<{ embedding: unknown }> };
    const encoded = body.data[0]!.embedding;
    assert.equal(typeof encoded, "string");
    const bytes = Buffer.from(encoded as string, "base64");
    const floats = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    assert.deepEqual([...floats], mockEmbedding("raw bytes", DIMENSIONS));
  });

  it("embeds through Gemini's batchEmbedContents wire, with the same vectors and `dimensions`", async () => {
    const { answer, requestId } = await embedWithId({
      model: "gemini-embed",
      input: ["hello vectors", "beta"],
      dimensions: 32,
    });
    assert.equal(answer.model, "gemini-embed");
    assert.deepEqual(answer.data[0]!.embedding, mockEmbedding("hello vectors", 32));
    assert.deepEqual(answer.data[1]!.embedding, mockEmbedding("beta", 32));
    assert.ok(answer.usage.prompt_tokens > 0, "Gemini reports no usage: Beamline counts the input");
    await assertBilledOnce(requestId, "gemini", "gemini-embed", answer.usage.prompt_tokens);
  });

  it("fails over from a failing OpenAI-wire model to the Gemini wire", async () => {
    const { answer, requestId } = await embedWithId({ model: "resilient-embed", input: "fail over" });
    assert.deepEqual(answer.data[0]!.embedding, mockEmbedding("fail over", DIMENSIONS));
    const { attempts } = await requestEvidence(beamline.nc, "dev", requestId);
    const tried = attempts.map((attempt) => [attempt.type, attempt.data.provider]);
    assert.deepEqual(tried.at(-1), ["attempt.succeeded", "gemini"]);
    assert.ok(tried.length >= 2, "at least one failed attempt first");
    for (const failed of tried.slice(0, -1)) assert.deepEqual(failed, ["attempt.failed", "mock"]);
    await assertBilledOnce(requestId, "gemini", "gemini-embed", answer.usage.prompt_tokens);
  });

  it("refuses a request over the tenant's token quota with OpenAI's 429", async () => {
    const capped = new OpenAI({ apiKey: cappedKey, baseURL: `${beamline.baseUrl}/v1`, maxRetries: 0 });
    const long = Array.from({ length: 60 }, (_, i) => `word${i}`).join(" ");
    await assert.rejects(capped.embeddings.create({ model: "mock-embed", input: long }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.APIError);
      assert.equal(error.status, 429);
      assert.equal((error.error as { code?: string }).code, "BL_QUOTA_EXCEEDED");
      return true;
    });
    // A short input fits the same quota.
    const fits = await capped.embeddings.create({ model: "mock-embed", input: "short" });
    assert.equal(fits.data.length, 1);
  });

  it("answers 400 for a chat model on /v1/embeddings and an embedding model on chat", async () => {
    await assert.rejects(openai.embeddings.create({ model: "mock-small", input: "x" }), (error: unknown) => {
      assert.ok(error instanceof OpenAI.BadRequestError);
      assert.equal((error.error as { code?: string }).code, "BL_MODEL_KIND_MISMATCH");
      assert.equal(error.param, "model");
      return true;
    });
    await assert.rejects(
      openai.chat.completions.create({ model: "mock-embed", messages: [{ role: "user", content: "hi" }] }),
      (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError);
        assert.equal((error.error as { code?: string }).code, "BL_MODEL_KIND_MISMATCH");
        return true;
      },
    );
  });

  it("keeps the inputs and the vectors sealed at rest", async () => {
    const { requestId } = await embedWithId({ model: "mock-embed", input: "secret text" });
    await requestEvidence(beamline.nc, "dev", requestId);
    const jsm = await jetstreamManager(beamline.nc);
    for (const slot of [RequestSlots.accepted, RequestSlots.terminal]) {
      const stored = await jsm.streams.getMessage(StreamNames.requests, {
        last_by_subj: requestSubject("dev", requestId, slot),
      });
      assert.doesNotMatch(stored!.string(), /secret text/);
      // Decoded without the tenant's key: the content fields are absent, sealed in `atRest`.
      const event = decodeEvent(stored!.data, stored!.header);
      const data = event.data as { embeddings?: unknown; atRest?: { mode: string } };
      assert.equal(data.embeddings, undefined, `${slot} holds no embeddings in the clear`);
      assert.equal(data.atRest?.mode, "encrypted");
    }
  });

  it("leaves a log that is the record: decisions re-derive, billing reconciles, audit verifies", async () => {
    const run = await runCliStatus(beamline.server.url, ["decisions", "verify", "--tenant", "dev"]);
    assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
    const [, verified, total] = /(\d+) of (\d+) decisions re-derived identically/.exec(run.stdout) ?? [];
    assert.ok(Number(total) >= 6, run.stdout);
    assert.equal(verified, total);
    await assertBillingReconciles(beamline.server.url);
    await assertAuditVerifies(beamline.server.url, beamline.config.dataDir);
  });
});
