import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { connectNats } from "../../src/nats/connect.js";
import { readLastCheckpoint } from "../../src/notary/index.js";
import { applyTopology, beamlineTopology } from "../../streams/index.js";
import { cleanEnv } from "../support/cli.js";
import { type NatsServer, startNatsServer } from "../support/nats-server.js";
import { tearDown } from "../support/teardown.js";
import { SHORT_LIVED_TOPOLOGY_SETTINGS } from "../support/topology.js";
import { waitFor } from "../support/wait.js";
import { type BeamlineProcess, startBeamlineProcess } from "../support/worker-process.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * The notary as its own process, SIGKILLed while a checkpoint is open, then started again: the
 * new process resumes from the last checkpoint in BL_AUDIT and the chain verifies unbroken.
 */
describe("a notary killed mid-checkpoint resumes without a gap or a fork", { timeout: 120_000 }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let dir: string;
  let keyFile: string;
  const processes: BeamlineProcess[] = [];

  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: [server.url], name: "notary-kill-test" });
    await applyTopology(nc, beamlineTopology(SHORT_LIVED_TOPOLOGY_SETTINGS));
    dir = await mkdtemp(join(tmpdir(), "bl-notary-kill-"));
    keyFile = join(dir, "notary.pem");
    const { privateKey } = generateKeyPairSync("ed25519");
    await writeFile(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }).toString(), { mode: 0o600 });
  });
  after(() =>
    tearDown(
      () => Promise.all(processes.map((p) => p.stop())),
      async () => nc?.close(),
      async () => server?.stop(),
      () => rm(dir, { recursive: true, force: true }),
    ),
  );

  const env = () => ({
    NATS_URL: server.url,
    BEAMLINE_DATA_DIR: dir,
    BEAMLINE_NOTARY_KEY_FILE: keyFile,
    BEAMLINE_NOTARY_CHECKPOINT_MAX_MESSAGES: "5",
    // Long enough that the killed notary holds an open checkpoint it never writes.
    BEAMLINE_NOTARY_CHECKPOINT_INTERVAL_MS: "60000",
    BEAMLINE_NOTARY_POLL_INTERVAL_MS: "50",
  });
  const startNotaryProcess = async () => {
    const notary = startBeamlineProcess("notary", env());
    processes.push(notary);
    await waitFor(() => notary.output().includes("Beamline is running") || notary.hasExited(), {
      what: "the notary process to start",
      timeoutMs: 30_000,
    });
    assert.ok(!notary.hasExited(), notary.output());
    return notary;
  };
  const publish = async (count: number, tag: string) => {
    const js = jetstream(nc);
    let last = 0;
    for (let i = 0; i < count; i++) {
      const h = natsHeaders();
      h.set("bl-type", "usage.recorded");
      last = (
        await js.publish("bl.usage.acme.r", JSON.stringify({ tag, i }), { headers: h, msgID: `${tag}:${i}` })
      ).seq;
    }
    return last;
  };
  const checkpointedTo = (seq: number) =>
    waitFor(async () => ((await readLastCheckpoint(nc, "BL_USAGE"))?.checkpoint.lastSeq ?? 0) >= seq, {
      what: `BL_USAGE to be checkpointed up to ${seq}`,
      timeoutMs: 20_000,
    });

  it("after SIGKILL the next notary recomputes from lastSeq + 1 and audit verify passes", async () => {
    const first = await startNotaryProcess();
    await publish(7, "before");
    await checkpointedTo(5);
    first.child.kill("SIGKILL");
    await first.exited;
    assert.equal(
      (await readLastCheckpoint(nc, "BL_USAGE"))?.checkpoint.lastSeq,
      5,
      "sequences 6-7 were open only",
    );

    const last = await publish(3, "after");
    const second = await startNotaryProcess();
    await checkpointedTo(last);
    await second.stop();

    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ["--import", "tsx", "src/cli/main.ts", "audit", "verify", "--stream", "BL_USAGE", "--json"],
        { cwd: REPO_ROOT, env: { ...cleanEnv(), ...env() }, encoding: "utf8", timeout: 30_000 },
        (error, out, err) => (error ? reject(new Error(`${out}${err}`)) : resolve(out)),
      ),
    );
    const [report] = (JSON.parse(stdout) as { streams: Array<Record<string, unknown>> }).streams;
    assert.equal(report!.verified, 10);
    assert.equal(report!.coveredTo, last);
    assert.equal(report!.finding, null);
  });
});
