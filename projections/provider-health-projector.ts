import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../src/errors/index.js";
import {
  type BeamlineEvent,
  causedBy,
  decodeEvent,
  makeEvent,
  RequestSlots,
  slotFilter,
} from "../src/events/index.js";
import type { EventStore, StageHandler } from "../src/nats/index.js";
import {
  ConsumerNames,
  HEALTH_KEY_FILTER,
  healthKey,
  healthSubject,
  isRevisionConflict,
  KvBuckets,
  StreamNames,
} from "../src/nats/index.js";
import type { FoldKey, WindowedEvent } from "./fold-window.js";
import { type OrderedFoldOptions, orderedFoldStage } from "./ordered-fold-stage.js";
import {
  type BreakerTransition,
  type HealthPolicy,
  healthTarget,
  type ProviderHealth,
  reduceProviderHealth,
} from "./provider-health.js";

const encoder = new TextEncoder();
const ATTEMPT_FILTER = slotFilter(`${RequestSlots.attempt}.*`);
const decoder = new TextDecoder();

export function decodeProviderHealth(value: Uint8Array): ProviderHealth {
  return JSON.parse(decoder.decode(value)) as ProviderHealth;
}

async function readRecord(
  kv: KV,
  key: string,
): Promise<{ health: ProviderHealth; revision: number } | undefined> {
  const entry = await kv.get(key);
  return entry && entry.operation === "PUT"
    ? { health: decodeProviderHealth(entry.value), revision: entry.revision }
    : undefined;
}

/** The event of a transition, id derived from the attempt that caused it (a redelivery repeats it exactly). */
export function transitionEvent(cause: BeamlineEvent, transition: BreakerTransition): BeamlineEvent {
  const suffix = transition.type.slice("provider.".length);
  const at = transition.type === "provider.breaker_opened" ? transition.data.openedAt : transition.data.at;
  // Each branch keeps type and data paired for makeEvent's overloads.
  const id = `${cause.id}:${suffix}`;
  const context = causedBy(cause);
  switch (transition.type) {
    case "provider.breaker_opened":
      return makeEvent(transition.type, id, context, transition.data, new Date(at));
    case "provider.breaker_half_opened":
      return makeEvent(transition.type, id, context, transition.data, new Date(at));
    case "provider.breaker_closed":
      return makeEvent(transition.type, id, context, transition.data, new Date(at));
  }
}

/**
 * Folds a key's attempt events (in stream order) into its provider/model record in KV with one
 * write. Transitions are stored first (their ids are deterministic, so a crash before the KV
 * write repeats them as duplicates), then the record, with a revision check. The in-memory
 * cache only saves a read: a revision conflict (another instance wrote) drops it and re-reads,
 * and a fold that produces a transition is confirmed against the stored revision before the
 * transition is written.
 */
export function createHealthFold(kv: KV, store: EventStore, policy: HealthPolicy): FoldKey {
  const cache = new Map<string, { health: ProviderHealth; revision: number }>();
  return async function foldKey(key: string, events: readonly WindowedEvent[]): Promise<void> {
    for (let tries = 0; tries < 20; tries++) {
      let known = cache.get(key);
      const fromCache = known !== undefined;
      if (!known) known = await readRecord(kv, key);
      let health = known?.health;
      const transitions: Array<{ cause: BeamlineEvent; transition: BreakerTransition }> = [];
      for (const { event, sequence } of events) {
        const folded = reduceProviderHealth(health, event, sequence, policy);
        health = folded.health;
        for (const transition of folded.transitions) transitions.push({ cause: event, transition });
      }
      if (!health || health === known?.health) return;
      // Transitions are stored before the record, so they must come from the stored record:
      // a cache left stale by another projector instance would invent one (an "opened" for a
      // breaker that is already open). The revision check on the write comes too late for
      // that; re-read instead. Once confirmed, only a redelivery of these same events can
      // write, with the same transition ids.
      if (fromCache && transitions.length > 0 && (await readRecord(kv, key))?.revision !== known?.revision) {
        cache.delete(key);
        continue;
      }
      for (const { cause, transition } of transitions) {
        await store.append(
          healthSubject(transition.data.provider, transition.data.model),
          transitionEvent(cause, transition),
        );
      }
      const payload = encoder.encode(JSON.stringify(health));
      try {
        const revision = known
          ? await kv.update(key, payload, known.revision)
          : await kv.create(key, payload);
        cache.set(key, { health, revision });
        return;
      } catch (error) {
        cache.delete(key);
        if (!isRevisionConflict(error)) throw error;
      }
    }
    throw new BeamlineError("BL_INTERNAL", `provider health projection kept losing races on ${key}`);
  };
}

/** Folds one attempt event into its record at once (no window): tools and tests. */
export function createHealthProjection(kv: KV, store: EventStore, policy: HealthPolicy) {
  const foldKey = createHealthFold(kv, store, policy);
  return async function project(event: BeamlineEvent, sequence: number): Promise<void> {
    const target = healthTarget(event);
    if (target) await foldKey(healthKey(target.provider, target.model), [{ event, sequence }]);
  };
}

/**
 * How long attempt events are gathered before the health records they change are written, ms.
 * Chosen by measurement (docs/architecture.md, "Provider health: a windowed ordered fold"):
 * long enough that a busy key is written a few times a second instead of per attempt, short
 * enough that a breaker opens well within a provider's retry budget.
 */
export const HEALTH_FOLD_WINDOW_MS = 100;

/**
 * The live projector: attempt events of BL_REQUESTS → KV `bl_health` and BL_HEALTH
 * transitions, one KV write per changed provider/model per window. A message is acknowledged
 * only once the write that covers it is stored.
 *
 * The fold needs stream order per key: an ordered fold (projections/ordered-fold-stage.ts).
 */
export async function providerHealthProjector(
  store: EventStore,
  policy: HealthPolicy,
  options: OrderedFoldOptions = {},
): Promise<StageHandler> {
  const kv = await new Kvm(store.nc).open(KvBuckets.health);
  return orderedFoldStage(store.nc, {
    stream: StreamNames.requests,
    consumer: ConsumerNames.healthProjector,
    filter: ATTEMPT_FILTER,
    windowMs: options.windowMs ?? HEALTH_FOLD_WINDOW_MS,
    foldKey: createHealthFold(kv, store, policy),
    keyOf: (event) => {
      const target = healthTarget(event);
      return target ? healthKey(target.provider, target.model) : undefined;
    },
    onRetry: options.onRetry,
  });
}

/**
 * Replays every attempt event through the same reducer, from the first stored one up to the
 * stream's last sequence when the replay started, and returns the records by KV key.
 * Transitions are not re-published: they are already in BL_HEALTH.
 */
export async function replayProviderHealth(
  nc: NatsConnection,
  policy: HealthPolicy,
): Promise<Map<string, ProviderHealth>> {
  const records = new Map<string, ProviderHealth>();
  const filter = ATTEMPT_FILTER;
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(StreamNames.requests);
  const lastSeq = info.state.last_seq;
  if (info.state.messages === 0) return records;
  const consumer = await jetstream(nc).consumers.get(StreamNames.requests, {
    filter_subjects: [filter],
    deliver_policy: DeliverPolicy.All,
  });
  // Nothing to read: an ordered consumer would otherwise wait for the first message forever.
  if ((await consumer.info()).num_pending === 0) return records;
  const messages = await consumer.consume();
  for await (const msg of messages) {
    if (msg.seq <= lastSeq) {
      const event = decodeEvent(msg.data, msg.headers);
      const target = healthTarget(event);
      if (target) {
        const key = healthKey(target.provider, target.model);
        const { health } = reduceProviderHealth(records.get(key), event, msg.seq, policy);
        if (health) records.set(key, health);
      }
    }
    if (msg.info.pending === 0 || msg.seq >= lastSeq) break;
  }
  await messages.close();
  return records;
}

/** The health records currently in KV, by key. */
export async function readProviderHealth(kv: KV): Promise<Map<string, ProviderHealth>> {
  const records = new Map<string, ProviderHealth>();
  const keys = await kv.keys(HEALTH_KEY_FILTER);
  for await (const key of keys) {
    const entry = await kv.get(key);
    if (entry && entry.operation === "PUT") records.set(key, decodeProviderHealth(entry.value));
  }
  return records;
}

/** Keys whose replayed record differs from the stored one (missing on either side included). */
export function diffProviderHealth(
  replayed: Map<string, ProviderHealth>,
  stored: Map<string, ProviderHealth>,
): string[] {
  const keys = new Set([...replayed.keys(), ...stored.keys()]);
  return [...keys]
    .filter((key) => JSON.stringify(replayed.get(key)) !== JSON.stringify(stored.get(key)))
    .sort();
}

/** Replaces the KV records with the replayed ones (stop the live projector first). */
export async function writeProviderHealth(kv: KV, replayed: Map<string, ProviderHealth>): Promise<void> {
  const stored = await readProviderHealth(kv);
  for (const [key, health] of replayed) await kv.put(key, encoder.encode(JSON.stringify(health)));
  for (const key of stored.keys()) if (!replayed.has(key)) await kv.delete(key);
}
