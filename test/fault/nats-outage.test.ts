import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { idempotentRequestId } from "../../src/gateway/index.js";
import { StreamNames } from "../../src/nats/names.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { sseData, waitFor } from "../support/index.js";
import { assertAuditVerifies, assertBillingReconciles } from "../support/log-checks.js";
import { tearDown } from "../support/teardown.js";
import { type BeamlineProcess, startBeamlineProcess } from "../support/worker-process.js";

/**
 * NATS going away under a running Beamline (issue 13, section 3): a stalled server (SIGSTOP)
 * and a stopped one (SIGKILL, then restarted on the same storage). The gateway answers 503
 * `BL_NATS_UNAVAILABLE` with `retry-after` within its append timeout, says truthfully whether
 * the request was stored, an `Idempotency-Key` retry gets the original outcome (billed once,
 * through either of two gateways), `/readyz` follows the connection, and service comes back
 * without a restart. Figures are printed as `# figure:` lines for docs/reliability.md.
 */

const APPEND_TIMEOUT_MS = 2_000;
/** Slack for a loaded 2-core machine on top of the configured bound. */
const SLACK_MS = 3_000;

interface Answer {
  status: number;
  headers: Headers;
  body: string;
  json: () => { error?: Record<string, unknown> } & Record<string, unknown>;
  ms: number;
}

async function post(
  baseUrl: string,
  key: string,
  body: Record<string, unknown>,
  idempotencyKey?: string,
): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${key}`,
      "content-type": "application/json",
      ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text,
    json: () => JSON.parse(text),
    ms: performance.now() - started,
  };
}

const chat = (content: string, stream = false) => ({
  model: "mock-small",
  messages: [{ role: "user", content }],
  ...(stream ? { stream: true } : {}),
});

/** Messages stored on `subject` (wildcards allowed) in `stream`. */
async function countOn(nc: NatsConnection, stream: string, subject: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
}

async function readyStatus(baseUrl: string): Promise<number> {
  return (await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(5_000) })).status;
}

function figure(text: string): void {
  process.stdout.write(`# figure: ${text}\n`);
}

describe("NATS outage: bounded, truthful 503s and idempotent retries", { timeout: 420_000 }, () => {
  let beamline: TestBeamline;
  let secondGateway: BeamlineProcess | undefined;
  let secondUrl: string;

  before(async () => {
    beamline = await startTestBeamline({
      availability: { appendTimeoutMs: APPEND_TIMEOUT_MS },
      // Streams take a moment, so a retry can arrive while the original is still running.
      mock: { chunkDelayMs: 40 },
    });
    secondGateway = startBeamlineProcess("gateway", {
      NATS_URL: beamline.server.url,
      BEAMLINE_HTTP_PORT: "0",
      BEAMLINE_DEV_KEY: beamline.devKey,
    });
    // Generous: on a loaded machine a `beamline start` can take a minute.
    const listening = await waitFor(
      () => {
        if (secondGateway!.hasExited())
          throw new Error(`the second gateway exited:\n${secondGateway!.output()}`);
        return /listening on (http:\/\/\S+)/.exec(secondGateway!.output())?.[1];
      },
      { what: "the second gateway to listen", timeoutMs: 150_000 },
    );
    secondUrl = listening;
    // Both gateways serve the dev key before the faults start.
    await waitFor(async () => (await post(secondUrl, beamline.devKey, chat("warm-up"))).status === 200, {
      what: "the second gateway to answer",
      timeoutMs: 30_000,
    });
  });

  after(() =>
    tearDown(
      async () => secondGateway?.stop(),
      async () => beamline?.stop(),
    ),
  );

  test("a stalled NATS: 503 'may have been stored' within the append timeout; the keyed retry gets that request's outcome, billed once", async () => {
    const key = `stall-${Date.now()}`;
    const body = chat("during the stall");
    const pid = beamline.server.pid!;
    process.kill(pid, "SIGSTOP");
    let during: Answer;
    let readyDuring: number;
    let readyMs: number;
    try {
      // The connection still looks up (no reset, nats.js's pings are minutes apart): readyz
      // finds the stall by its own round trip, within its 1 s probe timeout.
      const probeStarted = performance.now();
      readyDuring = await readyStatus(beamline.baseUrl);
      readyMs = performance.now() - probeStarted;
      during = await post(beamline.baseUrl, beamline.devKey, body, key);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    figure(`stall: readyz ${readyDuring} after ${Math.round(readyMs)} ms`);
    assert.equal(readyDuring, 503, "readyz reports a stalled NATS");
    assert.ok(readyMs < 1_000 + SLACK_MS, `readyz took ${readyMs} ms`);
    figure(`stall: 503 after ${Math.round(during.ms)} ms (append timeout ${APPEND_TIMEOUT_MS} ms)`);
    assert.equal(during.status, 503, during.body);
    assert.ok(during.ms < APPEND_TIMEOUT_MS + SLACK_MS, `503 took ${during.ms} ms`);
    assert.ok(Number(during.headers.get("retry-after")) >= 1, "retry-after is set");
    const requestId = during.headers.get("x-request-id");
    const error = during.json().error!;
    assert.equal(error["code"], "BL_NATS_UNAVAILABLE");
    assert.equal(error["stored"], "maybe");
    assert.equal(error["request_id"], requestId);
    assert.match(String(error["message"]), /may have been stored/);

    // The write handed over during the stall lands once the server resumes; the retry must
    // not run the request again but answer with its outcome.
    const retry = await post(beamline.baseUrl, beamline.devKey, body, key);
    assert.equal(retry.status, 200, retry.body);
    assert.equal(retry.headers.get("x-request-id"), requestId);
    const again = await post(secondUrl, beamline.devKey, body, key);
    assert.equal(again.status, 200, again.body);
    assert.equal(again.json()["id"], retry.json()["id"], "both retries carry the one stored completion");

    const other = await post(beamline.baseUrl, beamline.devKey, chat("another body"), key);
    assert.equal(other.status, 422, other.body);
    assert.equal(other.json().error!["code"], "BL_IDEMPOTENCY_KEY_REUSED");

    await waitFor(() => countOn(beamline.nc, StreamNames.usage, `bl.usage.*.${requestId}`), {
      what: `the usage record of ${requestId}`,
    });
    assert.equal(await countOn(beamline.nc, StreamNames.requests, `bl.req.*.${requestId}.accepted`), 1);
    assert.equal(await countOn(beamline.nc, StreamNames.requests, `bl.req.*.${requestId}.attempt.>`), 1);
    assert.equal(await countOn(beamline.nc, StreamNames.usage, `bl.usage.*.${requestId}`), 1);
  });

  test("a keyed retry through another gateway while the original streams waits and gets the whole answer as a stream", async () => {
    const key = `stream-${Date.now()}`;
    const body = chat("stream me a long answer please", true);
    const original = post(beamline.baseUrl, beamline.devKey, body, key);
    // Retry through the other gateway as soon as the original is accepted, while it streams.
    const requestId = idempotentRequestId("dev", key);
    await waitFor(() => countOn(beamline.nc, StreamNames.requests, `bl.req.dev.${requestId}.accepted`), {
      what: "the streamed original to be accepted",
    });
    const stillStreaming = await countOn(
      beamline.nc,
      StreamNames.requests,
      `bl.req.dev.${requestId}.terminal`,
    );
    const retried = await post(secondUrl, beamline.devKey, body, key);
    const first = await original;
    assert.equal(first.status, 200, first.body);
    assert.equal(retried.status, 200, retried.body);
    assert.equal(retried.headers.get("x-request-id"), requestId);
    assert.equal(first.headers.get("x-request-id"), requestId);
    figure(`streamed original still running when the retry arrived: ${stillStreaming === 0}`);
    assert.match(retried.headers.get("content-type") ?? "", /text\/event-stream/);
    const text = (sse: string) =>
      sseData(sse)
        .filter(
          (d): d is { choices: Array<{ delta?: { content?: string } }> } =>
            typeof d === "object" && d !== null,
        )
        .map((d) => d.choices?.map((c) => c.delta?.content ?? "").join("") ?? "")
        .join("");
    assert.ok(text(first.body).length > 0);
    assert.equal(text(retried.body), text(first.body), "the retry streams the original's answer");
    const id = first.headers.get("x-request-id")!;
    await waitFor(() => countOn(beamline.nc, StreamNames.usage, `bl.usage.*.${id}`), {
      what: `the usage record of ${id}`,
    });
    assert.equal(await countOn(beamline.nc, StreamNames.requests, `bl.req.*.${id}.attempt.>`), 1);
    assert.equal(await countOn(beamline.nc, StreamNames.usage, `bl.usage.*.${id}`), 1);
  });

  test("a stopped NATS: readyz not ready, 503 'not stored' at once; after the restart ready again and serving, without restarting Beamline", async () => {
    assert.equal(await readyStatus(beamline.baseUrl), 200);
    const killed = performance.now();
    await beamline.server.kill();
    await waitFor(async () => (await readyStatus(beamline.baseUrl)) === 503, {
      what: "/readyz to say not ready while NATS is down",
    });
    figure(`stopped: readyz not ready after ${Math.round(performance.now() - killed)} ms`);
    const refused = await post(
      beamline.baseUrl,
      beamline.devKey,
      chat("while NATS is down"),
      `down-${Date.now()}`,
    );
    figure(`stopped: 503 after ${Math.round(refused.ms)} ms`);
    assert.equal(refused.status, 503, refused.body);
    assert.ok(refused.ms < SLACK_MS, `503 took ${refused.ms} ms`);
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    const error = refused.json().error!;
    assert.equal(error["code"], "BL_NATS_UNAVAILABLE");
    assert.equal(error["stored"], "no");
    assert.equal(error["request_id"], refused.headers.get("x-request-id"));
    assert.match(String(error["message"]), /was not stored/);

    const restarted = performance.now();
    await beamline.server.restart();
    figure(`stopped: nats-server back after ${Math.round(performance.now() - restarted)} ms`);
    const serverUp = performance.now();
    await waitFor(async () => (await readyStatus(beamline.baseUrl)) === 200, {
      what: "/readyz to say ready again once NATS is back",
      timeoutMs: 30_000,
    });
    figure(`stopped: readyz ready ${Math.round(performance.now() - serverUp)} ms after the server was up`);
    await waitFor(
      async () => (await post(beamline.baseUrl, beamline.devKey, chat("after the outage"))).status === 200,
      {
        what: "a request to succeed after NATS came back",
        timeoutMs: 30_000,
      },
    );
    figure(`stopped: first 200 ${Math.round(performance.now() - serverUp)} ms after the server was up`);
    // The refused request was never stored: nothing runs or is billed for it.
    const refusedId = refused.headers.get("x-request-id")!;
    assert.equal(await countOn(beamline.nc, StreamNames.requests, `bl.req.*.${refusedId}.>`), 0);
  });

  test("the log is the record afterwards: billing reconciles, audit verifies", async () => {
    await assertBillingReconciles(beamline.server.url);
    await assertAuditVerifies(beamline.server.url, beamline.config.dataDir);
  });
});
