/**
 * The skeleton baseline (c3): Beamline's I/O with none of its logic, as one process on the
 * router's core. It is the floor under target b that the invariants set — every event stored
 * before anything depends on it, the terminal event stored before the client hears — measured
 * in the same run as b, so b − c3 is what Beamline's own work costs.
 *
 * Per request, as Beamline does it (docs/architecture.md, "One request, step by step"):
 * - HTTP `POST /v1/chat/completions` in; `accepted` stored (awaited);
 * - the worker consumer gets `accepted`, stores `decided`, calls the mock over HTTP (undici,
 *   as Beamline's providers do), stores `attempt` and `terminal`, sends the live notice on core
 *   NATS, acknowledges; the HTTP answer is the mock's body, sent when the notice arrives;
 * - billing gets `terminal` and stores the usage record; the health and spend folds get the
 *   attempt and the usage record and acknowledge them; the notary reads every stored message
 *   in order and hashes it.
 * Every store is a JetStream publish with a subject of its own, "expected last subject
 * sequence 0" and event-shaped headers, as Beamline's appends are; payloads are
 * `BENCH_PAYLOAD_BYTES` of random bytes. No decoding, validation, signing, policy, quota,
 * routing or metrics: those are what b adds.
 *
 * Environment: BENCH_NATS_URL, BENCH_MOCK_URL (the mock's `/v1` base), BENCH_PAYLOAD_BYTES.
 * Prints `listening <url>` once serving; stops on SIGTERM/SIGINT.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Pool } from "undici";
import { eventLikeHeaders } from "./targets.js";

const natsUrl = process.env["BENCH_NATS_URL"];
const mockUrl = process.env["BENCH_MOCK_URL"];
if (!natsUrl || !mockUrl) {
  process.stderr.write("skeleton-router: BENCH_NATS_URL and BENCH_MOCK_URL must be set\n");
  process.exit(1);
}
const payload = randomBytes(Number(process.env["BENCH_PAYLOAD_BYTES"] ?? "700"));

/** The skeleton's streams: its request events and its usage records, as BL_REQUESTS and BL_USAGE. */
const REQUESTS_STREAM = "BENCH_SKELETON";
const USAGE_STREAM = "BENCH_SKELETON_USAGE";
const ROOT = "bench.skeleton";
const USAGE_ROOT = "bench.skeleton-usage";

const nc = await connect({ servers: natsUrl, name: "bench-skeleton", noAsyncTraces: true });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
for (const [name, subject] of [
  [REQUESTS_STREAM, ROOT],
  [USAGE_STREAM, USAGE_ROOT],
] as const) {
  await jsm.streams.delete(name).catch(() => undefined);
  await jsm.streams.add({
    name,
    subjects: [`${subject}.>`],
    storage: "file",
    retention: "limits",
    duplicate_window: 10 * 60 * 1_000_000_000,
    allow_direct: true,
  } as Parameters<typeof jsm.streams.add>[0]);
}

const mock = new URL(mockUrl);
const provider = new Pool(mock.origin, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });

/** Stores one event the way Beamline appends one: its own subject, written once. */
async function store(subject: string, id: string): Promise<void> {
  await js.publish(subject, payload, { expect: { lastSubjectSequence: 0 }, headers: eventLikeHeaders(id) });
}

const slot = (id: string, name: string) => `${ROOT}.${id}.${name}`;
const idOf = (subject: string, root: string) => subject.slice(root.length + 1, subject.lastIndexOf("."));

/** Answers waiting on a live notice, by request id: the mock's body to send back. */
const answers = new Map<string, { body: Buffer; respond: (body: Buffer) => void }>();
/** Mock answers held between the attempt and the notice (the terminal event carries it in b). */
const completions = new Map<string, Buffer>();

const LIVE_ROOT = `${ROOT}-live`;
nc.subscribe(`${LIVE_ROOT}.*`, {
  callback: (_error, msg) => {
    const id = msg.subject.slice(LIVE_ROOT.length + 1);
    const waiting = answers.get(id);
    const body = completions.get(id);
    completions.delete(id);
    if (waiting && body) waiting.respond(body);
  },
});

async function work(msg: JsMsg): Promise<void> {
  const id = idOf(msg.subject, ROOT);
  await store(slot(id, "decided"), id);
  const response = await provider.request({
    method: "POST",
    path: `${mock.pathname}/chat/completions`,
    headers: { "content-type": "application/json" },
    body: answers.get(id)?.body ?? "{}",
  });
  const body = Buffer.from(await response.body.arrayBuffer());
  await store(slot(id, "attempt.1"), id);
  await store(slot(id, "terminal"), id);
  completions.set(id, body);
  nc.publish(`${LIVE_ROOT}.${id}`);
  msg.ack();
}

async function bill(msg: JsMsg): Promise<void> {
  const id = idOf(msg.subject, ROOT);
  await js.publish(`${USAGE_ROOT}.${id}`, payload, {
    expect: { lastSubjectSequence: 0 },
    headers: eventLikeHeaders(id),
  });
  msg.ack();
}

const running: ConsumerMessages[] = [];
async function consume(
  stream: string,
  name: string,
  filter: string,
  handle: (msg: JsMsg) => Promise<void>,
): Promise<void> {
  await jsm.consumers.add(stream, {
    durable_name: name,
    filter_subjects: [filter],
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: 30_000_000_000,
    max_ack_pending: 1_000,
  });
  const consumer = await js.consumers.get(stream, name);
  running.push(
    await consumer.consume({
      max_messages: 256,
      callback: (msg) => {
        handle(msg).catch((error: Error) => {
          process.stderr.write(`skeleton-router: ${name}: ${error.message}\n`);
          msg.nak(250);
        });
      },
    }),
  );
}
await consume(REQUESTS_STREAM, "worker", `${ROOT}.*.accepted`, work);
await consume(REQUESTS_STREAM, "billing", `${ROOT}.*.terminal`, bill);
await consume(REQUESTS_STREAM, "health", `${ROOT}.*.attempt.*`, async (msg) => msg.ack());
await consume(USAGE_STREAM, "spend", `${USAGE_ROOT}.>`, async (msg) => msg.ack());

// The notary: every stored message of both streams, in order, hashed into a chain.
let chain = Buffer.alloc(32);
for (const stream of [REQUESTS_STREAM, USAGE_STREAM]) {
  const ordered = await js.consumers.get(stream);
  running.push(
    await ordered.consume({
      callback: (msg) => {
        chain = createHash("sha256").update(chain).update(msg.subject).update(msg.data).digest();
      },
    }),
  );
}

let next = 0;
const run = randomBytes(4).toString("hex");
const server = createServer((request: IncomingMessage, response: ServerResponse) => {
  const chunks: Buffer[] = [];
  request.on("data", (chunk: Buffer) => chunks.push(chunk));
  request.on("end", () => {
    const id = `${run}-${next++}`;
    answers.set(id, {
      body: Buffer.concat(chunks),
      respond: (body) => {
        answers.delete(id);
        response.writeHead(200, { "content-type": "application/json", "content-length": body.length });
        response.end(body);
      },
    });
    store(slot(id, "accepted"), id).catch((error: Error) => {
      answers.delete(id);
      response.writeHead(503, { "content-type": "text/plain" });
      response.end(error.message);
    });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`listening http://127.0.0.1:${port}\n`);
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    server.close();
    Promise.all(running.map((messages) => messages.close()))
      .then(() => provider.close())
      .then(() => nc.drain())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  });
}
