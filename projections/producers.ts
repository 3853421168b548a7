import { isDeepStrictEqual } from "node:util";
import type { BeamlineEvent } from "../src/events/index.js";
import { isEvent } from "../src/events/index.js";
import type { QuotaLimits } from "../src/quotas/index.js";

/** The projected state of one producer credential, stored in KV under its producer id. */
export interface ProducerRecord {
  producerId: string;
  tenant: string;
  /** Empty until `producer.issued` is folded in (a revocation may be delivered first). */
  status: "active" | "revoked";
  label?: string;
  issuedAt?: string;
  revokedAt?: string;
  /** Catalog model ids or aliases the producer may use; absent means any. */
  models?: string[];
  /** Per-producer quota limits, enforced by admission. */
  limits?: QuotaLimits;
  readUsage: boolean;
  /** Highest stream sequence folded in (informational: the fold itself is order-free). */
  lastSequence: number;
}

/**
 * Pure reducer (record, event, sequence) → record, shared by the live projector and any
 * rebuild. Issued once; a revocation is final and its earliest time wins, so the fold is a
 * commutative merge: any delivery order and any replay give the same record. Returns the
 * input unchanged for events it ignores or that change nothing.
 */
export function reduceProducer(
  record: ProducerRecord | undefined,
  event: BeamlineEvent,
  sequence: number,
): ProducerRecord | undefined {
  const lastSequence = Math.max(record?.lastSequence ?? 0, sequence);
  if (isEvent(event, "producer.issued")) {
    const { data } = event;
    const next: ProducerRecord = {
      producerId: data.producerId,
      tenant: event.tenant,
      status: record?.status ?? "active",
      issuedAt: event.time,
      readUsage: data.readUsage,
      lastSequence,
    };
    if (data.label !== undefined) next.label = data.label;
    if (data.models !== undefined) next.models = data.models;
    if (data.limits !== undefined) next.limits = data.limits;
    if (record?.revokedAt !== undefined) next.revokedAt = record.revokedAt;
    return sameOrNext(record, next);
  }
  if (isEvent(event, "producer.revoked")) {
    const base: ProducerRecord = record ?? {
      producerId: event.data.producerId,
      tenant: event.tenant,
      status: "revoked",
      readUsage: false,
      lastSequence: 0,
    };
    const revokedAt =
      base.revokedAt !== undefined && Date.parse(base.revokedAt) <= Date.parse(event.time)
        ? base.revokedAt
        : event.time;
    return sameOrNext(record, { ...base, status: "revoked", revokedAt, lastSequence });
  }
  return record;
}

function sameOrNext(record: ProducerRecord | undefined, next: ProducerRecord): ProducerRecord {
  return record && isDeepStrictEqual(record, next) ? record : next;
}

/** KV key of an event the producer projection cares about (the producer id), or undefined. */
export function producerKvKey(event: BeamlineEvent): string | undefined {
  if (isEvent(event, "producer.issued") || isEvent(event, "producer.revoked")) return event.data.producerId;
  return undefined;
}
