import { type Consumer, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { type BeamlineEvent, decodeEvent } from "../events/index.js";
import type { EventCodec } from "./event-codec.js";
import { isPermissionDenied } from "./transient.js";

/** One stored event with its place in the stream. */
export interface StoredEvent {
  seq: number;
  subject: string;
  event: BeamlineEvent;
}

/** One stored message as the stream holds it: its place, its store time, its headers and bytes. */
export interface StoredMessage {
  stream: string;
  seq: number;
  subject: string;
  /** When the server stored it (ISO-8601, from the message's nanosecond timestamp). */
  storedAt: string;
  headers: MsgHdrs | undefined;
  data: Uint8Array;
}

/** What to read from one stream; every filter and bound is applied by the server. */
export interface StreamReadOptions {
  stream: string;
  /** Subject filters (wildcards allowed); messages on other subjects are never delivered. */
  filters: string[];
  /** Start at the first message stored at or after this time (a server-side seek, not a scan). */
  since?: Date;
  /** Stop before the first message stored after this time. */
  until?: Date;
  /**
   * Filters some credentials may not be allowed to read (history written under subjects that
   * name no tenant); a refusal by nats-server reads them as empty instead of failing the read.
   */
  optionalFilters?: string[];
  /** Start at this stream sequence (combined with `since`, the later of the two wins). */
  fromSequence?: number;
  /**
   * Called as messages arrive with how many were read and how many the filter matched when the
   * read began (an estimate that can grow while producers write); for progress bars.
   */
  onProgress?: (read: number, total: number) => void;
}

/**
 * Reads every message under `filters` in stream order, streaming: one ordered consumer per
 * filter (no server-side state left behind), flow-controlled by the client library, so memory
 * stays flat on any history size. The read is a snapshot: it ends at the stream's last message
 * when it began (or at `until`), never following new writes, and it returns at once when
 * nothing matches.
 *
 * Every seek is done by the server through the consumer's own filter (start time or start
 * sequence), never by an unfiltered direct get: a tenant-scoped credential may create only
 * consumers that name one filter under its tenant, so this is the one way of reading that
 * works for it as for the operator (docs/security.md). Several filters are read side by side
 * and merged by sequence; a message two filters both match is yielded once.
 */
export async function* readStream(
  nc: NatsConnection,
  options: StreamReadOptions,
): AsyncGenerator<StoredMessage> {
  const jsm = await jetstreamManager(nc);
  const state = (await jsm.streams.info(options.stream)).state;
  if (state.messages === 0) return;
  const optional = new Set(options.optionalFilters ?? []);
  const filters = [...new Set([...options.filters, ...optional])];
  const totals = filters.map(() => 0);
  const reads = filters.map(() => 0);
  const report = () => {
    let read = 0;
    let total = 0;
    for (let i = 0; i < filters.length; i++) {
      read += reads[i]!;
      total += totals[i]!;
    }
    options.onProgress?.(read, Math.max(total, read));
  };
  const readers = filters.map((filter, index) =>
    readOneFilter(nc, options, { filter, optional: optional.has(filter) }, state.last_seq, (total) => {
      totals[index] = total;
    }),
  );
  try {
    const heads: Array<StoredMessage | undefined> = [];
    for (const reader of readers) heads.push(await nextOf(reader));
    for (;;) {
      let first = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i];
        if (head && (first < 0 || head.seq < heads[first]!.seq)) first = i;
      }
      if (first < 0) return;
      const message = heads[first]!;
      // Advance every reader standing on this message: overlapping filters yield it once.
      for (let i = 0; i < heads.length; i++) {
        if (heads[i]?.seq === message.seq) {
          reads[i]!++;
          heads[i] = await nextOf(readers[i]!);
        }
      }
      report();
      yield message;
    }
  } finally {
    for (const reader of readers) await reader.return(undefined);
  }
}

async function nextOf(reader: AsyncGenerator<StoredMessage>): Promise<StoredMessage | undefined> {
  const step = await reader.next();
  return step.done ? undefined : step.value;
}

/** One filter's messages up to `endSeq`, sought by the server. */
async function* readOneFilter(
  nc: NatsConnection,
  options: StreamReadOptions,
  { filter, optional }: { filter: string; optional: boolean },
  endSeq: number,
  onTotal: (total: number) => void,
): AsyncGenerator<StoredMessage> {
  const fromSequence = options.fromSequence ?? 0;
  let consumer: Consumer;
  try {
    consumer = await jetstream(nc).consumers.get(options.stream, {
      // One filter as a string: the client then creates the consumer with the subject form that
      // names the filter, which a tenant-scoped credential is allowed (docs/security.md).
      filter_subjects: filter,
      ...(options.since
        ? { opt_start_time: options.since.toISOString() }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, fromSequence) }),
    });
  } catch (error) {
    if (optional && isPermissionDenied(error)) return;
    throw error;
  }
  const untilNanos = options.until ? (options.until.getTime() + 1) * 1_000_000 : Number.POSITIVE_INFINITY;
  try {
    const pending = (await consumer.info(true)).num_pending;
    if (pending === 0) return;
    onTotal(pending);
    const messages = await consumer.consume();
    try {
      for await (const msg of messages) {
        if (msg.seq > endSeq || msg.info.timestampNanos >= untilNanos) break;
        // With both a time and a sequence bound the seek is by time; earlier sequences are skipped.
        if (msg.seq >= fromSequence) {
          yield {
            stream: options.stream,
            seq: msg.seq,
            subject: msg.subject,
            storedAt: nanosToIso(msg.info.timestampNanos),
            headers: msg.headers,
            data: msg.data,
          };
        }
        if (msg.seq >= endSeq || msg.info.pending === 0) break;
      }
    } finally {
      await messages.close();
    }
  } finally {
    // Closing stops the fetching but leaves the server-side ephemeral consumer until its
    // inactivity threshold (minutes); a read that is over removes it now.
    await consumer.delete().catch(() => false);
  }
}

function nanosToIso(nanos: number): string {
  return new Date(Math.floor(nanos / 1_000_000)).toISOString();
}

/**
 * Reads every event stored under `filter` in `stream`, in stream order, into memory. For one
 * request's or one tenant's small histories; long reads use {@link readStream}.
 */
export async function readEvents(
  nc: NatsConnection,
  stream: string,
  filter: string,
  /** Opens sealed content (the store's codec); without it content stays as stored. */
  codec?: EventCodec,
): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const message of readStream(nc, { stream, filters: [filter] })) {
    out.push({
      seq: message.seq,
      subject: message.subject,
      event: codec
        ? await codec.decode(message.data, message.headers)
        : decodeEvent(message.data, message.headers),
    });
  }
  return out;
}
