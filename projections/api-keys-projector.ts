import type { KV } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import type { BeamlineEvent } from "../src/events/index.js";
import type { Delivery, EventStore, StageHandler } from "../src/nats/index.js";
import { ConsumerNames, decodeRecord, foldIntoKv, KvBuckets, StreamNames } from "../src/nats/index.js";
import { type ApiKeyRecord, apiKeyKvKey, reduceApiKey } from "./api-keys.js";

export function decodeApiKeyRecord(value: Uint8Array): ApiKeyRecord {
  return decodeRecord<ApiKeyRecord>(value);
}

/** Folds one event into the API key's KV record (keyed by the key's hash). */
export async function projectApiKeyEvent(kv: KV, event: BeamlineEvent, sequence: number): Promise<void> {
  const key = apiKeyKvKey(event);
  if (!key) return;
  await foldIntoKv<ApiKeyRecord>(kv, key, (current) => reduceApiKey(current, event, sequence), "API key");
}

/** The live projector: the config stream's API-key events → KV `bl_apikeys`. */
export async function apiKeysProjector(store: EventStore): Promise<StageHandler> {
  const kv = await new Kvm(store.nc).open(KvBuckets.apiKeys);
  return {
    name: ConsumerNames.apiKeysProjector,
    spanName: `beamline.projector ${ConsumerNames.apiKeysProjector}`,
    stream: StreamNames.config,
    // Configuration counts only when Beamline's admin wrote it (signed): a forged event changes nothing.
    requiresSignature: () => true,
    async handle(event: BeamlineEvent, delivery: Delivery) {
      await projectApiKeyEvent(kv, event, delivery.streamSequence);
    },
  };
}
