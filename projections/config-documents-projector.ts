import { type KV, Kvm } from "@nats-io/kv";
import { BeamlineError } from "../src/errors/index.js";
import { type BeamlineEvent, isEvent } from "../src/events/index.js";
import type { EventStore } from "../src/nats/event-store.js";
import type { StageHandler } from "../src/stages/runner.js";
import { ConsumerNames, KvBuckets, StreamNames } from "../streams/definitions.js";
import {
  CATALOG_KV_KEY,
  type CatalogRecord,
  type PolicyRecord,
  reduceCatalog,
  reducePolicy,
} from "./config-documents.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Folds one event into a KV entry with a revision check (create / update at the read
 * revision), re-reading on a lost race: two projector instances end with the same value.
 */
async function foldIntoKv<R>(
  kv: KV,
  key: string,
  reduce: (record: R | undefined) => R | undefined,
): Promise<void> {
  for (let tries = 0; tries < 20; tries++) {
    const entry = await kv.get(key);
    const current =
      entry && entry.operation === "PUT" ? (JSON.parse(decoder.decode(entry.value)) as R) : undefined;
    const next = reduce(current);
    if (next === undefined || next === current) return;
    const payload = encoder.encode(JSON.stringify(next));
    try {
      if (entry) await kv.update(key, payload, entry.revision);
      else await kv.create(key, payload);
      return;
    } catch (error) {
      if (!/wrong last sequence|key exists/i.test((error as Error).message)) throw error;
    }
  }
  throw new BeamlineError("BL_INTERNAL", `configuration projection kept losing races on ${key}`);
}

/** Applies one configuration event to the policy and catalog buckets; ignores every other event. */
export async function projectConfigDocumentEvent(
  policies: KV,
  catalog: KV,
  event: BeamlineEvent,
): Promise<void> {
  if (isEvent(event, "policy.updated")) {
    await foldIntoKv<PolicyRecord>(policies, event.tenant, (record) => reducePolicy(record, event));
  } else if (isEvent(event, "catalog.published")) {
    await foldIntoKv<CatalogRecord>(catalog, CATALOG_KV_KEY, (record) => reduceCatalog(record, event));
  }
}

/** The live projector: `policy.updated` → KV `bl_policies` (key = tenant), `catalog.published` → KV `bl_catalog`. */
export async function configDocumentsProjector(store: EventStore): Promise<StageHandler> {
  const kvm = new Kvm(store.nc);
  const policies = await kvm.open(KvBuckets.policies);
  const catalog = await kvm.open(KvBuckets.catalog);
  return {
    name: ConsumerNames.configDocumentsProjector,
    stream: StreamNames.config,
    async handle(event: BeamlineEvent) {
      await projectConfigDocumentEvent(policies, catalog, event);
    },
  };
}
