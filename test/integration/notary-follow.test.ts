import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { verifyAudit } from "../../replay/index.js";
import { connectNats } from "../../src/nats/connect.js";
import { loadNotaryKey, type NotaryKey, readLastCheckpoint, startNotary } from "../../src/notary/index.js";
import { createLogger } from "../../src/observability/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { type NatsServer, startNatsServer } from "../support/nats-server.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../support/topology.js";
import { waitFor } from "../support/wait.js";

const SILENT = createLogger({ level: "silent" });

/**
 * The notary shares its process (and event loop) with the request path in an all-roles
 * Beamline, so how it reads matters as much as what it writes: it follows each stream live
 * and gives the loop back while it hashes a backlog.
 */
describe("the notary follows its streams live", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let dir: string;
  let key: NotaryKey;

  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: [server.url], name: "notary-follow-test" });
    await applyTopology(nc, beamlineTopology(SHORT_LIVED_TOPOLOGY_SETTINGS));
    dir = await mkdtemp(join(tmpdir(), "bl-notary-follow-"));
    key = await loadNotaryKey({ dataDir: dir }, { create: true });
  });

  after(async () => {
    await nc.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** A notary on one stream with these timings. */
  const notaryOn = (
    stream: string,
    timing: { checkpointIntervalMs: number; checkpointMaxMessages: number; pollIntervalMs: number },
  ) => startNotary({ nc, log: SILENT, key, now: () => new Date(), ...timing, streams: [stream] });

  /** Waits until the stream's last checkpoint covers `seq`. */
  const checkpointedTo = (stream: string, seq: number, timeoutMs: number) =>
    waitFor(async () => ((await readLastCheckpoint(nc, stream))?.checkpoint.lastSeq ?? 0) >= seq, {
      what: `${stream} to be checkpointed up to sequence ${seq}`,
      timeoutMs,
    });

  const publish = async (subject: string, count: number): Promise<number> => {
    const js = jetstream(nc);
    let last = 0;
    // In flights of 500: quick, and bounded.
    for (let from = 0; from < count; from += 500) {
      const acks = await Promise.all(
        Array.from({ length: Math.min(500, count - from) }, (_, i) => {
          const h = natsHeaders();
          h.set("bl-type", "test.fact");
          return js.publish(subject, JSON.stringify({ i: from + i, pad: "x".repeat(600) }), { headers: h });
        }),
      );
      last = Math.max(last, ...acks.map((ack) => ack.seq));
    }
    return last;
  };

  it("folds a 20,000-message backlog in full, in checkpoints closed by count", async () => {
    const lastSeq = await publish("bl.health.mock.backlog", 20_000);
    const notary = await notaryOn("BL_HEALTH", {
      checkpointIntervalMs: 60_000,
      checkpointMaxMessages: 5_000,
      pollIntervalMs: 100,
    });
    try {
      await checkpointedTo("BL_HEALTH", lastSeq, 60_000);
    } finally {
      await notary.stop();
    }
    const [result] = await verifyAudit(nc, {
      publicKey: key.publicKey,
      keyId: key.keyId,
      streams: ["BL_HEALTH"],
      now: new Date(),
    });
    assert.equal(result!.finding, null);
    assert.equal(result!.coveredTo, lastSeq);
  });

  it("reads a stream with one consumer for as long as it runs, however many messages come", async () => {
    let created = 0;
    const advisories = nc.subscribe("$JS.EVENT.ADVISORY.CONSUMER.CREATED.BL_USAGE.>", {
      callback: () => {
        created++;
      },
    });
    await nc.flush();
    const notary = await notaryOn("BL_USAGE", {
      checkpointIntervalMs: 200,
      checkpointMaxMessages: 10_000,
      pollIntervalMs: 50,
    });
    let seq = 0;
    try {
      // 40 messages over about a second: a reader polling every 50 ms saw new messages at
      // nearly every poll, and made (and deleted) a consumer each time.
      for (let i = 0; i < 40; i++) {
        seq = await publish(`bl.usage.acme.r${i}`, 1);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await checkpointedTo("BL_USAGE", seq, 5_000);
    } finally {
      await notary.stop();
      await nc.flush();
      advisories.unsubscribe();
    }
    // One; an ordered consumer may recreate itself once if a loaded machine stalls the
    // process past its heartbeats. The polling notary made 20 here.
    assert.ok(created >= 1 && created <= 2, `the notary created ${created} consumers`);
  });

  it("folds a new message as it is stored and closes its checkpoint by age, with nothing after it", async () => {
    const notary = await notaryOn("BL_CONFIG", {
      checkpointIntervalMs: 300,
      checkpointMaxMessages: 10_000,
      pollIntervalMs: 50,
    });
    try {
      for (let round = 0; round < 3; round++) {
        const seq = await publish(`bl.cfg.test.live${round}`, 1);
        const written = Date.now();
        await checkpointedTo("BL_CONFIG", seq, 5_000);
        // Closed by the age check (300 ms) soon after, not at the next poll of a snapshot read.
        const tookMs = Date.now() - written;
        assert.ok(tookMs < 3_000, `the checkpoint came ${tookMs} ms after the message`);
      }
    } finally {
      await notary.stop();
    }
  });
});
