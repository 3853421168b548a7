import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { NatsConnection } from "@nats-io/transport-node";
import { coalesceWrites, connectNats } from "../../src/nats/index.js";
import { type NatsServer, startNatsServer } from "../support/nats-server.js";

/** This process's write system calls so far (/proc/self/io). */
function writeSyscalls(): number {
  return Number(/^syscw: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"))?.[1]);
}

/** Publishes `count` messages, each in its own microtask, as a handler that awaits between writes does. */
async function publishAcrossMicrotasks(nc: NatsConnection, subject: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    nc.publish(subject, String(i));
    await Promise.resolve();
  }
}

describe("NATS connections write what one loop turn queued in one socket write", { timeout: 60_000 }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: server.url, name: "write-coalescing-test" });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("sends publishes queued in separate microtasks in a few writes, not one each", async () => {
    const count = 200;
    const before = writeSyscalls();
    await publishAcrossMicrotasks(nc, "coalesce.count", count);
    await new Promise((resolve) => setImmediate(resolve));
    const writes = writeSyscalls() - before;
    // nats.js alone writes once per microtask: `count` writes. The count is the whole
    // process's (the test runner writes too), hence the margin.
    assert.ok(writes <= count / 10, `${count} publishes took ${writes} write system calls`);
  });

  it("delivers every message, in order", async () => {
    const count = 500;
    const subscription = nc.subscribe("coalesce.order", { max: count });
    const received: string[] = [];
    const done = (async () => {
      for await (const message of subscription) received.push(message.string());
    })();
    await nc.flush();
    await publishAcrossMicrotasks(nc, "coalesce.order", count);
    await done;
    assert.deepEqual(
      received,
      Array.from({ length: count }, (_, i) => String(i)),
    );
  });

  it("still writes at once past the client's pending limit", async () => {
    const payload = new Uint8Array(64 * 1024);
    const before = writeSyscalls();
    // One synchronous run: without the limit nothing would be written until it ends.
    let writtenDuringRun = 0;
    for (let i = 0; i < 64; i++) {
      nc.publish("coalesce.big", payload);
      writtenDuringRun = writeSyscalls() - before;
    }
    assert.ok(writtenDuringRun >= 1, "4 MiB queued in one run was written before the run ended");
    await nc.flush();
  });

  it("leaves a connection alone whose internals it does not recognise", () => {
    assert.equal(coalesceWrites({} as NatsConnection), false);
    assert.equal(
      coalesceWrites({ protocol: { flushPending: () => undefined } } as unknown as NatsConnection),
      false,
    );
  });
});
