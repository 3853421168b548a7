import type { KV } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import { BeamlineError } from "../src/errors/index.js";
import type { BeamlineEvent } from "../src/events/index.js";
import type { EventStore } from "../src/nats/event-store.js";
import type { Delivery, StageHandler } from "../src/stages/runner.js";
import { ConsumerNames, KvBuckets, StreamNames } from "../streams/definitions.js";
import { type ApiKeyRecord, apiKeyKvKey, reduceApiKey } from "./api-keys.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function decodeApiKeyRecord(value: Uint8Array): ApiKeyRecord {
  return JSON.parse(decoder.decode(value)) as ApiKeyRecord;
}

/**
 * Folds one event into the KV record with a revision check: two projector instances racing
 * on one key both re-read and re-apply, and the reducer's sequence guard makes the result
 * the same whichever wins.
 */
export async function projectApiKeyEvent(kv: KV, event: BeamlineEvent, sequence: number): Promise<void> {
  const key = apiKeyKvKey(event);
  if (!key) return;
  for (let tries = 0; tries < 20; tries++) {
    const entry = await kv.get(key);
    const current = entry && entry.operation === "PUT" ? decodeApiKeyRecord(entry.value) : undefined;
    const next = reduceApiKey(current, event, sequence);
    if (!next || next === current) return;
    const payload = encoder.encode(JSON.stringify(next));
    try {
      if (entry) await kv.update(key, payload, entry.revision);
      else await kv.create(key, payload);
      return;
    } catch (error) {
      if (!/wrong last sequence|key exists/i.test((error as Error).message)) throw error;
    }
  }
  throw new BeamlineError("BL_INTERNAL", `API key projection kept losing races on ${key.slice(0, 8)}…`);
}

/** The live projector: the config stream's API-key events → KV `bl_apikeys`. */
export async function apiKeysProjector(store: EventStore): Promise<StageHandler> {
  const kv = await new Kvm(store.nc).open(KvBuckets.apiKeys);
  return {
    name: ConsumerNames.apiKeysProjector,
    stream: StreamNames.config,
    async handle(event: BeamlineEvent, delivery: Delivery) {
      await projectApiKeyEvent(kv, event, delivery.streamSequence);
    },
  };
}
