import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { verifyAudit } from "../../replay/index.js";
import { connectNats } from "../../src/nats/connect.js";
import { readStream, type StoredMessage } from "../../src/nats/read-events.js";
import {
  loadNotaryKey,
  type NotaryKey,
  type RunningNotary,
  readLastCheckpoint,
  startNotary,
} from "../../src/notary/index.js";
import { createLogger } from "../../src/observability/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { cleanEnv } from "../support/cli.js";
import { type NatsServer, startNatsServer } from "../support/nats-server.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../support/topology.js";
import { waitFor } from "../support/wait.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SILENT = createLogger({ level: "silent" });

interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `beamline audit verify` as an auditor would: read access and the public key file only. */
function verifyCli(natsUrl: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "audit", "verify", ...args],
      { cwd: REPO_ROOT, env: { ...cleanEnv(), NATS_URL: natsUrl }, encoding: "utf8", timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        resolve({ exitCode: error ? (typeof code === "number" ? code : -1) : 0, stdout, stderr });
      },
    );
  });
}

/** Headers as read back, to publish again as they were. */
function asNatsHeaders(read: StoredMessage["headers"]) {
  if (!read) return undefined;
  const h = natsHeaders();
  for (const [name, values] of read) for (const value of values) h.append(name, value);
  return h;
}

describe("tamper evidence over a real nats-server", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let dir: string;
  let key: NotaryKey;
  let pubkeyFile: string;
  const running: RunningNotary[] = [];

  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: [server.url], name: "audit-tamper-test" });
    await applyTopology(nc, beamlineTopology(SHORT_LIVED_TOPOLOGY_SETTINGS));
    // Request events expire after 2 s here, to watch retention at work.
    const jsm = await jetstreamManager(nc);
    const requests = (await jsm.streams.info("BL_REQUESTS")).config;
    await jsm.streams.update("BL_REQUESTS", {
      ...requests,
      max_age: 2_000_000_000,
      duplicate_window: 1_000_000_000,
    });
    dir = await mkdtemp(join(tmpdir(), "bl-notary-"));
    key = await loadNotaryKey({ dataDir: dir }, { create: true });
    pubkeyFile = join(dir, "notary.pub.pem");
    await writeFile(pubkeyFile, key.publicKey.export({ type: "spki", format: "pem" }).toString());
  });

  after(async () => {
    await Promise.all(running.map((notary) => notary.stop()));
    await nc.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const notary = async (
    stream: string,
    overrides: { checkpointIntervalMs?: number; connection?: NatsConnection } = {},
  ) => {
    const started = await startNotary({
      nc: overrides.connection ?? nc,
      log: SILENT,
      key,
      now: () => new Date(),
      checkpointIntervalMs: overrides.checkpointIntervalMs ?? 100,
      checkpointMaxMessages: 3,
      pollIntervalMs: 20,
      streams: [stream],
    });
    running.push(started);
    return started;
  };

  const publish = async (subject: string, count: number, tag = "fact"): Promise<number[]> => {
    const js = jetstream(nc);
    const seqs: number[] = [];
    for (let i = 0; i < count; i++) {
      const h = natsHeaders();
      h.set("bl-type", "test.fact");
      h.set("bl-tenant", "acme");
      const ack = await js.publish(subject, JSON.stringify({ tag, i }), {
        headers: h,
        msgID: `${subject}:${tag}:${i}`,
      });
      seqs.push(ack.seq);
    }
    return seqs;
  };

  const checkpointedTo = (stream: string, seq: number) =>
    waitFor(async () => ((await readLastCheckpoint(nc, stream))?.checkpoint.lastSeq ?? 0) >= seq, {
      what: `${stream} to be checkpointed up to sequence ${seq}`,
    });

  const stopAll = async () => {
    await Promise.all(running.splice(0).map((n) => n.stop()));
  };

  it("deleting one checkpointed message (JetStream delete-message) fails verify and names it", async () => {
    const seqs = await publish("bl.cfg.test.deleted", 6);
    await notary("BL_CONFIG");
    await checkpointedTo("BL_CONFIG", seqs.at(-1)!);
    await stopAll();
    assert.equal(
      (await verifyCli(server.url, ["--stream", "BL_CONFIG", "--pubkey", pubkeyFile])).exitCode,
      0,
    );

    const jsm = await jetstreamManager(nc);
    await jsm.streams.deleteMessage("BL_CONFIG", seqs[2]!);
    const text = await verifyCli(server.url, ["--stream", "BL_CONFIG", "--pubkey", pubkeyFile]);
    assert.equal(text.exitCode, 1, text.stdout + text.stderr);
    assert.match(text.stdout, new RegExp(`BL_CONFIG: FAILED at sequence ${seqs[2]} \\(missing\\)`));
    const json = await verifyCli(server.url, ["--stream", "BL_CONFIG", "--pubkey", pubkeyFile, "--json"]);
    assert.equal(json.exitCode, 1);
    const report = JSON.parse(json.stdout) as {
      ok: boolean;
      streams: Array<{ finding: { kind: string; seq: number } }>;
    };
    assert.equal(report.ok, false);
    assert.deepEqual(
      { kind: report.streams[0]!.finding.kind, seq: report.streams[0]!.finding.seq },
      { kind: "missing", seq: seqs[2] },
    );
  });

  it("a message deleted before the notary read it is recorded as absent, not as tampering; the tail is reported", async () => {
    const seqs = await publish("bl.quota.acme.r1.reserved", 4);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.deleteMessage("BL_QUOTA", seqs[1]!);
    await notary("BL_QUOTA");
    await checkpointedTo("BL_QUOTA", seqs.at(-1)!);
    await stopAll();
    const late = await publish("bl.quota.acme.r2.reserved", 2);

    const result = await verifyCli(server.url, ["--stream", "BL_QUOTA", "--pubkey", pubkeyFile, "--json"]);
    assert.equal(result.exitCode, 0, result.stdout);
    const [stream] = (JSON.parse(result.stdout) as { streams: Array<Record<string, unknown>> }).streams;
    assert.equal(stream!.absentWhenNotarised, 1);
    assert.equal(stream!.verified, 3);
    assert.deepEqual(stream!.uncovered, {
      fromSeq: late[0],
      toSeq: late[1],
      sequences: 2,
      oldestStoredAt: (stream!.uncovered as { oldestStoredAt: string }).oldestStoredAt,
    });
  });

  /**
   * JetStream only appends: a publish can never land inside a checkpointed range. To put a
   * forged or altered message there, an attacker with stream-admin rights must rewrite the
   * stream (delete it, recreate it, republish history with the forgery, deleting fillers to
   * keep the sequence numbers). That is what these tests do, on the real server.
   */
  const rewrite = async (
    stream: string,
    forge: (
      seq: number,
      original: StoredMessage | undefined,
    ) => { subject: string; data: Uint8Array; headers: StoredMessage["headers"] } | undefined,
  ) => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const history = new Map<number, StoredMessage>();
    for await (const message of readStream(nc, { stream, filters: info.config.subjects! }))
      history.set(message.seq, message);
    await jsm.streams.delete(stream);
    await jsm.streams.add(info.config);
    const js = jetstream(nc);
    for (let seq = 1; seq <= info.state.last_seq; seq++) {
      const message = forge(seq, history.get(seq));
      const ack = message
        ? await js.publish(message.subject, message.data, { headers: asNatsHeaders(message.headers) })
        : await js.publish(info.config.subjects![0]!.replace(">", "filler"), "x");
      assert.equal(ack.seq, seq, "the rewrite keeps every sequence number");
      if (!message) await jsm.streams.deleteMessage(stream, seq);
    }
  };

  it("a rewritten stream with one altered message fails verify at that sequence", async () => {
    const seqs = await publish("bl.usage.acme.r1", 5);
    await notary("BL_USAGE");
    await checkpointedTo("BL_USAGE", seqs.at(-1)!);
    await stopAll();
    await rewrite("BL_USAGE", (seq, original) =>
      original && seq === seqs[3]
        ? { ...original, data: new TextEncoder().encode(JSON.stringify({ tag: "fact", i: 3, costNanos: 1 })) }
        : original,
    );
    const result = await verifyCli(server.url, ["--stream", "BL_USAGE", "--pubkey", pubkeyFile]);
    assert.equal(result.exitCode, 1, result.stdout);
    assert.match(result.stdout, new RegExp(`FAILED at sequence ${seqs[3]} \\(altered\\)`));
  });

  it("a forged message at a sequence that was absent when notarised fails verify as a forged insertion", async () => {
    const seqs = await publish("bl.dead.stage.x", 5);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.deleteMessage("BL_DEAD", seqs[2]!);
    await notary("BL_DEAD");
    await checkpointedTo("BL_DEAD", seqs.at(-1)!);
    await stopAll();
    const template = await jsm.direct.getMessage("BL_DEAD", { seq: seqs[1]! });
    const forgedHeaders = natsHeaders();
    forgedHeaders.set("bl-type", "test.fact");
    forgedHeaders.set("bl-tenant", "acme");
    forgedHeaders.set("Nats-Msg-Id", "forged");
    await rewrite("BL_DEAD", (seq, original) =>
      seq === seqs[2]
        ? { subject: template!.subject, data: template!.data, headers: forgedHeaders }
        : original,
    );
    const result = await verifyCli(server.url, ["--stream", "BL_DEAD", "--pubkey", pubkeyFile, "--json"]);
    assert.equal(result.exitCode, 1, result.stdout);
    const finding = (
      JSON.parse(result.stdout) as { streams: Array<{ finding: { kind: string; seq: number } }> }
    ).streams[0]!.finding;
    assert.deepEqual({ kind: finding.kind, seq: finding.seq }, { kind: "forged-insertion", seq: seqs[2] });
  });

  it("messages removed by the stream's max_age are reported as expired, and verify passes", async () => {
    const seqs = await publish("bl.req.acme.r1.accepted", 3);
    await notary("BL_REQUESTS");
    await checkpointedTo("BL_REQUESTS", seqs.at(-1)!);
    const jsm = await jetstreamManager(nc);
    await waitFor(async () => (await jsm.streams.info("BL_REQUESTS")).state.messages === 0, {
      what: "BL_REQUESTS's 2 s max_age to expire its messages",
    });
    const later = await publish("bl.req.acme.r2.accepted", 1, "later");
    await checkpointedTo("BL_REQUESTS", later[0]!);
    await stopAll();
    const result = await verifyCli(server.url, ["--stream", "BL_REQUESTS", "--pubkey", pubkeyFile]);
    assert.equal(result.exitCode, 0, result.stdout);
    assert.match(result.stdout, /BL_REQUESTS: intact/);
    const expired = Number(/(\d+) expired by retention/.exec(result.stdout)?.[1]);
    assert.ok(expired >= 3, result.stdout);
  });

  it("a notary that crashes resumes from its last checkpoint, and two notaries never fork the chain", async () => {
    const crashing = await connectNats({ servers: [server.url], name: "crashing-notary" });
    const first = await notary("BL_HEALTH", { checkpointIntervalMs: 60_000, connection: crashing });
    const seqs = await publish("bl.health.mock.m", 4);
    // Three make a checkpoint (checkpointMaxMessages); the fourth stays open in memory.
    await checkpointedTo("BL_HEALTH", seqs[2]!);
    await crashing.close();
    await first.stop();
    running.splice(running.indexOf(first), 1);
    assert.equal((await readLastCheckpoint(nc, "BL_HEALTH"))?.checkpoint.lastSeq, seqs[2]);

    const resumedAt = new Date();
    await notary("BL_HEALTH");
    await notary("BL_HEALTH");
    const more = await publish("bl.health.mock.m", 20, "burst");
    await checkpointedTo("BL_HEALTH", more.at(-1)!);
    await stopAll();
    const result = await verifyCli(server.url, ["--stream", "BL_HEALTH", "--pubkey", pubkeyFile, "--json"]);
    assert.equal(result.exitCode, 0, result.stdout);
    const [stream] = (JSON.parse(result.stdout) as { streams: Array<Record<string, unknown>> }).streams;
    assert.equal(stream!.verified, 24);
    assert.equal(stream!.coveredTo, more.at(-1));

    // --since: only the checkpoints written after the restart, the first taken as the anchor.
    const [recent] = await verifyAudit(nc, {
      publicKey: key.publicKey,
      keyId: key.keyId,
      streams: ["BL_HEALTH"],
      since: resumedAt,
      now: new Date(),
    });
    assert.equal(recent!.finding, null);
    assert.equal(recent!.coveredTo, more.at(-1));
    assert.equal(
      recent!.verified,
      more.at(-1)! - seqs[2]!,
      "exactly the messages checkpointed after the restart",
    );
  });

  it("a public key other than the notary's fails every checkpoint as a bad signature", async () => {
    const otherFile = join(dir, "other.pub.pem");
    const { publicKey } = generateKeyPairSync("ed25519");
    await writeFile(otherFile, publicKey.export({ type: "spki", format: "pem" }).toString());
    const result = await verifyCli(server.url, ["--stream", "BL_HEALTH", "--pubkey", otherFile]);
    assert.equal(result.exitCode, 1);
    assert.match(result.stdout, /bad-signature/);
  });
});
