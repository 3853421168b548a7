import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { readRequestHistory, readTenantUsage } from "../../replay/index.js";
import { makeEvent, RequestSlots, requestSubject } from "../../src/events/index.js";
import { newRequestId } from "../../src/gateway/request-id.js";
import { connectNats } from "../../src/nats/connect.js";
import type { EventStore } from "../../src/nats/event-store.js";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";
import { assertLogIsTheRecord, type LogKeeper, startLogKeeper } from "../support/log-checks.js";
import { createTestTenant, signedStore } from "../support/signing.js";
import { type BeamlineProcess, startBeamlineProcess } from "../support/worker-process.js";

/**
 * Kill the worker between any two steps: on restart the request completes exactly once —
 * one decision, one attempt, one terminal event, one usage record. The worker is killed
 * (SIGKILL, via failpoints) before its first write, after each of its writes (decision,
 * attempt, terminal — the last before it acked), and after the provider answered but before
 * the attempt was stored; billing before it writes and after it wrote but before it acked.
 */
const FAILPOINTS = [
  "worker.before-handle",
  "worker.after-decided",
  "execute.after-provider-call",
  "worker.after-attempt",
  "worker.after-handle",
  "billing.before-handle",
  "billing.after-handle",
];

const WORKER_ROLES = "worker,billing";

/**
 * A worker process as the deployment runs it (its signing key and master key, metrics on a free
 * port), with `failpoints` armed.
 */
function startWorker(natsUrl: string, failpoints: string): BeamlineProcess {
  return startBeamlineProcess(WORKER_ROLES, {
    NATS_URL: natsUrl,
    BEAMLINE_ACK_WAIT_MS: "1000",
    BEAMLINE_FAILPOINTS: failpoints,
  });
}

describe("kill between steps", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let store: EventStore;
  let keeper: LogKeeper;

  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url, name: "fault-test" });
    store = signedStore(nc);
    keeper = await startLogKeeper(server.url);
  });
  after(async () => {
    await keeper?.stop();
    await nc?.close();
    await server?.stop();
  });

  FAILPOINTS.forEach((point, index) => {
    test(`crash at ${point} → the request completes exactly once`, async () => {
      const tenant = `fault${index}`;
      const requestId = newRequestId();
      const crashing = startWorker(server.url, point);
      try {
        await waitFor(() => crashing.output().includes("Beamline is running"), {
          what: `worker with failpoint ${point} to start`,
          timeoutMs: 30_000,
        });
        const accepted = makeEvent(
          "request.accepted",
          `${requestId}:${RequestSlots.accepted}`,
          { tenant, requestId, correlationId: requestId },
          {
            request: { model: "mock-small", messages: [{ role: "user", content: "crash me" }] },
            frontDoor: "nats",
            stream: false,
          },
          new Date(),
        );
        await createTestTenant(store, tenant);
        await store.append(requestSubject(tenant, requestId, RequestSlots.accepted), accepted, {
          once: true,
        });
        await waitFor(() => crashing.child.exitCode !== null || crashing.child.signalCode !== null, {
          what: `failpoint ${point} to fire`,
          timeoutMs: 30_000,
        });
        assert.equal(crashing.child.signalCode, "SIGKILL", crashing.output());
      } finally {
        await crashing.stop();
      }

      const recovering = startWorker(server.url, "");
      try {
        await waitFor(async () => (await readTenantUsage(nc, tenant)).length === 1, {
          what: `usage record after recovering from ${point}`,
          timeoutMs: 30_000,
        });
        const jsm = await jetstreamManager(nc);
        for (const name of [ConsumerNames.worker, ConsumerNames.billing]) {
          await waitFor(
            async () => {
              const info = await jsm.consumers.info(StreamNames.requests, name);
              return info.num_pending === 0 && info.num_ack_pending === 0;
            },
            { what: `consumer ${name} to settle after ${point}`, timeoutMs: 30_000 },
          );
        }
      } finally {
        await recovering.stop();
      }

      const history = await readRequestHistory(nc, tenant, requestId);
      assert.deepEqual(
        history.map((h) => h.event.type),
        ["request.accepted", "route.decided", "attempt.succeeded", "request.completed"],
        `history after a crash at ${point}`,
      );
      const usage = await readTenantUsage(nc, tenant);
      assert.equal(usage.length, 1, "exactly one usage record");
      assert.equal(usage[0]!.event.requestId, requestId);
    });
  });

  test("afterwards the log is still the record: billing reconciles and audit verify passes", async () => {
    await assertLogIsTheRecord(server.url, keeper);
  });
});
