import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KV } from "@nats-io/kv";
import { createKvFolder } from "../../src/nats/index.js";

interface Counter {
  total: number;
  lastSequence: number;
}

/** The part of a KV bucket the folder uses, in memory, with JetStream's revision checks; counts reads. */
function memoryKv() {
  const entries = new Map<string, { value: Uint8Array; revision: number }>();
  let revision = 0;
  const calls = { get: 0 };
  const conflict = () => new Error("wrong last sequence: 1");
  const kv = {
    async get(key: string) {
      calls.get++;
      const entry = entries.get(key);
      return entry ? { key, value: entry.value, revision: entry.revision, operation: "PUT" } : null;
    },
    async create(key: string, value: Uint8Array) {
      if (entries.has(key)) throw conflict();
      entries.set(key, { value, revision: ++revision });
      return revision;
    },
    async update(key: string, value: Uint8Array, expected: number) {
      if (entries.get(key)?.revision !== expected) throw conflict();
      entries.set(key, { value, revision: ++revision });
      return revision;
    },
  };
  const stored = (key: string): Counter | undefined => {
    const entry = entries.get(key);
    return entry ? (JSON.parse(new TextDecoder().decode(entry.value)) as Counter) : undefined;
  };
  return { kv: kv as unknown as KV, calls, stored };
}

/** Adds `amount` once per sequence, as the spend reducer does. */
const add =
  (amount: number, sequence: number) =>
  (current: Counter | undefined): Counter | undefined =>
    current && sequence <= current.lastSequence
      ? current
      : { total: (current?.total ?? 0) + amount, lastSequence: sequence };

describe("KV folder without a read before each write", () => {
  it("reads a key once, then writes every later fold with the revision it remembers", async () => {
    const { kv, calls, stored } = memoryKv();
    const fold = createKvFolder<Counter>(kv, "test");
    for (let sequence = 1; sequence <= 5; sequence++) await fold("k", add(10, sequence));
    assert.equal(calls.get, 1);
    assert.deepEqual(stored("k"), { total: 50, lastSequence: 5 });
  });

  it("a redelivered event writes nothing", async () => {
    const { kv, stored } = memoryKv();
    const fold = createKvFolder<Counter>(kv, "test");
    await fold("k", add(10, 1));
    await fold("k", add(10, 2));
    await fold("k", add(10, 2));
    assert.deepEqual(stored("k"), { total: 20, lastSequence: 2 });
  });

  it("after another instance wrote the key, re-reads it and folds on top of its record", async () => {
    const { kv, calls, stored } = memoryKv();
    const first = createKvFolder<Counter>(kv, "test");
    const second = createKvFolder<Counter>(kv, "test");
    await first("k", add(1, 1));
    await second("k", add(2, 2));
    await first("k", add(4, 3));
    assert.deepEqual(stored("k"), { total: 7, lastSequence: 3 });
    // first: one read at the start and one after the conflict; second: one read.
    assert.equal(calls.get, 3);
  });

  it("forgets the least recently used key beyond its bound, and reads it again when it comes back", async () => {
    const { kv, calls, stored } = memoryKv();
    const fold = createKvFolder<Counter>(kv, "test", 2);
    await fold("a", add(1, 1));
    await fold("b", add(1, 2));
    await fold("c", add(1, 3));
    await fold("a", add(1, 4));
    assert.equal(calls.get, 4);
    assert.deepEqual(stored("a"), { total: 2, lastSequence: 4 });
  });
});
