import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import OpenAI from "openai";
import { decodeEvent, RequestSlots, requestSubject } from "../../src/events/index.js";
import { EventStore, readStream, StreamNames } from "../../src/nats/index.js";
import { publishPolicy } from "../../src/policies/index.js";
import { ContentCodec, contentDigest, loadMasterKey, TenantKeys } from "../../src/vault/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { TEST_MASTER_KEY } from "../support/cli.js";

/** Every stored byte of every Beamline stream (payloads and headers), as one string per message. */
async function rawLog(beamline: TestBeamline): Promise<string[]> {
  const messages: string[] = [];
  for (const stream of Object.values(StreamNames)) {
    for await (const message of readStream(beamline.nc, { stream, filters: [">"] })) {
      messages.push(Buffer.from(message.data).toString("latin1") + String(message.headers ?? ""));
    }
  }
  return messages;
}

describe("content at rest", { timeout: 120_000 }, () => {
  let beamline: TestBeamline;
  let client: OpenAI;
  let codec: ContentCodec;

  before(async () => {
    beamline = await startTestBeamline();
    client = new OpenAI({ baseURL: `${beamline.baseUrl}/v1`, apiKey: beamline.devKey });
    const provider = await loadMasterKey(
      { key: TEST_MASTER_KEY, dataDir: beamline.config.dataDir },
      { create: false },
    );
    const keys = await TenantKeys.open(beamline.nc, provider, { cacheMaxEntries: 10, cacheTtlMs: 1 });
    codec = new ContentCodec(keys, () => "encrypted");
  });
  after(async () => beamline?.stop());

  /** Sends a prompt with a marker no stream can contain by chance; returns the answer and request id. */
  async function ask(): Promise<{ marker: string; answer: string; requestId: string }> {
    const marker = `secret-prompt-${randomUUID()}`;
    const { data, response } = await client.chat.completions
      .create({ model: "mock-small", messages: [{ role: "user", content: `remember ${marker}` }] })
      .withResponse();
    const answer = data.choices[0]?.message.content ?? "";
    return { marker, answer, requestId: response.headers.get("x-request-id") ?? data.id };
  }

  async function stored(requestId: string, slot: string) {
    const jsm = await new EventStore(beamline.nc).jsm;
    const message = await jsm.direct.getMessage(StreamNames.requests, {
      last_by_subj: requestSubject("dev", requestId, slot),
    });
    assert.ok(message, `${slot} of ${requestId} is stored`);
    return message;
  }

  it("stores no prompt or completion text in any stream, and the client still gets its answer", async () => {
    const { marker, answer, requestId } = await ask();
    assert.match(answer, new RegExp(marker), "the mock echoes the prompt: the answer holds the marker too");
    const log = await rawLog(beamline);
    assert.ok(log.length > 0);
    assert.equal(
      log.filter((bytes) => bytes.includes(marker)).length,
      0,
      "the marker is in no stored message",
    );

    const accepted = decodeEvent((await stored(requestId, RequestSlots.accepted)).data);
    assert.equal(accepted.type, "request.accepted");
    assert.equal((accepted.data as { request?: unknown }).request, undefined);
    assert.equal((accepted.data as { atRest?: { mode: string } }).atRest?.mode, "encrypted");
    // Metadata stays clear: the terminal's usage and provider read without any key.
    const terminal = decodeEvent((await stored(requestId, RequestSlots.terminal)).data);
    assert.equal(terminal.type, "request.completed");
    assert.ok((terminal.data as { usage: { promptTokens: number } }).usage.promptTokens > 0);

    // With the master key, the content opens to exactly what was sent and answered.
    const message = await stored(requestId, RequestSlots.accepted);
    const opened = await codec.decode(message.data, message.header);
    assert.equal(opened.type, "request.accepted");
    assert.match(JSON.stringify((opened.data as { request: unknown }).request), new RegExp(marker));
    const openedTerminal = await codec.decode(
      (await stored(requestId, RequestSlots.terminal)).data,
      undefined,
    );
    assert.equal(
      (openedTerminal.data as { completion: { choices: Array<{ message: { content: string } }> } }).completion
        .choices[0]?.message.content,
      answer,
    );
  });

  it("keeps only SHA-256 digests of results for a tenant whose policy says `hashes`", async () => {
    await publishPolicy(beamline.store, "dev", { content: { store: "hashes" } }, new Date());
    const { marker, answer, requestId } = await waitForMode("hashes");
    assert.equal((await rawLog(beamline)).filter((bytes) => bytes.includes(marker)).length, 0);
    const terminal = await codec.decode((await stored(requestId, RequestSlots.terminal)).data, undefined);
    const atRest = (terminal.data as { atRest?: { mode: string; sha256: Record<string, string> } }).atRest;
    assert.equal(atRest?.mode, "hashes");
    assert.equal((terminal.data as { completion?: unknown }).completion, undefined);
    assert.match(atRest?.sha256["completion"] ?? "", /^[0-9a-f]{64}$/);
    assert.ok(answer.includes(marker), "the client still gets the whole answer");
    // The request itself stays sealed: the worker executes (and resumes) from it.
    const accepted = decodeEvent((await stored(requestId, RequestSlots.accepted)).data);
    assert.equal((accepted.data as { atRest?: { mode: string } }).atRest?.mode, "encrypted");
    assert.equal(contentDigest({ a: 1 }).length, 64);
  });

  it("keeps no trace of results for a tenant whose policy says `none`", async () => {
    await publishPolicy(beamline.store, "dev", { content: { store: "none" } }, new Date());
    const { marker, requestId } = await waitForMode("none");
    assert.equal((await rawLog(beamline)).filter((bytes) => bytes.includes(marker)).length, 0);
    const attempt = decodeEvent((await stored(requestId, `${RequestSlots.attempt}.1`)).data);
    assert.deepEqual((attempt.data as { atRest?: unknown }).atRest, { mode: "none", fields: ["completion"] });
  });

  /**
   * Asks until a request's terminal is stored under `mode` (the policy view follows the KV watch),
   * then asks once more. The mode is read per event, so the request that saw the change may have
   * stored its attempt under the old mode and its terminal under the new one; the next request
   * is wholly under the new mode.
   */
  async function waitForMode(mode: string) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const asked = await ask();
      const terminal = decodeEvent((await stored(asked.requestId, RequestSlots.terminal)).data);
      if ((terminal.data as { atRest?: { mode: string } }).atRest?.mode === mode) return ask();
      assert.ok(Date.now() < deadline, `the worker to store content as ${mode}`);
    }
  }
});
