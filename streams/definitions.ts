import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { AUDIT_SUBJECT_ROOT } from "../src/audit/index.js";
import { RequestSlots, SubjectRoots, slotFilter } from "../src/events/index.js";
import {
  ConsumerNames,
  HEALTH_SUBJECT_ROOT,
  KvBuckets,
  ORDERED_FOLD_GROUP,
  ORDERED_FOLD_MAX_PENDING,
  ORDERED_FOLD_PIN_TIMEOUT_MS,
  StreamNames,
} from "../src/nats/index.js";

/** Settings that differ between a laptop (R1) and a cluster (R3); see docs/operations.md. */
export interface TopologySettings {
  replicas: number;
  requestRetentionDays: number;
  usageRetentionDays: number;
  duplicateWindowMs: number;
  persistMode: "default" | "async";
  ackWaitMs: number;
  maxDeliver: number;
  maxAckPending: number;
}

/** The part of a stream's configuration Beamline owns. Fields not listed are left to the server. */
export interface StreamSpec {
  name: string;
  description: string;
  subjects: string[];
  /** `workqueue` only for the ingress, whose messages are removed once the ingress stage has checked them. */
  retention: "limits" | "workqueue";
  storage: "file";
  num_replicas: number;
  /** Nanoseconds; 0 keeps messages forever. */
  max_age: number;
  max_bytes: number;
  duplicate_window: number;
  discard: "old" | "new";
  allow_direct: boolean;
  persist_mode: "default" | "async";
}

export interface ConsumerSpec {
  stream: string;
  durable_name: string;
  description: string;
  filter_subjects: string[];
  ack_policy: "explicit";
  deliver_policy: "all";
  /** Nanoseconds. */
  ack_wait: number;
  max_deliver: number;
  max_ack_pending: number;
  /** Consumers that hand all messages to one client at a time (nats-server 2.11 and later). */
  priority_groups?: string[];
  priority_policy?: "pinned_client";
  /** Nanoseconds a pinned client may go without pulling before the pin moves. */
  priority_timeout?: number;
}

export interface KvSpec {
  bucket: string;
  description: string;
  history: number;
  replicas: number;
  /**
   * Turns on per-entry TTLs (the stream's `allow_msg_ttl`, nats-server 2.11 and later) and keeps
   * the delete marker an expired entry leaves for this long, in milliseconds.
   */
  markerTtlMs?: number;
}

export interface Topology {
  streams: StreamSpec[];
  consumers: ConsumerSpec[];
  kv: KvSpec[];
}

const MS_NS = 1_000_000;
const DAY_MS = 86_400_000;

/**
 * The consumer settings of an ordered KV fold (provider health, spend): a window's worth of
 * messages in flight, folded per key in stream order and acknowledged after the one KV write
 * that covers them (projections/fold-window.ts); one instance folds at a time (the others
 * stand by), so windows never interleave (src/nats/ordered-fold.ts).
 */
const orderedFold: Pick<
  ConsumerSpec,
  "max_ack_pending" | "priority_groups" | "priority_policy" | "priority_timeout"
> = {
  max_ack_pending: ORDERED_FOLD_MAX_PENDING,
  priority_groups: [ORDERED_FOLD_GROUP],
  priority_policy: "pinned_client",
  priority_timeout: ORDERED_FOLD_PIN_TIMEOUT_MS * MS_NS,
};

/**
 * Every stream, durable consumer and KV bucket Beamline needs, derived from the settings.
 * `beamline streams apply` makes the server match this, idempotently.
 */
export function beamlineTopology(s: TopologySettings): Topology {
  const stream = (name: string, description: string, subjects: string[], maxAgeDays: number): StreamSpec => ({
    name,
    description,
    subjects,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: s.replicas,
    max_age: Math.round(maxAgeDays * DAY_MS) * MS_NS,
    max_bytes: -1,
    duplicate_window: s.duplicateWindowMs * MS_NS,
    // Discarding old messages is the only safe choice for a log of facts under limits:
    // refusing new ones would reject accepted requests.
    discard: DiscardPolicy.Old,
    allow_direct: true,
    persist_mode: s.persistMode,
  });
  const consumer = (stream: string, name: string, description: string, filters: string[]): ConsumerSpec => ({
    stream,
    durable_name: name,
    description,
    filter_subjects: filters,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: s.ackWaitMs * MS_NS,
    max_deliver: s.maxDeliver,
    max_ack_pending: s.maxAckPending,
  });
  return {
    streams: [
      stream(
        StreamNames.requests,
        "Beamline request lifecycle events",
        [`${SubjectRoots.requests}.>`],
        s.requestRetentionDays,
      ),
      stream(
        StreamNames.usage,
        "Beamline usage records: one per billable result",
        [`${SubjectRoots.usage}.>`],
        s.usageRetentionDays,
      ),
      stream(
        StreamNames.config,
        "Beamline configuration changes (tenants, keys, ...)",
        [`${SubjectRoots.config}.>`],
        0,
      ),
      stream(
        StreamNames.deadLetter,
        "Beamline stage messages that could not be processed",
        [`${SubjectRoots.deadLetter}.>`],
        30,
      ),
      stream(
        StreamNames.quota,
        "Beamline quota reservations, settlements and expiries (per tenant, serialised by subject sequence)",
        [`${SubjectRoots.quota}.>`],
        s.usageRetentionDays,
      ),
      stream(
        StreamNames.health,
        "Beamline provider circuit-breaker transitions",
        [`${HEALTH_SUBJECT_ROOT}.>`],
        s.requestRetentionDays,
      ),
      {
        // Work queue: a producer's request waits here only until the ingress stage has written
        // the checked request.accepted (the record); then it is removed. A day bounds what an
        // ingress outage can pile up.
        ...stream(
          StreamNames.ingress,
          "Beamline producers' requests awaiting the ingress checks (identity from the subject)",
          [`${SubjectRoots.ingress}.>`],
          1,
        ),
        retention: RetentionPolicy.Workqueue,
      },
      // Kept forever: a checkpoint is the only evidence of what its range held.
      stream(
        StreamNames.audit,
        "Beamline notary checkpoints: signed hash chains over every other stream",
        [`${AUDIT_SUBJECT_ROOT}.>`],
        0,
      ),
    ],
    consumers: [
      consumer(
        StreamNames.requests,
        ConsumerNames.worker,
        "request worker: accepted → decided → attempts → terminal",
        [slotFilter(RequestSlots.accepted)],
      ),
      consumer(StreamNames.requests, ConsumerNames.billing, "billing: terminal → usage record", [
        slotFilter(RequestSlots.terminal),
      ]),
      consumer(StreamNames.config, ConsumerNames.apiKeysProjector, "API key projection into KV", [
        `${SubjectRoots.config}.>`,
      ]),
      consumer(StreamNames.quota, ConsumerNames.quotaProjector, "quota projection into KV", [
        `${SubjectRoots.quota}.>`,
      ]),
      {
        ...consumer(
          StreamNames.requests,
          ConsumerNames.healthProjector,
          "provider health projection into KV",
          [slotFilter(`${RequestSlots.attempt}.*`)],
        ),
        ...orderedFold,
      },
      consumer(
        StreamNames.ingress,
        ConsumerNames.ingress,
        "ingress: producer request → checked request.accepted",
        [`${SubjectRoots.ingress}.>`],
      ),
      consumer(
        StreamNames.config,
        ConsumerNames.producersProjector,
        "producer credentials projected into KV",
        [`${SubjectRoots.config}.producer.>`],
      ),
      consumer(StreamNames.config, ConsumerNames.tenantsProjector, "tenant projection into KV", [
        `${SubjectRoots.config}.tenant.>`,
      ]),
      consumer(
        StreamNames.config,
        ConsumerNames.configDocumentsProjector,
        "tenant policies and the model catalog projected into KV",
        [`${SubjectRoots.config}.policy.>`, `${SubjectRoots.config}.catalog.>`],
      ),
      {
        ...consumer(StreamNames.usage, ConsumerNames.spendProjector, "spend projection into KV", [
          `${SubjectRoots.usage}.>`,
        ]),
        // A spend cell guards against double counting by the highest sequence folded in, which
        // needs stream order (see projections/spend.ts): an ordered fold, as health's.
        ...orderedFold,
      },
    ],
    kv: [
      {
        bucket: KvBuckets.apiKeys,
        description: "API key hash → tenant and status",
        history: 1,
        replicas: s.replicas,
      },
      {
        bucket: KvBuckets.quota,
        description: "tenant → quota state (projection of BL_QUOTA)",
        history: 1,
        replicas: s.replicas,
      },
      {
        bucket: KvBuckets.policies,
        description: "tenant → current policy document and version",
        history: 1,
        replicas: s.replicas,
      },
      {
        bucket: KvBuckets.health,
        description: "provider/model health and circuit breakers; half-open probe leases",
        history: 1,
        replicas: s.replicas,
      },
      {
        bucket: KvBuckets.tenants,
        description: "tenant id → name and status",
        history: 1,
        replicas: s.replicas,
      },
      {
        bucket: KvBuckets.catalog,
        description: "the current model catalog and its revision",
        history: 1,
        replicas: s.replicas,
      },
      {
        bucket: KvBuckets.extensions,
        description: "External extension registrations: <name>.<version> → stages, contract",
        history: 5,
        replicas: s.replicas,
      },
      {
        bucket: KvBuckets.producers,
        description: "producer id → tenant, models, limits, status (projection of producer.* events)",
        history: 1,
        replicas: s.replicas,
      },
      {
        bucket: KvBuckets.spend,
        description: "<tenant>.<day>.<key>.<model> → requests, tokens, cost (projection of BL_USAGE)",
        history: 1,
        replicas: s.replicas,
      },
      {
        bucket: KvBuckets.tenantKeys,
        description:
          "tenant → its data key wrapped by the master key, or its erasure mark (docs/security.md)",
        // One revision: an erasure's purge leaves no older revision holding the wrapped key.
        history: 1,
        replicas: s.replicas,
      },
      {
        bucket: KvBuckets.responseCache,
        description: "<tenant>.<key> → a cached answer sealed with the tenant's key (docs/caching.md)",
        history: 1,
        replicas: s.replicas,
        // Each entry carries the TTL of the tenant's policy; markers of expired ones go after a minute.
        markerTtlMs: 60_000,
      },
    ],
  };
}
