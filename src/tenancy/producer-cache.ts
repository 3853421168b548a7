import type { NatsConnection } from "@nats-io/transport-node";
import type { ProducerRecord } from "../../projections/index.js";
import { decodeProducerRecord } from "../../projections/index.js";
import { KvBuckets, type KvView, watchKvView } from "../nats/index.js";
import type { Logger } from "../observability/index.js";

/**
 * The worker's view of producer credentials (producer id → record), kept live by a KV watch
 * like the key cache: the ingress check is a map lookup, and a revocation reaches every
 * instance as fast as the watch delivers it.
 */
export type ProducerCache = KvView<ProducerRecord>;

export function watchProducers(nc: NatsConnection, log: Logger): Promise<ProducerCache> {
  return watchKvView(nc, KvBuckets.producers, { decode: decodeProducerRecord, log });
}
