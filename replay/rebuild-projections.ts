import { jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type ApiKeyRecord,
  apiKeyKvKey,
  CATALOG_KV_KEY,
  reduceApiKey,
  reduceCatalog,
  reducePolicy,
  reduceSpend,
  reduceTenant,
  type SpendRecord,
  spendKvKey,
  tenantKvKey,
} from "../projections/index.js";
import { QuotaLog } from "../src/admission/index.js";
import { type BeamlineEvent, decodeEvent, isEvent, SubjectRoots } from "../src/events/index.js";
import { KvBuckets, readEvents, readStream, StreamNames } from "../src/nats/index.js";

/**
 * Operators' check of the KV projections against the log they are derived from: every
 * projection is folded again from its stream with the same pure reducer the live projector
 * uses, and compared with what KV holds. `rebuild` then replaces KV with the replay (stop the
 * projectors first, or they may write an older fold back in between). Provider health has
 * its own command (`beamline providers health --verify`).
 */

/** One projection's replay compared with KV. */
export interface ProjectionCheck {
  name: string;
  bucket: string;
  replayed: number;
  stored: number;
  /** Keys whose record differs, missing on either side included (secret keys shown by record id). */
  differing: string[];
}

interface ConfigProjection {
  name: string;
  bucket: string;
  keyOf(event: BeamlineEvent): string | undefined;
  reduce(record: unknown, event: BeamlineEvent, sequence: number): unknown;
  /** How a differing key is reported: API key hashes are secrets, their key ids are not. */
  label?(key: string, record: unknown): string;
}

const configProjections: ConfigProjection[] = [
  {
    name: "api keys",
    bucket: KvBuckets.apiKeys,
    keyOf: apiKeyKvKey,
    reduce: (record, event, sequence) => reduceApiKey(record as ApiKeyRecord | undefined, event, sequence),
    label: (_key, record) => `key ${(record as ApiKeyRecord | undefined)?.keyId ?? "(unknown id)"}`,
  },
  {
    name: "tenants",
    bucket: KvBuckets.tenants,
    keyOf: tenantKvKey,
    reduce: (record, event, sequence) =>
      reduceTenant(record as Parameters<typeof reduceTenant>[0], event, sequence),
  },
  {
    name: "policies",
    bucket: KvBuckets.policies,
    keyOf: (event) => (isEvent(event, "policy.updated") ? event.tenant : undefined),
    reduce: (record, event) => reducePolicy(record as Parameters<typeof reducePolicy>[0], event),
  },
  {
    name: "catalog",
    bucket: KvBuckets.catalog,
    keyOf: (event) => (isEvent(event, "catalog.published") ? CATALOG_KV_KEY : undefined),
    reduce: (record, event) => reduceCatalog(record as Parameters<typeof reduceCatalog>[0], event),
  },
];

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** JSON with sorted object keys: records compare by content, not by the order fields were set. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

async function readBucket(kv: KV): Promise<Map<string, unknown>> {
  const records = new Map<string, unknown>();
  for await (const key of await kv.keys()) {
    const entry = await kv.get(key);
    if (entry?.operation === "PUT") records.set(key, JSON.parse(decoder.decode(entry.value)));
  }
  return records;
}

function compare(
  name: string,
  bucket: string,
  replayed: Map<string, unknown>,
  stored: Map<string, unknown>,
  label: (key: string, record: unknown) => string = (key) => key,
): ProjectionCheck {
  const keys = new Set([...replayed.keys(), ...stored.keys()]);
  const differing = [...keys]
    .filter((key) => canonical(replayed.get(key)) !== canonical(stored.get(key)))
    .map((key) => label(key, replayed.get(key) ?? stored.get(key)))
    .sort();
  return { name, bucket, replayed: replayed.size, stored: stored.size, differing };
}

/** Folds the config stream into every configuration projection, as the live projectors do. */
async function replayConfig(nc: NatsConnection): Promise<Map<ConfigProjection, Map<string, unknown>>> {
  const folds = new Map(configProjections.map((projection) => [projection, new Map<string, unknown>()]));
  for (const { seq, event } of await readEvents(nc, StreamNames.config, `${SubjectRoots.config}.>`)) {
    for (const [projection, records] of folds) {
      const key = projection.keyOf(event);
      if (key === undefined) continue;
      const next = projection.reduce(records.get(key), event, seq);
      if (next !== undefined) records.set(key, next);
    }
  }
  return folds;
}

/** Every tenant that has quota facts in the log or a quota record in KV. */
async function quotaTenants(nc: NatsConnection, kv: KV): Promise<Set<string>> {
  const tenants = new Set<string>();
  for await (const key of await kv.keys()) tenants.add(key);
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(StreamNames.quota, { subjects_filter: `${SubjectRoots.quota}.>` });
  for (const subject of Object.keys(info.state.subjects ?? {})) {
    const tenant = subject.split(".")[2];
    if (tenant) tenants.add(tenant);
  }
  return tenants;
}

/**
 * Folds the whole usage stream into spend cells, streaming: memory holds one record per
 * tenant × day × key × model cell, never the usage records themselves.
 */
async function replaySpend(nc: NatsConnection): Promise<Map<string, unknown>> {
  const cells = new Map<string, SpendRecord>();
  for await (const message of readStream(nc, {
    stream: StreamNames.usage,
    filters: [`${SubjectRoots.usage}.>`],
  })) {
    const event = decodeEvent(message.data, message.headers);
    const key = spendKvKey(event);
    if (!key) continue;
    const next = reduceSpend(cells.get(key), event, message.seq);
    if (next) cells.set(key, next);
  }
  return cells;
}

/** Where a projection check is: `compare` counts projections, `rebuild` counts KV writes. */
export type ProjectionProgress = (phase: "compare" | "rebuild", done: number, total: number) => void;

/** Replays every projection and compares it with KV; with `rebuild`, replaces KV by the replay. */
export async function verifyProjections(
  nc: NatsConnection,
  options: { rebuild?: boolean; onProgress?: ProjectionProgress } = {},
): Promise<ProjectionCheck[]> {
  const kvm = new Kvm(nc);
  const checks: ProjectionCheck[] = [];
  const rebuilds: Array<{ kv: KV; replayed: Map<string, unknown>; stored: Map<string, unknown> }> = [];

  const config = await replayConfig(nc);
  // The configuration projections, then quotas and spend.
  const projections = config.size + 2;
  const compared = () => options.onProgress?.("compare", checks.length, projections);
  compared();
  for (const [projection, replayed] of config) {
    const kv = await kvm.open(projection.bucket);
    const stored = await readBucket(kv);
    checks.push(compare(projection.name, projection.bucket, replayed, stored, projection.label));
    rebuilds.push({ kv, replayed, stored });
    compared();
  }

  const quotaKv = await kvm.open(KvBuckets.quota);
  const log = new QuotaLog(nc);
  const replayedQuota = new Map<string, unknown>();
  for (const tenant of await quotaTenants(nc, quotaKv)) replayedQuota.set(tenant, await log.rebuild(tenant));
  const storedQuota = await readBucket(quotaKv);
  checks.push(compare("quotas", KvBuckets.quota, replayedQuota, storedQuota));
  rebuilds.push({ kv: quotaKv, replayed: replayedQuota, stored: storedQuota });
  compared();

  const spendKv = await kvm.open(KvBuckets.spend);
  const replayedSpend = await replaySpend(nc);
  const storedSpend = await readBucket(spendKv);
  checks.push(compare("spend", KvBuckets.spend, replayedSpend, storedSpend));
  rebuilds.push({ kv: spendKv, replayed: replayedSpend, stored: storedSpend });
  compared();

  if (options.rebuild) {
    let writes = 0;
    for (const { replayed, stored } of rebuilds) {
      writes += replayed.size + [...stored.keys()].filter((key) => !replayed.has(key)).length;
    }
    let written = 0;
    const wrote = () => options.onProgress?.("rebuild", ++written, writes);
    for (const { kv, replayed, stored } of rebuilds) {
      for (const [key, record] of replayed) {
        await kv.put(key, encoder.encode(JSON.stringify(record)));
        wrote();
      }
      for (const key of stored.keys()) {
        if (replayed.has(key)) continue;
        await kv.delete(key);
        wrote();
      }
    }
  }
  return checks;
}
