import { isDeepStrictEqual } from "node:util";
import type { BeamlineEvent } from "../src/events/index.js";
import { isEvent } from "../src/events/index.js";
import type { QuotaLimits } from "../src/quotas/index.js";

/** The projected state of one API key, stored in KV under its hash. */
export interface ApiKeyRecord {
  keyId: string;
  tenant: string;
  keyPrefix: string;
  /**
   * `revoked` once any revocation is recorded. A rotation's revocation may take effect later
   * (`revokedAt` in the future): use {@link keyStateAt} for what a request sees now.
   */
  status: "active" | "revoked";
  label?: string;
  issuedAt?: string;
  /** When the revocation takes (or took) effect: the earliest of all recorded revocations. */
  revokedAt?: string;
  /** After this time the key is refused (checked at request time). */
  expiresAt?: string;
  /** Catalog model ids or aliases the key may use; absent means any. */
  models?: string[];
  /** Per-key quota limits, enforced by admission. */
  limits?: QuotaLimits;
  rotatedFrom?: string;
  replacedBy?: string;
  /** Highest stream sequence folded in (informational: the fold itself is order-free). */
  lastSequence: number;
}

/** What a request presenting the key meets at a given time. */
export type ApiKeyState = "active" | "grace" | "revoked" | "expired";

/**
 * The key's state at `now`: `grace` is a rotated key still accepted until its revocation
 * takes effect. Pure: the gateway passes its clock, so expiry needs no event.
 */
export function keyStateAt(record: ApiKeyRecord, now: Date): ApiKeyState {
  const nowMs = now.getTime();
  if (record.revokedAt !== undefined && Date.parse(record.revokedAt) <= nowMs) return "revoked";
  if (record.expiresAt !== undefined && Date.parse(record.expiresAt) <= nowMs) return "expired";
  if (record.status === "revoked") return "grace";
  return "active";
}

/**
 * Pure reducer (record, event, sequence) → record. Shared by the live projector and the
 * rebuild path, so the two cannot drift. A key is issued once; revocations only ever move
 * its end earlier (the earliest effective time wins), so the fold is a commutative merge:
 * any delivery order, and any replay, gives the same record.
 * Returns the input unchanged for events it ignores or that change nothing.
 */
export function reduceApiKey(
  record: ApiKeyRecord | undefined,
  event: BeamlineEvent,
  sequence: number,
): ApiKeyRecord | undefined {
  const lastSequence = Math.max(record?.lastSequence ?? 0, sequence);
  if (isEvent(event, "apikey.issued")) {
    const { data } = event;
    const next: ApiKeyRecord = {
      keyId: data.keyId,
      tenant: event.tenant,
      keyPrefix: data.keyPrefix,
      status: record?.status ?? "active",
      issuedAt: event.time,
      lastSequence,
    };
    if (data.label !== undefined) next.label = data.label;
    if (data.expiresAt !== undefined) next.expiresAt = data.expiresAt;
    if (data.models !== undefined) next.models = data.models;
    if (data.limits !== undefined) next.limits = data.limits;
    if (data.rotatedFrom !== undefined) next.rotatedFrom = data.rotatedFrom;
    copyRevocation(record, next);
    return sameOrNext(record, next);
  }
  if (isEvent(event, "apikey.revoked")) {
    const effectiveAt = event.data.effectiveAt ?? event.time;
    const next: ApiKeyRecord = {
      ...(record ?? { keyId: event.data.keyId, tenant: event.tenant, keyPrefix: "" }),
      status: "revoked",
      lastSequence,
    };
    const earliest =
      record?.revokedAt !== undefined && Date.parse(record.revokedAt) <= Date.parse(effectiveAt)
        ? record.revokedAt
        : effectiveAt;
    next.revokedAt = earliest;
    // A key is rotated at most once (only an active key can be), so there is one replacement.
    const replacedBy = record?.replacedBy ?? event.data.replacedBy;
    if (replacedBy !== undefined) next.replacedBy = replacedBy;
    return sameOrNext(record, next);
  }
  return record;
}

function copyRevocation(from: ApiKeyRecord | undefined, to: ApiKeyRecord): void {
  if (from?.revokedAt !== undefined) to.revokedAt = from.revokedAt;
  if (from?.replacedBy !== undefined) to.replacedBy = from.replacedBy;
}

/** The current record when folding changed nothing (so a redelivery causes no KV write). */
function sameOrNext(record: ApiKeyRecord | undefined, next: ApiKeyRecord): ApiKeyRecord {
  return record && isDeepStrictEqual(record, next) ? record : next;
}

/** KV key of an event the API-key projection cares about, or undefined. */
export function apiKeyKvKey(event: BeamlineEvent): string | undefined {
  if (isEvent(event, "apikey.issued") || isEvent(event, "apikey.revoked")) return event.data.keyHash;
  return undefined;
}
