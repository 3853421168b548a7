import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { NOTARISED_STREAMS, readLastCheckpoint } from "../../src/notary/index.js";
import { startTestBeamline, type TestBeamline } from "../support/beamline.js";
import { runCliStatus } from "../support/cli.js";
import { waitFor } from "../support/wait.js";

/** Runs the real CLI; a finding exits 1, which is not an error here. */
async function cli(natsUrl: string, args: string[], env: Record<string, string>) {
  const { code, stdout, stderr } = await runCliStatus(natsUrl, args, env);
  return { exitCode: code, stdout, stderr };
}

describe("the notary role in a running Beamline", { timeout: 120_000 }, () => {
  let beamline: TestBeamline;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "bl-notary-e2e-"));
    beamline = await startTestBeamline({
      dataDir,
      notary: { checkpointIntervalMs: 200, pollIntervalMs: 50, checkpointMaxMessages: 10 },
    });
  });
  after(async () => {
    await beamline?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const chat = (body: Record<string, unknown>) =>
    fetch(`${beamline.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "hello" }], ...body }),
    });

  /** Every notarised stream checkpointed up to its last message. */
  const allCheckpointed = async () => {
    const jsm = await jetstreamManager(beamline.nc);
    for (const stream of NOTARISED_STREAMS) {
      await waitFor(
        async () => {
          const { state } = await jsm.streams.info(stream);
          const last = await readLastCheckpoint(beamline.nc, stream);
          return state.messages === 0 || (last?.checkpoint.lastSeq ?? 0) >= state.last_seq;
        },
        { what: `the notary to checkpoint all of ${stream}` },
      );
    }
  };

  it("checkpoints real requests, and the CLI verifies them with the public key alone", async () => {
    for (let i = 0; i < 5; i++) assert.equal((await chat({})).status, 200);
    const streamed = await chat({ stream: true });
    assert.equal(streamed.status, 200);
    await streamed.text();
    const jsm = await jetstreamManager(beamline.nc);
    await waitFor(async () => (await jsm.streams.info("BL_USAGE")).state.messages >= 6, {
      what: "billing to record the six requests' usage",
    });
    await allCheckpointed();

    const keyFile = join(dataDir, "notary-key.pem");
    assert.equal(
      (await stat(keyFile)).mode & 0o777,
      0o600,
      "the generated key is readable by its owner only",
    );
    const privatePem = await readFile(keyFile, "utf8");
    assert.ok(!beamline.logs().includes(privatePem.split("\n")[1]!), "the private key is never logged");

    const env = { BEAMLINE_DATA_DIR: dataDir };
    const pubkey = await cli(beamline.app.natsUrl, ["audit", "pubkey", "--json"], env);
    assert.equal(pubkey.exitCode, 0, pubkey.stderr);
    const { keyId, publicKeyPem } = JSON.parse(pubkey.stdout) as { keyId: string; publicKeyPem: string };
    assert.match(publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
    const pubkeyFile = join(await mkdtemp(join(tmpdir(), "bl-auditor-")), "notary.pem");
    await writeFile(pubkeyFile, publicKeyPem);

    // The auditor: no data directory, no private key; read access and the public key.
    const verified = await cli(
      beamline.app.natsUrl,
      ["audit", "verify", "--pubkey", pubkeyFile, "--json"],
      {},
    );
    assert.equal(verified.exitCode, 0, verified.stdout + verified.stderr);
    const report = JSON.parse(verified.stdout) as {
      ok: boolean;
      keyId: string;
      streams: Array<{ stream: string; verified: number; finding: unknown }>;
    };
    assert.equal(report.ok, true);
    assert.equal(report.keyId, keyId);
    const byStream = new Map(report.streams.map((s) => [s.stream, s]));
    assert.ok(byStream.get("BL_REQUESTS")!.verified >= 6 * 4, JSON.stringify(byStream.get("BL_REQUESTS")));
    assert.ok(byStream.get("BL_USAGE")!.verified >= 6);
  });

  it("a usage record deleted after it was checkpointed makes the CLI exit 1 naming it", async () => {
    await allCheckpointed();
    const jsm = await jetstreamManager(beamline.nc);
    const { state } = await jsm.streams.info("BL_USAGE");
    const victim = state.first_seq + 1;
    await jsm.streams.deleteMessage("BL_USAGE", victim);
    const result = await cli(beamline.app.natsUrl, ["audit", "verify", "--stream", "BL_USAGE"], {
      BEAMLINE_DATA_DIR: dataDir,
    });
    assert.equal(result.exitCode, 1, result.stdout);
    assert.match(result.stdout, new RegExp(`BL_USAGE: FAILED at sequence ${victim} \\(missing\\)`));
    assert.match(result.stdout, /first: BL_USAGE sequence \d+ \(missing\)/);
  });

  it("an unknown --stream is refused with a code", async () => {
    const result = await cli(beamline.app.natsUrl, ["audit", "verify", "--stream", "BL_NOPE"], {
      BEAMLINE_DATA_DIR: dataDir,
    });
    assert.equal(result.exitCode, 1);
    assert.match(
      result.stderr,
      /^beamline: --stream "BL_NOPE" is not a notarised stream.*\[BL_BAD_REQUEST\]/m,
    );
  });
});
