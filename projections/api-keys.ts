import type { BeamlineEvent } from "../src/events/index.js";
import { isEvent } from "../src/events/index.js";

/** The projected state of one API key, stored in KV under its hash. */
export interface ApiKeyRecord {
  keyId: string;
  tenant: string;
  keyPrefix: string;
  status: "active" | "revoked";
  label?: string;
  issuedAt?: string;
  revokedAt?: string;
  /** Stream sequence of the last event folded in: older events are ignored, so redelivery
   * and out-of-order delivery across projector instances converge on the same record. */
  lastSequence: number;
}

/**
 * Pure reducer (record, event, sequence) → record. Shared by the live projector and the
 * rebuild path, so the two cannot drift. Returns the input unchanged for events it ignores.
 */
export function reduceApiKey(
  record: ApiKeyRecord | undefined,
  event: BeamlineEvent,
  sequence: number,
): ApiKeyRecord | undefined {
  if (record && sequence <= record.lastSequence) return record;
  if (isEvent(event, "apikey.issued")) {
    const next: ApiKeyRecord = {
      keyId: event.data.keyId,
      tenant: event.tenant,
      keyPrefix: event.data.keyPrefix,
      status: record?.status === "revoked" ? "revoked" : "active",
      issuedAt: event.time,
      lastSequence: sequence,
    };
    if (event.data.label !== undefined) next.label = event.data.label;
    if (record?.revokedAt !== undefined) next.revokedAt = record.revokedAt;
    return next;
  }
  if (isEvent(event, "apikey.revoked")) {
    return {
      keyId: event.data.keyId,
      tenant: event.tenant,
      keyPrefix: record?.keyPrefix ?? "",
      ...(record?.label !== undefined ? { label: record.label } : {}),
      ...(record?.issuedAt !== undefined ? { issuedAt: record.issuedAt } : {}),
      status: "revoked",
      revokedAt: event.time,
      lastSequence: sequence,
    };
  }
  return record;
}

/** KV key of an event the API-key projection cares about, or undefined. */
export function apiKeyKvKey(event: BeamlineEvent): string | undefined {
  if (isEvent(event, "apikey.issued") || isEvent(event, "apikey.revoked")) return event.data.keyHash;
  return undefined;
}
