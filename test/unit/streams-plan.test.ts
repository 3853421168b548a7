import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  beamlineTopology,
  type ConsumerSpec,
  describeChange,
  needsForce,
  planConsumer,
  planKv,
  planStream,
  type StreamSpec,
} from "../../streams/index.js";
import { DAY_NS, DEFAULT_TOPOLOGY_SETTINGS } from "../support/topology.js";

const settings = DEFAULT_TOPOLOGY_SETTINGS;
const topology = beamlineTopology(settings);
const requests = topology.streams.find((s) => s.name === "BL_REQUESTS")!;
const worker = topology.consumers.find((c) => c.durable_name === "worker")!;

/** What a server reports for a stream created from `spec`: the same fields plus its own. */
function serverStream(spec: StreamSpec, changes: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...spec, max_msgs: -1, max_msgs_per_subject: -1, sealed: false, ...changes };
}

function serverConsumer(spec: ConsumerSpec, changes: Record<string, unknown> = {}): Record<string, unknown> {
  const { stream: _stream, ...config } = spec;
  return { ...config, replay_policy: "instant", ...changes };
}

describe("beamlineTopology", () => {
  it("converts days and milliseconds to the server's nanoseconds", () => {
    assert.equal(requests.max_age, 30 * DAY_NS);
    assert.equal(requests.duplicate_window, 600_000 * 1_000_000);
    assert.equal(worker.ack_wait, 30_000 * 1_000_000);
    assert.equal(topology.streams.find((s) => s.name === "BL_CONFIG")!.max_age, 0, "config is kept forever");
  });
});

describe("planStream", () => {
  it("creates a stream the server does not have", () => {
    const plan = planStream(requests, undefined);
    assert.deepEqual(plan.action, { kind: "create" });
    assert.equal(describeChange(plan), "create stream BL_REQUESTS");
  });

  it("plans nothing when the server matches, whatever extra fields it reports", () => {
    const plan = planStream(requests, serverStream(requests));
    assert.deepEqual(plan.action, { kind: "unchanged" });
    assert.equal(needsForce([plan]), false);
  });

  it("reads a server that omits persist_mode as the default mode, not as a change", () => {
    const { persist_mode: _omitted, ...olderServer } = serverStream(requests);
    assert.deepEqual(planStream(requests, olderServer).action, { kind: "unchanged" });
  });

  it("updates in place, without --force, when a limit grows or a description changes", () => {
    const plan = planStream(
      requests,
      serverStream(requests, { max_age: 7 * DAY_NS, description: "old words", subjects: ["bl.req.>"] }),
    );
    assert.equal(plan.action.kind, "update");
    assert.ok(plan.action.kind === "update" && !plan.action.destructive);
    assert.equal(needsForce([plan]), false);
    assert.match(
      describeChange(plan),
      /^update stream BL_REQUESTS: .*max_age 604800000000000 → 2592000000000000/,
    );
  });

  it("treats a subject added as safe and the same subjects in another order as unchanged", () => {
    const spec = { ...requests, subjects: ["bl.req.>", "bl.extra.>"] };
    const added = planStream(spec, serverStream(spec, { subjects: ["bl.req.>"] }));
    assert.ok(added.action.kind === "update" && !added.action.destructive);
    const reordered = planStream(spec, serverStream(spec, { subjects: ["bl.extra.>", "bl.req.>"] }));
    assert.deepEqual(reordered.action, { kind: "unchanged" });
  });

  it("marks a shrinking max_age as destructive: the update needs --force", () => {
    const plan = planStream({ ...requests, max_age: 7 * DAY_NS }, serverStream(requests));
    assert.ok(plan.action.kind === "update" && plan.action.destructive);
    assert.equal(needsForce([plan]), true);
    assert.match(describeChange(plan), /max_age .* \(destructive\)/);
  });

  it("marks limiting an unlimited stream as destructive, and lifting a limit as safe", () => {
    const limited = planStream({ ...requests, max_bytes: 1_000_000 }, serverStream(requests));
    assert.ok(limited.action.kind === "update" && limited.action.destructive);
    const lifted = planStream({ ...requests, max_age: 0 }, serverStream(requests));
    assert.ok(lifted.action.kind === "update" && !lifted.action.destructive);
  });

  it("marks a removed subject as destructive", () => {
    const plan = planStream(requests, serverStream(requests, { subjects: ["bl.req.>", "bl.old.>"] }));
    assert.ok(plan.action.kind === "update" && plan.action.destructive);
  });

  it("recreates a stream whose storage, retention or persist mode changed", () => {
    for (const [field, serverValue] of [
      ["storage", "memory"],
      ["retention", "workqueue"],
      ["persist_mode", "async"],
    ] as const) {
      const plan = planStream(requests, serverStream(requests, { [field]: serverValue }));
      assert.equal(plan.action.kind, "recreate", field);
      assert.equal(needsForce([plan]), true, field);
      assert.match(describeChange(plan), new RegExp(`^recreate stream BL_REQUESTS: ${field} `));
    }
  });
});

describe("planConsumer", () => {
  it("reads a server's single filter_subject as the one-element filter_subjects", () => {
    const { filter_subjects: _list, ...single } = serverConsumer(worker);
    const plan = planConsumer(worker, { ...single, filter_subject: "bl.req.*.*.accepted" });
    assert.deepEqual(plan.action, { kind: "unchanged" });
    assert.equal(plan.name, "BL_REQUESTS/worker");
  });

  it("updates ack_wait, max_deliver and max_ack_pending in place", () => {
    const plan = planConsumer(worker, serverConsumer(worker, { ack_wait: 5_000_000_000, max_deliver: 5 }));
    assert.ok(plan.action.kind === "update" && !plan.action.destructive);
    assert.deepEqual(plan.action.kind === "update" && plan.action.changes.map((c) => c.field), [
      "ack_wait",
      "max_deliver",
    ]);
    assert.equal(needsForce([plan]), false);
  });

  it("recreates a consumer whose deliver or ack policy changed (it loses its position)", () => {
    const plan = planConsumer(worker, serverConsumer(worker, { deliver_policy: "new" }));
    assert.equal(plan.action.kind, "recreate");
    assert.equal(needsForce([plan]), true);
  });
});

describe("planKv", () => {
  const kv = topology.kv[0]!;

  it("creates, keeps, or changes the replicas of a bucket without --force", () => {
    assert.deepEqual(planKv(kv, undefined).action, { kind: "create" });
    assert.deepEqual(planKv(kv, { history: 1, replicas: 1 }).action, { kind: "unchanged" });
    const scaled = planKv({ ...kv, replicas: 3 }, { history: 1, replicas: 1 });
    assert.ok(scaled.action.kind === "update" && !scaled.action.destructive);
  });

  it("marks less history as destructive", () => {
    const plan = planKv(kv, { history: 5, replicas: 1 });
    assert.ok(plan.action.kind === "update" && plan.action.destructive);
    assert.equal(needsForce([plan]), true);
  });

  it("turns on per-entry TTLs of the response cache in place, and leaves them on", () => {
    const cache = topology.kv.find((k) => k.bucket === "bl_cache")!;
    assert.ok(cache.markerTtlMs !== undefined);
    const plan = planKv(cache, { history: 1, replicas: 1, msgTtl: false });
    assert.ok(plan.action.kind === "update" && !plan.action.destructive);
    assert.deepEqual(planKv(cache, { history: 1, replicas: 1, msgTtl: true }).action, { kind: "unchanged" });
  });
});

describe("needsForce", () => {
  it("is true when any one change of a plan is destructive", () => {
    const safe = planStream(requests, serverStream(requests));
    const destructive = planStream(requests, serverStream(requests, { storage: "memory" }));
    assert.equal(needsForce([]), false);
    assert.equal(needsForce([safe, planStream(requests, undefined)]), false);
    assert.equal(needsForce([safe, destructive]), true);
  });
});
