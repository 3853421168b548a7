import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  breakerStateAt,
  decodeProviderHealth,
  errorRate,
  openSpendKv,
  readTenantSpend,
} from "../../../projections/index.js";
import { DURABLES } from "../../access/index.js";
import { formatNanoUsd } from "../../catalog/index.js";
import { HEALTH_KEY_FILTER, KvBuckets } from "../../nats/index.js";
import type { TenancyAdmin } from "../../tenancy/index.js";

/** One provider/model as the health projection sees it. */
export interface ProviderState {
  provider: string;
  model: string;
  breaker: "closed" | "open" | "half_open";
  /** Failed share of the projection's sliding window, 0..1. */
  errorRate: number;
  consecutiveFailures: number;
  latencyP95Ms: number | null;
}

/** How far a durable consumer is behind its stream. */
export interface ConsumerLag {
  stream: string;
  durable: string;
  /** Messages stored but not yet delivered. */
  pending: number;
  /** Delivered but not yet acknowledged. */
  ackPending: number;
}

/** A tenant's spend from the `bl_spend` projection, in USD as decimal strings. */
export interface TenantSpend {
  tenant: string;
  todayUsd: string;
  monthUsd: string;
  monthRequests: number;
}

/** A tenant and its keys as the read-only console shows them: ids, prefixes, labels, states. */
export interface TenantSummary {
  id: string;
  name: string;
  status: string;
  keys: Array<{ keyId: string; prefix: string; label?: string; status: string; expiresAt?: string }>;
}

/** The slower-moving part of a console snapshot, read from KV projections and JetStream. */
export interface SystemState {
  providers: ProviderState[];
  consumers: ConsumerLag[];
  spend: TenantSpend[];
  tenants: TenantSummary[];
}

/**
 * Reads the system state the console shows: provider health and breakers (`bl_health`),
 * consumer lag (JetStream consumer info of every durable), spend per tenant today and this
 * month (`bl_spend`), tenants and their keys (the tenancy projections; key listings never hold
 * the key or its hash). A part that cannot be read (a consumer not created yet, a projection
 * bucket missing on a fresh server) is left empty rather than failing the whole snapshot.
 */
export async function readSystemState(
  nc: NatsConnection,
  tenancy: TenancyAdmin,
  now: Date,
): Promise<SystemState> {
  const tenants = await readTenants(tenancy);
  const [providers, consumers, spend] = await Promise.all([
    readProviders(nc, now.getTime()),
    readConsumerLag(nc),
    readSpend(nc, tenants, now),
  ]);
  return { providers, consumers, spend, tenants };
}

async function readProviders(nc: NatsConnection, nowMs: number): Promise<ProviderState[]> {
  const kv = await new Kvm(nc).open(KvBuckets.health).catch(() => undefined);
  if (!kv) return [];
  const states: ProviderState[] = [];
  for await (const key of await kv.keys(HEALTH_KEY_FILTER)) {
    const entry = await kv.get(key);
    if (entry?.operation !== "PUT") continue;
    const health = decodeProviderHealth(entry.value);
    states.push({
      provider: health.provider,
      model: health.model,
      breaker: breakerStateAt(health, nowMs),
      errorRate: errorRate(health),
      consecutiveFailures: health.consecutiveFailures,
      latencyP95Ms: health.latencyP95Ms,
    });
  }
  return states.sort((a, b) => `${a.provider}/${a.model}`.localeCompare(`${b.provider}/${b.model}`));
}

async function readConsumerLag(nc: NatsConnection): Promise<ConsumerLag[]> {
  const jsm = await jetstreamManager(nc);
  const lags = await Promise.all(
    DURABLES.map(async ({ stream, durable }) => {
      const info = await jsm.consumers.info(stream, durable).catch(() => undefined);
      return info && { stream, durable, pending: info.num_pending, ackPending: info.num_ack_pending };
    }),
  );
  return lags.filter((lag): lag is ConsumerLag => lag !== undefined);
}

async function readSpend(nc: NatsConnection, tenants: TenantSummary[], now: Date): Promise<TenantSpend[]> {
  const kv = await openSpendKv(nc).catch(() => undefined);
  if (!kv) return [];
  const today = now.toISOString().slice(0, 10);
  const monthStart = `${today.slice(0, 8)}01`;
  const spend: TenantSpend[] = [];
  for (const tenant of tenants) {
    let todayNano = 0;
    let monthNano = 0;
    let monthRequests = 0;
    for await (const record of readTenantSpend(kv, tenant.id, { sinceDay: monthStart, untilDay: today })) {
      monthNano += record.costNanoUsd;
      monthRequests += record.requests;
      if (record.day === today) todayNano += record.costNanoUsd;
    }
    spend.push({
      tenant: tenant.id,
      todayUsd: formatNanoUsd(todayNano),
      monthUsd: formatNanoUsd(monthNano),
      monthRequests,
    });
  }
  return spend;
}

async function readTenants(tenancy: TenancyAdmin): Promise<TenantSummary[]> {
  const [tenants, keys] = await Promise.all([tenancy.listTenants(), tenancy.listKeys()]);
  return tenants
    .map((tenant) => ({
      id: tenant.id,
      name: tenant.name,
      status: tenant.status,
      // Fields picked one by one: a listing field added later is not shown until chosen here.
      keys: keys
        .filter((key) => key.tenant === tenant.id)
        .map((key) => ({
          keyId: key.keyId,
          prefix: key.prefix,
          status: key.status,
          ...(key.label !== undefined ? { label: key.label } : {}),
          ...(key.expiresAt !== undefined ? { expiresAt: key.expiresAt } : {}),
        })),
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
}
