import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { getFromLeader } from "./leader-reads.js";
import { compareVersions } from "./version.js";

/**
 * A projection whose KV records guard against double counting by the highest stream sequence
 * folded in (provider health, spend) needs its events in stream order. Its consumer lets a
 * window of messages be in flight, pinned to one client of a priority group, and the fold
 * window (projections/fold-window.ts) folds them per key in order with one write per key.
 * Ordering across a crash is kept by the two functions below.
 */

/**
 * `max_ack_pending` of an ordered fold's consumer: the most events one window holds
 * unacknowledged. At 100 ms windows it allows 10,000 events a second before the window, not
 * the consumer, sets the pace.
 */
export const ORDERED_FOLD_MAX_PENDING = 1_000;

/**
 * Priority group of an ordered fold's consumer. The consumer pins it to one client
 * (`pinned_client`): one instance folds at a time, so windows from two instances never
 * interleave; the pin moves when that instance stops pulling for {@link ORDERED_FOLD_PIN_TIMEOUT_MS}.
 */
export const ORDERED_FOLD_GROUP = "fold";

/** How long the pinned instance may go without pulling before another takes over, ms. */
export const ORDERED_FOLD_PIN_TIMEOUT_MS = 10_000;

/**
 * At start: when the consumer has unacknowledged messages (an instance died holding them), they
 * would be redelivered only after the ack wait, behind newer ones. Resetting the consumer to its
 * ack floor starts delivery again, in order, from the first message not yet covered by a stored
 * record (events already folded are no-ops by sequence). Consumer reset needs nats-server 2.14;
 * on an older server (the floor is 2.12.10) {@link ackFloorReached} still holds the windows
 * until the dead instance's messages come back, so the fold stays exact and only its lag after
 * a crash is longer.
 */
export async function resetToAckFloorIfHeld(
  nc: NatsConnection,
  jsm: JetStreamManager,
  stream: string,
  consumer: string,
): Promise<void> {
  const info = await jsm.consumers.info(stream, consumer);
  if (info.num_ack_pending > 0 && compareVersions(nc.info?.version ?? "0.0.0", "2.14.0") >= 0)
    await jsm.consumers.reset(stream, consumer);
}

/**
 * The fold window's order check: whether a window whose lowest sequence is `lowest` may be
 * written, i.e. no unacknowledged event of the consumer's filter lies between its ack floor and
 * `lowest` (one held by a crashed instance, until the server redelivers it here).
 */
export function ackFloorReached(
  jsm: JetStreamManager,
  stream: string,
  consumer: string,
  filter: string,
): (lowest: number) => Promise<boolean> {
  return async (lowest) => {
    const { ack_floor } = await jsm.consumers.info(stream, consumer);
    if (ack_floor.stream_seq + 1 >= lowest) return true;
    // The first event after the ack floor: ours (the window's lowest) or one held elsewhere.
    // Asked of the stream leader: a direct get may be answered by a replica that lags and lacks
    // the held event, and "none" would let the window overtake it — the held event, redelivered
    // later, would then be at or below its cell's lastSequence and never counted.
    const next = await getFromLeader(jsm, stream, { seq: ack_floor.stream_seq + 1, next_by_subj: filter });
    return !next || next.seq >= lowest;
  };
}
