import type { NatsConnection } from "@nats-io/transport-node";
import { requestHistoryFilter, tenantUsageFilter } from "../src/events/index.js";
import { readEvents, type StoredEvent, StreamNames } from "../src/nats/index.js";

/** One request's whole ordered chain (accepted → decided → attempts → terminal). */
export function readRequestHistory(
  nc: NatsConnection,
  tenant: string,
  requestId: string,
): Promise<StoredEvent[]> {
  return readEvents(nc, StreamNames.requests, requestHistoryFilter(tenant, requestId));
}

/** Usage records of one tenant, in order. */
export function readTenantUsage(nc: NatsConnection, tenant: string): Promise<StoredEvent[]> {
  return readEvents(nc, StreamNames.usage, tenantUsageFilter(tenant));
}
