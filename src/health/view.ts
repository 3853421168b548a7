import type { KV } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type BreakerState,
  breakerStateAt,
  decodeProviderHealth,
  type HealthPolicy,
  type ProviderHealth,
} from "../../projections/index.js";
import type { Clock } from "../events/index.js";
import type { Admission, BreakerGate } from "../execution/index.js";
import { followKvWatch, HEALTH_KEY_FILTER, healthKey, KvBuckets, probeKey } from "../nats/index.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Probe slots taken in one half-open period (`epoch`), shared by all instances through KV. */
interface ProbeLeases {
  /** Identifies the half-open period: the breaker's openUntil (or since, once half-open is stored). */
  epoch: string;
  /** Expiry times (ms since the epoch) of the slots taken. */
  leases: number[];
}

/** A live, in-memory copy of every provider/model health record, and the breaker gate on top of it. */
export interface HealthView extends BreakerGate {
  /** The record of one provider/model, or undefined when it has never been called. */
  get(provider: string, model: string): ProviderHealth | undefined;
  /** Breaker state now (half-open derived from the cooldown, see breakerStateAt). */
  state(provider: string, model: string): BreakerState;
  all(): ProviderHealth[];
  releaseProbe(provider: string, model: string, lease: number): Promise<void>;
  /** Highest KV revision seen: the snapshot's revision, recorded on routing decisions. */
  revision(): number;
  /** Stops watching. */
  stop(): Promise<void>;
}

export interface HealthViewOptions {
  nc: NatsConnection;
  policy: HealthPolicy;
  clock: Clock;
}

/**
 * Opens the `bl_health` bucket and keeps a watch on it: every instance sees a breaker open
 * as soon as the projector writes it. Resolves once the records stored at start are loaded.
 * Half-open admission takes a probe lease with a KV compare-and-set, so at most
 * `halfOpenMaxProbes` calls probe a provider/model at once across all instances; a lease
 * expires after `probeLeaseMs` in case its holder died.
 */
export async function startHealthView(options: HealthViewOptions): Promise<HealthView> {
  const { policy, clock } = options;
  const kv: KV = await new Kvm(options.nc).open(KvBuckets.health);
  const records = new Map<string, ProviderHealth>();
  const initialKeys = new Set<string>();
  for await (const key of await kv.keys(HEALTH_KEY_FILTER)) initialKeys.add(key);
  let markLoaded: () => void = () => undefined;
  const loaded = new Promise<void>((resolve) => {
    markLoaded = resolve;
  });
  if (initialKeys.size === 0) markLoaded();
  let revision = 0;
  const watch = await followKvWatch(options.nc, kv, {
    bucket: KvBuckets.health,
    log: undefined,
    watch: { key: HEALTH_KEY_FILTER },
    onEntry(entry) {
      if (entry.revision > revision) revision = entry.revision;
      if (entry.operation === "PUT") records.set(entry.key, decodeProviderHealth(entry.value));
      else records.delete(entry.key);
      initialKeys.delete(entry.key);
      // delta 0 marks the last of the values stored when the watch began (a key listed at
      // start may have been deleted since, so the key set alone could wait forever).
      if (initialKeys.size === 0 || (!entry.isUpdate && entry.delta === 0)) markLoaded();
    },
  });
  await loaded;

  const get = (provider: string, model: string) => records.get(healthKey(provider, model));
  const state = (provider: string, model: string) => breakerStateAt(get(provider, model), clock.now());

  /**
   * Takes a probe slot; resolves with the slot's lease (its expiry time), or, when none is free,
   * with the time the first taken slot expires (undefined when not known).
   */
  async function takeProbe(
    provider: string,
    model: string,
    epoch: string,
  ): Promise<{ lease: number } | { freeAtMs: number | undefined }> {
    const key = probeKey(provider, model);
    for (let tries = 0; tries < 10; tries++) {
      const entry = await kv.get(key);
      const stored =
        entry && entry.operation === "PUT"
          ? (JSON.parse(decoder.decode(entry.value)) as ProbeLeases)
          : undefined;
      const now = clock.now();
      const leases = stored?.epoch === epoch ? stored.leases.filter((expires) => expires > now) : [];
      if (leases.length >= policy.halfOpenMaxProbes) return { freeAtMs: Math.min(...leases) };
      const lease = now + policy.probeLeaseMs;
      const next: ProbeLeases = { epoch, leases: [...leases, lease] };
      try {
        const payload = encoder.encode(JSON.stringify(next));
        if (entry) await kv.update(key, payload, entry.revision);
        else await kv.create(key, payload);
        return { lease };
      } catch (error) {
        if (!/wrong last sequence|key exists/i.test((error as Error).message)) throw error;
      }
    }
    return { freeAtMs: undefined };
  }

  /** Gives a probe slot back (its call never reached the provider), so another call may probe now. */
  async function releaseProbe(provider: string, model: string, lease: number): Promise<void> {
    const key = probeKey(provider, model);
    for (let tries = 0; tries < 10; tries++) {
      const entry = await kv.get(key);
      if (entry?.operation !== "PUT") return;
      const stored = JSON.parse(decoder.decode(entry.value)) as ProbeLeases;
      const at = stored.leases.indexOf(lease);
      if (at < 0) return;
      const next: ProbeLeases = { epoch: stored.epoch, leases: stored.leases.filter((_, i) => i !== at) };
      try {
        await kv.update(key, encoder.encode(JSON.stringify(next)), entry.revision);
        return;
      } catch (error) {
        if (!/wrong last sequence/i.test((error as Error).message)) throw error;
      }
    }
  }

  return {
    get,
    state,
    all: () => [...records.values()],
    revision: () => revision,
    isOpen: (provider, model) => state(provider, model) === "open",
    async admit(provider, model): Promise<Admission> {
      const health = get(provider, model);
      const current = breakerStateAt(health, clock.now());
      if (current === "closed") return { admitted: true, probe: false };
      if (current === "open") {
        // The breaker turns half-open at openUntil: the earliest a call can be admitted.
        const openUntil = health?.breaker.openUntil;
        return {
          admitted: false,
          reason: "circuit_open",
          ...(openUntil ? { retryAfterMs: Math.max(0, Date.parse(openUntil) - clock.now()) } : {}),
        };
      }
      const epoch = health!.breaker.openUntil ?? health!.breaker.since;
      const probe = await takeProbe(provider, model, epoch);
      if ("lease" in probe) return { admitted: true, probe: true, lease: probe.lease };
      // Every probe slot is taken: one frees when its probe ends, at the latest at its expiry.
      return {
        admitted: false,
        reason: "probe_limit",
        ...(probe.freeAtMs !== undefined ? { retryAfterMs: Math.max(0, probe.freeAtMs - clock.now()) } : {}),
      };
    },
    releaseProbe,
    async stop() {
      watch.stop();
    },
  };
}
