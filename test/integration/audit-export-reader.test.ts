import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { openTenantExport } from "../../replay/index.js";
import {
  apiKeySubject,
  configSubject,
  legacyApiKeySubject,
  makeEvent,
  requestSubject,
} from "../../src/events/index.js";
import { connectNats } from "../../src/nats/connect.js";
import type { EventStore } from "../../src/nats/event-store.js";
import { StreamNames } from "../../src/nats/names.js";
import { bootstrapDevTenant, openTenancyAdmin } from "../../src/tenancy/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { type NatsServer, startNatsServer, waitFor } from "../support/index.js";
import { signedStore } from "../support/signing.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../support/topology.js";

const now = new Date("2026-12-01T09:00:00Z");

describe("API key subjects and the export reader", { timeout: 60_000 }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let store: EventStore;
  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: [server.url], name: "audit-export-reader-test" });
    await applyTopology(nc, beamlineTopology(SHORT_LIVED_TOPOLOGY_SETTINGS));
    store = signedStore(nc);
  });
  after(async () => {
    store.close();
    await nc.close();
    await server.stop();
  });

  const subjectHolds = async (subject: string) => {
    const jsm = await jetstreamManager(nc);
    return (await jsm.direct.getMessage(StreamNames.config, { last_by_subj: subject })) !== null;
  };

  it("issues and revokes keys on bl.cfg.apikey.<tenant>.<keyId>", async () => {
    const admin = await openTenancyAdmin(store, () => now);
    await admin.createTenant({ id: "acme" });
    const issued = await admin.issueKey("acme", {});
    assert.ok(await subjectHolds(apiKeySubject("acme", issued.keyId)));
    assert.equal(await subjectHolds(legacyApiKeySubject(issued.keyId)), false);
    assert.equal((await admin.revokeKey(issued.keyId)).status, "revoked");
  });

  it("treats a dev key issued on its legacy subject as issued, and writes no second issue", async () => {
    const keyId = "key_dev_default";
    await store.append(
      legacyApiKeySubject(keyId),
      makeEvent(
        "apikey.issued",
        `apikey.issued:${keyId}`,
        { tenant: "dev", requestId: "", correlationId: "bootstrap" },
        { keyId, keyHash: "b".repeat(64), keyPrefix: "bl-old" },
        now,
      ),
    );
    const result = await bootstrapDevTenant(store, { now });
    assert.equal(result.source, "unknown");
    assert.equal(await subjectHolds(apiKeySubject("dev", keyId)), false);
  });

  it("stops reading and releases its consumers when the reader aborts", async () => {
    await store.append(
      configSubject("tenant", "big"),
      makeEvent(
        "tenant.created",
        "tenant.created:big",
        { tenant: "big", requestId: "", correlationId: "big" },
        { name: "big" },
        now,
      ),
    );
    const reason = "x".repeat(900);
    for (let n = 0; n < 1500; n++) {
      const requestId = `req_${n}`;
      const context = { tenant: "big", requestId, correlationId: requestId };
      const failed = makeEvent(
        "request.failed",
        `${requestId}:terminal`,
        context,
        {
          stage: "route",
          attempts: 0,
          error: { code: "BL_INTERNAL", message: reason, httpStatus: 500, type: "api_error" },
        },
        now,
      );
      void store.append(requestSubject("big", requestId, "terminal"), failed);
    }
    const jsm = await jetstreamManager(nc);
    await waitFor(async () => (await jsm.streams.info(StreamNames.requests)).state.messages >= 1500, {
      what: "BL_REQUESTS to hold 1,500 events",
    });

    const abort = new AbortController();
    const chunks = await openTenantExport(nc, { tenant: "big" }, { signal: abort.signal });
    const first = await chunks.next();
    assert.equal(first.done, false);
    abort.abort();
    // 1,500 lines of ~1.2 KB are ~28 chunks: an export that ignored the abort would go on.
    assert.equal((await chunks.next()).done, true);
    // The read ended early, and its ordered consumer is deleted rather than left on the server
    // until its inactivity threshold.
    const ephemeral = (await jsm.consumers.list(StreamNames.requests).next()).filter(
      (info) => info.config.durable_name === undefined,
    );
    assert.deepEqual(
      ephemeral.map((info) => info.name),
      [],
      "no ordered consumer of the export is left behind",
    );
  });
});
