import { DeliverPolicy, jetstream, jetstreamManager, type StoredMsg } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { type BeamlineEvent, decodeEvent } from "../events/index.js";
import type { EventCodec } from "./event-codec.js";

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
  /** Start at this stream sequence (combined with `since`, the later of the two wins). */
  fromSequence?: number;
  /**
   * Called as messages arrive with how many were read and how many the filter matched when the
   * read began (an estimate that can grow while producers write); for progress bars.
   */
  onProgress?: (read: number, total: number) => void;
}

/**
 * Reads every message under `filters` in stream order, streaming: one ordered consumer (no
 * server-side state left behind), flow-controlled by the client library, so memory stays flat
 * on any history size. The read is a snapshot: it ends at the stream's last message when it
 * began (or at `until`), never following new writes, and it returns at once when nothing
 * matches.
 */
export async function* readStream(
  nc: NatsConnection,
  options: StreamReadOptions,
): AsyncGenerator<StoredMessage> {
  const jsm = await jetstreamManager(nc);
  const state = (await jsm.streams.info(options.stream)).state;
  if (state.messages === 0) return;
  let startSeq = Math.max(state.first_seq, options.fromSequence ?? 0);
  if (options.since) {
    const first = await jsm.direct.getMessage(options.stream, { start_time: options.since });
    if (!first) return;
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
  for (const filter of options.filters) {
    const found: StoredMsg | null = await jsm.direct.getMessage(options.stream, {
      next_by_subj: filter,
      seq: startSeq,
    });
    if (found && found.seq <= endSeq) firstMatch = Math.min(firstMatch, found.seq);
  }
  if (firstMatch === Number.POSITIVE_INFINITY) return;

  const consumer = await jetstream(nc).consumers.get(options.stream, {
    // One filter as a string: the client then creates the consumer with the subject form that
    // names the filter, which a tenant-scoped credential is allowed (docs/security.md).
    filter_subjects: options.filters.length === 1 ? options.filters[0]! : options.filters,
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
      yield {
        stream: options.stream,
        seq: msg.seq,
        subject: msg.subject,
        storedAt: nanosToIso(msg.info.timestampNanos),
        headers: msg.headers,
        data: msg.data,
      };
      if (msg.seq >= endSeq || msg.info.pending === 0) break;
    }
  } finally {
    await messages.close();
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
