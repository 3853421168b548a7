import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { BeamlineError } from "../../src/errors/index.js";
import { connectNats } from "../../src/nats/index.js";
import { type NatsServer, startNatsServer } from "../support/nats-server.js";

/**
 * Beamline and NATS started together (docker compose, no probe on the shell-less NATS image):
 * the first connection waits for the server to come up instead of failing.
 */
describe("the first NATS connection", { timeout: 60_000 }, () => {
  let server: NatsServer;
  before(async () => {
    server = await startNatsServer();
    await server.kill();
  });
  after(async () => server?.stop());

  it("fails at once when no server answers and no wait is set", async () => {
    await assert.rejects(
      connectNats({ servers: server.url, name: "first-connect-test" }),
      (error: unknown) => error instanceof BeamlineError && error.code === "BL_NATS_UNAVAILABLE",
    );
  });

  it("waits for a server that comes up within the wait", async () => {
    let waits = 0;
    let restarting: Promise<void> | undefined;
    const nc = await connectNats({
      servers: server.url,
      name: "first-connect-test",
      firstConnectWaitMs: 30_000,
      onWaiting: () => {
        waits++;
        // The server starts only once the client has found it missing.
        restarting ??= server.restart();
      },
    });
    try {
      assert.ok(waits >= 1, "the first attempt found no server");
      assert.equal(nc.info?.jetstream, true);
    } finally {
      await nc.close();
      await restarting;
    }
  });
});
