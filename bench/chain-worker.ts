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
import { type ConsumerMessages, type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { consumeDurable } from "./durable-consumer.js";
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
  const options = {
    stream: BENCH_STREAM,
    name: `chain-h${hop}`,
    filter: `${CHAIN_SUBJECT_ROOT}.*.h${hop}`,
    maxAckPending: 4096,
    label: `chain-worker: hop ${hop}`,
  };
  running.push(await consumeDurable(js, jsm, options, (msg) => handle(hop, msg)));
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
