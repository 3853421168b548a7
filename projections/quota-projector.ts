import { type KV, Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../src/errors/index.js";
import type { BeamlineEvent } from "../src/events/index.js";
import type { Delivery, StageHandler } from "../src/nats/index.js";
import { ConsumerNames, KvBuckets, StreamNames } from "../src/nats/index.js";
import { emptyQuotaState, type QuotaState, quotaStateSchema } from "../src/quotas/index.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** KV bucket `bl_quota`: one entry per tenant, its folded quota state. */
export async function openQuotaKv(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).open(KvBuckets.quota);
}

/** The projected state of a tenant from KV, validated; undefined when none was written yet. */
export async function readProjectedQuota(kv: KV, tenant: string): Promise<QuotaState | undefined> {
  const entry = await kv.get(tenant);
  if (entry?.operation !== "PUT") return undefined;
  const parsed = quotaStateSchema.safeParse(JSON.parse(decoder.decode(entry.value)));
  if (!parsed.success) {
    throw new BeamlineError(
      "BL_EVENT_INVALID",
      `quota state of tenant ${tenant} in KV is invalid: ${parsed.error.message}`,
    );
  }
  return parsed.data;
}

/**
 * What the projector needs of the tenant's quota log: fold every fact after the state's
 * sequence into it (admission's QuotaLog provides it; the projector does not write the log).
 */
export interface QuotaLogReader {
  /** Direct reads: any replica answers, so a lagging one may end the read early. */
  catchUp(state: QuotaState): Promise<QuotaState>;
  /** Reads on through the stream leader: ends only where the log ends. */
  catchUpConfirmed(state: QuotaState): Promise<QuotaState>;
}

/**
 * Brings the tenant's KV entry up to at least `sequence` by folding the log after the
 * entry's own sequence, then a revision-checked write. Idempotent and order-free: an entry
 * already at or past `sequence` is left alone, and two projectors racing on one tenant both
 * re-read and converge on the same fold.
 */
export async function projectQuota(
  kv: KV,
  log: QuotaLogReader,
  tenant: string,
  sequence: number,
): Promise<void> {
  for (let tries = 0; tries < 20; tries++) {
    const entry = await kv.get(tenant);
    const current =
      entry && entry.operation === "PUT"
        ? quotaStateSchema.parse(JSON.parse(decoder.decode(entry.value)))
        : emptyQuotaState(tenant);
    if (current.seq >= sequence) return;
    let next = await log.catchUp(current);
    // The delivered event is stored at `sequence`: a read that ended before it was answered by
    // a lagging replica, and acknowledging now would leave the entry behind the log.
    if (next.seq < sequence) next = await log.catchUpConfirmed(next);
    if (next.seq === current.seq) return;
    const payload = encoder.encode(JSON.stringify(next));
    try {
      if (entry) await kv.update(tenant, payload, entry.revision);
      else await kv.create(tenant, payload);
      return;
    } catch (error) {
      if (!/wrong last sequence|key exists/i.test((error as Error).message)) throw error;
    }
  }
  throw new BeamlineError("BL_INTERNAL", `quota projection of tenant ${tenant} kept losing races`);
}

/** The live projector: `BL_QUOTA` events → KV `bl_quota`, run as a durable consumer. */
export async function quotaProjector(nc: NatsConnection, log: QuotaLogReader): Promise<StageHandler> {
  const kv = await openQuotaKv(nc);
  return {
    name: ConsumerNames.quotaProjector,
    spanName: `beamline.projector ${ConsumerNames.quotaProjector}`,
    stream: StreamNames.quota,
    async handle(event: BeamlineEvent, delivery: Delivery) {
      await projectQuota(kv, log, event.tenant, delivery.streamSequence);
    },
  };
}
