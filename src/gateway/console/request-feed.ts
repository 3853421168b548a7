import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import { RequestSlots, slotFilter } from "../../events/index.js";
import { type EventStore, StreamNames } from "../../nats/index.js";
import type { Logger } from "../../observability/index.js";
import { RecentRequests } from "./request-rows.js";

export interface RequestFeedOptions {
  store: EventStore;
  log: Logger;
  /** How far back the feed starts reading when it opens, ms. */
  lookbackMs: number;
  /** Rows kept for the recent-requests list. */
  capacity: number;
  now: () => Date;
}

/** A running follow of the request log. */
export interface RequestFeed {
  readonly requests: RecentRequests;
  stop(): Promise<void>;
}

/**
 * Follows `request.accepted` and the terminal events of every tenant in BL_REQUESTS with one
 * ordered consumer (no durable state on the server, nothing to clean up after a crash), from
 * `lookbackMs` ago, folding them into {@link RecentRequests}. It reads the log, not the
 * gateway's own answers, so every gateway's console shows every request, including those
 * published on NATS. Content stays sealed: only envelope and outcome fields are read.
 */
export async function startRequestFeed(options: RequestFeedOptions): Promise<RequestFeed> {
  const requests = new RecentRequests(options.capacity);
  const consumer = await jetstream(options.store.nc).consumers.get(StreamNames.requests, {
    filter_subjects: [slotFilter(RequestSlots.accepted), slotFilter(RequestSlots.terminal)],
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(options.now().getTime() - options.lookbackMs).toISOString(),
  });
  const messages = await consumer.consume();
  const following = (async () => {
    for await (const msg of messages) {
      try {
        requests.apply(await options.store.decode(msg.data, msg.headers, { open: false }));
      } catch (error) {
        // One undecodable message must not end the feed; the log itself is unchanged.
        options.log.warn({ err: error, seq: msg.seq }, "console feed skipped a message");
      }
    }
  })();
  return {
    requests,
    async stop() {
      await messages.close();
      await following;
      await consumer.delete().catch(() => false);
    },
  };
}
