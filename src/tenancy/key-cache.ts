import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ApiKeyRecord } from "../../projections/api-keys.js";
import { decodeApiKeyRecord } from "../../projections/api-keys-projector.js";
import { KvBuckets } from "../../streams/definitions.js";
import type { Logger } from "../observability/index.js";

/**
 * The gateway's view of API keys: a KV watch keeps an in-memory map of hash → record, so
 * authentication is a map lookup and a revocation reaches every instance within a second.
 */
export interface ApiKeyCache {
  lookup(keyHash: string): ApiKeyRecord | undefined;
  /** Resolves once the initial contents of the bucket are loaded. */
  ready: Promise<void>;
  stop(): void;
}

export async function watchApiKeys(nc: NatsConnection, log: Logger): Promise<ApiKeyCache> {
  const kv = await new Kvm(nc).open(KvBuckets.apiKeys);
  const records = new Map<string, ApiKeyRecord>();
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const watcher = await kv.watch();
  // An empty bucket delivers nothing initially; otherwise the initial batch ends at delta 0.
  if ((await kv.status()).values === 0) markReady();
  void (async () => {
    for await (const entry of watcher) {
      if (entry.delta === 0) markReady();
      if (entry.operation === "PUT") {
        try {
          records.set(entry.key, decodeApiKeyRecord(entry.value));
        } catch (error) {
          log.error({ err: error }, "unreadable API key record in KV");
        }
      } else {
        records.delete(entry.key);
      }
    }
  })();
  return {
    lookup: (hash) => records.get(hash),
    ready,
    stop: () => watcher.stop(),
  };
}
