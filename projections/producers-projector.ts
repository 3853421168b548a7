import type { KV } from "@nats-io/kv";
import { Kvm } from "@nats-io/kv";
import type { BeamlineEvent } from "../src/events/index.js";
import type { Delivery, EventStore, StageHandler } from "../src/nats/index.js";
import { ConsumerNames, decodeRecord, foldIntoKv, KvBuckets, StreamNames } from "../src/nats/index.js";
import { type ProducerRecord, producerKvKey, reduceProducer } from "./producers.js";

export function decodeProducerRecord(value: Uint8Array): ProducerRecord {
  return decodeRecord<ProducerRecord>(value);
}

/** Folds one event into the producer's KV record (keyed by producer id). */
export async function projectProducerEvent(kv: KV, event: BeamlineEvent, sequence: number): Promise<void> {
  const key = producerKvKey(event);
  if (!key) return;
  await foldIntoKv<ProducerRecord>(
    kv,
    key,
    (current) => reduceProducer(current, event, sequence),
    "producer",
  );
}

/**
 * The live projector: the config stream's producer events → KV `bl_producers`. Only events
 * Beamline signed count: a forged `producer.issued` creates no producer.
 */
export async function producersProjector(store: EventStore): Promise<StageHandler> {
  const kv = await new Kvm(store.nc).open(KvBuckets.producers);
  return {
    name: ConsumerNames.producersProjector,
    spanName: `beamline.projector ${ConsumerNames.producersProjector}`,
    stream: StreamNames.config,
    requiresSignature: () => true,
    async handle(event: BeamlineEvent, delivery: Delivery) {
      await projectProducerEvent(kv, event, delivery.streamSequence);
    },
  };
}
