import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { openQuotaKv, projectQuota, readProjectedQuota } from "../../projections/index.js";
import { QuotaLedger, QuotaLog } from "../../src/admission/index.js";
import {
  type BeamlineEvent,
  configSubject,
  makeEvent,
  quotaSubject,
  RequestSlots,
  requestSubject,
  SubjectRoots,
  usageSubject,
} from "../../src/events/index.js";
import { ackFloorReached, EventStore, StreamNames } from "../../src/nats/index.js";
import { emptyQuotaState, quotaLimitsSchema } from "../../src/quotas/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";
import { addLaggingDirectReplica } from "../support/lagging-replica.js";
import { createTestTenant, signedStore } from "../support/signing.js";
import { pricedCatalog } from "../support/test-catalog.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../support/topology.js";

/**
 * Direct gets are answered by any replica of a stream, and nats-server lets a follower answer
 * them while it lags (after a stall, or once 90 % synchronised after a restart). The cluster
 * tier once ended with a reservation never settled: billing's catch-up read was answered
 * short, and it concluded "this request reserved nothing" (issue 13). Here a mirror that holds
 * only some subjects and answers the stream's direct gets plays that replica, on one server,
 * so every conclusion drawn from absence is put to it about half of the time.
 */

const TENANT = "lagging";
const catalog = pricedCatalog("test-1");
const model = catalog.resolve("priced")!;
const limits = { tenant: quotaLimitsSchema.parse({ spendPerDayUsd: 10 }) };
const ROUNDS = 20;

function context(requestId: string) {
  return { tenant: TENANT, requestId, correlationId: requestId };
}

function accepted(requestId: string): BeamlineEvent {
  return makeEvent(
    "request.accepted",
    `${requestId}:accepted`,
    context(requestId),
    {
      request: { model: "priced", messages: [{ role: "user", content: "hi" }] },
      frontDoor: "nats",
      stream: false,
    },
    new Date(),
  );
}

function completed(requestId: string): BeamlineEvent {
  return makeEvent(
    "request.completed",
    `${requestId}:terminal`,
    context(requestId),
    {
      provider: "mock",
      model: "priced",
      usage: { promptTokens: 5, completionTokens: 5, cachedTokens: 0 },
      attempts: 1,
      quotaReserved: true,
    },
    new Date(),
  );
}

describe("conclusions from absence while a replica lags behind direct gets", () => {
  let server: NatsServer;
  let nc: NatsConnection;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    await applyTopology(nc, beamlineTopology(SHORT_LIVED_TOPOLOGY_SETTINGS));
    // Each stream gets a replica that holds only what `holds` names: settlements of the quota
    // log (reservations are "not there yet"), one seed message of the others.
    const replicas = [
      {
        stream: StreamNames.quota,
        holds: `${SubjectRoots.quota}.*.*.settled`,
        seed: quotaSubject("seed", "seed", "settled"),
      },
      { stream: StreamNames.usage, seed: usageSubject("seed", "seed") },
      { stream: StreamNames.config, seed: configSubject("tenant", "seed") },
      { stream: StreamNames.requests, seed: requestSubject("seed", "seed", RequestSlots.accepted) },
    ];
    for (const { stream, holds, seed } of replicas) {
      await addLaggingDirectReplica(nc, { stream, holds: holds ?? seed, seed });
    }
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  test("billing settles every reservation another instance made", async () => {
    const worker = new QuotaLedger({ nc, clock: { now: () => Date.now() }, reservationTtlMs: 60_000 });
    const billing = new QuotaLedger({ nc, clock: { now: () => Date.now() }, reservationTtlMs: 60_000 });
    const log = new QuotaLog(nc);
    let directReadsShort = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const requestId = `settle-${i}`;
      const before = await log.catchUpConfirmed(emptyQuotaState(TENANT));
      const admitted = await worker.admit({
        cause: accepted(requestId),
        limits,
        promptTokens: 10,
        maxTokens: 10,
        candidate: { provider: "mock", model },
        catalogVersion: catalog.version,
      });
      assert.equal(admitted.admitted, true);
      // What a direct read alone would have told billing.
      if (!(await log.catchUp(before)).reservations[requestId]) directReadsShort += 1;
      assert.equal(await billing.settle(completed(requestId), catalog), true, `${requestId} is settled`);
    }
    assert.ok(
      directReadsShort > 0,
      "the lagging replica answered some direct reads (else this test proves nothing)",
    );

    const settled: string[] = [];
    for await (const { event } of log.readAfterConfirmed(TENANT, 0)) {
      if (event.type === "quota.settled") settled.push(event.requestId);
    }
    assert.equal(settled.length, ROUNDS, "one settlement per reservation");
    const state = await log.rebuild(TENANT);
    assert.deepEqual(state.reservations, {}, "no reservation is left held");
    console.log(`# figure: ${directReadsShort} of ${ROUNDS} direct catch-ups missed the new reservation`);
  });

  test("the quota projector never acknowledges an event its catch-up did not reach", async () => {
    const kv = await openQuotaKv(nc);
    const worker = new QuotaLedger({ nc, clock: { now: () => Date.now() }, reservationTtlMs: 60_000 });
    const log = new QuotaLog(nc);
    for (let i = 0; i < ROUNDS; i++) {
      await worker.admit({
        cause: accepted(`project-${i}`),
        limits,
        promptTokens: 10,
        maxTokens: 10,
        candidate: { provider: "mock", model },
        catalogVersion: catalog.version,
      });
      const sequence = await log.lastSequence(TENANT);
      await projectQuota(kv, log, TENANT, sequence);
      const projected = await readProjectedQuota(kv, TENANT);
      assert.equal(projected?.seq, sequence, `the projection reached sequence ${sequence}`);
    }
  });

  test("an ordered fold's window waits for an event held elsewhere", async () => {
    const jsm = await jetstreamManager(nc);
    const filter = `${SubjectRoots.usage}.${TENANT}.>`;
    await jsm.consumers.add(StreamNames.usage, {
      durable_name: "held-elsewhere",
      ack_policy: AckPolicy.Explicit,
      filter_subject: filter,
    });
    const js = jetstream(nc);
    await js.publish(usageSubject(TENANT, "held"), new Uint8Array([1]));
    const later = await js.publish(usageSubject(TENANT, "later"), new Uint8Array([2]));
    // One instance holds the first record (unacknowledged); this one has folded the second.
    const delivered = await (await js.consumers.get(StreamNames.usage, "held-elsewhere")).fetch({
      max_messages: 2,
    });
    const messages = [];
    for await (const message of delivered) messages.push(message);
    assert.equal(messages.length, 2);
    messages[1]!.ack();
    await nc.flush();
    const inOrder = ackFloorReached(jsm, StreamNames.usage, "held-elsewhere", filter);
    let directMisses = 0;
    for (let i = 0; i < ROUNDS; i++) {
      assert.equal(await inOrder(later.seq), false, "a window above a held event waits for it");
      const { ack_floor } = await jsm.consumers.info(StreamNames.usage, "held-elsewhere");
      const direct = await jsm.direct.getMessage(StreamNames.usage, {
        seq: ack_floor.stream_seq + 1,
        next_by_subj: filter,
      });
      if (!direct) directMisses += 1;
    }
    assert.ok(
      directMisses > 0,
      "the lagging replica answered some direct reads (else this test proves nothing)",
    );
    messages[0]!.ack();
    await nc.flush();
    await waitFor(async () => inOrder(later.seq), {
      what: "the window to be in order once the held event is acknowledged",
    });
  });

  test("a tenant created a moment ago is known to the checks that decide from the log", async () => {
    const store = signedStore(nc);
    let directMisses = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const tenant = `fresh-${i}`;
      await createTestTenant(store, tenant);
      const subject = configSubject("tenant", tenant);
      if (!(await store.readFirst(StreamNames.config, subject))) directMisses += 1;
      // The worker's envelope check, when its tenant view has not caught up yet.
      assert.equal((await store.readFirstTrusted(StreamNames.config, subject))?.tenant, tenant);
      // The admin API's "create it first" check.
      assert.ok(await store.readLast(StreamNames.config, subject, { fromLeader: true }));
    }
    assert.ok(
      directMisses > 0,
      "the lagging replica answered some direct reads (else this test proves nothing)",
    );
    store.close();
  });

  test("a slot known to be written is read from the stream leader", async () => {
    const store = new EventStore(nc);
    let directMisses = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const requestId = `slot-${i}`;
      const subject = requestSubject(TENANT, requestId, RequestSlots.accepted);
      await store.append(subject, accepted(requestId), { once: true });
      const again = await store.append(subject, accepted(requestId), { once: true });
      assert.equal(again.duplicate, true);
      if (!(await store.readLast(StreamNames.requests, subject))) directMisses += 1;
      const stored = await store.readLast(StreamNames.requests, subject, { fromLeader: true });
      assert.equal(stored?.requestId, requestId, "the leader has the stored event");
    }
    assert.ok(
      directMisses > 0,
      "the lagging replica answered some direct reads (else this test proves nothing)",
    );
    store.close();
  });
});
