import type { NatsConnection } from "@nats-io/transport-node";
import type { TenantRecord } from "../../projections/index.js";
import { decodeTenantRecord } from "../../projections/index.js";
import { KvBuckets, type KvView, watchKvView } from "../nats/index.js";
import type { Logger } from "../observability/index.js";

/** The gateway's view of tenants (id → record), kept live by a KV watch like the key cache. */
export type TenantCache = KvView<TenantRecord>;

export function watchTenants(nc: NatsConnection, log: Logger): Promise<TenantCache> {
  return watchKvView(nc, KvBuckets.tenants, { decode: decodeTenantRecord, log });
}
