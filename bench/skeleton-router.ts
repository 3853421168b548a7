/**
 * The skeleton baseline (c3): Beamline's I/O with none of its logic, as one process on the
 * router's core. It is the floor under target b that the invariants set — every event stored
 * before anything depends on it, the terminal event stored before the client hears — measured
 * in the same run as b, so b − c3 is what Beamline's own work costs.
 *
 * Per request, as Beamline does it (docs/architecture.md, "One request, step by step"):
 * - HTTP `POST /v1/chat/completions` in; `accepted` stored (awaited);
 * - the worker consumer gets `accepted`, stores `decided`, calls the mock over HTTP (undici,
 *   as Beamline's providers do), stores `attempt` and `terminal`, hands the live notice to the
 *   gateway in-process (as Beamline does when the waiting gateway is in the same process),
 *   acknowledges; the HTTP answer is the mock's body, sent when the notice arrives;
 * - a streamed request (`"stream": true`) relays the mock's server-sent events as they come:
 *   the bytes read in one loop turn go to the gateway as one live notice (as Beamline batches
 *   chunks), which writes them to the client; `attempt` and `terminal` are stored when
 *   the provider's stream ends, and the notice after them ends the client's stream;
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
// First, so that the router's memory rules hold while the other modules load.
import "./skeleton-flags.js";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type ConsumerMessages, type JsMsg, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createPool } from "../src/providers/http/undici-pool.js";
import { consumeDurable } from "./durable-consumer.js";
import { releaseYoungGeneration } from "./skeleton-flags.js";
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
// Enough connections for the streaming scenario's 1,000 streams in flight.
// The router's own pool module: undici's pool and request API without its index (fetch,
// WebSocket and the rest), which the router does not load either.
const provider = createPool(mock.origin, { connections: 1_024, pipelining: 1, keepAliveTimeout: 60_000 });

/** Stores one event the way Beamline appends one: its own subject, written once. */
async function store(subject: string, id: string): Promise<void> {
  await js.publish(subject, payload, { expect: { lastSubjectSequence: 0 }, headers: eventLikeHeaders(id) });
}

const slot = (id: string, name: string) => `${ROOT}.${id}.${name}`;
const idOf = (subject: string, root: string) => subject.slice(root.length + 1, subject.lastIndexOf("."));

/** A request the gateway holds: its body, and how the live messages reach its client. */
interface Waiting {
  body: Buffer;
  stream: boolean;
  chunk: (bytes: Uint8Array) => void;
  done: (body: Buffer | undefined) => void;
}
const waiting = new Map<string, Waiting>();
/** Mock answers held between the attempt and the notice (the terminal event carries it in b). */
const completions = new Map<string, Buffer>();

/** The live channel between worker and gateway of one process: a microtask, as in Beamline. */
function notify(kind: "chunk" | "done", id: string, data?: Uint8Array): void {
  queueMicrotask(() => {
    const request = waiting.get(id);
    if (kind === "chunk") request?.chunk(data!);
    else {
      const body = completions.get(id);
      completions.delete(id);
      request?.done(body);
    }
  });
}

/** Relays a streamed answer: the bytes of one loop turn become one live message. */
async function relay(id: string, body: AsyncIterable<Buffer>): Promise<void> {
  let pending: Buffer[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    notify("chunk", id, Buffer.concat(pending));
    pending = [];
  };
  for await (const bytes of body) {
    pending.push(bytes);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  }
  flush();
}

async function work(msg: JsMsg): Promise<void> {
  const id = idOf(msg.subject, ROOT);
  const request = waiting.get(id);
  await store(slot(id, "decided"), id);
  const response = await provider.request({
    method: "POST",
    path: `${mock.pathname}/chat/completions`,
    headers: { "content-type": "application/json" },
    body: request?.body ?? "{}",
  });
  if (request?.stream) await relay(id, response.body);
  else completions.set(id, Buffer.from(await response.body.arrayBuffer()));
  await store(slot(id, "attempt.1"), id);
  await store(slot(id, "terminal"), id);
  notify("done", id);
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
const consume = async (
  stream: string,
  name: string,
  filter: string,
  handle: (msg: JsMsg) => Promise<void>,
) => {
  const options = { stream, name, filter, maxAckPending: 1_000, label: `skeleton-router: ${name}` };
  running.push(await consumeDurable(js, jsm, options, handle));
};
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
    const body = Buffer.concat(chunks);
    // The one look at the body the gateway needs here: whether to answer as a stream.
    const stream = (JSON.parse(body.toString("utf8")) as { stream?: unknown }).stream === true;
    let started = false;
    waiting.set(id, {
      body,
      stream,
      chunk: (bytes) => {
        if (!started) {
          started = true;
          response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
        }
        response.write(bytes);
      },
      done: (answer) => {
        waiting.delete(id);
        if (stream) {
          if (!started) response.writeHead(200, { "content-type": "text/event-stream" });
          response.end();
          return;
        }
        const bytes = answer ?? Buffer.from("{}");
        response.writeHead(200, { "content-type": "application/json", "content-length": bytes.length });
        response.end(bytes);
      },
    });
    store(slot(id, "accepted"), id).catch((error: Error) => {
      waiting.delete(id);
      response.writeHead(503, { "content-type": "text/plain" });
      response.end(error.message);
    });
  });
});
server.keepAliveTimeout = 60_000;
releaseYoungGeneration();
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
