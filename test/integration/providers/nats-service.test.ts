import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import type { ChatCompletionChunk, ChatRequest } from "../../../src/chat/wire.js";
import { createNatsServiceAdapter } from "../../../src/providers/nats-service/adapter.js";
import type { ServiceChunk, ServiceError } from "../../../src/providers/nats-service/contract.js";
import { type NatsServer, startNatsServer, waitFor } from "../../support/index.js";
import { providerErrorOf } from "../../support/provider-adapter.js";

const TEST_TIMEOUT_MS = 30_000;
const EXAMPLE = fileURLToPath(new URL("../../../examples/custom-provider.ts", import.meta.url));
const question: ChatRequest = {
  model: "support-bot",
  messages: [
    { role: "system", content: "Answer from the FAQ." },
    { role: "user", content: "What are your opening hours?" },
  ],
};

const chunkOf = (seq: number, content: string): ServiceChunk => ({
  v: 1,
  type: "chunk",
  seq,
  chunk: {
    id: "x",
    object: "chat.completion.chunk",
    created: 0,
    model: "m",
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  },
});

describe("custom provider over NATS", { timeout: TEST_TIMEOUT_MS }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let service: ChildProcess;
  let serviceOutput = "";

  /** Serves `bl.provider.<name>` in this process with `answer`, for contract violations the example never commits. */
  function serveInProcess(name: string, answer: (msg: Msg) => void): void {
    nc.subscribe(`bl.provider.${name}`, { callback: (_error, msg) => answer(msg) });
  }

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    service = spawn(process.execPath, ["--import", "tsx", EXAMPLE], {
      env: { ...process.env, NATS_URL: server.url, PROVIDER_NAME: "faq" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    service.stdout?.on("data", (data: Buffer) => {
      serviceOutput += data.toString("utf8");
    });
    service.stderr?.on("data", (data: Buffer) => {
      serviceOutput += data.toString("utf8");
    });
    await waitFor(() => serviceOutput.includes("ready"), {
      what: "the example custom provider to print ready",
      timeoutMs: 20_000,
    });
    await nc.flush();
  });
  after(async () => {
    if (service.exitCode === null) {
      service.kill("SIGTERM");
      await once(service, "exit");
    }
    await nc.close();
    await server.stop();
  });

  it("answers a plain request from the example service", async () => {
    const adapter = createNatsServiceAdapter({ name: "faq", nc });
    const result = await adapter.complete({ upstreamModel: "faq-1", request: question });
    const choice = result.completion.choices[0]!;
    assert.match(choice.message.content ?? "", /Monday to Friday/);
    assert.equal(choice.finish_reason, "stop");
    assert.equal(result.completion.model, "faq-1");
    assert.ok(result.usage.promptTokens > 0 && result.usage.completionTokens > 0);
    assert.equal(result.usage.cachedTokens, 0);
  });

  it("streams chunks in order and ends with the final completion", async () => {
    const adapter = createNatsServiceAdapter({ name: "faq", nc });
    const chunks: ChatCompletionChunk[] = [];
    const result = await adapter.complete({
      upstreamModel: "faq-1",
      request: { ...question, messages: [{ role: "user", content: "How long does shipping take?" }] },
      onChunk: (chunk) => chunks.push(chunk),
    });
    assert.ok(chunks.length > 3, `expected one chunk per word, got ${chunks.length}`);
    assert.equal(chunks[0]?.choices[0]?.delta.role, "assistant");
    const streamed = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("");
    assert.equal(streamed, result.completion.choices[0]?.message.content);
    assert.match(streamed, /delivery/);
  });

  it("maps an error reply to its class", async () => {
    const adapter = createNatsServiceAdapter({ name: "faq", nc });
    for (const onChunk of [undefined, () => {}]) {
      const error = await providerErrorOf(
        adapter.complete({ upstreamModel: "not-served", request: question, ...(onChunk ? { onChunk } : {}) }),
      );
      assert.equal(error.errorClass, "bad_request");
      assert.equal(error.retryable, false);
      assert.match(error.message, /unknown model not-served/);
    }
  });

  it("carries retryAfterMs of a rate-limit error reply", async () => {
    const limited: ServiceError = {
      v: 1,
      type: "error",
      error: { class: "rate_limited", message: "slow down", retryAfterMs: 1_500 },
    };
    serveInProcess("limited", (msg) => msg.respond(JSON.stringify(limited)));
    const adapter = createNatsServiceAdapter({ name: "limited", nc });
    const error = await providerErrorOf(adapter.complete({ upstreamModel: "m", request: question }));
    assert.equal(error.errorClass, "rate_limited");
    assert.equal(error.retryAfterMs, 1_500);
    assert.ok(error.retryable);
  });

  it("fails fast with a connection error when no service listens", async () => {
    const adapter = createNatsServiceAdapter({ name: "nobody", nc, timeoutMs: 10_000 });
    for (const onChunk of [undefined, () => {}]) {
      const startedAt = Date.now();
      const error = await providerErrorOf(
        adapter.complete({ upstreamModel: "m", request: question, ...(onChunk ? { onChunk } : {}) }),
      );
      assert.equal(error.errorClass, "connection");
      assert.match(error.message, /no service subscribed to bl\.provider\.nobody/);
      assert.ok(Date.now() - startedAt < 5_000, "no responders is reported at once, not after the timeout");
    }
  });

  it("times out when the service never answers, plain and streaming", async () => {
    serveInProcess("silent", () => {});
    const adapter = createNatsServiceAdapter({ name: "silent", nc, timeoutMs: 300, idleTimeoutMs: 200 });
    const plain = await providerErrorOf(adapter.complete({ upstreamModel: "m", request: question }));
    assert.equal(plain.errorClass, "timeout");
    const streamed = await providerErrorOf(
      adapter.complete({ upstreamModel: "m", request: question, onChunk: () => {} }),
    );
    assert.equal(streamed.errorClass, "timeout");
    assert.match(streamed.message, /sent nothing for 200 ms/);
  });

  it("reports a stream that breaks after a chunk as stream_interrupted", async () => {
    serveInProcess("breaks", (msg) => {
      msg.respond(JSON.stringify(chunkOf(0, "Hel")));
      msg.respond(
        JSON.stringify({ v: 1, type: "error", error: { class: "server_error", message: "model crashed" } }),
      );
    });
    const adapter = createNatsServiceAdapter({ name: "breaks", nc });
    const chunks: ChatCompletionChunk[] = [];
    const error = await providerErrorOf(
      adapter.complete({ upstreamModel: "m", request: question, onChunk: (chunk) => chunks.push(chunk) }),
    );
    assert.equal(chunks.length, 1);
    assert.equal(error.errorClass, "stream_interrupted");
    assert.equal(error.retryable, false);
  });

  it("detects a lost chunk and a reply that breaks the contract", async () => {
    serveInProcess("gap", (msg) => msg.respond(JSON.stringify(chunkOf(1, "lo"))));
    const gap = await providerErrorOf(
      createNatsServiceAdapter({ name: "gap", nc }).complete({
        upstreamModel: "m",
        request: question,
        onChunk: () => {},
      }),
    );
    assert.equal(gap.errorClass, "connection", "nothing was delivered yet, so another try is safe");
    assert.match(gap.message, /chunk 0 never arrived/);

    serveInProcess("v2", (msg) => msg.respond(JSON.stringify({ v: 2, type: "final" })));
    const malformed = await providerErrorOf(
      createNatsServiceAdapter({ name: "v2", nc }).complete({ upstreamModel: "m", request: question }),
    );
    assert.equal(malformed.errorClass, "malformed");
    assert.match(malformed.message, /reply contract/);
  });
});
