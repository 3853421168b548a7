import type { z } from "zod";
import {
  apiKeyIssuedV1,
  apiKeyRevokedV1,
  attemptFailedV1,
  attemptSucceededV1,
  cacheHitV1,
  catalogPublishedV1,
  extensionAppliedV1,
  hedgeReservedV1,
  hedgeSettledV1,
  policyUpdatedV1,
  producerIssuedV1,
  producerRevokedV1,
  providerBreakerClosedV1,
  providerBreakerHalfOpenedV1,
  providerBreakerOpenedV1,
  quotaExpiredV1,
  quotaReservedV1,
  quotaSettledV1,
  requestAcceptedV1,
  requestCompletedV1,
  requestFailedV1,
  routeDecidedV1,
  tenantCreatedV1,
  tenantDisabledV1,
  tenantEnabledV1,
  tenantErasedV1,
  usageRecordedV1,
} from "./types.js";

/**
 * Turns `data` of version `from` into version `from + 1`. Pure: no clock, no I/O, so a
 * replay of old history reads exactly as it did when it was current.
 */
export type Upcaster = (data: unknown) => unknown;

export interface EventTypeSpec<S extends z.ZodType = z.ZodType> {
  /** The version writers emit today. */
  version: number;
  schema: S;
  /** `upcasters[n]` lifts version n to n + 1, for every n below `version`. */
  upcasters: Readonly<Record<number, Upcaster>>;
}

function spec<S extends z.ZodType>(schema: S, version = 1, upcasters: Record<number, Upcaster> = {}) {
  return { version, schema, upcasters } satisfies EventTypeSpec<S>;
}

/** Every event type Beamline writes, with its current schema. Catalogued in docs/events.md. */
export const EventTypes = {
  "request.accepted": spec(requestAcceptedV1),
  "route.decided": spec(routeDecidedV1),
  "attempt.succeeded": spec(attemptSucceededV1),
  "attempt.failed": spec(attemptFailedV1),
  "request.completed": spec(requestCompletedV1),
  "request.failed": spec(requestFailedV1),
  "usage.recorded": spec(usageRecordedV1),
  "tenant.created": spec(tenantCreatedV1),
  "apikey.issued": spec(apiKeyIssuedV1),
  "apikey.revoked": spec(apiKeyRevokedV1),
  "quota.reserved": spec(quotaReservedV1),
  "quota.settled": spec(quotaSettledV1),
  "quota.expired": spec(quotaExpiredV1),
  "provider.breaker_opened": spec(providerBreakerOpenedV1),
  "provider.breaker_half_opened": spec(providerBreakerHalfOpenedV1),
  "provider.breaker_closed": spec(providerBreakerClosedV1),
  "tenant.disabled": spec(tenantDisabledV1),
  "tenant.enabled": spec(tenantEnabledV1),
  "tenant.erased": spec(tenantErasedV1),
  "policy.updated": spec(policyUpdatedV1),
  "catalog.published": spec(catalogPublishedV1),
  "extension.applied": spec(extensionAppliedV1),
  "producer.issued": spec(producerIssuedV1),
  "producer.revoked": spec(producerRevokedV1),
  "cache.hit": spec(cacheHitV1),
  // Hedged requests (docs/reliability.md).
  "hedge.reserved": spec(hedgeReservedV1),
  "hedge.settled": spec(hedgeSettledV1),
} as const;

export type EventType = keyof typeof EventTypes;
export type EventData<T extends EventType> = z.infer<(typeof EventTypes)[T]["schema"]>;

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EventTypes, type);
}
