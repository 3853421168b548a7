import type { NatsConnection } from "@nats-io/transport-node";
import type { ApiKeyRecord } from "../../projections/index.js";
import { decodeApiKeyRecord } from "../../projections/index.js";
import { KvBuckets, type KvView, watchKvView } from "../nats/index.js";
import type { Logger } from "../observability/index.js";

/**
 * The gateway's view of API keys (hash → record), kept live by a KV watch: authentication is
 * a map lookup, and a revocation reaches every instance within a second. `lookupBy(keyId)`
 * finds a record by key id, for workers that only know the id (from `request.accepted`),
 * e.g. to read the key's quota limits.
 */
export type ApiKeyCache = KvView<ApiKeyRecord>;

export function watchApiKeys(nc: NatsConnection, log: Logger): Promise<ApiKeyCache> {
  return watchKvView(nc, KvBuckets.apiKeys, {
    decode: decodeApiKeyRecord,
    log,
    secondaryKey: (record) => record.keyId,
    keysAreSecret: true,
  });
}
