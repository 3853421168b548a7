import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  type BeamlineEvent,
  decodeEvent,
  type EventData,
  RequestSlots,
  rateLimitsSchema,
  requestSubject,
  SubjectRoots,
  validateEvent,
} from "../events/index.js";
import { type EventStore, headersOf, type LiveChannel, type LiveNotice, StreamNames } from "../nats/index.js";
import type { TerminalEvent } from "../stages/index.js";
import { LiveHeaders, LiveKinds } from "../stages/index.js";

/** How a terminal event reached its waiter. */
export interface TerminalDelivery {
  /** `live`: the notice on the live inbox; `log`: read back from the request's terminal slot. */
  source: "live" | "log";
  /**
   * True when streamed chunks may be missing: a sequence gap was seen, or the live path broke
   * (a reconnect, a lost notice) after chunks had gone out and nothing since proved it whole.
   * A front door must not end such a stream as a success.
   */
  streamGap: boolean;
}

export interface Waiter {
  /** The request's tenant: its terminal slot is read back under it when the live notice is lost. */
  tenant?: string;
  /** A streamed chunk (OpenAI chunk JSON bytes) and the execution generation that sent it. */
  onChunk?(json: Uint8Array, generation: string): void;
  onTerminal(event: TerminalEvent, delivery?: TerminalDelivery): void;
  /** What the response cache did, sent before the provider's first chunk (docs/caching.md). */
  onCacheStatus?(status: string): void;
  /** The rate limits admission left, sent before a streamed answer's first chunk. */
  onRateLimits?(limits: NonNullable<EventData<"request.completed">["rateLimits"]>): void;
}

/** Reads a request's stored terminal event, or undefined while it has none. */
export type ReadTerminal = (tenant: string, requestId: string) => Promise<TerminalEvent | undefined>;

/** Reads terminal slots from `store`: the last event on the request's terminal subject. */
export function terminalSlotReader(store: EventStore): ReadTerminal {
  return async (tenant, requestId) =>
    (await store.readLast(StreamNames.requests, requestSubject(tenant, requestId, RequestSlots.terminal))) as
      | TerminalEvent
      | undefined;
}

/** How the registry recovers terminal notices lost on the live inbox. */
export interface LostReplyRecovery {
  readTerminal: ReadTerminal;
  /**
   * A waiter with no live traffic (registration or chunk) for this long has its terminal slot
   * read, in milliseconds. Default 2 500: longer than a healthy notice takes, short enough that
   * a lost one is answered well within 5 s of a fault ending.
   */
  quietMs?: number;
  /** How often the safety sweep looks for quiet waiters, in milliseconds. Default 1 000. */
  sweepIntervalMs?: number;
  /** After a waiter's slot was read empty, the next read waits this long, in milliseconds. Default 2 000. */
  recheckMs?: number;
  /** Terminal slot reads in flight at once, per sweep. Default 16. */
  concurrency?: number;
  /**
   * A second full sweep this long after a reconnect, in milliseconds, for notices published
   * while the cluster still routed our inbox to the node we left. Default 1 000.
   */
  afterReconnectMs?: number;
}

/** A registered waiter and what the registry knows about its live stream. */
interface Entry {
  readonly waiter: Waiter;
  /** Last time live traffic proved the inbox works for this request (ms since epoch). */
  lastActivity: number;
  /** Earliest time the safety sweep reads this request's slot again. */
  nextCheck: number;
  generation: string | undefined;
  lastSequence: number;
  chunks: number;
  /** Chunks may have been lost: a gap, or a reconnect since the last chunk. */
  gapSuspected: boolean;
  gapSeen: boolean;
}

/**
 * One gateway instance's live inbox: a single wildcard subscription on
 * `bl.live.<gatewayId>.*`, fanned out to the requests this instance is waiting for.
 * One subscription for all requests keeps the per-request cost at a map lookup.
 *
 * Live notices are core NATS messages, so a reconnect of this gateway, a node dying with a
 * notice in its buffers or a subscription that has not yet propagated through the cluster
 * loses them. With `recovery`, nobody waits out the request timeout for that: on every
 * reconnect the terminal slot of every waiting request is read at once (and once more
 * shortly after), and a low-rate sweep reads the slot of any request that has been quiet for a
 * few seconds. A terminal event is handed to its waiter exactly once, whichever path finds it.
 */
export class WaiterRegistry {
  private readonly waiters = new Map<string, Entry>();
  private readonly subscription: Subscription;
  private readonly detachLocal: (() => void) | undefined;
  private safetySweep: NodeJS.Timeout | undefined;
  private afterReconnect: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private fullSweepPending = false;
  private closed = false;
  readonly prefix: string;
  /** Terminal events recovered from the log rather than the live inbox, since start. */
  recovered = 0;

  constructor(
    nc: NatsConnection,
    gatewayId: string,
    private readonly onError: (error: unknown) => void,
    private readonly recovery?: LostReplyRecovery,
    /** The stages of this process send on it: their notices to this inbox skip NATS. */
    live?: LiveChannel,
  ) {
    this.prefix = `${SubjectRoots.live}.${gatewayId}`;
    const receive = (notice: LiveNotice) => {
      try {
        this.dispatch(notice);
      } catch (dispatchError) {
        onError(dispatchError);
      }
    };
    this.subscription = nc.subscribe(`${this.prefix}.*`, {
      callback: (error, msg) => {
        if (error) return onError(error);
        receive({
          subject: msg.subject,
          // Parsed only for a request still waiting here.
          get headers() {
            return headersOf(msg);
          },
          data: () => msg.data,
        });
      },
    });
    this.detachLocal = live?.attach(this.prefix, receive);
    if (recovery) {
      void this.watchReconnects(nc);
      this.safetySweep = setInterval(() => void this.sweep(false), recovery.sweepIntervalMs ?? 1_000);
      this.safetySweep.unref();
    }
  }

  replySubject(requestId: string): string {
    return `${this.prefix}.${requestId}`;
  }

  register(requestId: string, waiter: Waiter): () => void {
    const now = Date.now();
    const entry: Entry = {
      waiter,
      lastActivity: now,
      nextCheck: now,
      generation: undefined,
      lastSequence: 0,
      chunks: 0,
      gapSuspected: false,
      gapSeen: false,
    };
    this.waiters.set(requestId, entry);
    return () => {
      if (this.waiters.get(requestId) === entry) this.waiters.delete(requestId);
    };
  }

  get size(): number {
    return this.waiters.size;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.safetySweep);
    clearTimeout(this.afterReconnect);
    this.detachLocal?.();
    this.subscription.unsubscribe();
  }

  /**
   * Reads the terminal slot of waiting requests and hands over what it finds: every waiter
   * when `all` (after a reconnect), else those quiet for `quietMs` and due a check. One sweep
   * runs at a time; a full sweep asked for meanwhile runs right after it.
   */
  sweep(all: boolean): Promise<void> {
    if (!this.recovery || this.closed) return Promise.resolve();
    if (this.sweeping) {
      if (all) this.fullSweepPending = true;
      return this.sweeping;
    }
    this.sweeping = this.runSweep(all).finally(() => {
      this.sweeping = undefined;
      if (this.fullSweepPending) {
        this.fullSweepPending = false;
        void this.sweep(true);
      }
    });
    return this.sweeping;
  }

  private async runSweep(all: boolean): Promise<void> {
    const recovery = this.recovery!;
    const quietMs = recovery.quietMs ?? 2_500;
    const now = Date.now();
    const due = [...this.waiters].filter(
      ([, entry]) =>
        entry.waiter.tenant !== undefined &&
        (all || (now - entry.lastActivity >= quietMs && now >= entry.nextCheck)),
    );
    let failures = 0;
    let lastFailure: unknown;
    const next = due[Symbol.iterator]();
    const lane = async () => {
      for (let item = next.next(); !item.done; item = next.next()) {
        const [requestId, entry] = item.value;
        try {
          const terminal = await recovery.readTerminal(entry.waiter.tenant!, requestId);
          entry.nextCheck = Date.now() + (recovery.recheckMs ?? 2_000);
          if (terminal && this.waiters.get(requestId) === entry) {
            this.recovered += 1;
            this.deliver(requestId, entry, terminal, "log");
          }
        } catch (error) {
          // NATS is still recovering: the next sweep tries again; one report per sweep.
          failures += 1;
          lastFailure = error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(recovery.concurrency ?? 16, due.length) }, lane));
    if (failures > 0) {
      this.onError(
        new Error(`${failures} of ${due.length} terminal slot reads failed; retrying`, {
          cause: lastFailure,
        }),
      );
    }
  }

  private async watchReconnects(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (this.closed) return;
      if (status.type !== "reconnect") continue;
      // Anything published to our inbox while we were away is gone, chunks included.
      for (const entry of this.waiters.values()) if (entry.chunks > 0) entry.gapSuspected = true;
      void this.sweep(true);
      clearTimeout(this.afterReconnect);
      this.afterReconnect = setTimeout(() => void this.sweep(true), this.recovery!.afterReconnectMs ?? 1_000);
      this.afterReconnect.unref();
    }
  }

  private dispatch(notice: LiveNotice): void {
    const requestId = notice.subject.slice(this.prefix.length + 1);
    const entry = this.waiters.get(requestId);
    if (!entry) return;
    entry.lastActivity = Date.now();
    const headers = notice.headers;
    const kind = headers?.get(LiveHeaders.kind);
    if (kind === LiveKinds.chunk || kind === LiveKinds.chunks) {
      const generation = headers?.get(LiveHeaders.generation) ?? "";
      const first = Number(headers?.get(LiveHeaders.sequence) ?? Number.NaN);
      const data = notice.data();
      const chunks = kind === LiveKinds.chunk ? [data] : splitLines(data);
      chunks.forEach((chunk, index) => {
        this.trackSequence(entry, generation, first + index);
        entry.waiter.onChunk?.(chunk, generation);
      });
    } else if (kind === LiveKinds.cache) {
      entry.waiter.onCacheStatus?.(headers?.get(LiveHeaders.cache) ?? "");
    } else if (kind === LiveKinds.rateLimits) {
      // A notice that does not parse costs the stream its rate-limit headers, nothing more.
      const limits = rateLimitsSchema.safeParse(parseJson(notice.data()));
      if (limits.success) entry.waiter.onRateLimits?.(limits.data);
    } else if (kind === LiveKinds.terminal) {
      // In-process, the worker's own event (validated when it was made: the check is a lookup).
      const event =
        notice.value === undefined
          ? decodeEvent(notice.data(), headers)
          : validateEvent(notice.value as BeamlineEvent);
      if (event.type === "request.completed" || event.type === "request.failed")
        this.deliver(requestId, entry, event as TerminalEvent, "live");
    }
  }

  /**
   * Chunks of one generation are numbered 1, 2, 3…; a jump means some never arrived. A new
   * generation restarts at 1 (the front door refuses to splice generations anyway). A
   * contiguous chunk after a reconnect proves nothing was lost up to it.
   */
  private trackSequence(entry: Entry, generation: string, sequence: number): void {
    const expected = entry.generation === generation ? entry.lastSequence + 1 : 1;
    if (Number.isInteger(sequence)) {
      if (sequence !== expected) entry.gapSeen = true;
      else entry.gapSuspected = false;
      entry.lastSequence = sequence;
    }
    entry.generation = generation;
    entry.chunks += 1;
  }

  private deliver(requestId: string, entry: Entry, event: TerminalEvent, source: "live" | "log"): void {
    this.waiters.delete(requestId);
    // A terminal read from the log means the live path broke: chunks after the last one seen
    // may be lost too, so a started stream cannot be vouched for.
    const streamGap = entry.chunks > 0 && (entry.gapSeen || entry.gapSuspected || source === "log");
    entry.waiter.onTerminal(event, { source, streamGap });
  }
}

/** The newline-separated parts of a `chunks` message (views into it, not copies). */
function splitLines(data: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let end = data.indexOf(0x0a); end !== -1; end = data.indexOf(0x0a, start)) {
    parts.push(data.subarray(start, end));
    start = end + 1;
  }
  parts.push(data.subarray(start));
  return parts;
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
