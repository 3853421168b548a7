import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";

/**
 * A durable pull consumer of the baselines (c2's chain worker, c3's skeleton), set as
 * Beamline's stage runner sets its own: explicit acks, batches of 256. A handler that fails is
 * logged on stderr under `label` and its message redelivered after 250 ms.
 */
export async function consumeDurable(
  js: JetStreamClient,
  jsm: JetStreamManager,
  options: { stream: string; name: string; filter: string; maxAckPending: number; label: string },
  handle: (msg: JsMsg) => Promise<void>,
): Promise<ConsumerMessages> {
  await jsm.consumers.add(options.stream, {
    durable_name: options.name,
    filter_subjects: [options.filter],
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 30_000_000_000,
    max_ack_pending: options.maxAckPending,
  });
  const consumer = await js.consumers.get(options.stream, options.name);
  return consumer.consume({
    max_messages: 256,
    callback: (msg) => {
      handle(msg).catch((error: Error) => {
        process.stderr.write(`${options.label}: ${error.message}\n`);
        msg.nak(250);
      });
    },
  });
}
