import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KV } from "@nats-io/kv";
import { createHealthProjection, healthPolicy } from "../../projections/index.js";
import { type BeamlineEvent, makeEvent } from "../../src/events/index.js";
import type { EventStore } from "../../src/nats/event-store.js";

const T0 = Date.UTC(2026, 0, 1);
const policy = healthPolicy({ consecutiveFailuresToOpen: 3, cooldownMs: 60_000 });

function failure(n: number): BeamlineEvent {
  return makeEvent(
    "attempt.failed",
    `r${n}:attempt.1`,
    { tenant: "t", requestId: `r${n}`, correlationId: `r${n}` },
    {
      attempt: 1,
      provider: "p",
      model: "m",
      upstreamModel: "m",
      startedAt: new Date(T0 + n).toISOString(),
      durationMs: 1,
      streamed: false,
      errorClass: "server_error",
      error: { code: "BL_PROVIDER_ERROR", message: "x", httpStatus: 502, type: "api_error" },
      retryable: true,
      final: true,
      chunksSent: 0,
    },
    new Date(T0 + n),
  );
}

/** The part of a KV bucket the projection uses, in memory, with JetStream's revision checks. */
function memoryKv() {
  const entries = new Map<string, { value: Uint8Array; revision: number }>();
  let revision = 0;
  const conflict = () => new Error("wrong last sequence: 1");
  const kv = {
    async get(key: string) {
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
  return kv as unknown as KV;
}

/** The event store as the projection uses it: appends, de-duplicated by event id like JetStream. */
function memoryStore() {
  const appended: BeamlineEvent[] = [];
  const store = {
    async append(_subject: string, event: BeamlineEvent) {
      const duplicate = appended.some((e) => e.id === event.id);
      if (!duplicate) appended.push(event);
      return { seq: appended.length, duplicate };
    },
  };
  return { store: store as unknown as EventStore, appended };
}

describe("provider health projection with several projector instances", () => {
  it("an instance whose cached record is stale stores no transition the stream does not imply", async () => {
    // Given two projector instances sharing the bucket and the stream. The consumer hands one
    // event at a time to either of them, in stream order.
    const kv = memoryKv();
    const { store, appended } = memoryStore();
    const first = createHealthProjection(kv, store, policy);
    const second = createHealthProjection(kv, store, policy);
    // When the first folds failures 1 and 2, the second folds failure 3 (the breaker opens),
    // and the first, whose cache still says "closed, 2 failures", folds failure 4.
    await first(failure(1), 1);
    await first(failure(2), 2);
    await second(failure(3), 3);
    await first(failure(4), 4);
    // Then exactly one opening is stored, caused by failure 3, as a replay would produce.
    assert.deepEqual(
      appended.map((e) => [e.type, e.causationId]),
      [["provider.breaker_opened", "r3:attempt.1"]],
    );
    const stored = await kv.get("h.p.m");
    const record = JSON.parse(new TextDecoder().decode(stored!.value));
    assert.equal(record.breaker.opens, 1);
    assert.equal(record.lastSequence, 4);
    assert.equal(record.consecutiveFailures, 4);
  });
});
