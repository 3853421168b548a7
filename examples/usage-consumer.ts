/**
 * A billing system's consumer of Beamline's usage stream (docs/usage-stream.md): a durable
 * pull consumer of its own on BL_USAGE, one tenant or all, that hands each usage record to
 * the billing system once and acknowledges it only after that. Run it against a running
 * Beamline:
 *
 *   NATS_URL=nats://127.0.0.1:4222 TENANT=dev node --import tsx examples/usage-consumer.ts
 *
 * It keeps running; with `ONCE=1` it stops when it has caught up (what the test does). Run
 * it again and it resumes where it stopped: the server keeps the durable consumer's position.
 */
import { readFileSync } from "node:fs";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { decode } from "cbor-x";

const natsUrl = process.env["NATS_URL"] ?? readFileSync(".data/nats.url", "utf8").trim();
const tenant = process.env["TENANT"];
const durable = process.env["CONSUMER"] ?? "my-billing";
const once = process.env["ONCE"] === "1";

/** The fields of a usage record this consumer uses (every field: docs/usage-stream.md). */
interface UsageRecord {
  id: string;
  type: string;
  v: number;
  tenant: string;
  requestId: string;
  time: string;
  data: {
    outcome: "completed" | "failed";
    apiKeyId?: string;
    model: string;
    promptTokens: number;
    completionTokens: number;
    cachedTokens: number;
    costNanoUsd: number;
  };
}

const nc = await connect({ servers: natsUrl });
const jsm = await jetstreamManager(nc);
// Creating a durable consumer that already exists with the same settings is a no-op.
await jsm.consumers.add("BL_USAGE", {
  durable_name: durable,
  filter_subject: tenant ? `bl.usage.${tenant}.>` : "bl.usage.>",
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: 30_000_000_000,
});
const consumer = await jetstream(nc).consumers.get("BL_USAGE", durable);

/**
 * Your billing system's write. It must be idempotent on the idempotency key: a record is
 * redelivered when the process stops between this write and the ack.
 */
const billed = new Set<string>();
function bill(key: string, record: UsageRecord): void {
  if (billed.has(key)) return;
  billed.add(key);
  console.log(
    JSON.stringify({
      key,
      tenant: record.tenant,
      day: record.time.slice(0, 10),
      model: record.data.model,
      tokens: record.data.promptTokens + record.data.completionTokens,
      costNanoUsd: record.data.costNanoUsd,
    }),
  );
}

for (;;) {
  const batch = await consumer.fetch({ max_messages: 256, expires: once ? 1_000 : 30_000 });
  let received = 0;
  for await (const msg of batch) {
    received++;
    if (msg.headers?.get("bl-type") !== "usage.recorded") {
      msg.ack();
      continue;
    }
    // Payload: the event envelope in CBOR (content-type application/cbor), or JSON.
    const record = (
      msg.headers?.get("content-type") === "application/json" ? msg.json() : decode(msg.data)
    ) as UsageRecord;
    if (record.v !== 1) throw new Error(`usage record version ${record.v}: upgrade this consumer`);
    bill(`${record.tenant}:${record.requestId}:usage`, record);
    msg.ack();
  }
  if (once && received === 0) break;
}
await nc.drain();
