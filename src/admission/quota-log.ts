import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  JetStreamError,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type StoredMsg,
} from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { reduceQuota } from "../../projections/index.js";
import { BeamlineError } from "../errors/index.js";
import {
  type BeamlineEvent,
  decodeEvent,
  type EventContext,
  encodeEvent,
  makeEvent,
  quotaSubject,
  tenantQuotaFilter,
} from "../events/index.js";
import {
  getFromLeader,
  isWrongLastSequence,
  type StoredMessageQuery,
  StreamNames,
  TransientBackoff,
} from "../nats/index.js";
import type { QuotaFact } from "../quotas/index.js";
import { emptyQuotaState, type QuotaState } from "../quotas/index.js";

/** Longest wait for the next message of a catch-up read before it counts as failed. */
const READ_STALL_MS = 10_000;
/** Messages asked for per direct-get batch while catching up. */
const CATCH_UP_BATCH = 256;
/**
 * How long a write waits out transient failures before it gives up: a stream leader election
 * takes 4-9 s, and a write that gave up earlier would hand the request back to the consumer's
 * redelivery backoff, which answers seconds after the log serves again.
 */
const RETRY_TRANSIENT_FOR_MS = 30_000;

export interface StoredQuotaEvent {
  event: BeamlineEvent;
  sequence: number;
}

export type AppendOutcome =
  /** Stored at `sequence`, directly after the state's `seq` on the tenant's subjects. */
  | { stored: true; sequence: number }
  /**
   * Another write came first, or (`duplicate`) this very event was stored before, possibly
   * before writes this caller has not seen: catch up and decide again.
   */
  | { stored: false; duplicate: boolean };

/**
 * Deterministic id and subject of a fact: a repeated write is the same message. The id names
 * the tenant too, so equal request ids of two tenants (a producer's choice) never collide in
 * the stream's de-duplication.
 */
export function factAddress(tenant: string, fact: QuotaFact): { id: string; subject: string } {
  const slot =
    fact.type === "quota.settled"
      ? "settled"
      : fact.type === "quota.reserved"
        ? `reserved.${fact.data.attempt}`
        : `expired.${fact.data.attempt}`;
  return {
    id: `${tenant}.${fact.requestId}:quota.${slot}`,
    subject: quotaSubject(tenant, fact.requestId, slot),
  };
}

/** The event a fact becomes. */
export function factEvent(tenant: string, fact: QuotaFact, context: EventContext, now: Date): BeamlineEvent {
  const { id } = factAddress(tenant, fact);
  const ctx = { ...context, tenant, requestId: fact.requestId };
  switch (fact.type) {
    case "quota.reserved":
      return makeEvent(fact.type, id, ctx, fact.data, now);
    case "quota.settled":
      return makeEvent(fact.type, id, ctx, fact.data, now);
    case "quota.expired":
      return makeEvent(fact.type, id, ctx, fact.data, now);
  }
}

/**
 * The tenant's quota log: every quota event of a tenant lives under `bl.quota.<tenant>.>`, and
 * every write expects the last sequence on that filter to be the one its decision was based on
 * (`Nats-Expected-Last-Subject-Sequence` with `…-Subject`). The server thereby serialises all
 * writers of one tenant, on any number of processes: a write decided on stale state is refused,
 * and the writer catches up and decides again. The log, not the KV, is the source of truth.
 */
export class QuotaLog {
  readonly js: JetStreamClient;
  private readonly jsm: Promise<JetStreamManager>;

  constructor(
    nc: NatsConnection,
    /** How long a write or a catch-up read waits out transient failures. */
    private readonly retryTransientForMs = RETRY_TRANSIENT_FOR_MS,
  ) {
    this.js = jetstream(nc);
    // No API check, as in EventStore: a failed check made now would poison every later read.
    this.jsm = jetstreamManager(nc, { checkAPI: false });
  }

  /**
   * Appends one event iff the tenant's last quota sequence is still `expectedSeq`. A transient
   * failure (no stream leader while one is elected, a timeout) is tried again with the same
   * message id and expectation every 50-250 ms for up to 30 s: a try whose earlier attempt was
   * stored answers as a duplicate, and one that another writer overtook as a lost race, so
   * retrying never writes twice. Only then does it fail with `BL_NATS_UNAVAILABLE`.
   */
  async append(
    tenant: string,
    subject: string,
    event: BeamlineEvent,
    expectedSeq: number,
  ): Promise<AppendOutcome> {
    const encoded = encodeEvent(event);
    const headers = natsHeaders();
    for (const [name, value] of Object.entries(encoded.headers)) headers.set(name, value);
    const backoff = new TransientBackoff(this.retryTransientForMs);
    for (;;) {
      try {
        const ack = await this.js.publish(subject, encoded.payload, {
          msgID: event.id,
          headers,
          expect: {
            lastSubjectSequence: expectedSeq,
            lastSubjectSequenceSubject: tenantQuotaFilter(tenant),
          },
        });
        // A duplicate was stored earlier, possibly after writes we have not seen: catch up.
        return ack.duplicate ? { stored: false, duplicate: true } : { stored: true, sequence: ack.seq };
      } catch (error) {
        if (isWrongLastSequence(error)) return { stored: false, duplicate: false };
        if (await backoff.pausedAfter(error)) continue;
        throw new BeamlineError("BL_NATS_UNAVAILABLE", `could not store ${event.type} for tenant ${tenant}`, {
          cause: error,
        });
      }
    }
  }

  /**
   * The tenant's quota events stored after `afterSeq`, in order, read with direct gets. Any
   * replica answers those, and a follower that lags (resumed after a stall, or restarted and
   * enabled at 90 % synchronised) answers from what it has: the read may end early. Good for
   * folding in what others wrote before deciding, since the server checks every write; not
   * for concluding that something is absent — {@link readAfterConfirmed} is for that.
   *
   * A batch that fails transiently (no stream leader to answer during an election) is asked
   * for again from the first message not yet yielded, for as long as a write waits; nothing
   * is yielded twice.
   */
  async *readAfter(tenant: string, afterSeq: number): AsyncGenerator<StoredQuotaEvent> {
    const jsm = await this.jsm;
    const backoff = new TransientBackoff(this.retryTransientForMs);
    let from = afterSeq + 1;
    for (;;) {
      let count = 0;
      try {
        const batch = await jsm.direct.getBatch(StreamNames.quota, {
          seq: from,
          next_by_subj: tenantQuotaFilter(tenant),
          batch: CATCH_UP_BATCH,
        });
        for await (const message of withinDeadline(batch, READ_STALL_MS, tenant)) {
          count += 1;
          from = message.seq + 1;
          yield { event: decodeEvent(message.data, message.header), sequence: message.seq };
        }
      } catch (error) {
        // "No message" ends a batch, or answers one that found nothing: the count decides below.
        if (!isNoMessages(error)) {
          if (await backoff.pausedAfter(error)) continue;
          throw error;
        }
      }
      if (count < CATCH_UP_BATCH) return;
    }
  }

  /**
   * Like {@link readAfter}, then on through the stream leader until it has nothing later: the
   * read ends only where the leader's copy of the log ends, so its end proves that nothing
   * more was stored. Costs one leader request when the direct read was complete.
   */
  async *readAfterConfirmed(tenant: string, afterSeq: number): AsyncGenerator<StoredQuotaEvent> {
    let last = afterSeq;
    for await (const stored of this.readAfter(tenant, afterSeq)) {
      last = stored.sequence;
      yield stored;
    }
    for (;;) {
      const message = await this.fromLeader(tenant, {
        seq: last + 1,
        next_by_subj: tenantQuotaFilter(tenant),
      });
      if (!message) return;
      last = message.seq;
      yield { event: decodeEvent(message.data, message.header), sequence: message.seq };
    }
  }

  /** `state` with every later event of its tenant folded in, as far as a direct read sees. */
  async catchUp(state: QuotaState): Promise<QuotaState> {
    return this.foldAll(state, this.readAfter(state.tenant, state.seq));
  }

  /** `state` with every later event of its tenant folded in, up to the leader's last one. */
  async catchUpConfirmed(state: QuotaState): Promise<QuotaState> {
    return this.foldAll(state, this.readAfterConfirmed(state.tenant, state.seq));
  }

  /** The tenant's state folded from its whole quota history: the rebuild path. */
  async rebuild(tenant: string): Promise<QuotaState> {
    return this.catchUpConfirmed(emptyQuotaState(tenant));
  }

  /**
   * Sequence of the tenant's last stored quota event (0 when none), as the stream leader has
   * it. Needed only when old events have aged out of the stream, so the log's last sequence
   * is below the state's.
   */
  async lastSequence(tenant: string): Promise<number> {
    const last = await this.fromLeader(tenant, { last_by_subj: tenantQuotaFilter(tenant) });
    return last?.seq ?? 0;
  }

  private async foldAll(state: QuotaState, events: AsyncIterable<StoredQuotaEvent>): Promise<QuotaState> {
    let next = state;
    for await (const { event, sequence } of events) next = reduceQuota(next, event, sequence);
    return next;
  }

  /**
   * One message through the stream leader's message-get API (only the leader answers it,
   * unlike direct gets), or null when there is none; transient failures are waited out as
   * a write waits them out.
   */
  private async fromLeader(tenant: string, query: StoredMessageQuery): Promise<StoredMsg | null> {
    const jsm = await this.jsm;
    const backoff = new TransientBackoff(this.retryTransientForMs);
    for (;;) {
      try {
        return await getFromLeader(jsm, StreamNames.quota, query);
      } catch (error) {
        if (await backoff.pausedAfter(error)) continue;
        throw new BeamlineError(
          "BL_NATS_UNAVAILABLE",
          `could not read the quota log of tenant ${tenant} from its stream leader`,
          { cause: error },
        );
      }
    }
  }
}

/** Status code of a direct-get batch that found nothing (nats.js's status error carries it). */
const NO_RESULTS_STATUS = 404;

/**
 * Whether a direct-get batch found no message after the sequence asked for: the API refusal
 * "no message found", or the 404 status that ends a batch. Recognised by class and code.
 */
function isNoMessages(error: unknown): boolean {
  if (error instanceof JetStreamApiError) return error.code === JetStreamApiCodes.NoMessageFound;
  return error instanceof JetStreamError && (error as { code?: unknown }).code === NO_RESULTS_STATUS;
}

/**
 * Iterates `source`, failing with `BL_NATS_UNAVAILABLE` when the next message does not come
 * within `stallMs`: a batch read whose connection died mid-way must not hold the tenant's
 * admission queue for ever.
 */
async function* withinDeadline<T>(
  source: AsyncIterable<T>,
  stallMs: number,
  tenant: string,
): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new BeamlineError(
                "BL_NATS_UNAVAILABLE",
                `reading the quota log of tenant ${tenant} stalled for ${stallMs} ms`,
              ),
            ),
          stallMs,
        );
      });
      let next: IteratorResult<T>;
      try {
        next = await Promise.race([iterator.next(), stalled]);
      } finally {
        clearTimeout(timer);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    void iterator.return?.();
  }
}
