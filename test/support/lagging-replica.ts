import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { waitFor } from "./wait.js";

/**
 * Adds a stand-in for a replica that lags behind `stream`: a mirror that holds only the
 * messages on `holds` and answers the stream's direct gets (`mirror_direct`), in the same
 * queue group as the stream itself, so about half of all direct gets see it. To a reader it
 * looks like a follower resumed after a stall or restarted and enabled at 90 % synchronised
 * (nats-server serves direct gets from both), with the newest messages not there yet — as
 * long as the reader's subject has nothing on `holds` newer than what it asks about.
 *
 * Once this returns, the mirror holds one seed message, stored on `seed` (a subject within
 * `holds` and the stream's subjects): nats-server lets a mirror answer direct gets only once it
 * has received a message.
 */
export async function addLaggingDirectReplica(
  nc: NatsConnection,
  options: { stream: string; holds: string; seed: string },
): Promise<{ name: string }> {
  const jsm = await jetstreamManager(nc);
  const name = `LAGGING_${options.stream}`;
  await jsm.streams.add({
    name,
    mirror: { name: options.stream, filter_subject: options.holds },
    mirror_direct: true,
  });
  await nc.request(options.seed, new Uint8Array([1]));
  await waitFor(async () => (await jsm.streams.info(name)).state.messages > 0, {
    timeoutMs: 10_000,
    what: `the lagging replica ${name} to receive its seed`,
  });
  return { name };
}
