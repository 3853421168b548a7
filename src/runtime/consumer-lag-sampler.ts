import type { NatsConnection } from "@nats-io/transport-node";
import { ConsumerNames, readConsumerLag } from "../nats/index.js";
import type { BeamlineMetrics, Logger } from "../observability/index.js";

/** Durable consumers whose backlog is a projection's lag, by the projection they feed. */
const PROJECTION_PREFIX = "projector-";

export interface ConsumerLagSamplerOptions {
  nc: NatsConnection;
  metrics: BeamlineMetrics;
  log: Logger;
  /** The durable consumers of the topology: the only label values the gauges can take. */
  consumers: readonly { stream: string; durable_name: string }[];
  /** Milliseconds between readings. */
  intervalMs: number;
}

/** A running sampler; `stop` ends it and waits for a reading in flight. */
export interface ConsumerLagSampler {
  stop(): Promise<void>;
}

/**
 * Reads every topology consumer's backlog from JetStream on a fixed interval, never per
 * request, and sets the lag gauges from it (docs/observability.md). Gauges are replaced
 * whole at each reading. A failed reading (NATS down) is logged and leaves the last values
 * and `beamline_consumer_lag_sampled_timestamp_seconds` as they were, so staleness shows.
 */
export function startConsumerLagSampler(options: ConsumerLagSamplerOptions): ConsumerLagSampler {
  const { nc, metrics, log, consumers, intervalMs } = options;
  const known = new Set<string>(Object.values(ConsumerNames));
  const tracked = consumers.filter((consumer) => known.has(consumer.durable_name));
  let inFlight: Promise<void> | undefined;

  async function sample(): Promise<void> {
    try {
      const readings = await readConsumerLag(nc, tracked);
      metrics.consumerPending.reset();
      metrics.consumerAckPending.reset();
      metrics.projectionLag.reset();
      for (const { stream, consumer, pending, ackPending } of readings) {
        metrics.consumerPending.set({ stream, consumer }, pending);
        metrics.consumerAckPending.set({ stream, consumer }, ackPending);
        if (consumer.startsWith(PROJECTION_PREFIX)) {
          metrics.projectionLag.set(
            { projection: consumer.slice(PROJECTION_PREFIX.length) },
            pending + ackPending,
          );
        }
      }
      metrics.consumerLagSampledAt.set(Date.now() / 1000);
    } catch (error) {
      log.warn(
        { err: error },
        "reading consumer lag from JetStream failed; the lag gauges keep their last values",
      );
    }
  }

  const run = () => {
    inFlight ??= sample().finally(() => {
      inFlight = undefined;
    });
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
    },
  };
}
