import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import OpenAI from "openai";
import { ConsumerNames, KvBuckets, StreamNames } from "../../src/nats/names.js";
import { hashApiKey } from "../../src/tenancy/index.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";

/** A key a client sends that Beamline never issued: it must not be kept anywhere either. */
const STRANGER_KEY = "bl-stranger-key-that-was-never-issued";

/** Every stored message of `stream` as one buffer per message: subject, headers and data. */
async function rawMessages(nc: NatsConnection, stream: string): Promise<Buffer[]> {
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(stream);
  const out: Buffer[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const msg = await jsm.direct.getMessage(stream, { seq });
    if (!msg) continue;
    const headers = msg.header ? [...msg.header.keys()].map((k) => `${k}: ${msg.header.get(k)}`) : [];
    out.push(Buffer.concat([Buffer.from(`${msg.subject}\n${headers.join("\n")}\n`), Buffer.from(msg.data)]));
  }
  return out;
}

/**
 * The shipped catalog plus `mock-broken`, whose upstream name makes the mock answer 500: the
 * failure path (a provider warning, a failed request) is where most context gets logged.
 */
async function catalogWithBrokenModel(dir: string): Promise<string> {
  const shipped = JSON.parse(
    await readFile(new URL("../../config/catalog.json", import.meta.url), "utf8"),
  ) as { models: unknown[] };
  const path = join(dir, "catalog.json");
  const broken = {
    id: "mock-broken",
    provider: "mock",
    upstreamModel: "mock-fault-500",
    prices: { inputPerMTokUsd: 1, outputPerMTokUsd: 1 },
  };
  await writeFile(path, JSON.stringify({ ...shipped, models: [...shipped.models, broken] }));
  return path;
}

describe("secrets", { timeout: 40_000 }, () => {
  let beamline: TestBeamline;
  let dir: string;
  /** Everything stored in Beamline's streams and its key bucket, after the traffic below. */
  let stored: Map<string, Buffer[]>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "beamline-secrets-"));
    beamline = await startTestBeamline({ logLevel: "trace", catalogFile: await catalogWithBrokenModel(dir) });
    const baseURL = `${beamline.baseUrl}/v1`;
    const client = new OpenAI({ apiKey: beamline.devKey, baseURL, maxRetries: 0 });
    const messages = [{ role: "user" as const, content: "keep it secret" }];

    await client.chat.completions.create({ model: "mock-small", messages });
    for await (const _chunk of await client.chat.completions.create({
      model: "mock-small",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    })) {
      // Drained: the streamed path writes its own events and logs.
    }
    const viaHeader = await fetch(`${baseURL}/chat/completions`, {
      method: "POST",
      headers: { "x-api-key": beamline.devKey, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages }),
    });
    assert.equal(viaHeader.status, 200);
    const stranger = new OpenAI({ apiKey: STRANGER_KEY, baseURL, maxRetries: 0 });
    await assert.rejects(stranger.chat.completions.create({ model: "mock-small", messages }));
    const badBody = await fetch(`${baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" },
      body: "{broken",
    });
    assert.equal(badBody.status, 400);
    await assert.rejects(
      client.chat.completions.create({ model: "mock-broken", messages }),
      (error) => error instanceof OpenAI.APIError && error.code === "BL_PROVIDER_ERROR",
    );

    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing);
    stored = new Map();
    for (const stream of [
      StreamNames.requests,
      StreamNames.usage,
      StreamNames.config,
      StreamNames.deadLetter,
      `KV_${KvBuckets.apiKeys}`,
    ]) {
      stored.set(stream, await rawMessages(beamline.nc, stream));
    }
  });
  after(async () => {
    await beamline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("logs neither the dev key nor a key a client tried", () => {
    const logs = beamline.logs();
    assert.match(logs, /Beamline is running/, "the logs were captured");
    assert.match(logs, /provider attempt failed/, "the failure path was logged");
    assert.equal(logs.includes(beamline.devKey), false, "the dev key is in the logs");
    assert.equal(logs.includes(STRANGER_KEY), false, "a rejected client key is in the logs");
  });

  it("stores the key's hash, never the key, in any event or projection", () => {
    const keyHash = hashApiKey(beamline.devKey);
    const config = stored.get(StreamNames.config)!;
    assert.ok(
      config.some((message) => message.includes(keyHash)),
      "the apikey.issued event holds the hash (the scan reads the right bytes)",
    );
    assert.ok(stored.get(StreamNames.requests)!.length >= 12, "three requests' events were scanned");
    assert.ok(stored.get(StreamNames.usage)!.length >= 3, "three usage records were scanned");
    for (const [stream, messages] of stored) {
      for (const [index, message] of messages.entries()) {
        assert.equal(
          message.includes(beamline.devKey),
          false,
          `the dev key is in ${stream} message ${index}`,
        );
        assert.equal(
          message.includes(STRANGER_KEY),
          false,
          `a client's key is in ${stream} message ${index}`,
        );
      }
    }
  });
});
