import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { readRequestHistory, readTenantUsage } from "../../replay/index.js";
import { makeEvent, RequestSlots, requestSubject } from "../../src/events/index.js";
import { newRequestId } from "../../src/gateway/request-id.js";
import { connectNats } from "../../src/nats/connect.js";
import type { EventStore } from "../../src/nats/event-store.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { type MockProvider, startMockProvider } from "../../src/providers/index.js";
import { waitForConsumerCaughtUp } from "../support/beamline.js";
import { type CountingUpstream, startCountingUpstream } from "../support/counting-upstream.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";
import { assertLogIsTheRecord, type LogKeeper, startLogKeeper } from "../support/log-checks.js";
import { createTestTenant, signedStore } from "../support/signing.js";
import { tearDown } from "../support/teardown.js";
import { type BeamlineProcess, startBeamlineProcess } from "../support/worker-process.js";

/**
 * Retry-safety across crashes with two live worker instances (issue 3, item 6). Instance A
 * dies (SIGKILL) right after its provider call answered, before it stored the attempt; the
 * request is redelivered to instance B, which calls the provider again. The provider saw the
 * request twice (once from each instance, counted on each instance's proxy), yet one attempt
 * per attempt number, one terminal event and one usage record are stored.
 * test/fault/kill-between-steps.test.ts covers every other crash point with one instance.
 */

const TENANT = "crash2";
const MAX_REQUESTS = 12;

describe("a worker dies mid-call; another live instance retries the request", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let store: EventStore;
  let mock: MockProvider;
  const upstreams: CountingUpstream[] = [];
  const workers: BeamlineProcess[] = [];
  let keeper: LogKeeper;

  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url, name: "crash-retry-test" });
    store = signedStore(nc);
    mock = await startMockProvider();
    for (const failpoints of ["execute.after-provider-call", ""]) {
      const upstream = await startCountingUpstream(mock.url);
      upstreams.push(upstream);
      workers.push(
        startBeamlineProcess("worker,billing", {
          NATS_URL: server.url,
          BEAMLINE_MOCK_URL: upstream.url,
          BEAMLINE_ACK_WAIT_MS: "1000",
          BEAMLINE_FAILPOINTS: failpoints,
        }),
      );
    }
    for (const [i, worker] of workers.entries()) {
      await waitFor(() => worker.output().includes("Beamline is running"), {
        what: `worker ${i} to start`,
        timeoutMs: 30_000,
      });
    }
    keeper = await startLogKeeper(server.url);
  });

  after(() =>
    tearDown(
      async () => keeper?.stop(),
      () => Promise.all(workers.map((worker) => worker.stop())),
      () => Promise.all(upstreams.map((upstream) => upstream.close())),
      async () => mock?.close(),
      async () => nc?.close(),
      async () => server?.stop(),
    ),
  );

  async function accept(marker: string): Promise<string> {
    // Write-once: the first call creates the tenant (the workers have applied the streams by then).
    await createTestTenant(store, TENANT);
    const requestId = newRequestId();
    const accepted = makeEvent(
      "request.accepted",
      `${requestId}:${RequestSlots.accepted}`,
      { tenant: TENANT, requestId, correlationId: requestId },
      {
        request: { model: "mock-small", messages: [{ role: "user", content: marker }] },
        frontDoor: "nats",
        stream: false,
      },
      new Date(),
    );
    await store.append(requestSubject(TENANT, requestId, RequestSlots.accepted), accepted, { once: true });
    return requestId;
  }

  const hasTerminal = async (requestId: string) =>
    (await readRequestHistory(nc, TENANT, requestId)).some(
      (h) => h.event.type === "request.completed" || h.event.type === "request.failed",
    );

  test("the provider is called twice, one attempt, one terminal and one usage event are stored", async () => {
    const [crashing, surviving] = workers as [BeamlineProcess, BeamlineProcess];
    const [crashingUpstream, survivingUpstream] = upstreams as [CountingUpstream, CountingUpstream];
    // Requests one at a time until the crashing instance takes one (the two share a consumer,
    // so which instance gets a request is the server's choice).
    const sent: Array<{ requestId: string; marker: string }> = [];
    let crashed: { requestId: string; marker: string } | undefined;
    for (let i = 0; i < MAX_REQUESTS && !crashed; i++) {
      const marker = `crash probe ${i}`;
      const requestId = await accept(marker);
      sent.push({ requestId, marker });
      await waitFor(async () => crashing.hasExited() || (await hasTerminal(requestId)), {
        what: `request ${i} to end or the crashing worker to die`,
        timeoutMs: 30_000,
      });
      if (crashing.hasExited()) crashed = { requestId, marker };
    }
    assert.ok(crashed, `the crashing worker took none of ${MAX_REQUESTS} requests`);
    assert.equal(crashing.child.signalCode, "SIGKILL", crashing.output());
    assert.match(crashing.output(), /failpoint execute\.after-provider-call/);

    // The retry waits out the dead instance's ack wait, then runs the whole request again on
    // the survivor: on a 2-core machine running another test file beside this one that has
    // taken over 30 s once (a fresh-clone CI run), so the bound is a minute.
    const usageRecords = await waitFor(
      async () => {
        const records = await readTenantUsage(nc, TENANT);
        return records.length >= sent.length ? records : undefined;
      },
      { what: "a usage record for every request, the crashed one included", timeoutMs: 60_000 },
    );
    assert.equal(usageRecords.length, sent.length, "one usage record per request, none twice");
    for (const name of [ConsumerNames.worker, ConsumerNames.billing]) {
      await waitForConsumerCaughtUp(nc, StreamNames.requests, name, 30_000);
    }

    assert.equal(surviving.hasExited(), false, "the retry ran on the instance that was live all along");

    // At-least-once towards the provider: the dead instance's call and the survivor's retry.
    assert.deepEqual(
      crashingUpstream.callsFor(crashed.marker).map((c) => c.status),
      [200],
      "the crashing instance called the provider once and died before storing the answer",
    );
    assert.deepEqual(
      survivingUpstream.callsFor(crashed.marker).map((c) => c.status),
      [200],
      "the surviving instance called the provider again",
    );

    // Exactly once in the log: one attempt per attempt number, one terminal, one usage.
    const history = await readRequestHistory(nc, TENANT, crashed.requestId);
    assert.deepEqual(
      history.map((h) => h.event.type),
      ["request.accepted", "route.decided", "attempt.succeeded", "request.completed"],
    );
    const usage = await readTenantUsage(nc, TENANT);
    assert.equal(usage.filter((u) => u.event.requestId === crashed.requestId).length, 1);
    // Every other request was served once, by the survivor, and billed once.
    for (const { requestId, marker } of sent) {
      assert.equal(usage.filter((u) => u.event.requestId === requestId).length, 1, `usage of ${marker}`);
      if (requestId === crashed.requestId) continue;
      assert.equal(crashingUpstream.callsFor(marker).length + survivingUpstream.callsFor(marker).length, 1);
    }
  });

  test("afterwards the log is still the record: billing reconciles and audit verify passes", async () => {
    await assertLogIsTheRecord(server.url, keeper);
  });
});
