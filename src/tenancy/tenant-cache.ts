import type { NatsConnection } from "@nats-io/transport-node";
import type { TenantRecord } from "../../projections/tenants.js";
import { decodeTenantRecord } from "../../projections/tenants-projector.js";
import { type KvView, watchKvView } from "../nats/kv-view.js";
import { KvBuckets } from "../nats/names.js";
import type { Logger } from "../observability/index.js";

/** The gateway's view of tenants (id → record), kept live by a KV watch like the key cache. */
export type TenantCache = KvView<TenantRecord>;

export function watchTenants(nc: NatsConnection, log: Logger): Promise<TenantCache> {
  return watchKvView(nc, KvBuckets.tenants, { decode: decodeTenantRecord, log });
}
