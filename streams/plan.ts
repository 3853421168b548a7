import type { ConsumerSpec, KvSpec, StreamSpec } from "./definitions.js";

/** One field that differs between the server and the definition. */
export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
  /** Applying it loses data or consumer position. */
  destructive: boolean;
}

export type PlannedAction =
  | { kind: "create" }
  | { kind: "unchanged" }
  /** Changed in place; `destructive` when any field change is. */
  | { kind: "update"; changes: FieldChange[]; destructive: boolean }
  /** Cannot be changed in place: delete and create again (always destructive). */
  | { kind: "recreate"; changes: FieldChange[] };

export interface PlannedChange {
  target: "stream" | "consumer" | "kv";
  name: string;
  action: PlannedAction;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function decide(changes: FieldChange[], immutable: ReadonlySet<string>): PlannedAction {
  if (changes.length === 0) return { kind: "unchanged" };
  if (changes.some((c) => immutable.has(c.field))) return { kind: "recreate", changes };
  return { kind: "update", changes, destructive: changes.some((c) => c.destructive) };
}

/** Stream fields the server cannot change after creation. */
const STREAM_IMMUTABLE = new Set(["storage", "retention", "persist_mode"]);

/** A limit that shrinks deletes what no longer fits: 0 / -1 mean "no limit". */
function limitShrinks(from: number, to: number): boolean {
  const unlimited = (v: number) => v <= 0;
  if (unlimited(to)) return false;
  return unlimited(from) || to < from;
}

/**
 * What it takes to make a stream match its definition. `current` holds the server's config
 * (undefined when the stream does not exist). Pure, so the rules are unit-tested.
 */
export function planStream(desired: StreamSpec, current: Record<string, unknown> | undefined): PlannedChange {
  if (!current) return { target: "stream", name: desired.name, action: { kind: "create" } };
  const changes: FieldChange[] = [];
  for (const [field, to] of Object.entries(desired)) {
    if (field === "name") continue;
    let from = current[field];
    // Servers that predate a field, or omit defaults, report nothing for it.
    if (from === undefined && field === "persist_mode") from = "default";
    if (from === undefined && field === "allow_direct") from = false;
    if (same(from, to)) continue;
    let destructive = STREAM_IMMUTABLE.has(field);
    if (field === "subjects") {
      const removed = (from as string[] | undefined)?.filter((s) => !(to as string[]).includes(s)) ?? [];
      destructive = removed.length > 0;
      if (!destructive && same([...((from as string[]) ?? [])].sort(), [...(to as string[])].sort()))
        continue;
    }
    if (field === "max_age" || field === "max_bytes")
      destructive = limitShrinks(Number(from ?? 0), Number(to));
    changes.push({ field, from, to, destructive });
  }
  return { target: "stream", name: desired.name, action: decide(changes, STREAM_IMMUTABLE) };
}

const CONSUMER_IMMUTABLE = new Set(["deliver_policy", "ack_policy"]);

export function planConsumer(
  desired: ConsumerSpec,
  current: Record<string, unknown> | undefined,
): PlannedChange {
  const name = `${desired.stream}/${desired.durable_name}`;
  if (!current) return { target: "consumer", name, action: { kind: "create" } };
  const changes: FieldChange[] = [];
  for (const [field, to] of Object.entries(desired)) {
    if (field === "stream" || field === "durable_name") continue;
    let from = current[field];
    // A server reports a single filter as `filter_subject`.
    if (field === "filter_subjects" && (from === undefined || (from as unknown[]).length === 0)) {
      from = current["filter_subject"] ? [current["filter_subject"]] : [];
    }
    if (same(from, to)) continue;
    changes.push({ field, from, to, destructive: CONSUMER_IMMUTABLE.has(field) });
  }
  return { target: "consumer", name, action: decide(changes, CONSUMER_IMMUTABLE) };
}

export function planKv(
  desired: KvSpec,
  current: { history: number; replicas: number; msgTtl?: boolean } | undefined,
): PlannedChange {
  if (!current) return { target: "kv", name: desired.bucket, action: { kind: "create" } };
  const changes: FieldChange[] = [];
  if (current.history !== desired.history) {
    changes.push({
      field: "history",
      from: current.history,
      to: desired.history,
      destructive: desired.history < current.history,
    });
  }
  if (current.replicas !== desired.replicas) {
    changes.push({ field: "replicas", from: current.replicas, to: desired.replicas, destructive: false });
  }
  // Per-entry TTLs can be turned on in place (never off: the server refuses that).
  if (desired.markerTtlMs !== undefined && current.msgTtl === false) {
    changes.push({ field: "allow_msg_ttl", from: false, to: true, destructive: false });
  }
  return { target: "kv", name: desired.bucket, action: decide(changes, new Set()) };
}

/** True when applying the plan needs `--force`. */
export function needsForce(plan: readonly PlannedChange[]): boolean {
  return plan.some(
    (p) => p.action.kind === "recreate" || (p.action.kind === "update" && p.action.destructive),
  );
}

/** One human line per planned change, e.g. `update consumer BL_REQUESTS/route: ack_wait 30000000000 → 5000000000`. */
export function describeChange(change: PlannedChange): string {
  const { action } = change;
  const head = `${change.target} ${change.name}`;
  switch (action.kind) {
    case "create":
      return `create ${head}`;
    case "unchanged":
      return `unchanged ${head}`;
    case "update":
    case "recreate": {
      const fields = action.changes
        .map(
          (c) =>
            `${c.field} ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}${c.destructive ? " (destructive)" : ""}`,
        )
        .join(", ");
      return `${action.kind} ${head}: ${fields}`;
    }
  }
}
