import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../src/nats/connect.js";
import { readStream, type StoredMessage } from "../../src/nats/read-events.js";
import { type NatsServer, startNatsServer } from "../support/index.js";

const encoder = new TextEncoder();

async function collect(source: AsyncGenerator<StoredMessage>): Promise<string[]> {
  const out: string[] = [];
  for await (const message of source) out.push(`${message.seq}:${message.subject}`);
  return out;
}

describe("readStream: a streaming, server-filtered snapshot read", { timeout: 30_000 }, () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let middle: Date;
  before(async () => {
    server = await startNatsServer();
    nc = await connectNats({ servers: [server.url], name: "read-stream-test" });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "R", subjects: ["r.>"], allow_direct: true });
    await jsm.streams.add({ name: "EMPTY", subjects: ["e.>"], allow_direct: true });
    const js = jetstream(nc);
    for (let i = 1; i <= 6; i++)
      await js.publish(`r.${i % 2 === 0 ? "a" : "b"}.${i}`, encoder.encode(`m${i}`));
    await new Promise((resolve) => setTimeout(resolve, 20));
    middle = new Date();
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (let i = 7; i <= 10; i++)
      await js.publish(`r.${i % 2 === 0 ? "a" : "b"}.${i}`, encoder.encode(`m${i}`));
  });
  after(async () => {
    await nc.close();
    await server.stop();
  });

  it("delivers only the filtered subjects, in stream order, with store time and bytes", async () => {
    const seen: StoredMessage[] = [];
    for await (const message of readStream(nc, { stream: "R", filters: ["r.a.>"] })) seen.push(message);
    assert.deepEqual(
      seen.map((m) => m.seq),
      [2, 4, 6, 8, 10],
    );
    assert.equal(new TextDecoder().decode(seen[0]?.data), "m2");
    assert.ok(Date.parse(seen[0]?.storedAt ?? "") > 0);
  });

  it("seeks to `since` and stops at `until` by store time", async () => {
    assert.deepEqual(await collect(readStream(nc, { stream: "R", filters: ["r.>"], since: middle })), [
      "7:r.b.7",
      "8:r.a.8",
      "9:r.b.9",
      "10:r.a.10",
    ]);
    assert.deepEqual(await collect(readStream(nc, { stream: "R", filters: ["r.b.>"], until: middle })), [
      "1:r.b.1",
      "3:r.b.3",
      "5:r.b.5",
    ]);
  });

  it("merges several filters by sequence, yielding a message two filters match once", async () => {
    assert.deepEqual(
      await collect(readStream(nc, { stream: "R", filters: ["r.a.2", "r.b.>", "r.*.3"], until: middle })),
      ["1:r.b.1", "2:r.a.2", "3:r.b.3", "5:r.b.5"],
    );
    assert.deepEqual(
      await collect(
        readStream(nc, { stream: "R", filters: ["r.a.>"], optionalFilters: ["r.b.9"], since: middle }),
      ),
      ["8:r.a.8", "9:r.b.9", "10:r.a.10"],
    );
  });

  it("returns at once when nothing matches, and on an empty stream", async () => {
    const started = performance.now();
    assert.deepEqual(await collect(readStream(nc, { stream: "R", filters: ["r.zzz.>"] })), []);
    assert.deepEqual(await collect(readStream(nc, { stream: "EMPTY", filters: ["e.>"] })), []);
    assert.deepEqual(
      await collect(readStream(nc, { stream: "R", filters: ["r.>"], since: new Date(Date.now() + 60_000) })),
      [],
    );
    assert.ok(performance.now() - started < 2_000);
  });

  it("leaves no consumer behind once a read ends, early or at the end", async () => {
    const jsm = await jetstreamManager(nc);
    await collect(readStream(nc, { stream: "R", filters: ["r.a.>"] }));
    for await (const _ of readStream(nc, { stream: "R", filters: ["r.>"] })) break;
    assert.equal((await jsm.streams.info("R")).state.consumer_count, 0);
  });

  it("is a snapshot: messages written during the read are not followed", async () => {
    const js = jetstream(nc);
    const seen: number[] = [];
    let total = 0;
    for await (const message of readStream(nc, {
      stream: "R",
      filters: ["r.>"],
      onProgress: (_read, all) => {
        total = all;
      },
    })) {
      if (message.seq === 1) await js.publish("r.a.late", encoder.encode("late"));
      seen.push(message.seq);
    }
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.ok(total >= 10);
  });
});
