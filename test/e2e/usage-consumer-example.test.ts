import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { ConsumerNames, StreamNames } from "../../src/nats/names.js";
import { startTestBeamline, type TestBeamline, waitForConsumerCaughtUp } from "../support/beamline.js";
import { cleanEnv } from "../support/cli.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function runExample(natsUrl: string): Promise<Array<{ key: string; costNanoUsd: number }>> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", "examples/usage-consumer.ts"],
    {
      cwd: REPO_ROOT,
      env: { ...cleanEnv(), NATS_URL: natsUrl, TENANT: "dev", ONCE: "1" },
      encoding: "utf8",
      timeout: 30_000,
    },
  );
  return stdout
    .trim()
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as { key: string; costNanoUsd: number });
}

/**
 * The usage consumer of docs/usage-stream.md (examples/usage-consumer.ts), run as its own
 * process against a real Beamline: it bills every usage record once, and a second run resumes
 * after them (its durable consumer kept its place), so the documented example stays correct.
 */
describe("the usage consumer example", { timeout: 90_000 }, () => {
  let beamline: TestBeamline;
  const send = async () => {
    const response = await fetch(`${beamline.baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${beamline.devKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-small", messages: [{ role: "user", content: "count me" }] }),
    });
    assert.equal(response.status, 200);
    return response.headers.get("x-request-id")!;
  };
  before(async () => {
    beamline = await startTestBeamline();
  });
  after(() => beamline?.stop());

  it("bills each usage record once, and a second run continues where the first stopped", async () => {
    const first = [await send(), await send()];
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing, 20_000);
    const billed = await runExample(beamline.server.url);
    assert.deepEqual(
      billed.map((b) => b.key),
      first.map((id) => `dev:${id}:usage`),
    );
    assert.ok(billed.every((b) => b.costNanoUsd > 0));

    const third = await send();
    await waitForConsumerCaughtUp(beamline.nc, StreamNames.requests, ConsumerNames.billing, 20_000);
    const again = await runExample(beamline.server.url);
    assert.deepEqual(
      again.map((b) => b.key),
      [`dev:${third}:usage`],
    );
    const info = await (await jetstreamManager(beamline.nc)).consumers.info(StreamNames.usage, "my-billing");
    assert.equal(info.num_ack_pending, 0, "every record acknowledged");
  });
});
