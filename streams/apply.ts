import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../src/errors/index.js";
import type { ConsumerSpec, KvSpec, StreamSpec, Topology } from "./definitions.js";
import { describeChange, needsForce, type PlannedChange, planConsumer, planKv, planStream } from "./plan.js";

export interface ApplyOptions {
  /** Allow changes that lose data or consumer position (recreate, shrinking limits). */
  force?: boolean;
  /** Only compute the plan. */
  dryRun?: boolean;
}

export interface ApplyReport {
  plan: PlannedChange[];
  /** False when nothing was written (dry run, or refused without --force). */
  applied: boolean;
  lines: string[];
}

const isNotFound = (error: unknown) => {
  const code = (error as { code?: number }).code;
  return code === 10059 || code === 10014 || /not found/i.test((error as Error).message ?? "");
};

async function streamConfig(
  jsm: JetStreamManager,
  name: string,
): Promise<Record<string, unknown> | undefined> {
  try {
    return (await jsm.streams.info(name)).config as unknown as Record<string, unknown>;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function consumerConfig(
  jsm: JetStreamManager,
  spec: ConsumerSpec,
): Promise<Record<string, unknown> | undefined> {
  try {
    return (await jsm.consumers.info(spec.stream, spec.durable_name)).config as unknown as Record<
      string,
      unknown
    >;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

async function kvState(
  jsm: JetStreamManager,
  spec: KvSpec,
): Promise<{ history: number; replicas: number; msgTtl?: boolean } | undefined> {
  const config = await streamConfig(jsm, `KV_${spec.bucket}`);
  if (!config) return undefined;
  return {
    history: Number(config["max_msgs_per_subject"]),
    replicas: Number(config["num_replicas"]),
    msgTtl: config["allow_msg_ttl"] === true,
  };
}

/** Reads the server's state and plans every change, in dependency order (streams first). */
export async function planTopology(jsm: JetStreamManager, topology: Topology): Promise<PlannedChange[]> {
  const plan: PlannedChange[] = [];
  for (const s of topology.streams) plan.push(planStream(s, await streamConfig(jsm, s.name)));
  for (const c of topology.consumers) plan.push(planConsumer(c, await consumerConfig(jsm, c)));
  for (const k of topology.kv) plan.push(planKv(k, await kvState(jsm, k)));
  return plan;
}

function streamConfigOf(spec: StreamSpec) {
  // The spec is exactly the server's field names; the cast bridges nats.js' string-enum types.
  return spec as unknown as Parameters<JetStreamManager["streams"]["add"]>[0];
}

function consumerConfigOf(spec: ConsumerSpec) {
  const { stream: _stream, ...config } = spec;
  return config as unknown as Parameters<JetStreamManager["consumers"]["add"]>[1];
}

async function applyOne(
  nc: NatsConnection,
  jsm: JetStreamManager,
  change: PlannedChange,
  topology: Topology,
) {
  const { action } = change;
  if (action.kind === "unchanged") return;
  if (change.target === "stream") {
    const spec = topology.streams.find((s) => s.name === change.name)!;
    if (action.kind === "recreate") await jsm.streams.delete(spec.name);
    if (action.kind === "update") await jsm.streams.update(spec.name, streamConfigOf(spec));
    else await jsm.streams.add(streamConfigOf(spec));
  } else if (change.target === "consumer") {
    const spec = topology.consumers.find((c) => `${c.stream}/${c.durable_name}` === change.name)!;
    if (action.kind === "recreate") await jsm.consumers.delete(spec.stream, spec.durable_name);
    if (action.kind === "update")
      await jsm.consumers.update(spec.stream, spec.durable_name, consumerConfigOf(spec));
    else await jsm.consumers.add(spec.stream, consumerConfigOf(spec));
  } else {
    const spec = topology.kv.find((k) => k.bucket === change.name)!;
    if (action.kind === "create") {
      await new Kvm(nc).create(spec.bucket, {
        history: spec.history,
        replicas: spec.replicas,
        description: spec.description,
        ...(spec.markerTtlMs !== undefined ? { markerTTL: spec.markerTtlMs } : {}),
      });
    } else {
      const name = `KV_${spec.bucket}`;
      const current = (await jsm.streams.info(name)).config;
      await jsm.streams.update(name, {
        ...current,
        max_msgs_per_subject: spec.history,
        num_replicas: spec.replicas,
        ...(spec.markerTtlMs !== undefined
          ? { allow_msg_ttl: true, subject_delete_marker_ttl: spec.markerTtlMs * 1_000_000 }
          : {}),
      });
    }
  }
}

/**
 * Makes the server match the topology. Idempotent: a second run plans only `unchanged`.
 * Safe to run from several processes at once: creating an identical stream or consumer is a
 * no-op on the server, and a lost race ("already in use") is re-planned once.
 * Refuses destructive changes unless `force` is set.
 */
export async function applyTopology(
  nc: NatsConnection,
  topology: Topology,
  options: ApplyOptions = {},
): Promise<ApplyReport> {
  const jsm = await jetstreamManager(nc);
  const plan = await planTopology(jsm, topology);
  const lines = plan.map(describeChange);
  if (options.dryRun) return { plan, applied: false, lines };
  if (needsForce(plan) && !options.force) {
    throw new BeamlineError(
      "BL_STREAM_CONFLICT",
      `refusing destructive changes without --force:\n${lines
        .filter((l) => l.includes("destructive") || l.startsWith("recreate"))
        .map((l) => `  ${l}`)
        .join("\n")}`,
    );
  }
  const streamsRecreated = plan.some((p) => p.target === "stream" && p.action.kind === "recreate");
  for (const change of plan) {
    // A recreated stream takes its consumers with it: those are planned again below.
    if (streamsRecreated && change.target !== "stream") continue;
    try {
      await applyOne(nc, jsm, change, topology);
    } catch (error) {
      // Another instance applied the same change first: read again and apply what remains.
      if (!/already in use|already exists/i.test((error as Error).message)) throw error;
      const replanned = await planTopology(jsm, topology);
      const again = replanned.find((p) => p.target === change.target && p.name === change.name)!;
      if (needsForce([again]) && !options.force) {
        throw new BeamlineError(
          "BL_STREAM_CONFLICT",
          `concurrent change to ${again.name}: ${describeChange(again)}`,
        );
      }
      await applyOne(nc, jsm, again, topology);
    }
  }
  if (streamsRecreated) {
    const rest = (await planTopology(jsm, topology)).filter((p) => p.target !== "stream");
    for (const change of rest) await applyOne(nc, jsm, change, topology);
    const replanned = [...plan.filter((p) => p.target === "stream"), ...rest];
    return { plan: replanned, applied: true, lines: replanned.map(describeChange) };
  }
  return { plan, applied: true, lines };
}
