import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type StoredMsg,
} from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { BeamlineError } from "../errors/index.js";
import type { BeamlineEvent, EncodedEvent, HeaderReader } from "../events/index.js";
import { type EventCodec, plainCodec } from "./event-codec.js";
import { type EventSigner, type EventTrust, SIGNATURE_HEADER } from "./event-signing.js";
import { JetStreamPublisher } from "./jetstream-publisher.js";
import { getFromLeader, type StoredMessageQuery } from "./leader-reads.js";
import { outgoingHeaders } from "./outgoing-headers.js";
import { streamStoring } from "./subject-streams.js";
import { isWrongLastSequence } from "./transient.js";
import { TransientBackoff } from "./transient-backoff.js";

export interface AppendOptions {
  /**
   * The subject may hold only this one event, ever (an "expected last subject sequence 0"
   * check). A second write — a redelivered stage, a producer's retry — is reported as a
   * duplicate instead of being stored, however long after the first. Such a write carries no
   * message id: the subject check already refuses every repeat, and an id would only hold
   * about 210 bytes of nats-server memory for the whole duplicate window (bench/RESULTS.md, "Soak").
   */
  once?: boolean;
  /**
   * How long the write may take, retries included, in milliseconds; default 30 s (a stream
   * leader election takes 4-9 s). The gateway bounds its `request.accepted` write much
   * shorter, so a client hears "unavailable" in seconds; stage workers keep the default,
   * since their message is redelivered anyway.
   */
  timeoutMs?: number;
}

export interface AppendResult {
  /** Stream sequence of the stored event; for a duplicate, of the one stored first when known. */
  seq: number | undefined;
  duplicate: boolean;
}

/**
 * What a write-once append did: stored the event, or found the slot taken — and then what the
 * slot holds, as the stream's leader has it. A "taken" answer is never passed on unconfirmed
 * (docs/architecture.md, "Slots known to be written").
 */
export type OnceResult =
  | { duplicate: false; seq: number }
  | { duplicate: true; seq: number; stored: BeamlineEvent };

/** How long a write keeps retrying transient failures by default (a stream leader election takes 4-9 s). */
const RETRY_FOR_MS = 30_000;
/** Longest pause between two tries of a write that met a transient failure. */
const MAX_RETRY_DELAY_MS = 1_000;
/** The publisher's own ack timeout: one publish never waits longer than this. */
const ACK_TIMEOUT_MS = 5_000;
/** First pause before writing again a write-once slot the stream called taken but its leader cannot show. */
const FIRST_UNCONFIRMED_PAUSE_MS = 100;

/** JetStream's publish headers: message id (de-duplication) and the write-once check. */
const MSG_ID = "Nats-Msg-Id";
const EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence";

/** The publish headers: the event's own, then the write-once check or the message id. */
function publishHeaders(
  entries: Record<string, string>,
  msgId: string,
  once: boolean,
): Record<string, string> {
  const headers = { ...entries };
  if (once) headers[EXPECTED_LAST_SUBJECT_SEQUENCE] = "0";
  else headers[MSG_ID] = msgId;
  return headers;
}

/** Header bytes beyond the event's own headers: the write-once check or message id, the signature. */
const HEADER_SLACK_BYTES = 256;

/**
 * A message over the server's `max_payload` is refused by nats-server (which closes the
 * connection), so it could never be stored: say so at once, as a client error, instead of
 * retrying until the write times out. Sealed content grows by a third (base64), so a request
 * the HTTP body limit let through can still be too large here.
 */
function assertWithinMaxPayload(nc: NatsConnection, event: BeamlineEvent, encoded: EncodedEvent): void {
  const limit = nc.info?.max_payload;
  if (limit === undefined) return;
  let size = encoded.payload.length + HEADER_SLACK_BYTES;
  for (const [name, value] of Object.entries(encoded.headers)) size += name.length + value.length + 4;
  if (size <= limit) return;
  throw new BeamlineError(
    "BL_BODY_TOO_LARGE",
    `The ${event.type} event would be ${size} bytes as stored, over the NATS server's max_payload of ${limit} bytes: send a smaller request, or raise max_payload on the server.`,
  );
}

/** An event ready to publish: its stored bytes and every header it is stored with. */
export interface PreparedAppend {
  encoded: EncodedEvent;
  headers: MsgHdrs;
}

/**
 * What {@link EventStore.append} publishes for `event` on `subject`: encoded by `codec` (content
 * sealed), with the write-once check or message id, and signed when a signer is given. Apart
 * from the store so the cost of writing one event can be measured without a server
 * (bench/event-codec.ts).
 */
export async function prepareAppend(
  codec: EventCodec,
  signer: EventSigner | undefined,
  subject: string,
  event: BeamlineEvent,
  once: boolean,
  encodedForStore?: EncodedEvent,
): Promise<PreparedAppend> {
  const encoded = encodedForStore ?? (await codec.encode(event));
  const headers = publishHeaders(encoded.headers, event.id, once);
  if (signer) headers[SIGNATURE_HEADER] = signer.sign(subject, encoded.payload);
  return { encoded, headers: outgoingHeaders(headers) };
}

/** One stored message as a consumer or a direct get delivers it. */
export interface StoredEventMessage {
  subject: string;
  payload: Uint8Array;
  headers: HeaderReader | undefined;
  /** The server's store time. */
  storedAt: Date;
}

/** A decoded stored event and how far it is trusted to have been written by Beamline. */
export interface DecodedStoredEvent {
  event: BeamlineEvent;
  trust: EventTrust;
}

/**
 * Judges a stored message's signature (without a signer nothing is trusted: "unsigned") and
 * decodes it with `codec`: an event signed with this deployment's key at its type's current
 * version is taken as written (validated by the factory before it was signed); everything else
 * is upcast and validated. The signature is checked once here, and callers act on `trust`.
 * Apart from the store so the cost of reading one event can be measured without a server
 * (bench/event-codec.ts).
 */
export async function decodeStoredEvent(
  codec: EventCodec,
  signer: EventSigner | undefined,
  message: StoredEventMessage,
  options: { open?: boolean } = {},
): Promise<DecodedStoredEvent> {
  const trust =
    signer?.trust({
      subject: message.subject,
      payload: message.payload,
      signature: message.headers?.get(SIGNATURE_HEADER) || undefined,
      storedAt: message.storedAt,
    }) ?? "unsigned";
  const event = await codec.decode(message.payload, message.headers, {
    ...options,
    trusted: trust === "signed",
  });
  return { event, trust };
}

/** What the store publishes through: JetStream's acks, or the API error a refused write carries. */
export type StorePublisher = Pick<JetStreamPublisher, "publish" | "close">;

/**
 * Appends and reads events. A `once` slot is guarded by a per-subject sequence check, which
 * holds forever; any other write carries the event id as its JetStream message id, so a
 * repeated write inside the duplicate window is dropped by the server.
 */
export class EventStore {
  readonly js: JetStreamClient;
  readonly jsm: Promise<JetStreamManager>;
  private readonly publisher: StorePublisher;
  /**
   * Signs every append (`bl-sig`), and is what stage runners on this store judge stored
   * events with. Absent: appends are unsigned and signature-checking stages refuse everything.
   */
  readonly signer: EventSigner | undefined;

  /** How events become stored bytes: plain, or with content sealed (src/vault). */
  readonly codec: EventCodec;

  constructor(
    readonly nc: NatsConnection,
    options: {
      signer?: EventSigner | undefined;
      codec?: EventCodec;
      /**
       * How appends reach the stream; by default a {@link JetStreamPublisher} on `nc`. Tests
       * put a node's stale answers in front of it.
       */
      publisher?: StorePublisher;
    } = {},
  ) {
    this.signer = options.signer;
    this.codec = options.codec ?? plainCodec;
    this.js = jetstream(nc);
    // No API check: it would be a request made now, and a transient failure of it would leave
    // this store's manager rejected for ever (every later read failing). Calls fail on their own.
    this.jsm = jetstreamManager(nc, { checkAPI: false });
    this.publisher = options.publisher ?? new JetStreamPublisher(nc, ACK_TIMEOUT_MS);
  }

  /** Stops waiting for acks (pending appends fail); the connection itself is the caller's. */
  close(): void {
    this.publisher.close();
  }

  /**
   * Stores `event` on `subject`, retrying transient failures until `options.timeoutMs`. With
   * `once`, a slot already taken is confirmed by reading it from the stream leader, and its
   * event returned; a "taken" answer the leader cannot confirm is written again.
   */
  append(
    subject: string,
    event: BeamlineEvent,
    options: AppendOptions & { once: true },
    encodedForStore?: EncodedEvent,
  ): Promise<OnceResult>;
  append(
    subject: string,
    event: BeamlineEvent,
    options?: AppendOptions,
    encodedForStore?: EncodedEvent,
  ): Promise<AppendResult>;
  async append(
    subject: string,
    event: BeamlineEvent,
    options: AppendOptions = {},
    /** The event already encoded for storage; by default the store's codec encodes it. */
    encodedForStore?: EncodedEvent,
  ): Promise<AppendResult | OnceResult> {
    const once = options.once === true;
    const slotStream = once ? streamStoring(subject) : undefined;
    if (once && slotStream === undefined) {
      throw new BeamlineError(
        "BL_INTERNAL",
        `no Beamline stream stores ${subject}: it cannot be a write-once slot`,
      );
    }
    const { encoded, headers } = await prepareAppend(
      this.codec,
      this.signer,
      subject,
      event,
      once,
      encodedForStore,
    );
    assertWithinMaxPayload(this.nc, event, encoded);
    const retryForMs = options.timeoutMs ?? RETRY_FOR_MS;
    const deadline = Date.now() + retryForMs;
    const backoff = new TransientBackoff(retryForMs, MAX_RETRY_DELAY_MS);
    const unconfirmed = new TransientBackoff(retryForMs, MAX_RETRY_DELAY_MS, FIRST_UNCONFIRMED_PAUSE_MS);
    for (;;) {
      let failure: unknown;
      try {
        const ackTimeoutMs = Math.max(1, Math.min(ACK_TIMEOUT_MS, deadline - Date.now()));
        const ack = await this.publisher.publish(subject, encoded.payload, headers, ackTimeoutMs);
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (error) {
        failure = error;
      }
      if (slotStream !== undefined && isWrongLastSequence(failure)) {
        let stored: StoredMsg | null;
        try {
          stored = await this.getStored(slotStream, { last_by_subj: subject }, true);
        } catch (error) {
          if (await backoff.pausedAfter(error)) continue;
          throw new BeamlineError("BL_NATS_UNAVAILABLE", `could not read back ${subject}`, { cause: error });
        }
        if (stored) {
          return {
            seq: stored.seq,
            duplicate: true,
            stored: await this.codec.decode(stored.data, stored.header),
          };
        }
        // "Taken", yet the leader holds nothing: the answer of a node that has just lost the lead,
        // about a write it never committed (seen in the cluster fault suite right after a paused
        // leader resumed). Passing it on would let the caller act on an event no replica kept.
        if (await unconfirmed.paused()) continue;
        throw new BeamlineError(
          "BL_NATS_UNAVAILABLE",
          `${event.type} on ${subject}: the stream reports the slot taken, but its leader holds nothing`,
          { cause: failure },
        );
      }
      if (await backoff.pausedAfter(failure)) continue;
      throw new BeamlineError("BL_NATS_UNAVAILABLE", `could not store ${event.type} on ${subject}`, {
        cause: failure,
      });
    }
  }

  /**
   * The first event stored on a subject (e.g. the `once` event that opened it), or undefined.
   * `fromLeader` as for {@link readLast}: where "undefined" decides something.
   */
  async readFirst(
    stream: string,
    subject: string,
    { fromLeader = false }: { fromLeader?: boolean } = {},
  ): Promise<BeamlineEvent | undefined> {
    const stored = await this.getStored(stream, { seq: 1, next_by_subj: subject }, fromLeader);
    if (!stored) return undefined;
    return this.codec.decode(stored.data, stored.header);
  }

  /** Judges and decodes a stored message with the store's key and codec; see {@link decodeStoredEvent}. */
  decodeStored(message: StoredEventMessage, options?: { open?: boolean }): Promise<DecodedStoredEvent> {
    return decodeStoredEvent(this.codec, this.signer, message, options);
  }

  /** Decodes a stored message with the store's codec (content opened unless `open: false`). */
  decode(
    payload: Uint8Array,
    headers: HeaderReader | undefined,
    options?: { open?: boolean },
  ): Promise<BeamlineEvent> {
    return this.codec.decode(payload, headers, options);
  }

  /**
   * The first event stored on an exact subject when Beamline wrote it (signed with this
   * store's key, or pre-upgrade history); undefined when there is none or it is not trusted.
   * For checks that must not take a forged configuration event's word (the worker's envelope
   * check when a projection has not caught up yet).
   */
  async readFirstTrusted(stream: string, subject: string): Promise<BeamlineEvent | undefined> {
    return this.readTrusted(stream, { seq: 1, next_by_subj: subject });
  }

  /** The last event stored on an exact subject when Beamline wrote it; see {@link readFirstTrusted}. */
  async readLastTrusted(stream: string, subject: string): Promise<BeamlineEvent | undefined> {
    return this.readTrusted(stream, { last_by_subj: subject });
  }

  /**
   * Read from the stream leader: every caller decides from absence (a key, tenant or producer
   * unknown to a view that has not caught up) or from the last event (a revocation), and a
   * lagging replica answering a direct get would refuse a real key or miss a revocation.
   */
  private async readTrusted(stream: string, query: StoredMessageQuery): Promise<BeamlineEvent | undefined> {
    if (!this.signer) return undefined;
    const stored = await this.getStored(stream, query, true);
    if (!stored) return undefined;
    const { event, trust } = await this.decodeStored({
      subject: stored.subject,
      payload: stored.data,
      headers: stored.header,
      storedAt: stored.time,
    });
    return trust === "signed" || trust === "history" ? event : undefined;
  }

  /**
   * The event stored on an exact subject (a `once` slot), or undefined. Read with a direct
   * get, which any replica answers — one that lags may not hold the event yet. `fromLeader`
   * asks the stream leader instead: for a slot known to be written (its write was refused as
   * a duplicate), where "undefined" would be wrong and the caller would go on with its own
   * event in place of the stored one.
   */
  async readLast(
    stream: string,
    subject: string,
    { fromLeader = false }: { fromLeader?: boolean } = {},
  ): Promise<BeamlineEvent | undefined> {
    const stored = await this.getStored(stream, { last_by_subj: subject }, fromLeader);
    if (!stored) return undefined;
    return this.codec.decode(stored.data, stored.header);
  }

  /** A stored message by direct get (any replica answers), or from the stream leader. */
  private async getStored(stream: string, query: StoredMessageQuery, fromLeader: boolean) {
    const jsm = await this.jsm;
    return fromLeader ? getFromLeader(jsm, stream, query) : jsm.direct.getMessage(stream, query);
  }
}
