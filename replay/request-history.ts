import type { NatsConnection } from "@nats-io/transport-node";
import { requestHistoryFilter, tenantUsageFilter } from "../src/events/index.js";
import { type EventCodec, readEvents, type StoredEvent, StreamNames } from "../src/nats/index.js";

/** One request's whole ordered chain (accepted → decided → attempts → terminal). */
export function readRequestHistory(
  nc: NatsConnection,
  tenant: string,
  requestId: string,
  /** Opens sealed content (the store's codec); without it content stays as stored. */
  codec?: EventCodec,
): Promise<StoredEvent[]> {
  return readEvents(nc, StreamNames.requests, requestHistoryFilter(tenant, requestId), codec);
}

/** Usage records of one tenant, in order. */
export function readTenantUsage(nc: NatsConnection, tenant: string): Promise<StoredEvent[]> {
  return readEvents(nc, StreamNames.usage, tenantUsageFilter(tenant));
}
