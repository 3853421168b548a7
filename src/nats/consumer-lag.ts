import { JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

/** One durable consumer's backlog, as JetStream's consumer info reports it. */
export interface ConsumerLag {
  stream: string;
  consumer: string;
  /** Messages matching the consumer's filter not yet delivered (`num_pending`). */
  pending: number;
  /** Messages delivered and not yet acknowledged (`num_ack_pending`). */
  ackPending: number;
}

/**
 * Reads the backlog of each named durable consumer: one consumer-info request each, so the
 * cost is bounded by the topology, not by traffic. A consumer (or stream) that does not exist
 * yet is left out rather than failing the whole reading.
 */
export async function readConsumerLag(
  nc: NatsConnection,
  consumers: readonly { stream: string; durable_name: string }[],
): Promise<ConsumerLag[]> {
  // No API check: it would double the requests of each sampling.
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const readings = await Promise.all(
    consumers.map(async ({ stream, durable_name }) => {
      try {
        const info = await jsm.consumers.info(stream, durable_name);
        return {
          stream,
          consumer: durable_name,
          pending: info.num_pending,
          ackPending: info.num_ack_pending,
        };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    }),
  );
  return readings.filter((reading): reading is ConsumerLag => reading !== undefined);
}

/** The stream or consumer does not exist (not yet created, or the topology changed). */
function isNotFound(error: unknown): boolean {
  return error instanceof JetStreamApiError && error.code === 404;
}
