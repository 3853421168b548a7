import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type MsgHdrs, type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { BeamlineError } from "../errors/index.js";
import type { BeamlineEvent, EncodedEvent, HeaderReader } from "../events/index.js";
import { type EventCodec, plainCodec } from "./event-codec.js";
import { JetStreamPublisher } from "./jetstream-publisher.js";
import { isTransientNatsError, isWrongLastSequence } from "./transient.js";

export interface AppendOptions {
  /**
   * The subject may hold only this one event, ever (an "expected last subject sequence 0"
   * check). A second write — a redelivered stage, a producer's retry — is reported as a
   * duplicate instead of being stored, however long after the first.
   */
  once?: boolean;
}

export interface AppendResult {
  /** Stream sequence of the stored event; for a duplicate, of the one stored first when known. */
  seq: number | undefined;
  duplicate: boolean;
}

/** How long a write keeps retrying transient failures (a stream leader election takes 4-9 s). */
const RETRY_FOR_MS = 30_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** JetStream's publish headers: message id (de-duplication) and the write-once check. */
const MSG_ID = "Nats-Msg-Id";
const EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence";

function toHeaders(entries: Record<string, string>, msgId: string, once: boolean): MsgHdrs {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(entries)) h.set(k, v);
  h.set(MSG_ID, msgId);
  if (once) h.set(EXPECTED_LAST_SUBJECT_SEQUENCE, "0");
  return h;
}

/**
 * Appends and reads events. Every write carries the event id as its JetStream message id,
 * so a repeated write inside the duplicate window is dropped by the server; `once` slots are
 * also guarded by a per-subject sequence check, which holds beyond the window.
 */
export class EventStore {
  readonly js: JetStreamClient;
  readonly jsm: Promise<JetStreamManager>;
  private readonly publisher: JetStreamPublisher;

  /** How events become stored bytes: plain, or with content sealed (src/vault). */
  readonly codec: EventCodec;

  constructor(
    readonly nc: NatsConnection,
    options: { codec?: EventCodec } = {},
  ) {
    this.codec = options.codec ?? plainCodec;
    this.js = jetstream(nc);
    this.jsm = jetstreamManager(nc);
    this.publisher = new JetStreamPublisher(nc);
  }

  /** Stops waiting for acks (pending appends fail); the connection itself is the caller's. */
  close(): void {
    this.publisher.close();
  }

  async append(
    subject: string,
    event: BeamlineEvent,
    options: AppendOptions = {},
    /** The event already encoded for storage; by default the store's codec encodes it. */
    encodedForStore?: EncodedEvent,
  ): Promise<AppendResult> {
    const encoded = encodedForStore ?? (await this.codec.encode(event));
    const headers = toHeaders(encoded.headers, event.id, options.once === true);
    const deadline = Date.now() + RETRY_FOR_MS;
    let delayMs = 50;
    for (;;) {
      try {
        const ack = await this.publisher.publish(subject, encoded.payload, headers);
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (error) {
        if (options.once && isWrongLastSequence(error)) return { seq: undefined, duplicate: true };
        if (!isTransientNatsError(error) || Date.now() + delayMs > deadline) {
          throw new BeamlineError("BL_NATS_UNAVAILABLE", `could not store ${event.type} on ${subject}`, {
            cause: error,
          });
        }
        await sleep(delayMs);
        delayMs = Math.min(delayMs * 2, 1000);
      }
    }
  }

  /** The first event stored on an exact subject (e.g. the `once` event that opened it), or undefined. */
  async readFirst(stream: string, subject: string): Promise<BeamlineEvent | undefined> {
    const jsm = await this.jsm;
    const stored = await jsm.direct.getMessage(stream, { seq: 1, next_by_subj: subject });
    if (!stored) return undefined;
    return this.codec.decode(stored.data, stored.header);
  }

  /** Decodes a stored message with the store's codec (content opened unless `open: false`). */
  decode(
    payload: Uint8Array,
    headers: HeaderReader | undefined,
    options?: { open?: boolean },
  ): Promise<BeamlineEvent> {
    return this.codec.decode(payload, headers, options);
  }

  /** The event stored on an exact subject (a `once` slot), or undefined. */
  async readLast(stream: string, subject: string): Promise<BeamlineEvent | undefined> {
    const jsm = await this.jsm;
    const stored = await jsm.direct.getMessage(stream, { last_by_subj: subject });
    if (!stored) return undefined;
    return this.codec.decode(stored.data, stored.header);
  }
}
