import { type KV, Kvm } from "@nats-io/kv";
import { type BeamlineEvent, isEvent } from "../src/events/index.js";
import type { EventStore, StageHandler } from "../src/nats/index.js";
import { ConsumerNames, foldIntoKv, KvBuckets, StreamNames } from "../src/nats/index.js";
import {
  CATALOG_KV_KEY,
  type CatalogRecord,
  type PolicyRecord,
  reduceCatalog,
  reducePolicy,
} from "./config-documents.js";

/** Applies one configuration event to the policy and catalog buckets; ignores every other event. */
export async function projectConfigDocumentEvent(
  policies: KV,
  catalog: KV,
  event: BeamlineEvent,
): Promise<void> {
  if (isEvent(event, "policy.updated")) {
    await foldIntoKv<PolicyRecord>(policies, event.tenant, (record) => reducePolicy(record, event), "policy");
  } else if (isEvent(event, "catalog.published")) {
    await foldIntoKv<CatalogRecord>(
      catalog,
      CATALOG_KV_KEY,
      (record) => reduceCatalog(record, event),
      "catalog",
    );
  }
}

/** The live projector: `policy.updated` → KV `bl_policies` (key = tenant), `catalog.published` → KV `bl_catalog`. */
export async function configDocumentsProjector(store: EventStore): Promise<StageHandler> {
  const kvm = new Kvm(store.nc);
  const policies = await kvm.open(KvBuckets.policies);
  const catalog = await kvm.open(KvBuckets.catalog);
  return {
    name: ConsumerNames.configDocumentsProjector,
    spanName: `beamline.projector ${ConsumerNames.configDocumentsProjector}`,
    stream: StreamNames.config,
    // Configuration counts only when Beamline's admin wrote it (signed): a forged event changes nothing.
    requiresSignature: () => true,
    async handle(event: BeamlineEvent) {
      await projectConfigDocumentEvent(policies, catalog, event);
    },
  };
}
