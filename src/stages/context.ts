import type { NatsConnection } from "@nats-io/transport-node";
import type { HedgeLedger, QuotaLedger } from "../admission/index.js";
import type { ModelCatalog } from "../catalog/index.js";
import {
  type BeamlineEvent,
  type Clock,
  encodeEvent,
  RequestSlots,
  requestSubject,
} from "../events/index.js";
import type { ConcurrencyPools, ExecutionPolicy, LatencySamples } from "../execution/index.js";
import type { ExtensionResolver, ExternalExtensionCaller } from "../extensions/index.js";
import type { HealthView } from "../health/index.js";
import type { EventStore, LiveChannel } from "../nats/index.js";
import type { BeamlineMetrics, Logger } from "../observability/index.js";
import type { PolicyView } from "../policies/index.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { ApiKeyCache, ProducerCache, TenantCache } from "../tenancy/index.js";
import { LiveHeaders, LiveKinds } from "./live.js";
import type { ResponseCache } from "./response-cache.js";

/** What every stage needs; built once per process and shared by its stages. */
export interface StageDeps {
  nc: NatsConnection;
  /** Where chunks and terminal notices go to the waiting client: in-process when it waits here. */
  live: LiveChannel;
  store: EventStore;
  log: Logger;
  metrics: BeamlineMetrics;
  /**
   * The one clock of a stage: event times and the executor's backoffs and timeouts. Injected
   * so tests control time; stages never read the process clock directly.
   */
  clock: Clock;
}

/** The request worker's view of the world: live configuration, health, quotas, extensions. */
export interface WorkerDeps extends StageDeps {
  providers: ProviderRegistry;
  /** The live model catalog, holding the models of providers this instance reaches. */
  catalog: () => ModelCatalog;
  policies: PolicyView;
  /** Provider health and the shared circuit breakers. */
  health: HealthView;
  execution: {
    policy: ExecutionPolicy;
    pools: ConcurrencyPools;
    random: () => number;
    /** Observed times to first token, for hedges' percentile deadlines; absent: none observed. */
    latency?: LatencySamples;
  };
  quotas: QuotaLedger;
  /** The tenants' hedging caps, held in their quota logs; absent: a capped policy never hedges. */
  hedges?: HedgeLedger;
  /** Per-key limits and tenant status (a request published straight onto NATS passed no gateway). */
  keys: ApiKeyCache;
  tenants: TenantCache;
  /** Producer credentials: the ingress checks them, and the worker checks a request's producer. */
  producers: ProducerCache;
  extensions: { resolver: ExtensionResolver; external: ExternalExtensionCaller };
  /** The exact response cache (docs/caching.md); absent: no request is cached. */
  responseCache?: ResponseCache | undefined;
}

/** Billing prices every request with the catalog version it was routed with, and settles quotas. */
export interface BillingDeps extends StageDeps {
  /** The catalog of that version (unfiltered), or undefined when it was never published. */
  catalogAt(version: string | undefined): Promise<ModelCatalog | undefined>;
  quotas: QuotaLedger;
}

/** The stage clock's current time, as events carry it. */
export function stageNow(deps: StageDeps): Date {
  return new Date(deps.clock.now());
}

export type AcceptedEvent = BeamlineEvent<"request.accepted">;
export type TerminalEvent = BeamlineEvent<"request.completed"> | BeamlineEvent<"request.failed">;

/**
 * Stores the request's terminal event — at most one ever, whoever writes it — and tells the
 * waiting client. When a terminal already exists (a redelivery, a race) the stored one wins
 * and is what the client is told, so the client and the log never disagree. The client is
 * told only of a terminal the stream's leader holds: the store confirms a taken slot.
 */
export async function endRequest(
  deps: StageDeps,
  accepted: AcceptedEvent,
  terminal: TerminalEvent,
): Promise<TerminalEvent> {
  const subject = requestSubject(terminal.tenant, terminal.requestId, RequestSlots.terminal);
  // Stored through the store's codec (content sealed); the waiting client gets it in the clear.
  const result = await deps.store.append(subject, terminal, { once: true });
  const told = result.duplicate ? (result.stored as TerminalEvent) : terminal;
  notifyTerminal(deps.live, accepted, told);
  return told;
}

/** Sends the terminal event to the client waiting on the request's reply subject, if any. */
export function notifyTerminal(live: LiveChannel, accepted: AcceptedEvent, terminal: TerminalEvent): void {
  const replyTo = accepted.data.replyTo;
  if (!replyTo) return;
  live.send(replyTo, {
    headers: { [LiveHeaders.kind]: LiveKinds.terminal },
    // Encoded in the clear only for a gateway in another process: the log holds it sealed.
    body: () => encodeEvent(terminal),
    value: terminal,
  });
}
