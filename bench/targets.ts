import { randomBytes } from "node:crypto";
import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { Pool } from "undici";
import type { Call } from "./load.js";

/** A system under test as the load generator sees it. */
export interface Target {
  readonly call: Call;
  /** Successful calls over the target's life (warm-ups included). */
  readonly completed: () => number;
  close(): Promise<void>;
}

/** Per-call ceiling: a call that takes longer is a failure, not a hang. */
const CALL_TIMEOUT_MS = 30_000;

/** The chat request every HTTP call sends: the smallest a real client would. */
export const CHAT_BODY = JSON.stringify({
  model: "mock-small",
  messages: [{ role: "user", content: "Hello" }],
});

/** {@link CHAT_BODY} asking for a streamed answer (server-sent events). */
const STREAM_CHAT_BODY = JSON.stringify({ ...JSON.parse(CHAT_BODY), stream: true });

/**
 * `POST <path>` of {@link CHAT_BODY} over an undici pool of keep-alive connections. A call
 * succeeds on a 200 whose body is a chat completion, or with `stream`, a stream of chunks that
 * ends with `[DONE]`.
 */
export function httpChatTarget(options: {
  origin: string;
  path: string;
  connections: number;
  headers?: Record<string, string>;
  stream?: boolean;
}): Target {
  const body = options.stream ? STREAM_CHAT_BODY : CHAT_BODY;
  const answered = (text: string) =>
    options.stream
      ? text.includes('"chat.completion.chunk"') && text.trimEnd().endsWith("data: [DONE]")
      : text.includes('"chat.completion"');
  const pool = new Pool(options.origin, {
    connections: options.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: CALL_TIMEOUT_MS,
    bodyTimeout: CALL_TIMEOUT_MS,
  });
  const headers = { "content-type": "application/json", ...options.headers };
  let completed = 0;
  return {
    async call() {
      const response = await pool.request({ method: "POST", path: options.path, headers, body });
      const text = await response.body.text();
      if (response.statusCode !== 200 || !answered(text)) {
        throw new Error(`HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
      }
      completed += 1;
    },
    completed: () => completed,
    close: () => pool.close(),
  };
}

/** The stream the raw JetStream baseline writes to, next to Beamline's on the same server. */
export const BENCH_STREAM = "BENCH";
export const RAW_SUBJECT_ROOT = "bench.raw";
export const CHAIN_SUBJECT_ROOT = "bench.chain";
/** Hops of the chain baseline: Beamline's critical path stores accepted, decided, attempt, terminal. */
export const CHAIN_HOPS = 4;

/**
 * Creates (or resets) the baseline stream: file storage, limits retention and a 10-minute
 * duplicate window, as Beamline's request stream has.
 */
export async function createBenchStream(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(BENCH_STREAM).catch(() => undefined);
  await jsm.streams.add({
    name: BENCH_STREAM,
    subjects: [`${RAW_SUBJECT_ROOT}.>`, `${CHAIN_SUBJECT_ROOT}.>`],
    storage: "file",
    retention: "limits",
    duplicate_window: 10 * 60 * 1_000_000_000,
    allow_direct: true,
  } as Parameters<typeof jsm.streams.add>[0]);
}

/**
 * Headers shaped like a Beamline event's (type, version, tenant, request, content type), so a
 * baseline message costs the server what an event does.
 */
export function eventLikeHeaders(id: string): MsgHdrs {
  const h = natsHeaders();
  h.set("bl-type", "bench.published");
  h.set("bl-v", "1");
  h.set("bl-tenant", "bench");
  h.set("bl-request", id);
  h.set("content-type", "application/cbor");
  return h;
}

/**
 * One awaited `js.publish` per call, written as Beamline appends an event: a subject of its
 * own, the id as message id, and "expected last subject sequence 0".
 */
export function jetStreamPublishTarget(nc: NatsConnection, payloadBytes: number): Target {
  const js: JetStreamClient = jetstream(nc);
  const payload = randomBytes(payloadBytes);
  const run = randomBytes(4).toString("hex");
  let next = 0;
  let completed = 0;
  return {
    async call() {
      const id = `${run}-${next++}`;
      await js.publish(`${RAW_SUBJECT_ROOT}.${id}`, payload, {
        msgID: id,
        expect: { lastSubjectSequence: 0 },
        headers: eventLikeHeaders(id),
        timeout: CALL_TIMEOUT_MS,
      });
      completed += 1;
    },
    completed: () => completed,
    close: async () => undefined,
  };
}

/**
 * The chain baseline: the call stores hop 1 (`bench.chain.<id>.h1`) and waits for the chain
 * worker's core-NATS notice after hop {@link CHAIN_HOPS}; in between the worker consumes each
 * hop and stores the next, as Beamline's stages do. Same shape as a Beamline request minus
 * HTTP, the provider call, event decoding and the read-backs.
 */
export function jetStreamChainTarget(nc: NatsConnection, payloadBytes: number): Target {
  const js = jetstream(nc);
  const payload = randomBytes(payloadBytes);
  const run = randomBytes(4).toString("hex");
  const replyPrefix = `bench.reply.${run}`;
  const waiting = new Map<string, () => void>();
  const subscription = nc.subscribe(`${replyPrefix}.*`, {
    callback: (_error, msg) => waiting.get(msg.subject.slice(replyPrefix.length + 1))?.(),
  });
  let next = 0;
  let completed = 0;
  return {
    async call() {
      const id = `${run}-${next++}`;
      let timer: NodeJS.Timeout | undefined;
      const done = new Promise<void>((resolve, reject) => {
        waiting.set(id, resolve);
        timer = setTimeout(
          () => reject(new Error(`chain ${id} not done within ${CALL_TIMEOUT_MS} ms`)),
          CALL_TIMEOUT_MS,
        );
      });
      try {
        const h = eventLikeHeaders(id);
        h.set("bench-reply", `${replyPrefix}.${id}`);
        await js.publish(`${CHAIN_SUBJECT_ROOT}.${id}.h1`, payload, {
          msgID: `${id}:h1`,
          expect: { lastSubjectSequence: 0 },
          headers: h,
          timeout: CALL_TIMEOUT_MS,
        });
        await done;
        completed += 1;
      } finally {
        clearTimeout(timer);
        waiting.delete(id);
      }
    },
    completed: () => completed,
    close: async () => subscription.unsubscribe(),
  };
}
