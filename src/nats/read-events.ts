import { type Consumer, DeliverPolicy, type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type BeamlineEvent, decodeEvent } from "../events/index.js";
import type { EventCodec } from "./event-codec.js";
import { headersOf, type MessageHeaders } from "./message-headers.js";
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
  headers: MessageHeaders | undefined;
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
 * Reads every message under `filters` in stream order, streaming and flow-controlled by the
 * client library, so memory stays flat on any history size. The read is a snapshot: it ends at
 * the stream's last message when it began (or at `until`), never following new writes, and it
 * returns at once when nothing matches.
 *
 * The operator's way is one ordered consumer over every filter, started at the first match
 * found by direct gets. A tenant-scoped credential is refused those unfiltered direct gets and
 * the several-filter consumer (docs/security.md); for it the read falls back to one consumer
 * per filter, each seeking by its own filter on the server, merged by sequence (slower: one
 * consumer and one merge step per filter).
 */
export async function* readStream(
  nc: NatsConnection,
  options: StreamReadOptions,
): AsyncGenerator<StoredMessage> {
  const jsm = await jetstreamManager(nc);
  const state = (await jsm.streams.info(options.stream)).state;
  if (state.messages === 0) return;
  let plan: { firstMatch: number; endSeq: number } | "empty" | undefined;
  try {
    plan = await planOneConsumer(jsm, options, state);
  } catch (error) {
    if (!isPermissionDenied(error)) throw error;
  }
  if (plan === "empty") return;
  if (plan) yield* readOneConsumer(nc, options, plan);
  else yield* readByFilter(nc, options, state.last_seq);
}

/** Where the one-consumer read starts and ends, found by direct gets; "empty" when nothing matches. */
async function planOneConsumer(
  jsm: Awaited<ReturnType<typeof jetstreamManager>>,
  options: StreamReadOptions,
  state: { first_seq: number; last_seq: number },
): Promise<{ firstMatch: number; endSeq: number } | "empty"> {
  let startSeq = Math.max(state.first_seq, options.fromSequence ?? 0);
  if (options.since) {
    const first = await jsm.direct.getMessage(options.stream, { start_time: options.since });
    if (!first) return "empty";
    startSeq = Math.max(startSeq, first.seq);
  }
  let endSeq = state.last_seq;
  if (options.until) {
    const after = await jsm.direct.getMessage(options.stream, {
      start_time: new Date(options.until.getTime() + 1),
    });
    if (after) endSeq = Math.min(endSeq, after.seq - 1);
  }
  // The first match of each filter: nothing matching means an empty read with no waiting, and
  // the consumer can start at the earliest match instead of at `startSeq`.
  let firstMatch = Number.POSITIVE_INFINITY;
  for (const filter of allFilters(options)) {
    const found = await jsm.direct.getMessage(options.stream, { next_by_subj: filter, seq: startSeq });
    if (found && found.seq <= endSeq) firstMatch = Math.min(firstMatch, found.seq);
  }
  return firstMatch === Number.POSITIVE_INFINITY ? "empty" : { firstMatch, endSeq };
}

function allFilters(options: StreamReadOptions): string[] {
  return [...new Set([...options.filters, ...(options.optionalFilters ?? [])])];
}

/** The operator's read: one ordered consumer over every filter, from the first match to `endSeq`. */
async function* readOneConsumer(
  nc: NatsConnection,
  options: StreamReadOptions,
  { firstMatch, endSeq }: { firstMatch: number; endSeq: number },
): AsyncGenerator<StoredMessage> {
  const filters = allFilters(options);
  const consumer = await jetstream(nc).consumers.get(options.stream, {
    filter_subjects: filters.length === 1 ? filters[0]! : filters,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: firstMatch,
  });
  const messages = await consumer.consume();
  let read = 0;
  let total = 0;
  try {
    for await (const msg of messages) {
      if (msg.seq > endSeq) break;
      if (total === 0) total = msg.info.pending + 1;
      read++;
      options.onProgress?.(read, Math.max(total, read));
      yield storedMessage(options.stream, msg);
      if (msg.seq >= endSeq || msg.info.pending === 0) break;
    }
  } finally {
    await messages.close();
    // Closing stops the fetching but leaves the server-side ephemeral consumer until its
    // inactivity threshold (minutes); a read that is over removes it now.
    await consumer.delete().catch(() => false);
  }
}

/** The scoped reader's read: one consumer per filter, each sought by the server, merged by sequence. */
async function* readByFilter(
  nc: NatsConnection,
  options: StreamReadOptions,
  endSeq: number,
): AsyncGenerator<StoredMessage> {
  const optional = new Set(options.optionalFilters ?? []);
  const filters = allFilters(options);
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
    readOneFilter(nc, options, { filter, optional: optional.has(filter) }, endSeq, (total) => {
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
          yield storedMessage(options.stream, msg);
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

/** A delivered JetStream message as a {@link StoredMessage} of `stream`. */
export function storedMessage(stream: string, msg: JsMsg): StoredMessage {
  return {
    stream,
    seq: msg.seq,
    subject: msg.subject,
    storedAt: nanosToIso(msg.info.timestampNanos),
    headers: headersOf(msg),
    data: msg.data,
  };
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
