import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { QuotaLedger, QuotaLog } from "../../src/admission/index.js";
import { type BeamlineEvent, makeEvent } from "../../src/events/index.js";
import { StreamNames } from "../../src/nats/names.js";
import { retryTransientStart } from "../../src/nats/start-retry.js";
import { createLogger } from "../../src/observability/index.js";
import { quotaLimitsSchema } from "../../src/quotas/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { type NatsCluster, startNatsCluster } from "../support/index.js";
import { pricedCatalog } from "../support/test-catalog.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../support/topology.js";

/**
 * Quota admission while the quota log's stream leader is lost (issue 13): the write waits out
 * the election and lands once, instead of spending its decide-and-write rounds on a stream with
 * no leader and handing the request back to the consumer's redelivery backoff (which answered
 * the client seconds after the log served again).
 */

const TENANT = "failover";
const catalog = pricedCatalog("test-1");
const model = catalog.resolve("priced")!;
const limits = { tenant: quotaLimitsSchema.parse({ spendPerDayUsd: 10 }) };

function accepted(requestId: string): BeamlineEvent {
  return makeEvent(
    "request.accepted",
    `${requestId}:accepted`,
    { tenant: TENANT, requestId, correlationId: requestId },
    {
      request: { model: "priced", messages: [{ role: "user", content: "hi" }] },
      frontDoor: "nats",
      stream: false,
    },
    new Date(),
  );
}

describe("quota admission across a quota log leader failover (3-node cluster)", () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;

  before(async () => {
    cluster = await startNatsCluster({ size: 3 });
    nc = await connect({ servers: cluster.urls, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    // A new cluster elects its meta leader first: stream creation waits for it, as a role's start does.
    await retryTransientStart(
      () => applyTopology(nc, beamlineTopology({ ...SHORT_LIVED_TOPOLOGY_SETTINGS, replicas: 3 })),
      { what: "the test's topology", windowMs: 60_000, log: createLogger({ level: "silent" }) },
    );
  });
  after(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  test("an admission during the election waits for the new leader and reserves once", async () => {
    const ledger = new QuotaLedger({ nc, clock: { now: () => Date.now() }, reservationTtlMs: 60_000 });
    const admit = (requestId: string) =>
      ledger.admit({
        cause: accepted(requestId),
        limits,
        promptTokens: 100,
        maxTokens: 100,
        candidate: { provider: "mock", model },
        catalogVersion: catalog.version,
      });
    // Warm: the tenant's state is cached, so the admission below needs only the write.
    assert.equal((await admit("before")).admitted, true);

    const jsm = await jetstreamManager(nc);
    const leaderName = (await jsm.streams.info(StreamNames.quota)).cluster?.leader;
    const leader = cluster.nodes.find((node) => node.name === leaderName);
    assert.ok(leader, `the quota log's leader ${leaderName} is a node of the cluster`);
    await leader.kill();
    const killedAt = Date.now();

    const during = await admit("during");
    assert.equal(during.admitted, true, "admitted once the log has a leader again");
    const newLeader = (await jsm.streams.info(StreamNames.quota)).cluster?.leader;
    assert.ok(newLeader !== undefined && newLeader !== leaderName, "a surviving node leads the log");

    const reserved: string[] = [];
    for await (const { event } of new QuotaLog(nc).readAfter(TENANT, 0)) {
      if (event.type === "quota.reserved") reserved.push(event.requestId);
    }
    assert.deepEqual(reserved, ["before", "during"], "each admission reserved exactly once");
    // The rebuilt state holds both reservations, as the ledger's own does.
    const rebuilt = await new QuotaLog(nc).rebuild(TENANT);
    assert.deepEqual(Object.keys(rebuilt.reservations).sort(), ["before", "during"]);
    console.log(`# figure: admission during the quota log's election took ${Date.now() - killedAt} ms`);

    await leader.restart();
  });
});
