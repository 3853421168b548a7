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
  /** Highest stream sequence folded in (informational: the fold itself is order-free). */
  lastSequence: number;
}

/**
 * Pure reducer (record, event, sequence) → record. Shared by the live projector and the
 * rebuild path, so the two cannot drift. A key is issued once and revoked at most once, so
 * the fold is a commutative merge: any delivery order, and any replay, gives the same record.
 * Returns the input unchanged for events it ignores.
 */
export function reduceApiKey(
  record: ApiKeyRecord | undefined,
  event: BeamlineEvent,
  sequence: number,
): ApiKeyRecord | undefined {
  const lastSequence = Math.max(record?.lastSequence ?? 0, sequence);
  if (isEvent(event, "apikey.issued")) {
    const next: ApiKeyRecord = {
      keyId: event.data.keyId,
      tenant: event.tenant,
      keyPrefix: event.data.keyPrefix,
      status: record?.revokedAt !== undefined ? "revoked" : "active",
      issuedAt: event.time,
      lastSequence,
    };
    if (event.data.label !== undefined) next.label = event.data.label;
    if (record?.revokedAt !== undefined) next.revokedAt = record.revokedAt;
    return sameOrNext(record, next);
  }
  if (isEvent(event, "apikey.revoked")) {
    const next: ApiKeyRecord = {
      keyId: event.data.keyId,
      tenant: event.tenant,
      keyPrefix: record?.keyPrefix ?? "",
      status: "revoked",
      revokedAt: record?.revokedAt ?? event.time,
      lastSequence,
    };
    if (record?.label !== undefined) next.label = record.label;
    if (record?.issuedAt !== undefined) next.issuedAt = record.issuedAt;
    return sameOrNext(record, next);
  }
  return record;
}

/** The current record when folding changed nothing (so a redelivery causes no KV write). */
function sameOrNext(record: ApiKeyRecord | undefined, next: ApiKeyRecord): ApiKeyRecord {
  if (!record) return next;
  const keys = new Set([...Object.keys(record), ...Object.keys(next)]) as Set<keyof ApiKeyRecord>;
  for (const key of keys) if (record[key] !== next[key]) return next;
  return record;
}

/** KV key of an event the API-key projection cares about, or undefined. */
export function apiKeyKvKey(event: BeamlineEvent): string | undefined {
  if (isEvent(event, "apikey.issued") || isEvent(event, "apikey.revoked")) return event.data.keyHash;
  return undefined;
}
