import type { NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../errors/index.js";
import {
  type BeamlineEvent,
  type Clock,
  causedBy,
  type EventData,
  makeEvent,
  quotaSubject,
} from "../events/index.js";
import { decideHedgeBudget, type HedgeGrant } from "../execution/index.js";
import type { HedgePolicy } from "../routing/index.js";
import {
  emptyHedgeBudget,
  type HedgeBudgetState,
  hedgeKey,
  hedgeUsageAt,
  reduceHedgeBudget,
} from "./hedge-budget.js";
import { QuotaLog } from "./quota-log.js";

/** Decide-and-write rounds one call may lose to other writers before it gives up. */
const MAX_ROUNDS = 200;

/** Options of {@link HedgeLedger}. */
export interface HedgeLedgerOptions {
  nc: NatsConnection;
  /** Stamps the facts and places them in minutes and UTC days; only `now` is read. */
  clock: Pick<Clock, "now">;
}

/**
 * The tenants' hedging caps (`maxHedgesPerMinute`, `maxExtraCostUsdPerDay`), enforced through
 * the tenant's quota log like quota reservations: a hedge is reserved (`hedge.reserved`, at
 * its estimate) before it starts and settled (`hedge.settled`) with the real extra cost, each
 * write expecting the log's last sequence, so any number of instances share one count. A
 * refusal is given only after catching up with the log. Calls of one tenant are serialised
 * within this process.
 */
export class HedgeLedger {
  readonly #log: QuotaLog;
  readonly #clock: Pick<Clock, "now">;
  readonly #states = new Map<string, HedgeBudgetState>();
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: HedgeLedgerOptions) {
    this.#log = new QuotaLog(options.nc);
    this.#clock = options.clock;
  }

  /**
   * Reserves hedge `hedge.attempt` of the request `cause` names, when one more fits the caps.
   * A hedge already reserved (a redelivery) is granted again without a second reservation.
   */
  reserve(
    cause: BeamlineEvent,
    caps: Pick<HedgePolicy, "maxHedgesPerMinute" | "maxExtraCostUsdPerDay">,
    hedge: EventData<"hedge.reserved">,
  ): Promise<HedgeGrant> {
    return this.#serialised(cause.tenant, async () => {
      let confirmed = false;
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const state = await this.#caughtUp(cause.tenant);
        if (state.hedges[hedgeKey(cause.requestId, hedge.attempt)]) return { granted: true };
        const now = this.#clock.now();
        const decision = decideHedgeBudget(caps, hedgeUsageAt(state, now), hedge.estimateNanoUsd);
        if (!decision.allowed) {
          // A refusal writes nothing the server could check: give it only on the log as the
          // stream leader has it (a lagging replica may lack settlements that freed budget).
          if (!confirmed) {
            await this.#caughtUp(cause.tenant, { confirmed: true });
            confirmed = true;
            continue;
          }
          return { granted: false, reason: decision.reason };
        }
        const event = makeEvent(
          "hedge.reserved",
          `${cause.tenant}.${cause.requestId}:hedge.${hedge.attempt}.reserved`,
          causedBy(cause),
          hedge,
          new Date(now),
        );
        if (await this.#write(state, `hedge.${hedge.attempt}.reserved`, event)) return { granted: true };
      }
      throw contention(cause.tenant);
    });
  }

  /** Settles a reserved hedge with its real extra cost; a repeat (redelivery) changes nothing. */
  settle(cause: BeamlineEvent, settled: EventData<"hedge.settled">): Promise<void> {
    return this.#serialised(cause.tenant, async () => {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const state = await this.#caughtUp(cause.tenant);
        if (state.hedges[hedgeKey(cause.requestId, settled.attempt)]?.settled) return;
        const event = makeEvent(
          "hedge.settled",
          `${cause.tenant}.${cause.requestId}:hedge.${settled.attempt}.settled`,
          causedBy(cause),
          settled,
          new Date(this.#clock.now()),
        );
        if (await this.#write(state, `hedge.${settled.attempt}.settled`, event)) return;
      }
      throw contention(cause.tenant);
    });
  }

  /**
   * The tenant's state with later facts of its quota log folded in: those a direct read sees,
   * or with `confirmed` every one the stream leader holds.
   */
  async #caughtUp(tenant: string, { confirmed = false } = {}): Promise<HedgeBudgetState> {
    let state = this.#states.get(tenant) ?? emptyHedgeBudget(tenant);
    const read = confirmed
      ? this.#log.readAfterConfirmed(tenant, state.seq)
      : this.#log.readAfter(tenant, state.seq);
    for await (const { event, sequence } of read) {
      state = reduceHedgeBudget(state, event, sequence);
    }
    this.#states.set(tenant, state);
    return state;
  }

  /** Appends `event` iff nothing was written since `state`; folds it in when stored. */
  async #write(state: HedgeBudgetState, slot: string, event: BeamlineEvent): Promise<boolean> {
    const subject = quotaSubject(state.tenant, event.requestId, slot);
    const outcome = await this.#log.append(state.tenant, subject, event, state.seq);
    if (!outcome.stored) return false;
    this.#states.set(state.tenant, reduceHedgeBudget(state, event, outcome.sequence));
    return true;
  }

  #serialised<T>(tenant: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(tenant) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    this.#queues.set(tenant, tail);
    void tail.then(() => {
      if (this.#queues.get(tenant) === tail) this.#queues.delete(tenant);
    });
    return run;
  }
}

function contention(tenant: string): BeamlineError {
  return new BeamlineError(
    "BL_NATS_UNAVAILABLE",
    `the quota log of tenant ${tenant} kept changing while a hedge was being reserved; retry later`,
  );
}
