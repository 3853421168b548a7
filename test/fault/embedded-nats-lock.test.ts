import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { adminCredsPath, authFromCredsFile } from "../../src/access/index.js";
import { StreamNames } from "../../src/nats/index.js";
import { isAlive, natsServersOnStore } from "../../src/runtime/process-info.js";
import { TEST_DEV_KEY } from "../support/beamline.js";
import { waitFor } from "../support/wait.js";
import { type BeamlineProcess, startBeamlineProcess } from "../support/worker-process.js";

const ROLES = "gateway,worker,billing,projector";

/** One stored message of BL_REQUESTS: enough to tell two diverged stores apart. */
interface StoredMessage {
  seq: number;
  subject: string;
  digest: string;
}

describe("one embedded nats-server per data folder", () => {
  let dataDir: string;
  let storeDir: string;
  let router: BeamlineProcess;
  let baseUrl: string;
  const started: BeamlineProcess[] = [];

  const startRouter = async (): Promise<{ process: BeamlineProcess; baseUrl: string }> => {
    const proc = startBeamlineProcess(ROLES, {
      BEAMLINE_DATA_DIR: dataDir,
      BEAMLINE_HTTP_PORT: "0",
      BEAMLINE_HTTP_HOST: "127.0.0.1",
      BEAMLINE_DEV_KEY: TEST_DEV_KEY,
    });
    started.push(proc);
    const line = await waitFor(
      () => {
        if (proc.hasExited()) throw new Error(`the router exited:\n${proc.output()}`);
        return proc
          .output()
          .split("\n")
          .find((l) => l.includes("Beamline is running"));
      },
      { what: "the router to say it is running", timeoutMs: 60_000, intervalMs: 100 },
    );
    return { process: proc, baseUrl: (JSON.parse(line) as { httpUrl: string }).httpUrl };
  };

  const ask = async (url: string, content: string): Promise<string> => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_DEV_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content }] }),
    });
    assert.equal(response.status, 200, await response.clone().text());
    await response.json();
    return response.headers.get("x-request-id") ?? "";
  };

  /**
   * Every message of BL_REQUESTS, read from the server the data folder's nats.url names, as the
   * CLI reads it: with the data folder's admin credential (the embedded server runs with auth).
   */
  const storedRequests = async (): Promise<StoredMessage[]> => {
    const url = (await readFile(join(dataDir, "nats.url"), "utf8")).trim();
    const nc = await connect({ servers: url, ...(await authFromCredsFile(adminCredsPath(dataDir))) });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(StreamNames.requests);
      const messages: StoredMessage[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
        const message = await jsm.streams.getMessage(StreamNames.requests, { seq });
        if (!message) continue;
        const digest = createHash("sha256").update(message.data).digest("hex");
        messages.push({ seq: message.seq, subject: message.subject, digest });
      }
      return messages;
    } finally {
      await nc.close();
    }
  };

  const terminalStored = (messages: StoredMessage[], requestId: string) =>
    messages.some((m) => m.subject.endsWith(`.${requestId}.terminal`));

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "bl-embedded-lock-"));
    storeDir = resolve(dataDir, "nats");
    ({ process: router, baseUrl } = await startRouter());
  });

  after(async () => {
    for (const proc of started) await proc.stop();
    // A failed assertion may leave the orphan this test provoked: stop it, it is ours.
    for (const pid of await natsServersOnStore(storeDir)) process.kill(pid, "SIGKILL");
    await rm(dataDir, { recursive: true, force: true });
  });

  it("runs its nats-server with the configured GOGC unless the environment sets one", {
    skip: process.platform !== "linux" && "reads the server's environment from /proc",
  }, async () => {
    const [natsPid] = await natsServersOnStore(storeDir);
    assert.ok(natsPid !== undefined, "the embedded nats-server runs");
    const environment = (await readFile(`/proc/${natsPid}/environ`, "utf8")).split("\0");
    assert.ok(
      environment.includes(`GOGC=${process.env["GOGC"] ?? "60"}`),
      environment.filter((v) => v.startsWith("GO")).join(" "),
    );
  });

  it("refuses to start a second Beamline on a data folder in use, with BL_DATA_DIR_IN_USE", async () => {
    const serversBefore = await natsServersOnStore(storeDir);
    assert.equal(serversBefore.length, 1, "the running router has one nats-server");
    const second = startBeamlineProcess(ROLES, {
      BEAMLINE_DATA_DIR: dataDir,
      BEAMLINE_HTTP_PORT: "0",
      BEAMLINE_DEV_KEY: TEST_DEV_KEY,
    });
    started.push(second);
    const code = await second.exited;
    assert.notEqual(code, 0, second.output());
    assert.match(second.output(), /BL_DATA_DIR_IN_USE/);
    assert.deepEqual(await natsServersOnStore(storeDir), serversBefore, "no second nats-server was started");
    assert.ok(!router.hasExited(), "the first router still runs");
  });

  it("after a SIGKILL, the restart stops the orphaned server and the log continues undiverged", async () => {
    const before = [await ask(baseUrl, "one"), await ask(baseUrl, "two"), await ask(baseUrl, "three")];
    // Billing writes usage to another stream; the request log holds every terminal once answered.
    const storedBefore = await storedRequests();
    for (const id of before) assert.ok(terminalStored(storedBefore, id), `terminal of ${id} stored`);
    const [orphan] = await natsServersOnStore(storeDir);
    assert.ok(orphan !== undefined);

    router.child.kill("SIGKILL");
    await router.exited;
    // Nothing stops the embedded server when its parent is killed: this is the orphan.
    assert.ok(isAlive(orphan), "the killed router's nats-server outlived it");

    const restarted = await startRouter();
    const servers = await natsServersOnStore(storeDir);
    assert.equal(servers.length, 1, `exactly one nats-server on the store, found ${servers.join(", ")}`);
    assert.notEqual(servers[0], orphan, "the orphan was stopped, not adopted");
    assert.match(restarted.process.output(), /stopping the nats-server a crashed Beamline left running/);

    const afterIds = [await ask(restarted.baseUrl, "four"), await ask(restarted.baseUrl, "five")];
    const storedAfter = await storedRequests();
    // The messages stored before the crash are unchanged, at the same sequences, and the
    // sequence continues from there without a gap.
    assert.deepEqual(storedAfter.slice(0, storedBefore.length), storedBefore);
    const sequences = storedAfter.map((m) => m.seq);
    assert.deepEqual(
      sequences,
      sequences.map((_, i) => sequences[0]! + i),
      "no gap in the sequence",
    );
    for (const id of [...before, ...afterIds]) {
      assert.ok(terminalStored(storedAfter, id), `terminal of ${id} readable after the restart`);
    }
  });
});
