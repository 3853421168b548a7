import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { TEST_DEV_KEY } from "../support/beamline.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";
import { assertBillingReconciles } from "../support/log-checks.js";
import { type BeamlineProcess, startBeamlineProcess } from "../support/worker-process.js";

/**
 * Graceful drain (issue 13, section 5): a `beamline start` process with streams in flight gets
 * SIGTERM. Its /readyz turns 503 at once, new requests get 503 `BL_DRAINING` with
 * `retry-after`, every stream in flight completes with `[DONE]`, the process exits 0, and
 * nothing it held is left unacked or redelivered to the other worker process.
 */

const STREAMS = 6;
/** Between two mock chunks: a stream lasts a few seconds, long enough to SIGTERM it midway. */
const CHUNK_DELAY_MS = 600;

interface StreamCall {
  firstBytes: Promise<void>;
  done: Promise<{ status: number; text: string }>;
}

function startStream(baseUrl: string, content: string): StreamCall {
  let markFirst: () => void = () => undefined;
  const firstBytes = new Promise<void>((resolve) => {
    markFirst = resolve;
  });
  const done = (async () => {
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_DEV_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content }], stream: true }),
      signal: AbortSignal.timeout(60_000),
    });
    let text = "";
    const decoder = new TextDecoder();
    for await (const bytes of response.body!) {
      text += decoder.decode(bytes as Uint8Array, { stream: true });
      if (text.includes('"content"')) markFirst();
    }
    markFirst();
    return { status: response.status, text };
  })();
  return { firstBytes, done };
}

describe("graceful drain on SIGTERM", { timeout: 420_000 }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let dataDirs: string[] = [];
  let drained: BeamlineProcess;
  let other: BeamlineProcess;

  const start = async (roles: string) => {
    const dataDir = await mkdtemp(join(tmpdir(), "bl-drain-"));
    dataDirs.push(dataDir);
    const child = startBeamlineProcess(roles, {
      NATS_URL: server.url,
      BEAMLINE_HTTP_PORT: "0",
      BEAMLINE_DEV_KEY: TEST_DEV_KEY,
      BEAMLINE_DATA_DIR: dataDir,
      BEAMLINE_MOCK_CHUNK_DELAY_MS: String(CHUNK_DELAY_MS),
      BEAMLINE_DRAIN_TIMEOUT_MS: "30000",
    });
    await waitFor(() => child.output().includes("Beamline is running"), {
      what: `beamline (${roles}) to start`,
      // Generous: on a loaded machine a `beamline start` can take a minute.
      timeoutMs: 150_000,
    });
    return child;
  };

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    drained = await start("gateway,worker,billing,projector");
    other = await start("worker,billing,projector");
  });

  after(async () => {
    await drained?.stop();
    await other?.stop();
    await nc?.close();
    await server?.stop();
    for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
    dataDirs = [];
  });

  test("streams in flight finish, new requests get 503 + retry-after, exit 0, nothing left unacked or redelivered", async () => {
    const baseUrl = /listening on (http:\/\/\S+)/.exec(drained.output())![1]!;
    const calls = Array.from({ length: STREAMS }, (_, i) => startStream(baseUrl, `drain stream ${i}`));
    await Promise.all(calls.map((call) => call.firstBytes));

    const signalled = performance.now();
    drained.child.kill("SIGTERM");
    await waitFor(async () => (await fetch(`${baseUrl}/readyz`)).status === 503, {
      what: "/readyz to say not ready once draining",
    });
    process.stdout.write(
      `# figure: readyz 503 ${Math.round(performance.now() - signalled)} ms after SIGTERM\n`,
    );
    const refused = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_DEV_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "too late" }] }),
    });
    assert.equal(refused.status, 503);
    assert.ok(Number(refused.headers.get("retry-after")) >= 1, "retry-after is set");
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "BL_DRAINING");

    const answers = await Promise.all(calls.map((call) => call.done));
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.match(answer.text, /data: \[DONE\]\n\n$/, "every stream in flight ends cleanly");
      assert.doesNotMatch(answer.text, /"error"/);
    }
    assert.equal(await drained.exited, 0, drained.output().slice(-2_000));
    process.stdout.write(`# figure: exit ${Math.round(performance.now() - signalled)} ms after SIGTERM\n`);

    const jsm = await jetstreamManager(nc);
    await waitFor(async () => (await jsm.streams.info(StreamNames.usage)).state.messages >= STREAMS, {
      what: "a usage record for every stream",
      timeoutMs: 30_000,
    });
    for (const consumer of [ConsumerNames.worker, ConsumerNames.billing]) {
      const info = await jsm.consumers.info(StreamNames.requests, consumer);
      assert.equal(info.num_ack_pending, 0, `${consumer}: nothing held unacked`);
      assert.equal(info.num_redelivered, 0, `${consumer}: nothing redelivered to the other process`);
    }
    assert.equal((await jsm.streams.info(StreamNames.usage)).state.messages, STREAMS);
    await assertBillingReconciles(server.url);
  });
});
