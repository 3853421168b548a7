import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type BeamlineEvent, decodeEvent } from "../events/index.js";

/** One stored event with its place in the stream. */
export interface StoredEvent {
  seq: number;
  subject: string;
  event: BeamlineEvent;
}

/**
 * Reads every event stored under `filter` in `stream`, in stream order, with an ordered
 * consumer (no server-side state left behind). Ends when the consumer has caught up.
 */
export async function readEvents(nc: NatsConnection, stream: string, filter: string): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  // Counting first lets an empty history return at once instead of waiting for a timeout.
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  const total = Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
  if (total === 0) return out;
  const consumer = await jetstream(nc).consumers.get(stream, {
    filter_subjects: [filter],
    deliver_policy: DeliverPolicy.All,
  });
  const messages = await consumer.consume();
  for await (const msg of messages) {
    out.push({ seq: msg.seq, subject: msg.subject, event: decodeEvent(msg.data, msg.headers) });
    if (msg.info.pending === 0) break;
  }
  await messages.close();
  return out;
}
