import type { NatsConnection } from "@nats-io/transport-node";
import { reduceQuota } from "../../projections/index.js";
import { type CatalogModel, type ModelCatalog, priceExtras } from "../catalog/index.js";
import { BeamlineError } from "../errors/index.js";
import { type BeamlineEvent, type Clock, causedBy, type EventContext, isEvent } from "../events/index.js";
import {
  type AdmissionRequest,
  type ApplicableLimits,
  actualUsage,
  admissionEstimate,
  decideAdmission,
  decideSettlement,
  emptyQuotaState,
  QuotaExceededError,
  type QuotaFact,
  type QuotaState,
  type RateLimitInfo,
  type Reservation,
  withHedgeExtras,
} from "../quotas/index.js";
import { factAddress, factEvent, QuotaLog } from "./quota-log.js";

/** Decide-and-write rounds one call may lose to other writers before it gives up (retry later). */
const MAX_ROUNDS = 200;

export interface QuotaLedgerOptions {
  nc: NatsConnection;
  /** Stamps reservations and facts; only its `now` is read. */
  clock: Pick<Clock, "now">;
  /** How long a reservation holds without settlement; must outlast the slowest request. */
  reservationTtlMs: number;
  /** Reads the KV projection to start a tenant's state from (instead of its whole log). */
  loadProjected?: (tenant: string) => Promise<QuotaState | undefined>;
}

export interface AdmitInput {
  /** The event the worker is handling (request.accepted or route.decided): tenant, request, trace. */
  cause: BeamlineEvent;
  apiKeyId?: string | undefined;
  /** The tenant's limits (policy document) and the key's; absent limits do not restrict. */
  limits: ApplicableLimits;
  /** Estimated prompt tokens and the request's max tokens (or the model's output cap). */
  promptTokens: number;
  maxTokens: number;
  /** The candidate whose price the estimate uses (the dearest of the decision's, see docs/quotas.md). */
  candidate: { provider: string; model: CatalogModel };
  catalogVersion: string;
}

export type AdmitResult =
  | {
      admitted: true;
      /** Undefined when no limit applies (nothing reserved) or the request had already settled. */
      reservation: Reservation | undefined;
      rateLimits: RateLimitInfo;
    }
  | { admitted: false; error: QuotaExceededError };

/** `state` with facts folded in as if stored now (their sequences are not known yet). */
function foldFacts(state: QuotaState, facts: QuotaFact[], now: Date): QuotaState {
  return facts.reduce((acc, fact) => {
    const context = { tenant: acc.tenant, requestId: fact.requestId, correlationId: fact.requestId };
    return reduceQuota(acc, factEvent(acc.tenant, fact, context, now), acc.seq);
  }, state);
}

export function hasAnyLimit(limits: ApplicableLimits, apiKeyId: string | undefined): boolean {
  const set = (l: object | undefined) =>
    l !== undefined &&
    Object.entries(l).some(([name, value]) => name !== "spendWindow" && value !== undefined);
  return set(limits.tenant) || (apiKeyId !== undefined && set(limits.key));
}

/**
 * Admission and settlement of quotas against the tenant's quota log (see {@link QuotaLog}).
 * Holds a per-tenant cache of the folded state only as a starting point: every write is
 * checked by the server against the log's last sequence, so a stale cache costs a retry,
 * never a wrong admission; a refusal is only given after catching up with the log, so a
 * stale cache never costs a wrong refusal either. Calls for one tenant are serialised inside
 * this process so its own calls do not race each other.
 */
export class QuotaLedger {
  readonly log: QuotaLog;
  private readonly cache = new Map<string, QuotaState>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly options: QuotaLedgerOptions) {
    this.log = new QuotaLog(options.nc);
  }

  /**
   * Admits or refuses a request. On admission the estimate is reserved (a `quota.reserved`
   * event, after `quota.expired` for any stale reservations found). Calling it again for the
   * same request returns the held reservation and writes nothing.
   */
  async admit(input: AdmitInput): Promise<AdmitResult> {
    const { cause } = input;
    if (!hasAnyLimit(input.limits, input.apiKeyId))
      return { admitted: true, reservation: undefined, rateLimits: {} };
    const request: AdmissionRequest = {
      requestId: cause.requestId,
      apiKeyId: input.apiKeyId,
      limits: input.limits,
      estimate: admissionEstimate(input.candidate.model, input.promptTokens, input.maxTokens),
      provider: input.candidate.provider,
      model: input.candidate.model.id,
      catalogVersion: input.catalogVersion,
      reservationTtlMs: this.options.reservationTtlMs,
    };
    return this.serialised(cause.tenant, async () => {
      // Whether this call's state was confirmed against the stream leader's copy of the log.
      let caughtUp = false;
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const state = await this.stateOf(cause.tenant);
        const now = new Date(this.options.clock.now());
        const decision = decideAdmission(state, request, now.getTime(), (s, facts) =>
          foldFacts(s, facts, now),
        );
        if (decision.kind === "reject") {
          // A refusal writes nothing, so no server check would ever correct a stale copy:
          // settlements and expiries other instances wrote since would go unseen, and this
          // instance would keep refusing what the log allows. Refuse only on the log as the
          // stream leader has it (a lagging replica may not hold them yet either).
          if (!caughtUp) {
            await this.resync(state, { confirmed: true });
            caughtUp = true;
            continue;
          }
          return { admitted: false, error: new QuotaExceededError(cause.tenant, decision.rejection) };
        }
        if (decision.kind === "already-admitted") {
          return { admitted: true, reservation: decision.reservation, rateLimits: decision.rateLimits };
        }
        if (await this.write(cause.tenant, decision.facts, causedBy(cause), now)) {
          return { admitted: true, reservation: decision.reservation, rateLimits: decision.rateLimits };
        }
      }
      throw new BeamlineError(
        "BL_NATS_UNAVAILABLE",
        `quota admission for tenant ${cause.tenant} kept losing races`,
      );
    });
  }

  /**
   * Settles a finished request from its terminal event (`request.completed` / `request.failed`):
   * the reservation is replaced by the actual use at `model`'s catalog price and the rest is
   * released. A second settlement, or one for a request that reserved nothing, writes nothing;
   * one after expiry counts the actual use once. Returns whether an event was written.
   */
  async settle(terminal: BeamlineEvent, catalog: ModelCatalog): Promise<boolean> {
    if (!isEvent(terminal, "request.completed") && !isEvent(terminal, "request.failed")) return false;
    const usage = terminal.data.usage;
    const modelName = terminal.data.model;
    let actual = { tokens: 0, costNanoUsd: 0 };
    if (usage && modelName !== undefined && usage.promptTokens + usage.completionTokens > 0) {
      const model = catalog.resolve(modelName);
      if (!model) {
        throw new BeamlineError(
          "BL_CONFIG_INVALID",
          `cannot settle ${terminal.tenant}/${terminal.requestId}: model ${modelName} is not in catalog ${catalog.version}`,
        );
      }
      // An answer from the response cache counts at what it is billed (docs/caching.md).
      const cache = isEvent(terminal, "request.completed") ? terminal.data.cache : undefined;
      const discount = cache?.status === "hit" ? (cache.discountPercent ?? 100) : 0;
      actual = actualUsage(model, usage, discount);
      // A hedge's cancelled loser counts too, as its usage record bills it (one record per request).
      const extras = priceExtras(catalog, terminal.data.hedgeExtra ?? []);
      if ("unknownModel" in extras) {
        throw new BeamlineError(
          "BL_CONFIG_INVALID",
          `cannot settle ${terminal.tenant}/${terminal.requestId}: hedged model ${extras.unknownModel} is not in catalog ${catalog.version}`,
        );
      }
      actual = withHedgeExtras(actual, extras);
    }
    return this.serialised(terminal.tenant, async () => {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        let state = await this.stateOf(terminal.tenant);
        let fact = decideSettlement(state, terminal.requestId, actual, catalog.version);
        // The reservation may have been made by another instance after this cache was filled:
        // a direct read finds it at once (the common case); only the log as the stream leader
        // has it can say the request reserved nothing, since a replica that lags answers
        // direct reads too — concluding from one left a reservation never settled (issue 13).
        for (const confirmed of [false, true]) {
          if (fact) break;
          state = await this.resync(state, { confirmed });
          fact = decideSettlement(state, terminal.requestId, actual, catalog.version);
        }
        if (!fact) return false;
        if (await this.write(terminal.tenant, [fact], causedBy(terminal), new Date(this.options.clock.now())))
          return true;
      }
      throw new BeamlineError(
        "BL_NATS_UNAVAILABLE",
        `quota settlement for tenant ${terminal.tenant} kept losing races`,
      );
    });
  }

  /** The tenant's current state: the cache, or the KV projection caught up from the log. */
  async stateOf(tenant: string): Promise<QuotaState> {
    const cached = this.cache.get(tenant);
    if (cached) return cached;
    const projected = (await this.options.loadProjected?.(tenant)) ?? emptyQuotaState(tenant);
    const state = await this.log.catchUp(projected);
    this.cache.set(tenant, state);
    return state;
  }

  /**
   * Writes facts in order, each expecting the previous one's sequence. True when all were
   * stored; false when another writer came first — the cache is then caught up from the log
   * and the caller decides again (facts already stored are seen there, so nothing doubles).
   */
  private async write(
    tenant: string,
    facts: QuotaFact[],
    context: EventContext,
    now: Date,
  ): Promise<boolean> {
    let state = await this.stateOf(tenant);
    for (const fact of facts) {
      const expiryContext =
        fact.type === "quota.expired"
          ? {
              ...context,
              correlationId: fact.requestId,
              // The reservation being expired caused this event.
              causationId: `${tenant}.${fact.requestId}:quota.reserved.${fact.data.attempt}`,
            }
          : context;
      const event = factEvent(tenant, fact, expiryContext, now);
      const outcome = await this.log.append(tenant, factAddress(tenant, fact).subject, event, state.seq);
      if (!outcome.stored) {
        let resynced = await this.resync(state, { confirmed: false });
        // Nothing newer on a replica: ask the leader, which refused the write for a reason.
        if (resynced.seq === state.seq) resynced = await this.resync(state, { confirmed: true });
        if (outcome.duplicate && resynced.seq === state.seq) {
          // Stored once yet absent from the tenant's log: deciding again would loop forever.
          throw new BeamlineError(
            "BL_INTERNAL",
            `quota event ${event.id} is a duplicate of a message not in tenant ${tenant}'s quota log`,
          );
        }
        return false;
      }
      state = reduceQuota(state, event, outcome.sequence);
      this.cache.set(tenant, state);
    }
    return true;
  }

  /**
   * Folds in what others wrote. `confirmed` reads on through the stream leader, so the result
   * holds everything stored; and if even the leader has nothing newer while its last sequence
   * is below the state's, old events aged out and the next write must expect that sequence.
   */
  private async resync(state: QuotaState, { confirmed }: { confirmed: boolean }): Promise<QuotaState> {
    let next = confirmed ? await this.log.catchUpConfirmed(state) : await this.log.catchUp(state);
    if (confirmed && next.seq === state.seq) {
      const last = await this.log.lastSequence(state.tenant);
      if (last < state.seq) next = { ...next, seq: last };
    }
    this.cache.set(state.tenant, next);
    return next;
  }

  private serialised<T>(tenant: string, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(tenant) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    this.queues.set(tenant, tail);
    void tail.then(() => {
      if (this.queues.get(tenant) === tail) this.queues.delete(tenant);
    });
    return run;
  }
}
