import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { QuotaLog } from "../../src/admission/index.js";
import { EventStore } from "../../src/nats/index.js";
import { type NatsServer, startNatsServer } from "../support/index.js";

/**
 * The long-lived NATS clients keep a JetStream manager made at construction. nats.js checks the
 * API with a request when a manager is made; a check that failed transiently (a cluster
 * electing, a stalled node) left the stored manager rejected for ever, so every later read of
 * that instance failed. Constructing them must therefore send nothing.
 */
describe("long-lived NATS clients send nothing when constructed", () => {
  let server: NatsServer;
  let nc: NatsConnection;

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  for (const [name, make] of [
    ["EventStore", () => new EventStore(nc)],
    ["QuotaLog", () => new QuotaLog(nc)],
  ] as const) {
    it(`${name} makes no request until it is used`, async () => {
      await nc.flush();
      const before = nc.stats().outMsgs;
      make();
      // A request would be written at the next flush of the connection's buffer.
      await sleep(20);
      await nc.flush();
      assert.equal(nc.stats().outMsgs, before, `${name} sent a message when constructed`);
    });
  }
});
