import type { JetStreamManager, MsgRequest, StoredMsg } from "@nats-io/jetstream";

/** Which stored message a read asks for: the first at or after `seq` on a filter, or the last on one. */
export type StoredMessageQuery = { seq: number; next_by_subj: string } | { last_by_subj: string };

/**
 * The message `query` names, as the stream leader has it, or null when there is none. Direct
 * gets are answered by any replica, and nats-server lets a follower answer them while it lags
 * (after a stall; at 90 % synchronised after a restart), so "none" from a direct get proves
 * nothing. The message-get API is answered by the leader only: use it where absence decides
 * something.
 */
export function getFromLeader(
  jsm: JetStreamManager,
  stream: string,
  query: StoredMessageQuery,
): Promise<StoredMsg | null> {
  // nats.js types the message-get API without `next_by_subj`; the server has taken it since 2.10.
  return jsm.streams.getMessage(stream, query as MsgRequest);
}
