import { isDeepStrictEqual } from "node:util";
import type { BeamlineEvent } from "../src/events/index.js";
import { isEvent } from "../src/events/index.js";

/** The projected state of one tenant, stored in KV under the tenant id. */
export interface TenantRecord {
  tenant: string;
  /** Empty until `tenant.created` is folded in (a disable may be delivered first). */
  name: string;
  /** `erased` is final: the tenant's data key is destroyed and no enable brings it back. */
  status: "active" | "disabled" | "erased";
  /** Time of the `tenant.erased` event, once erased. */
  erasedAt?: string;
  createdAt?: string;
  /** Time of the disable / enable that set `status`. */
  statusChangedAt?: string;
  disabledReason?: string;
  /** Stream sequence of the disable / enable that set `status`: the latest one wins. */
  statusSequence: number;
  /** Highest stream sequence folded in. */
  lastSequence: number;
}

/**
 * Pure reducer (record, event, sequence) → record, shared by the live projector and the
 * rebuild path. Disable and enable do not commute, so the status is the one of the event with
 * the highest stream sequence (the order the log stored them in), whatever order they are
 * delivered in; creation only fills the name. Any delivery order and any replay converge.
 * Returns the input unchanged for events it ignores or that change nothing.
 */
export function reduceTenant(
  record: TenantRecord | undefined,
  event: BeamlineEvent,
  sequence: number,
): TenantRecord | undefined {
  const base: TenantRecord = record ?? {
    tenant: event.tenant,
    name: "",
    status: "active",
    statusSequence: 0,
    lastSequence: 0,
  };
  const lastSequence = Math.max(base.lastSequence, sequence);
  if (isEvent(event, "tenant.created")) {
    return sameOrNext(record, { ...base, name: event.data.name, createdAt: event.time, lastSequence });
  }
  if (isEvent(event, "tenant.erased")) {
    // Erasure is irreversible, so it commutes with everything: the first one's time is kept.
    return sameOrNext(record, {
      ...base,
      status: "erased",
      erasedAt: base.erasedAt ?? event.time,
      statusSequence: Math.max(base.statusSequence, sequence),
      lastSequence,
    });
  }
  if (base.status === "erased") return sameOrNext(record, { ...base, lastSequence });
  const disabled = isEvent(event, "tenant.disabled");
  if (disabled || isEvent(event, "tenant.enabled")) {
    if (sequence <= base.statusSequence) return sameOrNext(record, { ...base, lastSequence });
    const next: TenantRecord = {
      ...base,
      status: disabled ? "disabled" : "active",
      statusChangedAt: event.time,
      statusSequence: sequence,
      lastSequence,
    };
    delete next.disabledReason;
    if (disabled && event.data.reason !== undefined) next.disabledReason = event.data.reason;
    return sameOrNext(record, next);
  }
  return record;
}

function sameOrNext(record: TenantRecord | undefined, next: TenantRecord): TenantRecord {
  return record && isDeepStrictEqual(record, next) ? record : next;
}

/** KV key of an event the tenant projection cares about (the tenant id), or undefined. */
export function tenantKvKey(event: BeamlineEvent): string | undefined {
  if (
    isEvent(event, "tenant.created") ||
    isEvent(event, "tenant.disabled") ||
    isEvent(event, "tenant.enabled") ||
    isEvent(event, "tenant.erased")
  ) {
    return event.tenant;
  }
  return undefined;
}
