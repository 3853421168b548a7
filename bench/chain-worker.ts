/**
 * The worker side of the JetStream chain baseline, run as its own process on the router's
 * core: for each hop k < CHAIN_HOPS a durable pull consumer on `bench.chain.*.h<k>` stores
 * `bench.chain.<id>.h<k+1>` (awaited) and then acks; the last hop acks and publishes a core
 * NATS notice to the caller's reply subject. Consumer settings and batch size are those of
 * Beamline's stage runner, so the chain is what Beamline's pipeline costs with no work in
 * the stages.
 *
 * Environment: BENCH_NATS_URL. Prints `ready` once consuming; stops on SIGTERM/SIGINT.
 */
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { BENCH_STREAM, CHAIN_HOPS, CHAIN_SUBJECT_ROOT } from "./targets.js";

const url = process.env["BENCH_NATS_URL"];
if (!url) {
  process.stderr.write("chain-worker: BENCH_NATS_URL is not set\n");
  process.exit(1);
}

const nc = await connect({ servers: url, name: "bench-chain-worker", noAsyncTraces: true });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const empty = new Uint8Array(0);

const handle = async (hop: number, msg: JsMsg): Promise<void> => {
  const id = msg.subject.slice(CHAIN_SUBJECT_ROOT.length + 1, msg.subject.lastIndexOf("."));
  if (hop < CHAIN_HOPS) {
    await js.publish(`${CHAIN_SUBJECT_ROOT}.${id}.h${hop + 1}`, msg.data, {
      msgID: `${id}:h${hop + 1}`,
      expect: { lastSubjectSequence: 0 },
      ...(msg.headers ? { headers: msg.headers } : {}),
    });
  } else {
    const reply = msg.headers?.get("bench-reply");
    if (reply) nc.publish(reply, empty);
  }
  msg.ack();
};

const running: ConsumerMessages[] = [];
for (let hop = 1; hop <= CHAIN_HOPS; hop++) {
  const name = `chain-h${hop}`;
  await jsm.consumers.add(BENCH_STREAM, {
    durable_name: name,
    filter_subjects: [`${CHAIN_SUBJECT_ROOT}.*.h${hop}`],
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 30_000_000_000,
    max_ack_pending: 4096,
  });
  const consumer = await js.consumers.get(BENCH_STREAM, name);
  running.push(
    await consumer.consume({
      max_messages: 256,
      callback: (msg) => {
        handle(hop, msg).catch((error: Error) => {
          process.stderr.write(`chain-worker: hop ${hop}: ${error.message}\n`);
          msg.nak(250);
        });
      },
    }),
  );
}
process.stdout.write("ready\n");

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    Promise.all(running.map((messages) => messages.close()))
      .then(() => nc.drain())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  });
}
