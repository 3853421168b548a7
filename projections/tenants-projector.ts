import type { KV } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import type { BeamlineEvent } from "../src/events/index.js";
import type { Delivery, EventStore, StageHandler } from "../src/nats/index.js";
import { ConsumerNames, decodeRecord, foldIntoKv, KvBuckets, StreamNames } from "../src/nats/index.js";
import { reduceTenant, type TenantRecord, tenantKvKey } from "./tenants.js";

export function decodeTenantRecord(value: Uint8Array): TenantRecord {
  return decodeRecord<TenantRecord>(value);
}

/** Folds one event into the tenant's KV record (keyed by tenant id). */
export async function projectTenantEvent(kv: KV, event: BeamlineEvent, sequence: number): Promise<void> {
  const key = tenantKvKey(event);
  if (!key) return;
  await foldIntoKv<TenantRecord>(kv, key, (current) => reduceTenant(current, event, sequence), "tenant");
}

/** The live projector: the config stream's tenant events → KV `bl_tenants`. */
export async function tenantsProjector(store: EventStore): Promise<StageHandler> {
  const kv = await new Kvm(store.nc).open(KvBuckets.tenants);
  return {
    name: ConsumerNames.tenantsProjector,
    spanName: `beamline.projector ${ConsumerNames.tenantsProjector}`,
    stream: StreamNames.config,
    // Configuration counts only when Beamline's admin wrote it (signed): a forged event changes nothing.
    requiresSignature: () => true,
    async handle(event: BeamlineEvent, delivery: Delivery) {
      await projectTenantEvent(kv, event, delivery.streamSequence);
    },
  };
}
